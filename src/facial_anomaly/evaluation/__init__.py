"""Evaluation of scores against labels: correlations with bootstrap intervals, ROC AUC,
EER, operating point at a specificity, per-subset breakdown, figures, and the
self-contained HTML run report. No Kedro. Names are imported on first use (scikit-learn and
matplotlib load only when needed)."""

from ..lazy import lazy_exports

_EXPORTS = {
    "HtmlReportConfig": "html_report",
    "data_uri": "html_report",
    "encode_thumbnail": "html_report",
    "expected_image_count": "html_report",
    "figure_png": "html_report",
    "render_html_report": "html_report",
    "binary_labels": "metrics",
    "bootstrap_correlation": "metrics",
    "classification_metrics": "metrics",
    "equal_error_rate": "metrics",
    "evaluate": "metrics",
    "threshold_at_specificity": "metrics",
    "roc_figure": "plots",
    "score_histogram_figure": "plots",
    "severity_scatter_figure": "plots",
    "markdown_table": "report",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
