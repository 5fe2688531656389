"""Local contrast normalisation: removes gain and smooth shading, keeps marks; its grid variants."""

from __future__ import annotations

import numpy as np
import pytest

from facial_anomaly.faces.landmarks import eye_centers
from facial_anomaly.heatmaps import LocalContrastConfig, heatmap, local_contrast_normalize, region_mask, to_color_space
from facial_anomaly.scoring import anomaly_score, parse_variant_name, score_variants, variant_grid

REGION_PARAMS = {"mouth_nose": {"margin_iod": 0.15}, "face_without_eyes": {"eye_margin_iod": 0.15}, "full_face": {}}
SETTINGS = {
    "erosion_size": 3,
    "erosion_iterations": 1,
    "channel_reduction": "sum",
    "kind_options": {"ssim": {"win_size": 7}},
}


def _eye_distance(landmarks: np.ndarray) -> float:
    left, right = eye_centers(landmarks)
    return float(np.hypot(*(right - left)))


def test_constant_channels_become_mid_range():
    image = np.full((40, 50, 3), 77.0, np.float32)
    out = local_contrast_normalize(
        to_color_space(image.astype(np.uint8), "ycbcr"), color_space="ycbcr", sigma_px=5, rms_floor=4
    )
    # Mid-range of Y [16, 235] and Cb, Cr [16, 240], up to the float rounding of the blur.
    np.testing.assert_allclose(out, np.broadcast_to(np.array([125.5, 128.0, 128.0], np.float32), out.shape), atol=1e-3)


def test_gain_is_removed_exactly_without_a_floor(astronaut_aligned):
    face = to_color_space(astronaut_aligned["rgb"], "rgb")
    plain = local_contrast_normalize(face, color_space="rgb", sigma_px=20, rms_floor=0.0)
    brighter = local_contrast_normalize(face * np.float32(1.2), color_space="rgb", sigma_px=20, rms_floor=0.0)
    np.testing.assert_allclose(brighter, plain, atol=0.01)  # float32 rounding, on the 0–255 scale


def test_one_local_rms_is_an_eighth_of_the_range():
    rng = np.random.default_rng(3)
    noise = rng.normal(128.0, 20.0, (200, 200, 3)).astype(np.float32)
    out = local_contrast_normalize(noise, color_space="rgb", sigma_px=15, rms_floor=0.0)
    centre = out[50:150, 50:150]
    assert centre.mean() == pytest.approx(127.5, abs=1.0)
    assert centre.std() == pytest.approx(255 / 8, rel=0.05)


def test_shading_is_removed_and_a_mark_is_kept(astronaut_aligned):
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    region = region_mask(landmarks, face.shape, "full_face")
    # A smooth left-to-right lighting ramp of ±25 % and, separately, a small dark mark.
    ramp = np.linspace(0.75, 1.25, face.shape[1], dtype=np.float32)[None, :, None]
    shaded = np.clip(face * ramp, 0, 255).astype(np.uint8)
    marked = face.copy()
    y, x = (int(v) for v in np.round(landmarks[50, 1::-1]))
    marked[y - 6 : y + 7, x - 6 : x + 7] = (marked[y - 6 : y + 7, x - 6 : x + 7] * 0.5).astype(np.uint8)
    options = {"kind": "pse", "color_space": "ycbcr", **SETTINGS}
    lcn = {"local_contrast": LocalContrastConfig(), "eye_distance_px": _eye_distance(landmarks)}

    def score(other: np.ndarray, **extra) -> float:
        return anomaly_score(heatmap(face, other, **options, **extra), region)

    # Without LCN the shading outweighs the mark; with it the mark outweighs the shading.
    assert score(shaded) > score(marked)
    assert score(shaded, **lcn) < 0.2 * score(marked, **lcn)


def test_lcn_variants_in_the_grid_match_the_full_frame_heatmap(astronaut_aligned):
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    other = np.clip(face.astype(np.int16) + np.random.default_rng(0).integers(-9, 10, face.shape), 0, 255)
    other = other.astype(np.uint8)
    grid = {"kinds": ["pse", "ssim"], "color_spaces": ["ycbcr"], "erosion": [True], "regions": ["mouth_nose"]}
    scores = score_variants(
        face,
        other,
        landmarks,
        grid={**grid, "lcn": [False, True]},
        statistic="anomaly_score",
        region_params=REGION_PARAMS,
        **SETTINGS,
    )
    assert list(scores) == [
        "pse_ycbcr_eroded__mouth_nose",
        "pse_ycbcr_lcn_eroded__mouth_nose",
        "ssim_ycbcr_eroded__mouth_nose",
        "ssim_ycbcr_lcn_eroded__mouth_nose",
    ]
    region = region_mask(landmarks, face.shape, "mouth_nose", **REGION_PARAMS["mouth_nose"])
    for kind in ("pse", "ssim"):
        full_frame = heatmap(
            face,
            other,
            kind=kind,
            color_space="ycbcr",
            local_contrast=LocalContrastConfig(),
            eye_distance_px=_eye_distance(landmarks),
            **SETTINGS,
        )
        assert scores[f"{kind}_ycbcr_lcn_eroded__mouth_nose"] == pytest.approx(
            anomaly_score(full_frame, region), rel=1e-5
        )
        assert scores[f"{kind}_ycbcr_lcn_eroded__mouth_nose"] != scores[f"{kind}_ycbcr_eroded__mouth_nose"]


def test_lcn_names_and_errors():
    variant = parse_variant_name("pse_ycbcr_lcn_eroded__mouth_nose")
    assert (variant.kind, variant.color_space, variant.lcn, variant.eroded) == ("pse", "ycbcr", True, True)
    assert parse_variant_name("ssim_lcn__full_face").color_space == "rgb"
    with pytest.raises(ValueError, match="pixel kinds"):
        parse_variant_name("lpips_lcn__mouth_nose")
    grid = {"kinds": ["pse", "lpips"], "color_spaces": ["rgb"], "erosion": [False], "regions": ["full_face"]}
    # LCN is combined with the pixel kinds only.
    assert [v.name for v in variant_grid({**grid, "lcn": [False, True]})] == [
        "pse_base__full_face",
        "pse_lcn__full_face",
        "lpips_base__full_face",
    ]
    with pytest.raises(ValueError, match="lcn values must be true/false"):
        variant_grid({**grid, "lcn": ["yes"]})
    blank = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="local_contrast.sigma_iod"):
        heatmap(
            blank, blank, kind="pse", color_space="rgb", local_contrast={"sigma_iod": -1}, eye_distance_px=4, **SETTINGS
        )
    with pytest.raises(ValueError, match="eye_distance_px"):
        heatmap(blank, blank, kind="pse", color_space="rgb", local_contrast={}, **SETTINGS)
