"""Checkpoints of the MobileNetV2 pair models (:mod:`.base`), in the library's one
checkpoint layout (:mod:`facial_anomaly.training.checkpoint`): a plain dict written with
``torch.save`` and read only with ``torch.load(..., weights_only=True)`` (tensors, numbers,
strings; never code), with a provenance record.

``format`` ``facial_anomaly.supervised``, ``version`` 2 (version 1 had no provenance),
``kind`` ``model``: ``config_json`` (the model config dict with ``architecture``),
``provenance_json`` and ``state_dict``.

Errors: a missing file → ``FileNotFoundError`` naming it; anything that is not such a dict
(truncated, random bytes, a pickle that needs code) → ``ValueError``; weights that do not
fit the config's architecture → ``ValueError`` listing missing and unexpected keys and
shape mismatches. ``backbone_weights`` in the config is not read again on loading: the
checkpoint holds every weight.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from ..provenance import model_provenance
from ..training.checkpoint import (
    CheckpointFormat,
    Source,
    check_state_dict,
    envelope,
    json_entry,
    payload_to_bytes,
    read_checkpoint,
    write_payload,
)
from .base import SupervisedModel, build_model

FORMAT = CheckpointFormat(
    name="facial_anomaly.supervised", version=2, label="supervised-model", provenance_kind="supervised_pair_model"
)
FORMAT_NAME, FORMAT_VERSION = FORMAT.name, FORMAT.version


def _payload(model: SupervisedModel) -> dict:
    config = model.config_dict()
    record = model_provenance(
        FORMAT.provenance_kind,
        schema_version=FORMAT.version,
        params=config,
        training_data=getattr(model, "training_data", "unknown"),
    )
    return envelope(FORMAT, "model", config=config, state_dict=model.state_dict(), provenance=record)


def model_to_bytes(model: SupervisedModel) -> bytes:
    """``model`` (config + weights + provenance) as checkpoint bytes (what :func:`save_model` writes)."""
    return payload_to_bytes(_payload(model))


def save_model(model: SupervisedModel, path: str | os.PathLike) -> Path:
    """Write ``model`` to ``path`` atomically (temporary file, then rename); returns the path."""
    return write_payload(_payload(model), path)


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
    payload, name = read_checkpoint(source, FORMAT)
    model = model_with_state(json_entry(payload, "config_json", name), payload["state_dict"], name, device)
    model.training_data = json_entry(payload, "provenance_json", name).get("training_data", "unknown")
    return model
