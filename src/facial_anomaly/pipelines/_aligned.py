"""Reading the preprocess outputs back, shared by the stages that start from aligned faces."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from facial_anomaly.faces.background import unpack_face_and_mask
from facial_anomaly.faces.tables import landmarks_by_image


def ok_image_ids(face_geometry: pd.DataFrame, aligned_faces: dict[str, Callable]) -> list[str]:
    """Images of this run that were aligned (status ok) and whose aligned PNG exists, in order."""
    ok = face_geometry.loc[face_geometry["status"] == "ok", "image_id"]
    return [image_id for image_id in ok if image_id in aligned_faces]


def load_aligned(aligned_faces: dict[str, Callable], image_id: str) -> tuple[np.ndarray, np.ndarray]:
    """(RGB H×W×3 uint8, foreground mask H×W float32) of one aligned face."""
    return unpack_face_and_mask(aligned_faces[image_id]())


def iter_aligned(
    aligned_faces: dict[str, Callable], landmarks_table: pd.DataFrame, image_ids: list[str]
) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """(image_id, rgb, mask, landmarks) one face at a time (memory stays flat)."""
    landmarks = landmarks_by_image(landmarks_table[landmarks_table["image_id"].isin(image_ids)])
    for image_id in image_ids:
        rgb, mask = load_aligned(aligned_faces, image_id)
        yield image_id, rgb, mask, landmarks[image_id]
