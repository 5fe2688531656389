"""Training of the reconstruction models on normal faces, with validation AUC, early
stopping, per-epoch callbacks and resumable checkpoints.

Reproducibility: the model is initialised after ``torch.manual_seed(seed)``; every epoch
re-seeds torch's global RNG and draws its shuffling permutation from a generator seeded
with (seed, epoch) only, so an interrupted and resumed run gives exactly the same
weights as an uninterrupted one. Batches are sliced from one prepared CPU tensor in the
main process (no DataLoader workers) and moved to ``device`` one at a time.
Deterministic algorithms are switched on for the duration of the call (warn-only, so
CUDA ops without a deterministic kernel still run; for exact CUDA reproducibility set
``CUBLAS_WORKSPACE_CONFIG=:4096:8`` before starting Python) and restored afterwards,
and the caller's RNG state is restored too. On the CPU, results are bit-identical for
the same seed and thread count.

History: one dict per epoch with ``epoch`` (1-based), the mean over the epoch's steps of
every loss the model reports (GANomaly: ``generator``, ``discriminator``, ``adv``,
``con``, ``enc``, ``d_reinit`` = fraction of steps after which D was re-initialised;
autoencoder: ``generator``, ``con``) and ``val_auc`` (``roc_auc_score`` of the
validation scores against the labels; None without validation data).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from ...devices import resolve_device
from ...reproducibility import epoch_seed, reproducible
from .base import ReconstructionModel, build_model, map_batches, model_inputs, normalized_config
from .checkpoint import (
    Source,
    TrainingState,
    cpu_state_dict,
    load_training_state,
    model_with_state,
    save_training_state,
)
from .data import tensor_to_images

Images = Sequence[np.ndarray] | torch.Tensor


@dataclass
class EpochReport:
    """What the ``on_epoch_end`` callback receives after each epoch.

    ``epoch``: completed epochs (1-based); ``epochs``: planned total; ``losses``: name →
    epoch mean; ``val_auc``: None without validation; ``is_best``: this epoch is the best
    so far; ``seconds``: wall time of the epoch (training and validation); ``model``: the
    live model on the training device (eval mode; read it, do not train it);
    ``history``: all epochs so far; ``training_state``: call it for a resumable
    :class:`~.checkpoint.TrainingState` of this moment (a copy of weights and optimizer states).
    """

    epoch: int
    epochs: int
    losses: dict[str, float]
    val_auc: float | None
    is_best: bool
    seconds: float
    model: ReconstructionModel
    history: list[dict]
    training_state: Callable[[], TrainingState]


@dataclass
class TrainingResult:
    """The outcome of :func:`train`.

    ``model_config``: the config dict; ``best_state_dict``: CPU weights of ``best_epoch``
    (the epoch ≥ ``min_epochs`` with the highest validation AUC; the last epoch without
    validation or when training ended before ``min_epochs``);
    ``best_auc``; ``history`` (see the module docstring); ``epochs_run``: completed epochs
    including resumed ones; ``stopped_early``; ``state``: the final resumable state.
    """

    model_config: dict
    best_state_dict: dict[str, torch.Tensor]
    best_epoch: int
    best_auc: float | None
    history: list[dict]
    epochs_run: int
    stopped_early: bool
    state: TrainingState

    def best_model(self, device: str | torch.device = "cpu") -> ReconstructionModel:
        """A model with the best weights on ``device``, in eval mode."""
        return model_with_state(self.model_config, self.best_state_dict, "best_state_dict", device)


def _check_labels(val_inputs: torch.Tensor | None, val_labels: Sequence[int] | None) -> np.ndarray | None:
    if val_inputs is None:
        if val_labels is not None:
            raise ValueError("val_labels given without val_images")
        return None
    labels = np.asarray(val_labels if val_labels is not None else [], dtype=np.int64)
    if labels.shape != (len(val_inputs),):
        raise ValueError(
            f"need one label per validation image: {len(val_inputs)} images, labels of shape {labels.shape}"
        )
    if set(np.unique(labels).tolist()) != {0, 1}:
        raise ValueError(
            f"validation labels must contain both 0 (normal) and 1 (anomalous), got {sorted(set(labels.tolist()))}"
        )
    return labels


def _optimizers(model: ReconstructionModel, lr: float, betas: Sequence[float]) -> dict[str, torch.optim.Optimizer]:
    if len(betas) != 2:
        raise ValueError(f"betas must be two numbers, got {betas!r}")
    return {
        name: torch.optim.Adam(params, lr=lr, betas=(float(betas[0]), float(betas[1])))
        for name, params in model.optimizer_groups().items()
    }


def validation_auc(
    model: ReconstructionModel, images: torch.Tensor, labels: np.ndarray, batch_size: int, device: torch.device
) -> float:
    """ROC AUC of the model's anomaly scores of (N, 3, S, S) ``images`` against 0/1 ``labels``."""
    scores = map_batches(model.anomaly_score, images, batch_size, device).numpy()
    return float(roc_auc_score(labels, scores))


def _run_epoch(
    model: ReconstructionModel,
    optimizers: Mapping,
    inputs: torch.Tensor,
    batch_size: int,
    seed: int,
    epoch: int,
    device: torch.device,
) -> dict[str, float]:
    """Train one epoch (0-based ``epoch``); returns the per-step mean of every loss."""
    torch.manual_seed(epoch_seed(seed, epoch))
    order = torch.randperm(len(inputs), generator=torch.Generator().manual_seed(epoch_seed(seed, epoch)))
    model.train()
    totals: dict[str, torch.Tensor] = {}
    steps = 0
    for start in range(0, len(inputs), batch_size):
        batch = inputs[order[start : start + batch_size]].to(device, non_blocking=True)
        for name, value in model.train_step(batch, optimizers).items():
            totals[name] = totals.get(name, 0.0) + value
        steps += 1
    losses = {name: float(total) / steps for name, total in totals.items()}
    bad = {name: value for name, value in losses.items() if not math.isfinite(value)}
    if bad:
        raise FloatingPointError(
            f"epoch {epoch + 1}: non-finite losses {bad}; lower the learning rate or check the data"
        )
    return losses


def train(
    model_config: Mapping,
    train_images: Images,
    val_images: Images | None,
    val_labels: Sequence[int] | None,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    betas: Sequence[float],
    seed: int,
    device: str,
    patience: int,
    min_epochs: int,
    on_epoch_end: Callable[[EpochReport], None] | None = None,
    resume_from: Source | TrainingState | None = None,
    checkpoint_path: str | None = None,
) -> TrainingResult:
    """Train a reconstruction model on normal faces.

    Args:
        model_config: config dict with ``architecture`` (see :func:`~.base.build_model`).
        train_images: normal aligned faces (H×W×3 uint8 each) or a prepared (N, 3, S, S) tensor in [-1, 1].
        val_images: validation faces (same forms) or None (no validation: no early
            stopping, the last epoch counts as best).
        val_labels: one 0 (normal) / 1 (anomalous) per validation face; both must occur.
        epochs: total epochs to reach (including those of ``resume_from``).
        batch_size: training and scoring batch size (GANomaly paper: 64).
        lr, betas: Adam settings of every optimizer (paper: 2e-4, (0.5, 0.999)).
        seed: seeds initialisation, shuffling and every random draw (see module docstring).
        device: ``auto``, ``cpu``, ``cuda``, ... (:func:`~facial_anomaly.devices.resolve_device`).
        patience: stop after this many epochs without a higher validation AUC (≥ 1).
        min_epochs: warm-up (≥ 1): epochs before this one neither count for patience nor
            compete for best (a barely trained model that happens to score a high AUC by
            chance is never kept); 1 = plain early stopping.
        on_epoch_end: called with an :class:`EpochReport` after every epoch.
        resume_from: a training checkpoint (path, bytes or :class:`TrainingState`) of the
            same model config to continue from its saved epoch.
        checkpoint_path: if given, the training state is written there after every epoch.

    Raises:
        ValueError: invalid config or arguments, labels without both classes, or a
            resume checkpoint of another model config.
        FloatingPointError: when a loss becomes NaN/inf.
    """
    if epochs < 0 or batch_size < 1 or patience < 1 or min_epochs < 1 or lr <= 0:
        raise ValueError(
            f"need epochs ≥ 0, batch_size ≥ 1, patience ≥ 1, min_epochs ≥ 1, lr > 0; got {epochs}, {batch_size}, {patience}, {min_epochs}, {lr}"
        )
    config = normalized_config(model_config)
    resolved = resolve_device(device)
    with reproducible(seed, resolved):
        model = build_model(config)
        inputs = model_inputs(model, train_images)
        val_inputs = None if val_images is None else model_inputs(model, val_images)
        labels = _check_labels(val_inputs, val_labels)
        model.to(resolved)
        optimizers = _optimizers(model, lr, betas)
        state = _initial_state(config, model, optimizers, resume_from)
        if resume_from is not None:
            model.load_state_dict(state.state_dict)
            for name, optimizer in optimizers.items():
                optimizer.load_state_dict(state.optimizers[name])

        def snapshot() -> TrainingState:
            """Bring ``state`` up to date with the live model and optimizers; return a copy."""
            state.state_dict = cpu_state_dict(model.state_dict())
            state.optimizers = {name: copy.deepcopy(optimizer.state_dict()) for name, optimizer in optimizers.items()}
            return copy.deepcopy(state)

        while state.epoch < epochs and state.epochs_without_improvement < patience:
            started = time.perf_counter()
            losses = _run_epoch(model, optimizers, inputs, batch_size, seed, state.epoch, resolved)
            model.eval()
            auc = None if labels is None else validation_auc(model, val_inputs, labels, batch_size, resolved)
            state.epoch += 1
            warming_up = state.epoch < min_epochs  # kept only as a fallback until the first epoch ≥ min_epochs
            is_best = warming_up or auc is None or state.best_auc is None or auc > state.best_auc
            if is_best:
                state.best_epoch, state.best_auc, state.epochs_without_improvement = (
                    state.epoch,
                    None if warming_up else auc,
                    0,
                )
                state.best_state_dict = cpu_state_dict(model.state_dict())
            else:
                state.epochs_without_improvement += 1
            state.stopped_early = state.epochs_without_improvement >= patience and state.epoch < epochs
            state.history.append({"epoch": state.epoch, **losses, "val_auc": auc})
            if checkpoint_path is not None:
                save_training_state(snapshot(), checkpoint_path)
            if on_epoch_end is not None:
                on_epoch_end(
                    EpochReport(
                        epoch=state.epoch,
                        epochs=epochs,
                        losses=losses,
                        val_auc=auc,
                        is_best=is_best,
                        seconds=time.perf_counter() - started,
                        model=model,
                        history=list(state.history),
                        training_state=snapshot,
                    )
                )
        final = snapshot()
    return TrainingResult(
        model_config=config,
        best_state_dict=final.best_state_dict,
        best_epoch=final.best_epoch,
        best_auc=final.best_auc,
        history=list(final.history),
        epochs_run=final.epoch,
        stopped_early=final.stopped_early,
        state=final,
    )


def _initial_state(
    config: dict, model: ReconstructionModel, optimizers: Mapping, resume_from: Source | TrainingState | None
) -> TrainingState:
    """A fresh state, or the checked state to resume from (same model config)."""
    if resume_from is None:
        weights = cpu_state_dict(model.state_dict())
        return TrainingState(
            model_config=config,
            state_dict=weights,
            best_state_dict=weights,
            optimizers={name: optimizer.state_dict() for name, optimizer in optimizers.items()},
            epoch=0,
            history=[],
            best_epoch=0,
            best_auc=None,
            epochs_without_improvement=0,
            stopped_early=False,
        )
    if isinstance(resume_from, TrainingState):
        state = copy.deepcopy(resume_from)  # training updates its state in place; never the caller's object
    else:
        state = load_training_state(resume_from)
    saved = normalized_config(state.model_config)
    if saved != config:
        differing = sorted(key for key in set(saved) | set(config) if saved.get(key) != config.get(key))
        raise ValueError(
            f"cannot resume: the checkpoint's model config differs in {differing} (checkpoint {saved}, requested {config})"
        )
    return state


def reconstruction_grid(model: ReconstructionModel, images: Images, n: int) -> np.ndarray:
    """A picture of what the model does: the first ``n`` inputs at model size (top row)
    above their reconstructions (bottom row), as one (2·S, n·S, 3) uint8 RGB image
    (e.g. for MLflow). Runs on the model's device, in eval mode.

    Args:
        images: aligned faces (H×W×3 uint8) or a prepared (N, 3, S, S) tensor in [-1, 1].
    """
    if n < 1:
        raise ValueError(f"n must be ≥ 1, got {n}")
    inputs = model_inputs(model, images[:n])
    device = next(model.parameters()).device
    reconstructions = model.reconstruct(inputs.to(device))
    top, bottom = tensor_to_images(inputs), tensor_to_images(reconstructions)
    return np.concatenate([np.concatenate(list(top), axis=1), np.concatenate(list(bottom), axis=1)], axis=0)
