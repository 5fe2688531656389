"""How well a score separates anomalous faces from normal controls and follows severity.

Scores must be oriented so that **higher = more anomalous** (``anomaly_score``; negate
the paper's normality index S). Everything returned is JSON-able: plain floats, ints,
strings, lists, dicts, and ``None`` (with a reason) where a metric is undefined.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score, roc_curve

SUBSET_CONTROLS = ("within", "all_normals")

# Bootstrap resamples are processed in blocks of at most this many values, to bound memory.
_BOOTSTRAP_BLOCK_VALUES = 2_000_000


# --------------------------------------------------------------------------- correlation


def _rowwise_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair of (B, n) arrays; NaN where a row is constant."""
    dx = x - x.mean(axis=1, keepdims=True)
    dy = y - y.mean(axis=1, keepdims=True)
    denominator = np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (dx * dy).sum(axis=1) / denominator, np.nan)


def _rowwise_correlation(x: np.ndarray, y: np.ndarray, method: str) -> np.ndarray:
    if method == "spearman":
        # Spearman ρ is Pearson r of the ranks (ties get their average rank).
        x, y = stats.rankdata(x, axis=1), stats.rankdata(y, axis=1)
    return _rowwise_pearson(x, y)


def bootstrap_correlation(
    x: np.ndarray, y: np.ndarray, *, method: str, n_boot: int, ci_level: float, seed: int
) -> dict:
    """Correlation with a percentile-bootstrap confidence interval (pairs resampled together).

    Args:
        x, y: (n,) finite values.
        method: ``"pearson"`` or ``"spearman"``.
        n_boot: bootstrap resamples (≥ 1).
        ci_level: confidence level in (0, 1), e.g. 0.95.
        seed: seed of ``numpy.random.default_rng`` (same seed → same interval).

    Returns:
        ``{"estimate", "ci_low", "ci_high", "ci_level", "p_value", "n", "n_boot_valid"}``;
        resamples where a variable is constant are skipped and not counted as valid.
        ``estimate`` and the interval are None (with ``"reason"``) when x or y is
        constant or n < 3.

    Raises:
        ValueError: unknown method, mismatched lengths, non-finite values, bad n_boot/ci_level.
    """
    if method not in ("pearson", "spearman"):
        raise ValueError(f"unknown correlation method {method!r}; valid: ['pearson', 'spearman']")
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be an integer ≥ 1, got {n_boot!r}")
    if not 0.0 < ci_level < 1.0:
        raise ValueError(f"ci_level must be in (0, 1), got {ci_level!r}")
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of equal length, got {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("x and y must be finite")
    result = {"method": method, "n": int(x.size), "ci_level": float(ci_level)}
    estimate = float(_rowwise_correlation(x[None], y[None], method)[0]) if x.size >= 3 else math.nan
    if math.isnan(estimate):
        reason = "fewer than 3 values" if x.size < 3 else "a variable is constant"
        return {**result, "estimate": None, "ci_low": None, "ci_high": None, "p_value": None, "reason": reason}
    test = stats.pearsonr if method == "pearson" else stats.spearmanr
    p_value = float(test(x, y).pvalue)

    rng = np.random.default_rng(seed)
    block = max(1, _BOOTSTRAP_BLOCK_VALUES // x.size)
    resampled = []
    for start in range(0, int(n_boot), block):
        indices = rng.integers(0, x.size, size=(min(block, int(n_boot) - start), x.size))
        resampled.append(_rowwise_correlation(x[indices], y[indices], method))
    values = np.concatenate(resampled)
    values = values[np.isfinite(values)]
    tail = (1.0 - ci_level) / 2.0 * 100.0
    low, high = (float(v) for v in np.percentile(values, [tail, 100.0 - tail])) if values.size else (None, None)
    return {
        **result,
        "estimate": estimate,
        "ci_low": low,
        "ci_high": high,
        "p_value": p_value,
        "n_boot_valid": int(values.size),
    }


# --------------------------------------------------------------------------- classification


NORMAL_CONDITION = "normal"


def binary_labels(labels) -> np.ndarray:
    """True = anomalous. Labels are 0/1, bool, or condition names where ``normal`` marks a
    control and any other name (``cleft_lip``, ``acne``...) an anomaly (the synthesis
    stage's labels table uses names)."""
    array = np.asarray(labels)
    if array.dtype.kind in "OUS" and all(isinstance(value, str) for value in array.ravel()):
        return array != NORMAL_CONDITION
    valid = np.isin(array, [0, 1]) if array.dtype != bool else np.ones(array.shape, dtype=bool)
    if not valid.all():
        raise ValueError(
            f"labels must be 0/1, bool or condition names ('normal' = control); found {sorted(set(array[~valid].tolist()))[:5]}"
        )
    return array.astype(bool)


def _check_scores(scores) -> np.ndarray:
    array = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(array).all():
        raise ValueError("scores must be finite")
    return array


def _both_classes(labels: np.ndarray) -> None:
    if labels.all() or not labels.any():
        raise ValueError("labels must contain both normal (0) and anomalous (1) examples")


def equal_error_rate(labels, scores) -> tuple[float, float]:
    """Equal error rate and the threshold nearest to it, from ``sklearn.metrics.roc_curve``.

    The EER is where the false-positive rate equals the false-negative rate (1 − TPR),
    found by linear interpolation between the two ROC points around the crossing; the
    threshold is that of the first ROC point at or past the crossing (predict anomalous
    when score ≥ threshold).

    Args:
        labels: (n,) 0/1 or bool, 1 = anomalous; both classes present.
        scores: (n,) finite, higher = more anomalous.

    Returns:
        ``(eer, threshold)``: 0 for perfectly separated scores, 1 for perfectly reversed ones.
    """
    labels, scores = binary_labels(labels), _check_scores(scores)
    _both_classes(labels)
    fpr, tpr, thresholds = roc_curve(labels, scores)
    gap = (1.0 - tpr) - fpr  # decreases from 1 (first point) to −1 (last point)
    crossing = int(np.argmax(gap <= 0))
    before, after = gap[crossing - 1], gap[crossing]
    fraction = before / (before - after)
    eer = fpr[crossing - 1] + fraction * (fpr[crossing] - fpr[crossing - 1])
    return float(eer), float(thresholds[crossing])


def threshold_at_specificity(normal_scores, specificity: float) -> float:
    """The smallest normal-control score ``t`` with at least ``specificity`` of the controls ≤ t.

    Predicting "anomalous" when ``score > t`` then keeps the specificity on these controls
    ≥ the target (equal only when ``specificity × n`` is a whole number without ties).

    Args:
        normal_scores: (m,) finite scores of normal controls, m ≥ 1.
        specificity: target in (0, 1].

    Raises:
        ValueError: empty controls or specificity outside (0, 1].
    """
    scores = np.sort(_check_scores(normal_scores))
    if scores.size == 0:
        raise ValueError("no normal controls to choose a threshold on")
    if not 0.0 < specificity <= 1.0:
        raise ValueError(f"specificity must be in (0, 1], got {specificity!r}")
    # round() drops float noise such as 0.95 × 20 = 19.000000000000004.
    rank = max(1, math.ceil(round(specificity * scores.size, 9)))
    return float(scores[rank - 1])


def classification_metrics(labels, scores, *, specificity: float) -> dict:
    """ROC AUC, EER, and accuracy / precision / recall / F1 at the threshold chosen on the
    normal controls for ``specificity`` (see :func:`threshold_at_specificity`).

    Args:
        labels: (n,) 0/1 or bool, 1 = anomalous; both classes present.
        scores: (n,) finite, higher = more anomalous.
        specificity: target specificity in (0, 1].

    Returns:
        A flat dict of floats and counts (``threshold`` included; precision is 0 when
        nothing is predicted anomalous).

    Raises:
        ValueError: a single class, non-finite scores or bad labels.
    """
    labels, scores = binary_labels(labels), _check_scores(scores)
    _both_classes(labels)
    eer, eer_threshold = equal_error_rate(labels, scores)
    threshold = threshold_at_specificity(scores[~labels], specificity)
    predicted = scores > threshold
    return {
        "n_normal": int((~labels).sum()),
        "n_anomalous": int(labels.sum()),
        "roc_auc": float(roc_auc_score(labels, scores)),
        "eer": eer,
        "eer_threshold": eer_threshold,
        "target_specificity": float(specificity),
        "threshold": threshold,
        "specificity": float((~predicted[~labels]).mean()),
        "accuracy": float(accuracy_score(labels, predicted)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
    }


# --------------------------------------------------------------------------- tables


def _evaluate_rows(rows: pd.DataFrame, *, specificity, n_boot, ci_level, seed, has_severity) -> dict:
    """Metrics of one set of rows with columns ``score``, ``label`` and maybe ``severity``."""
    labels = rows["label"].to_numpy(dtype=bool)
    block = {"n": len(rows), "n_normal": int((~labels).sum()), "n_anomalous": int(labels.sum()), "unavailable": {}}
    if labels.all() or not labels.any():
        present = "anomalous" if labels.any() else ("normal" if len(rows) else "no")
        block["classification"] = None
        block["unavailable"]["classification"] = f"only {present} images; both classes are needed"
    else:
        block["classification"] = classification_metrics(labels, rows["score"].to_numpy(), specificity=specificity)
    if not has_severity:
        block["correlation"] = None
        block["unavailable"]["correlation"] = "no severity column configured"
        return block
    rated = rows.dropna(subset=["severity"])
    if len(rated) < 3:
        block["correlation"] = None
        block["unavailable"]["correlation"] = f"{len(rated)} rows with a severity; at least 3 are needed"
        return block
    block["correlation"] = {
        method: bootstrap_correlation(
            rated["score"].to_numpy(),
            rated["severity"].to_numpy(dtype=np.float64),
            method=method,
            n_boot=n_boot,
            ci_level=ci_level,
            seed=seed,
        )
        for method in ("pearson", "spearman")
    }
    return block


def evaluate(
    scores_df: pd.DataFrame,
    labels_df: pd.DataFrame,
    *,
    score_column: str,
    label_column: str,
    severity_column: str | None,
    subset_column: str | None,
    subset_controls: str,
    specificity: float,
    n_boot: int,
    ci_level: float,
    seed: int,
) -> dict:
    """Overall and per-subset metrics of one score column.

    Rows are joined on ``image_id``. Rows are left out — and counted in ``excluded`` —
    when the scores table's ``status`` (if present) is not ``ok``, the score is missing
    or not finite, or the label is missing (a row can count under several reasons).
    Correlations use the kept rows that have a severity.

    Args:
        scores_df: ``image_id``, optional ``status``, and ``score_column`` (higher = more anomalous).
        labels_df: ``image_id``, ``label_column`` (0/1 or bool, 1 = anomalous), and the
            optional ``severity_column`` (float, NaN = unrated) and ``subset_column``.
        score_column, label_column, severity_column, subset_column: column names
            (``None`` skips correlations / the per-subset breakdown).
        subset_controls: ``"within"`` evaluates each subset on its own rows;
            ``"all_normals"`` evaluates the anomalous rows of each subset against every
            normal control (for subsets that are one anomaly family each, e.g. cleft vs
            all normal faces).
        specificity: target specificity on normal controls for the threshold.
        n_boot, ci_level, seed: bootstrap of the correlation intervals.

    Returns:
        ``{"score_column", "n_joined", "excluded": {reason: count}, "overall": block,
        "subsets": {name: block}}``; a block holds ``n``, ``n_normal``, ``n_anomalous``,
        ``classification`` (see :func:`classification_metrics`) and ``correlation``
        (``{"pearson": ..., "spearman": ...}``, see :func:`bootstrap_correlation`); a
        section that cannot be computed is None and its reason is in ``unavailable``.

    Raises:
        KeyError: a named column is missing.
        ValueError: labels other than 0/1/bool.
    """
    for frame, columns in (
        (scores_df, ["image_id", score_column]),
        (labels_df, [c for c in ("image_id", label_column, severity_column, subset_column) if c is not None]),
    ):
        missing = [column for column in columns if column not in frame.columns]
        if missing:
            raise KeyError(f"missing columns {missing}; available: {list(frame.columns)}")
    label_columns = {label_column: "label", severity_column: "severity", subset_column: "subset"}
    label_columns.pop(None, None)
    scores = scores_df[["image_id", score_column] + (["status"] if "status" in scores_df else [])]
    joined = scores.rename(columns={score_column: "score"}).merge(
        labels_df[["image_id", *label_columns]].rename(columns=label_columns), on="image_id", how="inner"
    )
    status_ok = joined["status"].eq("ok").to_numpy() if "status" in joined else np.ones(len(joined), dtype=bool)
    score_values = pd.to_numeric(joined["score"], errors="coerce").to_numpy(dtype=np.float64)
    excluded = {
        "status_not_ok": ~status_ok,
        "score_missing_or_not_finite": ~np.isfinite(score_values),
        "label_missing": joined["label"].isna().to_numpy(),
    }
    keep = ~np.logical_or.reduce(list(excluded.values()))
    rows = joined[keep].copy()
    rows["label"] = binary_labels(rows["label"].to_numpy())
    rows["score"] = score_values[keep]

    options = dict(specificity=specificity, n_boot=n_boot, ci_level=ci_level, seed=seed)
    has_severity = severity_column is not None
    if subset_controls not in SUBSET_CONTROLS:
        raise ValueError(f"subset_controls must be one of {SUBSET_CONTROLS}, got {subset_controls!r}")
    subsets = {}
    if subset_column is not None:
        normals = rows[rows["label"] == 0]
        for name, group in rows.groupby("subset", sort=True, dropna=False):
            if subset_controls == "all_normals":
                group = pd.concat([group[group["label"] == 1], normals])
            subsets[str(name)] = _evaluate_rows(group, has_severity=has_severity, **options)
    return {
        "score_column": score_column,
        "n_joined": int(len(joined)),
        "excluded": {reason: int(np.count_nonzero(mask)) for reason, mask in excluded.items()},
        "overall": _evaluate_rows(rows, has_severity=has_severity, **options),
        "subsets": subsets,
    }
