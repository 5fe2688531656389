"""Colour edits in CIELAB, written back only where a mask says.

Lesions and shading changes are described as additive CIELAB deltas (``L`` 0–100,
``a`` green→red, ``b`` blue→yellow, OpenCV's float convention): adding them keeps the
skin's own texture and tone underneath, and lightness and redness are the quantities
a clinician reads. Pixels outside the mask are copied, never round-tripped.
"""

from __future__ import annotations

import cv2
import numpy as np


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB → float32 CIELAB (L in [0, 100])."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def from_lab(lab: np.ndarray) -> np.ndarray:
    """float32 CIELAB → uint8 RGB (rounded, clipped)."""
    rgb = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB)
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def write_lab_deltas(image: np.ndarray, deltas: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A copy of ``image`` with the H×W×3 CIELAB ``deltas`` added on the pixels of ``mask``."""
    out = image.copy()
    if not mask.any():
        return out
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    edited = from_lab(to_lab(image[box]) + deltas[box])
    out[box][mask[box]] = edited[mask[box]]
    return out
