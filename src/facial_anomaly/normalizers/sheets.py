"""Side-by-side sheets for looking at a normalizer's work: original | normalized | difference."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def difference_image(original: np.ndarray, normalized: np.ndarray, *, gain: float) -> np.ndarray:
    """Per-pixel absolute RGB difference × ``gain``, clipped to uint8 (H×W×3)."""
    delta = np.abs(original.astype(np.float32) - normalized.astype(np.float32)) * gain
    return np.clip(np.round(delta), 0, 255).astype(np.uint8)


def comparison_sheet(pairs: Sequence[tuple[np.ndarray, np.ndarray]], *, difference_gain: float) -> np.ndarray:
    """Stack rows of ``original | normalized | difference`` (all H×W×3 uint8, same size).

    Raises:
        ValueError: when ``pairs`` is empty or the images differ in shape.
    """
    if not pairs:
        raise ValueError("a comparison sheet needs at least one (original, normalized) pair")
    rows = []
    for original, normalized in pairs:
        if original.shape != normalized.shape:
            raise ValueError(f"original {original.shape} and normalized {normalized.shape} differ in shape")
        rows.append(np.hstack([original, normalized, difference_image(original, normalized, gain=difference_gain)]))
    return np.vstack(rows)
