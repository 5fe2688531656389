"""Preprocess nodes: raw photos → face geometry table → aligned faces, masks and reports.

The nodes only move data between the catalog and :mod:`facial_anomaly.faces`. Memory
stays flat in the number of images: raw files are loaded one at a time from lazy
partitions, and the aligned faces are returned as callables that the partitioned
dataset calls one by one while saving.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from facial_anomaly.faces import (
    config_fingerprint,
    decode_image,
    geometry_from_record,
    geometry_to_record,
    image_id_from_path,
    is_supported,
    locate_face,
    render_aligned_face,
    resolve_config,
)
from facial_anomaly.faces.background import pack_face_and_mask
from facial_anomaly.faces.io import sha1_of_bytes
from facial_anomaly.faces.tables import geometry_to_alignment_table, geometry_to_landmark_table

logger = logging.getLogger(__name__)

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
    "seconds",
    "reused",
    "source_sha1",
    "params_hash",
]


def _is_hidden(relative_path: str) -> bool:
    """Dot-files and dot-folders (``.gitkeep``, ``.DS_Store``) are housekeeping, not inputs."""
    return any(part.startswith(".") for part in relative_path.replace("\\", "/").split("/"))


def locate_faces(
    raw_images: dict[str, Callable[[], bytes]],
    previous_geometry: pd.DataFrame | None,
    preprocess: dict,
    alignment_presets: dict,
) -> pd.DataFrame:
    """Find, measure and align the face in every raw file; one row per file.

    Files whose bytes and output-defining settings match a row of the previous run are
    not recomputed (``reused`` = True) unless ``preprocess.force`` is set.

    Returns:
        The face-geometry table: report columns, the 2×3 matrix as ``m00..m12`` and the
        source-pixel landmarks as a flat list column.
    """
    config = resolve_config(preprocess, alignment_presets)
    fingerprint = config_fingerprint(config)
    reusable: dict[str, dict] = {}
    if previous_geometry is not None and not preprocess["force"]:
        for record in previous_geometry.to_dict("records"):
            if record.get("params_hash") == fingerprint:
                reusable[record["image_id"]] = record
    rows = []
    for relative_path in sorted(raw_images):
        if _is_hidden(relative_path):
            continue
        image_id = image_id_from_path(relative_path)
        base = {"image_id": image_id, "image": relative_path, "params_hash": fingerprint, "reused": False}
        if not is_supported(relative_path):
            rows.append(
                {**base, "status": "unsupported_format", "detail": "not an image file extension", "source_sha1": ""}
            )
            continue
        try:
            data = raw_images[relative_path]()
        except Exception as error:  # an unreadable file (permissions, I/O) is a report row, not a crash
            rows.append(
                {**base, "status": "unreadable", "detail": f"{type(error).__name__}: {error}", "source_sha1": ""}
            )
            continue
        sha1 = sha1_of_bytes(data)
        previous = reusable.get(image_id)
        if previous is not None and previous.get("source_sha1") == sha1:
            rows.append({**previous, **base, "source_sha1": sha1, "reused": True})
            continue
        geometry, _ = locate_face(data, config)
        rows.append({**base, **geometry_to_record(geometry), "source_sha1": sha1})
    table = pd.DataFrame(rows)
    if table.empty:
        logger.warning("no input files found")
        return pd.DataFrame(columns=[*REPORT_COLUMNS, "landmarks"])
    counts = table["status"].value_counts().to_dict()
    logger.info("preprocess: %d files, %s (%d reused)", len(table), counts, int(table["reused"].sum()))
    return table


def _needs_output(row: dict, existing: dict) -> bool:
    return not row["reused"] or row["image_id"] not in existing


def render_aligned_faces(
    raw_images: dict[str, Callable[[], bytes]],
    face_geometry: pd.DataFrame,
    existing_aligned: dict[str, Any],
    preprocess: dict,
    alignment_presets: dict,
) -> dict[str, Callable[[], np.ndarray]]:
    """Aligned faces (lazy, one RGBA PNG per ``image_id``: the crop with mirrored padding,
    its feathered foreground mask as alpha) for every located face that is new or
    changed, or whose file is missing on disk."""
    config = resolve_config(preprocess, alignment_presets)

    def render(record: dict) -> Callable[[], np.ndarray]:
        def make() -> np.ndarray:
            rgb = decode_image(raw_images[record["image"]](), **config["decode"]).rgb
            return pack_face_and_mask(*render_aligned_face(rgb, geometry_from_record(record), config))

        return make

    return {
        record["image_id"]: render(record)
        for record in face_geometry.to_dict("records")
        if record["status"] == "ok" and _needs_output(record, existing_aligned)
    }


def build_preprocess_tables(face_geometry: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split the geometry table into the report (every file), the alignment matrices and
    the long landmark table (ok faces, aligned and source pixels)."""
    report = face_geometry.reindex(columns=REPORT_COLUMNS)
    alignment = geometry_to_alignment_table(face_geometry)
    landmarks = geometry_to_landmark_table(face_geometry)
    return report, alignment, landmarks


def summarize_preprocess(report: pd.DataFrame) -> dict[str, Any]:
    """Counts per status and timings, for MLflow and the console."""
    ok = report["status"] == "ok"
    computed = ~report["reused"].astype(bool)
    seconds = report.loc[computed & report["seconds"].notna(), "seconds"]
    summary = {
        "files": int(len(report)),
        "ok": int(ok.sum()),
        "rejected": int((~ok).sum()),
        "reused": int((~computed).sum()),
        "status": {str(k): int(v) for k, v in report["status"].value_counts().items()},
        "locate_seconds_mean": float(seconds.mean()) if len(seconds) else 0.0,
        "locate_seconds_total": float(seconds.sum()),
    }
    return summary
