"""The artifact codecs: PNGs written with the ``Up`` filter and read back with zlib and numpy,
readable by other PNG readers, damaged files refused; ``.npz`` at a chosen zlib level, read
member by member."""

from __future__ import annotations

import io
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from facial_anomaly.storage.artifacts import (
    ArtifactError,
    Provenance,
    decode_npz,
    decode_png,
    encode_npz,
    encode_png,
    png_intact,
    png_provenance,
)


def _image(shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Smooth gradients plus noise: rows that differ, so the Up filter has work to do.
    base = np.add.outer(np.arange(shape[0]), np.arange(shape[1])).astype(np.int64)
    if len(shape) == 3:
        base = base[..., None] * np.arange(1, shape[2] + 1)
    return ((base + rng.integers(0, 40, size=shape)) % 256).astype(np.uint8)


def _opencv_read(data: bytes, channels: int) -> np.ndarray:
    flag = {1: cv2.IMREAD_GRAYSCALE, 3: cv2.IMREAD_COLOR, 4: cv2.IMREAD_UNCHANGED}[channels]
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if channels == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if channels == 4:
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGRA)
        elif image.shape[2] == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return image


@pytest.mark.parametrize("compression", [0, 1, 6])
@pytest.mark.parametrize("shape", [(37, 53), (37, 53, 3), (37, 53, 4), (1, 1, 3), (512, 512, 4)])
def test_png_round_trip_is_exact_and_other_readers_agree(shape, compression):
    image = _image(shape)
    data = encode_png(image, Provenance("stage", "a" * 40, "key", {"n": 1}), compression=compression)
    channels = 1 if len(shape) == 2 else shape[2]
    assert np.array_equal(decode_png(data, channels=channels), image)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), image)
    assert np.array_equal(_opencv_read(data, channels), image)
    assert png_intact(data)
    assert png_provenance(data[:200], io.BytesIO(data[200:]).read).record == {"n": 1}


@pytest.mark.parametrize("stored", [1, 3, 4])
@pytest.mark.parametrize("wanted", [1, 3, 4])
def test_png_channel_conversions_equal_opencvs(stored, wanted):
    image = _image((21, 34) if stored == 1 else (21, 34, stored), seed=stored)
    data = encode_png(image)
    assert np.array_equal(decode_png(data, channels=wanted), _opencv_read(data, wanted))


def test_a_png_from_another_writer_is_read_by_opencv():
    image = _image((40, 30, 3), seed=3)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    assert np.array_equal(decode_png(encoded.tobytes(), channels=3), image)


def test_the_png_rows_use_the_up_filter_and_its_size_is_that_of_opencvs():
    image = _image((64, 64, 3), seed=4)
    data = encode_png(image)
    start = data.index(b"IDAT") + 4
    length = int.from_bytes(data[start - 8 : start - 4], "big")
    rows = np.frombuffer(zlib.decompress(data[start : start + length]), np.uint8).reshape(64, 64 * 3 + 1)
    assert set(rows[:, 0]) == {2}
    ok, opencv = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    assert 0.8 < len(data) / len(opencv.tobytes()) < 1.2


def test_damaged_and_truncated_pngs_are_refused():
    data = encode_png(_image((32, 32, 3)))
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01  # inside IDAT
    for damaged in (bytes(flipped), data[:-20], data[: len(data) // 2], b"\x89PNG\r\n\x1a\n"):
        with pytest.raises(ArtifactError):
            decode_png(damaged, channels=3)
    with pytest.raises(ArtifactError):
        decode_png(b"not a png", channels=3)


def test_encode_png_refuses_what_is_not_an_8_bit_image():
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="H×W"):
        encode_png(np.zeros((4, 4, 2), np.uint8))


def test_npz_round_trip_members_and_level():
    heat = np.abs(np.random.default_rng(1).normal(size=(64, 64))).astype(np.float32)
    heat[:32] = 0
    provenance = Provenance("heatmaps:symmetry", "b" * 40, "k", {"score": 1.5})
    data = encode_npz({"heat": heat, "note": np.array("{}")}, provenance)
    arrays, stored = decode_npz(data)
    assert np.array_equal(arrays["heat"], heat) and str(arrays["note"]) == "{}"
    assert stored == provenance
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:  # a plain .npz
        assert np.array_equal(archive["heat"], heat)
    only, stored = decode_npz(data, names=("note",))
    assert set(only) == {"note"} and stored == provenance
    assert len(encode_npz({"heat": heat}, compression=9)) <= len(encode_npz({"heat": heat}, compression=1))
    stored = encode_npz({"heat": heat}, provenance, compression=0)
    assert len(stored) > heat.nbytes and np.array_equal(decode_npz(stored)[0]["heat"], heat)
    with pytest.raises(ArtifactError):
        decode_npz(data[: len(data) // 2])


def test_npz_integrity_check_catches_truncation_and_bit_flips():
    import struct
    import zipfile

    from facial_anomaly.storage.artifacts import npz_intact

    data = encode_npz({"heat": np.linspace(0, 1, 4096, dtype=np.float32).reshape(64, 64)}, Provenance("s", "a", "k"))
    assert npz_intact(data)
    for cut in (1, 20, len(data) // 2):
        assert not npz_intact(data[:-cut])
    for position in (40, len(data) // 2, len(data) - 30):
        flipped = bytearray(data)
        flipped[position] ^= 0x01
        assert not npz_intact(bytes(flipped))
    # A file written without the checksum (numpy's own) is checked member by member.
    buffer = io.BytesIO()
    np.savez_compressed(buffer, heat=np.ones((8, 8)))
    assert npz_intact(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        member = archive.getinfo("heat.npy")
    damaged = bytearray(buffer.getvalue())
    name_length, extra_length = struct.unpack("<HH", damaged[member.header_offset + 26 : member.header_offset + 30])
    start = member.header_offset + 30 + name_length + extra_length  # the member's compressed bytes
    damaged[start + member.compress_size // 2] ^= 0xFF
    assert not npz_intact(bytes(damaged))
