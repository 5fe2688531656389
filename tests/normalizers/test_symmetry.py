"""Symmetry normalizer: asymmetric shapes become symmetric, symmetric faces stay."""

from __future__ import annotations

import numpy as np
import pytest

from facial_anomaly.normalizers import SymmetryNormalizer, create, fit_midline, landmark_asymmetry, symmetric_landmarks
from facial_anomaly.normalizers.geometry import face_region_mask


@pytest.fixture(scope="module")
def symmetry(normalizer_params) -> SymmetryNormalizer:
    return create("symmetry", **normalizer_params["symmetry"])


def test_symmetric_landmarks_are_symmetric(astronaut_aligned):
    landmarks = astronaut_aligned["landmarks"]
    assert landmark_asymmetry(landmarks) > 1.0
    symmetric = symmetric_landmarks(landmarks)
    assert landmark_asymmetry(symmetric) < 1e-9
    # The plane of symmetry is about the vertical plane through the middle of the aligned crop.
    midline = fit_midline(landmarks)
    assert midline.normal[0] > 0.95
    assert abs(midline.point[0] - 256) < 15
    # In 2-D the same: a vertical line.
    assert fit_midline(landmarks[:, :2]).normal[0] > 0.99


def test_yawed_face_keeps_its_pose(astronaut_aligned):
    """Mirroring in 3-D: a symmetric face turned about the vertical axis is already symmetric."""
    symmetric = symmetric_landmarks(astronaut_aligned["landmarks"])
    angle = np.radians(20.0)
    rotation = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    centre = symmetric.mean(axis=0)
    turned = (symmetric - centre) @ rotation.T + centre
    assert landmark_asymmetry(turned) < 1e-6
    np.testing.assert_allclose(symmetric_landmarks(turned), turned, atol=1e-6)
    # In 2-D the turned face looks asymmetric.
    assert landmark_asymmetry(turned[:, :2]) > 5.0


def test_drooping_mouth_corner_is_corrected(symmetry, drooping_face, detect, mouth_corners):
    before = landmark_asymmetry(detect(drooping_face["rgb"]), mouth_corners)
    out = symmetry.normalize(drooping_face["rgb"], drooping_face["landmarks"])
    assert landmark_asymmetry(out.landmarks, mouth_corners) < 1e-9
    after = landmark_asymmetry(detect(out.image), mouth_corners)
    assert before > 8.0
    assert after < 0.5 * before


def test_symmetric_face_barely_changes(normalizer_params, astronaut_aligned, detect):
    params = dict(normalizer_params["symmetry"], texture_blend=0.5)
    symmetric_face = create("symmetry", **params).normalize(astronaut_aligned["rgb"], astronaut_aligned["landmarks"])
    normalizer = create("symmetry", **normalizer_params["symmetry"])
    again = normalizer.normalize(symmetric_face.image, detect(symmetric_face.image))
    face = face_region_mask(symmetric_face.landmarks, symmetric_face.image.shape, feather_px=0) > 0.5
    change = np.abs(again.image.astype(float) - symmetric_face.image)[face].mean()
    assert change < 2.0  # grey levels, mean over the face
    # With its own (exactly symmetric) landmarks nothing moves at all.
    same = normalizer.normalize(symmetric_face.image, symmetric_face.landmarks)
    np.testing.assert_array_equal(same.image, symmetric_face.image)


def test_texture_blend_makes_the_texture_mirror_symmetric(normalizer_params, blemished_face):
    import cv2

    params = dict(normalizer_params["symmetry"], texture_blend=0.5)
    out = create("symmetry", **params).normalize(blemished_face["rgb"], blemished_face["landmarks"])
    matrix = fit_midline(out.landmarks).reflection_matrix()
    mirrored = cv2.warpAffine(out.image, matrix, out.image.shape[1::-1], flags=cv2.INTER_LINEAR)
    inner = face_region_mask(out.landmarks, out.image.shape, feather_px=0) > 0.5
    inner = cv2.erode(inner.astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
    assert np.abs(out.image.astype(float) - mirrored)[inner].mean() < 4.0


def test_background_is_untouched(symmetry, drooping_face):
    out = symmetry.normalize(drooping_face["rgb"], drooping_face["landmarks"])
    # Far outside the face (top rows, left and right columns) not one pixel changes.
    for region in (np.s_[:40], np.s_[:, :40], np.s_[:, -40:]):
        np.testing.assert_array_equal(out.image[region], drooping_face["rgb"][region])


def test_texture_blend_is_validated(normalizer_params):
    with pytest.raises(ValueError, match="texture_blend"):
        create("symmetry", **dict(normalizer_params["symmetry"], texture_blend=0.8))
