"""Acne-like lesions: only on the forehead, cheeks and chin, more with severity, and
coloured like inflamed papules and pustules."""

from __future__ import annotations

import numpy as np
import pytest

from facial_anomaly.synthesis import generate
from facial_anomaly.synthesis.acne import allowed_regions
from facial_anomaly.synthesis.anatomy import feature_masks
from facial_anomaly.synthesis.colour import to_lab

SEEDS = range(6)


@pytest.mark.parametrize("seed", SEEDS)
def test_lesions_stay_inside_the_allowed_regions(seed, face, synth_params):
    rgb, landmarks = face
    params = synth_params["acne"]
    result = generate("acne", rgb, landmarks, severity=4, rng=seed, params=params)
    allowed = np.logical_or.reduce(list(allowed_regions(landmarks, rgb.shape, params).values()))
    assert result.metadata["lesion_count"] > 0
    assert not (result.edited_mask & ~allowed).any()
    for feature, mask in feature_masks(landmarks, rgb.shape).items():
        assert not (result.edited_mask & mask).any(), f"a lesion touches the {feature}"
    assert {lesion["region"] for lesion in result.metadata["lesions"]} <= {
        "forehead",
        "cheek_left",
        "cheek_right",
        "chin",
    }


def test_allowed_regions_keep_clear_of_the_features(face, synth_params):
    rgb, landmarks = face
    regions = allowed_regions(landmarks, rgb.shape, synth_params["acne"])
    assert all(region.any() for region in regions.values())
    features = np.logical_or.reduce(list(feature_masks(landmarks, rgb.shape).values()))
    for name, region in regions.items():
        assert not (region & features).any(), name


def test_more_severe_means_more_and_larger_lesions(face, synth_params):
    rgb, landmarks = face
    params = synth_params["acne"]
    counts, areas = [], []
    for severity in (1, 2, 3, 4):
        results = [generate("acne", rgb, landmarks, severity=severity, rng=seed, params=params) for seed in SEEDS]
        counts.append(np.mean([result.metadata["lesion_count"] for result in results]))
        areas.append(np.mean([result.edited_mask.sum() for result in results]))
        for result in results:
            low, high = params["count"][severity - 1]
            assert result.metadata["lesion_count"] <= result.metadata["lesions_requested"] <= high
            assert result.metadata["lesions_requested"] >= low
    assert np.all(np.diff(counts) > 0), counts
    assert np.all(np.diff(areas) > 0), areas


def test_papules_look_inflamed_and_pustules_have_pale_heads(face, synth_params):
    rgb, landmarks = face
    result = generate("acne", rgb, landmarks, severity=4, rng=1, params=synth_params["acne"])
    before, after = to_lab(rgb), to_lab(result.image)
    kinds = {"papule": [], "pustule": []}
    for lesion in result.metadata["lesions"]:
        y, x = int(round(lesion["y"])), int(round(lesion["x"]))
        kinds[lesion["kind"]].append(after[y, x] - before[y, x])
    papules, pustules = np.array(kinds["papule"]), np.array(kinds["pustule"])
    assert len(papules) and len(pustules)
    # Papules: redder (a*) and darker (L*) at the centre.
    assert (papules[:, 1] > 2).all() and (papules[:, 0] < 0).all()
    # Pustules: a pale head, lighter and less red than a papule's centre.
    assert pustules[:, 0].mean() > papules[:, 0].mean() + 5
    assert pustules[:, 1].mean() < papules[:, 1].mean() - 3
