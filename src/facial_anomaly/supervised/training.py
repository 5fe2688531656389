"""Training of the supervised models on cached pairs (:class:`~.data.PairSet`).

Every training batch is augmented on the fly (:func:`augment_batch`): each pair is flipped
left-right with ``flip_probability`` and shifted by a whole number of pixels up to
``shift_fraction`` × the input size, all its views alike, so that a few hundred faces
cannot be memorised pixel by pixel. Loss per batch: binary cross-entropy of the anomaly logit against the label, plus
``severity_weight`` × the mean binary cross-entropy of the four ordinal severity logits
against ``severity ≥ k`` (k = 1..4; see :mod:`.base`). Adam with ``lr`` and
``weight_decay``. After every epoch the batch-norm statistics are re-estimated ("precise
BN", Wu & Johnson 2021): the running means and variances are reset and recomputed as
plain averages over ``bn_batches`` training batches in a forward pass without gradients.
MobileNetV2 trained from scratch for a few hundred steps otherwise scores with running
statistics that lag far behind its weights (eval-mode outputs then barely depend on the
input). Then the dev pairs are scored: ``dev_auc`` is the ROC AUC
of the anomaly probability over all dev pairs, ``dev_auc_by_family`` the AUC of each
anomaly family against all normal dev pairs (:func:`auc_by_family`), ``dev_bce`` the
binary cross-entropy of the anomaly probability. The best epoch — highest ``dev_auc``,
ties (e.g. a dev set separated perfectly) broken by lower ``dev_bce`` — is kept (its state
dict, on the CPU); training stops after ``patience`` epochs without a better one.

Reproducibility (:mod:`facial_anomaly.reproducibility`, as for the reconstruction models): the model
is initialised after ``torch.manual_seed(seed)``; every epoch re-seeds torch's global RNG
(dropout) and draws its shuffling permutation from a generator seeded with (seed, epoch);
batches are sliced from the cached CPU tensors in the main process and moved to
``device`` one at a time. Deterministic algorithms are switched on for the call
(warn-only) and the caller's RNG state is restored afterwards. On the CPU, the same seed,
data and thread count give bit-identical weights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import log_loss, roc_auc_score

from ..devices import resolve_device
from ..reproducibility import epoch_seed, reproducible
from .base import SEVERITY_LEVELS, SupervisedModel, build_model, normalized_config
from .checkpoint import model_with_state
from .data import NORMAL_FAMILY, PairSet
from .views import to_unit_float

LOSS_NAMES = ("loss", "anomaly_bce", "severity_bce")


@dataclass
class EpochReport:
    """What ``on_epoch_end`` receives after each epoch: ``epoch`` (1-based) of ``epochs``;
    ``losses`` (:data:`LOSS_NAMES` → mean over the epoch's steps); ``dev_auc``, ``dev_bce``
    and ``dev_auc_by_family`` (None / None / {} without dev pairs); ``is_best``; ``seconds`` (training
    and dev scoring); ``model``: the live model (eval mode; read it, do not train it)."""

    epoch: int
    epochs: int
    losses: dict[str, float]
    dev_auc: float | None
    dev_bce: float | None
    dev_auc_by_family: dict[str, float]
    is_best: bool
    seconds: float
    model: SupervisedModel

    def metrics(self) -> dict[str, float]:
        """Flat metrics for MLflow: ``train_<loss>``, ``dev_auc``, ``dev_bce``, ``dev_auc.<family>``, ``epoch_seconds``."""
        metrics = {f"train_{name}": value for name, value in self.losses.items()}
        if self.dev_auc is not None:
            metrics["dev_auc"], metrics["dev_bce"] = self.dev_auc, self.dev_bce
        metrics.update({f"dev_auc.{family}": value for family, value in self.dev_auc_by_family.items()})
        metrics["epoch_seconds"] = self.seconds
        return metrics


@dataclass
class TrainingResult:
    """``model_config``; ``best_state_dict`` (CPU weights of ``best_epoch``: the highest dev
    AUC, or the last epoch without dev pairs); ``best_auc``; ``history`` (one dict per epoch:
    ``epoch``, the losses, ``dev_auc``, ``dev_auc_by_family``, ``seconds``); ``epochs_run``;
    ``stopped_early``."""

    model_config: dict
    best_state_dict: dict[str, torch.Tensor]
    best_epoch: int
    best_auc: float | None
    history: list[dict]
    epochs_run: int
    stopped_early: bool

    def best_model(self, device: str | torch.device = "cpu") -> SupervisedModel:
        """A model with the best weights on ``device``, in eval mode."""
        return model_with_state(self.model_config, self.best_state_dict, "best_state_dict", device)


def auc_by_family(scores: np.ndarray, labels: np.ndarray, families: np.ndarray) -> dict[str, float]:
    """ROC AUC of each anomaly family's scores against all normal ones (label 0).

    Families with no pair, or when there is no normal pair, are left out.
    """
    scores, labels, families = (
        np.asarray(scores, dtype=np.float64),
        np.asarray(labels),
        np.asarray(families, dtype=object),
    )
    normal = labels == 0
    out = {}
    for family in sorted(set(families[labels == 1].tolist()) - {NORMAL_FAMILY}):
        chosen = normal | ((labels == 1) & (families == family))
        if normal.any():
            out[family] = float(roc_auc_score(labels[chosen], scores[chosen]))
    return out


def losses(
    model: SupervisedModel, inputs: torch.Tensor, labels: torch.Tensor, severities: torch.Tensor, severity_weight: float
) -> dict[str, torch.Tensor]:
    """The training losses of one batch (see the module docstring), each a scalar tensor."""
    anomaly_logit, severity_logits = model(inputs)
    anomaly = F.binary_cross_entropy_with_logits(anomaly_logit, labels.float())
    grades = torch.arange(1, SEVERITY_LEVELS + 1, device=severities.device)
    severity = F.binary_cross_entropy_with_logits(severity_logits, (severities[:, None] >= grades[None]).float())
    return {"loss": anomaly + severity_weight * severity, "anomaly_bce": anomaly, "severity_bce": severity}


def augment_batch(
    inputs: torch.Tensor, generator: torch.Generator, *, flip_probability: float, shift_fraction: float
) -> torch.Tensor:
    """Random left-right flips and integer shifts (reflected borders) of a batch.

    Args:
        inputs: (N, C, S, S) float in [0, 1]; every channel of a pair (all its views) gets
            the same transform.
        generator: CPU generator of the random draws (three draws per pair).
        flip_probability: chance of a flip per pair.
        shift_fraction: largest shift per axis, as a fraction of S (rounded to whole pixels,
            so no resampling blur).

    Returns:
        The transformed batch, same shape, on the inputs' device.
    """
    count, size = len(inputs), inputs.shape[-1]
    flips = torch.rand(count, generator=generator) < flip_probability
    limit = int(round(shift_fraction * size))
    shifts = (
        torch.randint(-limit, limit + 1, (count, 2), generator=generator).float()
        if limit > 0
        else torch.zeros(count, 2)
    )
    theta = torch.zeros(count, 2, 3)
    theta[:, 0, 0] = torch.where(flips, -1.0, 1.0)
    theta[:, 1, 1] = 1.0
    theta[:, :, 2] = shifts * 2.0 / size  # affine_grid works in [-1, 1] coordinates
    theta = theta.to(inputs.device)
    grid = F.affine_grid(theta, list(inputs.shape), align_corners=False)
    return F.grid_sample(inputs, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _check_set(pairs: PairSet, name: str, need_both: bool) -> None:
    labels = set(np.unique(pairs.labels).tolist())
    if len(pairs) == 0 or (need_both and labels != {0, 1}):
        raise ValueError(
            f"{name} pairs must contain both normal (0) and anomalous (1) pairs, got labels {sorted(labels)}"
        )


def recalibrate_batch_norm(
    model: SupervisedModel,
    inputs: torch.Tensor,
    order: torch.Tensor,
    *,
    batch_size: int,
    batches: int,
    device: torch.device,
) -> None:
    """Recompute every batch-norm layer's running mean and variance as the average over the
    first ``batches`` batches of ``inputs[order]`` (train-mode statistics, no gradients,
    other layers in eval mode). ``batches`` 0 leaves them as they are."""
    norms = [module for module in model.modules() if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    if batches < 1 or not norms:
        return
    momenta = [module.momentum for module in norms]
    model.eval()
    for module in norms:
        module.reset_running_stats()
        module.momentum = None  # cumulative average
        module.train()
    try:
        with torch.no_grad():
            for start in range(0, min(len(order), batches * batch_size), batch_size):
                index = order[start : start + batch_size]
                if len(index) >= 2:
                    model(inputs[index].to(device))
    finally:
        for module, momentum in zip(norms, momenta):
            module.momentum = momentum
        model.eval()


def _run_epoch(
    model,
    optimizer,
    inputs,
    labels,
    severities,
    *,
    batch_size,
    severity_weight,
    bn_batches,
    augment,
    seed,
    epoch,
    device,
) -> dict[str, float]:
    torch.manual_seed(epoch_seed(seed, epoch))
    generator = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    order = torch.randperm(len(inputs), generator=generator)
    model.train()
    totals = dict.fromkeys(LOSS_NAMES, 0.0)
    steps = 0
    for start in range(0, len(inputs), batch_size):
        index = order[start : start + batch_size]
        if len(index) < 2:  # batch norm needs two samples; a lone last pair waits for the next epoch's shuffle
            continue
        batch_inputs = augment_batch(to_unit_float(inputs[index].to(device)), generator, **augment)
        batch = losses(model, batch_inputs, labels[index].to(device), severities[index].to(device), severity_weight)
        optimizer.zero_grad(set_to_none=True)
        batch["loss"].backward()
        optimizer.step()
        for name in LOSS_NAMES:
            totals[name] += float(batch[name].detach())
        steps += 1
    means = {name: total / max(steps, 1) for name, total in totals.items()}
    if not all(math.isfinite(value) for value in means.values()):
        raise FloatingPointError(
            f"epoch {epoch + 1}: non-finite losses {means}; lower the learning rate or check the data"
        )
    recalibrate_batch_norm(model, inputs, order, batch_size=batch_size, batches=bn_batches, device=device)
    return means


def train(
    model_config: Mapping,
    train_pairs: PairSet,
    dev_pairs: PairSet | None,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    severity_weight: float,
    bn_batches: int,
    flip_probability: float,
    shift_fraction: float,
    patience: int,
    seed: int,
    device: str,
    on_epoch_end: Callable[[EpochReport], None] | None = None,
) -> TrainingResult:
    """Train a supervised model.

    Args:
        model_config: config dict with ``architecture`` (:mod:`.base`).
        train_pairs: training pairs built with (at least) the model's views.
        dev_pairs: dev pairs (both labels) for the AUC and early stopping, or None (the
            last epoch counts as best).
        epochs: at most this many epochs; batch_size: pairs per step (≥ 2).
        lr, weight_decay: Adam settings. severity_weight: weight of the severity loss.
        bn_batches: training batches over which batch-norm statistics are re-estimated
            after each epoch (0 = keep the running averages).
        flip_probability, shift_fraction: on-the-fly augmentation (:func:`augment_batch`;
            0 and 0 switch it off).
        patience: stop after this many epochs without a higher dev AUC (≥ 1).
        seed: seeds initialisation, shuffling and dropout (see the module docstring).
        device: ``auto``, ``cpu``, ``cuda``, ... (:func:`~facial_anomaly.devices.resolve_device`).
        on_epoch_end: called with an :class:`EpochReport` after every epoch (e.g. MLflow logging).

    Raises:
        ValueError: invalid config or arguments; pairs without both labels.
        FileNotFoundError: a configured ``backbone_weights`` file is missing.
        FloatingPointError: a loss became NaN/inf.
    """
    if (
        epochs < 1
        or batch_size < 2
        or patience < 1
        or lr <= 0
        or weight_decay < 0
        or severity_weight < 0
        or bn_batches < 0
        or not 0 <= flip_probability <= 1
        or not 0 <= shift_fraction < 0.5
    ):
        raise ValueError(
            f"need epochs ≥ 1, batch_size ≥ 2, patience ≥ 1, lr > 0, weight_decay ≥ 0, severity_weight ≥ 0, "
            f"bn_batches ≥ 0, flip_probability in [0, 1], shift_fraction in [0, 0.5); got {epochs}, {batch_size}, "
            f"{patience}, {lr}, {weight_decay}, {severity_weight}, {bn_batches}, {flip_probability}, {shift_fraction}"
        )
    config = normalized_config(model_config)
    _check_set(train_pairs, "training", need_both=True)
    if dev_pairs is not None:
        _check_set(dev_pairs, "dev", need_both=True)
    resolved = resolve_device(device)
    history: list[dict] = []
    with reproducible(seed, resolved):
        model = build_model(config, load_backbone_weights=True)
        inputs = train_pairs.inputs(model.view_specs)
        labels, severities = (
            torch.from_numpy(train_pairs.labels.copy()),
            torch.from_numpy(train_pairs.severities.copy()),
        )
        dev_inputs = None if dev_pairs is None else dev_pairs.inputs(model.view_specs)
        model.to(resolved)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        best_state, best_epoch, best_auc, best_bce, stale = None, 0, None, None, 0
        for epoch in range(epochs):
            started = time.perf_counter()
            means = _run_epoch(
                model,
                optimizer,
                inputs,
                labels,
                severities,
                batch_size=batch_size,
                severity_weight=severity_weight,
                bn_batches=bn_batches,
                seed=seed,
                augment={"flip_probability": flip_probability, "shift_fraction": shift_fraction},
                epoch=epoch,
                device=resolved,
            )
            model.eval()
            auc, dev_bce, by_family = None, None, {}
            if dev_pairs is not None:
                scores, _ = model.predict(dev_inputs, batch_size=batch_size)
                auc = float(roc_auc_score(dev_pairs.labels, scores))
                dev_bce = float(log_loss(dev_pairs.labels, np.clip(scores, 1e-7, 1 - 1e-7), labels=[0, 1]))
                by_family = auc_by_family(scores, dev_pairs.labels, dev_pairs.families)
            is_best = auc is None or best_auc is None or (auc, -dev_bce) > (best_auc, -best_bce)
            if is_best:
                best_state = {key: value.detach().cpu().clone() for key, value in model.state_dict().items()}
                best_epoch, best_auc, best_bce, stale = epoch + 1, auc, dev_bce, 0
            else:
                stale += 1
            seconds = time.perf_counter() - started
            history.append(
                {
                    "epoch": epoch + 1,
                    **means,
                    "dev_auc": auc,
                    "dev_bce": dev_bce,
                    "dev_auc_by_family": by_family,
                    "seconds": seconds,
                }
            )
            if on_epoch_end is not None:
                on_epoch_end(EpochReport(epoch + 1, epochs, means, auc, dev_bce, by_family, is_best, seconds, model))
            if stale >= patience:
                break
    return TrainingResult(
        model_config=config,
        best_state_dict=best_state,
        best_epoch=best_epoch,
        best_auc=best_auc,
        history=history,
        epochs_run=len(history),
        stopped_early=len(history) < epochs,
    )
