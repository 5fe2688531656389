"""Fit the statistical models of normal faces on the aligned faces of this run."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pandas as pd

from facial_anomaly.faces.tables import landmarks_by_image
from facial_anomaly.heatmaps.config import HeatmapsConfig
from facial_anomaly.normalizers import AppearanceModel, ShapeModel
from facial_anomaly.normalizers.config import NormalizeConfig
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


def fit_padim_model(
    aligned_faces: dict[str, Callable], face_geometry: pd.DataFrame, landmarks: pd.DataFrame, params: dict
) -> tuple[bytes, dict]:
    """PaDiM (a Gaussian of EfficientNet-Lite0 features per location, shrunk covariances) of
    every aligned face of the run, as the ``.npz`` bytes the scoring run loads; its summary.
    ``params["padim"]``: :class:`~facial_anomaly.scoring.padim.PadimConfig` fields."""
    from facial_anomaly.scoring.model_files import model_file_bytes
    from facial_anomaly.scoring.padim import PadimConfig, PadimScorer

    config = PadimConfig.model_validate(params.get("padim") or {})
    image_ids = ok_image_ids(face_geometry, aligned_faces)
    if len(image_ids) < 2:
        raise ValueError(f"fit_normal_models needs at least 2 aligned normal faces, got {len(image_ids)}")
    shapes = landmarks_by_image(landmarks[landmarks["image_id"].isin(image_ids)])
    faces = (load_aligned(aligned_faces, image_id)[0][..., :3] for image_id in image_ids)
    model = PadimScorer.fit(
        faces, [shapes[image_id] for image_id in image_ids], config, training_data=_training_data(face_geometry)
    )
    data = model_file_bytes(model, "padim.npz")
    summary = {"faces": len(image_ids), "grid": config.grid, "channels": int(model.mean.shape[-1])}
    logger.info("PaDiM: %s", summary)
    return data, summary


def fit_normal_variation_maps(
    aligned_faces: dict[str, Callable],
    face_geometry: pd.DataFrame,
    landmarks: pd.DataFrame,
    params: dict,
    normalize: NormalizeConfig,
    heatmaps: HeatmapsConfig,
) -> tuple[bytes, dict]:
    """Normal-variation maps (per-cell centre and spread of the heat of normal faces) of every
    map of the heatmaps grid, for each normalizer of ``normalize`` that needs no fitted model
    (mirror and symmetry when it names none), as the ``.npz`` bytes the heatmaps stage loads;
    its summary. ``params["normal_variation"]``:
    :class:`~facial_anomaly.scoring.normal_variation.NormalVariationConfig` fields."""
    from facial_anomaly.normalizers.config import REQUIRED_MODELS
    from facial_anomaly.normalizers.factory import build_normalizer
    from facial_anomaly.scoring import variant_maps
    from facial_anomaly.scoring.model_files import model_file_bytes
    from facial_anomaly.scoring.normal_variation import NormalVariationConfig, NormalVariationFitter

    from ..heatmaps.nodes import available_grid

    config = NormalVariationConfig.model_validate(params.get("normal_variation") or {})
    names = [n for n in normalize.names if not REQUIRED_MODELS.get(n) and n != "stylegan2"] or ["mirror", "symmetry"]
    normalizers = {name: build_normalizer(name, normalize) for name in names}
    grid, _ = available_grid(heatmaps)
    settings = {key: value for key, value in heatmaps.scoring_options().items() if key != "region_params"}
    image_ids = ok_image_ids(face_geometry, aligned_faces)
    if len(image_ids) < 2:
        raise ValueError(f"fit_normal_models needs at least 2 aligned normal faces, got {len(image_ids)}")
    shapes = landmarks_by_image(landmarks[landmarks["image_id"].isin(image_ids)])
    fitter = NormalVariationFitter(config)
    for done, image_id in enumerate(image_ids, start=1):  # one face in memory at a time
        face = load_aligned(aligned_faces, image_id)[0][..., :3]
        for name, normalizer in normalizers.items():
            normalized = normalizer.normalize(face, shapes[image_id]).image
            fitter.add(name, variant_maps(face, normalized, shapes[image_id], grid=grid, **settings))
        if done % 50 == 0:
            logger.info("normal-variation maps: %d/%d faces", done, len(image_ids))
    model = fitter.finish(training_data=_training_data(face_geometry))
    data = model_file_bytes(model, "normal_variation.npz")
    summary = {"faces": len(image_ids), "normalizers": names, "maps": sorted(next(iter(model.maps.values())).names)}
    logger.info("normal-variation maps: %s", summary)
    return data, summary
