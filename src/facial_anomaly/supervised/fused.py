"""The fused default ``anomaly_score``: the supervised probability combined with unsupervised
scores, refitted on the dev split after training (:func:`~.fusion.fit_fusion`).

The unsupervised scores (heatmap statistics of a normalizer's output, deep-feature
distances, ...) are computed on aligned faces at full resolution, so the fusion's dev and
test rows are made at full resolution too (:func:`full_resolution_samples`): each dev face
clean and with fresh anomalies drawn by the same generator as the scorer's training
(:mod:`.fresh`, on the face itself instead of its canvas; capture changes without the
mirror image, rotation and shift, so the face's landmarks stay valid). Each row is scored by
the scorer (:meth:`~.scorer.SupervisedScorer.score_batch`) and by ``unsupervised(face,
landmarks) → {column: value}`` (e.g. :func:`columns_scorer` over the scoring stage's score
columns), then :func:`fit_default_fusion` fits the default score fusion with the scorer
checkpoint's SHA-1 in its provenance.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .fresh import Sample, prepare_face
from .fusion import Fusion
from .scorer import SupervisedScorer
from .trainer import SupervisedConfig, fixed_samples

if TYPE_CHECKING:  # FaceMesh is imported only when landmarks are measured
    from ..faces.landmarks import LandmarkConfig

logger = logging.getLogger(__name__)

PROBABILITY_COLUMN = "supervised.probability"
SEVERITY_COLUMN = "supervised.severity"
Unsupervised = Callable[[np.ndarray, np.ndarray], Mapping[str, float]]


def full_resolution_samples(
    faces: Sequence[np.ndarray],
    landmarks: Sequence[np.ndarray],
    names: Sequence[str],
    *,
    seed: int,
    config: SupervisedConfig,
    synth_params: Mapping,
    clean_per_face: int = 1,
    anomalous_per_face: int = 2,
    measure_landmarks: bool = False,
    landmark_config: LandmarkConfig | None = None,
    first_face: int = 0,
) -> tuple[list[Sample], list[str], list[np.ndarray]]:
    """Clean and anomalous samples of aligned faces at their own resolution (see the module
    docstring): ``(samples, face names, landmarks per sample)``; families and severities in
    turn, sample ``v`` of face ``i`` drawn from ``default_rng([seed, i, v])``.

    The landmarks of a sample are its source face's unless ``measure_landmarks``: then
    FaceMesh measures every sample itself (:func:`measured_landmarks` with
    ``landmark_config``, default the preprocess defaults), as the scoring stage measures a
    photo — a warp that moves the lip or the mouth corner moves the landmarks too, and the
    mirror partner, the regions and the shape residual follow. A sample FaceMesh finds no
    face in keeps its source face's landmarks (counted in a warning). The faces are numbered
    from ``first_face`` (:func:`~.trainer.fixed_samples`)."""
    prepared = [
        prepare_face(face, points, synth_params=synth_params, crops=None, anomalies=config.anomalies, name=name)
        for face, points, name in zip(faces, landmarks, names)
    ]
    capture = config.capture.model_copy(update={"flip_probability": 0.0, "geometry_probability": 0.0})
    samples, sample_names = fixed_samples(
        prepared,
        seed=seed,
        clean_per_face=clean_per_face,
        anomalous_per_face=anomalous_per_face,
        synth_params=synth_params,
        anomalies=config.anomalies,
        capture=capture,
        partner=None,
        first_face=first_face,
    )
    points = {face.name: face.canvas.landmarks for face in prepared}
    sample_points = [points[name] for name in sample_names]
    if measure_landmarks:
        sample_points = measured_landmarks(samples, sample_points, landmark_config)
    return samples, sample_names, sample_points


def measured_landmarks(
    samples: Sequence[Sample], fallback: Sequence[np.ndarray], config: LandmarkConfig | None = None
) -> list[np.ndarray]:
    """FaceMesh's landmarks of each sample's image (``config``: default the preprocess
    defaults, mirror-consistent, on luma); a sample with no face found keeps its
    ``fallback`` landmarks (counted in a warning)."""
    from ..faces.landmarks import LandmarkConfig, LandmarksNotFound, detect_landmarks

    config = config or LandmarkConfig()
    measured, missed = [], 0
    for sample, points in zip(samples, fallback):
        try:
            measured.append(detect_landmarks(sample.image, None, config))
        except LandmarksNotFound:
            measured.append(points)
            missed += 1
    if missed:
        logger.warning(
            "FaceMesh found no face in %d of %d samples; they keep their source face's landmarks", missed, len(samples)
        )
    return measured


def score_table(
    scorer: SupervisedScorer,
    samples: Sequence[Sample],
    names: Sequence[str],
    landmarks: Sequence[np.ndarray],
    *,
    unsupervised: Unsupervised | None = None,
    batch_size: int = 32,
) -> pd.DataFrame:
    """One row per sample: ``face``, ``label``, ``severity``, ``family``,
    ``supervised.probability``, ``supervised.severity`` and the unsupervised columns."""
    images = [sample.image for sample in samples]
    probability, severity = scorer.score_batch(images, list(landmarks), batch_size=batch_size)
    table = pd.DataFrame(
        {
            "face": list(names),
            "label": [s.label for s in samples],
            "severity": [s.severity for s in samples],
            "family": [s.family for s in samples],
            PROBABILITY_COLUMN: probability,
            SEVERITY_COLUMN: severity,
        }
    )
    if unsupervised is not None:
        extra = pd.DataFrame([dict(unsupervised(image, points)) for image, points in zip(images, landmarks)])
        table = pd.concat([table, extra], axis=1)
    return table


def full_resolution_table(
    scorer: SupervisedScorer,
    faces: Sequence[np.ndarray],
    landmarks: Sequence[np.ndarray],
    names: Sequence[str],
    *,
    seed: int,
    config: SupervisedConfig,
    synth_params: Mapping,
    unsupervised: Callable[[], Unsupervised] | None = None,
    measure_landmarks: bool = False,
    landmark_config: LandmarkConfig | None = None,
    workers: int = 1,
    faces_per_task: int = 4,
    batch_size: int = 32,
) -> pd.DataFrame:
    """:func:`score_table` of :func:`full_resolution_samples` (one clean and two anomalous
    rows per face), with the work of each face — preparing it, drawing its rows, FaceMesh,
    the unsupervised columns — in ``workers`` processes ("spawn"; 1 = here), ``faces_per_task``
    faces at a time; the scorer then scores every row here, in batches.

    ``unsupervised`` *makes* the ``(face, landmarks) → {column: value}`` function (e.g. a
    ``functools.partial`` of a module-level function): each process builds its own, so it
    must pickle. The table does not depend on ``workers`` (the deep-feature columns up to
    float rounding: the processes compute with one thread each).

    Raises:
        ValueError: ``faces_per_task`` < 1.
    """
    if faces_per_task < 1:
        raise ValueError(f"faces_per_task must be ≥ 1, got {faces_per_task}")
    job = {
        "seed": seed,
        "config": config,
        "synth_params": dict(synth_params),
        "unsupervised": unsupervised,
        "measure_landmarks": measure_landmarks,
        "landmark_config": landmark_config,
    }
    step = int(faces_per_task)
    tasks = [
        (
            start,
            list(faces[start : start + step]),
            list(landmarks[start : start + step]),
            list(names[start : start + step]),
        )
        for start in range(0, len(faces), step)
    ]
    if workers <= 1 or len(tasks) < 2:
        parts = [_rows_of_faces(task, job) for task in tasks]
    else:
        from ..parallel.ordered import OrderedWorkers

        with OrderedWorkers(int(workers), job=job, task="making full-resolution rows") as pool:
            parts = pool.map(_rows_in_worker, tasks)
    samples = [sample for part in parts for sample in part[0]]
    sample_names = [name for part in parts for name in part[1]]
    points = [p for part in parts for p in part[2]]
    table = score_table(scorer, samples, sample_names, points, batch_size=batch_size)
    if unsupervised is not None:
        columns = pd.DataFrame([row for part in parts for row in part[3]], index=table.index)
        table = pd.concat([table, columns], axis=1)
    return table


def _rows_in_worker(task: tuple) -> tuple:
    from ..parallel.ordered import worker_job

    return _rows_of_faces(task, worker_job())


def _rows_of_faces(task: tuple, job: dict) -> tuple[list[Sample], list[str], list[np.ndarray], list[dict]]:
    """(samples, their faces' names, their landmarks, their unsupervised columns) of the
    faces of ``task`` = (number of the first face, faces, landmarks, names)."""
    first_face, faces, landmarks, names = task
    samples, sample_names, points = full_resolution_samples(
        faces,
        landmarks,
        names,
        seed=job["seed"],
        config=job["config"],
        synth_params=job["synth_params"],
        measure_landmarks=job["measure_landmarks"],
        landmark_config=job["landmark_config"],
        first_face=first_face,
    )
    rows: list[dict] = []
    if job["unsupervised"] is not None:
        if "columns_of" not in job:  # built once per process (a backbone, fitted models)
            job["columns_of"] = job["unsupervised"]()
        rows = [dict(job["columns_of"](sample.image, p)) for sample, p in zip(samples, points)]
    return samples, sample_names, points, rows


def checkpoint_sha1(checkpoint: bytes) -> str:
    return hashlib.sha1(checkpoint).hexdigest()


def fit_default_fusion(
    dev_table: pd.DataFrame,
    *,
    unsupervised_columns: Sequence[str],
    checkpoint: bytes,
    fitted_models: Mapping[str, str] | None = None,
    target: str = "severity",
    C: float = 1.0,
    max_iter: int = 1000,
    tail_max_of: Sequence[str] = (),
) -> Fusion:
    """The fused default ``anomaly_score`` fitted on :func:`score_table` rows of the dev split:
    the supervised probability and ``unsupervised_columns`` combined by the default score
    fusion (:func:`facial_anomaly.scoring.fusion.fit_score_fusion`: non-negative
    ``rank_logistic``, provenance kind ``score_fusion``). The provenance also names the
    scorer checkpoint (``supervised_checkpoint_sha1``) and the fitted models behind the
    columns (``fitted_models_sha1``: model name → SHA-1 of its file), so a scoring run can
    refuse a fusion fitted with another scorer or other models. ``target``: ``severity``
    fits the graded (proportional-odds) fusion on the rows' drawn severities, which ranks
    anomalies by severity better at the same detection AUC (docs/supervised.md); ``label``
    the binary one. ``tail_max_of``: fused columns whose largest robust z against the
    normal dev rows is one more feature (:mod:`.fusion`: the tail maximum), e.g. the scorer's
    probability and the shape residual, so a row far out on either is far out; a column
    that is not fused (e.g. left out for want of its model) is ignored.

    Raises:
        ValueError: an unknown ``target``.
    """
    if target not in ("severity", "label"):
        raise ValueError(f"target must be 'severity' or 'label', got {target!r}")
    from ..provenance import training_data_fingerprint
    from ..scoring.fusion import ScoreFusionConfig, fit_score_fusion

    features = (PROBABILITY_COLUMN, *unsupervised_columns)
    config = ScoreFusionConfig(
        features=features, C=C, max_iter=max_iter, tail_max_of=tuple(c for c in tail_max_of if c in features)
    )
    rows = [
        (f"{face}#{i}", f"{label}/{family}/{severity}")
        for i, (face, label, family, severity) in enumerate(
            dev_table[["face", "label", "family", "severity"]].itertuples(index=False)
        )
    ]
    fusion = fit_score_fusion(
        dev_table,
        dev_table["label"].to_numpy(),
        config,
        grades=dev_table["severity"].to_numpy(dtype=float) if target == "severity" else None,
        training_data=training_data_fingerprint(rows),
    )
    fusion.provenance["supervised_checkpoint_sha1"] = checkpoint_sha1(checkpoint)
    fusion.provenance["fitted_models_sha1"] = dict(fitted_models or {})
    return fusion


def columns_scorer(columns: Sequence[str], **settings) -> Unsupervised:
    """``(face, landmarks) → {column: score}`` for the scoring stage's named score columns
    (:func:`facial_anomaly.scoring.columns.score_columns` with ``settings``: normalizers,
    heatmap settings, region parameters and the fitted models the columns need)."""
    from ..scoring.columns import parse_column, score_columns

    for column in columns:
        parse_column(column)  # a malformed name fails here, not on the first face

    def score(face: np.ndarray, landmarks: np.ndarray) -> dict[str, float]:
        return {name: float(value) for name, value in score_columns(face, landmarks, columns, **settings).items()}

    return score
