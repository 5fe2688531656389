"""Mirror-consistent FaceMesh landmarks: a photo and its mirror image get mirror-image landmarks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facial_anomaly.faces import LandmarkConfig, detect_landmarks, locate_face
from facial_anomaly.faces.detection import detect_faces, detect_faces_mirror_consistent
from facial_anomaly.faces.mesh import mirrored_landmarks


def _png(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return encoded.tobytes()


def _flip(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, ::-1])


@pytest.fixture(scope="module")
def landmark_configs(preprocess_config):
    base = dict(preprocess_config["landmarks"])
    return {
        "symmetric": LandmarkConfig.model_validate({**base, "mirror_consistent": True}),
        "plain": LandmarkConfig.model_validate({**base, "mirror_consistent": False}),
    }


def test_plain_facemesh_is_not_mirror_consistent(astronaut_aligned, landmark_configs):
    # The defect being fixed: one FaceMesh pass on the aligned astronaut (eyes 140 px apart)
    # and on its mirror image disagree by ~2 px, the size of the asymmetries measured.
    face = astronaut_aligned["rgb"]
    plain = detect_landmarks(face, None, landmark_configs["plain"])
    mirrored = mirrored_landmarks(detect_landmarks(_flip(face), None, landmark_configs["plain"]), face.shape[1])
    error = np.linalg.norm(plain[:, :2] - mirrored[:, :2], axis=1)
    assert 1.0 < np.median(error) < 4.0
    assert np.percentile(error, 90) > 2.5


def test_symmetric_landmarks_of_a_mirrored_image_are_the_mirrored_landmarks(astronaut_aligned, landmark_configs):
    # On the whole image the mirrored photo's two FaceMesh passes are the original's two
    # passes swapped, so the result is equal up to float rounding.
    face = astronaut_aligned["rgb"]
    landmarks = detect_landmarks(face, None, landmark_configs["symmetric"])
    mirrored = mirrored_landmarks(detect_landmarks(_flip(face), None, landmark_configs["symmetric"]), face.shape[1])
    np.testing.assert_allclose(mirrored, landmarks, atol=1e-9)


def test_located_face_of_a_mirrored_photo_is_the_mirrored_face(astronaut_rgb, preprocess_config):
    # Through the detector: the face box is averaged with the mirror pass's box, and the
    # crop bounds are rounded from both sides, so the whole chain is exactly equivariant
    # (tolerance: float rounding of the box average, far below a pixel).
    geometry, _ = locate_face(_png(astronaut_rgb), preprocess_config)
    mirrored, _ = locate_face(_png(_flip(astronaut_rgb)), preprocess_config)
    assert geometry.ok and mirrored.ok
    np.testing.assert_allclose(
        mirrored_landmarks(mirrored.landmarks, astronaut_rgb.shape[1]), geometry.landmarks, atol=1e-6
    )
    size = preprocess_config["alignment"]["output_size"]
    np.testing.assert_allclose(
        mirrored_landmarks(mirrored.aligned_landmarks(), size), geometry.aligned_landmarks(), atol=1e-6
    )
    assert mirrored.roll_degrees == pytest.approx(-geometry.roll_degrees, abs=1e-6)


def test_symmetric_landmarks_stay_close_to_the_plain_ones(astronaut_aligned, landmark_configs):
    # Averaging moves each landmark by half the mirror disagreement: on the aligned
    # astronaut a median ~1.1 px (0.8 % of the 140 px eye distance).
    face = astronaut_aligned["rgb"]
    plain = detect_landmarks(face, None, landmark_configs["plain"])
    symmetric = detect_landmarks(face, None, landmark_configs["symmetric"])
    shift = np.linalg.norm(symmetric[:, :2] - plain[:, :2], axis=1)
    assert np.median(shift) < 2.0
    assert np.percentile(shift, 90) < 3.5
    assert shift.max() < 7.0


def test_mirror_consistent_boxes_are_mirror_images(astronaut_rgb, preprocess_config):
    width = astronaut_rgb.shape[1]
    box = detect_faces_mirror_consistent(astronaut_rgb, preprocess_config["detection"]).largest
    mirrored = detect_faces_mirror_consistent(_flip(astronaut_rgb), preprocess_config["detection"]).largest
    assert mirrored.x == pytest.approx(width - box.x - box.width, abs=1e-9)
    assert (mirrored.y, mirrored.width, mirrored.height) == pytest.approx((box.y, box.width, box.height), abs=1e-9)
    # It is an average of the two passes: within a few pixels of the plain box.
    plain = detect_faces(astronaut_rgb, preprocess_config["detection"]).largest
    assert abs(box.x - plain.x) < 5 and abs(box.width - plain.width) < 5


def test_landmark_config_defaults_and_errors(preprocess_config):
    config = LandmarkConfig.model_validate({"crop_margin": 0.5, "crop_max_side": 768, "min_confidence": 0.5})
    assert config.mirror_consistent is True
    with pytest.raises(ValueError, match="landmarks.mirror_consistant"):
        detect_landmarks(np.zeros((64, 64, 3), np.uint8), None, {"mirror_consistant": True})


def test_mirrored_landmarks_is_an_involution_that_swaps_the_eyes(astronaut_aligned):
    landmarks = astronaut_aligned["landmarks"]
    once = mirrored_landmarks(landmarks, 512)
    np.testing.assert_array_equal(mirrored_landmarks(once, 512), landmarks)
    # Landmark 33 (image-left eye's outer corner) of the mirrored face is where the
    # image-right eye's outer corner (263) was, reflected.
    assert once[33, 0] == pytest.approx(511 - landmarks[263, 0])
    assert once[33, 1] == landmarks[263, 1] and once[33, 2] == landmarks[263, 2]
