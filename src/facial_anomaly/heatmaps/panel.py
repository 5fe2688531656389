"""Heatmaps a person can read: one panel per image and the heat drawn on the original photo.

A panel (in the spirit of anomalib's ``ImageVisualizer``) is one row of four tiles under a
title strip::

    image name
    variant · score · percentile among the reference images (the run's controls, or the run)
    aligned face | normalized face | heat + colour bar | overlay

* **heat**: the difference map colour-mapped on a fixed scale ``[0, vmax]``;
* **overlay**: the heat over the aligned face with an opacity that grows with the heat
  (zero heat is fully transparent, so an unremarkable face stays untouched), only inside
  the face mask, with the outline of the scoring region.

One colour scale per run and variant makes panels comparable: ``vmax`` is either a
configured value or a high percentile of all heat of the run, computed from a
:class:`HeatSketch` — a mergeable log-bucket histogram filled one image at a time (on any
number of workers) and merged at the end.

No Kedro; all functions are pure and return ``uint8`` RGB arrays.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import cv2
import numpy as np
from pydantic import Field, field_validator

from facial_anomaly.config import Config
from facial_anomaly.faces.alignment import invert_matrix

from . import drawing

# ------------------------------------------------------------------------------- config


def _known_colormap(name: str) -> str:
    import matplotlib

    if name not in matplotlib.colormaps:
        raise ValueError(f"unknown matplotlib colormap {name!r} (e.g. turbo, jet, inferno, magma, viridis)")
    return name


class PanelConfig(Config):
    """How heat is drawn: colour scale, opacity curve, panel geometry and font."""

    colormap: str = Field("turbo", description="matplotlib colormap name for heat (low → high)")
    vmax: float | None = Field(
        None,
        gt=0,
        description="heat at the top of the colour scale, in the heatmap's own units (PSE: 8-bit colour "
        "units squared, summed over channels); None = the vmax_percentile of the run's heat",
    )
    vmax_percentile: float = Field(
        99.0,
        gt=0,
        le=100,
        description="percent of all heat values of the run (inside the face masks) at or below the top of "
        "the colour scale, when vmax is None",
    )
    alpha_max: float = Field(0.8, ge=0, le=1, description="overlay opacity at heat ≥ vmax (0 = invisible, 1 = opaque)")
    alpha_threshold: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="fraction of vmax below which heat is fully transparent in overlays (hides faint noise)",
    )
    alpha_gamma: float = Field(
        1.0,
        gt=0,
        description="shape of the opacity curve alpha = alpha_max·((u − threshold)/(1 − threshold))^gamma, "
        "u = heat/vmax clipped to [0, 1]; > 1 keeps middle heat fainter",
    )
    tile_px: int = Field(256, ge=32, le=2048, description="side of each square tile of a panel, pixels")
    gap_px: int = Field(4, ge=0, le=64, description="space between tiles, pixels")
    colorbar_px: int = Field(72, ge=32, le=400, description="width of the colour bar with its labels, pixels")
    outline_px: int = Field(2, ge=1, le=16, description="thickness of the scoring-region outline, pixels")
    outline_rgb: tuple[int, int, int] = Field((255, 255, 255), description="colour of the scoring-region outline")
    font_size_px: int = Field(14, ge=6, le=96, description="em size of all text, pixels")
    font_path: str | None = Field(None, description="a .ttf font file; None = DejaVu Sans shipped with matplotlib")
    photo_max_side_px: int = Field(
        1600,
        ge=64,
        le=16384,
        description="longest side of heat drawn on an original photo, pixels (larger photos are shrunk first)",
    )

    @field_validator("colormap")
    @classmethod
    def _colormap_exists(cls, name: str) -> str:
        return _known_colormap(name)

    @field_validator("outline_rgb")
    @classmethod
    def _rgb_range(cls, rgb: tuple[int, int, int]) -> tuple[int, int, int]:
        if not all(0 <= channel <= 255 for channel in rgb):
            raise ValueError(f"RGB channels must be in [0, 255], got {rgb}")
        return rgb


# ---------------------------------------------------------------------- colour scale


class HeatSketch:
    """Mergeable histogram of heat values ≥ 0 with logarithmic buckets, for quantiles of all
    heat of a run computed one image at a time (DDSketch: Masson, Rim & Lee, "DDSketch: a
    fast and fully-mergeable quantile sketch with relative-error guarantees", VLDB 2019).

    A positive value ``x`` falls in bucket ``i = ceil(log_γ x)`` with
    ``γ = (1 + a)/(1 − a)``; the bucket's representative ``2γ^i/(γ + 1)`` is within a
    relative error ``a`` of every value in it, so :meth:`quantile` is within ``a`` of the
    exact order statistic. Values ≤ ``min_positive`` count as zero. Memory: one integer per
    bucket between the smallest and largest value seen (≈ 2 300 buckets per 10 decades at
    ``a`` = 0.005), whatever the number of pixels. Sketches made on different workers are
    combined with :meth:`merge` (or ``+``) and travel as JSON (:meth:`to_dict`).
    """

    def __init__(self, relative_accuracy: float = 0.005, min_positive: float = 1e-9):
        if not 0 < relative_accuracy < 1:
            raise ValueError(f"relative_accuracy must be in (0, 1), got {relative_accuracy!r}")
        if not (np.isfinite(min_positive) and min_positive > 0):
            raise ValueError(f"min_positive must be a finite number > 0, got {min_positive!r}")
        self.relative_accuracy = float(relative_accuracy)
        self.min_positive = float(min_positive)
        self._log_gamma = math.log((1 + self.relative_accuracy) / (1 - self.relative_accuracy))
        self.zero_count = 0
        self._offset = 0  # bucket index of self._counts[0]
        self._counts = np.zeros(0, dtype=np.int64)

    @property
    def count(self) -> int:
        """Number of values added (zeros included)."""
        return int(self.zero_count + self._counts.sum())

    def _bucket_value(self, index: np.ndarray | int) -> np.ndarray | float:
        gamma = math.exp(self._log_gamma)
        return 2.0 * np.exp(np.asarray(index, dtype=np.float64) * self._log_gamma) / (gamma + 1.0)

    def _add_bucket_counts(self, low: int, counts: np.ndarray) -> None:
        """Add ``counts`` (int64) of buckets ``low, low + 1, …`` into the dense array."""
        if counts.size == 0:
            return
        if self._counts.size == 0:
            self._offset, self._counts = low, counts.astype(np.int64, copy=True)
            return
        start, stop = min(self._offset, low), max(self._offset + self._counts.size, low + counts.size)
        merged = np.zeros(stop - start, dtype=np.int64)
        merged[self._offset - start : self._offset - start + self._counts.size] += self._counts
        merged[low - start : low - start + counts.size] += counts
        self._offset, self._counts = start, merged

    def add(self, heat: np.ndarray, mask: np.ndarray | None = None) -> HeatSketch:
        """Add the values of ``heat`` (any shape, ≥ 0, finite) — only where ``mask`` (bool, or
        float > 0.5, same shape) is set, when given. Returns ``self``.

        Raises:
            ValueError: negative or non-finite values, or a mask of another shape.
        """
        values = np.asarray(heat, dtype=np.float64)
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != values.shape:
                raise ValueError(f"heat {values.shape} and mask {mask.shape} differ in shape")
            values = values[mask if mask.dtype == bool else mask > 0.5]
        values = values.ravel()
        if values.size == 0:
            return self
        if not np.isfinite(values).all():
            raise ValueError("heat has NaN or infinite values")
        if values.min() < 0:
            raise ValueError(f"heat must be ≥ 0, found {values.min()}")
        positive = values[values > self.min_positive]
        self.zero_count += int(values.size - positive.size)
        if positive.size:
            index = np.ceil(np.log(positive) / self._log_gamma).astype(np.int64)
            low = int(index.min())
            self._add_bucket_counts(low, np.bincount(index - low).astype(np.int64))
        return self

    def _check_compatible(self, other: HeatSketch) -> None:
        if (other.relative_accuracy, other.min_positive) != (self.relative_accuracy, self.min_positive):
            raise ValueError(
                "cannot merge sketches with different settings: "
                f"(relative_accuracy, min_positive) {(self.relative_accuracy, self.min_positive)} "
                f"vs {(other.relative_accuracy, other.min_positive)}"
            )

    def merge(self, other: HeatSketch) -> HeatSketch:
        """A new sketch holding the values of both (same settings required)."""
        self._check_compatible(other)
        merged = HeatSketch(self.relative_accuracy, self.min_positive)
        merged.zero_count = self.zero_count + other.zero_count
        merged._add_bucket_counts(self._offset, self._counts)
        merged._add_bucket_counts(other._offset, other._counts)
        return merged

    __add__ = merge

    def quantile(self, q: float) -> float:
        """The value of rank ``floor(q·(n − 1))`` among the n values added (numpy's
        ``method="lower"``), within ``relative_accuracy``; 0.0 for the zeros.

        Raises:
            ValueError: ``q`` outside [0, 1], or an empty sketch.
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile must be in [0, 1], got {q!r}")
        total = self.count
        if total == 0:
            raise ValueError("the heat sketch is empty: no heat values were added")
        rank = math.floor(q * (total - 1))
        if rank < self.zero_count:
            return 0.0
        cumulative = np.cumsum(self._counts)
        bucket = int(np.searchsorted(cumulative, rank - self.zero_count, side="right"))
        return float(self._bucket_value(self._offset + bucket))

    def maximum(self) -> float:
        """The largest value added (within ``relative_accuracy``); 0.0 when only zeros; raises on empty."""
        return self.quantile(1.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state: settings, zero count and the non-empty buckets."""
        nonzero = np.flatnonzero(self._counts)
        return {
            "relative_accuracy": self.relative_accuracy,
            "min_positive": self.min_positive,
            "zero_count": int(self.zero_count),
            "buckets": [int(self._offset + i) for i in nonzero],
            "counts": [int(self._counts[i]) for i in nonzero],
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> HeatSketch:
        """Inverse of :meth:`to_dict`."""
        sketch = cls(float(state["relative_accuracy"]), float(state["min_positive"]))
        sketch.zero_count = int(state["zero_count"])
        buckets = np.asarray(state["buckets"], dtype=np.int64)
        counts = np.asarray(state["counts"], dtype=np.int64)
        if buckets.shape != counts.shape or (counts < 0).any() or sketch.zero_count < 0:
            raise ValueError("corrupt heat sketch state: buckets and counts differ in length or are negative")
        if buckets.size:
            low = int(buckets.min())
            dense = np.zeros(int(buckets.max()) - low + 1, dtype=np.int64)
            np.add.at(dense, buckets - low, counts)
            sketch._add_bucket_counts(low, dense)
        return sketch


def resolve_vmax(config: PanelConfig, sketch: HeatSketch | None = None) -> float:
    """The top of the colour scale for one run and variant.

    ``config.vmax`` when set; otherwise the ``config.vmax_percentile`` percentile of the
    sketch (all heat of the run for this variant). When that percentile is 0 (almost no
    heat anywhere) the largest heat is used, and 1.0 when all heat is 0.

    Raises:
        ValueError: ``config.vmax`` is None and no non-empty sketch is given.
    """
    if config.vmax is not None:
        return float(config.vmax)
    if sketch is None or sketch.count == 0:
        raise ValueError("vmax is not configured and there is no heat to take its percentile from")
    value = sketch.quantile(config.vmax_percentile / 100.0)
    if value <= 0:
        value = sketch.maximum()
    return float(value) if value > 0 else 1.0


def score_percentile(score, reference_scores):
    """Percent of ``reference_scores`` below ``score``, ties counted half (mid-rank), in [0, 100].

    The reference is the run's normal controls when labels are known, else every scored
    image of the run. Non-finite reference values are ignored.

    Args:
        score: one score, or an array of scores (e.g. a whole column: O(n log n)).
        reference_scores: 1-D array-like of scores.

    Returns:
        A float for a scalar ``score``, else a float64 array of its shape; NaN where the score
        is not finite or there is no finite reference score.
    """
    reference = np.asarray(reference_scores, dtype=np.float64).ravel()
    reference = np.sort(reference[np.isfinite(reference)])
    scores = np.asarray(score, dtype=np.float64)
    if reference.size == 0:
        result = np.full(scores.shape, np.nan)
    else:
        below = np.searchsorted(reference, scores, side="left")
        at_or_below = np.searchsorted(reference, scores, side="right")
        result = 100.0 * (below + 0.5 * (at_or_below - below)) / reference.size
        result = np.where(np.isfinite(scores), result, np.nan)
    return float(result) if result.ndim == 0 else result


# ------------------------------------------------------------------------ heat drawing


def _unit_heat(heat: np.ndarray, vmax: float) -> np.ndarray:
    if not (np.isfinite(vmax) and vmax > 0):
        raise ValueError(f"vmax must be a finite number > 0, got {vmax!r}")
    heat = np.asarray(heat, dtype=np.float32)
    if heat.ndim != 2:
        raise ValueError(f"expected an H×W heatmap, got shape {heat.shape}")
    return np.clip(np.nan_to_num(heat, nan=0.0) / np.float32(vmax), 0.0, 1.0)


def heat_alpha(heat: np.ndarray, *, vmax: float, config: PanelConfig) -> np.ndarray:
    """Overlay opacity per pixel: ``alpha_max · ((u − t)/(1 − t))^γ`` clipped at 0, with
    ``u = heat/vmax`` clipped to [0, 1], ``t = alpha_threshold``, ``γ = alpha_gamma``.
    Zero heat (and heat below ``t·vmax``) gives exactly 0. Returns H×W float32 in [0, alpha_max]."""
    unit = _unit_heat(heat, vmax)
    threshold = np.float32(config.alpha_threshold)
    ramp = np.clip((unit - threshold) / (np.float32(1.0) - threshold), 0.0, 1.0)
    return (np.float32(config.alpha_max) * ramp ** np.float32(config.alpha_gamma)).astype(np.float32)


def blend_heat(
    rgb: np.ndarray, heat: np.ndarray, *, vmax: float, config: PanelConfig, mask: np.ndarray | None = None
) -> np.ndarray:
    """Heat colours over ``rgb`` (H×W×3 uint8) with opacity :func:`heat_alpha` × ``mask``
    (H×W bool or float in [0, 1]; None = everywhere). Pixels of opacity 0 keep their exact
    value. Returns H×W×3 uint8."""
    if rgb.shape[:2] != np.shape(heat):
        raise ValueError(f"image {rgb.shape[:2]} and heatmap {np.shape(heat)} differ in size")
    alpha = heat_alpha(heat, vmax=vmax, config=config)
    if mask is not None:
        if np.shape(mask) != alpha.shape:
            raise ValueError(f"mask {np.shape(mask)} and heatmap {alpha.shape} differ in size")
        alpha = alpha * np.clip(np.asarray(mask, dtype=np.float32), 0.0, 1.0)
    colors = drawing.colorize(_unit_heat(heat, vmax), config.colormap).astype(np.float32)
    base = rgb.astype(np.float32)
    mixed = np.round(base + alpha[..., None] * (colors - base))
    out = np.clip(mixed, 0, 255).astype(np.uint8)
    untouched = alpha <= 0
    out[untouched] = rgb[untouched]  # exact, whatever float rounding did
    return out


def _resize(image: np.ndarray, size_wh: tuple[int, int], interpolation: int) -> np.ndarray:
    if image.shape[1] == size_wh[0] and image.shape[0] == size_wh[1]:
        return image
    return cv2.resize(image, size_wh, interpolation=interpolation)


def _tile_size(shape: tuple[int, ...], tile_px: int) -> tuple[int, int]:
    """(width, height) of a tile ``tile_px`` wide keeping the image's aspect ratio."""
    height, width = shape[:2]
    return tile_px, max(1, round(tile_px * height / width))


def ordinal(number: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ``11th``, ``12th``, ``13th``, ``21st``, ``100th``."""
    number = int(number)
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def panel_title(
    image_name: str, variant: str, score: float | None, percentile: float | None, reference: str
) -> list[str]:
    """The two title lines of a panel: the image name; ``variant · score · percentile``."""
    parts = [f"variant {variant}"]
    parts.append("score –" if score is None or not np.isfinite(score) else f"score {drawing.format_number(score)}")
    if percentile is not None and np.isfinite(percentile):
        parts.append(f"{ordinal(round(percentile))} percentile of {reference}")
    return [str(image_name), "  ·  ".join(parts)]


def image_panel(
    aligned_rgb: np.ndarray,
    normalized_rgb: np.ndarray,
    heat: np.ndarray,
    *,
    face_mask: np.ndarray,
    region_mask: np.ndarray,
    vmax: float,
    image_name: str,
    variant: str,
    score: float | None,
    percentile: float | None,
    reference: str = "the run's controls",
    config: PanelConfig | None = None,
) -> np.ndarray:
    """One readable panel: title strip, column headers, then aligned | normalized | heat with
    colour bar | overlay.

    Args:
        aligned_rgb, normalized_rgb: H×W×3 uint8 RGB aligned face and its normalized version.
        heat: H×W float map ≥ 0 (the variant's difference map, in its own units).
        face_mask: H×W bool or float in [0, 1] (the aligned face's alpha mask); overlay heat
            is drawn only inside it.
        region_mask: H×W bool, the variant's scoring region; its inner edge is outlined on the
            overlay tile.
        vmax: top of the colour scale, the same for every panel of a run and variant
            (:func:`resolve_vmax`).
        image_name: shown in full (middle-shortened when too long) on the first title line.
        variant, score: scoring variant name and this image's score under it (None/NaN = –).
        percentile: the score's percentile (:func:`score_percentile`) among ``reference``
            (e.g. ``"40 controls"``); None hides it.
        config: drawing settings; None = defaults.

    Returns:
        uint8 RGB of height ``title + header + tile height`` and width
        ``4·tile_px + colorbar_px + 3·gap_px``; each face tile is ``tile_px`` wide (area
        resampled; untouched at its native size).
    """
    config = config or PanelConfig()
    shapes = {np.shape(a)[:2] for a in (aligned_rgb, normalized_rgb, heat, face_mask, region_mask)}
    if len(shapes) != 1:
        raise ValueError(f"panel inputs differ in size: {sorted(shapes)}")
    region = np.asarray(region_mask)
    if region.dtype != bool:
        raise ValueError(f"region_mask must be a bool array, got dtype {region.dtype}")
    size = _tile_size(aligned_rgb.shape, config.tile_px)
    aligned = _resize(aligned_rgb, size, cv2.INTER_AREA)
    normalized = _resize(normalized_rgb, size, cv2.INTER_AREA)
    heat_tile = _resize(np.asarray(heat, dtype=np.float32), size, cv2.INTER_AREA)
    mask_tile = _resize(np.asarray(face_mask, dtype=np.float32), size, cv2.INTER_AREA)
    region_tile = _resize(region.astype(np.uint8), size, cv2.INTER_NEAREST).astype(bool)

    heat_colors = drawing.colorize(_unit_heat(heat_tile, vmax), config.colormap)
    overlay = blend_heat(aligned, heat_tile, vmax=vmax, config=config, mask=mask_tile)
    overlay[drawing.mask_outline(region_tile, thickness_px=config.outline_px)] = config.outline_rgb

    font = drawing.load_font(config.font_size_px, config.font_path)
    tile_h, gap_px = size[1], config.gap_px
    bar, header_row = _panel_furniture(size, float(vmax), config.colorbar_px, config.colormap, gap_px, font)
    row = np.hstack(
        [
            aligned,
            drawing.gap(tile_h, gap_px),
            normalized,
            drawing.gap(tile_h, gap_px),
            heat_colors,
            bar,
            drawing.gap(tile_h, gap_px),
            overlay,
        ]
    )
    title = drawing.text_strip(
        panel_title(image_name, variant, score, percentile, reference),
        width_px=row.shape[1],
        font=font,
        background=(235, 235, 235),
    )
    return np.vstack([title, header_row, row])


@functools.lru_cache(maxsize=16)
def _panel_furniture(size, vmax, colorbar_px, colormap, gap_px, font) -> tuple[np.ndarray, np.ndarray]:
    """(colour bar, row of column headers): the same for every panel of a run and variant,
    so drawn once (read-only arrays)."""
    bar = drawing.colorbar(size[1], width_px=colorbar_px, vmax=vmax, colormap=colormap, font=font)
    headers = [
        ("aligned face", size[0]),
        ("normalized", size[0]),
        ("heat", size[0] + colorbar_px),
        ("overlay · scoring region", size[0]),
    ]
    header_cells = []
    for index, (label, width) in enumerate(headers):
        if index:
            header_cells.append(drawing.gap(drawing.text_strip_height_px(font, 1), gap_px))
        header_cells.append(drawing.text_strip([label], width_px=width, font=font, align="center"))
    header_row = np.hstack(header_cells)
    bar.flags.writeable = header_row.flags.writeable = False
    return bar, header_row


def panel_layout(config: PanelConfig | None = None, *, aspect: float = 1.0) -> dict[str, tuple[int, int]]:
    """Where the tiles of :func:`image_panel` sit: name → (x, y) of the top-left corner, plus
    ``"size"`` (width, height) of the whole panel and ``"tile"`` (width, height) of a tile,
    for an input of height/width ``aspect``."""
    config = config or PanelConfig()
    font = drawing.load_font(config.font_size_px, config.font_path)
    tile_w, tile_h = config.tile_px, max(1, round(config.tile_px * aspect))
    top = drawing.text_strip_height_px(font, 2) + drawing.text_strip_height_px(font, 1)
    step = tile_w + config.gap_px
    heat_x = 2 * step
    overlay_x = heat_x + tile_w + config.colorbar_px + config.gap_px
    return {
        "aligned": (0, top),
        "normalized": (step, top),
        "heat": (heat_x, top),
        "colorbar": (heat_x + tile_w, top),
        "overlay": (overlay_x, top),
        "tile": (tile_w, tile_h),
        "size": (overlay_x + tile_w, top + tile_h),
    }


# ------------------------------------------------------------------ on the original photo


def photo_output_size(shape: tuple[int, ...], max_side_px: int) -> tuple[int, int]:
    """(width, height) of an original photo of ``shape`` shrunk so its longest side is at
    most ``max_side_px`` (never enlarged)."""
    height, width = shape[:2]
    factor = min(1.0, max_side_px / max(height, width))
    return max(1, round(width * factor)), max(1, round(height * factor))


def aligned_to_photo_matrix(matrix_2x3: np.ndarray, photo_shape: tuple[int, ...], out_size_wh: tuple[int, int]):
    """2×3 matrix mapping aligned-crop pixels to pixels of the photo resized to ``out_size_wh``.

    ``matrix_2x3`` maps source pixels to aligned pixels (as saved by preprocessing); its
    inverse is followed by the resize, with OpenCV's pixel-centre convention
    ``x_out = (x_src + 0.5)·s − 0.5``.
    """
    height, width = photo_shape[:2]
    scale_x, scale_y = out_size_wh[0] / width, out_size_wh[1] / height
    resize = np.array([[scale_x, 0.0, 0.5 * scale_x - 0.5], [0.0, scale_y, 0.5 * scale_y - 0.5], [0.0, 0.0, 1.0]])
    to_source = np.vstack([invert_matrix(np.asarray(matrix_2x3, dtype=np.float64)), [0.0, 0.0, 1.0]])
    return (resize @ to_source)[:2]


def overlay_on_photo(
    photo_rgb: np.ndarray,
    heat: np.ndarray,
    face_mask: np.ndarray,
    matrix_2x3: np.ndarray,
    *,
    vmax: float,
    config: PanelConfig | None = None,
    region_mask: np.ndarray | None = None,
) -> np.ndarray:
    """The heat of an aligned crop drawn on the untinted original photo, only inside the face.

    The heatmap and the face mask are warped back through the inverse alignment (bilinear);
    the opacity is :func:`heat_alpha` × the warped mask, so every pixel outside the face
    mask (and outside the crop) keeps its exact value. A photo larger than
    ``config.photo_max_side_px`` is shrunk first (area resampling) and the warp goes straight
    into the shrunk frame, so the cost is bounded by the output size.

    Args:
        photo_rgb: H×W×3 uint8 RGB photo the face was aligned from.
        heat: h×w float map ≥ 0 in aligned-crop pixels.
        face_mask: h×w bool or float in [0, 1] in aligned-crop pixels (the aligned face's
            alpha mask, or a region mask).
        matrix_2x3: the alignment matrix, source pixels → aligned pixels.
        vmax: top of the colour scale (the run's, as in the panels).
        region_mask: optional h×w bool scoring region, outlined on the photo.

    Returns:
        uint8 RGB of size :func:`photo_output_size` (photo shape, ``config.photo_max_side_px``).
    """
    config = config or PanelConfig()
    if np.shape(heat) != np.shape(face_mask)[:2]:
        raise ValueError(f"heatmap {np.shape(heat)} and face mask {np.shape(face_mask)} differ in size")
    out_size = photo_output_size(photo_rgb.shape, config.photo_max_side_px)
    photo = _resize(photo_rgb, out_size, cv2.INTER_AREA)
    to_out = aligned_to_photo_matrix(matrix_2x3, photo_rgb.shape, out_size)

    def warp(values: np.ndarray, interpolation: int) -> np.ndarray:
        return cv2.warpAffine(
            np.ascontiguousarray(values, dtype=np.float32),
            to_out,
            out_size,
            flags=interpolation,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )

    warped_heat = np.maximum(warp(heat, cv2.INTER_LINEAR), 0.0)
    warped_mask = np.clip(warp(face_mask, cv2.INTER_LINEAR), 0.0, 1.0)
    drawn = blend_heat(photo, warped_heat, vmax=vmax, config=config, mask=warped_mask)
    if region_mask is not None:
        region = np.asarray(region_mask)
        if region.dtype != bool or region.shape != np.shape(heat):
            raise ValueError(f"region_mask must be a bool array of shape {np.shape(heat)}")
        warped_region = warp(region.astype(np.float32), cv2.INTER_NEAREST) > 0.5
        drawn[drawing.mask_outline(warped_region, thickness_px=config.outline_px)] = config.outline_rgb
    return drawn


def with_colorbar(image: np.ndarray, *, vmax: float, config: PanelConfig | None = None) -> np.ndarray:
    """``image`` (H×W×3 uint8) with the run's colour bar appended on the right, full height."""
    config = config or PanelConfig()
    font = drawing.load_font(config.font_size_px, config.font_path)
    bar = drawing.colorbar(image.shape[0], width_px=config.colorbar_px, vmax=vmax, colormap=config.colormap, font=font)
    return np.hstack([image, bar])
