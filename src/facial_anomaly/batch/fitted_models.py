"""Per-image work of the scoring run's columns that come from fitted models rather than from a
normalizer: the supervised scorer trained by ``train_supervised``
(:mod:`facial_anomaly.supervised.scorer`: ``supervised.probability``, ``supervised.severity``),
PaDiM (:mod:`facial_anomaly.scoring.padim`: ``padim__<region>__<summary>``) and the
shape-model landmark residual (:mod:`facial_anomaly.scoring.shape_residual`:
``shape_residual__<landmarks>__<summary>``), the last two fitted by ``fit_normal_models``.

Each worker builds the models it is given once (a model that cannot be loaded stops the run
with its own message, :class:`~facial_anomaly.parallel.executor.SetupFailed`), reads the
aligned face with its landmarks (checked against its provenance) and returns the columns.
A face costs ~10 ms (scorer, CPU preset) plus ~130 ms (PaDiM's backbone) on one core; each
face's columns are kept (:func:`score_faces`' ``output``) so a rerun only reads them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..parallel import ExecutorConfig, Job, JobStats, run_job
from ..storage.artifacts import ArtifactFolder, Provenance, encode_npz, stage_key
from . import preprocess
from .inputs import InputProblem, read_aligned_face

STAGE = "fitted_models"
# 2: the supervised scorer averages each face with its mirror image.
# 3: its mirror partner can lie on the face's normal shape (FittedModels.partner_shape).
CODE_VERSION = 3
PROBABILITY_COLUMN = "supervised.probability"
SEVERITY_COLUMN = "supervised.severity"
DETAIL_COLUMN = "fitted_models_detail"


@dataclass(frozen=True)
class FittedModels:
    """The model files a scoring run uses (bytes as saved in ``models_dir``; None = not used)."""

    supervised_scorer: bytes | None = None
    padim: bytes | None = None
    shape_model: bytes | None = None
    device: str = "auto"
    # the scorer's mirror partner on each face's normal shape (the shape model's robust fit)
    partner_shape: bool = False


@dataclass(frozen=True)
class FittedModelsSpec:
    models: FittedModels
    columns: tuple[str, ...]  # padim__… and shape_residual__… columns
    region_params: Mapping[str, Mapping] = field(default_factory=dict)
    aligned: ArtifactFolder | None = None
    output: ArtifactFolder | None = None  # where each face's columns are kept for reruns
    key: str = ""


def settings_key(models: FittedModels, columns: tuple[str, ...], region_params: Mapping) -> str:
    """What a face's columns depend on besides the face: the models' bytes, the columns and
    the regions (not the device: the same model gives the same scores on any)."""
    digests = [hashlib.sha1(data).hexdigest() if data is not None else None
               for data in (models.supervised_scorer, models.padim, models.shape_model)]  # fmt: skip
    return stage_key(STAGE, CODE_VERSION, digests, list(columns), dict(region_params), models.partner_shape)


def record_name(image_id: str) -> str:
    return f"{image_id}.npz"


@dataclass(frozen=True)
class FittedModelsItem:
    image_id: str
    source_sha1: str
    aligned_key: str


def output_columns(models: FittedModels, columns: tuple[str, ...]) -> list[str]:
    """The columns :func:`score_faces` returns for these models (after ``image_id``)."""
    supervised = [PROBABILITY_COLUMN, SEVERITY_COLUMN] if models.supervised_scorer is not None else []
    return [*supervised, *columns]


class _Models:
    """The worker's models, built when the first face needs them: a rerun whose columns are
    all kept loads none (and imports no torch)."""

    def __init__(self, spec: FittedModelsSpec) -> None:
        self.spec = spec
        self.built: dict[str, Any] | None = None

    def get(self) -> dict[str, Any]:
        if self.built is not None:
            return self.built
        from ..parallel.executor import SetupFailed

        spec, built = self.spec, {"scorer": None, "padim": None, "shape_model": None}
        try:
            if spec.models.supervised_scorer is not None:
                from ..supervised.scorer import load_scorer

                built["scorer"] = load_scorer(spec.models.supervised_scorer, spec.models.device)
            for name in ("padim", "shape_model"):
                if getattr(spec.models, name) is not None:
                    built[name] = load_normal_model(name, getattr(spec.models, name))
        except Exception as error:  # a broken model fails every image alike: stop the run
            raise SetupFailed(f"a fitted model cannot be loaded: {type(error).__name__}: {error}") from error
        if spec.models.partner_shape and built["scorer"] is not None:
            built["scorer"].partner_shape = built["shape_model"]
        self.built = built
        return built


def load_normal_model(name: str, data: bytes):
    """One of the models ``fit_normal_models`` saves, from its file's bytes: ``padim``
    (:class:`~facial_anomaly.scoring.padim.PadimScorer`), ``shape_model``
    (:class:`~facial_anomaly.normalizers.ShapeModel`) or ``normal_variation``
    (:class:`~facial_anomaly.scoring.normal_variation.NormalVariation`); each checks its
    provenance, naming the file."""
    from ..scoring.model_files import load_model_bytes

    if name == "padim":
        from ..scoring.padim import PadimScorer

        return load_model_bytes(PadimScorer.load, data, "padim.npz")
    if name == "normal_variation":
        from ..scoring.normal_variation import NormalVariation

        return load_model_bytes(NormalVariation.load, data, "normal_variation.npz")
    if name == "shape_model":
        from ..normalizers.factory import model_from_bytes

        return model_from_bytes("shape_model", data, source="shape_model.npz")
    raise ValueError(f"unknown normal model {name!r}; known: padim, shape_model, normal_variation")


def _setup(spec: FittedModelsSpec):
    return spec, _Models(spec)


def _score_one(state, item: FittedModelsItem) -> dict[str, Any]:
    from ..scoring.columns import score_columns

    spec, models = state
    target = Provenance(STAGE, item.source_sha1, stage_key(spec.key, item.aligned_key))
    if spec.output is not None:
        stored = spec.output.npz_provenance(record_name(item.image_id))
        if target.matches(stored):
            return {**stored.record, "reused": True}
    try:
        face = read_aligned_face(
            spec.aligned,
            preprocess.aligned_name(item.image_id),
            Provenance(preprocess.STAGE, item.source_sha1, item.aligned_key),
        )
    except InputProblem as problem:
        return _failure(item, str(problem))
    built = models.get()
    row: dict[str, Any] = {"image_id": item.image_id, DETAIL_COLUMN: ""}
    if built["scorer"] is not None:
        row[PROBABILITY_COLUMN], row[SEVERITY_COLUMN] = built["scorer"].score(face.rgb, face.landmarks)
    if spec.columns:
        row.update(
            score_columns(
                face.rgb,
                face.landmarks,
                spec.columns,
                normalizers={},
                heatmap_settings={},
                region_params=spec.region_params,
                padim=built["padim"],
                shape_model=built["shape_model"],
            )
        )
    if spec.output is not None:  # the columns, in the record of an otherwise empty .npz
        spec.output.write(
            record_name(item.image_id), encode_npz({}, Provenance(target.stage, target.source_sha1, target.key, row))
        )
    return {**row, "reused": False}


def _failure(item: FittedModelsItem, reason: str) -> dict[str, Any]:
    return {"image_id": item.image_id, DETAIL_COLUMN: reason, "reused": False}


def score_faces(
    normalize_report: pd.DataFrame,
    aligned: ArtifactFolder,
    models: FittedModels,
    columns: tuple[str, ...] = (),
    *,
    region_params: Mapping[str, Mapping] | None = None,
    output: ArtifactFolder | None = None,
    executor: ExecutorConfig | None = None,
    stats: JobStats | None = None,
) -> pd.DataFrame:
    """One row per image normalized ``ok`` by some normalizer: ``image_id``, the columns of
    :func:`output_columns` (NaN where a face could not be read), the reason in
    ``fitted_models_detail`` and ``reused``. With ``output``, each face's columns are kept
    there (``<image_id>.npz``, the columns in its record, keyed by the face, the models' bytes,
    the columns and regions) and a rerun reads them back instead of scoring again. The scorer's probability is in [0, 1]; PaDiM columns are
    Mahalanobis distances; shape residuals are in inter-ocular distances.

    Raises:
        facial_anomaly.parallel.executor.SetupFailed: a model cannot be loaded.
        ValueError: a column whose model is not given (named).
    """
    from ..scoring.columns import parse_column

    for column in columns:
        source = parse_column(column)[0]
        needed = {"padim": models.padim, "shape_residual": models.shape_model}.get(source, b"")
        if source == "variant" or needed is None:
            raise ValueError(f"column {column!r} needs a fitted {source} model, which is not given")
    ok = normalize_report[normalize_report["status"] == "ok"].drop_duplicates("image_id")
    items = [
        FittedModelsItem(row["image_id"], row["source_sha1"], row["aligned_key"])
        for row in ok[["image_id", "source_sha1", "aligned_key"]].to_dict("records")
    ]
    region_params = dict(region_params or {})
    key = settings_key(models, tuple(columns), region_params)
    spec = FittedModelsSpec(models, tuple(columns), region_params, aligned, output, key)
    rows = list(run_job(Job(STAGE, _setup, _score_one, _failure, spec, gpu=True), items, executor, stats))
    names = ["image_id", *output_columns(models, tuple(columns)), DETAIL_COLUMN, "reused"]
    table = pd.DataFrame(rows).reindex(columns=names)
    for name in names[1:-2]:
        table[name] = table[name].astype(float)
    table[DETAIL_COLUMN] = table[DETAIL_COLUMN].fillna("")
    table["reused"] = table["reused"].fillna(False).astype(bool)
    return table
