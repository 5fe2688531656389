"""Contact sheets: a uint8 grid of faces × families × severities."""

from __future__ import annotations

import numpy as np

from facial_anomaly.synthesis.contact_sheet import grid_image, synthetic_contact_sheet


def test_grid_image_lays_out_labelled_tiles():
    tiles = [[np.full((40, 20, 3), value, np.uint8) for value in (0, 100, 200)] for _ in range(2)]
    sheet = grid_image(tiles, row_labels=["a", "b"], column_labels=["x", "y", "z"], tile_px=30, gap_px=2)
    label_px, tile_height = 14, 60
    assert sheet.dtype == np.uint8
    assert sheet.shape == (label_px + 2 * (label_px + tile_height + 2), 2 + 3 * (30 + 2), 3)


def test_synthetic_contact_sheet(face, family_params):
    rgb, landmarks = face
    sheet = synthetic_contact_sheet(
        [("astronaut", rgb, landmarks)],
        family_params,
        families=["lip_lt_v1", "acne"],
        severities=(0, 2),
        side="left",
        seed=0,
        tile_px=64,
        crop=(0.25, 0.5, 0.75, 0.9),
    )
    assert sheet.dtype == np.uint8 and sheet.ndim == 3
    assert sheet.shape[1] == 2 + 2 * (64 + 2)
    # Row "astronaut | lip_lt_v1 ..." then "astronaut | acne ...": two tile rows.
    assert sheet.shape[0] == 14 + 2 * (14 + round(64 * 0.8) + 2)
