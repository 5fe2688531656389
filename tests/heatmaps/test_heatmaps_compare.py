"""How the pixel kinds see a pair of images: exposure, colour and smoothing (heatmaps.compare)."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from facial_anomaly.faces.io import luma_rgb
from facial_anomaly.heatmaps import heatmap, region_mask
from facial_anomaly.heatmaps.compare import PixelComparison, luma, mean_chroma, prepare_pair
from facial_anomaly.normalizers import create
from facial_anomaly.scoring import anomaly_score, score_variants

REGIONS = {"mouth_nose": {"margin_iod": 0.15}, "face_without_eyes": {"eye_margin_iod": 0.15}}
SETTINGS = {
    "erosion_size": 3,
    "erosion_iterations": 1,
    "channel_reduction": "sum",
    "kind_options": {"ssim": {"win_size": 7}},
    "region_params": REGIONS,
}
GRID = {"kinds": ["pse", "ssim"], "color_spaces": ["rgb", "ycbcr"], "erosion": [True], "regions": ["mouth_nose"]}


@pytest.fixture(scope="module")
def mirrored_pair(astronaut_aligned) -> dict:
    """The astronaut and her mirror normalization (plenty of left–right differences)."""
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    return {"face": face, "normalized": create("mirror").normalize(face, landmarks).image, "landmarks": landmarks}


def _scores(face, normalized, landmarks, comparison=None) -> dict[str, float]:
    return score_variants(
        face, normalized, landmarks, grid=GRID, statistic="anomaly_score", comparison=comparison, **SETTINGS
    )


def _gain(image: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(np.rint(image * gain), 0, 255).astype(np.uint8)


def test_a_darker_photo_scores_the_same(mirrored_pair):
    face, normalized, landmarks = mirrored_pair["face"], mirrored_pair["normalized"], mirrored_pair["landmarks"]
    reference = _scores(face, normalized, landmarks)
    darker = _scores(_gain(face, 0.7), _gain(normalized, 0.7), landmarks)
    plain = _scores(face, normalized, landmarks, PixelComparison.plain())
    plain_darker = _scores(_gain(face, 0.7), _gain(normalized, 0.7), landmarks, PixelComparison.plain())
    for name in reference:
        # Exact up to the rounding of the darker 8-bit images.
        assert darker[name] == pytest.approx(reference[name], rel=0.03), name
    # Without exposure normalisation PSE falls with the square of the gain (0.49).
    assert plain_darker["pse_ycbcr_eroded__mouth_nose"] < 0.6 * plain["pse_ycbcr_eroded__mouth_nose"]


def test_a_greyscale_photo_does_not_score_lower_for_lack_of_colour(astronaut_aligned):
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    symmetry = create("symmetry", texture_blend=0.0, blend_feather_px=8.0, ring_scale=1.35, border_step_px=64.0)
    normalized = symmetry.normalize(face, landmarks).image
    grey_face, grey_normalized = luma_rgb(face), luma_rgb(normalized)
    colour = _scores(face, normalized, landmarks)
    grey = _scores(grey_face, grey_normalized, landmarks)
    plain_colour = _scores(face, normalized, landmarks, PixelComparison.plain())
    plain_grey = _scores(grey_face, grey_normalized, landmarks, PixelComparison.plain())
    # Compared as they are, the greyscale copy lacks the chroma part of the maps (SSIM in
    # YCbCr: 0.68× on this face).
    assert plain_grey["ssim_ycbcr_eroded__mouth_nose"] < 0.8 * plain_colour["ssim_ycbcr_eroded__mouth_nose"]
    assert plain_grey["pse_ycbcr_eroded__mouth_nose"] < 0.95 * plain_colour["pse_ycbcr_eroded__mouth_nose"]
    for name in colour:
        assert 0.9 * colour[name] < grey[name] < 1.12 * colour[name], (name, grey[name], colour[name])


def test_colour_is_compared_when_both_sides_have_it(mirrored_pair):
    face, landmarks = mirrored_pair["face"], mirrored_pair["landmarks"]
    mask = region_mask(landmarks, face.shape, "full_face")
    assert mean_chroma(luma_rgb(face), mask) < 0.5 < 10 < mean_chroma(face, mask)
    # A colour face whose normalized version is greyscale (a model fitted on greyscale
    # faces, say) is compared on luma, scaled; the same pair in colour is not.
    pair = prepare_pair(face, luma_rgb(face), mask, 140.0, PixelComparison())
    assert pair.luma_only and pair.map_scale["pse_ycbcr"] > 1
    np.testing.assert_array_equal(pair.original[..., 0], pair.original[..., 2])
    colour = prepare_pair(face, mirrored_pair["normalized"], mask, 140.0, PixelComparison())
    assert not colour.luma_only and colour.map_scale == {}


def test_smoothing_suppresses_pixel_noise_more_than_a_mark(astronaut_aligned):
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    rng = np.random.default_rng(5)
    noisy = np.clip(face + rng.normal(0.0, 6.0, face.shape), 0, 255).astype(np.uint8)
    marked = face.copy()
    centre = tuple(int(v) for v in np.round(landmarks[61, :2]))  # a mouth corner
    cv2.circle(marked, centre, 6, (120, 40, 50), -1)
    smooth, sharp = PixelComparison(), PixelComparison(smoothing_iod=0.0)
    region = region_mask(landmarks, face.shape, "mouth_nose", **REGIONS["mouth_nose"])

    def score(other, comparison, kind):
        return anomaly_score(
            heatmap(
                face,
                other,
                kind=kind,
                color_space="ycbcr",
                erosion_size=3,
                erosion_iterations=1,
                channel_reduction="sum",
                kind_options=SETTINGS["kind_options"],
                landmarks=landmarks,
                comparison=comparison,
            ),
            region,
        )

    for kind in ("pse", "ssim"):
        noise_kept = score(noisy, smooth, kind) / score(noisy, sharp, kind)
        mark_kept = score(marked, smooth, kind) / score(marked, sharp, kind)
        assert noise_kept < 0.5 * mark_kept, (kind, noise_kept, mark_kept)
        assert mark_kept > 0.5


def test_luma_matches_pil_and_plain_is_the_identity(astronaut_aligned):
    face = astronaut_aligned["rgb"]
    buffer = io.BytesIO()
    Image.fromarray(face).convert("L").save(buffer, format="PNG")
    pil_grey = np.asarray(Image.open(buffer))
    np.testing.assert_array_equal(luma_rgb(face)[..., 1], pil_grey)
    np.testing.assert_array_equal(luma_rgb(luma_rgb(face)), luma_rgb(face))  # idempotent on grey
    assert np.abs(luma(face) - pil_grey).max() <= 0.51
    mask = np.ones(face.shape[:2], bool)
    pair = prepare_pair(face, face[:, ::-1], mask, 140.0, PixelComparison.plain())
    assert pair.original is face and pair.gain == 1.0 and not pair.luma_only
    with pytest.raises(ValueError, match="comparison.smoothing_iod"):
        _scores(face, face, astronaut_aligned["landmarks"], {"smoothing_iod": -1})
