"""Contact sheets: faces × families × severities in one uint8 image, for looking at the edits."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .registry import families as all_families
from .registry import generate

_BACKGROUND = 255
_TEXT_COLOUR = (20, 20, 20)
_EDIT_OUTLINE_COLOUR = (0, 200, 255)


def _label_strip(text: str, width: int, height: int) -> np.ndarray:
    strip = np.full((height, width, 3), _BACKGROUND, dtype=np.uint8)
    scale = height / 40.0
    (text_width, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x = max(2, (width - text_width) // 2)
    cv2.putText(strip, text, (x, int(height * 0.7)), cv2.FONT_HERSHEY_SIMPLEX, scale, _TEXT_COLOUR, 1, cv2.LINE_AA)
    return strip


def grid_image(
    tiles: Sequence[Sequence[np.ndarray]],
    *,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    tile_px: int,
    gap_px: int = 2,
) -> np.ndarray:
    """Tiles (rows × columns of RGB uint8 images of one shape, resized to ``tile_px`` wide)
    in a grid with a label above every column and at the top of every row (uint8 RGB)."""
    label_px = max(14, tile_px // 10)
    first = tiles[0][0]
    tile_height = int(round(tile_px * first.shape[0] / first.shape[1]))
    rows = []
    header = [_label_strip(label, tile_px, label_px) for label in column_labels]
    rows.append(
        np.hstack([np.full((label_px, gap_px, 3), _BACKGROUND, np.uint8)] + _interleave(header, label_px, gap_px))
    )
    for label, row in zip(row_labels, tiles):
        resized = [cv2.resize(tile, (tile_px, tile_height), interpolation=cv2.INTER_AREA) for tile in row]
        body = np.hstack(
            [np.full((tile_height, gap_px, 3), _BACKGROUND, np.uint8)] + _interleave(resized, tile_height, gap_px)
        )
        name = _label_strip(label, body.shape[1], label_px)
        rows.extend([name, body, np.full((gap_px, body.shape[1], 3), _BACKGROUND, np.uint8)])
    width = max(row.shape[1] for row in rows)
    return np.vstack(
        [np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=_BACKGROUND) for row in rows]
    )


def _interleave(images: list[np.ndarray], height: int, gap_px: int) -> list[np.ndarray]:
    spacer = np.full((height, gap_px, 3), _BACKGROUND, np.uint8)
    return [part for image in images for part in (image, spacer)]


def synthetic_contact_sheet(
    faces: Sequence[tuple[str, np.ndarray, np.ndarray]],
    params: dict,
    *,
    families: Sequence[str] | None = None,
    severities: Sequence[int],
    side: str | None,
    seed: int,
    tile_px: int,
    crop: Sequence[float] | None = None,
    outline_edits: bool = False,
) -> np.ndarray:
    """A grid with one row per face and family and one column per severity.

    Args:
        faces: ``(name, aligned RGB uint8, landmarks (478, 3))`` triples.
        params: the ``synthesize`` block of ``parameters_synthesize.yml`` (a family's
            block is ``params[family]``; ``lip_lt_v2`` needs ``templates`` added to it).
        families: which families (default: all of :func:`~.registry.families`).
        severities: the columns.
        side: the image side of one-sided anomalies (None: drawn per face and family).
        seed: every (face, family) row gets its own generator from this seed, the same
            for every severity, so a row shows one anomaly growing.
        tile_px: width of each tile.
        crop: ``(x0, y0, x1, y1)`` fractions of the face image to show (a close-up), or
            None for the whole image (see ``contact_sheet.crops`` in the parameters).
        outline_edits: draw the outline of each edited mask (for checking the region).

    Returns:
        H×W×3 uint8 RGB image.
    """
    families = list(all_families() if families is None else families)
    tiles, labels = [], []
    for face_index, (name, face, landmarks) in enumerate(faces):
        for family_index, family in enumerate(families):
            row = []
            for severity in severities:
                rng = np.random.default_rng([seed, face_index, family_index])
                result = generate(family, face, landmarks, severity=severity, side=side, rng=rng, params=params[family])
                image = result.image
                if outline_edits and result.edited_mask.any():
                    image = image.copy()
                    contours, _ = cv2.findContours(
                        result.edited_mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
                    )
                    cv2.drawContours(image, contours, -1, _EDIT_OUTLINE_COLOUR, 1)
                if crop is not None:
                    height, width = image.shape[:2]
                    x0, y0, x1, y1 = crop
                    image = image[int(y0 * height) : int(y1 * height), int(x0 * width) : int(x1 * width)]
                row.append(image)
            tiles.append(row)
            labels.append(f"{name} | {family} | side {result.metadata['side']}")
    return grid_image(tiles, row_labels=labels, column_labels=[f"severity {s}" for s in severities], tile_px=tile_px)
