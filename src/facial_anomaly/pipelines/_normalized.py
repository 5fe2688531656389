"""Pairs of (aligned face, normalized face) of this run, shared by heatmaps and scores."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from facial_anomaly.faces.tables import landmarks_by_image

from ._aligned import load_aligned


def normalized_key(normalizer: str, image_id: str) -> str:
    """Partition id of a normalized face (and of everything derived from it)."""
    return f"{normalizer}/{image_id}"


def normalized_rows(normalize_report: pd.DataFrame, normalized_faces: dict[str, Callable]) -> pd.DataFrame:
    """Report rows whose normalized face exists: the (normalizer, image) pairs to compare."""
    ok = normalize_report[normalize_report["status"] == "ok"]
    present = [normalized_key(n, i) in normalized_faces for n, i in zip(ok["normalizer"], ok["image_id"])]
    return ok[present]


def iter_pairs(
    aligned_faces: dict[str, Callable],
    normalized_faces: dict[str, Callable],
    normalize_report: pd.DataFrame,
    landmarks: pd.DataFrame,
) -> Iterator[tuple[str, str, np.ndarray, np.ndarray, np.ndarray]]:
    """(normalizer, image_id, original RGB, normalized RGB, landmarks), one pair at a time."""
    rows = normalized_rows(normalize_report, normalized_faces)
    points = landmarks_by_image(landmarks[landmarks["image_id"].isin(set(rows["image_id"]))])
    for normalizer, image_id in zip(rows["normalizer"], rows["image_id"]):
        original, _ = load_aligned(aligned_faces, image_id)
        yield normalizer, image_id, original, normalized_faces[normalized_key(normalizer, image_id)](), points[image_id]
