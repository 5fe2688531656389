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


def _place_one_attempt_at_a_time(regions, skin_like, iod, severity, rng, params):
    """The placement as first written: each attempt draws, then checks the spacing."""
    import cv2

    from facial_anomaly.synthesis.acne import _PLACEMENT_ATTEMPTS, LESION_KINDS, _reach_px, per_severity

    clearance = {
        name: cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        for name, region in regions.items()
    }
    low, high = per_severity(params["count"], severity, "count")
    requested = int(rng.integers(low, high + 1))
    radius_low, radius_high = per_severity(params["radius_iod"], severity, "radius_iod")
    pustule_fraction = per_severity(params["pustule_fraction"], severity, "pustule_fraction")
    names = sorted(regions)
    weights = np.array(
        [params["region_weights"][name.split("_")[0]] * (regions[name] & skin_like).sum() for name in names], float
    )
    skin_pixels = {name: np.argwhere((clearance[name] > 0) & skin_like) for name in names}
    skin_clearance = {name: clearance[name][tuple(skin_pixels[name].T)] for name in names}
    lesions, placed = [], np.zeros((0, 3))
    for _ in range(requested):
        radius = (radius_low + (radius_high - radius_low) * rng.random() ** params["radius_skew"]) * iod
        kind = LESION_KINDS[1] if rng.random() < pustule_fraction else LESION_KINDS[0]
        aspect = float(rng.uniform(*params["aspect"]))
        region = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        candidates = skin_pixels[region][skin_clearance[region] > _reach_px(radius, aspect, params["shape"])]
        if len(candidates) == 0:
            continue
        for _attempt in range(_PLACEMENT_ATTEMPTS):
            y, x = candidates[int(rng.integers(len(candidates)))]
            if np.all(np.hypot(x - placed[:, 0], y - placed[:, 1]) >= params["spacing"] * (radius + placed[:, 2])):
                placed = np.vstack([placed, [float(x), float(y), float(radius)]])
                intensity = float(rng.uniform(*params["intensity"]))
                angle = float(rng.uniform(0.0, np.pi))
                lesions.append((kind, region, float(x), float(y), float(radius), intensity, aspect, angle))
                break
    return lesions, requested


@pytest.mark.parametrize("spacing", [2.0, 12.0])  # 12: crowded, many lesions find no place
def test_lesions_are_placed_as_one_attempt_at_a_time_would_place_them(spacing, face, synth_params):
    """All attempts at a lesion are checked at once, yet the lesions and the generator's
    state afterwards are those of drawing and checking one attempt at a time."""
    from facial_anomaly.synthesis.acne import _place_lesions, _skin
    from facial_anomaly.synthesis.base import inter_ocular_distance

    rgb, landmarks = face
    params = {**synth_params["acne"], "spacing": spacing}
    regions, _, _, skin_like = _skin(rgb, landmarks, params)
    iod = inter_ocular_distance(landmarks)
    for seed in range(4):
        rng, reference_rng = np.random.default_rng(seed), np.random.default_rng(seed)
        lesions, requested = _place_lesions(regions, skin_like, iod, 4, rng, params)
        expected, expected_requested = _place_one_attempt_at_a_time(regions, skin_like, iod, 4, reference_rng, params)
        got = [
            tuple(lesion[k] for k in ("kind", "region", "x", "y", "radius_px", "intensity", "aspect", "angle"))
            for lesion in lesions
        ]
        assert requested == expected_requested and got == expected
        assert rng.random() == reference_rng.random()
        if spacing == 12.0:
            assert len(lesions) < requested
