"""Tables of face geometry: long landmark tables and alignment matrices, and back to arrays.

The landmark table is long (one row per image and landmark: ``image_id, landmark, x, y,
z, x_source, y_source``) so it can be queried with any table tool; ``landmarks_by_image``
turns it back into ``(478, 3)`` arrays for the library functions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .alignment import transform_points
from .landmarks import NUM_LANDMARKS

MATRIX_COLUMNS = ["m00", "m01", "m02", "m10", "m11", "m12"]
ALIGNMENT_COLUMNS = [
    "image_id",
    "image",
    *MATRIX_COLUMNS,
    "scale",
    "roll_degrees",
    "eye_distance_source_px",
    "detection_confidence",
    "face_count",
    "detector",
    "width",
    "height",
]
LANDMARK_COLUMNS = ["image_id", "landmark", "x", "y", "z", "x_source", "y_source"]


def _ok_rows(geometry: pd.DataFrame) -> pd.DataFrame:
    return geometry[geometry["status"] == "ok"] if "status" in geometry else geometry.iloc[0:0]


def matrix_from_row(row) -> np.ndarray:
    """The 2×3 alignment matrix stored in a table row's ``m00..m12`` columns."""
    return np.array([row[name] for name in MATRIX_COLUMNS], dtype=np.float64).reshape(2, 3)


def geometry_to_alignment_table(geometry: pd.DataFrame) -> pd.DataFrame:
    """One row per aligned face: source→crop matrix and the numbers behind it."""
    return _ok_rows(geometry).reindex(columns=ALIGNMENT_COLUMNS).reset_index(drop=True)


def geometry_to_landmark_table(geometry: pd.DataFrame) -> pd.DataFrame:
    """Long table of the 478 landmarks of every aligned face, in crop and source pixels."""
    frames = []
    for row in _ok_rows(geometry).to_dict("records"):
        source = np.asarray(row["landmarks"], dtype=np.float64).reshape(NUM_LANDMARKS, 3)
        aligned = transform_points(source, matrix_from_row(row))
        frames.append(
            pd.DataFrame(
                {
                    "image_id": row["image_id"],
                    "landmark": np.arange(NUM_LANDMARKS, dtype=np.int32),
                    "x": aligned[:, 0].astype(np.float32),
                    "y": aligned[:, 1].astype(np.float32),
                    "z": aligned[:, 2].astype(np.float32),
                    "x_source": source[:, 0].astype(np.float32),
                    "y_source": source[:, 1].astype(np.float32),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=LANDMARK_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def landmarks_by_image(table: pd.DataFrame, *, coordinates: str = "aligned") -> dict[str, np.ndarray]:
    """``image_id`` → ``(478, 3)`` float64 landmarks from a long landmark table.

    Args:
        coordinates: ``aligned`` (x, y, z in crop pixels) or ``source`` (x, y in the
            original photo; z as aligned).

    Raises:
        ValueError: when an image does not have exactly 478 landmarks.
    """
    columns = {"aligned": ["x", "y", "z"], "source": ["x_source", "y_source", "z"]}[coordinates]
    result = {}
    for image_id, group in table.groupby("image_id", sort=False):
        ordered = group.sort_values("landmark")
        if len(ordered) != NUM_LANDMARKS:
            raise ValueError(f"{image_id}: expected {NUM_LANDMARKS} landmarks, found {len(ordered)}")
        result[str(image_id)] = ordered[columns].to_numpy(dtype=np.float64)
    return result
