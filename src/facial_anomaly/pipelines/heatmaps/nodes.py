"""Heatmaps node: every variant of the grid and the saved heat map for each normalized face
(per-image work in :mod:`facial_anomaly.batch.heatmaps`)."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from facial_anomaly.batch.gallery import GalleryFolders
from facial_anomaly.batch.heatmaps import compute_heatmaps
from facial_anomaly.heatmaps import HeatmapKindUnavailable, ensure_kind_available
from facial_anomaly.heatmaps.config import HeatmapsConfig
from facial_anomaly.parallel import ExecutorConfig, JobStats
from facial_anomaly.scoring.scores import parse_variant_name
from facial_anomaly.storage.models import ModelStore

from ..preprocess.nodes import stage_summary

logger = logging.getLogger(__name__)


def available_grid(heatmaps: HeatmapsConfig) -> tuple[dict, dict[str, str]]:
    """The variant grid without the kinds that cannot run here, and why they cannot."""
    grid = heatmaps.grid.model_dump()
    unavailable = {}
    for kind in list(grid["kinds"]):
        try:
            ensure_kind_available(kind, kind_options=heatmaps.kind_options.model_dump())
        except HeatmapKindUnavailable as error:
            unavailable[kind] = str(error)
            logger.warning("heatmap kind %r left out of the scoring grid: %s", kind, error)
    grid["kinds"] = [kind for kind in grid["kinds"] if kind not in unavailable]
    grid["variants"] = [name for name in grid["variants"] if parse_variant_name(name).kind not in unavailable]
    return grid, unavailable


def run_heatmaps(
    normalize_report: pd.DataFrame,
    run_artifacts: GalleryFolders,
    models: ModelStore,
    heatmaps: HeatmapsConfig,
    executor: ExecutorConfig,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(report: one row per (file, normalizer) with a column per variant, summary). The
    aligned and normalized faces are read from, and the heat maps written to, the run's
    artifact folders; normal-variation maps in ``models_dir`` add the z-scored summaries."""
    grid, unavailable = available_grid(heatmaps)
    stored = models.latest("normal_variation") if heatmaps.normal_variation else None
    stats = JobStats()
    report = compute_heatmaps(
        normalize_report,
        run_artifacts.aligned,
        run_artifacts.normalized,
        run_artifacts.heatmaps,
        heatmaps,
        grid,
        executor,
        stats,
        normal_variation=stored.data if stored is not None else None,
    )
    summary = stage_summary(report, stats, heatmaps)
    summary["unavailable_kinds"] = unavailable
    summary["normal_variation"] = {"path": stored.path, "sha1": stored.sha1} if stored is not None else None
    return report, summary
