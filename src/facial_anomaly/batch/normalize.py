"""Normalize the aligned faces of a run: per image and normalizer, a normalized face (RGB PNG
with its provenance) or the reason there is none, one report row each.

The normalized face's key chains the aligned face's key, the normalizer's settings and
the SHA-1 of every fitted model it uses, so refitting a model or changing a setting
recomputes exactly the faces it changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..normalizers.config import REQUIRED_MODELS, NormalizeConfig, normalizer_settings
from ..parallel import ExecutorConfig, Job, JobStats, run_job
from ..storage.artifacts import ArtifactFolder, Provenance, encode_png, stage_key
from ..storage.models import StoredModel
from . import preprocess
from .faults import exit_if_requested
from .inputs import InputProblem, read_aligned_face

STAGE = "normalize"
CODE_VERSION = 1
REPORT_COLUMNS = [
    "image_id", "image", "normalizer", "status", "detail", "model_score", "reused", "source_sha1", "params_hash",
    "aligned_key",
]  # fmt: skip


def normalizer_keys(config: NormalizeConfig, models: dict[str, StoredModel]) -> dict[str, str]:
    """Normalizer name → the part of its faces' key that this stage decides: its settings and
    the SHA-1 of the models it uses (:func:`face_key` adds the aligned face's key)."""
    keys = {}
    for name in config.names:
        model_hashes = {model: models[model].sha1 for model in REQUIRED_MODELS.get(name, ()) if model in models}
        keys[name] = stage_key(STAGE, CODE_VERSION, name, normalizer_settings(config, name), model_hashes)
    return keys


def face_key(normalizer_key: str, upstream_key: str) -> str:
    """The key of one normalized face: the normalizer's key and its aligned face's key."""
    return stage_key(normalizer_key, upstream_key)


def normalized_name(normalizer: str, image_id: str) -> str:
    return f"{normalizer}/{image_id}.png"


@dataclass(frozen=True)
class NormalizeSpec:
    config: NormalizeConfig
    models: dict[str, StoredModel]
    aligned: ArtifactFolder
    normalized: ArtifactFolder
    keys: dict[str, str]


class _Normalizers:
    """The worker's normalizers, built (models loaded) when the first image needs one: a
    rerun whose normalized faces are all reused loads no model."""

    def __init__(self, spec: NormalizeSpec) -> None:
        self.spec = spec
        self.built: dict | None = None

    def get(self) -> dict:
        if self.built is None:
            from ..normalizers.factory import build_normalizers, model_from_bytes
            from ..parallel.executor import SetupFailed

            device = self.spec.config.reconstruction.device
            try:
                models = {
                    name: model_from_bytes(name, stored.data, source=stored.path, device=device)
                    for name, stored in self.spec.models.items()
                }
                self.built = build_normalizers(self.spec.config, models)
            except Exception as error:  # a missing or broken model fails every image alike
                raise SetupFailed(f"{type(error).__name__}: {error}") from error
        return self.built


def _setup(spec: NormalizeSpec):
    return spec, _Normalizers(spec)


@dataclass(frozen=True)
class NormalizeItem:
    image_id: str
    image: str
    source_sha1: str
    upstream_key: str


def _normalize_one(state, item: NormalizeItem) -> list[dict[str, Any]]:
    spec, normalizers = state
    base = {
        "image_id": item.image_id,
        "image": item.image,
        "source_sha1": item.source_sha1,
        "detail": "",
        "aligned_key": item.upstream_key,
    }
    rows, face = [], None
    for name in spec.config.names:
        key = face_key(spec.keys[name], item.upstream_key)
        row = {**base, "normalizer": name, "status": "ok", "reused": False, "model_score": math.nan, "params_hash": key}
        target = Provenance(f"{STAGE}:{name}", item.source_sha1, key)
        output = normalized_name(name, item.image_id)
        stored = spec.normalized.intact_png_provenance(output)
        if target.matches(stored):
            rows.append({**row, **stored.record, "reused": True})
            continue
        try:
            if face is None:
                expected = Provenance(preprocess.STAGE, item.source_sha1, item.upstream_key)
                face = read_aligned_face(spec.aligned, preprocess.aligned_name(item.image_id), expected)
            if not np.isfinite(face.landmarks).all():
                raise InputProblem("invalid_landmarks", "landmarks are not finite")
            normalizer = normalizers.get()[name]
            result = normalizer.normalize(face.rgb, face.landmarks)
            record = {}
            if hasattr(normalizer, "anomaly_score"):  # the model's own score (GANomaly's A(x) ...)
                record["model_score"] = float(normalizer.anomaly_score(face.rgb))
            provenance = Provenance(target.stage, item.source_sha1, target.key, record)
            spec.normalized.write(
                output,
                encode_png(result.image, provenance, compression=spec.normalized.compression),
                decoded=(provenance, result.image),
            )
            rows.append({**row, **record})
        except InputProblem as problem:
            rows.append({**row, "status": problem.status, "detail": str(problem)})
    return rows


def _failure(item: NormalizeItem, reason: str) -> list[dict[str, Any]]:
    return [
        {
            "image_id": item.image_id,
            "image": item.image,
            "source_sha1": item.source_sha1,
            "normalizer": "",
            "status": preprocess.PROCESSING_ERROR,
            "detail": reason,
            "reused": False,
            "model_score": math.nan,
        }
    ]


def normalize_faces(
    preprocess_report: pd.DataFrame,
    aligned: ArtifactFolder,
    normalized: ArtifactFolder,
    config: NormalizeConfig,
    models: dict[str, StoredModel],
    executor: ExecutorConfig | None = None,
    stats: JobStats | None = None,
) -> pd.DataFrame:
    """One row per (input file, normalizer): ``ok`` with the normalized face written (or
    reused), the reason it could not be made, or the file's rejection passed on. The
    preprocess report's ``params_hash`` is each aligned face's key."""
    keys = normalizer_keys(config, models)
    spec = NormalizeSpec(config, models, aligned, normalized, keys)
    ok = preprocess_report["status"] == "ok"
    columns = ["image_id", "image", "source_sha1", "params_hash"]
    items = [NormalizeItem(*values) for values in preprocess_report.loc[ok, columns].itertuples(index=False)]
    computed: dict[str, list[dict]] = {}
    job = Job(
        STAGE,
        _setup,
        _normalize_one,
        _failure,
        spec,
        gpu=any(n in ("stylegan2", "ganomaly", "autoencoder") for n in config.names),
    )
    for done, (item, rows) in enumerate(zip(items, run_job(job, items, executor, stats)), start=1):
        if rows and rows[0]["normalizer"] == "":  # the whole image failed: one row per normalizer
            rows = [{**rows[0], "normalizer": name, "aligned_key": item.upstream_key} for name in config.names]
        computed[item.image_id] = rows
        exit_if_requested(STAGE, done)
    table_rows = []
    for record in preprocess_report[["image_id", "image", "status", "detail", "source_sha1"]].to_dict("records"):
        record["detail"] = "" if pd.isna(record["detail"]) else record["detail"]
        if record["image_id"] in computed:
            table_rows.extend(computed[record["image_id"]])
        else:  # rejected upstream: passed on with its reason, once per normalizer
            table_rows.extend(
                {**record, "normalizer": name, "reused": False, "model_score": math.nan} for name in config.names
            )
    return pd.DataFrame(table_rows).reindex(columns=REPORT_COLUMNS)
