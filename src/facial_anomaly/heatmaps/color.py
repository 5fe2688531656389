"""Colour spaces the heatmaps compare images in (Hayajneh et al. 2022, eq. 3).

Every space is returned on the **8-bit scale** (float32, channel values of the order of
0–255) so that a squared error means the same thing in every space: one grey level of
difference in RGB and one unit of luma in YCbCr both give 1. The nominal range of each
channel is given by :func:`channel_ranges` (used to normalise for SSIM and LPIPS).
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.util import img_as_float32

COLOR_SPACES = ("rgb", "ycbcr")

# ITU-R BT.601 (studio swing), as printed in Hayajneh et al. 2022 eq. 3 for R, G, B in
# [0, 1]: rows give Y, Cb, Cr; the last column is the offset.
_BT601_RGB_TO_YCBCR = np.array(
    [
        [65.481, 128.553, 24.966, 16.0],
        [-37.797, -74.203, 112.0, 128.0],
        [112.0, -93.786, -18.214, 128.0],
    ],
    dtype=np.float32,
)

# Nominal (low, high) of each channel on the 8-bit scale. BT.601 studio swing: Y in
# [16, 235], Cb and Cr in [16, 240].
_CHANNEL_RANGES = {
    "rgb": (np.array([0.0, 0.0, 0.0], np.float32), np.array([255.0, 255.0, 255.0], np.float32)),
    "ycbcr": (np.array([16.0, 16.0, 16.0], np.float32), np.array([235.0, 240.0, 240.0], np.float32)),
}


def _check_space(space: str) -> None:
    if space not in COLOR_SPACES:
        raise ValueError(f"unknown colour space {space!r}; valid: {list(COLOR_SPACES)}")


def _check_rgb_shape(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an H×W×3 RGB image, got shape {image.shape}")


def as_unit_rgb(image: np.ndarray) -> np.ndarray:
    """An RGB image as float32 in [0, 1].

    Args:
        image: H×W×3 RGB, ``uint8`` (0–255) or float (already in [0, 1]).

    Returns:
        H×W×3 ``float32`` in [0, 1].

    Raises:
        ValueError: when the image is not H×W×3.
    """
    _check_rgb_shape(image)
    return img_as_float32(image)


def rgb_to_ycbcr(image: np.ndarray) -> np.ndarray:
    """RGB → YCbCr per ITU-R BT.601 (Hayajneh et al. 2022 eq. 3)::

        Y  =  16 + 65.481 R + 128.553 G +  24.966 B
        Cb = 128 - 37.797 R -  74.203 G + 112.000 B
        Cr = 128 + 112.000 R - 93.786 G -  18.214 B      (R, G, B in [0, 1])

    Same numbers as ``skimage.color.rgb2ycbcr``.

    Args:
        image: H×W×3 RGB, ``uint8`` or float in [0, 1].

    Returns:
        H×W×3 ``float32``: Y in [16, 235], Cb and Cr in [16, 240].
    """
    unit = np.ascontiguousarray(as_unit_rgb(image))
    # cv2.transform applies the 3×4 affine matrix per pixel, several times faster than einsum.
    return cv2.transform(unit, _BT601_RGB_TO_YCBCR)


def ycbcr_to_rgb(image: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr`: H×W×3 float YCbCr (8-bit scale) → H×W×3 ``float32``
    RGB on the 8-bit scale (not clipped)."""
    _check_rgb_shape(image)
    linear = _BT601_RGB_TO_YCBCR[:, :3].astype(np.float64) / 255.0
    inverse = np.linalg.inv(linear)
    matrix = np.hstack([inverse, -(inverse @ _BT601_RGB_TO_YCBCR[:, 3:].astype(np.float64))]).astype(np.float32)
    return cv2.transform(np.ascontiguousarray(image, dtype=np.float32), matrix)


def to_color_space(image: np.ndarray, space: str) -> np.ndarray:
    """An RGB image in the given colour space, on the 8-bit scale.

    Args:
        image: H×W×3 RGB, ``uint8`` or float in [0, 1].
        space: ``"rgb"`` (R, G, B in [0, 255]) or ``"ycbcr"`` (see :func:`rgb_to_ycbcr`).

    Returns:
        H×W×3 ``float32``; channel ranges as given by :func:`channel_ranges`.

    Raises:
        ValueError: for an unknown space (listing the valid ones) or a non-H×W×3 image.
    """
    _check_space(space)
    if space == "ycbcr":
        return rgb_to_ycbcr(image)
    if image.dtype == np.uint8:
        _check_rgb_shape(image)
        return image.astype(np.float32)  # exact, unlike /255 then ×255
    return as_unit_rgb(image) * np.float32(255.0)


def channel_ranges(space: str) -> tuple[np.ndarray, np.ndarray]:
    """Nominal ``(low, high)`` per channel of :func:`to_color_space` output, each shape (3,) float32.

    Raises:
        ValueError: for an unknown space.
    """
    _check_space(space)
    low, high = _CHANNEL_RANGES[space]
    return low.copy(), high.copy()
