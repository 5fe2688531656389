"""Fit the statistical models of normal faces on the aligned faces of this run."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pandas as pd

from facial_anomaly.faces.tables import landmarks_by_image
from facial_anomaly.normalizers import AppearanceModel, ShapeModel
from facial_anomaly.provenance import training_data_fingerprint

from .._aligned import load_aligned, ok_image_ids

logger = logging.getLogger(__name__)


def _summary(model) -> dict:
    return {key: model.metadata[key] for key in ("faces", "components", "explained_variance")}


def _training_data(report: pd.DataFrame) -> str:
    ok = report[report["status"] == "ok"]
    return training_data_fingerprint(zip(ok["image_id"], ok["source_sha1"]))


def fit_shape_model(face_geometry: pd.DataFrame, landmarks: pd.DataFrame, params: dict) -> tuple[ShapeModel, dict]:
    """Procrustes + PCA shape model of every aligned face of the run (Cootes et al. 1995)."""
    ok = set(face_geometry.loc[face_geometry["status"] == "ok", "image_id"])
    shapes = [points for image_id, points in landmarks_by_image(landmarks[landmarks["image_id"].isin(ok)]).items()]
    if len(shapes) < 2:
        raise ValueError(
            f"fit_normal_models needs at least 2 aligned normal faces, got {len(shapes)}: "
            "point input_dir at a folder of normal face photos"
        )
    model = ShapeModel.fit(shapes, **params["shape_model"], training_data=_training_data(face_geometry))
    logger.info("shape model: %s", _summary(model))
    return model, _summary(model)


def fit_appearance_model(
    aligned_faces: dict[str, Callable], face_geometry: pd.DataFrame, landmarks: pd.DataFrame, params: dict
) -> tuple[AppearanceModel, dict]:
    """Shape-free texture PCA of every aligned face of the run (Cootes, Edwards & Taylor)."""
    image_ids = ok_image_ids(face_geometry, aligned_faces)
    if len(image_ids) < 2:
        raise ValueError(f"fit_normal_models needs at least 2 aligned normal faces, got {len(image_ids)}")
    shapes = landmarks_by_image(landmarks[landmarks["image_id"].isin(image_ids)])
    # Faces are read one at a time as the model samples them: memory does not grow with the set.
    faces = (load_aligned(aligned_faces, image_id)[0] for image_id in image_ids)
    model = AppearanceModel.fit(
        faces,
        [shapes[image_id] for image_id in image_ids],
        **params["appearance_model"],
        training_data=_training_data(face_geometry),
    )
    logger.info("appearance model: %s", _summary(model))
    return model, _summary(model)
