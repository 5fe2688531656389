"""Heatmaps drawn over faces: on the aligned crop, or mapped back onto the original photo."""

from __future__ import annotations

import cv2
import numpy as np

from facial_anomaly.faces.alignment import invert_matrix


def _heat_scale(heatmap: np.ndarray, vmax: float | None) -> float:
    """The heat drawn at the top of the colormap: ``vmax``, or the map's maximum when None."""
    if vmax is None:
        return float(np.max(heatmap))
    if not (np.isfinite(vmax) and vmax > 0):
        raise ValueError(f"vmax must be a finite number > 0 or None, got {vmax!r}")
    return float(vmax)


def _colorize(heatmap: np.ndarray, *, colormap: str, scale: float) -> np.ndarray:
    """H×W heat → H×W×3 float32 colours in [0, 1], heat/scale clipped to [0, 1]."""
    import matplotlib

    if heatmap.ndim != 2:
        raise ValueError(f"expected an H×W heatmap, got shape {heatmap.shape}")
    # An all-zero map (scale 0) has nothing to scale: draw it as zero heat.
    unit = np.clip(heatmap / scale, 0.0, 1.0) if scale > 0 else np.zeros_like(heatmap)
    return matplotlib.colormaps[colormap](unit)[..., :3].astype(np.float32)


def _check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")


def _blend(rgb: np.ndarray, colors: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per-pixel ``(1 − weight)·rgb + weight·colours`` as uint8 RGB; ``weight`` is H×W in [0, 1]."""
    base = rgb.astype(np.float32) / 255.0
    mixed = base + weight[..., None] * (colors - base)
    return np.clip(np.round(mixed * 255.0), 0, 255).astype(np.uint8)


def overlay_heatmap(
    face_rgb: np.ndarray, heatmap: np.ndarray, *, colormap: str, alpha: float, vmax: float | None
) -> np.ndarray:
    """Colour-mapped heatmap blended over the aligned face.

    Args:
        face_rgb: H×W×3 ``uint8`` RGB aligned face.
        heatmap: H×W float map ≥ 0 of the same size.
        colormap: a matplotlib colormap name (e.g. ``"jet"``, ``"inferno"``).
        alpha: opacity of the colours in [0, 1].
        vmax: heat drawn at the top of the colormap; None = this map's maximum
            (overlays of different images are then not comparable).

    Returns:
        H×W×3 ``uint8`` RGB.

    Raises:
        ValueError: mismatched sizes, alpha outside [0, 1], vmax ≤ 0.
        KeyError: unknown colormap name.
    """
    if face_rgb.shape[:2] != heatmap.shape:
        raise ValueError(f"face {face_rgb.shape[:2]} and heatmap {heatmap.shape} differ in size")
    _check_alpha(alpha)
    colors = _colorize(heatmap, colormap=colormap, scale=_heat_scale(heatmap, vmax))
    return _blend(face_rgb, colors, np.full(heatmap.shape, alpha, dtype=np.float32))


def overlay_on_original(
    original_rgb: np.ndarray,
    heatmap: np.ndarray,
    matrix_2x3: np.ndarray,
    *,
    colormap: str,
    alpha: float,
    vmax: float | None,
) -> np.ndarray:
    """A heatmap of the aligned crop drawn on the original photo.

    The heatmap is warped back with the inverse of the alignment matrix (bilinear); only
    the part of the photo the aligned crop came from is coloured, with a soft edge.

    Args:
        original_rgb: H×W×3 ``uint8`` RGB photo the face was aligned from.
        heatmap: h×w float map ≥ 0 in aligned-crop pixels.
        matrix_2x3: the alignment matrix, source pixels → aligned pixels
            (``[x', y'] = M @ [x, y, 1]``, as saved by preprocessing).
        colormap, alpha, vmax: as in :func:`overlay_heatmap`.

    Returns:
        H×W×3 ``uint8`` RGB, the size of ``original_rgb``.
    """
    _check_alpha(alpha)
    heat = np.asarray(heatmap, dtype=np.float32)
    shape = original_rgb.shape[:2]
    # Scale from the aligned map, so vmax=None means the same as in overlay_heatmap
    # whatever part of the crop lands inside the photo.
    scale = _heat_scale(heat, vmax)
    colors = _colorize(warp_to_original(heat, matrix_2x3, shape), colormap=colormap, scale=scale)
    coverage = warp_to_original(np.ones_like(heat), matrix_2x3, shape)
    return _blend(original_rgb, colors, alpha * coverage)


def warp_to_original(aligned_map: np.ndarray, matrix_2x3: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """An aligned-crop map resampled into original-photo pixels (bilinear, 0 outside the crop).

    Args:
        aligned_map: h×w float32 map in aligned-crop pixels.
        matrix_2x3: the alignment matrix, source pixels → aligned pixels.
        shape: shape of the original photo; ``shape[:2]`` = (H, W) is used.

    Returns:
        H×W ``float32``; the value at source pixel ``p`` is the aligned map at ``M @ [p, 1]``.
    """
    height, width = shape[:2]
    to_source = invert_matrix(np.asarray(matrix_2x3, dtype=np.float64))
    return cv2.warpAffine(
        np.ascontiguousarray(aligned_map, dtype=np.float32),
        to_source,
        (int(width), int(height)),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
