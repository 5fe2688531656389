"""Evaluation of scores against labels: correlations with bootstrap intervals, ROC AUC,
EER, operating point at a specificity, per-subset breakdown, and figures. No Kedro."""

from .metrics import (
    binary_labels,
    bootstrap_correlation,
    classification_metrics,
    equal_error_rate,
    evaluate,
    threshold_at_specificity,
)
from .plots import roc_figure, score_histogram_figure, severity_scatter_figure
from .report import markdown_table

__all__ = [
    "binary_labels",
    "bootstrap_correlation",
    "classification_metrics",
    "equal_error_rate",
    "evaluate",
    "markdown_table",
    "roc_figure",
    "score_histogram_figure",
    "severity_scatter_figure",
    "threshold_at_specificity",
]
