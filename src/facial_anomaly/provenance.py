"""Provenance of fitted models and checkpoints: what made them, checked when they are loaded.

Every model file the project writes carries a small JSON record::

    {"kind": "shape_model", "schema_version": 2, "landmarks": {"count": 478, "layout": "<sha1>"},
     "training_data": "<sha1 of the training images>", "params": {...}, "created": "<ISO time>"}

and every loader calls :func:`check_provenance`, which raises :class:`ModelMismatch`
naming the file and what does not match (a model of another kind, an older schema, a
different landmark layout), so a valid but wrong file is refused instead of giving
silent garbage.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

PROVENANCE_KEY = "provenance"


class ModelMismatch(ValueError):
    """A model or checkpoint file that is readable but not what this run needs."""


# landmark_layout_fingerprint() of the bundled FaceMesh (478 points): checking a model's
# layout then needs no MediaPipe import; a test recomputes it from the mesh.
FACEMESH_478_LAYOUT = "acb95a2740b0"


@functools.lru_cache(maxsize=2)
def landmark_layout_fingerprint(*, recompute: bool = False) -> str:
    """SHA-1 (12 hex) of the landmark layout models are fitted on: the FaceMesh point count
    and its tessellation (which point is joined to which), i.e. what each index means.
    ``recompute``: from MediaPipe's mesh instead of the stored value of the 478-point mesh."""
    from .faces.landmarks import NUM_LANDMARKS

    if NUM_LANDMARKS == 478 and not recompute:
        return FACEMESH_478_LAYOUT
    from .faces.mesh import mesh_edges

    payload = json.dumps({"count": NUM_LANDMARKS, "edges": sorted(mesh_edges())})
    return hashlib.sha1(payload.encode()).hexdigest()[:12]


def training_data_fingerprint(sources: Iterable[tuple[str, str]]) -> str:
    """SHA-1 (12 hex) of the training set: its ``(image_id, source_sha1)`` pairs, order-free."""
    payload = json.dumps(sorted([str(a), str(b)] for a, b in sources))
    return hashlib.sha1(payload.encode()).hexdigest()[:12]


def model_provenance(
    kind: str, *, schema_version: int, params: Mapping[str, Any], training_data: str, uses_landmarks: bool = True
) -> dict[str, Any]:
    """The provenance record to store with a fitted model (JSON-able)."""
    from .faces.landmarks import NUM_LANDMARKS

    record: dict[str, Any] = {
        "kind": kind,
        "schema_version": int(schema_version),
        "training_data": training_data,
        "params": json.loads(json.dumps(dict(params), default=str)),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    if uses_landmarks:
        record["landmarks"] = {"count": NUM_LANDMARKS, "layout": landmark_layout_fingerprint()}
    return record


def check_provenance(record: Mapping[str, Any] | None, *, kind: str, schema_version: int, source: str) -> None:
    """Refuse a model whose provenance does not fit this code.

    Args:
        record: the stored provenance (None when the file has none: written by an older
            version or by hand).
        kind: the model kind the caller needs.
        schema_version: the file layout the caller reads.
        source: the file's path or name, for the message.

    Raises:
        ModelMismatch: naming ``source`` and the mismatch.
    """
    if not isinstance(record, Mapping):
        raise ModelMismatch(f"{source}: no provenance record; refit or retrain it with this version of facial_anomaly")
    if record.get("kind") != kind:
        raise ModelMismatch(f"{source}: holds a {record.get('kind')!r} model, not a {kind!r}")
    if record.get("schema_version") != schema_version:
        raise ModelMismatch(
            f"{source}: schema version {record.get('schema_version')!r}, this code reads version {schema_version}; "
            "refit or retrain it"
        )
    landmarks = record.get("landmarks")
    if landmarks is not None:
        from .faces.landmarks import NUM_LANDMARKS

        if landmarks.get("count") != NUM_LANDMARKS or landmarks.get("layout") != landmark_layout_fingerprint():
            raise ModelMismatch(
                f"{source}: fitted on a landmark layout of {landmarks.get('count')} points "
                f"(layout {landmarks.get('layout')}), this code uses {NUM_LANDMARKS} points "
                f"(layout {landmark_layout_fingerprint()})"
            )


# A FaceMesh mean shape in the right landmark order joins neighbouring points with its mesh
# edges: the median edge is ~3 % of the face's size. In any other order (reversed, shuffled,
# another detector's points) the "edges" join unrelated points, ~40 % of the size.
_MAX_MEDIAN_EDGE_FRACTION = 0.12


def landmark_order_problem(points) -> str:
    """Why a (468|478, 2|3) point set is not in FaceMesh order ("" when it is): the median
    length of the FaceMesh tessellation's edges relative to the shape's extent."""
    import numpy as np

    from .faces.mesh import NUM_MESH_POINTS, mesh_edges

    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] < NUM_MESH_POINTS or points.shape[1] < 2:
        return f"expected at least {NUM_MESH_POINTS} two-dimensional points, got an array of shape {points.shape}"
    xy = points[:NUM_MESH_POINTS, :2]
    extent = float(np.linalg.norm(xy.max(axis=0) - xy.min(axis=0)))
    if not np.isfinite(extent) or extent <= 0:
        return "the points are not finite or all equal"
    edges = np.array(sorted(mesh_edges()))
    fraction = float(np.median(np.linalg.norm(xy[edges[:, 0]] - xy[edges[:, 1]], axis=1)) / extent)
    if fraction > _MAX_MEDIAN_EDGE_FRACTION:
        return (
            f"the landmark order does not match FaceMesh (median mesh edge {fraction:.2f} of the face size, "
            f"expected below {_MAX_MEDIAN_EDGE_FRACTION})"
        )
    return ""
