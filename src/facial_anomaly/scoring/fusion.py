"""The fused anomaly score over score columns (unsupervised variants, PaDiM, the shape
residual, supervised probabilities): a logistic regression on Gaussian ranks with
non-negative weights (``rank_logistic``, :mod:`facial_anomaly.supervised.fusion`), fitted on
the synthetic dev split and stored as JSON with a provenance record checked on load.

The combiner itself lives in :mod:`facial_anomaly.supervised.fusion` (its import keeps
working); this module adds what a default ``anomaly_score`` needs: a fixed method
(``rank_logistic``, non-negative: every input is oriented "higher = more anomalous"), the
provenance record (the fitted columns and the data they came from) and a loader that
refuses a fusion of another kind, schema or column set.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from pydantic import Field, model_validator

from ..config import Config
from ..provenance import check_provenance, model_provenance
from ..supervised.fusion import Fusion, fit_fusion

MODEL_KIND = "score_fusion"
SCHEMA_VERSION = 1


class ScoreFusionConfig(Config):
    """How the default fusion is fitted (``fit_fusion`` parameters)."""

    features: tuple[str, ...] = Field(..., min_length=1, description="score columns fused (higher = more anomalous)")
    C: float = Field(1.0, gt=0.0, description="inverse L2 strength of the logistic regression")
    max_iter: int = Field(1000, ge=10, description="solver iterations")
    tail_max_of: tuple[str, ...] = Field(
        (), description="features whose largest robust z against the normal rows is one more feature"
    )

    @model_validator(mode="after")
    def _tails_are_features(self) -> ScoreFusionConfig:
        unknown = sorted(set(self.tail_max_of) - set(self.features))
        if unknown:
            raise ValueError(f"tail_max_of names columns that are not fused features: {unknown}")
        return self


def fit_score_fusion(
    table: pd.DataFrame,
    labels: Sequence[int],
    config: ScoreFusionConfig,
    *,
    grades: Sequence[float] | None = None,
    training_data: str = "unspecified",
) -> Fusion:
    """Fit the non-negative ``rank_logistic`` fusion of ``config.features`` on dev rows.

    Args:
        table: one row per dev image with the feature columns.
        labels: 0 (normal, including harmless variants) / 1 (anomalous) per row.
        config: the fused columns and the regression settings.
        grades: the anomalies' severities (> 0 on every anomalous row): fit the graded
            (proportional-odds) model, whose weights also order anomalies by severity; the
            provenance records ``target: severity`` (else ``label``).
        training_data: fingerprint of the dev rows (``provenance.training_data_fingerprint``).

    Raises:
        ValueError, KeyError: as :func:`facial_anomaly.supervised.fusion.fit_fusion`.
    """
    fusion = fit_fusion(
        table,
        labels,
        features=list(config.features),
        method="rank_logistic",
        C=config.C,
        max_iter=config.max_iter,
        nonnegative=True,
        grades=grades,
        tail_max_of=config.tail_max_of,
    )
    target = "label" if grades is None else "severity"
    fusion.provenance = model_provenance(
        MODEL_KIND,
        schema_version=SCHEMA_VERSION,
        params={**config.model_dump(mode="json"), "rows": int(len(table)), "target": target},
        training_data=training_data,
        uses_landmarks=True,
    )
    return fusion


def load_score_fusion(path: str | os.PathLike, *, features: Sequence[str] | None = None) -> Fusion:
    """Read a fusion written by ``Fusion.save`` after :func:`fit_score_fusion`.

    Args:
        path: the JSON file.
        features: when given, the columns the caller can provide; a fusion of other columns
            is refused.

    Raises:
        FileNotFoundError: naming the file.
        facial_anomaly.provenance.ModelMismatch: another kind, schema or landmark layout,
            or columns the caller does not have (naming the file and the mismatch).
    """
    return _checked(Fusion.load(path), source=str(Path(path)), features=features)


def score_fusion_from_record(data: dict, *, source: str, features: Sequence[str] | None = None) -> Fusion:
    """:func:`load_score_fusion` for the JSON already read (what a Kedro JSON dataset gives)."""
    return _checked(Fusion.from_dict(data, source=source), source=source, features=features)


def _checked(fusion: Fusion, *, source: str, features: Sequence[str] | None) -> Fusion:
    from ..provenance import ModelMismatch

    check_provenance(fusion.provenance or None, kind=MODEL_KIND, schema_version=SCHEMA_VERSION, source=source)
    if features is not None:
        missing = sorted(set(fusion.columns) - set(features))
        if missing:
            raise ModelMismatch(f"{source}: fuses columns {missing} that this run does not compute")
    return fusion


__all__ = ["Fusion", "ScoreFusionConfig", "fit_score_fusion", "load_score_fusion", "score_fusion_from_record"]
