"""Side-by-side sheets for looking at a normalizer's work: original | normalized | difference.

A sheet has a header row naming the columns, one row per image under a strip with the
image id, and a difference column drawn on a visible, stated scale:

* ``colormap`` (default): the per-pixel RGB distance ``‖original − normalized‖₂`` (8-bit
  units, 0 … 441) colour-mapped on ``[0, difference_vmax]``, with a colour bar at the
  right of the sheet — the same scale for every row;
* ``amplified``: ``|original − normalized| × difference_gain`` per channel, the factor
  printed in the column header.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np
from pydantic import Field, field_validator

from facial_anomaly.config import Config
from facial_anomaly.heatmaps import drawing


class SheetConfig(Config):
    """How a comparison sheet is drawn."""

    difference: Literal["colormap", "amplified"] = Field(
        "colormap", description="colour-mapped RGB distance with a colour bar, or |difference| × gain"
    )
    difference_vmax: float = Field(
        64.0,
        gt=0,
        description="RGB distance (8-bit units, 0–441) at the top of the colour bar, colormap mode",
    )
    difference_gain: float = Field(4.0, gt=0, description="amplification of |original − normalized|, amplified mode")
    colormap: str = Field("magma", description="matplotlib colormap of the difference, colormap mode")
    tile_px: int | None = Field(
        None, ge=16, le=4096, description="width of each image tile in pixels; None = the images' own width"
    )
    column_names: tuple[str, str] = Field(("original", "normalized"), description="headers of the first two columns")
    gap_px: int = Field(4, ge=0, le=64, description="space between tiles and rows, pixels")
    colorbar_px: int = Field(72, ge=32, le=400, description="width of the colour bar with its labels, pixels")
    font_size_px: int = Field(14, ge=6, le=96, description="em size of all text, pixels")
    font_path: str | None = Field(None, description="a .ttf font file; None = DejaVu Sans shipped with matplotlib")

    @field_validator("colormap")
    @classmethod
    def _colormap_exists(cls, name: str) -> str:
        import matplotlib

        if name not in matplotlib.colormaps:
            raise ValueError(f"unknown matplotlib colormap {name!r} (e.g. magma, inferno, viridis, turbo)")
        return name


def difference_image(original: np.ndarray, normalized: np.ndarray, *, gain: float) -> np.ndarray:
    """Per-pixel absolute RGB difference × ``gain``, clipped to uint8 (H×W×3)."""
    delta = np.abs(original.astype(np.float32) - normalized.astype(np.float32)) * gain
    return np.clip(np.round(delta), 0, 255).astype(np.uint8)


def difference_distance(original: np.ndarray, normalized: np.ndarray) -> np.ndarray:
    """Per-pixel Euclidean RGB distance ``‖original − normalized‖₂`` of two H×W×3 uint8 images:
    H×W float32 in [0, 255·√3 ≈ 441.7] (8-bit units)."""
    delta = original.astype(np.float32) - normalized.astype(np.float32)
    return np.sqrt(np.sum(delta * delta, axis=-1))


def colored_difference(original: np.ndarray, normalized: np.ndarray, *, vmax: float, colormap: str) -> np.ndarray:
    """:func:`difference_distance` colour-mapped on ``[0, vmax]`` (clipped): H×W×3 uint8."""
    return drawing.colorize(difference_distance(original, normalized) / np.float32(vmax), colormap)


def _difference_header(config: SheetConfig) -> str:
    if config.difference == "amplified":
        return f"|difference| × {drawing.format_number(config.difference_gain)}"
    return "RGB distance"


def comparison_sheet(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    image_ids: Sequence[str] | None = None,
    config: SheetConfig | None = None,
    difference_gain: float | None = None,
) -> np.ndarray:
    """A sheet of rows ``original | normalized | difference`` under column headers.

    Args:
        pairs: (original, normalized) H×W×3 uint8 pairs, all of one size.
        image_ids: one label per row, drawn in a strip above it (middle-shortened when
            long); None = ``#1``, ``#2``, …
        config: drawing settings; None = defaults (colour-mapped differences).
        difference_gain: shorthand kept for older calls: ``amplified`` differences with this
            gain (cannot be combined with ``config``).

    Returns:
        H'×W'×3 uint8. The colour bar (colormap mode) spans the image rows on the right.

    Raises:
        ValueError: no pairs, images of different shapes, ``image_ids`` of another length,
            or both ``config`` and ``difference_gain``.
    """
    if difference_gain is not None:
        if config is not None:
            raise ValueError("give either config or difference_gain, not both")
        config = SheetConfig(difference="amplified", difference_gain=difference_gain)
    config = config or SheetConfig()
    if not pairs:
        raise ValueError("a comparison sheet needs at least one (original, normalized) pair")
    shape = pairs[0][0].shape
    for original, normalized in pairs:
        if original.shape != normalized.shape or original.shape != shape:
            raise ValueError(
                f"all images of a sheet must have one shape; got original {original.shape}, "
                f"normalized {normalized.shape}, first {shape}"
            )
    labels = [f"#{i + 1}" for i in range(len(pairs))] if image_ids is None else [str(i) for i in image_ids]
    if len(labels) != len(pairs):
        raise ValueError(f"{len(pairs)} image pairs but {len(labels)} image ids")

    tile_w = shape[1] if config.tile_px is None else config.tile_px
    tile_h = max(1, round(tile_w * shape[0] / shape[1]))
    font = drawing.load_font(config.font_size_px, config.font_path)
    gap = config.gap_px
    width = 3 * tile_w + 2 * gap

    def tile(image: np.ndarray) -> np.ndarray:
        if image.shape[1] == tile_w:
            return image
        return cv2.resize(image, (tile_w, tile_h), interpolation=cv2.INTER_AREA)

    header_cells = []
    for index, name in enumerate([*config.column_names, _difference_header(config)]):
        if index:
            header_cells.append(drawing.gap(drawing.text_strip_height_px(font, 1), gap))
        header_cells.append(drawing.text_strip([name], width_px=tile_w, font=font, align="center"))
    blocks = [np.hstack(header_cells)]
    for label, (original, normalized) in zip(labels, pairs):
        if config.difference == "amplified":
            difference = difference_image(original, normalized, gain=config.difference_gain)
        else:
            difference = colored_difference(original, normalized, vmax=config.difference_vmax, colormap=config.colormap)
        blocks.append(drawing.text_strip([label], width_px=width, font=font, background=(235, 235, 235)))
        blocks.append(
            np.hstack(
                [tile(original), drawing.gap(tile_h, gap), tile(normalized), drawing.gap(tile_h, gap), tile(difference)]
            )
        )
        blocks.append(drawing.gap(gap, width))
    sheet = np.vstack(blocks[:-1])
    if config.difference == "amplified":
        return sheet
    header_h = blocks[0].shape[0]
    bar = drawing.colorbar(
        sheet.shape[0] - header_h,
        width_px=config.colorbar_px,
        vmax=config.difference_vmax,
        colormap=config.colormap,
        font=font,
        bar_width_px=max(8, config.colorbar_px // 4),
    )
    bar_header = drawing.text_strip(["RGB Δ"], width_px=config.colorbar_px, font=font, align="center")
    return np.hstack([sheet, np.vstack([bar_header, bar])])
