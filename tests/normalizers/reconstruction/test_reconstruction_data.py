"""The data path: crop box, face ↔ tensor conversion, and pasting a reconstruction back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facial_anomaly.normalizers.reconstruction.data import (
    CropSpec,
    PasteSpec,
    crop_face,
    faces_to_tensor,
    feather_weights,
    paste_reconstruction,
    tensor_to_images,
)

CROP = CropSpec(center_x=0.5, center_y=0.55, size=0.75)
HARD = PasteSpec(feather=0.0, detail_transfer=False)


def random_face(size: int = 128, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_crop_box_in_pixels_and_outside_image():
    assert CROP.box(512, 512) == (64, 90, 384)
    assert CropSpec(0.5, 0.5, 1.0).box(100, 100) == (0, 0, 100)
    with pytest.raises(ValueError, match="outside"):
        CropSpec(0.5, 0.9, 0.75).box(512, 512)
    with pytest.raises(ValueError, match="exactly the keys"):
        CropSpec.from_dict({"center_x": 0.5, "center_y": 0.5})
    with pytest.raises(ValueError, match="size"):
        CropSpec.from_dict({"center_x": 0.5, "center_y": 0.5, "size": 1.5})


def test_faces_to_tensor_shape_range_and_round_trip():
    face = random_face()
    tensor = faces_to_tensor([face, face], CropSpec(0.5, 0.5, 0.5), 64)
    assert tensor.shape == (2, 3, 64, 64) and tensor.dtype == torch.float32
    assert tensor.min() >= -1.0 and tensor.max() <= 1.0
    # 64 px box at 64 px: no resampling, so the round trip is exact.
    back = tensor_to_images(tensor)
    assert back.dtype == np.uint8 and back.shape == (2, 64, 64, 3)
    np.testing.assert_array_equal(back[0], face[32:96, 32:96])
    np.testing.assert_array_equal(crop_face(face, CropSpec(0.5, 0.5, 0.5), 64), face[32:96, 32:96])


def test_tensor_to_images_handles_non_finite_and_out_of_range():
    tensor = torch.tensor([float("nan"), float("inf"), -float("inf"), 3.0]).reshape(1, 1, 2, 2).repeat(1, 3, 1, 1)
    image = tensor_to_images(tensor)[0]
    assert image[0, 0, 0] == 128 and image[0, 1, 0] == 255 and image[1, 0, 0] == 0 and image[1, 1, 0] == 255


@pytest.mark.parametrize(
    "bad", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8)]
)
def test_faces_to_tensor_rejects_non_rgb_uint8(bad):
    with pytest.raises(ValueError, match="uint8"):
        faces_to_tensor([bad], CropSpec(0.5, 0.5, 1.0), 16)


def test_feather_weights_ramp_from_edge_to_interior():
    weights = feather_weights(40, 8.0)
    assert weights.shape == (40, 40)
    assert weights[20, 20] == 1.0 and weights[0, 0] < 0.01 and weights[0, 20] < 0.05
    assert np.all(np.diff(weights[20, :20]) >= 0)
    np.testing.assert_array_equal(feather_weights(10, 0.0), np.ones((10, 10), np.float32))


def test_paste_keeps_outside_and_puts_upsampled_reconstruction_inside():
    face = random_face(128)
    grey = np.full((16, 16, 3), 77, np.uint8)
    out = paste_reconstruction(face, grey, CROP, HARD)
    x0, y0, side = CROP.box(128, 128)
    inside = np.zeros((128, 128), bool)
    inside[y0 : y0 + side, x0 : x0 + side] = True
    np.testing.assert_array_equal(out[~inside], face[~inside])
    assert np.all(out[inside] == 77)
    feathered = paste_reconstruction(face, grey, CROP, PasteSpec(feather=0.2, detail_transfer=False))
    np.testing.assert_array_equal(feathered[~inside], face[~inside])
    assert np.all(feathered[y0 + side // 2, x0 + side // 2] == 77)
    edge = feathered[y0, x0 + side // 2].astype(int)
    assert np.abs(edge - face[y0, x0 + side // 2]).max() <= 10  # the seam starts at the face


def test_detail_transfer_of_a_perfect_low_resolution_reconstruction_gives_the_face_back():
    face = random_face(128, seed=3)
    low = crop_face(face, CROP, 32)  # what a perfect 32 px model would output
    out = paste_reconstruction(face, low, CROP, PasteSpec(feather=0.1, detail_transfer=True))
    assert np.abs(out.astype(int) - face).max() <= 1
    blurred = paste_reconstruction(face, low, CROP, PasteSpec(feather=0.1, detail_transfer=False))
    assert np.abs(blurred.astype(int) - face).mean() > 10


def test_paste_spec_checks_keys_and_values():
    assert PasteSpec.from_dict({"feather": 0.1, "detail_transfer": True}) == PasteSpec(0.1, True)
    with pytest.raises(ValueError, match="exactly the keys"):
        PasteSpec.from_dict({"feather": 0.1})
    with pytest.raises(ValueError, match="true or false"):
        PasteSpec.from_dict({"feather": 0.1, "detail_transfer": "yes"})
