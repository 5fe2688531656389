"""Fitted scoring models on disk: plain arrays + one JSON record in an ``.npz`` (no pickle),
with a provenance record (:mod:`facial_anomaly.provenance`) checked when loaded."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_bytes_atomically
from ..provenance import PROVENANCE_KEY, check_provenance

_RECORD_KEY = "__record_json__"


def save_model_file(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], record: Mapping[str, Any]) -> Path:
    """Write ``arrays`` and the JSON-able ``record`` (which must hold ``provenance``) atomically.

    Raises:
        ValueError: a reserved or object-dtype array, or a record without provenance.
    """
    if PROVENANCE_KEY not in record:
        raise ValueError("a model record needs its provenance (facial_anomaly.provenance.model_provenance)")
    if _RECORD_KEY in arrays:
        raise ValueError(f"array name {_RECORD_KEY!r} is reserved")
    payload = {}
    for key, value in arrays.items():
        value = np.asarray(value)
        if value.dtype == object:
            raise ValueError(f"array {key!r} has dtype object, which cannot be saved without pickle")
        payload[key] = value
    payload[_RECORD_KEY] = np.array(json.dumps(dict(record), sort_keys=True, default=str))
    buffer = io.BytesIO()
    np.savez(buffer, **payload)
    return write_bytes_atomically(path, buffer.getvalue())


def load_model_file(path: str | os.PathLike, *, kind: str, schema_version: int) -> tuple[dict[str, np.ndarray], dict]:
    """``(arrays, record)`` of a file written by :func:`save_model_file`, its provenance checked.

    Raises:
        FileNotFoundError: naming the file.
        facial_anomaly.provenance.ModelMismatch: not readable as such a model, or a model
            of another kind / schema / landmark layout (naming the file and the mismatch).
    """
    from ..provenance import ModelMismatch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files if key != _RECORD_KEY}
            record = json.loads(str(archive[_RECORD_KEY])) if _RECORD_KEY in archive.files else {}
    except (OSError, ValueError) as error:
        raise ModelMismatch(f"{path}: not a readable .npz model file ({error})") from error
    check_provenance(record.get(PROVENANCE_KEY), kind=kind, schema_version=schema_version, source=str(path))
    return arrays, record


def model_file_bytes(model, filename: str) -> bytes:
    """The bytes of ``model.save(path)`` (a model class of this package), for a catalog
    dataset that stores files as bytes."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return Path(model.save(Path(folder) / filename)).read_bytes()


def load_model_bytes(load, data: bytes, filename: str):
    """``load(path)`` (e.g. ``PadimScorer.load``) of a model file given as bytes; messages
    name ``filename``."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / filename
        path.write_bytes(data)
        return load(path)
