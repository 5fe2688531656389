import numpy as np
import pytest
from skimage.color import rgb2ycbcr

from facial_anomaly.heatmaps import channel_ranges, rgb_to_ycbcr, to_color_space


def test_ycbcr_matches_scikit_image_on_a_real_photo(astronaut_rgb):
    ours = rgb_to_ycbcr(astronaut_rgb)
    assert ours.dtype == np.float32 and ours.shape == astronaut_rgb.shape
    np.testing.assert_allclose(ours, rgb2ycbcr(astronaut_rgb), rtol=0, atol=1e-4)


def test_ycbcr_of_primaries_follows_bt601():
    pixels = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0]]], dtype=np.uint8)
    np.testing.assert_allclose(
        rgb_to_ycbcr(pixels)[0],
        [[16, 128, 128], [235, 128, 128], [16 + 65.481, 128 - 37.797, 240]],
        atol=1e-4,
    )


def test_ycbcr_stays_in_the_documented_range():
    every_corner = np.array([[[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)]], dtype=np.uint8)
    low, high = channel_ranges("ycbcr")
    ycbcr = rgb_to_ycbcr(every_corner)
    assert (ycbcr >= low - 1e-3).all() and (ycbcr <= high + 1e-3).all()


def test_uint8_and_unit_float_inputs_agree():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (8, 9, 3), dtype=np.uint8)
    for space in ("rgb", "ycbcr"):
        np.testing.assert_allclose(to_color_space(image, space), to_color_space(image / 255.0, space), atol=1e-4)


def test_rgb_space_is_the_8_bit_scale():
    image = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    np.testing.assert_array_equal(to_color_space(image, "rgb"), image.astype(np.float32))


def test_unknown_space_is_a_clear_error():
    with pytest.raises(ValueError, match=r"unknown colour space 'lab'.*'rgb', 'ycbcr'"):
        to_color_space(np.zeros((2, 2, 3), np.uint8), "lab")


def test_non_rgb_shape_is_rejected():
    with pytest.raises(ValueError, match="H×W×3"):
        to_color_space(np.zeros((4, 4), np.uint8), "rgb")
