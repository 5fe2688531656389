"""Training of the reconstruction models on normal faces, on the library's one training
loop (:func:`facial_anomaly.training.fit`): one round = one epoch over the training faces,
validation AUC after each, early stopping, per-epoch callbacks and resumable checkpoints.
This module keeps only what is particular to these models: their data, their optimizers
(one Adam per :meth:`~.base.ReconstructionModel.optimizer_groups` entry), their step
(:meth:`~.base.ReconstructionModel.train_step`) and their validation score.

Reproducibility (see :mod:`facial_anomaly.training.loop`): the model is initialised after
``torch.manual_seed(seed)``; every epoch re-seeds torch's global RNG and draws its shuffling
permutation from a generator seeded with (seed, epoch) only, so an interrupted and resumed
run gives exactly the same weights as an uninterrupted one. Batches are sliced from one
prepared CPU tensor in the main process (no DataLoader workers) and moved to ``device`` one
at a time. Deterministic algorithms are on for the call (warn-only, so CUDA ops without a
deterministic kernel still run; for exact CUDA reproducibility set
``CUBLAS_WORKSPACE_CONFIG=:4096:8`` before starting Python) and the caller's RNG state is
restored. On the CPU, results are bit-identical for the same seed and thread count.

History: one dict per epoch with ``epoch`` (1-based), the mean over the epoch's steps of
every loss the model reports (GANomaly: ``generator``, ``discriminator``, ``adv``,
``con``, ``enc``, ``d_reinit`` = fraction of steps after which D was re-initialised;
autoencoder: ``generator``, ``con``) and ``val_auc`` (``roc_auc_score`` of the
validation scores against the labels; None without validation data).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from ...training import RoundReport, Selection, TrainingResult, TrainingState, fit
from .base import ReconstructionModel, build_model, map_batches, model_inputs, normalized_config
from .checkpoint import Source, load_training_state, model_with_state, save_training_state
from .data import tensor_to_images

Images = Sequence[np.ndarray] | torch.Tensor
EpochReport = RoundReport  # what ``on_epoch_end`` receives (``val_auc``: the round's validation AUC)

__all__ = ["EpochReport", "TrainingResult", "reconstruction_grid", "train", "validation_auc"]


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


class ReconstructionTask:
    """The reconstruction models' part of the training loop (:class:`facial_anomaly.training.TrainingTask`)."""

    def __init__(self, config, train_images, val_images, val_labels, *, batch_size, lr, betas, device):
        self.model = build_model(config)
        self.inputs = model_inputs(self.model, train_images)
        self.val_inputs = None if val_images is None else model_inputs(self.model, val_images)
        self.labels = _check_labels(self.val_inputs, val_labels)
        self.model.to(device)
        self.optimizers = _optimizers(self.model, lr, betas)
        self.batch_size, self.device = batch_size, device

    def batches(self, round_index: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        order = torch.randperm(len(self.inputs), generator=generator)
        for start in range(0, len(self.inputs), self.batch_size):
            yield self.inputs[order[start : start + self.batch_size]].to(self.device, non_blocking=True)

    def train_step(self, batch: torch.Tensor, step: int) -> Mapping[str, torch.Tensor]:
        return self.model.train_step(batch, self.optimizers)

    def evaluate(self) -> dict:
        if self.labels is None:
            return {"val_auc": None}
        return {"val_auc": validation_auc(self.model, self.val_inputs, self.labels, self.batch_size, self.device)}


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
    on_epoch_end: Callable[[RoundReport], None] | None = None,
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
        on_epoch_end: called with a :class:`~facial_anomaly.training.RoundReport` after every epoch.
        resume_from: a training checkpoint (path, bytes or
            :class:`~facial_anomaly.training.TrainingState`) of the same model config to
            continue from its saved epoch.
        checkpoint_path: if given, the training state is written there after every epoch.

    Returns:
        :class:`~facial_anomaly.training.TrainingResult` (``best_auc``: the best validation AUC).

    Raises:
        ValueError: invalid config or arguments, labels without both classes, or a
            resume checkpoint of another model config.
        FloatingPointError: when a loss becomes NaN/inf.
    """
    if epochs < 0 or batch_size < 1 or patience < 1 or min_epochs < 1 or lr <= 0:
        raise ValueError(
            f"need epochs ≥ 0, batch_size ≥ 1, patience ≥ 1, min_epochs ≥ 1, lr > 0; got {epochs}, {batch_size}, "
            f"{patience}, {min_epochs}, {lr}"
        )
    config = normalized_config(model_config)
    resume = None
    if resume_from is not None:
        resume = resume_from.copy() if isinstance(resume_from, TrainingState) else load_training_state(resume_from)
        resume.model_config = normalized_config(resume.model_config)
    return fit(
        lambda device: ReconstructionTask(
            config, train_images, val_images, val_labels, batch_size=batch_size, lr=lr, betas=betas, device=device
        ),
        model_config=config,
        rounds=epochs,
        seed=seed,
        device=device,
        selection=Selection(metric="val_auc", patience=patience, warmup=min_epochs - 1),
        progress_key="epoch",
        on_round_end=on_epoch_end,
        resume_from=resume,
        save_state=None if checkpoint_path is None else (lambda state: save_training_state(state, checkpoint_path)),
        model_factory=model_with_state,
        training_data=_fingerprint(train_images),
    )


def _fingerprint(images: Images) -> str:
    """SHA-1 (12 hex) of the training images' bytes, in order (their provenance)."""
    digest = hashlib.sha1()
    if isinstance(images, torch.Tensor):
        digest.update(images.detach().cpu().contiguous().numpy().tobytes())
    else:
        for image in images:
            digest.update(np.ascontiguousarray(image).tobytes())
    return digest.hexdigest()[:12]


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
