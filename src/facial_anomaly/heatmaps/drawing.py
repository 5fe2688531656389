"""Drawing helpers shared by panels and sheets: text strips, colour bars, mask outlines.

Everything returns ``uint8`` RGB numpy arrays, so figures are composed by stacking
arrays (exact pixel positions, no resampling by a plotting library). Text is drawn with
Pillow in DejaVu Sans, the font that ships inside matplotlib, so a figure looks the same
on every machine.
"""

from __future__ import annotations

import functools
import math
import os
import unicodedata
from collections.abc import Sequence

import cv2
import numpy as np

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
# Space around text in a strip, as a fraction of the font size.
_TEXT_PAD_EM = 0.35
_LINE_SPACING_EM = 1.3
_ELLIPSIS = "…"


@functools.lru_cache(maxsize=16)
def load_font(size_px: int, path: str | None = None):
    """A Pillow FreeType font.

    Args:
        size_px: em size in pixels (> 0).
        path: a ``.ttf``/``.otf`` file; None = DejaVu Sans from matplotlib's data folder.

    Raises:
        ValueError: ``size_px`` ≤ 0; OSError: the font file cannot be read.
    """
    from PIL import ImageFont

    if size_px <= 0:
        raise ValueError(f"font size must be > 0 pixels, got {size_px}")
    if path is None:
        import matplotlib

        path = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf")
    return ImageFont.truetype(path, int(size_px))


def printable(text: str) -> str:
    """``text`` with control characters (newlines, tabs, escapes) replaced by ``�``, so a file
    name of any content draws on one line."""
    return "".join("�" if unicodedata.category(char).startswith("C") else char for char in str(text))


def fit_text(text: str, font, max_width_px: float) -> str:
    """``text`` (made :func:`printable`) shortened in the middle with ``…`` until it is at most
    ``max_width_px`` wide in ``font``; the start and the end of a file name stay readable."""
    text = printable(text)
    if font.getlength(text) <= max_width_px:
        return text
    keep = len(text)
    while keep > 0:
        keep -= 1
        head, tail = text[: (keep + 1) // 2], text[len(text) - keep // 2 :] if keep // 2 else ""
        candidate = head + _ELLIPSIS + tail
        if font.getlength(candidate) <= max_width_px:
            return candidate
    return _ELLIPSIS if font.getlength(_ELLIPSIS) <= max_width_px else ""


def line_height_px(font) -> int:
    """Pixels between the tops of two text lines in ``font``."""
    return int(math.ceil(font.size * _LINE_SPACING_EM))


def text_strip_height_px(font, lines: int) -> int:
    """Height of a :func:`text_strip` of ``lines`` lines."""
    return lines * line_height_px(font) + 2 * int(math.ceil(font.size * _TEXT_PAD_EM))


def text_strip(
    lines: Sequence[str],
    *,
    width_px: int,
    font,
    align: str = "left",
    foreground: tuple[int, int, int] = BLACK,
    background: tuple[int, int, int] = WHITE,
) -> np.ndarray:
    """A ``text_strip_height_px(font, len(lines)) × width_px × 3`` uint8 strip with one line of
    text per entry, each shortened by :func:`fit_text` to fit.

    Args:
        align: ``"left"`` or ``"center"``.
    """
    from PIL import Image, ImageDraw

    if align not in ("left", "center"):
        raise ValueError(f"align must be 'left' or 'center', got {align!r}")
    pad = int(math.ceil(font.size * _TEXT_PAD_EM))
    image = Image.new("RGB", (int(width_px), text_strip_height_px(font, len(lines))), background)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        shown = fit_text(line, font, width_px - 2 * pad)
        x = pad if align == "left" else (width_px - font.getlength(shown)) / 2
        draw.text((x, pad + row * line_height_px(font)), shown, font=font, fill=foreground)
    return np.asarray(image, dtype=np.uint8).copy()


@functools.lru_cache(maxsize=8)
def _colormap_table(colormap: str) -> np.ndarray:
    """256 × 3 uint8 colours of a matplotlib colormap (made once per process: matplotlib
    takes longer to resample a colormap than :func:`colorize` takes to apply it to a tile)."""
    import matplotlib

    lookup = matplotlib.colormaps[colormap].resampled(256)(np.linspace(0.0, 1.0, 256))[:, :3]
    table = np.round(lookup * 255.0).astype(np.uint8)
    table.flags.writeable = False
    return table


def colorize(unit: np.ndarray, colormap: str) -> np.ndarray:
    """H×W values in [0, 1] (clipped) → H×W×3 uint8 colours of a matplotlib colormap."""
    index = np.round(np.clip(np.nan_to_num(unit, nan=0.0), 0.0, 1.0) * 255.0).astype(np.intp)
    return _colormap_table(colormap)[index]


def format_number(value: float) -> str:
    """Three significant digits, no exponent between 0.001 and 99 999 (``0.5``, ``12.3``, ``1.5e+06``)."""
    value = float(value)
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return f"{value:.2e}"


def colorbar(
    height_px: int,
    *,
    width_px: int,
    vmax: float,
    colormap: str,
    font,
    bar_width_px: int | None = None,
    ticks: int = 3,
    vmin: float = 0.0,
    background: tuple[int, int, int] = WHITE,
) -> np.ndarray:
    """A vertical colour bar with tick labels: ``height_px × width_px × 3`` uint8.

    The bar runs from ``vmin`` (bottom) to ``vmax`` (top) with ``ticks`` evenly spaced
    labels; the top label reads ``≥ vmax`` because heat above the scale is drawn in the
    top colour.

    Args:
        height_px: total height; the bar is inset by half a line so labels fit.
        width_px: total width (bar + tick labels).
        vmax, vmin: values at the top and bottom of the bar (``vmax > vmin``).
        bar_width_px: width of the coloured bar; None = a third of ``width_px``.
        ticks: number of labels (≥ 2).
    """
    from PIL import Image, ImageDraw

    if not (np.isfinite(vmax) and np.isfinite(vmin) and vmax > vmin):
        raise ValueError(f"a colour bar needs finite vmin < vmax, got {vmin!r}, {vmax!r}")
    if ticks < 2:
        raise ValueError(f"a colour bar needs ≥ 2 ticks, got {ticks}")
    bar_width = int(bar_width_px if bar_width_px is not None else max(4, width_px // 3))
    inset = int(math.ceil(font.size * 0.6))
    bar_height = height_px - 2 * inset
    if bar_height < 2 or bar_width + 4 > width_px:
        raise ValueError(f"a {width_px}×{height_px} px colour bar is too small for a {font.size} px font")
    image = Image.new("RGB", (int(width_px), int(height_px)), background)
    gradient = colorize(np.linspace(1.0, 0.0, bar_height)[:, None].repeat(bar_width, axis=1), colormap)
    image.paste(Image.fromarray(gradient), (2, inset))
    draw = ImageDraw.Draw(image)
    label_x = 2 + bar_width + 4
    for tick in range(ticks):
        fraction = tick / (ticks - 1)
        y = inset + (bar_height - 1) * (1.0 - fraction)
        value = vmin + fraction * (vmax - vmin)
        label = ("≥" if tick == ticks - 1 else "") + format_number(value)
        draw.line([(2 + bar_width, y), (label_x - 1, y)], fill=BLACK)
        shown = fit_text(label, font, width_px - label_x)
        draw.text((label_x, y), shown, font=font, fill=BLACK, anchor="lm")
    return np.asarray(image, dtype=np.uint8).copy()


def mask_outline(mask: np.ndarray, *, thickness_px: int) -> np.ndarray:
    """The inner boundary of a boolean mask: mask pixels within ``thickness_px`` (chessboard
    distance) of a pixel outside it or of the image border. Returns bool H×W (all False
    for an empty mask)."""
    if thickness_px < 1:
        raise ValueError(f"outline thickness must be ≥ 1 pixel, got {thickness_px}")
    mask = np.asarray(mask, dtype=bool)
    padded = np.pad(mask.astype(np.uint8), thickness_px, constant_values=0)
    kernel = np.ones((2 * thickness_px + 1, 2 * thickness_px + 1), np.uint8)
    inner = cv2.erode(padded, kernel)[thickness_px:-thickness_px, thickness_px:-thickness_px].astype(bool)
    return mask & ~inner


def pad_to_height(image: np.ndarray, height_px: int, background: tuple[int, int, int] = WHITE) -> np.ndarray:
    """``image`` (h×w×3 uint8) with background rows added below to reach ``height_px``."""
    missing = height_px - image.shape[0]
    if missing < 0:
        raise ValueError(f"image is {image.shape[0]} px high, more than {height_px}")
    if missing == 0:
        return image
    return np.vstack([image, np.full((missing, image.shape[1], 3), background, np.uint8)])


def gap(height_px: int, width_px: int, background: tuple[int, int, int] = WHITE) -> np.ndarray:
    """A ``height_px × width_px × 3`` block of background colour."""
    return np.full((int(height_px), int(width_px), 3), background, np.uint8)
