"""Reading a stage's inputs back from their artifact folders, checked against what the
stage expects: a file whose provenance differs (another photo, other settings, a file put
there by hand) is never used; the image gets the status ``stale_input`` instead."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..faces.alignment import transform_points
from ..faces.background import unpack_face_and_mask
from ..faces.landmarks import NUM_LANDMARKS
from ..storage.artifacts import (
    ArtifactError,
    ArtifactFolder,
    Provenance,
    decode_npz,
    decode_own_png,
    decode_png,
    png_pixels_as,
    png_provenance,
    recall,
    remember,
)

STALE_INPUT = "stale_input"
MISSING_INPUT = "missing_input"


class InputProblem(Exception):
    """An input artifact that is missing or is not the one the stage expects."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class AlignedFace:
    """An aligned face read back: RGB (H×W×3 uint8), foreground mask (H×W float32 in [0, 1]),
    landmarks in its pixels ((478, 3) float64), the 2×3 alignment matrix, and its record."""

    rgb: np.ndarray
    mask: np.ndarray
    landmarks: np.ndarray
    matrix: np.ndarray
    record: dict


def read_checked_png(folder: ArtifactFolder, name: str, expected: Provenance, *, channels: int):
    """(pixels, provenance) of PNG ``name`` if its provenance matches ``expected``; the pixels
    come from this process's memory when an earlier stage wrote or read the same file.

    Raises:
        InputProblem: ``missing_input`` or ``stale_input``.
    """
    pixels, stored, data = _read_stored(folder, name, expected)
    if pixels is None:  # a PNG this project did not write: OpenCV reads it
        return _decode(name, data, channels), stored
    # Arrays kept in memory are read-only: the caller gets a copy.
    converted = png_pixels_as(pixels, channels, copy=not pixels.flags.writeable)
    if converted is None:  # colour read as grey: libpng's weights, from the file
        return _decode(name, data if data is not None else folder.read(name), channels), stored
    return converted, stored


def _read_stored(folder: ArtifactFolder, name: str, expected: Provenance):
    """(pixels as stored — read-only when kept in memory —, provenance, the file's bytes when
    read) of a checked PNG; pixels None for a PNG another program wrote."""
    key = folder.memory_key(name)
    kept = recall(key)
    if kept is not None:
        stored, pixels = kept
        _check(folder, name, expected, stored)
        return pixels, stored, None
    try:
        data = folder.read(name)
    except FileNotFoundError:
        raise InputProblem(MISSING_INPUT, f"{name} is missing from {folder.url}") from None
    stored = png_provenance(data)
    _check(folder, name, expected, stored)
    try:
        pixels = decode_own_png(data)
    except ArtifactError as error:
        raise InputProblem(STALE_INPUT, f"{name}: {error}") from None
    if pixels is not None:
        remember(key, (stored, pixels))
    return pixels, stored, data


def _decode(name: str, data: bytes, channels: int) -> np.ndarray:
    try:
        return decode_png(data, channels=channels)
    except ArtifactError as error:
        raise InputProblem(STALE_INPUT, f"{name}: {error}") from None


def read_checked_npz(folder: ArtifactFolder, name: str, expected: Provenance, names: tuple[str, ...]):
    """(arrays, provenance) of the ``.npz`` ``name`` — the members in ``names`` — if its provenance
    matches ``expected``; from this process's memory when an earlier stage wrote the file.

    Raises:
        InputProblem: ``missing_input`` (absent or unreadable, or without one of ``names``)
            or ``stale_input``.
    """
    kept = recall(folder.memory_key(name))
    if kept is not None and all(member in kept[1] for member in names):
        stored, arrays = kept
    else:
        try:
            arrays, stored = decode_npz(folder.read(name), names=names)
        except (FileNotFoundError, ArtifactError) as error:
            raise InputProblem(MISSING_INPUT, f"{name} in {folder.url}: {error}") from None
        if any(member not in arrays for member in names):
            raise InputProblem(MISSING_INPUT, f"{name} in {folder.url} holds no {', '.join(names)}")
    _check(folder, name, expected, stored)
    return {member: np.array(arrays[member]) for member in names}, stored


def _check(folder: ArtifactFolder, name: str, expected: Provenance, stored: Provenance | None) -> None:
    if not expected.matches(stored):
        raise InputProblem(
            STALE_INPUT,
            f"{name} in {folder.url} was not made from this photo with these settings "
            f"(expected {expected.stage} {expected.key} of source {expected.source_sha1[:12]})",
        )


def matrix_of(record: dict) -> np.ndarray:
    return np.array([[record[f"m{r}{c}"] for c in range(3)] for r in range(2)], dtype=np.float64)


def read_aligned_face(folder: ArtifactFolder, name: str, expected: Provenance) -> AlignedFace:
    """The aligned face ``name`` with its landmarks (from the PNG's own record), checked.

    Raises:
        InputProblem: missing, stale, or without landmarks.
    """
    pixels, stored, data = _read_stored(folder, name, expected)
    if pixels is None:
        rgba = _decode(name, data, 4)
    else:  # unpacked into new arrays below
        rgba = pixels if pixels.shape[2] in (3, 4) else png_pixels_as(pixels, 4)
    record = stored.record
    flat = record.get("landmarks")
    if flat is None or len(flat) != NUM_LANDMARKS * 3:
        raise InputProblem(STALE_INPUT, f"{name} carries no landmarks")
    matrix = matrix_of(record)
    source_points = np.asarray(flat, dtype=np.float64).reshape(NUM_LANDMARKS, 3)
    rgb, mask = unpack_face_and_mask(rgba)
    return AlignedFace(rgb, mask, transform_points(source_points, matrix), matrix, record)
