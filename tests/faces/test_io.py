import io

import numpy as np
import pytest
from PIL import Image

from facial_anomaly.faces.io import ImageRejected, decode_image, image_id_from_path, is_supported

LIMITS = {"max_pixels": 10_000_000, "min_side": 16}


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.fixture
def gradient() -> np.ndarray:
    y, x = np.mgrid[0:40, 0:60]
    return np.stack([x * 4, y * 6, (x + y) * 2], axis=2).astype(np.uint8)


def test_rgb_png_round_trips_exactly(gradient):
    decoded = decode_image(encode(Image.fromarray(gradient), "PNG"), **LIMITS)
    assert decoded.rgb.dtype == np.uint8 and decoded.rgb.shape == (40, 60, 3)
    np.testing.assert_array_equal(decoded.rgb, gradient)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "1"])
def test_every_pil_mode_becomes_rgb_uint8(gradient, mode):
    image = Image.fromarray(gradient).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    decoded = decode_image(encode(image, fmt), **LIMITS)
    assert decoded.rgb.shape == (40, 60, 3) and decoded.rgb.dtype == np.uint8
    assert decoded.source_mode == mode


def test_16_bit_grayscale_is_scaled_not_clipped():
    values = np.array([[0, 257 * 128, 65535] * 10] * 20, dtype=np.uint16)
    decoded = decode_image(encode(Image.fromarray(values), "PNG"), **LIMITS)
    np.testing.assert_array_equal(decoded.rgb[0, :3, 0], [0, 128, 255])
    assert (decoded.rgb[..., 0] == decoded.rgb[..., 2]).all()


def test_transparent_pixels_become_white(gradient):
    rgba = np.dstack([gradient, np.zeros(gradient.shape[:2], np.uint8)])
    decoded = decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"), **LIMITS)
    assert (decoded.rgb == 255).all()


def test_exif_orientation_is_applied(gradient):
    sideways = Image.fromarray(gradient).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    decoded = decode_image(encode(sideways, "JPEG", quality=100, exif=exif.tobytes()), **LIMITS)
    assert decoded.rgb.shape[:2] == gradient.shape[:2]
    assert decoded.exif_transposed
    # The corner colours come back where they were (within JPEG error).
    assert np.abs(decoded.rgb[-1, -1].astype(int) - gradient[-1, -1].astype(int)).max() < 12


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"", "empty_file"),
        (b"definitely not an image", "unreadable"),
    ],
)
def test_bad_bytes_are_rejected_with_reason(payload, reason):
    with pytest.raises(ImageRejected) as caught:
        decode_image(payload, **LIMITS)
    assert caught.value.reason == reason


def test_truncated_file_is_unreadable(gradient):
    whole = encode(Image.fromarray(gradient), "JPEG")
    with pytest.raises(ImageRejected) as caught:
        decode_image(whole[: len(whole) // 3], **LIMITS)
    assert caught.value.reason == "unreadable"


def test_decompression_bomb_is_refused_before_decoding():
    bomb = encode(Image.new("L", (5000, 5000)), "PNG")  # tiny file, 25 Mpx
    with pytest.raises(ImageRejected) as caught:
        decode_image(bomb, max_pixels=1_000_000, min_side=16)
    assert caught.value.reason == "too_large"
    assert "1000000" in caught.value.message


def test_tiny_image_is_too_small(gradient):
    with pytest.raises(ImageRejected) as caught:
        decode_image(encode(Image.fromarray(gradient), "PNG"), max_pixels=10**7, min_side=64)
    assert caught.value.reason == "too_small"


def test_image_ids_are_stable_safe_and_unique():
    first = image_id_from_path("sub folder/a b.JPG")
    assert first == image_id_from_path("sub folder/a b.JPG")
    assert "/" not in first and " " not in first
    assert first.startswith("sub_folder__a_b.JPG-")
    assert image_id_from_path("a b.jpg") != image_id_from_path("a_b.jpg")


@pytest.mark.parametrize(
    "name, ok", [("x.JPG", True), ("x.jpeg", True), ("x.webp", True), ("x.TIF", True), ("x.txt", False), ("x", False)]
)
def test_supported_extensions_any_case(name, ok):
    assert is_supported(name) is ok


def test_harmless_encodings_decode_to_the_same_pixels(gradient):
    """16-bit RGB and palette PNGs of an image decode to its 8-bit colours exactly; a
    greyscale PNG to PIL's luma in every channel (what ``luma_rgb`` computes)."""
    import cv2

    from facial_anomaly.faces.io import luma_rgb

    ok, sixteen = cv2.imencode(".png", cv2.cvtColor(gradient.astype(np.uint16) * 257, cv2.COLOR_RGB2BGR))
    assert ok
    np.testing.assert_array_equal(decode_image(sixteen.tobytes(), **LIMITS).rgb, gradient)
    palette = Image.fromarray(gradient).quantize(colors=256, dither=Image.Dither.NONE)
    np.testing.assert_array_equal(
        decode_image(encode(palette, "PNG"), **LIMITS).rgb, np.asarray(palette.convert("RGB"))
    )
    grey = decode_image(encode(Image.fromarray(gradient).convert("L"), "PNG"), **LIMITS).rgb
    np.testing.assert_array_equal(grey, luma_rgb(gradient))
