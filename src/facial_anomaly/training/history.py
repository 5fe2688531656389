"""A metric-history callback for :func:`~.loop.fit`: one row per round, ready for MLflow.

    history = MetricHistory(log=mlflow.log_metrics)      # or log=None: only collect
    fit(..., on_round_end=history)
    history.table()    # DataFrame: step, epoch, train_<loss>, dev metrics (dots for nesting), round_seconds

``log(metrics, step=...)`` is called after every round with :meth:`~.state.RoundReport.
metrics` (prefixed with ``prefix``), so a caller can stream the learning curves to MLflow
(``mlflow.log_metrics`` has this signature) while training runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pandas as pd

from .state import RoundReport


class MetricHistory:
    """Collects every round's metrics; callable as ``on_round_end``.

    Args:
        prefix: prepended to every metric name (e.g. ``"siamese.seed0."``).
        log: optional ``log(metrics: dict, step: int)`` called after every round.
        by: which counter is the MLflow step: ``step`` (optimisation steps) or ``epoch`` (rounds).
        then: further callbacks, called with the report afterwards.
    """

    def __init__(
        self,
        *,
        prefix: str = "",
        log: Callable[..., None] | None = None,
        by: str = "step",
        then: Sequence[Callable[[RoundReport], None]] = (),
    ):
        if by not in ("step", "epoch"):
            raise ValueError(f"by must be 'step' or 'epoch', got {by!r}")
        self.prefix, self.log, self.by, self.then = prefix, log, by, tuple(then)
        self.rows: list[dict] = []

    def __call__(self, report: RoundReport) -> None:
        metrics = {f"{self.prefix}{name}": value for name, value in report.metrics().items()}
        step = report.step if self.by == "step" else report.epoch
        self.rows.append({"step": report.step, "epoch": report.epoch, **metrics})
        if self.log is not None:
            self.log(metrics, step=step)
        for callback in self.then:
            callback(report)

    def table(self) -> pd.DataFrame:
        """One row per round: ``step``, ``epoch`` and every metric (NaN where a round lacks one)."""
        return pd.DataFrame(self.rows, columns=_columns(self.rows))


def _columns(rows: Sequence[Mapping]) -> list[str]:
    names = dict.fromkeys(["step", "epoch"])
    for row in rows:
        names.update(dict.fromkeys(row))
    return list(names)
