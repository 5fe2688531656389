import cv2
import numpy as np
import pytest

from facial_anomaly.heatmaps import heatmap, region_mask
from facial_anomaly.provenance import ModelMismatch
from facial_anomaly.scoring import (
    NormalVariation,
    NormalVariationConfig,
    Variant,
    parse_variant_name,
    region_summary,
    score_variants,
    top_k_mean,
    variant_grid,
    variant_maps,
)
from facial_anomaly.scoring.model_files import save_model_file

REGIONS = {"mouth_nose": {"margin_iod": 0.15}, "face_without_eyes": {"eye_margin_iod": 0.15}, "full_face": {}}
SETTINGS = dict(erosion_size=3, erosion_iterations=1, channel_reduction="sum", kind_options={"ssim": {"win_size": 7}})
GRID = {"kinds": ["pse", "ssim"], "color_spaces": ["ycbcr"], "erosion": [True], "regions": ["mouth_nose"]}


def _constant_maps(values, size=64):
    return [{"pse_base": np.full((size, size), value, np.float32)} for value in values]


def test_top_k_mean_and_summaries():
    assert top_k_mean(np.arange(1, 11), fraction=0.2) == pytest.approx(9.5)
    assert top_k_mean(np.arange(1, 11), fraction=0.05) == 10.0  # at least one value
    assert top_k_mean(np.arange(1, 11), fraction=1.0) == pytest.approx(5.5)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        top_k_mean([1.0], fraction=0.0)
    heat = np.array([[1.0, 5.0], [3.0, 7.0]], np.float32)
    mask = np.array([[True, True], [True, False]])
    assert region_summary(heat, mask, summary="mean", top_k_fraction=0.3) == pytest.approx(3.0)
    assert region_summary(heat, mask, summary="topk", top_k_fraction=0.3) == pytest.approx(5.0)
    z = heat - 4.0
    assert region_summary(z, mask, summary="zmean", top_k_fraction=0.3) == pytest.approx(-1.0)
    assert region_summary(z, mask, summary="ztopk", top_k_fraction=0.5) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="≥ 0"):
        region_summary(z, mask, summary="topk", top_k_fraction=0.3)


def test_variant_names_with_summaries():
    variant = parse_variant_name("pse_ycbcr_eroded__mouth_nose__ztopk")
    assert variant == Variant("pse", "ycbcr", True, "mouth_nose", summary="ztopk")
    assert variant.map_name == "pse_ycbcr_eroded" and variant.name == "pse_ycbcr_eroded__mouth_nose__ztopk"
    assert parse_variant_name("deep_base__full_face").summary == "mean"
    with pytest.raises(ValueError, match="not canonical"):
        parse_variant_name("pse_base__mouth_nose__mean")
    with pytest.raises(ValueError, match="summary"):
        parse_variant_name("pse_base__mouth_nose__max")
    names = [v.name for v in variant_grid({**GRID, "summaries": ["mean", "zmean"]})]
    assert names == [
        "pse_ycbcr_eroded__mouth_nose",
        "pse_ycbcr_eroded__mouth_nose__zmean",
        "ssim_ycbcr_eroded__mouth_nose",
        "ssim_ycbcr_eroded__mouth_nose__zmean",
    ]


def test_median_mad_and_mean_std_per_cell():
    robust = NormalVariation.fit([("symmetry", m) for m in _constant_maps([0, 1, 2, 3, 4])])
    centre, spread = robust.for_normalizer("symmetry").stats["pse_base"]
    assert centre.shape == (64, 64)
    np.testing.assert_allclose(centre, 2.0)
    np.testing.assert_allclose(spread, 1.4826, rtol=1e-5)  # MAD of 0..4 is 1
    plain = NormalVariation.fit(
        [("symmetry", m) for m in _constant_maps([0, 1, 2, 3, 4])],
        NormalVariationConfig(statistic="mean_std", mirror_augment=False),
    )
    _, spread = plain.for_normalizer("symmetry").stats["pse_base"]
    np.testing.assert_allclose(spread, np.std([0, 1, 2, 3, 4], ddof=1), rtol=1e-5)


def test_zscore_floor_and_mirror_symmetry():
    rng = np.random.default_rng(0)
    maps = []
    for _ in range(20):
        heat = rng.gamma(2.0, 1.0, (64, 64)).astype(np.float32)
        heat[:, :8] = heat[:, -8:] = 1.0  # cells that never vary → their spread is floored
        heat[:32, 40:48] += 10.0  # a place that is hot on every normal face (one side only)
        maps.append({"pse_base": heat})
    model = NormalVariation.fit([("symmetry", m) for m in maps], NormalVariationConfig(grid_size=8))
    maps_ = model.for_normalizer("symmetry")
    centre, spread = maps_.stats["pse_base"]
    np.testing.assert_allclose(centre, centre[:, ::-1])  # mirror-augmented
    positive = spread[:, 1:-1]
    assert spread[:, 0].min() == pytest.approx(0.1 * np.median(positive), rel=1e-5)
    face = maps[0]["pse_base"].copy()
    z = maps_.zscore("pse_base", face)
    assert z.shape == (64, 64) and z.dtype == np.float32
    face[16:24, 16:24] += 5.0  # one cell hotter than normal
    z_hot = maps_.zscore("pse_base", face)
    delta = np.zeros((8, 8), np.float32)
    delta[2, 2] = 5.0 / spread[2, 2]  # in that cell's normal spreads, then resized like the z map
    np.testing.assert_allclose(z_hot - z, cv2.resize(delta, (64, 64), interpolation=cv2.INTER_LINEAR), atol=1e-5)
    with pytest.raises(KeyError, match="pse_base"):
        maps_.zscore("ssim_base", face)
    with pytest.raises(ValueError, match="fitted on 64×64"):
        maps_.zscore("pse_base", face[:32])
    with pytest.raises(ValueError, match="cell boundaries"):
        maps_.zscore("pse_base", face[3:35, :], (slice(3, 35), slice(0, 64)))


def test_save_load_round_trip_and_provenance(tmp_path):
    model = NormalVariation.fit([("symmetry", m) for m in _constant_maps([0, 1, 5])], training_data="abc")
    path = model.save(tmp_path / "nv.npz")
    loaded = NormalVariation.load(path)
    for a, b in zip(
        model.for_normalizer("symmetry").stats["pse_base"], loaded.for_normalizer("symmetry").stats["pse_base"]
    ):
        np.testing.assert_array_equal(a, b)
    assert loaded.provenance["kind"] == "normal_variation" and loaded.provenance["training_data"] == "abc"
    assert loaded.config == model.config
    with pytest.raises(KeyError, match="'mirror'.*'symmetry'"):
        loaded.for_normalizer("mirror")
    wrong = {**model.provenance, "kind": "padim"}
    save_model_file(tmp_path / "wrong.npz", {}, {"config": {}, "frames": {}, "provenance": wrong})
    with pytest.raises(ModelMismatch, match=r"wrong\.npz: holds a 'padim' model"):
        NormalVariation.load(tmp_path / "wrong.npz")
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        NormalVariation.load(tmp_path / "missing.npz")


@pytest.fixture(scope="module")
def normal_set(astronaut_aligned):
    """Normal 'faces': the astronaut against normalized versions that differ by noise and
    by a dark mark on the philtrum (a place that differs on every normal face; on the
    midline, since the maps are mirror-symmetric)."""
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    corner = tuple(int(v) for v in landmarks[164, :2])
    pairs = []
    for seed in range(6):
        partner = face.copy()
        cv2.circle(partner, corner, 9, (60, 40, 40), thickness=-1)
        noise = np.random.default_rng(seed).normal(0, 3, face.shape)
        pairs.append(np.clip(partner + noise, 0, 255).astype(np.uint8))
    return face, landmarks, pairs


def test_zscored_grid_equals_the_full_frame_computation_and_discounts_normal_differences(normal_set):
    face, landmarks, pairs = normal_set
    model = NormalVariation.fit(
        [("symmetry", variant_maps(face, p, landmarks, grid=GRID, **SETTINGS)) for p in pairs[:5]]
    )
    nv = model.for_normalizer("symmetry")
    grid = {**GRID, "summaries": ["mean", "topk", "zmean", "ztopk"]}
    with pytest.raises(ValueError, match="normal_variation"):
        score_variants(
            face, pairs[5], landmarks, grid=grid, statistic="anomaly_score", region_params=REGIONS, **SETTINGS
        )

    def scores(partner):
        return score_variants(
            face,
            partner,
            landmarks,
            grid=grid,
            statistic="anomaly_score",
            region_params=REGIONS,
            normal_variation=nv,
            top_k_fraction=0.05,
            **SETTINGS,
        )

    control = scores(pairs[5])
    mask = region_mask(landmarks, face.shape, "mouth_nose", margin_iod=0.15)
    for kind in ("pse", "ssim"):
        full = heatmap(
            face,
            pairs[5],
            kind=kind,
            color_space="ycbcr",
            erosion_size=3,
            erosion_iterations=1,
            channel_reduction="sum",
            kind_options=SETTINGS["kind_options"],
        )
        z = nv.zscore(f"{kind}_ycbcr_eroded", full)
        for summary in ("zmean", "ztopk"):
            expected = region_summary(z, mask, summary=summary, top_k_fraction=0.05)
            assert control[f"{kind}_ycbcr_eroded__mouth_nose__{summary}"] == pytest.approx(expected, rel=1e-5, abs=1e-6)
        expected = region_summary(full, mask, summary="topk", top_k_fraction=0.05)
        assert control[f"{kind}_ycbcr_eroded__mouth_nose__topk"] == pytest.approx(expected, rel=1e-5)
    # A new, smaller mark at a mouth corner: the raw top-k is dominated by the mark every
    # normal face has; the z-scored top-k is not.
    lesion = pairs[5].copy()
    cv2.circle(lesion, tuple(int(v) for v in landmarks[61, :2]), 5, (60, 40, 40), thickness=-1)
    anomalous = scores(lesion)
    name = "pse_ycbcr_eroded__mouth_nose"
    raw_gain = anomalous[f"{name}__topk"] / control[f"{name}__topk"]
    z_gain = anomalous[f"{name}__ztopk"] - control[f"{name}__ztopk"]
    assert raw_gain < 1.3  # the shared mark already holds most of the top 5 %
    assert z_gain > 5.0  # the new mark is many normal spreads above normal
    assert abs(control[f"{name}__zmean"]) < 2.0  # a normal face is near 0 on average
