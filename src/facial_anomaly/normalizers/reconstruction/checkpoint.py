"""Checkpoints of the reconstruction models: a plain dict written with ``torch.save`` and
read only with ``torch.load(..., weights_only=True)`` (tensors, numbers, strings,
lists and dicts; never code).

Layout (``version`` 1)::

    {"format": "facial_anomaly.reconstruction", "version": 1, "kind": "model" | "training",
     "config_json": str,                  # the model config dict (with "architecture") as JSON
     "state_dict": {name: tensor},        # model weights and buffers (CPU)
     # kind "training" only (what resuming needs):
     "best_state_dict": {name: tensor},   # weights of the best validation epoch so far
     "optimizers": {name: optimizer.state_dict()},
     "epoch": int,                        # completed epochs
     "progress_json": str}                # history, best epoch/AUC, patience counter (JSON)

:func:`load_model` reads either kind (a training checkpoint gives its *best* weights).
Bytes variants (:func:`model_to_bytes`, :func:`model_from_bytes`, ...) serve Kedro
datasets. Errors: a missing file → ``FileNotFoundError`` naming it; anything that is not
such a dict (truncated, random bytes, a pickle needing code) → ``ValueError``; weights
that do not fit the config's architecture → ``ValueError`` listing the missing and
unexpected keys and the shape mismatches.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from ...atomic import write_bytes_atomically
from .base import ReconstructionModel, build_model

FORMAT_NAME = "facial_anomaly.reconstruction"
FORMAT_VERSION = 1
KINDS = ("model", "training")
_MAX_LISTED = 12

Source = str | os.PathLike | bytes


def _listed(items: list[str]) -> str:
    more = f", … and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return f"[{', '.join(items[:_MAX_LISTED])}{more}]"


def cpu_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A detached, contiguous CPU copy of a state dict (what checkpoints store)."""
    return {key: value.detach().cpu().clone().contiguous() for key, value in state_dict.items()}


def _nested_cpu(value):
    """``value`` with every tensor inside dicts, lists and tuples moved to the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: _nested_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_nested_cpu(item) for item in value)
    return value


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
        value = state_dict.get(key)
        if key not in state_dict:
            continue
        if not isinstance(value, torch.Tensor):
            mismatched.append(f"{key}: expected a tensor {shape}, found {type(value).__name__}")
        elif tuple(value.shape) != shape:
            mismatched.append(f"{key}: expected {shape}, found {tuple(value.shape)}")
    if missing or unexpected or mismatched:
        raise ValueError(
            f"{source} does not match the {getattr(model, 'architecture', type(model).__name__)} architecture of its config: "
            f"{len(missing)} missing keys {_listed(missing)}; {len(unexpected)} unexpected keys {_listed(unexpected)}; "
            f"{len(mismatched)} shape mismatches {_listed(mismatched)}"
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


# --------------------------------------------------------------------------- raw I/O


def _write(payload: dict, path: str | os.PathLike) -> Path:
    """``torch.save`` the payload to ``path`` atomically."""
    return write_bytes_atomically(path, _to_bytes(payload))


def _to_bytes(payload: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def _read(source: Source, map_location: str | torch.device) -> tuple[dict, str]:
    """Load and check the envelope of a checkpoint file or bytes; returns (payload, name for messages).

    Raises:
        FileNotFoundError: a path that does not exist.
        ValueError: not a loadable tensor-only checkpoint of this format.
    """
    if isinstance(source, (bytes, bytearray)):
        name, stream = "checkpoint bytes", io.BytesIO(source)
    else:
        name = str(source)
        if not Path(source).is_file():
            raise FileNotFoundError(f"reconstruction model checkpoint {name} does not exist")
        stream = source
    try:
        payload = torch.load(stream, map_location=map_location, weights_only=True)
    except Exception as error:  # UnpicklingError, RuntimeError, EOFError, ... depending on the damage
        first_line = str(error).splitlines()[0] if str(error) else ""
        raise ValueError(
            f"{name} is not a readable reconstruction checkpoint (corrupt, truncated, or not a tensor-only "
            f"torch file): {type(error).__name__}: {first_line}"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
        found = sorted(map(str, payload)) if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(f"{name} is not a {FORMAT_NAME} checkpoint (found {found})")
    if payload.get("version") != FORMAT_VERSION:
        raise ValueError(
            f"{name}: checkpoint version {payload.get('version')!r} is not supported (expected {FORMAT_VERSION})"
        )
    if payload.get("kind") not in KINDS:
        raise ValueError(f"{name}: checkpoint kind {payload.get('kind')!r} is not one of {KINDS}")
    needed = ["config_json", "state_dict"] + (
        ["best_state_dict", "optimizers", "epoch", "progress_json"] if payload["kind"] == "training" else []
    )
    missing = [key for key in needed if key not in payload]
    if missing:
        raise ValueError(f"{name}: {payload['kind']} checkpoint without {missing}")
    return payload, name


def _json(payload: dict, key: str, name: str):
    try:
        return json.loads(payload[key])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: entry {key!r} is not valid JSON ({error})") from error


# --------------------------------------------------------------------------- models


def _model_payload(model: ReconstructionModel) -> dict:
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "kind": "model",
        "config_json": json.dumps(model.config_dict(), sort_keys=True),
        "state_dict": cpu_state_dict(model.state_dict()),
    }


def save_model(model: ReconstructionModel, path: str | os.PathLike) -> Path:
    """Write ``model`` (config + weights) to ``path`` atomically; returns the path."""
    return _write(_model_payload(model), path)


def model_to_bytes(model: ReconstructionModel) -> bytes:
    """``model`` as checkpoint bytes (what :func:`save_model` writes)."""
    return _to_bytes(_model_payload(model))


def load_model(source: Source, device: str | torch.device = "cpu") -> ReconstructionModel:
    """A model from a checkpoint file or bytes (either kind; a training checkpoint gives
    its best weights), on ``device``, in eval mode.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not a valid checkpoint, or weights that do not fit its config.
    """
    payload, name = _read(source, map_location="cpu")
    key = "best_state_dict" if payload["kind"] == "training" else "state_dict"
    return model_with_state(_json(payload, "config_json", name), payload[key], f"{name} [{key}]", device)


def model_from_bytes(data: bytes, device: str | torch.device = "cpu") -> ReconstructionModel:
    """Inverse of :func:`model_to_bytes` (same as :func:`load_model` on bytes)."""
    return load_model(bytes(data), device)


# --------------------------------------------------------------------------- training state


@dataclass
class TrainingState:
    """Everything needed to resume training.

    ``model_config``: config dict with ``architecture``; ``state_dict``: current weights
    (CPU tensors); ``best_state_dict``: weights of ``best_epoch``; ``optimizers``: name →
    ``optimizer.state_dict()``; ``epoch``: completed epochs; ``history``: one dict per
    completed epoch (see :mod:`.training`); ``best_epoch`` (1-based, 0 = none yet) and
    ``best_auc`` (None without validation); ``epochs_without_improvement``: the early
    stopping counter; ``stopped_early``: whether patience ran out.
    """

    model_config: dict
    state_dict: dict[str, torch.Tensor]
    best_state_dict: dict[str, torch.Tensor]
    optimizers: dict[str, dict]
    epoch: int
    history: list[dict]
    best_epoch: int
    best_auc: float | None
    epochs_without_improvement: int
    stopped_early: bool

    def to_payload(self) -> dict:
        progress = {
            "history": self.history,
            "best_epoch": self.best_epoch,
            "best_auc": self.best_auc,
            "epochs_without_improvement": self.epochs_without_improvement,
            "stopped_early": self.stopped_early,
        }
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "kind": "training",
            "config_json": json.dumps(self.model_config, sort_keys=True),
            "state_dict": cpu_state_dict(self.state_dict),
            "best_state_dict": cpu_state_dict(self.best_state_dict),
            "optimizers": _nested_cpu(self.optimizers),
            "epoch": int(self.epoch),
            "progress_json": json.dumps(progress),
        }

    @classmethod
    def from_payload(cls, payload: dict, name: str) -> "TrainingState":
        """Check a loaded training payload (weights against the config) and unpack it."""
        if payload["kind"] != "training":
            raise ValueError(f"{name} is a {payload['kind']} checkpoint; resuming needs a training checkpoint")
        config = _json(payload, "config_json", name)
        model = build_model(config)
        for key in ("state_dict", "best_state_dict"):
            check_state_dict(model, payload[key], f"{name} [{key}]")
        if not isinstance(payload["optimizers"], dict) or set(payload["optimizers"]) != set(model.optimizer_groups()):
            raise ValueError(
                f"{name}: optimizer states {payload['optimizers']!r:.80} do not match {sorted(model.optimizer_groups())}"
            )
        epoch = payload["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"{name}: epoch must be an int ≥ 0, got {epoch!r}")
        progress = _json(payload, "progress_json", name)
        try:
            return cls(
                model_config=config,
                state_dict=payload["state_dict"],
                best_state_dict=payload["best_state_dict"],
                optimizers=payload["optimizers"],
                epoch=epoch,
                history=list(progress["history"]),
                best_epoch=int(progress["best_epoch"]),
                best_auc=None if progress["best_auc"] is None else float(progress["best_auc"]),
                epochs_without_improvement=int(progress["epochs_without_improvement"]),
                stopped_early=bool(progress["stopped_early"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{name}: incomplete training progress ({type(error).__name__}: {error})") from error


def save_training_state(state: TrainingState, path: str | os.PathLike) -> Path:
    """Write a training checkpoint atomically; returns the path."""
    return _write(state.to_payload(), path)


def training_state_to_bytes(state: TrainingState) -> bytes:
    return _to_bytes(state.to_payload())


def load_training_state(source: Source) -> TrainingState:
    """A :class:`TrainingState` (CPU tensors) from a training checkpoint file or bytes.

    Raises:
        FileNotFoundError, ValueError: as :func:`load_model`; also for a model-only checkpoint.
    """
    payload, name = _read(source, map_location="cpu")
    return TrainingState.from_payload(payload, name)
