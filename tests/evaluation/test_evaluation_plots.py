import io

import numpy as np
from matplotlib.figure import Figure

from facial_anomaly.evaluation import roc_figure, score_histogram_figure, severity_scatter_figure

LABELS = np.array([0, 0, 0, 1, 1, 1])
SCORES = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.9])


def _png(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def test_roc_figure_draws_the_curve_and_auc():
    figure = roc_figure(LABELS, SCORES, title="pse")
    assert isinstance(figure, Figure) and _png(figure).startswith(b"\x89PNG")
    curve = figure.axes[0].lines[0]
    assert curve.get_label() == "AUC = 1.000"
    assert curve.get_xdata()[0] == 0 and curve.get_ydata()[-1] == 1


def test_severity_scatter_has_a_fit_line():
    severity = np.array([0.0, 1.0, 2.0, 3.0])
    figure = severity_scatter_figure(2 * severity + 1, severity, title="t", severity_label="rating")
    line = figure.axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), [1.0, 7.0])
    assert "r = 1.000" in line.get_label()
    _png(figure)


def test_histograms_by_label_share_bins():
    figure = score_histogram_figure(SCORES, LABELS, bins=5, title="t")
    heights = [sum(patch.get_height() for patch in container) for container in figure.axes[0].containers]
    assert heights == [3, 3]
    _png(figure)
