"""Grey-level erosion of difference maps (Hayajneh et al. 2022, eq. 5).

Erosion replaces every value by the minimum over a square neighbourhood, so thin or
small differences — one-pixel misalignment edges, noise — vanish while a difference
area larger than the kernel survives (shrunk by the kernel radius per iteration).
"""

from __future__ import annotations

import cv2
import numpy as np


def erode(channel_map: np.ndarray, *, size: int, iterations: int) -> np.ndarray:
    """Grey-level erosion with a ``size``×``size`` square kernel, applied to every channel.

    Pixels outside the image count as +inf (OpenCV's default for erosion), so the border
    is not eroded inwards by the padding.

    Args:
        channel_map: H×W or H×W×C float32 map.
        size: odd side of the square kernel in pixels (the paper uses 3).
        iterations: how many times to erode; 0 returns an unchanged copy.

    Returns:
        Same shape and dtype as ``channel_map``; every value ≤ the input value.

    Raises:
        ValueError: when ``size`` is not a positive odd integer or ``iterations`` < 0.
    """
    if int(size) != size or size < 1 or size % 2 == 0:
        raise ValueError(f"erosion size must be a positive odd integer, got {size!r}")
    if int(iterations) != iterations or iterations < 0:
        raise ValueError(f"erosion iterations must be an integer ≥ 0, got {iterations!r}")
    if iterations == 0 or size == 1:
        return channel_map.copy()
    kernel = np.ones((int(size), int(size)), dtype=np.uint8)
    eroded = cv2.erode(np.ascontiguousarray(channel_map), kernel, iterations=int(iterations))
    # OpenCV drops a trailing single channel (H×W×1 → H×W); keep the caller's shape.
    return eroded.reshape(channel_map.shape)


def erosion_reach(*, size: int, iterations: int) -> int:
    """How far, in pixels, an eroded value depends on the map around it: ``(size // 2) × iterations``."""
    return (int(size) // 2) * int(iterations)
