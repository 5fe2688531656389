"""Score nodes: the scores table (one row per input file) from the stage reports, the scoring
contract's CSV, and a per-variant summary logged as nested MLflow runs."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from facial_anomaly.scoring.config import ScoresConfig
from facial_anomaly.scoring.table import NOT_SCORED, SCORE_COLUMN, UNSUPERVISED_COLUMN, build_scores_table

logger = logging.getLogger(__name__)


def assemble_scores(
    preprocess_report: pd.DataFrame,
    normalize_report: pd.DataFrame,
    heatmaps_report: pd.DataFrame,
    score_fusion: dict | None,
    scores: ScoresConfig,
) -> tuple[pd.DataFrame, dict]:
    """One row per input file: status and detail (the first reason it dropped out), the pose,
    ``anomaly_score``, ``normality_index`` and a column per variant; the summary counts files
    and says which score ``anomaly_score`` is.

    ``anomaly_score`` is the fused score of ``score_fusion`` (``fit_fusion``) when one is fitted
    and this run computes every column it fuses, else the default variant of the first
    normalizer; ``unsupervised_score`` always holds the latter."""
    normalizers = list(dict.fromkeys(normalize_report["normalizer"])) or ["symmetry"]
    table, summary = build_scores_table(
        preprocess_report,
        normalize_report,
        heatmaps_report,
        normalizers=normalizers,
        default_variant=scores.default_variant,
    )
    table.insert(table.columns.get_loc(SCORE_COLUMN) + 1, UNSUPERVISED_COLUMN, table[SCORE_COLUMN])
    summary["anomaly_score_source"] = "unsupervised"
    if score_fusion is not None and scores.use_fusion:
        _apply_fusion(table, summary, score_fusion)
    summary["settings"] = scores.model_dump(mode="json")
    if summary["files"] and not summary["scored"]:
        logger.warning("no file could be scored: see the status and detail columns of scores.csv")
    return table, summary


def export_scores_csv(scores: pd.DataFrame) -> pd.DataFrame:
    """The scoring contract's CSV: ``image`` (path relative to input_dir), ``status``,
    ``anomaly_score``, then every other column."""
    first = ["image", "status", SCORE_COLUMN]
    return scores[first + [column for column in scores.columns if column not in first]]


def _apply_fusion(table: pd.DataFrame, summary: dict, record: dict) -> None:
    """Replace ``anomaly_score`` by the fused score where every fused column has a value;
    a fusion this run cannot apply is reported in the summary and left unused."""
    from facial_anomaly.provenance import ModelMismatch
    from facial_anomaly.scoring.fusion import score_fusion_from_record

    try:
        fusion = score_fusion_from_record(record, source="score_fusion.json", features=list(table.columns))
    except (ModelMismatch, ValueError) as error:
        logger.warning("the fitted score fusion is not used: %s", error)
        summary["fusion_unavailable"] = str(error)
        return
    rows = table[fusion.features].notna().all(axis=1).to_numpy()
    fused = np.full(len(table), np.nan)
    if rows.any():
        fused[rows] = fusion.fuse(table.loc[rows])
    table[SCORE_COLUMN] = fused
    missing = (table["status"] == "ok") & ~rows
    table.loc[missing, "status"] = NOT_SCORED
    table.loc[missing, "detail"] = "a column of the fused score has no value"
    summary["anomaly_score_source"] = "score_fusion"
    summary["fusion_columns"] = list(fusion.features)
    summary["fusion_training_data"] = str((fusion.provenance or {}).get("training_data", ""))
    summary["scored"] = int(np.isfinite(fused).sum())
