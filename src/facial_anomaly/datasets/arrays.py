"""Float maps (heatmaps) as compressed ``.npz`` files: one array, no pickle."""

from __future__ import annotations

import io

import numpy as np

from ._files import FileDatasetBase

_ARRAY_KEY = "array"


class NpzArrayDataset(FileDatasetBase):
    """One numpy array in a compressed ``.npz`` (key ``array``); loads with ``allow_pickle=False``."""

    def _decode(self, data: bytes) -> np.ndarray:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return archive[_ARRAY_KEY]

    def _encode(self, data: np.ndarray) -> bytes:
        array = np.asarray(data)
        if array.dtype == object:
            raise ValueError("object arrays cannot be stored without pickle")
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{_ARRAY_KEY: array})
        return buffer.getvalue()
