"""Reading a stage's inputs back from their artifact folders, checked against what the
stage expects: a file whose provenance differs (another photo, other settings, a file put
there by hand) is never used; the image gets the status ``stale_input`` instead."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..faces.alignment import transform_points
from ..faces.background import unpack_face_and_mask
from ..faces.landmarks import NUM_LANDMARKS
from ..storage.artifacts import ArtifactError, ArtifactFolder, Provenance, decode_png, png_provenance

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
    """(pixels, provenance) of PNG ``name`` if its provenance matches ``expected``.

    Raises:
        InputProblem: ``missing_input`` or ``stale_input``.
    """
    try:
        data = folder.read(name)
    except FileNotFoundError:
        raise InputProblem(MISSING_INPUT, f"{name} is missing from {folder.url}") from None
    stored = png_provenance(data)
    if not expected.matches(stored):
        raise InputProblem(
            STALE_INPUT,
            f"{name} in {folder.url} was not made from this photo with these settings "
            f"(expected {expected.stage} {expected.key} of source {expected.source_sha1[:12]})",
        )
    try:
        return decode_png(data, channels=channels), stored
    except ArtifactError as error:
        raise InputProblem(STALE_INPUT, f"{name}: {error}") from None


def matrix_of(record: dict) -> np.ndarray:
    return np.array([[record[f"m{r}{c}"] for c in range(3)] for r in range(2)], dtype=np.float64)


def read_aligned_face(folder: ArtifactFolder, name: str, expected: Provenance) -> AlignedFace:
    """The aligned face ``name`` with its landmarks (from the PNG's own record), checked.

    Raises:
        InputProblem: missing, stale, or without landmarks.
    """
    rgba, stored = read_checked_png(folder, name, expected, channels=4)
    record = stored.record
    flat = record.get("landmarks")
    if flat is None or len(flat) != NUM_LANDMARKS * 3:
        raise InputProblem(STALE_INPUT, f"{name} carries no landmarks")
    matrix = matrix_of(record)
    source_points = np.asarray(flat, dtype=np.float64).reshape(NUM_LANDMARKS, 3)
    rgb, mask = unpack_face_and_mask(rgba)
    return AlignedFace(rgb, mask, transform_points(source_points, matrix), matrix, record)
