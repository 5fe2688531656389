import cv2
import numpy as np
import pytest

from facial_anomaly.faces import (
    eye_centers,
    geometry_from_record,
    geometry_to_record,
    locate_face,
    render_aligned_face,
)
from facial_anomaly.faces.config import PreprocessConfig
from facial_anomaly.faces.landmarks import validate_landmarks
from facial_anomaly.sample import embedded_sample_files


def png(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return encoded.tobytes()


@pytest.fixture(scope="module")
def sample_files():
    return embedded_sample_files()


@pytest.mark.parametrize(
    "name, status",
    [
        ("demo_astronaut.png", "ok"),
        ("demo_astronaut_mirrored.jpg", "ok"),
        ("demo_astronaut_rolled.png", "ok"),
        ("demo_astronaut_16bit.png", "ok"),
        ("demo_astronaut_rgba.png", "ok"),
        ("demo_astronaut_exif_orientation.jpg", "ok"),
        ("rejected/demo_no_face_coffee.jpg", "no_face"),
        ("rejected/demo_truncated.jpg", "unreadable"),
        ("rejected/demo_tiny.png", "too_small"),
        ("sub folder/demo astronaut small.webp", "too_small"),
    ],
)
def test_every_sample_input_gets_its_status(sample_files, preprocess_config, name, status):
    geometry, _ = locate_face(sample_files[name], preprocess_config)
    assert geometry.status == status, geometry.detail
    if status != "ok":
        assert geometry.detail  # a human-readable reason
        assert geometry.landmarks is None


def test_rolled_photo_is_levelled(sample_files, preprocess_config):
    geometry, rgb = locate_face(sample_files["demo_astronaut_rolled.png"], preprocess_config)
    straight, _ = locate_face(sample_files["demo_astronaut.png"], preprocess_config)
    # PIL rotates counter-clockwise: the face's roll changes by about that angle.
    assert geometry.roll_degrees - straight.roll_degrees == pytest.approx(-8.0, abs=1.0)
    left, right = eye_centers(geometry.aligned_landmarks())
    assert abs(np.degrees(np.arctan2(*(right - left)[::-1]))) < 0.5
    assert abs(np.hypot(*(right - left)) - preprocess_config["alignment"]["eye_distance_px"]) < 1.0


def test_largest_of_several_faces_is_kept(astronaut_rgb, preprocess_config):
    small = cv2.resize(astronaut_rgb, (400, 400), interpolation=cv2.INTER_AREA)
    canvas = np.full((512, 912, 3), 200, np.uint8)
    canvas[:, :512] = astronaut_rgb
    canvas[56:456, 512:912] = small
    geometry, _ = locate_face(png(canvas), preprocess_config)
    assert geometry.ok and geometry.face_count == 2
    assert geometry.eye_distance_source_px > 38  # the big face (≈42 px), not the small (≈33 px)
    assert geometry.landmarks[:, 0].max() < 512


def test_geometry_has_478_landmarks_and_round_trips(sample_files, preprocess_config):
    geometry, _ = locate_face(sample_files["demo_astronaut.png"], preprocess_config)
    validate_landmarks(geometry.landmarks)
    back = geometry_from_record(geometry_to_record(geometry))
    np.testing.assert_array_equal(back.matrix, geometry.matrix)
    np.testing.assert_array_equal(back.landmarks, geometry.landmarks)
    assert back.status == "ok"


def test_output_size_follows_the_preset(sample_files):
    config = PreprocessConfig(alignment_preset="paper_1024")
    geometry, rgb = locate_face(sample_files["demo_astronaut.png"], config)
    crop, mask = render_aligned_face(rgb, geometry, config)
    assert crop.shape == (1024, 1024, 3) and mask.shape == (1024, 1024)
    left, right = eye_centers(geometry.aligned_landmarks())
    assert abs(np.hypot(*(right - left)) - 280.0) < 1.0


def test_unknown_preset_is_named():
    with pytest.raises(ValueError, match=r"preprocess\.alignment_preset.*paper_2048"):
        PreprocessConfig.model_validate({"alignment_preset": "paper_2048"})


def test_stage_key_ignores_force_but_not_settings(preprocess_config):
    from facial_anomaly.batch.preprocess import preprocess_key

    assert preprocess_key(preprocess_config) == preprocess_key(PreprocessConfig(force=True))
    changed = PreprocessConfig(min_eye_distance_px=preprocess_config.min_eye_distance_px + 1)
    assert preprocess_key(changed) != preprocess_key(preprocess_config)


def test_rendering_a_rejected_face_raises(preprocess_config):
    from facial_anomaly.faces import FaceGeometry

    with pytest.raises(ValueError, match="no_face"):
        render_aligned_face(np.zeros((10, 10, 3), np.uint8), FaceGeometry(status="no_face"), preprocess_config)
