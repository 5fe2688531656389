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

The loop itself — seeding, rounds, selection, history, callbacks — is the library's one
training loop (:func:`facial_anomaly.training.fit`; one round = one epoch over the cached
pairs); this module keeps only the pair models' batches, loss, step and dev evaluation.
Reproducibility (:mod:`facial_anomaly.training.loop`): the model is initialised after
``torch.manual_seed(seed)``; every epoch re-seeds torch's global RNG (dropout) and draws its
shuffling permutation and augmentation from a generator seeded with (seed, epoch); batches
are sliced from the cached CPU tensors in the main process and moved to ``device`` one at a
time. On the CPU, the same seed, data and thread count give bit-identical weights.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import log_loss, roc_auc_score

from ..training import RoundReport, Selection, TrainingResult, fit
from .base import SEVERITY_LEVELS, SupervisedModel, build_model, normalized_config
from .checkpoint import model_with_state
from .data import NORMAL_FAMILY, PairSet
from .views import to_unit_float

LOSS_NAMES = ("loss", "anomaly_bce", "severity_bce")
FAMILY_PREFIX = "dev_auc."  # evaluation keys of the per-family dev AUCs
EpochReport = RoundReport  # what ``on_epoch_end`` receives; ``metrics()`` gives train_<loss>, dev_auc, dev_auc.<family>


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


class PairTask:
    """The pair models' part of the training loop (:class:`facial_anomaly.training.TrainingTask`)."""

    def __init__(
        self,
        config,
        train_pairs,
        dev_pairs,
        *,
        batch_size,
        lr,
        weight_decay,
        severity_weight,
        bn_batches,
        augment,
        device,
    ):
        self.model = build_model(config, load_backbone_weights=True)
        self.inputs = train_pairs.inputs(self.model.view_specs)
        self.labels = torch.from_numpy(train_pairs.labels.copy())
        self.severities = torch.from_numpy(train_pairs.severities.copy())
        self.dev_pairs = dev_pairs
        self.dev_inputs = None if dev_pairs is None else dev_pairs.inputs(self.model.view_specs)
        self.model.to(device)
        self.optimizers = {"model": torch.optim.Adam(self.model.parameters(), lr=lr, weight_decay=weight_decay)}
        self.batch_size, self.severity_weight, self.bn_batches = batch_size, severity_weight, bn_batches
        self.augment, self.device = augment, device
        self.order = torch.arange(len(self.inputs))

    def batches(self, round_index: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
        self.order = torch.randperm(len(self.inputs), generator=generator)
        for start in range(0, len(self.inputs), self.batch_size):
            index = self.order[start : start + self.batch_size]
            if len(index) < 2:  # batch norm needs two samples; a lone last pair waits for the next epoch's shuffle
                continue
            inputs = augment_batch(to_unit_float(self.inputs[index].to(self.device)), generator, **self.augment)
            yield inputs, self.labels[index].to(self.device), self.severities[index].to(self.device)

    def train_step(self, batch, step: int) -> dict[str, torch.Tensor]:
        values = losses(self.model, *batch, self.severity_weight)
        optimizer = self.optimizers["model"]
        optimizer.zero_grad(set_to_none=True)
        values["loss"].backward()
        optimizer.step()
        return {name: values[name].detach() for name in LOSS_NAMES}

    def end_round(self, round_index: int) -> None:
        recalibrate_batch_norm(
            self.model, self.inputs, self.order, batch_size=self.batch_size, batches=self.bn_batches, device=self.device
        )

    def evaluate(self) -> dict:
        if self.dev_pairs is None:
            return {"dev_auc": None, "dev_bce": None}
        scores, _ = self.model.predict(self.dev_inputs, batch_size=self.batch_size)
        labels = self.dev_pairs.labels
        return {
            "dev_auc": float(roc_auc_score(labels, scores)),
            "dev_bce": float(log_loss(labels, np.clip(scores, 1e-7, 1 - 1e-7), labels=[0, 1])),
            **{
                f"{FAMILY_PREFIX}{family}": value
                for family, value in auc_by_family(scores, labels, self.dev_pairs.families).items()
            },
        }


def _pair_history(entry: dict, seconds: float) -> dict:
    """A loop history entry in this trainer's layout: per-family AUCs in ``dev_auc_by_family``, plus ``seconds``."""
    by_family = {key[len(FAMILY_PREFIX) :]: value for key, value in entry.items() if key.startswith(FAMILY_PREFIX)}
    plain = {key: value for key, value in entry.items() if not key.startswith(FAMILY_PREFIX)}
    return {**plain, "dev_auc_by_family": by_family, "seconds": seconds}


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
    on_epoch_end: Callable[[RoundReport], None] | None = None,
) -> TrainingResult:
    """Train a pair model (MobileNetV2 branches) on cached pairs.

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
        on_epoch_end: called with a :class:`~facial_anomaly.training.RoundReport` after every
            epoch (e.g. MLflow logging: ``report.metrics()``).

    Returns:
        :class:`~facial_anomaly.training.TrainingResult`; ``history`` has one dict per
        epoch: ``epoch``, the losses, ``dev_auc``, ``dev_bce``, ``dev_auc_by_family``, ``seconds``.

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
    seconds: list[float] = []

    def on_round_end(report: RoundReport) -> None:
        seconds.append(report.seconds)
        if on_epoch_end is not None:
            on_epoch_end(report)

    result = fit(
        lambda device: PairTask(
            config,
            train_pairs,
            dev_pairs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            severity_weight=severity_weight,
            bn_batches=bn_batches,
            augment={"flip_probability": flip_probability, "shift_fraction": shift_fraction},
            device=device,
        ),
        model_config=config,
        rounds=epochs,
        seed=seed,
        device=device,
        selection=Selection(metric="dev_auc", tie_breaker="dev_bce", patience=patience),
        progress_key="epoch",
        on_round_end=on_round_end,
        model_factory=model_with_state,
        training_data=hashlib.sha1(train_pairs.table.to_csv(index=False).encode()).hexdigest()[:12],
    )
    result.history = [_pair_history(entry, spent) for entry, spent in zip(result.history, seconds)]
    return result
