"""Preprocess a folder: every input file → an aligned face (RGBA PNG with its provenance)
or a rejection row, one report row per file.

Per image, one worker reads the file once (defensively, :mod:`facial_anomaly.storage.inputs`),
hashes it, and reuses the aligned face already on disk when its provenance says it was made
from these bytes with these settings; otherwise it decodes once, detects, measures and
aligns, and writes the PNG whose ``tEXt`` record carries the geometry (landmarks, matrix,
report numbers), so the file alone says what it is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..faces.background import pack_face_and_mask
from ..faces.config import PreprocessConfig
from ..faces.io import ImageRejected, is_supported
from ..faces.landmarks import NUM_LANDMARKS
from ..faces.preprocess import geometry_to_record, locate_face, render_aligned_face
from ..faces.tables import geometry_to_alignment_table, geometry_to_landmark_table
from ..parallel import ExecutorConfig, Job, JobStats, run_job
from ..storage.artifacts import ArtifactFolder, Provenance, encode_png, stage_key
from ..storage.inputs import InputFile, read_input
from .faults import exit_if_requested

STAGE = "preprocess"
# Bump when the preprocessing code changes what it writes for the same settings.
CODE_VERSION = 1
PROCESSING_ERROR = "processing_error"

REPORT_COLUMNS = [
    "image_id",
    "image",
    "status",
    "detail",
    "width",
    "height",
    "source_mode",
    "face_count",
    "detector",
    "detection_confidence",
    "eye_distance_source_px",
    "roll_degrees",
    "yaw_degrees",
    "pitch_degrees",
    "rotated_degrees",
    "visible_fraction",
    "seconds",
    "reused",
    "source_sha1",
    "params_hash",
    "source_key",
]


def preprocess_key(config: PreprocessConfig) -> str:
    """The stage key of aligned faces made with ``config``."""
    return stage_key(STAGE, CODE_VERSION, config.output_settings())


def aligned_name(image_id: str) -> str:
    """File name of an aligned face inside the aligned folder."""
    return f"{image_id}.png"


@dataclass(frozen=True)
class PreprocessSpec:
    """What every worker needs (small, picklable)."""

    input_root: str
    config: PreprocessConfig
    aligned: ArtifactFolder
    key: str


def _setup(spec: PreprocessSpec) -> PreprocessSpec:
    # MediaPipe's graphs are built by the first image that needs them and then kept for the
    # process (faces.detection / faces.landmarks cache them): once per worker, and never in
    # a rerun whose images are all reused.
    return spec


def _base(entry: InputFile, key: str) -> dict[str, Any]:
    return {
        "image_id": entry.image_id,
        "image": entry.image,
        "source_key": entry.source_key,
        "params_hash": key,
        "reused": False,
        "detail": "",
    }


def _preprocess_one(spec: PreprocessSpec, entry: InputFile) -> dict[str, Any]:
    base = _base(entry, spec.key)
    if not is_supported(entry.image):
        return {**base, "status": "unsupported_format", "detail": "not an image file extension", "source_sha1": ""}
    try:
        data = read_input(spec.input_root, entry, max_bytes=spec.config.decode.max_bytes)
    except ImageRejected as rejection:
        return {**base, "status": rejection.reason, "detail": rejection.message, "source_sha1": ""}
    sha1 = hashlib.sha1(data).hexdigest()
    expected = Provenance(STAGE, sha1, spec.key)
    name = aligned_name(entry.image_id)
    if not spec.config.force:
        stored = spec.aligned.intact_png_provenance(name)
        if expected.matches(stored):
            return {**stored.record, **base, "source_sha1": sha1, "reused": True}
    geometry, rgb = locate_face(data, spec.config)
    record = {**base, **geometry_to_record(geometry), "source_sha1": sha1}
    if geometry.ok:
        face, mask = render_aligned_face(rgb, geometry, spec.config)
        # Timings stay out of the file: the same photo and settings must give the same bytes.
        stored_record = {key: value for key, value in record.items() if key not in ("reused", "seconds")}
        provenance = Provenance(STAGE, sha1, spec.key, stored_record)
        rgba = pack_face_and_mask(face, mask)
        spec.aligned.write(
            name, encode_png(rgba, provenance, compression=spec.aligned.compression), decoded=(provenance, rgba)
        )
    return record


def _failure(entry: InputFile, reason: str) -> dict[str, Any]:
    return {**_base(entry, ""), "status": PROCESSING_ERROR, "detail": reason, "source_sha1": ""}


def preprocess_folder(
    input_root: str,
    entries: list[InputFile],
    aligned: ArtifactFolder,
    config: PreprocessConfig,
    executor: ExecutorConfig | None = None,
    stats: JobStats | None = None,
) -> pd.DataFrame:
    """One row per entry (in order): report columns plus ``m00..m12`` and ``landmarks`` (source
    pixels, flat) for the aligned faces; aligned PNGs written (or reused) in ``aligned``."""
    spec = PreprocessSpec(input_root, config, aligned, preprocess_key(config))
    job = Job(STAGE, _setup, _preprocess_one, _failure, spec)
    rows = []
    for done, record in enumerate(run_job(job, entries, executor, stats), start=1):
        landmarks = record.get("landmarks")
        if landmarks is not None:  # compact in the driver: a float32 array, not a list of floats
            record["landmarks"] = np.asarray(landmarks, dtype=np.float32).reshape(NUM_LANDMARKS, 3)
        rows.append(record)
        exit_if_requested(STAGE, done)
    return pd.DataFrame(rows)


def preprocess_tables(geometry: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(report with every file, alignment matrices of the aligned faces, long landmark table)."""
    report = geometry.reindex(columns=REPORT_COLUMNS)
    if geometry.empty:
        return report, geometry_to_alignment_table(geometry), geometry_to_landmark_table(geometry)
    flat = geometry.copy()
    if "landmarks" in flat:
        flat["landmarks"] = [None if value is None else np.asarray(value).ravel() for value in flat["landmarks"]]
    return report, geometry_to_alignment_table(flat), geometry_to_landmark_table(flat)
