"""Evaluation nodes: metrics of the default score and every variant, a comparison table
(one nested MLflow run per variant), and plots."""

from __future__ import annotations

import numpy as np
import pandas as pd

from facial_anomaly.evaluation import (
    binary_labels,
    evaluate,
    markdown_table,
    roc_figure,
    score_histogram_figure,
    severity_scatter_figure,
)
from facial_anomaly.faces import image_id_from_path

from ..scores.nodes import NORMALITY_COLUMN, SCORE_COLUMN, variant_columns

# The paper's S is a normality index (higher = more normal): evaluated negated.
NEGATED_NORMALITY_COLUMN = f"minus_{NORMALITY_COLUMN}"


def _with_image_id(table: pd.DataFrame, what: str) -> pd.DataFrame:
    if "image_id" in table:
        return table
    if "image" not in table:
        raise KeyError(
            f"the {what} table needs an 'image' column (path relative to input_dir); has {list(table.columns)}"
        )
    return table.assign(image_id=table["image"].astype(str).map(image_id_from_path))


def prepare_tables(scores_csv: pd.DataFrame, labels: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables keyed by ``image_id`` (derived from ``image`` when absent), and S negated."""
    scores_table = _with_image_id(scores_csv, "scores")
    if NORMALITY_COLUMN in scores_table:
        scores_table = scores_table.assign(
            **{NEGATED_NORMALITY_COLUMN: -pd.to_numeric(scores_table[NORMALITY_COLUMN], errors="coerce")}
        )
    return scores_table, _with_image_id(labels, "labels")


def _number(value) -> float:
    return np.nan if value is None else float(value)


def _metric_options(evaluate_params: dict) -> dict:
    keys = (
        "label_column",
        "severity_column",
        "subset_column",
        "subset_controls",
        "specificity",
        "n_boot",
        "ci_level",
        "seed",
    )
    return {key: evaluate_params[key] for key in keys}


def evaluate_scores(
    scores_csv: pd.DataFrame, labels: pd.DataFrame, evaluate_params: dict
) -> tuple[dict, pd.DataFrame, str]:
    """``metrics.json`` (full evaluation of ``anomaly_score``, headline numbers of every
    other column), the variant comparison table and its Markdown rendering."""
    scores_table, labels_table = prepare_tables(scores_csv, labels)
    options = _metric_options(evaluate_params)
    columns = [SCORE_COLUMN, *variant_columns(scores_table.drop(columns=[NEGATED_NORMALITY_COLUMN], errors="ignore"))]
    if NEGATED_NORMALITY_COLUMN in scores_table:
        columns.append(NEGATED_NORMALITY_COLUMN)
    results = {column: evaluate(scores_table, labels_table, score_column=column, **options) for column in columns}
    rows = []
    for column, result in results.items():
        overall = result["overall"] or {}
        classification = overall.get("classification") or {}
        correlation = overall.get("correlation") or {}
        spearman = correlation.get("spearman") or {}
        pearson = correlation.get("pearson") or {}
        rows.append(
            {
                "run_name": column,
                "param.score_column": column,
                "metric.n": overall.get("n", 0),
                "metric.auc": classification.get("roc_auc", np.nan),
                "metric.eer": classification.get("eer", np.nan),
                "metric.fpr_at_threshold": 1.0 - classification.get("specificity", np.nan),
                "metric.f1_at_threshold": classification.get("f1", np.nan),
                "metric.spearman": _number(spearman.get("estimate")),
                "metric.pearson": _number(pearson.get("estimate")),
            }
        )
    comparison = (
        pd.DataFrame(rows).sort_values("metric.auc", ascending=False, na_position="last").reset_index(drop=True)
    )
    metrics = {
        "default": results[SCORE_COLUMN],
        "variants": {c: results[c]["overall"] for c in columns if c != SCORE_COLUMN},
    }
    return metrics, comparison, comparison_markdown(comparison, evaluate_params["report_decimals"])


def comparison_markdown(comparison: pd.DataFrame, decimals: int) -> str:
    """The comparison table as Markdown (best AUC first)."""
    shown = comparison.drop(columns=["run_name"]).rename(columns=lambda c: c.split(".", 1)[1] if "." in c else c)
    return "\n".join(["# Scoring variants compared", "", markdown_table(shown, decimals=decimals), ""])


def plot_evaluation(scores_csv: pd.DataFrame, labels: pd.DataFrame, evaluate_params: dict) -> dict:
    """ROC curve, score vs severity scatter and score histograms of ``anomaly_score``,
    keyed by file name (``roc.png``, ``histogram.png``, ``severity.png``)."""
    scores_table, labels_table = prepare_tables(scores_csv, labels)
    label_column, severity_column = evaluate_params["label_column"], evaluate_params["severity_column"]
    wanted = ["image_id", label_column] + ([severity_column] if severity_column in labels_table else [])
    joined = scores_table[["image_id", "status", SCORE_COLUMN]].merge(labels_table[wanted], on="image_id")
    joined = joined[(joined["status"] == "ok") & joined[SCORE_COLUMN].notna() & joined[label_column].notna()]
    labels_binary = binary_labels(joined[label_column].to_numpy()).astype(int)
    scores = joined[SCORE_COLUMN].to_numpy(dtype=float)
    figures = {}
    if len(set(labels_binary)) == 2:
        figures["roc.png"] = roc_figure(labels_binary, scores, title=f"ROC of {SCORE_COLUMN}")
    if len(scores):
        figures["histogram.png"] = score_histogram_figure(
            scores, labels_binary, bins=evaluate_params["plots"]["histogram_bins"], title=f"{SCORE_COLUMN} by label"
        )
    if severity_column in joined and joined[severity_column].notna().sum() > 2:
        rated = joined[joined[severity_column].notna()]
        figures["severity.png"] = severity_scatter_figure(
            rated[SCORE_COLUMN].to_numpy(float),
            rated[severity_column].to_numpy(float),
            title=f"{SCORE_COLUMN} vs {severity_column}",
            severity_label=severity_column,
        )
    return figures
