"""Evaluation of scores against labels: correlations with bootstrap intervals, ROC AUC,
EER, operating point at a specificity, per-subset breakdown, figures, and the
self-contained HTML run report. No Kedro."""

from .html_report import (
    HtmlReportConfig,
    data_uri,
    encode_thumbnail,
    expected_image_count,
    figure_png,
    render_html_report,
)
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
    "HtmlReportConfig",
    "binary_labels",
    "bootstrap_correlation",
    "classification_metrics",
    "data_uri",
    "encode_thumbnail",
    "equal_error_rate",
    "evaluate",
    "expected_image_count",
    "figure_png",
    "markdown_table",
    "render_html_report",
    "roc_figure",
    "score_histogram_figure",
    "severity_scatter_figure",
    "threshold_at_specificity",
]
