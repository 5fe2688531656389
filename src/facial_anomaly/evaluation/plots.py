"""Evaluation figures: ROC curve, score against severity, score histograms by label.

Each function returns a ``matplotlib.figure.Figure`` drawn on the Agg canvas without
touching pyplot's global state, ready for ``fig.savefig`` or a Kedro MatplotlibDataset.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score, roc_curve

from .metrics import _both_classes, _check_scores, binary_labels


def _figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=(5.0, 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def roc_figure(labels, scores, *, title: str) -> Figure:
    """ROC curve with its AUC and the chance diagonal.

    Args:
        labels: (n,) 0/1 or bool, 1 = anomalous; both classes present.
        scores: (n,) finite, higher = more anomalous.
        title: axes title (e.g. the score column).
    """
    labels, scores = binary_labels(labels), _check_scores(scores)
    _both_classes(labels)
    fpr, tpr, _ = roc_curve(labels, scores)
    figure, axes = _figure()
    axes.plot(fpr, tpr, drawstyle="steps-post", label=f"AUC = {roc_auc_score(labels, scores):.3f}")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="chance")
    axes.set(xlabel="false-positive rate (1 − specificity)", ylabel="true-positive rate (sensitivity)", title=title)
    axes.set(xlim=(0, 1), ylim=(0, 1.01), aspect="equal")
    axes.legend(loc="lower right")
    return figure


def severity_scatter_figure(scores, severity, *, title: str, severity_label: str) -> Figure:
    """Score against severity (or rating), with the least-squares line and Pearson r.

    Args:
        scores, severity: (n,) finite values, n ≥ 2.
        title: axes title; ``severity_label``: x-axis label.
    """
    scores, severity = _check_scores(scores), _check_scores(severity)
    if scores.shape != severity.shape or scores.size < 2:
        raise ValueError(f"need ≥ 2 paired values, got {scores.shape} and {severity.shape}")
    figure, axes = _figure()
    axes.scatter(severity, scores, s=14, alpha=0.7)
    if np.ptp(severity) > 0:
        slope, intercept = np.polyfit(severity, scores, 1)
        line_x = np.array([severity.min(), severity.max()])
        fit_label = f"fit (r = {np.corrcoef(severity, scores)[0, 1]:.3f})" if np.ptp(scores) > 0 else "fit"
        axes.plot(line_x, slope * line_x + intercept, color="C3", label=fit_label)
        axes.legend(loc="best")
    axes.set(xlabel=severity_label, ylabel="score", title=title)
    return figure


def score_histogram_figure(scores, labels, *, bins: int, title: str) -> Figure:
    """Overlaid score histograms of normal controls and anomalous images (shared bins).

    Args:
        scores: (n,) finite; labels: (n,) 0/1 or bool, 1 = anomalous.
        bins: number of bins over the range of all scores.
        title: axes title.
    """
    labels, scores = binary_labels(labels), _check_scores(scores)
    edges = np.histogram_bin_edges(scores, bins=bins)
    figure, axes = _figure()
    for name, selected, color in (("normal", ~labels, "C0"), ("anomalous", labels, "C3")):
        if selected.any():
            axes.hist(scores[selected], bins=edges, alpha=0.55, color=color, label=f"{name} (n={selected.sum()})")
    axes.set(xlabel="score", ylabel="images", title=title)
    axes.legend(loc="best")
    return figure
