"""Checkpoints of the supervised models: a plain dict written with ``torch.save`` and read
only with ``torch.load(..., weights_only=True)`` (tensors, numbers, strings; never code),
following :mod:`facial_anomaly.normalizers.reconstruction.checkpoint`.

Layout (``version`` 1)::

    {"format": "facial_anomaly.supervised", "version": 1,
     "config_json": str,               # the model config dict (with "architecture") as JSON
     "state_dict": {name: tensor}}     # weights and buffers (CPU)

Errors: a missing file → ``FileNotFoundError`` naming it; anything that is not such a dict
(truncated, random bytes, a pickle that needs code) → ``ValueError``; weights that do not
fit the config's architecture → ``ValueError`` listing missing and unexpected keys and
shape mismatches. ``backbone_weights`` in the config is not read again on loading: the
checkpoint holds every weight.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from ..atomic import write_bytes_atomically
from ..normalizers.reconstruction.checkpoint import check_state_dict
from .base import SupervisedModel, build_model

FORMAT_NAME = "facial_anomaly.supervised"
FORMAT_VERSION = 1

Source = str | os.PathLike | bytes


def _payload(model: SupervisedModel, state_dict: Mapping[str, torch.Tensor] | None) -> dict:
    state = model.state_dict() if state_dict is None else state_dict
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "config_json": json.dumps(model.config_dict(), sort_keys=True),
        "state_dict": {key: value.detach().cpu().clone().contiguous() for key, value in state.items()},
    }


def model_to_bytes(model: SupervisedModel) -> bytes:
    """``model`` (config + weights) as checkpoint bytes (what :func:`save_model` writes)."""
    buffer = io.BytesIO()
    torch.save(_payload(model, None), buffer)
    return buffer.getvalue()


def save_model(model: SupervisedModel, path: str | os.PathLike) -> Path:
    """Write ``model`` to ``path`` atomically (temporary file, then rename); returns the path."""
    return write_bytes_atomically(path, model_to_bytes(model))


def model_with_state(
    config: Mapping, state_dict: Mapping, source: str, device: str | torch.device = "cpu"
) -> SupervisedModel:
    """A model of ``config`` holding ``state_dict``, on ``device``, in eval mode.

    Raises:
        ValueError: invalid config, or weights that do not fit it.
    """
    model = build_model(config, load_backbone_weights=False)
    check_state_dict(model, state_dict, source)
    model.load_state_dict(state_dict, strict=True)
    return model.to(device).eval()


def load_model(source: Source, device: str | torch.device = "cpu") -> SupervisedModel:
    """A model from a checkpoint file or bytes, on ``device``, in eval mode.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not a valid checkpoint, or weights that do not fit its config.
    """
    if isinstance(source, (bytes, bytearray)):
        name, stream = "checkpoint bytes", io.BytesIO(bytes(source))
    else:
        name = str(source)
        if not Path(source).is_file():
            raise FileNotFoundError(f"supervised model checkpoint {name} does not exist")
        stream = source
    try:
        payload = torch.load(stream, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError, RuntimeError, EOFError, ... depending on the damage
        first_line = str(error).splitlines()[0] if str(error) else ""
        raise ValueError(
            f"{name} is not a readable supervised-model checkpoint (corrupt, truncated, or not a "
            f"tensor-only torch file): {type(error).__name__}: {first_line}"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        found = sorted(map(str, payload)) if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(f"{name} is not a {FORMAT_NAME} checkpoint (found {found})")
    if payload.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{name}: checkpoint version {payload.get('version')!r} is not supported (expected {FORMAT_VERSION})"
        )
    missing = [key for key in ("config_json", "state_dict") if key not in payload]
    if missing:
        raise ValueError(f"{name}: checkpoint without {missing}")
    try:
        config = json.loads(payload["config_json"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: entry 'config_json' is not valid JSON ({error})") from error
    return model_with_state(config, payload["state_dict"], name, device)
