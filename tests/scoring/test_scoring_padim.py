import cv2
import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.covariance import ledoit_wolf as sklearn_ledoit_wolf

from facial_anomaly.faces.mesh import mirrored_landmarks
from facial_anomaly.features import feature_extractor
from facial_anomaly.provenance import ModelMismatch
from facial_anomaly.scoring import PadimConfig, PadimScorer, grid_features, ledoit_wolf
from facial_anomaly.scoring.model_files import load_model_file, save_model_file

SMALL = {
    "backbone": {"taps": [2, 4], "input_size": 96, "device": "cpu"},
    "grid_stride": 8,
    "channels": 24,
    "region": "full_face",
    "region_params": {},
}


def mirror(image, landmarks):
    """The mirror image of a face and its landmarks (x ↦ W − 1 − x, relabelled)."""
    return np.ascontiguousarray(image[:, ::-1]), mirrored_landmarks(landmarks, image.shape[1])


def test_ledoit_wolf_equals_scikit_learn():
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(3, 15, 6)) @ rng.normal(size=(6, 6))
    samples -= samples.mean(axis=1, keepdims=True)
    covariances, shrinkages = ledoit_wolf(samples)
    for location in range(3):
        expected, shrinkage = sklearn_ledoit_wolf(samples[location], assume_centered=True)
        np.testing.assert_allclose(covariances[location], expected, rtol=1e-10, atol=1e-12)
        assert shrinkages[location] == pytest.approx(shrinkage, rel=1e-10)


def test_grid_features_pool_and_resize_taps(astronaut_aligned):
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    config = PadimConfig.model_validate({**SMALL, "backbone": {**SMALL["backbone"], "taps": [2, 4, 10]}, "channels": 0})
    features = feature_extractor(config.backbone).features([face, face], [landmarks, landmarks])
    grid = grid_features(features, config)
    assert grid.shape == (2, 12, 12, 24 + 40 + 112) and grid.dtype == np.float32
    stride4 = features.maps[0][0]  # (24, 24, 24): 2×2 blocks average to the 12×12 grid
    np.testing.assert_allclose(grid[0, 3, 5, :24], stride4[:, 6:8, 10:12].mean(axis=(1, 2)), rtol=1e-5)
    assert PadimConfig.model_validate(SMALL).channel_index().tolist() == sorted(
        PadimConfig.model_validate(SMALL).channel_index().tolist()
    )


@pytest.fixture(scope="module")
def normals(astronaut_aligned):
    """Twelve 'normal faces': the astronaut under small brightness, shift and noise changes."""
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    rng = np.random.default_rng(1)
    faces = []
    for _ in range(12):
        shift = np.float32([[1, 0, rng.uniform(-2, 2)], [0, 1, rng.uniform(-2, 2)]])
        moved = cv2.warpAffine(face, shift, face.shape[1::-1], borderMode=cv2.BORDER_REFLECT)
        noisy = moved * rng.uniform(0.9, 1.1) + rng.normal(0, 4, face.shape)
        faces.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return faces, landmarks


@pytest.fixture(scope="module")
def scorer(normals):
    faces, landmarks = normals
    return PadimScorer.fit(faces[:10], [landmarks] * 10, PadimConfig.model_validate(SMALL), training_data="t")


def test_a_defect_scores_higher_and_lights_up_where_it_is(scorer, normals):
    faces, landmarks = normals
    clean = faces[10]
    painted = clean.copy()
    centre = np.round(landmarks[61, :2]).astype(int)
    cv2.circle(painted, tuple(int(v) for v in centre), 12, (200, 40, 50), thickness=-1)
    heat = scorer.score_map(painted, landmarks)
    assert heat.shape == clean.shape[:2] and heat.min() >= 0
    peak = np.array(np.unravel_index(np.argmax(heat), heat.shape)[::-1])
    assert np.hypot(*(peak - centre)) < 30
    assert scorer.score(painted, landmarks) > 1.5 * scorer.score(clean, landmarks)
    assert scorer.score(faces[11], landmarks) < 1.2 * scorer.score(clean, landmarks)


def test_a_face_and_its_mirror_image_score_the_same(scorer, normals):
    faces, landmarks = normals
    flipped, flipped_landmarks = mirror(faces[10], landmarks)
    heat = scorer.score_map(faces[10], landmarks)
    mirrored = scorer.score_map(flipped, flipped_landmarks)
    np.testing.assert_allclose(mirrored, heat[:, ::-1], rtol=1e-4, atol=1e-3)
    # The maps are mirror images; the region masks are rasterised with pixel centres at
    # integers, so a mirrored region can differ by a pixel along its edge (< 0.2 % here).
    assert scorer.score(flipped, flipped_landmarks) == pytest.approx(scorer.score(faces[10], landmarks), rel=2e-3)


def test_save_load_and_refusals(scorer, normals, tmp_path):
    faces, landmarks = normals
    path = scorer.save(tmp_path / "padim.npz")
    loaded = PadimScorer.load(path)
    np.testing.assert_array_equal(loaded.precision, scorer.precision)
    assert loaded.config == scorer.config and loaded.provenance["kind"] == "padim"
    assert loaded.score(faces[10], landmarks) == pytest.approx(scorer.score(faces[10], landmarks), rel=1e-6)
    arrays, record = load_model_file(path, kind="padim", schema_version=1)
    arrays["channel_index"] = arrays["channel_index"][::-1]
    save_model_file(tmp_path / "tampered.npz", arrays, record)
    with pytest.raises(ModelMismatch, match="tampered.npz: the stored channel subset"):
        PadimScorer.load(tmp_path / "tampered.npz")
    with pytest.raises(ModelMismatch, match="holds a 'padim' model, not a 'normal_variation'"):
        load_model_file(path, kind="normal_variation", schema_version=1)


def test_config_errors():
    with pytest.raises(ValidationError, match="power of 2"):
        PadimConfig(grid_stride=12)
    with pytest.raises(ValidationError, match="exceeds the 176 channels"):
        PadimConfig(channels=500)
    with pytest.raises(ValidationError, match="unknown region"):
        PadimConfig(region="cheeks")
    with pytest.raises(ValueError, match="at least 2 normal faces"):
        PadimScorer.fit_grid_features(np.zeros((1, 4, 4, 3)), PadimConfig.model_validate(SMALL))
