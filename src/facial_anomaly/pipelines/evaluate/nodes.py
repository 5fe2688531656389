"""Evaluation nodes: metrics of the default score and of every variant, a comparison table,
plots, and one row per variant (its parameters, score distribution and, with labels, its
metrics) that becomes a nested MLflow run each."""

from __future__ import annotations

import numpy as np
import pandas as pd

from facial_anomaly.evaluation.config import EvaluateConfig
from facial_anomaly.scoring import parse_variant_name
from facial_anomaly.scoring.table import MODEL_SCORE, NORMALITY_COLUMN, SCORE_COLUMN, keyed_by_image_id, variant_columns

# The paper's S is a normality index (higher = more normal): evaluated negated.
NEGATED_NORMALITY_COLUMN = f"minus_{NORMALITY_COLUMN}"


def prepare_labels(labels: pd.DataFrame, evaluate: EvaluateConfig) -> pd.DataFrame:
    """The labels keyed by ``image_id``, with a binary label (from ``severity > 0`` when the
    table has only severities).

    Raises:
        KeyError: neither a label nor a severity column.
    """
    table = keyed_by_image_id(labels, "labels")
    if evaluate.label_column not in table:
        if evaluate.severity_column not in table:
            raise KeyError(
                f"the labels table needs a {evaluate.label_column!r} or {evaluate.severity_column!r} column; "
                f"has {list(labels.columns)}"
            )
        severity = pd.to_numeric(table[evaluate.severity_column], errors="coerce")
        table = table.assign(**{evaluate.label_column: (severity > 0).astype(float).where(severity.notna())})
    return table


def _metric_options(table: pd.DataFrame, evaluate: EvaluateConfig) -> dict:
    return {
        "label_column": evaluate.label_column,
        "severity_column": evaluate.severity_column if evaluate.severity_column in table else None,
        "subset_column": evaluate.subset_column if evaluate.subset_column in table else None,
        "subset_controls": evaluate.subset_controls,
        "specificity": evaluate.specificity,
        "n_boot": evaluate.n_boot,
        "ci_level": evaluate.ci_level,
        "seed": evaluate.seed,
    }


def _scored_columns(scores: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    table = keyed_by_image_id(scores, "scores")
    if NORMALITY_COLUMN in table:
        table = table.assign(**{NEGATED_NORMALITY_COLUMN: -pd.to_numeric(table[NORMALITY_COLUMN], errors="coerce")})
    columns = [SCORE_COLUMN, *variant_columns(table.drop(columns=[NEGATED_NORMALITY_COLUMN], errors="ignore"))]
    if NEGATED_NORMALITY_COLUMN in table:
        columns.append(NEGATED_NORMALITY_COLUMN)
    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(table[c])]
    return table, numeric


def _headline(result: dict) -> dict[str, float]:
    overall = result["overall"] or {}
    classification = overall.get("classification") or {}
    correlation = overall.get("correlation") or {}
    spearman, pearson = correlation.get("spearman") or {}, correlation.get("pearson") or {}
    metrics = {
        "metric.n": overall.get("n", 0),
        "metric.auc": classification.get("roc_auc", np.nan),
        "metric.eer": classification.get("eer", np.nan),
        "metric.fpr_at_threshold": 1.0 - classification.get("specificity", np.nan),
        "metric.f1_at_threshold": classification.get("f1", np.nan),
        "metric.spearman": _number(spearman.get("estimate")),
        "metric.spearman_ci_low": _number((spearman.get("ci") or [None, None])[0]),
        "metric.spearman_ci_high": _number((spearman.get("ci") or [None, None])[1]),
        "metric.pearson": _number(pearson.get("estimate")),
        "metric.pearson_ci_low": _number((pearson.get("ci") or [None, None])[0]),
        "metric.pearson_ci_high": _number((pearson.get("ci") or [None, None])[1]),
    }
    for subset, block in (result.get("subsets") or {}).items():
        metrics[f"metric.auc.{subset}"] = ((block or {}).get("classification") or {}).get("roc_auc", np.nan)
    return metrics


def _number(value) -> float:
    return np.nan if value is None else float(value)


def evaluate_all(scores: pd.DataFrame, labels: pd.DataFrame, evaluate: EvaluateConfig) -> dict[str, dict]:
    """Column → full evaluation (:func:`facial_anomaly.evaluation.evaluate`) of every score column."""
    from facial_anomaly.evaluation import evaluate as evaluate_column

    table, columns = _scored_columns(scores)
    labels = prepare_labels(labels, evaluate)
    options = _metric_options(labels, evaluate)
    return {column: evaluate_column(table, labels, score_column=column, **options) for column in columns}


def evaluate_scores(scores: pd.DataFrame, labels: pd.DataFrame | None, evaluate: EvaluateConfig):
    """``metrics.json`` (full evaluation of ``anomaly_score``, headline numbers of every other
    column), the variant comparison table and its Markdown rendering; empty without labels."""
    if labels is None:
        empty = pd.DataFrame(columns=["run_name", "metric.auc"])
        return {"evaluated": False, "reason": "no labels given (--params labels=LABELS.csv)"}, empty, ""
    results = evaluate_all(scores, labels, evaluate)
    rows = [{"run_name": column, **_headline(result)} for column, result in results.items()]
    comparison = pd.DataFrame(rows).sort_values("metric.auc", ascending=False, na_position="last")
    comparison = comparison.reset_index(drop=True)
    metrics = {
        "evaluated": True,
        "default": results[SCORE_COLUMN],
        "variants": {c: r["overall"] for c, r in results.items() if c != SCORE_COLUMN},
    }
    return metrics, comparison, comparison_markdown(comparison, evaluate.report_decimals)


def comparison_markdown(comparison: pd.DataFrame, decimals: int) -> str:
    """The comparison table as Markdown (best AUC first)."""
    from facial_anomaly.evaluation import markdown_table

    shown = comparison.drop(columns=["run_name"]).rename(columns=lambda c: c.split(".", 1)[1] if "." in c else c)
    shown.insert(0, "score", comparison["run_name"])
    return "\n".join(["# Scoring variants compared", "", markdown_table(shown, decimals=decimals), ""])


def _variant_params(column: str) -> dict:
    if column in (SCORE_COLUMN, NEGATED_NORMALITY_COLUMN):
        return {"param.kind": column}
    if "." not in column:  # a fitted model's column: padim__<region>__<summary>, shape_residual__…
        from facial_anomaly.scoring.columns import parse_column

        try:
            source, _, (where, summary) = parse_column(column)
        except ValueError:
            return {"param.kind": column}
        key = "param.region" if source == "padim" else "param.landmarks"
        return {"param.kind": source, key: where, "param.summary": summary}
    normalizer, variant_name = column.split(".", 1)
    if variant_name == MODEL_SCORE:
        return {"param.normalizer": normalizer, "param.kind": MODEL_SCORE}
    try:
        variant = parse_variant_name(variant_name)
    except ValueError:  # supervised probabilities and other non-grid columns
        return {"param.normalizer": normalizer, "param.kind": variant_name}
    return {
        "param.normalizer": normalizer,
        "param.kind": variant.kind,
        "param.color_space": variant.color_space,
        "param.eroded": variant.eroded,
        "param.lcn": variant.lcn,
        "param.region": variant.region,
        "param.summary": variant.summary,
    }


def summarize_variants(scores: pd.DataFrame, labels: pd.DataFrame | None, evaluate: EvaluateConfig) -> pd.DataFrame:
    """One row per score column: its variant's parameters, the distribution of the score over
    the scored faces and, when labels are given, its metrics (AUC, EER, Pearson/Spearman with
    CIs, AUC per subset). Each row becomes a nested MLflow run, so the compare view shows the
    variants side by side."""
    results = evaluate_all(scores, labels, evaluate) if labels is not None else {}
    table, columns = _scored_columns(scores)
    rows = []
    for column in columns:
        values = pd.to_numeric(table[column], errors="coerce")
        values = values[np.isfinite(values)]
        row = {
            "run_name": column,
            **_variant_params(column),
            "metric.scored": len(values),
            "metric.mean": float(values.mean()) if len(values) else np.nan,
            "metric.std": float(values.std()) if len(values) > 1 else np.nan,
            "metric.median": float(values.median()) if len(values) else np.nan,
        }
        if column in results:
            row.update(_headline(results[column]))
        rows.append(row)
    return pd.DataFrame(rows)


def plot_evaluation(scores: pd.DataFrame, labels: pd.DataFrame | None, evaluate: EvaluateConfig) -> dict[str, bytes]:
    """PNG bytes of the ROC curve, the score histograms by label and score vs severity of
    ``anomaly_score``, keyed by file name (``roc.png``, ``histogram.png``, ``severity.png``);
    none without labels."""
    if labels is None:
        return {}
    from facial_anomaly.evaluation import binary_labels, roc_figure, score_histogram_figure, severity_scatter_figure

    table = keyed_by_image_id(scores, "scores")
    labels = prepare_labels(labels, evaluate)
    label_column, severity_column = evaluate.label_column, evaluate.severity_column
    wanted = ["image_id", label_column] + ([severity_column] if severity_column in labels else [])
    joined = table[["image_id", "status", SCORE_COLUMN]].merge(labels[wanted], on="image_id")
    joined = joined[(joined["status"] == "ok") & joined[SCORE_COLUMN].notna() & joined[label_column].notna()]
    labels_binary = binary_labels(joined[label_column].to_numpy()).astype(int)
    values = joined[SCORE_COLUMN].to_numpy(dtype=float)
    figures = {}
    if len(set(labels_binary)) == 2:
        figures["roc.png"] = roc_figure(labels_binary, values, title=f"ROC of {SCORE_COLUMN}")
    if len(values):
        figures["histogram.png"] = score_histogram_figure(
            values, labels_binary, bins=evaluate.histogram_bins, title=f"{SCORE_COLUMN} by label"
        )
    if severity_column in joined and joined[severity_column].notna().sum() > 2:
        rated = joined[joined[severity_column].notna()]
        figures["severity.png"] = severity_scatter_figure(
            rated[SCORE_COLUMN].to_numpy(float),
            rated[severity_column].to_numpy(float),
            title=f"{SCORE_COLUMN} vs {severity_column}",
            severity_label=severity_column,
        )
    from facial_anomaly.evaluation.html_report import figure_png

    return {name: figure_png(figure) for name, figure in figures.items()}
