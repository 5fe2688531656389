"""Score nodes: every variant of the grid for every normalized face, the scoring contract's
CSV, and a per-variant summary logged as nested MLflow runs."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from facial_anomaly.heatmaps import HeatmapKindUnavailable, ensure_kind_available
from facial_anomaly.scoring import parse_variant_name, score_variants, variant_grid

from .._normalized import iter_pairs
from ..normalize.nodes import selected_normalizers

logger = logging.getLogger(__name__)

SCORE_COLUMN = "anomaly_score"
NORMALITY_COLUMN = "normality_index"
FILE_COLUMNS = ["image_id", "image", "status", "detail"]
MODEL_SCORE = "model_score"


def variant_columns(scores_table: pd.DataFrame) -> list[str]:
    """The ``<normalizer>.<variant>`` columns of a scores table."""
    return [c for c in scores_table.columns if c not in (*FILE_COLUMNS, SCORE_COLUMN, NORMALITY_COLUMN)]


def variant_column(normalizer: str, variant: str) -> str:
    """Name of a score column: ``<normalizer>.<variant>``."""
    return f"{normalizer}.{variant}"


def available_grid(scores: dict, heatmaps: dict) -> tuple[dict, dict[str, str]]:
    """The scoring grid without the heatmap kinds that cannot run here, and why they cannot."""
    grid = dict(scores["grid"])
    unavailable = {}
    for kind in list(grid["kinds"]):
        try:
            ensure_kind_available(kind, kind_options=heatmaps["kind_options"])
        except HeatmapKindUnavailable as error:
            unavailable[kind] = str(error)
            logger.warning("heatmap kind %r left out of the scoring grid: %s", kind, error)
    grid["kinds"] = [kind for kind in grid["kinds"] if kind not in unavailable]
    return grid, unavailable


def _single_variant_grid(name: str) -> dict:
    variant = parse_variant_name(name)
    return {
        "kinds": [variant.kind],
        "color_spaces": [variant.color_space],
        "erosion": [variant.eroded],
        "regions": [variant.region],
    }


def score_faces(
    aligned_faces: dict[str, Callable],
    normalized_faces: dict[str, Callable],
    normalize_report: pd.DataFrame,
    landmarks: pd.DataFrame,
    normalize: dict,
    heatmaps: dict,
    scores: dict,
) -> tuple[pd.DataFrame, dict]:
    """One row per input file: ``image_id, image, status, detail``, ``anomaly_score`` (the
    default variant of the first normalizer; higher = more anomalous), the paper's
    ``normality_index`` S of that variant (higher = more normal), and a column
    ``<normalizer>.<variant>`` per computed variant. Rejected files keep their status."""
    grid, unavailable = available_grid(scores, heatmaps)
    default_normalizer = selected_normalizers(normalize)[0]
    default_variant = scores["default_variant"]
    options = {
        "erosion_size": heatmaps["erosion_size"],
        "erosion_iterations": heatmaps["erosion_iterations"],
        "channel_reduction": heatmaps["channel_reduction"],
        "kind_options": heatmaps["kind_options"],
        "region_params": scores["regions"],
    }
    values: dict[str, dict[str, float]] = {}
    for normalizer, image_id, original, normalized, points in iter_pairs(
        aligned_faces, normalized_faces, normalize_report, landmarks
    ):
        row = values.setdefault(image_id, {})
        variants = score_variants(original, normalized, points, grid=grid, statistic=scores["statistic"], **options)
        row.update({variant_column(normalizer, name): value for name, value in variants.items()})
        if normalizer == default_normalizer and parse_variant_name(default_variant).kind not in unavailable:
            (row[NORMALITY_COLUMN],) = score_variants(
                original, normalized, points, grid=_single_variant_grid(default_variant), statistic="normality_index", **options
            ).values()

    # The normalizers' own scores (GANomaly's A(x)...) join the table as <normalizer>.model_score.
    if "model_score" in normalize_report:
        for record in normalize_report.dropna(subset=["model_score"]).to_dict("records"):
            values.setdefault(record["image_id"], {})[f"{record['normalizer']}.{MODEL_SCORE}"] = record["model_score"]
    files = normalize_report[normalize_report["normalizer"] == default_normalizer]
    table = files[FILE_COLUMNS].reset_index(drop=True)
    table = table.join(pd.DataFrame([values.get(image_id, {}) for image_id in table["image_id"]]))
    default_column = variant_column(default_normalizer, default_variant)
    table.insert(4, SCORE_COLUMN, table[default_column] if default_column in table else np.nan)
    if NORMALITY_COLUMN not in table:
        table[NORMALITY_COLUMN] = np.nan
    missing = (table["status"] == "ok") & table[SCORE_COLUMN].isna()
    table.loc[missing, "status"] = "not_scored"
    summary = {
        "files": int(len(table)),
        "scored": int(table[SCORE_COLUMN].notna().sum()),
        "default_normalizer": default_normalizer,
        "default_variant": default_variant,
        "variants": len(variant_grid(grid)) * len(selected_normalizers(normalize)),
        "unavailable_kinds": unavailable,
    }
    return table, summary


def export_scores_csv(scores_table: pd.DataFrame) -> pd.DataFrame:
    """The scoring contract's CSV: ``image`` (path relative to input_dir), ``status``,
    ``anomaly_score``, then every other column."""
    first = ["image", "status", SCORE_COLUMN]
    return scores_table[first + [column for column in scores_table.columns if column not in first]]


def summarize_variants(scores_table: pd.DataFrame) -> pd.DataFrame:
    """One row per score column: its variant's parameters and the distribution of the score
    over scored faces (logged as one nested MLflow run each)."""
    rows = []
    for column in variant_columns(scores_table):
        normalizer, variant_name = column.split(".", 1)
        if variant_name == MODEL_SCORE:
            continue
        variant = parse_variant_name(variant_name)
        values = pd.to_numeric(scores_table[column], errors="coerce").dropna()
        rows.append(
            {
                "run_name": column,
                "param.normalizer": normalizer,
                "param.kind": variant.kind,
                "param.color_space": variant.color_space,
                "param.eroded": variant.eroded,
                "param.region": variant.region,
                "metric.scored": len(values),
                "metric.mean": float(values.mean()) if len(values) else np.nan,
                "metric.std": float(values.std()) if len(values) > 1 else np.nan,
                "metric.median": float(values.median()) if len(values) else np.nan,
            }
        )
    return pd.DataFrame(rows)
