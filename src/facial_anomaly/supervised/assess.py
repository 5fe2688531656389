"""Held-out evaluation of the supervised scorer: the table the benchmark prints and the
training pipeline reports.

* **Synthetic test set** (:func:`synthetic_test_set`): person-disjoint test faces, made by
  the same generator as training but with another seed: per face ``clean_per_face`` clean
  samples and ``anomalous_per_face`` anomalous ones, the families and severities (2–4)
  taken in turn. Metrics: ROC AUC over all samples, AUC of each family against all clean
  samples, Spearman ρ between the severity output (the probability when the network has no
  severity head) and the true grade over the anomalous samples.
* **Nuisance check** (:func:`nuisance_set`): each test face unchanged and under each
  capture change alone at the edge of its training range (:func:`~.capture.strongest`),
  its Siamese partner made from the changed image with the landmarks moved with the face
  (as at scoring time, where landmarks are found on the image scored); the threshold is
  the smallest unchanged face's score with at least ``specificity`` of the unchanged faces
  at or below it (:func:`facial_anomaly.evaluation.threshold_at_specificity`), the false
  positive rate of a change is the share of its variants scored above it.
* **Real photos**: the AUC of real anomaly photos (e.g. the 7 cleft-lip and 7 acne photos
  of ``../shared/data/anomalies``) against held-out real normal photos, all scored from
  their aligned faces with :meth:`~.scorer.SupervisedScorer.score_batch`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ..evaluation.metrics import threshold_at_specificity
from .capture import CHANGES, apply_capture, apply_to_points, strongest
from .crops import partner_image
from .fresh import PreparedFace, Sample
from .scorer import SupervisedScorer
from .trainer import SampleSet, SupervisedConfig, detection_metrics, fixed_samples, samples_to_set

UNCHANGED = ""


def synthetic_test_set(
    faces: Sequence[PreparedFace],
    *,
    seed: int,
    config: SupervisedConfig,
    synth_params: Mapping,
    clean_per_face: int = 2,
    anomalous_per_face: int = 8,
    families: Sequence[str] | None = None,
) -> SampleSet:
    """The synthetic test samples of ``faces`` (see the module docstring)."""
    samples, names = fixed_samples(
        faces,
        seed=seed,
        clean_per_face=clean_per_face,
        anomalous_per_face=anomalous_per_face,
        synth_params=synth_params,
        anomalies=config.anomalies,
        capture=config.capture,
        partner=config.scorer.partner_kind,
        families=families,
    )
    return samples_to_set(samples, names, config.scorer)


def nuisance_set(
    faces: Sequence[PreparedFace], *, seed: int, config: SupervisedConfig, changes: Sequence[str] | None = None
) -> SampleSet:
    """Each face unchanged (``capture`` "") and under each change alone (``capture`` = its name)."""
    changes = list(changes) if changes is not None else [name for name in CHANGES if name != "flip"]
    partner = config.scorer.partner_kind
    samples, names = [], []
    for i, face in enumerate(faces):
        rng = np.random.default_rng([int(seed), i])
        landmarks, shape = face.canvas.landmarks, face.canvas.image.shape
        variants = [(UNCHANGED, face.canvas.image, landmarks)]
        for name in changes:
            draw = strongest(config.capture, name, rng)
            # The partner is made from the changed image with the landmarks where the face now
            # is, as at scoring time (landmarks are found on the image that is scored).
            variants.append((name, apply_capture(face.canvas.image, draw), apply_to_points(landmarks, draw, shape)))
        for name, image, points in variants:
            samples.append(
                Sample(
                    image=image,
                    partner=None if partner is None else partner_image(image, points, partner),
                    change=np.zeros(image.shape[:2], np.float32),
                    label=0,
                    severity=0,
                    family="normal",
                    families=(),
                    capture=(name,) if name else (),
                )
            )
            names.append(face.name)
    return samples_to_set(samples, names, config.scorer)


def nuisance_false_positives(scores: np.ndarray, table: pd.DataFrame, *, specificity: float = 0.95) -> dict:
    """``{"threshold", "fpr", "fpr_by_change": {change: rate}}`` (see the module docstring).

    Raises:
        ValueError: a specificity outside (0, 1), or no unchanged or no changed faces.
    """
    if not 0.0 < specificity < 1.0:
        raise ValueError(f"specificity must be in (0, 1), got {specificity}")
    scores = np.asarray(scores, dtype=np.float64)
    kinds = table["capture"].to_numpy(dtype=object)
    unchanged = kinds == UNCHANGED
    if not unchanged.any() or unchanged.all():
        raise ValueError("the nuisance check needs unchanged faces and changed ones")
    threshold = threshold_at_specificity(scores[unchanged], specificity)
    above = scores > threshold
    by_change = {str(name): float(above[kinds == name].mean()) for name in dict.fromkeys(kinds[~unchanged])}
    return {"threshold": threshold, "fpr": float(above[~unchanged].mean()), "fpr_by_change": by_change}


def real_auc(anomalous_scores: np.ndarray, normal_scores: np.ndarray) -> float:
    """ROC AUC of real anomaly photos' scores against real normal photos' scores."""
    labels = np.r_[np.ones(len(anomalous_scores)), np.zeros(len(normal_scores))]
    return float(roc_auc_score(labels, np.r_[anomalous_scores, normal_scores]))


@dataclass
class Evaluation:
    """``metrics``: flat numbers (``test_auc``, ``test_auc.<family>``, ``test_severity_rho``,
    ``nuisance_fpr``, ``nuisance_fpr.<change>``, ``real_auc.<set>``); ``scores``: per part
    (``test``, ``nuisance``, ``real.<set>``, ``real.normal``) a table with the sample rows
    and their ``probability`` and ``severity``."""

    metrics: dict[str, float]
    scores: dict[str, pd.DataFrame] = field(default_factory=dict)


def evaluate(
    scorer: SupervisedScorer,
    test_faces: Sequence[PreparedFace],
    *,
    config: SupervisedConfig,
    synth_params: Mapping,
    seed: int,
    real: Mapping[str, tuple[Sequence[np.ndarray], Sequence[np.ndarray]]] | None = None,
    real_normals: tuple[Sequence[np.ndarray], Sequence[np.ndarray]] | None = None,
    specificity: float = 0.95,
    clean_per_face: int = 2,
    anomalous_per_face: int = 8,
    batch_size: int = 64,
) -> Evaluation:
    """Every measurement of the module docstring for one scorer.

    Args:
        scorer: the trained scorer.
        test_faces: prepared, person-disjoint test faces (with ``config``'s crops).
        config: the scorer's training settings (anomalies and capture changes of the test set).
        synth_params: the ``synthesize`` block.
        seed: the test set's seed (use one the training never used).
        real: set name → (aligned faces, landmarks) of real anomaly photos.
        real_normals: (aligned faces, landmarks) of held-out real normal photos.
    """
    metrics: dict[str, float] = {}
    scores: dict[str, pd.DataFrame] = {}
    test = synthetic_test_set(
        test_faces,
        seed=seed,
        config=config,
        synth_params=synth_params,
        clean_per_face=clean_per_face,
        anomalous_per_face=anomalous_per_face,
    )
    probability, severity = scorer.score_inputs(test.faces, test.partners, batch_size=batch_size)
    metrics.update(detection_metrics(probability, severity, test.table, "test_"))
    scores["test"] = test.table.assign(probability=probability, severity=severity)
    nuisance = nuisance_set(test_faces, seed=seed + 1, config=config)
    probability, severity = scorer.score_inputs(nuisance.faces, nuisance.partners, batch_size=batch_size)
    check = nuisance_false_positives(probability, nuisance.table, specificity=specificity)
    metrics["nuisance_fpr"] = check["fpr"]
    metrics.update({f"nuisance_fpr.{name}": rate for name, rate in check["fpr_by_change"].items()})
    scores["nuisance"] = nuisance.table.assign(probability=probability, severity=severity)
    if real and real_normals is not None:
        normal_probability, normal_severity = scorer.score_batch(*real_normals, batch_size=batch_size)
        scores["real.normal"] = pd.DataFrame({"probability": normal_probability, "severity": normal_severity})
        for name, (faces, landmarks) in real.items():
            p, s = scorer.score_batch(faces, landmarks, batch_size=batch_size)
            metrics[f"real_auc.{name}"] = real_auc(p, normal_probability)
            scores[f"real.{name}"] = pd.DataFrame({"probability": p, "severity": s})
    return Evaluation(metrics=metrics, scores=scores)


def evaluation_table(evaluations: Mapping[str, Evaluation], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per evaluated scorer (the mapping's keys), one column per metric (``columns``
    chosen and ordered, default: all of them)."""
    rows = {name: evaluation.metrics for name, evaluation in evaluations.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    if columns is not None:
        table = table.reindex(columns=list(columns))
    return table
