"""Measurements of a trained scorer on held-out pairs: AUC (overall and per anomaly family),
severity ranking, and false positives on harmless changes of normal faces.

The nuisance check (the brief: "benches must include nuisance variants of normal faces as
negatives"): for each held-out normal face, the unchanged face and one variant per harmless
change of :data:`~.nuisance.NUISANCES` applied alone (random magnitude from the ``nuisance``
parameters). The decision threshold is the smallest score of an unchanged face with at least
``specificity`` of the unchanged faces' scores at or below it
(:func:`facial_anomaly.evaluation.threshold_at_specificity`, as in the evaluation stage);
the false-positive rate of a nuisance is the fraction of its variants scored above it. A
scorer that reacts to JPEG, blur or lighting shows up here even when its AUC on synthetic
anomalies looks good.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from ..evaluation.metrics import threshold_at_specificity
from ..normalizers.base import Normalizer
from .data import NORMAL_FAMILY, NormalFace, Pair, pair_rng
from .nuisance import NUISANCES, apply_nuisances
from .training import auc_by_family

# Random streams of the nuisance-check variants: pair_rng(seed, face, NUISANCE_CHECK_STREAM + k)
# lies far beyond any training variant index, so a check variant never equals a training pair.
NUISANCE_CHECK_STREAM = 1_000_000


def plain_pair(
    face: NormalFace, image: np.ndarray, landmarks: np.ndarray, normalizer: Normalizer, record: Mapping
) -> Pair:
    """A pair of ``image`` (a normal face, possibly changed) and its normalized partner."""
    base = {
        "face": face.name,
        "person": str(face.person),
        "variant": -1,
        "label": 0,
        "severity": 0,
        "family": NORMAL_FAMILY,
        "side": None,
        "nuisances": "",
        "redraws": 0,
    }
    return Pair(
        image, normalizer.normalize(image, landmarks).image, np.asarray(landmarks, dtype=np.float64), {**base, **record}
    )


def nuisance_check_pairs(
    faces: Sequence[NormalFace], *, normalizer: Normalizer, params: Mapping, seed: int
) -> list[Pair]:
    """Per face: the unchanged face (``nuisances`` = "") and one variant per nuisance alone
    (``nuisances`` = its name); all label 0, family ``normal``. ``params``: the ``nuisance``
    block. Deterministic in (seed, face name)."""
    pairs = []
    for face in faces:
        pairs.append(plain_pair(face, face.image, face.landmarks, normalizer, {}))
        for k, name in enumerate(NUISANCES):
            rng = pair_rng(seed, face.name, NUISANCE_CHECK_STREAM + k)
            image, landmarks, _ = apply_nuisances(face.image, face.landmarks, rng, params, only=[name])
            pairs.append(plain_pair(face, image, landmarks, normalizer, {"nuisances": name}))
    return pairs


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    finite = np.isfinite(scores)
    labels, scores = labels[finite], scores[finite]
    return float(roc_auc_score(labels, scores)) if len(set(labels.tolist())) == 2 else float("nan")


def detection_metrics(scores: np.ndarray, table: pd.DataFrame, severities: np.ndarray | None = None) -> dict:
    """AUC of ``scores`` (N,) over the pairs of ``table`` (``label``, ``family``,
    ``severity``), AUC per anomaly family against all normal pairs, and — given the
    scorer's ``severities`` (N,) — Spearman ρ between them and the true grade over the
    anomalous pairs (NaN when undefined)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = table["label"].to_numpy(dtype=np.int64)
    metrics = {
        "pairs": int(len(table)),
        "auc": _auc(labels, scores),
        "auc_by_family": auc_by_family(scores, labels, table["family"].to_numpy(dtype=object)),
    }
    if severities is not None:
        anomalous = labels == 1
        truth = table["severity"].to_numpy(dtype=np.float64)[anomalous]
        estimate = np.asarray(severities, dtype=np.float64)[anomalous]
        varied = anomalous.sum() > 2 and np.ptp(truth) > 0 and np.ptp(estimate) > 0
        metrics["severity_spearman"] = float(spearmanr(estimate, truth).statistic) if varied else float("nan")
    return metrics


def nuisance_false_positives(scores: np.ndarray, table: pd.DataFrame, *, specificity: float) -> dict:
    """False-positive rates on the nuisance check (see the module docstring).

    Args:
        scores: (N,) scores of the pairs of ``table`` (higher = more anomalous).
        table: :func:`nuisance_check_pairs` rows (``nuisances``: "" = unchanged).
        specificity: in (0, 1); at most ``1 − specificity`` of the unchanged faces score
            above the threshold (see the module docstring).

    Returns:
        ``{"threshold", "unchanged", "variants", "fpr", "fpr_by_nuisance": {name: rate}}``.

    Raises:
        ValueError: no unchanged or no changed faces, or a specificity outside (0, 1).
    """
    if not 0.0 < specificity < 1.0:
        raise ValueError(f"specificity must be in (0, 1), got {specificity}")
    scores = np.asarray(scores, dtype=np.float64)
    kinds = table["nuisances"].fillna("").to_numpy(dtype=object)
    unchanged = kinds == ""
    if not unchanged.any() or unchanged.all():
        raise ValueError("the nuisance check needs unchanged faces and nuisance variants")
    threshold = threshold_at_specificity(scores[unchanged], specificity)
    above = scores > threshold
    return {
        "threshold": threshold,
        "unchanged": int(unchanged.sum()),
        "variants": int((~unchanged).sum()),
        "fpr": float(above[~unchanged].mean()),
        "fpr_by_nuisance": {name: float(above[kinds == name].mean()) for name in NUISANCES if (kinds == name).any()},
    }
