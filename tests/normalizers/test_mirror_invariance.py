"""A photo and its mirror image get the same scores, through the whole chain:
decode → detect → landmarks → align → normalize → heatmap → region → score."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facial_anomaly.faces import locate_face, render_aligned_face
from facial_anomaly.normalizers import build_normalizer
from facial_anomaly.scoring import score_variants

GRID = {
    "kinds": ["pse", "ssim"],
    "color_spaces": ["rgb", "ycbcr"],
    "erosion": [False, True],
    "regions": ["mouth_nose", "face_without_eyes"],
    "lcn": [False, True],
}
SETTINGS = {
    "erosion_size": 3,
    "erosion_iterations": 1,
    "channel_reduction": "sum",
    "kind_options": {"ssim": {"win_size": 7}},
    "region_params": {"mouth_nose": {"margin_iod": 0.15}, "face_without_eyes": {"eye_margin_iod": 0.15}},
}
TOLERANCE = 0.02  # the bound: a face and its mirror image score within 2 %


def _png(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return encoded.tobytes()


@pytest.fixture(scope="module")
def aligned_pair(astronaut_rgb, preprocess_config) -> dict:
    """The astronaut photo and its mirror image, each preprocessed from its own bytes."""
    pair = {}
    for name, photo in (("photo", astronaut_rgb), ("mirrored", np.ascontiguousarray(astronaut_rgb[:, ::-1]))):
        geometry, rgb = locate_face(_png(photo), preprocess_config)
        assert geometry.ok, geometry.detail
        crop, _ = render_aligned_face(rgb, geometry, preprocess_config)
        pair[name] = (crop, geometry.aligned_landmarks())
    return pair


@pytest.mark.parametrize("name", ["symmetry", "mirror", "shape_model"])
def test_a_photo_and_its_mirror_image_score_the_same(name, aligned_pair, normalizer_params, shape_model):
    # The test shape model is fitted on variants of the astronaut herself, which with the
    # default observed_weight it explains almost entirely (scores ~1e-4, where a relative
    # difference means nothing); observed_weight 0 warps her to the pure model shape, so
    # the normalizer does real work (scores of the symmetry normalizer's order).
    params = {**normalizer_params, "shape_model": {**normalizer_params["shape_model"], "observed_weight": 0.0}}
    normalizer = build_normalizer(name, params, shape_model=shape_model)
    scores = {}
    for side, (crop, landmarks) in aligned_pair.items():
        normalized = normalizer.normalize(crop, landmarks).image
        scores[side] = score_variants(crop, normalized, landmarks, grid=GRID, statistic="anomaly_score", **SETTINGS)
    assert len(scores["photo"]) == 32
    worst = max(
        abs(scores["photo"][v] - scores["mirrored"][v]) / max(scores["photo"][v], scores["mirrored"][v])
        for v in scores["photo"]
    )
    assert worst < TOLERANCE, {v: (scores["photo"][v], scores["mirrored"][v]) for v in scores["photo"]}
    assert min(scores["photo"].values()) > 1e-3
