import numpy as np
import pytest

from facial_anomaly.faces.mesh import NUM_MESH_POINTS, mirrored_landmarks
from facial_anomaly.normalizers import ShapeModel, symmetric_landmarks
from facial_anomaly.scoring.shape_residual import (
    ShapeResidualConfig,
    landmark_residuals,
    landmark_set,
    normal_shape_landmarks,
    shape_residual_score,
)

MOUTH_CORNER = 61  # image-left mouth corner


def _smooth_move(landmarks, centre, shift, sigma_px):
    moved = np.array(landmarks, dtype=np.float64)
    distance = np.linalg.norm(moved[:NUM_MESH_POINTS, :2] - centre, axis=1)
    moved[:NUM_MESH_POINTS, :2] += np.exp(-(distance**2) / (2 * sigma_px**2))[:, None] * np.asarray(shift, float)
    return moved


@pytest.fixture(scope="module")
def normal_shapes(astronaut_aligned):
    """Plausible normal shapes: the astronaut made symmetric, with small similarity changes
    and smooth random local changes (no one-sided mouth changes)."""
    base = symmetric_landmarks(astronaut_aligned["landmarks"])
    rng = np.random.default_rng(0)
    shapes = []
    for _ in range(30):
        angle, scale = np.radians(rng.normal(0, 1.5)), 1 + rng.normal(0, 0.02)
        rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        centre = base[:, :2].mean(axis=0)
        shape = base.copy()
        shape[:, :2] = (base[:, :2] - centre) @ rotation.T + centre + rng.normal(0, 2, 2)
        for _ in range(3):
            point = shape[rng.integers(NUM_MESH_POINTS), :2]
            shape = _smooth_move(shape, point, rng.normal(0, 2.0, 2), 40.0)
        shapes.append(shape)
    return base, shapes


@pytest.fixture(scope="module")
def model(normal_shapes):
    _, shapes = normal_shapes
    return ShapeModel.fit(
        shapes[:25],
        explained_variance=0.98,
        max_components=20,
        mirror_augment=True,
        procrustes_iterations=20,
        procrustes_tolerance=1e-7,
    )


def test_a_drooping_mouth_corner_raises_the_residual_with_its_size(normal_shapes, model):
    base, shapes = normal_shapes
    face = shapes[25]
    corner = face[MOUTH_CORNER, :2]
    scores = [
        shape_residual_score(_smooth_move(face, corner, (0.0, droop), 12.0), model) for droop in (0.0, 4.0, 8.0, 14.0)
    ]
    assert np.all(np.diff(scores) > 0), scores
    assert scores[-1] > 3 * scores[0]
    normal = [shape_residual_score(shape, model) for shape in shapes[25:]]
    assert scores[2] > max(normal)  # an 8 px (0.06 IOD) droop stands out of every held-out normal shape


def test_residuals_are_in_eye_distances_and_mirror_invariant(normal_shapes, model):
    _, shapes = normal_shapes
    face = _smooth_move(shapes[26], shapes[26][MOUTH_CORNER, :2], (0.0, 8.0), 12.0)
    residuals = landmark_residuals(face, model, ShapeResidualConfig())
    assert residuals.shape == (NUM_MESH_POINTS,)
    assert residuals[MOUTH_CORNER] == pytest.approx(residuals.max(), rel=0.5)  # the moved corner is among the worst
    scaled = face.copy()
    scaled[:, :2] *= 2.0  # the same face twice as large: residuals are in IOD (the fit's
    # 1 px residual floor is in pixels, so the robust weights change a little)
    assert shape_residual_score(scaled, model) == pytest.approx(shape_residual_score(face, model), rel=0.1)
    mirrored = mirrored_landmarks(face, 512)
    assert shape_residual_score(mirrored, model) == pytest.approx(shape_residual_score(face, model), rel=0.02)


def test_landmark_sets():
    mouth_nose = landmark_set("mouth_nose")
    assert set(landmark_set("lips")) < set(mouth_nose)
    assert mouth_nose.max() < NUM_MESH_POINTS and MOUTH_CORNER in mouth_nose


def test_normal_shape_puts_a_drooping_corner_back_and_keeps_the_rest(normal_shapes, model):
    _, shapes = normal_shapes
    face = shapes[26]
    drooped = _smooth_move(face, face[MOUTH_CORNER, :2], (0.0, 12.0), 10.0)  # a 12 px droop
    normal = normal_shape_landmarks(drooped, model)
    assert normal.shape == drooped.shape and np.array_equal(normal[NUM_MESH_POINTS:], drooped[NUM_MESH_POINTS:])
    # the corner goes most of the way back to where the undrooped face had it
    assert np.linalg.norm(normal[MOUTH_CORNER, :2] - face[MOUTH_CORNER, :2]) < 4.0
    far = np.linalg.norm(face[:NUM_MESH_POINTS, :2] - face[MOUTH_CORNER, :2], axis=1) > 60
    # points far from the droop stay within a pixel of where they were measured
    assert (
        np.median(np.linalg.norm(normal[:NUM_MESH_POINTS][far, :2] - drooped[:NUM_MESH_POINTS][far, :2], axis=1)) < 1.0
    )
    # an undrooped normal face hardly moves
    assert np.median(np.linalg.norm(normal_shape_landmarks(face, model)[:, :2] - face[:, :2], axis=1)) < 1.0
