"""Checkpoint files of every trained model: a plain dict written with ``torch.save`` and read
only with ``torch.load(..., weights_only=True)`` (tensors, numbers, strings, lists and
dicts; never code), with the model's provenance (:mod:`facial_anomaly.provenance`).

Envelope (each model family names its own ``format`` and ``version``)::

    {"format": "facial_anomaly.<family>", "version": int, "kind": "model" | "training",
     "config_json": str,            # the model config dict as JSON
     "provenance_json": str,        # facial_anomaly.provenance.model_provenance(...) as JSON
     "state_dict": {name: tensor},  # weights and buffers (CPU)
     ...}                           # kind "training": what resuming needs (see .state)

:func:`read_checkpoint` checks the envelope and the provenance and raises with the file's
name: ``FileNotFoundError`` for a missing file; ``ValueError`` for anything that is not
such a dict (truncated, random bytes, a pickle that needs code), another format, another
version or invalid JSON; :class:`~facial_anomaly.provenance.ModelMismatch` (a
``ValueError``) for a checkpoint of another kind of model. :func:`check_state_dict` lists
every missing and unexpected key and shape mismatch of weights that do not fit a model.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..atomic import write_bytes_atomically
from ..provenance import check_provenance

Source = str | os.PathLike | bytes
KINDS = ("model", "training")
_MAX_LISTED = 12


@dataclass(frozen=True)
class CheckpointFormat:
    """One family's checkpoint layout: ``name`` (``format`` entry), ``version`` (of the
    layout), ``label`` (how messages call it, e.g. ``reconstruction``) and
    ``provenance_kind`` (the ``kind`` of its provenance record)."""

    name: str
    version: int
    label: str
    provenance_kind: str


def cpu_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A detached, contiguous CPU copy of a state dict (what checkpoints store)."""
    return {key: value.detach().cpu().clone().contiguous() for key, value in state_dict.items()}


def nested_cpu(value: Any) -> Any:
    """``value`` with every tensor inside dicts, lists and tuples moved to the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: nested_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(nested_cpu(item) for item in value)
    return value


def _listed(items: list[str]) -> str:
    more = f", … and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return f"[{', '.join(items[:_MAX_LISTED])}{more}]"


def check_state_dict(model: torch.nn.Module, state_dict: Mapping, source: str) -> None:
    """Raise ``ValueError`` naming every missing key, unexpected key and shape mismatch
    of ``state_dict`` against ``model``'s own state dict; ``source`` names it in the message."""
    if not isinstance(state_dict, Mapping):
        raise ValueError(f"{source}: the state dict is a {type(state_dict).__name__}, not a dict")
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    missing = [key for key in expected if key not in state_dict]
    unexpected = [str(key) for key in state_dict if key not in expected]
    mismatched = []
    for key, shape in expected.items():
        if key not in state_dict:
            continue
        value = state_dict[key]
        if not isinstance(value, torch.Tensor):
            mismatched.append(f"{key}: expected a tensor {shape}, found {type(value).__name__}")
        elif tuple(value.shape) != shape:
            mismatched.append(f"{key}: expected {shape}, found {tuple(value.shape)}")
    if missing or unexpected or mismatched:
        raise ValueError(
            f"{source} does not match the {getattr(model, 'architecture', type(model).__name__)} architecture of its "
            f"config: {len(missing)} missing keys {_listed(missing)}; {len(unexpected)} unexpected keys "
            f"{_listed(unexpected)}; {len(mismatched)} shape mismatches {_listed(mismatched)}"
        )


def envelope(
    fmt: CheckpointFormat,
    kind: str,
    *,
    config: Mapping,
    state_dict: Mapping[str, torch.Tensor],
    provenance: Mapping,
    **extra: Any,
) -> dict:
    """The payload of a checkpoint (see the module docstring); ``extra`` entries are added as they are."""
    if kind not in KINDS:
        raise ValueError(f"checkpoint kind must be one of {KINDS}, got {kind!r}")
    return {
        "format": fmt.name,
        "version": fmt.version,
        "kind": kind,
        "config_json": json.dumps(dict(config), sort_keys=True),
        "provenance_json": json.dumps(dict(provenance), sort_keys=True, default=str),
        "state_dict": cpu_state_dict(state_dict),
        **extra,
    }


def payload_to_bytes(payload: dict) -> bytes:
    """``torch.save`` of ``payload`` into bytes."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def write_payload(payload: dict, path: str | os.PathLike) -> Path:
    """``torch.save`` of ``payload`` to ``path`` atomically (temporary file, then rename); returns the path."""
    return write_bytes_atomically(path, payload_to_bytes(payload))


def json_entry(payload: Mapping, key: str, name: str) -> Any:
    """The JSON entry ``key`` of a payload, decoded.

    Raises:
        ValueError: naming the file and the entry when it is not valid JSON.
    """
    try:
        return json.loads(payload[key])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: entry {key!r} is not valid JSON ({error})") from error


def read_checkpoint(
    source: Source, fmt: CheckpointFormat, *, needed: Mapping[str, tuple[str, ...]] | None = None
) -> tuple[dict, str]:
    """Load a checkpoint file or bytes and check its envelope and provenance.

    Args:
        source: a path or the checkpoint bytes.
        fmt: the expected format.
        needed: kind → entries (besides ``config_json`` and ``state_dict``) a payload of
            that kind must have.

    Returns:
        ``(payload, name)``: the payload (CPU tensors) and the name messages use.

    Raises:
        FileNotFoundError: a path that does not exist.
        ValueError: not a readable tensor-only checkpoint of this format and version.
        ModelMismatch: the provenance is missing or of another kind of model.
    """
    if isinstance(source, (bytes, bytearray)):
        name, stream = "checkpoint bytes", io.BytesIO(bytes(source))
    else:
        name = str(source)
        if not Path(source).is_file():
            raise FileNotFoundError(f"{fmt.label} model checkpoint {name} does not exist")
        stream = source
    try:
        payload = torch.load(stream, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError, RuntimeError, EOFError, ... depending on the damage
        first_line = str(error).splitlines()[0] if str(error) else ""
        raise ValueError(
            f"{name} is not a readable {fmt.label} checkpoint (corrupt, truncated, or not a tensor-only "
            f"torch file): {type(error).__name__}: {first_line}"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != fmt.name:
        found = sorted(map(str, payload)) if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(f"{name} is not a {fmt.name} checkpoint (found {found})")
    if payload.get("version") != fmt.version:
        raise ValueError(
            f"{name}: checkpoint version {payload.get('version')!r} is not supported (expected {fmt.version}); "
            "retrain it with this version of facial_anomaly"
        )
    kind = payload.get("kind", "model")
    if kind not in KINDS:
        raise ValueError(f"{name}: checkpoint kind {kind!r} is not one of {KINDS}")
    required = ["config_json", "state_dict", "provenance_json", *((needed or {}).get(kind, ()))]
    missing = [key for key in required if key not in payload]
    if missing:
        raise ValueError(f"{name}: {kind} checkpoint without {missing}")
    check_provenance(
        json_entry(payload, "provenance_json", name), kind=fmt.provenance_kind, schema_version=fmt.version, source=name
    )
    payload.setdefault("kind", kind)
    return payload, name
