"""Statistical shape model: Procrustes, PCA, robust fit, normalization, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from facial_anomaly.faces.mesh import NUM_MESH_POINTS
from facial_anomaly.normalizers import ShapeModel, create, landmark_asymmetry
from facial_anomaly.normalizers.shape_model import generalized_procrustes, similarity_transform


@pytest.fixture(scope="module")
def normalizer(normalizer_params, shape_model):
    return create("shape_model", model=shape_model, **normalizer_params["shape_model"])


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(50, 2))
    angle, scale, shift = 0.3, 1.7, np.array([4.0, -2.0])
    linear = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = source @ linear.T + shift
    np.testing.assert_allclose(similarity_transform(source, target), np.hstack([linear, shift[:, None]]), atol=1e-10)
    # Weights: a grossly wrong point with weight 0 does not matter.
    target[0] += 100.0
    weights = np.ones(50)
    weights[0] = 0.0
    np.testing.assert_allclose(similarity_transform(source, target, weights)[:, :2], linear, atol=1e-10)


def test_procrustes_removes_pose(astronaut_aligned):
    shape = astronaut_aligned["landmarks"][:NUM_MESH_POINTS, :2]
    rotated = [
        shape @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]).T * s + t
        for a, s, t in ((0.0, 1.0, 0.0), (0.2, 0.8, 30.0), (-0.1, 1.3, -12.0))
    ]
    aligned, mean = generalized_procrustes(np.stack(rotated), iterations=10, tolerance=1e-10)
    assert np.sqrt((mean**2).sum()) == pytest.approx(1.0)
    np.testing.assert_allclose(aligned, np.broadcast_to(mean, aligned.shape), atol=1e-9)


def test_model_keeps_the_requested_variance(shape_model, model_params):
    params = model_params["shape_model"]
    assert shape_model.metadata["explained_variance"] >= params["explained_variance"] - 1e-9
    assert 1 <= len(shape_model.variances) <= params["max_components"]
    np.testing.assert_allclose(
        shape_model.components @ shape_model.components.T, np.eye(len(shape_model.variances)), atol=1e-8
    )
    # Mirror augmentation centres the model on a symmetric face.
    assert landmark_asymmetry(shape_model.mean, np.arange(NUM_MESH_POINTS)) < 1e-3 * 30


def test_drooping_mouth_corner_is_corrected(normalizer, drooping_face, detect, mouth_corners):
    before = landmark_asymmetry(detect(drooping_face["rgb"]), mouth_corners)
    target, fit = normalizer.target_landmarks(drooping_face["landmarks"])
    # The robust fit gives the displaced corner (almost) no weight.
    assert fit.weights[mouth_corners[0]] < 0.1
    out = normalizer.normalize(drooping_face["rgb"], drooping_face["landmarks"])
    np.testing.assert_allclose(out.landmarks[:NUM_MESH_POINTS], target[:NUM_MESH_POINTS])
    after = landmark_asymmetry(detect(out.image), mouth_corners)
    assert before > 8.0
    assert after < 0.5 * before


def test_normal_face_barely_changes(normalizer, symmetric_astronaut):
    rgb, landmarks = symmetric_astronaut["rgb"], symmetric_astronaut["landmarks"]
    out = normalizer.normalize(rgb, landmarks)
    assert np.abs(out.landmarks - landmarks)[:NUM_MESH_POINTS, :2].max() < 0.5
    assert np.abs(out.image.astype(float) - rgb).mean() < 0.5


def test_background_is_untouched(normalizer, drooping_face):
    out = normalizer.normalize(drooping_face["rgb"], drooping_face["landmarks"])
    for region in (np.s_[:40], np.s_[:, :40], np.s_[:, -40:]):
        np.testing.assert_array_equal(out.image[region], drooping_face["rgb"][region])


def test_save_load_round_trip(tmp_path, shape_model, normalizer_params, drooping_face):
    path = tmp_path / "shape_model.npz"
    shape_model.save(path)
    loaded = ShapeModel.load(path)
    assert loaded.metadata == shape_model.metadata
    before = create("shape_model", model=shape_model, **normalizer_params["shape_model"])
    after = create("shape_model", model=loaded, **normalizer_params["shape_model"])
    np.testing.assert_array_equal(
        after.normalize(drooping_face["rgb"], drooping_face["landmarks"]).image,
        before.normalize(drooping_face["rgb"], drooping_face["landmarks"]).image,
    )


def test_fit_through_the_normalizer_interface(normalizer_params, model_params, reference_set):
    normalizer = create("shape_model", model_params=model_params["shape_model"], **normalizer_params["shape_model"])
    assert normalizer.fit(reference_set["faces"], reference_set["landmarks"]) is normalizer
    assert normalizer.model.metadata["faces"] == len(reference_set["landmarks"])
    with pytest.raises(ValueError, match="zero faces"):
        ShapeModel.fit([], **model_params["shape_model"])
