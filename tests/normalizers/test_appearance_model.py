"""Appearance (texture) model: a painted blemish is removed, normal skin is kept."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facial_anomaly.normalizers import AppearanceModel, create
from facial_anomaly.normalizers.geometry import face_region_mask


@pytest.fixture(scope="module")
def normalizer(normalizer_params, appearance_model):
    return create("appearance_model", model=appearance_model, **normalizer_params["appearance_model"])


def _face(landmarks, shape) -> np.ndarray:
    return face_region_mask(landmarks, shape, feather_px=0) > 0.5


def test_blemish_is_removed(normalizer, blemished_face):
    face, disc = blemished_face["rgb"], blemished_face["disc"]
    out = normalizer.normalize(face, blemished_face["landmarks"])
    residual = np.abs(out.image.astype(float) - face).sum(axis=2)
    elsewhere = _face(blemished_face["landmarks"], face.shape) & ~disc
    assert residual[disc].mean() > 20 * residual[elsewhere].mean()
    # Most of the blemish's difference from the clean face is gone.
    blemish = np.abs(face.astype(float) - blemished_face["clean"]).sum(axis=2)[disc].mean()
    left = np.abs(out.image.astype(float) - blemished_face["clean"]).sum(axis=2)[disc].mean()
    assert left < 0.3 * blemish
    # The robust fit distrusts the blemish.
    assert out.confidence[disc].mean() < 0.2 < 0.8 < out.confidence[elsewhere].mean()


def test_normal_face_and_background_barely_change(normalizer, symmetric_astronaut):
    rgb, landmarks = symmetric_astronaut["rgb"], symmetric_astronaut["landmarks"]
    out = normalizer.normalize(rgb, landmarks)
    face = _face(landmarks, rgb.shape)
    assert np.abs(out.image.astype(float) - rgb).sum(axis=2)[face].mean() < 6.0
    np.testing.assert_array_equal(out.image[~face], rgb[~face])


def test_masked_pixels_are_not_used(normalizer, blemished_face):
    frame = normalizer.frame(blemished_face["rgb"], blemished_face["landmarks"])
    fit = normalizer.fit_texture(frame, blemished_face["disc"].astype(np.float32))
    weights = fit.weight_image()
    # Sampled at the working resolution: exact zeros inside, blurred at the disc's rim.
    inner = cv2.erode(blemished_face["disc"].astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert weights[inner].max() == 0.0
    assert weights[blemished_face["disc"]].mean() < 0.15


def test_save_load_round_trip(tmp_path, appearance_model, normalizer_params, blemished_face):
    path = tmp_path / "appearance_model.npz"
    appearance_model.save(path)
    loaded = AppearanceModel.load(path)
    assert loaded.metadata == appearance_model.metadata
    params = normalizer_params["appearance_model"]
    before = create("appearance_model", model=appearance_model, **params).normalize(
        blemished_face["rgb"], blemished_face["landmarks"]
    )
    after = create("appearance_model", model=loaded, **params).normalize(
        blemished_face["rgb"], blemished_face["landmarks"]
    )
    np.testing.assert_array_equal(after.image, before.image)
    np.testing.assert_array_equal(after.confidence, before.confidence)


def test_fit_reads_faces_lazily(reference_set, model_params, appearance_model):
    faces = (face for face in reference_set["faces"])  # a generator, read once
    lazily = AppearanceModel.fit(faces, reference_set["landmarks"], **model_params["appearance_model"])
    np.testing.assert_array_equal(lazily.components, appearance_model.components)
    with pytest.raises(ValueError):
        AppearanceModel.fit(
            reference_set["faces"][:3], reference_set["landmarks"][:4], **model_params["appearance_model"]
        )


def test_faces_of_different_sizes_are_refused(reference_set, model_params):
    faces = list(reference_set["faces"][:2])
    faces[1] = faces[1][:500]
    with pytest.raises(ValueError, match="one size"):
        AppearanceModel.fit(faces, reference_set["landmarks"][:2], **model_params["appearance_model"])
