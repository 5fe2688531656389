"""Normalize nodes: the chosen normalizers over the aligned faces (per-image work in
:mod:`facial_anomaly.batch.normalize`), and side-by-side sheets to look at."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from facial_anomaly.batch.inputs import InputProblem, read_aligned_face, read_checked_png
from facial_anomaly.batch.normalize import STAGE, normalize_faces, normalized_name
from facial_anomaly.batch.preprocess import STAGE as PREPROCESS
from facial_anomaly.batch.preprocess import aligned_name
from facial_anomaly.normalizers.config import NormalizeConfig
from facial_anomaly.normalizers.factory import missing_model_message, model_from_bytes
from facial_anomaly.normalizers.sheets import comparison_sheet
from facial_anomaly.parallel import ExecutorConfig, JobStats
from facial_anomaly.storage.artifacts import ArtifactFolder, Provenance, encode_png, stage_key
from facial_anomaly.storage.models import ModelStore, StoredModel

from ..preprocess.nodes import stage_summary

logger = logging.getLogger(__name__)


def load_models(models: ModelStore, names: list[str], users: dict[str, str]) -> dict[str, StoredModel]:
    """The latest version of each model in ``names``, validated (a wrong or corrupt file fails
    here, naming it, before any image is processed). ``users`` maps a model to the normalizer
    that needs it, for the message when it is missing."""
    loaded = {}
    for name in names:
        stored = models.latest(name)
        if stored is None:
            raise ValueError(missing_model_message(users.get(name, name), name))
        model_from_bytes(name, stored.data, source=stored.path)  # validate once, here
        loaded[name] = stored
    return loaded


def run_normalizers(
    preprocess_report: pd.DataFrame,
    aligned_faces: ArtifactFolder,
    normalized_faces: ArtifactFolder,
    models: ModelStore,
    normalize: NormalizeConfig,
    executor: ExecutorConfig,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(report: one row per (file, normalizer), summary). Normalized faces whose aligned face,
    settings and models are unchanged are reused."""
    from facial_anomaly.normalizers.config import REQUIRED_MODELS

    users = {model: name for name in normalize.names for model in REQUIRED_MODELS.get(name, ())}
    stored = load_models(models, normalize.required_models(), users)
    stats = JobStats()
    report = normalize_faces(preprocess_report, aligned_faces, normalized_faces, normalize, stored, executor, stats)
    summary = stage_summary(report, stats, normalize)
    summary["normalizers"] = normalize.names
    summary["models"] = {name: {"path": model.path, "sha1": model.sha1} for name, model in stored.items()}
    return report, summary


# Bump when the sheet's drawing changes, so a rerun draws the sheets again.
SHEET_VERSION = 1


def draw_comparison_sheets(
    normalize_report: pd.DataFrame,
    aligned_faces: ArtifactFolder,
    normalized_faces: ArtifactFolder,
    normalize_sheet_files: ArtifactFolder,
    normalize: NormalizeConfig,
) -> dict[str, bytes]:
    """One sheet per normalizer (PNG bytes): original | normalized | difference, for its first
    ``normalize.sheet_faces`` normalized faces, each row labelled with the image. A sheet
    already saved from the same faces and settings (its PNG record carries their key) is
    reused as it is."""
    sheets = {}
    done = normalize_report[normalize_report["status"] == "ok"]
    for name, rows in done.groupby("normalizer", sort=False):
        rows = rows.head(normalize.sheet_faces).to_dict("records")
        drawn_from = [(row["image"], row["source_sha1"], row["aligned_key"], row["params_hash"]) for row in rows]
        record = Provenance(f"{STAGE}_sheet:{name}", "", stage_key("sheet", SHEET_VERSION, name, drawn_from))
        if record.matches(normalize_sheet_files.intact_png_provenance(f"{name}.png")):
            sheets[name] = normalize_sheet_files.read(f"{name}.png")
            continue
        pairs, ids = [], []
        for row in rows:
            try:
                face = read_aligned_face(
                    aligned_faces,
                    aligned_name(row["image_id"]),
                    Provenance(PREPROCESS, row["source_sha1"], row["aligned_key"]),
                )
                normalized, _ = read_checked_png(
                    normalized_faces,
                    normalized_name(name, row["image_id"]),
                    Provenance(f"{STAGE}:{name}", row["source_sha1"], row["params_hash"]),
                    channels=3,
                )
            except InputProblem as problem:
                logger.warning("comparison sheet leaves out %s: %s", row["image_id"], problem)
                continue
            pairs.append((face.rgb, normalized))
            ids.append(row["image"])
        if pairs:
            complete = len(pairs) == len(rows)  # a sheet missing a face is drawn again next time
            sheets[name] = encode_png(comparison_sheet(pairs, image_ids=ids), record if complete else None)
    return sheets
