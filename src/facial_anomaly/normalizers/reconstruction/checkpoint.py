"""Checkpoints of the reconstruction models, in the library's one checkpoint layout
(:mod:`facial_anomaly.training.checkpoint`): a plain dict written with ``torch.save`` and
read only with ``torch.load(..., weights_only=True)``, with a provenance record.

``format`` ``facial_anomaly.reconstruction``, ``version`` 2 (version 1 had no provenance),
``kind`` ``model`` (config + weights) or ``training`` (also the best weights, the optimizer
states and the progress: what resuming needs; :class:`~facial_anomaly.training.TrainingState`).
:func:`load_model` reads either kind (a training checkpoint gives its *best* weights).
Bytes variants (:func:`model_to_bytes`, :func:`model_from_bytes`, ...) serve Kedro
datasets. Errors: a missing file → ``FileNotFoundError`` naming it; anything that is not
such a checkpoint → ``ValueError`` naming the file; weights that do not fit the config's
architecture → ``ValueError`` listing the missing and unexpected keys and the shape mismatches.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from ...provenance import model_provenance
from ...training.checkpoint import (
    CheckpointFormat,
    Source,
    check_state_dict,
    cpu_state_dict,
    envelope,
    json_entry,
    payload_to_bytes,
    read_checkpoint,
    write_payload,
)
from ...training.state import TRAINING_ENTRIES, TrainingState
from .base import ReconstructionModel, build_model

FORMAT = CheckpointFormat(
    name="facial_anomaly.reconstruction", version=2, label="reconstruction", provenance_kind="reconstruction_model"
)
FORMAT_NAME, FORMAT_VERSION = FORMAT.name, FORMAT.version
_NEEDED = {"training": TRAINING_ENTRIES}

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "Source",
    "TrainingState",
    "check_state_dict",
    "cpu_state_dict",
    "load_model",
    "load_training_state",
    "model_from_bytes",
    "model_to_bytes",
    "model_with_state",
    "save_model",
    "save_training_state",
    "training_state_to_bytes",
]


def provenance(config: Mapping, training_data: str) -> dict:
    """The provenance record of a reconstruction model of ``config`` (it uses no landmarks:
    it sees a fixed crop box of the aligned face)."""
    return model_provenance(
        FORMAT.provenance_kind,
        schema_version=FORMAT.version,
        params=config,
        training_data=training_data,
        uses_landmarks=False,
    )


def model_with_state(
    config: Mapping, state_dict: Mapping, source: str, device: str | torch.device = "cpu"
) -> ReconstructionModel:
    """A model of ``config`` holding ``state_dict``, on ``device``, in eval mode.

    Raises:
        ValueError: invalid config, or weights that do not fit it (see :func:`check_state_dict`).
    """
    model = build_model(config)
    check_state_dict(model, state_dict, source)
    model.load_state_dict(state_dict, strict=True)
    return model.to(device).eval()


def _model_payload(model: ReconstructionModel) -> dict:
    config = model.config_dict()
    return envelope(
        FORMAT,
        "model",
        config=config,
        state_dict=model.state_dict(),
        provenance=provenance(config, getattr(model, "training_data", "unknown")),
    )


def save_model(model: ReconstructionModel, path: str | os.PathLike) -> Path:
    """Write ``model`` (config + weights + provenance) to ``path`` atomically; returns the path."""
    return write_payload(_model_payload(model), path)


def model_to_bytes(model: ReconstructionModel) -> bytes:
    """``model`` as checkpoint bytes (what :func:`save_model` writes)."""
    return payload_to_bytes(_model_payload(model))


def load_model(source: Source, device: str | torch.device = "cpu") -> ReconstructionModel:
    """A model from a checkpoint file or bytes (either kind; a training checkpoint gives
    its best weights), on ``device``, in eval mode.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not a valid checkpoint, or weights that do not fit its config.
    """
    payload, name = read_checkpoint(source, FORMAT, needed=_NEEDED)
    key = "best_state_dict" if payload["kind"] == "training" else "state_dict"
    model = model_with_state(json_entry(payload, "config_json", name), payload[key], f"{name} [{key}]", device)
    model.training_data = json_entry(payload, "provenance_json", name).get("training_data", "unknown")
    return model


def model_from_bytes(data: bytes, device: str | torch.device = "cpu") -> ReconstructionModel:
    """Inverse of :func:`model_to_bytes` (same as :func:`load_model` on bytes)."""
    return load_model(bytes(data), device)


def _state_payload(state: TrainingState) -> dict:
    return state.to_payload(FORMAT, provenance(state.model_config, state.training_data))


def save_training_state(state: TrainingState, path: str | os.PathLike) -> Path:
    """Write a training checkpoint atomically; returns the path."""
    return write_payload(_state_payload(state), path)


def training_state_to_bytes(state: TrainingState) -> bytes:
    return payload_to_bytes(_state_payload(state))


def load_training_state(source: Source) -> TrainingState:
    """A :class:`~facial_anomaly.training.TrainingState` (CPU tensors) from a training
    checkpoint file or bytes; its weights and optimizer states are checked against its config.

    Raises:
        FileNotFoundError, ValueError: as :func:`load_model`; also for a model-only checkpoint.
    """
    payload, name = read_checkpoint(source, FORMAT, needed=_NEEDED)
    state = TrainingState.from_payload(payload, name)
    model = build_model(state.model_config)
    for key in ("state_dict", "best_state_dict"):
        check_state_dict(model, payload[key], f"{name} [{key}]")
    if set(state.optimizers) != set(model.optimizer_groups()):
        raise ValueError(
            f"{name}: optimizer states {sorted(state.optimizers)} do not match {sorted(model.optimizer_groups())}"
        )
    return state
