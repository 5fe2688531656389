"""Score nodes: the scores table (one row per input file) from the stage reports, the scoring
contract's CSV, and a per-variant summary logged as nested MLflow runs."""

from __future__ import annotations

import logging

import pandas as pd

from facial_anomaly.scoring.config import ScoresConfig
from facial_anomaly.scoring.table import SCORE_COLUMN, UNSUPERVISED_COLUMN, build_scores_table

logger = logging.getLogger(__name__)


def assemble_scores(
    preprocess_report: pd.DataFrame,
    normalize_report: pd.DataFrame,
    heatmaps_report: pd.DataFrame,
    scores: ScoresConfig,
) -> tuple[pd.DataFrame, dict]:
    """One row per input file: status and detail (the first reason it dropped out), the pose,
    ``anomaly_score`` (default variant of the first normalizer), ``normality_index`` and a
    column per variant; the summary counts files and says which score ``anomaly_score`` is."""
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
    summary["settings"] = scores.model_dump(mode="json")
    if summary["files"] and not summary["scored"]:
        logger.warning("no file could be scored: see the status and detail columns of scores.csv")
    return table, summary


def export_scores_csv(scores: pd.DataFrame) -> pd.DataFrame:
    """The scoring contract's CSV: ``image`` (path relative to input_dir), ``status``,
    ``anomaly_score``, then every other column."""
    first = ["image", "status", SCORE_COLUMN]
    return scores[first + [column for column in scores.columns if column not in first]]
