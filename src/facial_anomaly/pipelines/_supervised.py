"""Trained supervised models (``train_supervised``) as the scores and heatmaps stages use them."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from facial_anomaly.devices import resolve_device
from facial_anomaly.faces.tables import landmarks_by_image
from facial_anomaly.supervised import SupervisedModel, load_model

from ._aligned import load_aligned
from ._normalized import normalized_key

logger = logging.getLogger(__name__)

CHECKPOINT_SUFFIX = ".pt"


@dataclass
class TrainedModel:
    """A loaded checkpoint: the model (eval mode, on its device) and the SHA-1 of its bytes."""

    name: str
    model: SupervisedModel
    sha1: str

    @property
    def needs_normalized(self) -> bool:
        return any(spec.view == "normalized" for spec in self.model.view_specs)


def checkpoint_sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def load_trained_models(checkpoints: dict[str, Callable[[], bytes]], train_supervised: dict) -> dict[str, TrainedModel]:
    """The latest checkpoint of every model of ``train_supervised.models`` that has one
    (``<model>.pt`` partitions; none = an empty dict: nothing has been trained)."""
    device = resolve_device(train_supervised["device"])
    models = {}
    for name in train_supervised["models"]:
        key = f"{name}{CHECKPOINT_SUFFIX}"
        if key not in checkpoints:
            continue
        data = checkpoints[key]()
        models[name] = TrainedModel(name, load_model(data, device=device), checkpoint_sha1(data))
    missing = [name for name in train_supervised["models"] if name not in models]
    if models and missing:
        logger.warning(
            "no trained checkpoint for supervised models %s (run `kedro run --pipelines train_supervised`)", missing
        )
    return models


def supervised_face_ids(
    aligned_faces: dict[str, Callable],
    normalized_faces: dict[str, Callable],
    normalize_report: pd.DataFrame,
    normalizer: str,
    *,
    with_normalized: bool,
) -> list[str]:
    """Faces the normalize stage handled ``ok`` whose aligned PNG exists; with
    ``with_normalized``, only those whose ``normalizer`` output exists (the partner the
    models were trained with)."""
    ok = normalize_report[normalize_report["status"] == "ok"].drop_duplicates("image_id")
    image_ids = [i for i in ok["image_id"] if i in aligned_faces]
    if with_normalized:
        image_ids = [i for i in image_ids if normalized_key(normalizer, i) in normalized_faces]
    return image_ids


def load_supervised_input(
    image_id: str,
    aligned_faces: dict[str, Callable],
    normalized_faces: dict[str, Callable],
    normalizer: str,
    *,
    with_normalized: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(aligned RGB, normalized RGB or None) of one face."""
    original, _ = load_aligned(aligned_faces, image_id)
    return original, normalized_faces[normalized_key(normalizer, image_id)]() if with_normalized else None


def iter_supervised_batches(
    aligned_faces: dict[str, Callable],
    normalized_faces: dict[str, Callable],
    normalize_report: pd.DataFrame,
    landmarks: pd.DataFrame,
    normalizer: str,
    *,
    with_normalized: bool,
    batch_size: int,
) -> Iterator[tuple[list[str], list[np.ndarray], list[np.ndarray | None], list[np.ndarray]]]:
    """(image_ids, aligned faces, partners, landmarks) in batches of ``batch_size`` faces
    (see :func:`supervised_face_ids`), so memory stays flat however many faces there are."""
    image_ids = supervised_face_ids(
        aligned_faces, normalized_faces, normalize_report, normalizer, with_normalized=with_normalized
    )
    points = landmarks_by_image(landmarks[landmarks["image_id"].isin(set(image_ids))])
    for start in range(0, len(image_ids), batch_size):
        chosen = image_ids[start : start + batch_size]
        loaded = [
            load_supervised_input(i, aligned_faces, normalized_faces, normalizer, with_normalized=with_normalized)
            for i in chosen
        ]
        yield chosen, [face for face, _ in loaded], [partner for _, partner in loaded], [points[i] for i in chosen]
