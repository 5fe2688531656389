"""Preprocess node: the input folder → aligned faces (written by the workers), the report with
one row per file, the alignment and landmark tables. The science is in
:mod:`facial_anomaly.faces`, the per-image work in :mod:`facial_anomaly.batch.preprocess`."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from facial_anomaly.batch.preprocess import preprocess_folder, preprocess_tables
from facial_anomaly.datasets import InputListing
from facial_anomaly.faces.config import PreprocessConfig
from facial_anomaly.parallel import ExecutorConfig, JobStats
from facial_anomaly.storage.artifacts import ArtifactFolder

logger = logging.getLogger(__name__)


def preprocess_photos(
    photos: InputListing, aligned_faces: ArtifactFolder, preprocess: PreprocessConfig, executor: ExecutorConfig
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """(report: one row per file, ``ok`` or the rejection reason; alignment matrices;
    landmarks; summary). Aligned faces whose source bytes and settings are unchanged are
    reused, unless ``preprocess.force``."""
    stats = JobStats()
    geometry = preprocess_folder(photos.root, list(photos.entries), aligned_faces, preprocess, executor, stats)
    report, alignment, landmarks = preprocess_tables(geometry)
    summary = stage_summary(report, stats, preprocess)
    summary["input_root"] = photos.root
    if not len(report):
        logger.warning("the input folder %s holds no files", photos.root)
    elif summary["ok"] == 0:
        logger.warning("no usable face in %s: every file was rejected (see preprocess_report)", photos.root)
    logger.info("preprocess: %d files, %s (%d reused)", summary["files"], summary["status"], summary["reused"])
    return report, alignment, landmarks, summary


def stage_summary(report: pd.DataFrame, stats: JobStats, settings=None) -> dict[str, Any]:
    """Counts per status, reuse, timing, the executor that did the work and the settings used."""
    ok = report["status"] == "ok" if len(report) else pd.Series(dtype=bool)
    reused = report["reused"].fillna(False).astype(bool) if "reused" in report else pd.Series(False, index=report.index)
    return {
        "files": int(len(report)),
        "ok": int(ok.sum()),
        "rejected": int((~ok).sum()),
        "reused": int(reused.sum()),
        "status": {str(k): int(v) for k, v in report["status"].value_counts().items()} if len(report) else {},
        "seconds": round(stats.seconds, 3),
        "images_per_second": round(stats.items / stats.seconds, 3) if stats.seconds > 0 else None,
        "executor": stats.kind,
        "workers": stats.workers,
        "settings": settings.model_dump(mode="json") if settings is not None else {},
    }
