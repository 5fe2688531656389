import cv2
import numpy as np
import pytest

from facial_anomaly.faces.background import foreground_mask, warp_with_mirrored_background


def test_padding_beyond_the_photo_has_no_black_pixels():
    rng = np.random.default_rng(1)
    photo = rng.integers(60, 250, size=(120, 90, 3), dtype=np.uint8)
    # Scale up and push the photo to a corner: most of the crop lies beyond it.
    matrix = np.array([[2.0, 0.0, 300.0], [0.0, 2.0, 350.0]])
    crop, inside = warp_with_mirrored_background(photo, matrix, 512, blur_sigma=8.0, seam_sigma=2.0)
    assert crop.shape == (512, 512, 3)
    assert inside.min() == 0.0 and inside.max() == 1.0
    assert crop.min() >= 55  # mirrored photo content everywhere, never black
    assert not (crop.sum(axis=2) == 0).any()


def test_photo_interior_is_untouched_by_padding():
    photo = np.full((200, 200, 3), 100, np.uint8)
    photo[50:150, 50:150] = (200, 30, 30)
    matrix = np.array([[1.0, 0.0, 200.0], [0.0, 1.0, 200.0]])
    crop, inside = warp_with_mirrored_background(photo, matrix, 512, blur_sigma=8.0, seam_sigma=2.0)
    np.testing.assert_array_equal(crop[280:320, 280:320], photo[80:120, 80:120])


def test_padding_is_blurred_mirror_of_the_photo():
    photo = np.zeros((100, 100, 3), np.uint8)
    photo[:, :50] = 255  # left half white
    matrix = np.array([[1.0, 0.0, 100.0], [0.0, 1.0, 0.0]])  # photo sits at x 100..200
    crop, _ = warp_with_mirrored_background(photo, matrix, 300, blur_sigma=4.0, seam_sigma=1.0)
    # Just left of the photo the mirror shows its left (white) edge; far left, its right (dark) half.
    assert crop[50, 80].mean() > 200
    assert crop[50, 20].mean() < 60


def test_foreground_mask_covers_the_face(astronaut_aligned):
    mask = astronaut_aligned["mask"]
    assert mask.dtype == np.float32 and mask.min() >= 0.0 and mask.max() <= 1.0
    nose = astronaut_aligned["landmarks"][1, :2].astype(int)
    assert mask[nose[1], nose[0]] > 0.9
    assert mask[5, 5] < 0.5  # top-left corner is background


def test_foreground_mask_is_feathered(astronaut_aligned):
    sharp = foreground_mask(astronaut_aligned["rgb"], model_selection=0, feather_sigma=0.0)
    soft = foreground_mask(astronaut_aligned["rgb"], model_selection=0, feather_sigma=6.0)
    edge = cv2.Laplacian(sharp, cv2.CV_32F)
    assert np.abs(cv2.Laplacian(soft, cv2.CV_32F)).max() < np.abs(edge).max()


def test_face_and_mask_pack_round_trip():
    from facial_anomaly.faces.background import pack_face_and_mask, unpack_face_and_mask

    rgb = np.random.default_rng(2).integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    mask = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    face, back = unpack_face_and_mask(pack_face_and_mask(rgb, mask))
    np.testing.assert_array_equal(face, rgb)
    np.testing.assert_allclose(back, mask, atol=0.5 / 255 + 1e-6)
    import pytest

    with pytest.raises(ValueError, match="differ in size"):
        pack_face_and_mask(rgb, mask[:4])


def _reference_padding(rgb, matrix, size, blur_sigma, seam_sigma):
    """The padding computed in full: a plane of ones warped like the photo says what is photo."""
    mirrored = cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    ones = np.ones(rgb.shape[:2], np.float32)
    inside = cv2.warpAffine(ones, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    if inside.min() >= 1.0:
        return mirrored, inside
    blurred = cv2.GaussianBlur(mirrored, (0, 0), sigmaX=blur_sigma, borderType=cv2.BORDER_REFLECT)
    weight = (cv2.GaussianBlur(inside, (0, 0), sigmaX=seam_sigma) * inside)[..., None]
    crop = weight * mirrored.astype(np.float32) + (1.0 - weight) * blurred.astype(np.float32)
    return np.clip(np.round(crop), 0, 255).astype(np.uint8), inside


@pytest.mark.parametrize("offset", [0.0, 0.5, 1.0, 1.02, 3.0, 40.0])
def test_a_crop_inside_the_photo_skips_the_padding_with_identical_results(offset):
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (300, 260, 3), dtype=np.uint8)
    # A 128 px crop whose top-left corner samples the photo at (offset, offset), scale 1.5.
    matrix = np.array([[1 / 1.5, 0.0, -offset / 1.5], [0.0, 1 / 1.5, -offset / 1.5]])
    crop, inside = warp_with_mirrored_background(rgb, matrix, 128, blur_sigma=6.0, seam_sigma=2.0)
    expected_crop, expected_inside = _reference_padding(rgb, matrix, 128, 6.0, 2.0)
    assert np.array_equal(crop, expected_crop) and np.array_equal(inside, expected_inside)
