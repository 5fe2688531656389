"""Robust image decoding: any photo a user drops in a folder becomes 8-bit RGB, or a clear rejection.

Every failure is reported as :class:`ImageRejected` with a machine-readable ``reason``
(the value written to the report tables) and a human-readable message, so a bad
file never crashes a run and is never silently dropped.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

SUPPORTED_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})


class ImageRejected(Exception):
    """An input that cannot be processed; ``reason`` is the report-table status."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class DecodedImage:
    """An 8-bit RGB image (H×W×3, uint8) with facts about its source file."""

    rgb: np.ndarray
    source_mode: str
    source_format: str
    exif_transposed: bool


def is_supported(relative_path: str) -> bool:
    """True when the file name ends with a supported image extension (any case)."""
    return PurePosixPath(relative_path).suffix.lower() in SUPPORTED_EXTENSIONS


def image_id_from_path(relative_path: str) -> str:
    """A stable, filesystem-safe id for a file, derived from its path relative to the input root.

    Readable part: the path with separators turned into ``__`` and any other unsafe
    character into ``_``; a short hash of the exact path keeps ids unique when two
    paths fold to the same readable part (``a b.jpg`` and ``a_b.jpg``).

    >>> image_id_from_path("faces/a b.JPG")
    'faces__a_b.JPG-5d1f4a8e'
    """
    normalized = relative_path.replace("\\", "/")
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", normalized.replace("/", "__"))
    digest = hashlib.sha1(normalized.encode("utf-8")).hexdigest()[:8]
    return f"{readable}-{digest}"


def sha1_of_bytes(data: bytes) -> str:
    """Hex SHA-1 of a file's bytes: the fingerprint that decides whether a rerun may skip it."""
    return hashlib.sha1(data).hexdigest()


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Scale integer or float sample arrays of any bit depth into 0..255."""
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.integer):
        info = np.iinfo(array.dtype)
        # 16-bit PNG/TIFF store 0..65535; scale by the type's range, not the data's,
        # so a dark 16-bit photo stays dark.
        top = float(info.max) if array.max(initial=0) > 255 or info.max == 65535 else 255.0
        return np.clip(np.round(array.astype(np.float64) * 255.0 / top), 0, 255).astype(np.uint8)
    finite = np.nan_to_num(array.astype(np.float64))
    top = 1.0 if finite.max(initial=0) <= 1.0 else float(finite.max())
    return np.clip(np.round(finite * 255.0 / top), 0, 255).astype(np.uint8)


def _pil_to_rgb(image: Image.Image) -> np.ndarray:
    """Convert any PIL mode (L, LA, P, RGBA, CMYK, I;16, I, F, 1) to H×W×3 uint8 RGB."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        gray = _to_uint8(np.asarray(image))
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA"):
        # Transparent pixels become white rather than whatever colour hides behind alpha.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def luma_rgb(rgb: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 with the image's ITU-R 601 luma in all three channels.

    The same integer arithmetic as PIL's ``convert("L")`` (``(19595 R + 38470 G + 7471 B
    + 2¹⁵) >> 16``), so a photo and its greyscale copy saved by PIL give identical
    arrays, and a greyscale image is returned unchanged.
    """
    channels = np.asarray(rgb, dtype=np.uint32)
    gray = (19595 * channels[..., 0] + 38470 * channels[..., 1] + 7471 * channels[..., 2] + 32768) >> 16
    return np.repeat(gray.astype(np.uint8)[..., None], 3, axis=2)


def decode_image(data: bytes, *, max_pixels: int, min_side: int) -> DecodedImage:
    """Decode image bytes into an upright 8-bit RGB array.

    Args:
        data: the file's bytes.
        max_pixels: refuse images with more pixels than this (decompression-bomb guard);
            checked from the header before any pixel is decoded.
        min_side: refuse images whose shorter side is below this many pixels.

    Returns:
        :class:`DecodedImage` whose ``rgb`` is H×W×3 uint8, EXIF orientation applied.

    Raises:
        ImageRejected: ``empty_file``, ``unreadable``, ``too_large`` or ``too_small``.
    """
    if not data:
        raise ImageRejected("empty_file", "the file has no bytes")
    try:
        with warnings.catch_warnings():
            # PIL only *warns* between MAX_IMAGE_PIXELS and twice that; make it an error.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageRejected("too_large", f"{width}x{height} exceeds the {max_pixels}-pixel limit")
            source_format = image.format or "unknown"
            source_mode = image.mode
            image.load()
            upright = ImageOps.exif_transpose(image)
            transposed = upright.size != image.size or upright is not image
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageRejected("too_large", str(error)) from error
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as error:
        raise ImageRejected("unreadable", f"{type(error).__name__}: {error}") from error
    rgb = _pil_to_rgb(upright)
    if min(rgb.shape[:2]) < min_side:
        raise ImageRejected("too_small", f"{rgb.shape[1]}x{rgb.shape[0]} is below the {min_side}-pixel minimum side")
    return DecodedImage(
        rgb=np.ascontiguousarray(rgb),
        source_mode=source_mode,
        source_format=source_format,
        exif_transposed=bool(transposed),
    )
