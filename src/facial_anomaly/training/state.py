"""What a training run knows at the end of a round: :class:`TrainingState` (resumable),
:class:`RoundReport` (what callbacks receive) and :class:`TrainingResult` (what
:func:`~.loop.fit` returns) — one set of types for every trainer in the library.

A *round* is the unit between two evaluations: one pass over the data for epoch-based
trainers (the reconstruction models), ``eval_every`` freshly generated batches for
step-based ones (the supervised scorer). ``history`` holds one dict per round: the round
number under the trainer's progress key (``epoch``, or ``step`` = optimisation steps done),
the mean of every loss over the round's steps, and the dev metrics (None without dev data).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from .checkpoint import CheckpointFormat, cpu_state_dict, envelope, json_entry, nested_cpu

TRAINING_ENTRIES = ("best_state_dict", "optimizers", "epoch", "progress_json")


@dataclass
class TrainingState:
    """Everything needed to resume training.

    ``model_config``: the model's config dict; ``state_dict``: current weights (CPU);
    ``best_state_dict``: weights of ``best_epoch``; ``optimizers``: name →
    ``optimizer.state_dict()``; ``epoch``: completed rounds; ``steps``: optimisation steps
    done; ``history``: one dict per completed round; ``best_epoch`` (1-based, 0 = none yet)
    and ``best_auc`` (the selection value of the best round: the smoothed dev metric, None
    without one); ``epochs_without_improvement``: the patience counter; ``stopped_early``.
    """

    model_config: dict
    state_dict: dict[str, torch.Tensor]
    best_state_dict: dict[str, torch.Tensor]
    optimizers: dict[str, dict]
    epoch: int = 0
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_auc: float | None = None
    epochs_without_improvement: int = 0
    stopped_early: bool = False
    steps: int = 0
    training_data: str = "unknown"

    def progress(self) -> dict:
        """The JSON-able counters (everything but the tensors and optimizer states)."""
        return {
            "history": self.history,
            "best_epoch": self.best_epoch,
            "best_auc": self.best_auc,
            "epochs_without_improvement": self.epochs_without_improvement,
            "stopped_early": self.stopped_early,
            "steps": self.steps,
            "training_data": self.training_data,
        }

    def to_payload(self, fmt: CheckpointFormat, provenance: Mapping) -> dict:
        """The ``training`` checkpoint payload of this state (see :mod:`.checkpoint`)."""
        import json

        return envelope(
            fmt,
            "training",
            config=self.model_config,
            state_dict=self.state_dict,
            provenance=provenance,
            best_state_dict=cpu_state_dict(self.best_state_dict),
            optimizers=nested_cpu(self.optimizers),
            epoch=int(self.epoch),
            progress_json=json.dumps(self.progress()),
        )

    @classmethod
    def from_payload(cls, payload: Mapping, name: str) -> TrainingState:
        """Unpack a checked ``training`` payload (weights are checked by the caller).

        Raises:
            ValueError: a model checkpoint, or missing / malformed counters.
        """
        if payload.get("kind") != "training":
            raise ValueError(f"{name} is a {payload.get('kind')} checkpoint; resuming needs a training checkpoint")
        epoch = payload["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"{name}: epoch must be an int ≥ 0, got {epoch!r}")
        if not isinstance(payload["optimizers"], dict):
            raise ValueError(f"{name}: optimizer states must be a dict, got {type(payload['optimizers']).__name__}")
        progress = json_entry(payload, "progress_json", name)
        try:
            return cls(
                model_config=json_entry(payload, "config_json", name),
                state_dict=payload["state_dict"],
                best_state_dict=payload["best_state_dict"],
                optimizers=payload["optimizers"],
                epoch=epoch,
                history=list(progress["history"]),
                best_epoch=int(progress["best_epoch"]),
                best_auc=None if progress["best_auc"] is None else float(progress["best_auc"]),
                epochs_without_improvement=int(progress["epochs_without_improvement"]),
                stopped_early=bool(progress["stopped_early"]),
                steps=int(progress.get("steps", 0)),
                training_data=str(progress.get("training_data", "unknown")),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{name}: incomplete training progress ({type(error).__name__}: {error})") from error

    def copy(self) -> TrainingState:
        return copy.deepcopy(self)


@dataclass
class RoundReport:
    """What the ``on_round_end`` callback receives after each round.

    ``epoch``: completed rounds (1-based); ``epochs``: planned rounds; ``step``: optimisation
    steps done; ``losses``: name → mean over the round's steps; ``evaluation``: the dev
    metrics of this round ({} without dev data; None values allowed); ``selection``: the
    smoothed value the best round is chosen by (None without one); ``is_best``; ``seconds``:
    wall time of the round (training and evaluation); ``model``: the live model (eval mode;
    read it, do not train it); ``history``: all rounds so far; ``training_state``: call it
    for a resumable :class:`TrainingState` of this moment (a copy).
    """

    epoch: int
    epochs: int
    step: int
    losses: dict[str, float]
    evaluation: dict[str, Any]
    selection: float | None
    is_best: bool
    seconds: float
    model: torch.nn.Module
    history: list[dict]
    training_state: Callable[[], TrainingState]

    @property
    def val_auc(self) -> float | None:
        """The validation AUC of the reconstruction trainer (``evaluation["val_auc"]``)."""
        return self.evaluation.get("val_auc")

    def metrics(self) -> dict[str, float]:
        """Flat numeric metrics for MLflow: ``train_<loss>``, every non-None evaluation value
        (nested dicts flattened with dots, e.g. ``dev_auc.palsy``), the smoothed selection
        value as ``selection``, ``round_seconds`` and ``epoch_seconds`` (the same)."""
        metrics = {f"train_{name}": float(value) for name, value in self.losses.items()}
        metrics.update(flatten_metrics(self.evaluation))
        if self.selection is not None:
            metrics["selection"] = float(self.selection)
        metrics["round_seconds"] = metrics["epoch_seconds"] = float(self.seconds)
        return metrics


def flatten_metrics(values: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Numbers of a nested dict as ``{"a.b": value}``; None and non-numbers are left out."""
    flat = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


@dataclass
class TrainingResult:
    """The outcome of :func:`~.loop.fit`.

    ``model_config``; ``best_state_dict``: CPU weights of ``best_epoch`` (the round with the
    best smoothed dev metric after the warm-up; the last round without a dev metric);
    ``best_auc``: its selection value; ``history`` (see the module docstring);
    ``epochs_run``: completed rounds, including resumed ones; ``steps``: optimisation steps
    done; ``stopped_early``; ``state``: the final resumable state; ``seconds``: wall time of
    this call.
    """

    model_config: dict
    best_state_dict: dict[str, torch.Tensor]
    best_epoch: int
    best_auc: float | None
    history: list[dict]
    epochs_run: int
    stopped_early: bool
    state: TrainingState
    steps: int = 0
    seconds: float = 0.0
    model_factory: Callable[[dict, Mapping, str, Any], torch.nn.Module] | None = field(default=None, repr=False)

    def best_model(self, device: str | torch.device = "cpu") -> torch.nn.Module:
        """A model with the best weights on ``device``, in eval mode (``training_data`` set
        from the state, so its checkpoint records what it was trained on)."""
        if self.model_factory is None:
            raise ValueError("this training result has no model factory; build the model and load best_state_dict")
        model = self.model_factory(self.model_config, self.best_state_dict, "best_state_dict", device)
        model.training_data = self.state.training_data
        return model
