"""Image datasets: raw file bytes in, lossless PNG arrays through the pipeline."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ._files import FileDatasetBase


class BinaryFileDataset(FileDatasetBase):
    """Loads a file's raw bytes (decoding is the library's job, so a corrupt photo becomes
    a report row with a reason instead of a failed load). Saves bytes atomically."""

    def _decode(self, data: bytes) -> bytes:
        return data

    def _encode(self, data: bytes) -> bytes:
        return bytes(data)


class PngArrayDataset(FileDatasetBase):
    """A PNG file as a numpy array: H×W×3 uint8 RGB (``mode: rgb``) or H×W uint8 (``mode: gray``).

    Float arrays in [0, 1] (masks) are saved as 8-bit grey. Saves are atomic, so an
    interrupted run never leaves a truncated PNG behind.

    Args:
        mode: ``rgb`` or ``gray``.
        compression: PNG compression level 0–9 (lower is faster, same pixels).
    """

    def __init__(self, *, filepath: str, mode: str = "rgb", compression: int = 1, **kwargs: Any) -> None:
        if mode not in ("rgb", "gray"):
            raise ValueError(f"mode must be 'rgb' or 'gray', got {mode!r}")
        self._mode = mode
        self._compression = int(compression)
        super().__init__(filepath=filepath, **kwargs)

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "mode": self._mode}

    def _decode(self, data: bytes) -> np.ndarray:
        buffer = np.frombuffer(data, dtype=np.uint8)
        if self._mode == "gray":
            image = cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE)
        else:
            image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
            if image is not None:
                image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if image is None:
            raise ValueError(f"{self._filepath} is not a readable PNG")
        return image

    def _encode(self, data: np.ndarray) -> bytes:
        array = np.asarray(data)
        if array.dtype != np.uint8:
            array = np.clip(np.round(array.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
        if self._mode == "rgb":
            if array.ndim != 3 or array.shape[2] != 3:
                raise ValueError(f"an rgb PNG needs an H×W×3 array, got shape {array.shape}")
            array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
        elif array.ndim != 2:
            raise ValueError(f"a gray PNG needs an H×W array, got shape {array.shape}")
        ok, encoded = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, self._compression])
        if not ok:
            raise ValueError("OpenCV could not encode the PNG")
        return encoded.tobytes()
