import numpy as np
import pytest

from facial_anomaly.faces import AlignmentSpec, eye_centers, similarity_matrix, transform_points
from facial_anomaly.faces.alignment import invert_matrix, matrix_roll_degrees, matrix_scale

SPEC = AlignmentSpec(output_size=512, eye_distance_px=140.0, eye_center_y=0.42)


@pytest.mark.parametrize("angle_deg", [-30.0, -5.0, 0.0, 12.5, 45.0])
@pytest.mark.parametrize("distance", [20.0, 63.0, 300.0])
def test_eyes_land_level_at_the_set_distance(angle_deg, distance):
    left = np.array([100.0, 200.0])
    theta = np.radians(angle_deg)
    right = left + distance * np.array([np.cos(theta), np.sin(theta)])
    matrix = similarity_matrix(left, right, SPEC)
    aligned = transform_points(np.stack([left, right]), matrix)
    np.testing.assert_allclose(aligned[1, 1] - aligned[0, 1], 0.0, atol=1e-9)
    np.testing.assert_allclose(aligned[1, 0] - aligned[0, 0], 140.0, atol=1e-9)
    # Centred on the middle column (511 / 2: pixel centres at integers), so a mirrored photo aligns to the mirrored crop.
    np.testing.assert_allclose(aligned.mean(axis=0), [255.5, 0.42 * 512], atol=1e-9)
    assert matrix_roll_degrees(matrix) == pytest.approx(angle_deg)
    assert matrix_scale(matrix) == pytest.approx(140.0 / distance)


def test_inverse_matrix_maps_back():
    matrix = similarity_matrix(np.array([10.0, 20.0]), np.array([70.0, 35.0]), SPEC)
    points = np.random.default_rng(0).uniform(0, 500, size=(20, 2))
    back = transform_points(transform_points(points, matrix), invert_matrix(matrix))
    np.testing.assert_allclose(back, points, atol=1e-9)


def test_depth_is_scaled_with_the_face():
    matrix = similarity_matrix(np.array([0.0, 0.0]), np.array([70.0, 0.0]), SPEC)
    out = transform_points(np.array([[0.0, 0.0, -10.0]]), matrix)
    assert out[0, 2] == pytest.approx(-20.0)


def test_coincident_eyes_raise():
    with pytest.raises(ValueError, match="coincide"):
        similarity_matrix(np.array([5.0, 5.0]), np.array([5.0, 5.0]), SPEC)


def test_real_face_alignment_meets_tolerances(astronaut_aligned):
    landmarks = astronaut_aligned["landmarks"]
    assert landmarks.shape == (478, 3)
    left, right = eye_centers(landmarks)
    roll = np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0]))
    assert abs(roll) < 0.5
    assert abs(np.hypot(*(right - left)) - 140.0) < 1.0
    assert astronaut_aligned["rgb"].shape == (512, 512, 3)
    assert astronaut_aligned["mask"].shape == (512, 512)
