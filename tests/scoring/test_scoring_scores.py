import math

import cv2
import numpy as np
import pytest

from facial_anomaly.heatmaps import channel_map, erode, reduce_channels, region_mask
from facial_anomaly.heatmaps import maps as maps_module
from facial_anomaly.heatmaps.compare import PixelComparison
from facial_anomaly.scoring import (
    Variant,
    anomaly_score,
    normality_index,
    parse_variant_name,
    score_variants,
    variant_grid,
)

REGION_PARAMS = {"mouth_nose": {"margin_iod": 0.15}, "face_without_eyes": {"eye_margin_iod": 0.15}, "full_face": {}}
KIND_OPTIONS = {
    "ssim": {"win_size": 7},
    "lpips": {"net": "alex", "device": "cpu", "pretrained_backbone": False},
    "deep": {"backbone": {"crop": "full_face", "input_size": 128, "device": "cpu"}},
}
HEATMAP_SETTINGS = dict(erosion_size=3, erosion_iterations=1, channel_reduction="sum", kind_options=KIND_OPTIONS)
LOCAL_GRID = {
    "kinds": ["pse", "ssim"],
    "color_spaces": ["rgb", "ycbcr"],
    "erosion": [False, True],
    "regions": ["mouth_nose", "face_without_eyes"],
}


def _with_defect(face, landmarks, radius):
    """The face with a reddish disk painted at the mouth centre (a stand-in for a lesion)."""
    painted = face.copy()
    centre = tuple(int(v) for v in np.round(landmarks[[13, 14], :2].mean(axis=0)))
    cv2.circle(painted, centre, radius, (190, 60, 70), thickness=-1)
    return painted


# --------------------------------------------------------------------------- statistics


def test_normality_index_exact_value():
    values = np.zeros((2, 2, 2), np.float32)
    values[0, 0] = [3.0, 0.0]
    values[1, 1] = [0.0, 4.0]
    mask = np.ones((2, 2), bool)
    # ‖PSE‖_F = sqrt(3² + 4²) = 5 over N = 4 pixels (not pixels × channels).
    assert normality_index(values, mask) == pytest.approx(-math.log(5 / 4))
    only_first = np.array([[True, False], [False, False]])
    assert normality_index(values, only_first) == pytest.approx(-math.log(3 / 1))


def test_anomaly_score_is_the_mean_heat_in_the_mask():
    heat = np.array([[1.0, 2.0], [3.0, 10.0]], np.float32)
    assert anomaly_score(heat, np.array([[True, True], [True, False]])) == pytest.approx(2.0)


def test_identical_images_give_infinite_normality_and_zero_anomaly():
    zeros = np.zeros((4, 4, 3), np.float32)
    mask = np.ones((4, 4), bool)
    assert normality_index(zeros, mask) == math.inf
    assert anomaly_score(zeros[..., 0], mask) == 0.0


@pytest.mark.parametrize("score", [normality_index, anomaly_score])
def test_bad_inputs_are_rejected_not_nan(score):
    heat = np.ones((3, 3), np.float32)
    with pytest.raises(ValueError, match="empty"):
        score(heat, np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match="differ in size"):
        score(heat, np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="bool"):
        score(heat, np.ones((3, 3), np.uint8))
    nan = heat.copy()
    nan[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        score(nan, np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="≥ 0"):
        score(-heat, np.ones((3, 3), bool))


# --------------------------------------------------------------------------- variants


def test_table_1_grid_names():
    table_1 = {**LOCAL_GRID, "kinds": ["pse", "ssim", "lpips"]}
    names = [variant.name for variant in variant_grid(table_1)]
    assert len(names) == len(set(names)) == 24
    assert names[:4] == [
        "pse_base__mouth_nose",
        "pse_base__face_without_eyes",
        "pse_eroded__mouth_nose",
        "pse_eroded__face_without_eyes",
    ]
    assert "pse_ycbcr_eroded__mouth_nose" in names and "lpips_ycbcr__face_without_eyes" in names
    for name in names:
        assert parse_variant_name(name).name == name
    assert parse_variant_name("pse_ycbcr_eroded__mouth_nose") == Variant("pse", "ycbcr", True, "mouth_nose")


@pytest.mark.parametrize(
    "name",
    ["pse_rgb__mouth_nose", "pse__mouth_nose", "pse_base_mouth_nose", "mse_base__mouth_nose", "pse_base__cheeks"],
)
def test_malformed_variant_names_are_rejected(name):
    with pytest.raises(ValueError):
        parse_variant_name(name)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"kinds": ["mse"]}, "heatmap kind"),
        ({"regions": ["cheeks"]}, "region"),
        ({"erosion": ["yes"]}, "true/false"),
        ({"color_spaces": ["lab"]}, "colour space"),
    ],
)
def test_bad_grids_are_rejected(change, message):
    with pytest.raises(ValueError, match=message):
        variant_grid({**LOCAL_GRID, **change})
    with pytest.raises(ValueError, match="lacks"):
        variant_grid({key: value for key, value in LOCAL_GRID.items() if key != "regions"})


@pytest.mark.parametrize("statistic", ["anomaly_score", "normality_index"])
def test_scores_follow_the_size_of_a_painted_defect(astronaut_aligned, statistic):
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    by_radius = [
        score_variants(
            face,
            _with_defect(face, landmarks, radius),
            landmarks,
            grid=LOCAL_GRID,
            statistic=statistic,
            region_params=REGION_PARAMS,
            **HEATMAP_SETTINGS,
        )
        for radius in (4, 8, 14, 22)
    ]
    for name in by_radius[0]:
        series = np.array([scores[name] for scores in by_radius])
        assert np.isfinite(series).all(), name
        # anomaly_score grows with the defect; the normality index S falls.
        steps = np.diff(series) if statistic == "anomaly_score" else -np.diff(series)
        assert (steps > 0).all(), (name, series)


def test_identical_images_score_inf_and_zero_for_every_variant(astronaut_aligned):
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    common = dict(grid=LOCAL_GRID, region_params=REGION_PARAMS, **HEATMAP_SETTINGS)
    anomaly = score_variants(face, face, landmarks, statistic="anomaly_score", **common)
    normality = score_variants(face, face, landmarks, statistic="normality_index", **common)
    # SSIM of an image with itself is 1 up to float32 rounding.
    assert all(value == 0.0 if name.startswith("pse") else value < 1e-6 for name, value in anomaly.items())
    assert all(value == math.inf for name, value in normality.items() if name.startswith("pse"))
    assert not any(math.isnan(value) for value in [*anomaly.values(), *normality.values()])


def test_grid_scores_equal_full_frame_maps(astronaut_aligned):
    """The grid computes maps on a crop around the regions; the scores must not change."""
    maps_module._build_lpips.cache_clear()
    # Quarter size keeps the CPU LPIPS runs short.
    face = cv2.resize(astronaut_aligned["rgb"], (128, 128), interpolation=cv2.INTER_AREA)
    landmarks = astronaut_aligned["landmarks"] * 0.25
    painted = _with_defect(face, landmarks, 4)
    noise = np.random.default_rng(3).integers(-6, 7, face.shape)
    painted = np.clip(painted.astype(int) + noise, 0, 255).astype(np.uint8)
    grid = {**LOCAL_GRID, "kinds": ["pse", "ssim", "lpips"], "regions": ["mouth_nose", "full_face"]}
    # Images compared as they are (heatmaps.compare is tested on its own).
    common = dict(grid=grid, region_params=REGION_PARAMS, comparison=PixelComparison.plain(), **HEATMAP_SETTINGS)
    anomaly = score_variants(face, painted, landmarks, statistic="anomaly_score", **common)
    normality = score_variants(face, painted, landmarks, statistic="normality_index", **common)
    full_frame = {
        (kind, space): channel_map(face, painted, kind=kind, color_space=space, kind_options=KIND_OPTIONS)
        for kind in grid["kinds"]
        for space in grid["color_spaces"]
    }
    for variant in variant_grid(grid):
        mask = region_mask(landmarks, face.shape, variant.region, **REGION_PARAMS[variant.region])
        iterations = HEATMAP_SETTINGS["erosion_iterations"] if variant.eroded else 0
        per_channel = erode(full_frame[variant.kind, variant.color_space], size=3, iterations=iterations)
        assert normality[variant.name] == pytest.approx(normality_index(per_channel, mask), rel=1e-5)
        heat = reduce_channels(per_channel, reduction="sum")
        assert anomaly[variant.name] == pytest.approx(anomaly_score(heat, mask), rel=1e-5)
    maps_module._build_lpips.cache_clear()


def test_score_variants_rejects_bad_inputs(astronaut_aligned):
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    common = dict(grid=LOCAL_GRID, region_params=REGION_PARAMS, **HEATMAP_SETTINGS)
    with pytest.raises(ValueError, match="statistic"):
        score_variants(face, face, landmarks, statistic="median", **common)
    with pytest.raises(ValueError, match="differ in shape"):
        score_variants(face, face[:-1], landmarks, statistic="anomaly_score", **common)


def test_precomputed_region_masks_and_indices_give_the_same_scores(astronaut_aligned):
    from facial_anomaly.scoring.scores import grid_region_masks

    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    normalized = face.copy()
    normalized[300:360, 200:300] = np.clip(normalized[300:360, 200:300].astype(int) + 25, 0, 255).astype(np.uint8)
    grid = {"kinds": ["pse", "ssim"], "color_spaces": ["rgb", "ycbcr"], "erosion": [False, True],
            "regions": ["mouth_nose", "face_without_eyes"]}  # fmt: skip
    options = {"erosion_size": 3, "erosion_iterations": 1, "channel_reduction": "sum",
               "kind_options": {"ssim": {"win_size": 7}}, "region_params": {"mouth_nose": {"margin_iod": 0.15},
               "face_without_eyes": {"eye_margin_iod": 0.15}}}  # fmt: skip
    masks = grid_region_masks(landmarks, face.shape, grid["regions"], options["region_params"])
    for statistic in ("anomaly_score", "normality_index"):
        plain = score_variants(face, normalized, landmarks, grid=grid, statistic=statistic, **options)
        shared = score_variants(face, normalized, landmarks, grid=grid, statistic=statistic, region_masks=masks,
                                **options)  # fmt: skip
        assert plain == shared
    heat = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    mask = np.zeros((64, 64), bool)
    mask[10:50, 5:40] = True
    assert normality_index(heat, mask, index=np.flatnonzero(mask)) == normality_index(heat, mask)
    assert anomaly_score(heat[..., 0], mask, index=np.flatnonzero(mask)) == anomaly_score(heat[..., 0], mask)
    with pytest.raises(ValueError, match="empty"):
        anomaly_score(heat[..., 0], np.zeros((64, 64), bool), index=np.array([], np.intp))


def test_both_statistics_share_one_pass_of_maps_and_score_the_same(astronaut_aligned, monkeypatch):
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    normalized = face.copy()
    normalized[300:360, 200:300] = np.clip(normalized[300:360, 200:300].astype(int) + 25, 0, 255).astype(np.uint8)
    grid = {"kinds": ["pse", "ssim"], "color_spaces": ["ycbcr"], "erosion": [True], "lcn": [False, True],
            "regions": ["mouth_nose", "lower_face"], "summaries": ["mean", "topk"]}  # fmt: skip
    pse = {**grid, "kinds": ["pse"], "summaries": ["mean"]}
    options = {**HEATMAP_SETTINGS, "region_params": {**REGION_PARAMS, "lower_face": {"below_eyes_iod": 0.3}}}
    alone = [score_variants(face, normalized, landmarks, grid=grid, statistic="anomaly_score", **options),
             score_variants(face, normalized, landmarks, grid=pse, statistic="normality_index", **options)]  # fmt: skip
    calls = []
    original = maps_module.channel_map_converted
    monkeypatch.setattr("facial_anomaly.scoring.scores.channel_map_converted",
                        lambda *a, **k: calls.append(k["kind"]) or original(*a, **k))  # fmt: skip
    kept = {}
    together = [score_variants(face, normalized, landmarks, grid=grid, statistic="anomaly_score", shared_maps=kept,
                               **options),
                score_variants(face, normalized, landmarks, grid=pse, statistic="normality_index", shared_maps=kept,
                               **options)]  # fmt: skip
    assert together == alone
    assert sorted(calls) == ["pse", "pse", "ssim", "ssim"]  # each map once (with and without LCN), none again
    # Another pair never reuses them.
    other = score_variants(face, face, landmarks, grid=pse, statistic="normality_index", shared_maps=kept, **options)
    assert all(value == math.inf for value in other.values())
