"""Reading the preprocess outputs back, shared by the stages that start from aligned faces."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from facial_anomaly.faces.background import unpack_face_and_mask


def ok_image_ids(face_geometry: pd.DataFrame, aligned_faces: dict[str, Callable]) -> list[str]:
    """Images of this run that were aligned (status ok) and whose aligned PNG exists, in order."""
    ok = face_geometry.loc[face_geometry["status"] == "ok", "image_id"]
    return [image_id for image_id in ok if image_id in aligned_faces]


def load_aligned(aligned_faces: dict[str, Callable], image_id: str) -> tuple[np.ndarray, np.ndarray]:
    """(RGB H×W×3 uint8, foreground mask H×W float32) of one aligned face."""
    return unpack_face_and_mask(aligned_faces[image_id]())
