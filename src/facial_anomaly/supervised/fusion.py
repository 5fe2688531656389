"""Fusion of the supervised anomaly probability with the unsupervised score columns
(``scores.csv``: e.g. ``symmetry.pse_ycbcr_eroded__mouth_nose``) into one ``anomaly_score``.

Three combiners, fitted on the dev split (:func:`fit_fusion`) and saved as plain JSON (no
pickle; :meth:`Fusion.save` / :meth:`Fusion.load`):

* ``logistic``: logistic regression (scikit-learn, L2 with inverse strength ``C``) on the
  standardized features ``(x − mean) / scale`` (dev mean and standard deviation);
  ``anomaly_score = sigmoid(intercept + Σ coefficient_i · standardized_i)`` ∈ (0, 1).
  Increasing a feature with a positive coefficient increases the score.
* ``rank_logistic``: the same on Gaussian ranks: each feature becomes its mid-rank
  empirical CDF on the dev scores (as for ``rank_average``), mapped through the standard
  normal quantile function, then standardized. The unsupervised heatmap scores are heavy-
  tailed (skewness ≈ 9 on our dev pairs: a few faces with large asymmetry), and a
  logistic regression on their raw values is driven by those few rows — on the bench its
  fused dev AUC (0.58) fell below that of its best single input (0.64); on ranks it is
  0.65. Monotone in every feature like ``logistic``.
* ``rank_average``: each feature becomes its mid-rank empirical CDF on the dev scores
  (linear between dev values, constant beyond the smallest and largest), turned round (1 − CDF) for a
  feature whose dev AUC is below 0.5 (a "higher = more normal" column such as
  ``normality_index``), and the fused score is their mean ∈ [0, 1]. No weights to fit
  beyond the orientation: robust with few dev faces. Direction +1 features enter
  increasing (non-decreasing between equal dev values).

The two logistic methods can also be fitted on graded targets (``grades``: 0 for a normal
row, the anomaly's severity for an anomalous one) as a proportional-odds model (McCullagh
1980, "Regression models for ordinal data", JRSS B): one weight per feature shared by every
cut "grade > g" between consecutive grades, one intercept per cut. The fused score is the
first cut's probability, P(anomalous), so it is read exactly like the binary fit; the
weights now also have to order the anomalies by grade, which leans them towards the
columns that grow with severity (docs/supervised.md: severity ρ 0.30 against 0.26 on 1488
synthetic test anomalies, test AUC 0.785 against 0.780).

**Tail maximum** (``tail_max_of``, logistic methods). A linear fusion cannot keep an input
that is strong on one family only: the shape residual finds measured palsy droops at AUC
0.891 where the scorer reads 0.716, yet with one weight among eight the fused palsy AUC was
0.762 — the residual's large values on the few palsy rows are outvoted by the other inputs'
ordinary ones. With ``tail_max_of`` the fusion gains one more feature, ``max_tail_z``: the
largest of the named columns' robust z-scores against the *normal* dev rows ((x − median) /
(1.4826 · MAD)), so a row far in the tail of any one of them is far in the tail of this
feature (a "min p-value" combination, made monotone and weighted like the others).

A row with a missing (NaN) feature gets a NaN score (e.g. a rejected image).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

# The standard normal quantile (scipy.stats.norm.ppf is this function): scipy.special imports
# in milliseconds where scipy.stats and scikit-learn take ~1 s, and a scoring run only fuses.
from scipy.special import ndtri as normal_quantile

METHODS = ("logistic", "rank_logistic", "rank_average")
TAIL_MAX = "max_tail_z"  # the derived feature of ``tail_max_of``
FORMAT_NAME = "facial_anomaly.supervised.fusion"
FORMAT_VERSION = 1
# The cut indicators of a graded fit enter the regression as columns of this value, so the
# L2 penalty on their weights (the cuts' intercepts) is this squared times weaker than on
# the features': in effect unpenalised, as the binary fit's own intercept.
_CUT_SCALE = 10.0


@dataclass
class Fusion:
    """A fitted combiner (see the module docstring); every field is JSON-serialisable.

    ``features``: column names, in order; ``mean``/``scale``: standardisation (logistic);
    ``coefficients``: logistic weights of the standardized features, or the orientation
    (+1/−1) of each feature for rank averaging; ``intercept``: logistic only (0 otherwise);
    ``reference_values``/``reference_cdf``: per feature, the distinct dev values and
    their mid-rank CDF (rank methods; empty lists otherwise); ``tail_max_of``,
    ``tail_centre``, ``tail_spread``: the columns of the derived ``max_tail_z`` feature
    (the last of ``features`` when present) with their normal dev rows' median and robust
    spread (see the module docstring); ``provenance``: free-form JSON about the fitted
    inputs (empty unless the caller sets it).
    """

    method: str
    features: list[str]
    mean: list[float]
    scale: list[float]
    coefficients: list[float]
    intercept: float
    reference_values: list[list[float]]
    reference_cdf: list[list[float]]
    # Where the fused inputs came from (e.g. the SHA-1 of each model checkpoint the fusion
    # was fitted with), so a scorer can refuse a fusion that does not fit its models.
    provenance: dict = field(default_factory=dict)
    tail_max_of: list[str] = field(default_factory=list)
    tail_centre: list[float] = field(default_factory=list)
    tail_spread: list[float] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """The score-table columns the fusion reads (its features without the derived one)."""
        return [name for name in self.features if name != TAIL_MAX] + [
            name for name in self.tail_max_of if name not in self.features
        ]

    def _matrix(self, table: pd.DataFrame) -> np.ndarray:
        missing = [name for name in self.columns if name not in table.columns]
        if missing:
            raise KeyError(f"score table lacks the fused columns {missing}; it has {list(table.columns)}")
        given = [name for name in self.features if name != TAIL_MAX]
        x = table[given].to_numpy(dtype=np.float64)
        if TAIL_MAX not in self.features:
            return x
        tail = tail_z(table[self.tail_max_of].to_numpy(dtype=np.float64), self.tail_centre, self.tail_spread)
        return np.insert(x, self.features.index(TAIL_MAX), tail.max(axis=1), axis=1)

    def fuse(self, table: pd.DataFrame) -> np.ndarray:
        """The fused ``anomaly_score`` (N,) float64 of every row of ``table`` (NaN where a feature is NaN)."""
        x = self._matrix(table)
        bad = ~np.isfinite(x).all(axis=1)
        if self.method == "rank_average":
            oriented = np.where(np.asarray(self.coefficients) > 0, self._ranks(x), 1.0 - self._ranks(x))
            score = oriented.mean(axis=1)
        else:
            features = normal_quantile(self._ranks(x)) if self.method == "rank_logistic" else x
            z = self.intercept + ((features - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(
                self.coefficients
            )
            score = 1.0 / (1.0 + np.exp(-z))
        score[bad] = np.nan
        return score

    def _ranks(self, x: np.ndarray) -> np.ndarray:
        """Each feature as its dev mid-rank CDF, in (0, 1) (constant beyond the dev range)."""
        return np.column_stack(
            [np.interp(x[:, i], self.reference_values[i], self.reference_cdf[i]) for i in range(len(self.features))]
        )

    def to_dict(self) -> dict:
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict, source: str = "fusion data") -> "Fusion":
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: not a fusion of this format, or inconsistent lengths.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"{source} is not a {FORMAT_NAME} version {FORMAT_VERSION} file")
        fields_given = {key: data[key] for key in cls.__dataclass_fields__ if key in data}
        required = {item.name for item in fields(cls) if item.default is MISSING and item.default_factory is MISSING}
        missing = sorted(required - set(fields_given))
        if missing:
            raise ValueError(f"{source}: missing fields {missing}")
        fusion = cls(**fields_given)
        n = len(fusion.features)
        lengths = [len(fusion.mean), len(fusion.scale), len(fusion.coefficients)]
        if fusion.method not in METHODS or any(length != n for length in lengths):
            raise ValueError(f"{source}: method {fusion.method!r} or field lengths {lengths} do not fit {n} features")
        tails = [len(fusion.tail_max_of), len(fusion.tail_centre), len(fusion.tail_spread)]
        if (TAIL_MAX in fusion.features) != bool(fusion.tail_max_of) or len(set(tails)) != 1:
            raise ValueError(f"{source}: {TAIL_MAX} and its tail fields (lengths {tails}) do not fit together")
        return fusion

    def save(self, path: str | os.PathLike) -> Path:
        """Write the combiner as JSON; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Fusion":
        """Read a combiner written by :meth:`save`.

        Raises:
            FileNotFoundError: naming the file. ValueError: not valid fusion JSON.
        """
        if not Path(path).is_file():
            raise FileNotFoundError(f"fusion file {path} does not exist")
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except ValueError as error:
            raise ValueError(f"{path} is not valid JSON ({error})") from error
        return cls.from_dict(data, str(path))


def tail_z(x: np.ndarray, centre: Sequence[float], spread: Sequence[float]) -> np.ndarray:
    """Robust z-scores (N, K) of columns ``x`` (N, K) against their normal rows' ``centre``
    (median) and ``spread`` (1.4826 · median absolute deviation, > 0)."""
    return (x - np.asarray(centre, dtype=np.float64)) / np.asarray(spread, dtype=np.float64)


def _robust_reference(x: np.ndarray) -> tuple[list[float], list[float]]:
    centre = np.median(x, axis=0)
    spread = 1.4826 * np.median(np.abs(x - centre), axis=0)
    # a column constant on most normal rows: fall back to its standard deviation, then 1
    deviation = x.std(axis=0)
    fallback = np.where(deviation > 0, deviation, 1.0)
    return centre.tolist(), np.where(spread > 0, spread, fallback).tolist()


def _mid_rank_cdf(values: np.ndarray) -> tuple[list[float], list[float]]:
    distinct, counts = np.unique(values, return_counts=True)
    below = np.cumsum(counts) - counts
    return distinct.tolist(), ((below + counts / 2.0) / len(values)).tolist()


def fit_fusion(
    table: pd.DataFrame,
    labels: Sequence[int],
    *,
    features: Sequence[str],
    method: str,
    C: float,
    max_iter: int,
    nonnegative: bool = False,
    grades: Sequence[float] | None = None,
    tail_max_of: Sequence[str] = (),
) -> Fusion:
    """Fit a combiner on dev rows.

    Args:
        table: one row per dev image with the ``features`` columns.
        labels: one 0 (normal) / 1 (anomalous) per row; both must occur.
        features: the columns to combine (e.g. ``supervised.siamese`` and unsupervised variants).
        method: ``logistic``, ``rank_logistic`` or ``rank_average``.
        C: inverse L2 strength of the logistic regression (ignored by rank averaging).
        max_iter: solver iterations of the logistic regression.
        nonnegative: (logistic methods) every feature is an anomaly score oriented "higher =
            more anomalous", so a negative weight can only come from correlated inputs
            (e.g. two heatmap regions of one face) and would turn a larger difference into
            a more normal score on new data. With this set, features given a negative
            weight are dropped (weight 0) and the rest refitted, until none is negative.
        grades: (logistic methods) one severity per row, > 0 on every anomalous row (a
            normal row's is taken as 0): fit the proportional-odds model of the module
            docstring instead of the binary one. The fused score is still P(anomalous).
        tail_max_of: (logistic methods) columns among ``features`` whose largest robust
            z-score against the normal rows becomes one more feature, ``max_tail_z``
            (module docstring).

    Rows with a NaN feature are left out of the fit.

    Raises:
        ValueError: unknown method, no features, labels that do not fit, or a single class;
            grades given to ``rank_average``, of the wrong length, or missing (NaN) or ≤ 0
            on an anomalous row; ``tail_max_of`` with ``rank_average`` or naming a column
            that is not a feature.
        KeyError: a feature column is missing.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    features = list(features)
    if not features or len(set(features)) != len(features):
        raise ValueError(f"need distinct feature columns, got {features}")
    tail_max_of = list(tail_max_of)
    if tail_max_of and (method == "rank_average" or not set(tail_max_of) <= set(features) or TAIL_MAX in features):
        raise ValueError(
            f"tail_max_of must name some of the features {features} of a logistic method, got {tail_max_of}"
        )
    x = Fusion(method, features, [], [], [], 0.0, [], [])._matrix(table)
    y = np.asarray(labels, dtype=np.int64)
    if y.shape != (len(x),):
        raise ValueError(f"need one label per row: {len(x)} rows, labels of shape {y.shape}")
    graded = None
    if grades is not None:
        if method == "rank_average":
            raise ValueError("grades need a logistic method; rank_average fits no weights")
        graded = np.asarray(grades, dtype=np.float64)
        if graded.shape != (len(x),):
            raise ValueError(f"need one grade per row: {len(x)} rows, grades of shape {graded.shape}")
    usable = np.isfinite(x).all(axis=1)
    x, y = x[usable], y[usable]
    if set(np.unique(y).tolist()) != {0, 1}:
        raise ValueError(f"the dev rows must contain both labels 0 and 1, got {sorted(set(y.tolist()))}")
    tails: dict = {}
    if tail_max_of:
        chosen = x[:, [features.index(name) for name in tail_max_of]]
        centre, spread = _robust_reference(chosen[y == 0])
        tails = {"tail_max_of": tail_max_of, "tail_centre": centre, "tail_spread": spread}
        x = np.column_stack([x, tail_z(chosen, centre, spread).max(axis=1)])
        features = [*features, TAIL_MAX]
    if graded is not None:
        graded = np.where(y == 1, graded[usable], 0.0)
        if not (np.isfinite(graded) & (graded > 0))[y == 1].all():
            raise ValueError("grades must be a number > 0 on every anomalous row (the anomaly's severity)")
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    cdfs = [_mid_rank_cdf(x[:, i]) for i in range(len(features))]
    values, cdf = [v for v, _ in cdfs], [c for _, c in cdfs]
    if method == "rank_average":
        directions = [1.0 if roc_auc_score(y, x[:, i]) >= 0.5 else -1.0 for i in range(len(features))]
        return Fusion(method, features, x.mean(axis=0).tolist(), _scale(x).tolist(), directions, 0.0, values, cdf)
    if method == "rank_logistic":
        x = normal_quantile(Fusion(method, features, [], [], [], 0.0, values, cdf)._ranks(x))
    mean, scale = x.mean(axis=0), _scale(x)
    standardized = (x - mean) / scale
    design, targets, cuts = _ordinal_design(standardized, y, graded)
    used = np.ones(len(features), dtype=bool)
    while True:
        columns = np.r_[used, np.ones(cuts, dtype=bool)] if cuts else used
        regression = LogisticRegression(C=float(C), max_iter=int(max_iter), fit_intercept=not cuts).fit(
            design[:, columns], targets
        )
        weights = np.zeros(len(features))
        weights[used] = regression.coef_[0][: used.sum()]
        # the first cut ("grade > 0") is P(anomalous); a binary fit has its own intercept
        intercept = float(regression.coef_[0][used.sum()] * _CUT_SCALE) if cuts else float(regression.intercept_[0])
        negative = weights < 0
        if not nonnegative or not negative.any() or negative.sum() == used.sum():
            break
        used &= ~negative
    if nonnegative:
        weights = np.maximum(weights, 0.0)
    keep = method == "rank_logistic"  # the logistic fusion needs no reference CDFs
    return Fusion(
        method,
        features,
        mean.tolist(),
        scale.tolist(),
        weights.tolist(),
        intercept,
        values if keep else [],
        cdf if keep else [],
        **tails,
    )


def _ordinal_design(
    standardized: np.ndarray, labels: np.ndarray, grades: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, int]:
    """(design, targets, cuts) of the regression: the rows as given with their labels when
    ``grades`` is None (cuts 0); else the rows once per cut "grade > g" (g = 0 and every
    grade but the largest), each with its target and a one-hot cut column of
    :data:`_CUT_SCALE` appended (the cuts' intercepts)."""
    if grades is None:
        return standardized, labels, 0
    levels = np.unique(grades)[:-1]
    blocks, targets = [], []
    for index, level in enumerate(levels):
        indicator = np.zeros((len(standardized), len(levels)))
        indicator[:, index] = _CUT_SCALE
        blocks.append(np.hstack([standardized, indicator]))
        targets.append((grades > level).astype(np.int64))
    return np.vstack(blocks), np.concatenate(targets), len(levels)


def _scale(x: np.ndarray) -> np.ndarray:
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    return scale
