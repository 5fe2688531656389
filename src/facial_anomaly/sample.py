"""The embedded demo sample: a few clearly labelled inputs made from images scikit-image ships.

It lets ``kedro run`` work on a fresh clone and exercises every branch of the
preprocessing report: the astronaut portrait (a real, public-domain NASA photo) and
deterministic variants of it (mirror, roll, brightness, grayscale, transparency, 16-bit,
EXIF orientation, a space in a sub-folder name), plus inputs that must be rejected
with a reason (a photo without a face, a truncated file, a tiny image, a text file).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

_EXIF_ORIENTATION_TAG = 0x0112
_EXIF_ROTATE_90_CW = 6  # "rotate 90° clockwise to display upright"


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


# How the demo variants are made; fixed, so every clone writes the same sample.
SAMPLE_SETTINGS = {
    "rotation_degrees": 8,  # roll of the "rolled" variant
    "brightness_gain": 1.35,  # the "bright" variant
    "jpeg_quality": 92,
    "tiny_side": 32,  # below preprocess.decode.min_side → too_small
    "small_scale": 0.5,  # the small webp variant (eye distance ≈ 21 px → too_small)
}
DEFAULT_RAW_FOLDER = "data/01_raw"
SUBFOLDER = "embedded_sample"


def embedded_sample_files(params: dict | None = None) -> dict[str, bytes]:
    """Relative path → file bytes of every demo input (deterministic).

    ``params`` overrides entries of :data:`SAMPLE_SETTINGS` (``rotation_degrees``,
    ``brightness_gain``, ``jpeg_quality``, ``tiny_side``, ``small_scale``).
    """
    from skimage import data

    params = {**SAMPLE_SETTINGS, **(params or {})}

    astronaut = Image.fromarray(data.astronaut())
    quality = int(params["jpeg_quality"])
    files: dict[str, bytes] = {
        "demo_astronaut.png": _encode(astronaut, "PNG"),
        "demo_astronaut_mirrored.jpg": _encode(
            astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "JPEG", quality=quality
        ),
        "demo_astronaut_rolled.png": _encode(
            astronaut.rotate(
                float(params["rotation_degrees"]), resample=Image.Resampling.BICUBIC, fillcolor=(128, 128, 128)
            ),
            "PNG",
        ),
        "demo_astronaut_bright.jpg": _encode(
            Image.fromarray(
                np.clip(np.asarray(astronaut, dtype=np.float32) * float(params["brightness_gain"]), 0, 255).astype(
                    np.uint8
                )
            ),
            "JPEG",
            quality=quality,
        ),
        "demo_astronaut_gray.png": _encode(astronaut.convert("L"), "PNG"),
        "demo_astronaut_16bit.png": _encode(
            Image.fromarray((np.asarray(astronaut.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)), "PNG"
        ),
    }
    rgba = astronaut.convert("RGBA")
    rgba.putalpha(255)
    files["demo_astronaut_rgba.png"] = _encode(rgba, "PNG")
    # Pixels stored lying on their side, with the EXIF tag that stands them upright.
    sideways = astronaut.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[_EXIF_ORIENTATION_TAG] = _EXIF_ROTATE_90_CW
    files["demo_astronaut_exif_orientation.jpg"] = _encode(sideways, "JPEG", quality=quality, exif=exif.tobytes())
    small = astronaut.resize((round(astronaut.width * params["small_scale"]),) * 2, resample=Image.Resampling.LANCZOS)
    files["sub folder/demo astronaut small.webp"] = _encode(small, "WEBP", quality=quality)
    files["rejected/demo_no_face_coffee.jpg"] = _encode(Image.fromarray(data.coffee()), "JPEG", quality=quality)
    whole = files["demo_astronaut_mirrored.jpg"]
    files["rejected/demo_truncated.jpg"] = whole[: len(whole) // 3]
    files["rejected/demo_tiny.png"] = _encode(astronaut.resize((int(params["tiny_side"]),) * 2), "PNG")
    files["rejected/demo_notes.txt"] = b"Not an image: listed in the report as unsupported_format.\n"
    return files


def write_embedded_sample(folder: Path, params: dict | None = None) -> list[Path]:
    """Write the demo inputs under ``folder``; returns the written paths."""
    written = []
    for relative, payload in embedded_sample_files(params).items():
        path = Path(folder) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
        written.append(path)
    return written
