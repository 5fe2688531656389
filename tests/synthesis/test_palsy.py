"""Facial-palsy-like droop: the mouth corner drop FaceMesh measures, severity order,
and the flattening of the nasolabial crease."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facial_anomaly.faces import detect_landmarks
from facial_anomaly.synthesis import generate
from facial_anomaly.synthesis.base import inter_ocular_distance
from facial_anomaly.synthesis.colour import to_lab
from facial_anomaly.synthesis.palsy import nasolabial_weight

CORNER = {"left": 61, "right": 291}  # oral commissures (FaceMesh topology)


@pytest.mark.parametrize("side", ["left", "right"])
def test_facemesh_measures_the_requested_corner_drop(side, face, synth_params, preprocess_config):
    """FaceMesh run again on the output finds the mouth corner lowered by the requested
    drop, within 10%."""
    rgb, landmarks = face
    config = preprocess_config["landmarks"]
    iod = inter_ocular_distance(landmarks)
    before = detect_landmarks(rgb, None, config)
    result = generate("palsy", rgb, landmarks, severity=4, side=side, rng=0, params=synth_params["palsy"])
    after = detect_landmarks(result.image, None, config)
    requested = result.metadata["requested_moves_iod"][str(CORNER[side])][1]
    assert requested == pytest.approx(synth_params["palsy"]["corner_drop_iod"][3])
    measured = (after[CORNER[side], 1] - before[CORNER[side], 1]) / iod
    assert measured == pytest.approx(requested, rel=0.1)


@pytest.mark.parametrize("side", ["left", "right"])
def test_severity_orders_the_droop_and_the_other_corner_stays(side, face, synth_params, preprocess_config):
    rgb, landmarks = face
    config = preprocess_config["landmarks"]
    iod = inter_ocular_distance(landmarks)
    other = CORNER["right" if side == "left" else "left"]
    before = detect_landmarks(rgb, None, config)
    drops = []
    for severity in (1, 2, 3, 4):
        result = generate("palsy", rgb, landmarks, severity=severity, side=side, rng=0, params=synth_params["palsy"])
        requested, applied = (
            np.array(result.metadata[key][str(CORNER[side])]) for key in ("requested_moves_iod", "moves_iod")
        )
        assert np.linalg.norm(applied - requested) <= 0.1 * np.linalg.norm(requested)
        np.testing.assert_array_equal(result.landmarks[other], landmarks[other])
        drops.append(detect_landmarks(result.image, None, config)[CORNER[side], 1] - before[CORNER[side], 1])
    assert drops[0] > 0.01 * iod
    assert np.all(np.diff(drops) > 0), drops


def test_nasolabial_crease_is_flattened(face, synth_params):
    """With the droop switched off only the shading changes: the crease's mid-scale
    lightness (the band the flattening removes) shrinks by about the requested share,
    and nothing changes outside the crease band."""
    rgb, landmarks = face
    params = {**synth_params["palsy"], "corner_drop_iod": [0.0] * 4, "corner_medial_iod": [0.0] * 4}
    iod = inter_ocular_distance(landmarks)
    result = generate("palsy", rgb, landmarks, severity=4, side="left", rng=0, params=params)
    weight = nasolabial_weight(
        landmarks,
        "left",
        rgb.shape,
        halfwidth_px=params["fold_halfwidth_iod"] * iod,
        feather_px=params["fold_feather_iod"] * iod,
    )
    np.testing.assert_array_equal(result.edited_mask, weight > 0)
    fine, coarse = (sigma * iod for sigma in params["band_sigma_iod"])

    def crease_shading(image):
        lightness = to_lab(image)[..., 0]
        return cv2.GaussianBlur(lightness, (0, 0), fine) - cv2.GaussianBlur(lightness, (0, 0), coarse)

    core = weight > 0.9
    before = np.abs(crease_shading(rgb)[core]).mean()
    after = np.abs(crease_shading(result.image)[core]).mean()
    assert after < (1 - 0.6 * params["nasolabial_flattening"][3]) * before
