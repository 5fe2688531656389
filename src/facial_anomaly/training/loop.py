"""The one training loop of the library (:func:`fit`): rounds of optimisation steps, each
followed by an evaluation on dev data, the best state kept by a smoothed dev metric,
history, callbacks and resumable checkpoints. Each model brings only a
:class:`TrainingTask`: its batches, its loss and step, and its evaluation.

Reproducibility (:mod:`facial_anomaly.reproducibility`): the task (model, optimizers) is
built after ``torch.manual_seed(seed)`` inside :func:`~facial_anomaly.reproducibility.
reproducible` (deterministic algorithms on, the caller's RNG state restored afterwards);
every round re-seeds torch's global RNG (dropout) with ``epoch_seed(seed, round)`` and
hands the task a CPU ``torch.Generator`` seeded the same way (shuffling, augmentation,
synthetic data). A round therefore depends only on (seed, round, the state before it), so
a run resumed from a checkpoint gives exactly the weights of an uninterrupted one; on the
CPU, the same seed, data and thread count give bit-identical weights.

Model selection (:class:`Selection`): after each round the dev metric (e.g. ``dev_auc``)
is averaged over the last ``smoothing`` rounds (a trailing mean: networks trained on
synthetic anomalies sit at chance for hundreds of steps and their dev AUC is noisy, so a
single lucky round must not win). Rounds up to ``warmup`` are kept only as a fallback:
they neither compete for best nor count for patience. The best round is the one with the
highest (lowest with ``higher_is_better`` false) smoothed value, ties broken by the lower
``tie_breaker`` metric; its weights are kept on the CPU. ``patience`` None (the default)
never stops early; a number stops after that many rounds without a better value. Without
a dev metric every round counts as best (the last one is kept).

Learning-rate schedule: ``schedule(step) → factor`` multiplies every parameter group's
initial learning rate before each step (e.g. :func:`warmup_cosine`); it depends on the
step number only, so it resumes without state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import torch
from pydantic import Field

from ..config import Config
from ..devices import resolve_device
from ..reproducibility import epoch_seed, reproducible
from .checkpoint import cpu_state_dict
from .state import RoundReport, TrainingResult, TrainingState

ProgressKey = Literal["epoch", "step"]


class Selection(Config):
    """How the best round is chosen and when training stops (see the module docstring)."""

    metric: str | None = Field(None, description="dev metric that picks the best round (None: the last round)")
    higher_is_better: bool = Field(True, description="True for AUC-like metrics, False for losses")
    smoothing: int = Field(1, ge=1, description="trailing mean over this many rounds' dev metric (1 = raw)")
    tie_breaker: str | None = Field(None, description="dev metric, lower wins, that breaks ties (e.g. dev_bce)")
    patience: int | None = Field(None, ge=1, description="rounds without a better value before stopping; None = never")
    warmup: int = Field(0, ge=0, description="first rounds kept only as a fallback: they neither win nor count")


@runtime_checkable
class TrainingTask(Protocol):
    """What a model brings to :func:`fit`.

    ``model``: the ``nn.Module`` (on the training device); ``optimizers``: name → optimizer;
    ``batches(round, generator)``: the batches of round ``round`` (0-based), drawing every
    random choice from ``generator``; ``train_step(batch, step)``: one optimisation step
    (model in train mode), returning loss name → scalar (tensor or float; the batch mean);
    ``evaluate()``: dev metrics (model in eval mode; ``{}`` without dev data). Optional:
    ``end_round(round)``, called after the round's steps and before the evaluation (e.g.
    re-estimating batch-norm statistics).
    """

    model: torch.nn.Module
    optimizers: Mapping[str, torch.optim.Optimizer]

    def batches(self, round_index: int, generator: torch.Generator) -> Iterable[Any]: ...

    def train_step(self, batch: Any, step: int) -> Mapping[str, torch.Tensor | float]: ...

    def evaluate(self) -> dict[str, Any]: ...


def warmup_cosine(total_steps: int, warmup_steps: int, final_factor: float = 0.0) -> Callable[[int], float]:
    """Learning-rate factor of step ``s`` (0-based): linear warm-up from 1/warmup to 1 over
    ``warmup_steps``, then a cosine decay to ``final_factor`` at ``total_steps``
    (Loshchilov & Hutter 2017, without restarts); ``final_factor`` after that."""
    if total_steps < 1 or not 0 <= warmup_steps < total_steps or not 0.0 <= final_factor <= 1.0:
        raise ValueError(
            f"need total_steps ≥ 1, 0 ≤ warmup_steps < total_steps, final_factor in [0, 1]; "
            f"got {total_steps}, {warmup_steps}, {final_factor}"
        )

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return final_factor + (1.0 - final_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def _differing_keys(saved: Mapping, requested: Mapping) -> list[str]:
    return sorted(key for key in set(saved) | set(requested) if saved.get(key) != requested.get(key))


def _smoothed(history: list[dict], metric: str, window: int) -> float | None:
    values = [entry.get(metric) for entry in history[-window:]]
    values = [float(value) for value in values if value is not None]
    return float(np.mean(values)) if values else None


def _better(value: float, tie: float | None, best: float | None, best_tie: float | None, selection: Selection) -> bool:
    if best is None:
        return True
    if value != best:
        return value > best if selection.higher_is_better else value < best
    return tie is not None and best_tie is not None and tie < best_tie


def fit(
    make_task: Callable[[torch.device], TrainingTask],
    *,
    model_config: Mapping,
    rounds: int,
    seed: int,
    device: str | torch.device,
    selection: Selection | None = None,
    progress_key: ProgressKey = "epoch",
    schedule: Callable[[int], float] | None = None,
    on_round_end: Callable[[RoundReport], None] | None = None,
    resume_from: TrainingState | None = None,
    save_state: Callable[[TrainingState], None] | None = None,
    model_factory: Callable | None = None,
    training_data: str = "unknown",
) -> TrainingResult:
    """Train the task's model for ``rounds`` rounds (see the module docstring).

    Args:
        make_task: builds the task on the given device (called once, after seeding).
        model_config: the model's config dict (stored in the state; a resumed state must
            have the same one).
        rounds: total rounds to reach, including those of ``resume_from`` (≥ 0).
        seed: seeds the task's construction and every round.
        device: ``auto``, ``cpu``, ``cuda``, ... or a ``torch.device``.
        selection: model selection and early stopping (default: the last round, no stopping).
        progress_key: ``epoch`` (history counts rounds) or ``step`` (history counts steps).
        schedule: learning-rate factor per step (None = constant).
        on_round_end: called with a :class:`~.state.RoundReport` after every round.
        resume_from: a state of the same model config to continue from (not modified).
        save_state: called with a copy of the state after every round (e.g. a checkpoint writer).
        model_factory: ``(config, state_dict, source, device) → model`` for
            :meth:`~.state.TrainingResult.best_model`.
        training_data: fingerprint of the training data, kept in the state for provenance
            (:func:`facial_anomaly.provenance.training_data_fingerprint`).

    Raises:
        ValueError: ``rounds`` < 0, or a resume state of another model config.
        FloatingPointError: a round's mean loss is NaN or infinite.
    """
    if rounds < 0:
        raise ValueError(f"rounds must be ≥ 0, got {rounds}")
    selection = selection or Selection()
    resolved = device if isinstance(device, torch.device) else resolve_device(device)
    config = dict(model_config)
    started = time.perf_counter()
    with reproducible(seed, resolved):
        task = make_task(resolved)
        model, optimizers = task.model, task.optimizers
        if resume_from is None:
            weights = cpu_state_dict(model.state_dict())
            state = TrainingState(
                model_config=config,
                state_dict=weights,
                best_state_dict=weights,
                optimizers={name: optimizer.state_dict() for name, optimizer in optimizers.items()},
                training_data=training_data,
            )
        else:
            state = resume_from.copy()  # training updates its state in place; never the caller's object
            if dict(state.model_config) != config:
                raise ValueError(
                    f"cannot resume: the checkpoint's model config differs in "
                    f"{_differing_keys(state.model_config, config)} (checkpoint {state.model_config}, requested {config})"
                )
            if set(state.optimizers) != set(optimizers):
                raise ValueError(f"cannot resume: optimizer states {sorted(state.optimizers)} ≠ {sorted(optimizers)}")
            model.load_state_dict(state.state_dict)
            for name, optimizer in optimizers.items():
                optimizer.load_state_dict(state.optimizers[name])
        for optimizer in optimizers.values():
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])

        def snapshot() -> TrainingState:
            """Bring ``state`` up to date with the live model and optimizers; return a copy."""
            state.state_dict = cpu_state_dict(model.state_dict())
            state.optimizers = {name: optimizer.state_dict() for name, optimizer in optimizers.items()}
            return state.copy()

        def out_of_patience() -> bool:
            return selection.patience is not None and state.epochs_without_improvement >= selection.patience

        while state.epoch < rounds and not out_of_patience():
            round_started = time.perf_counter()
            round_seed = epoch_seed(seed, state.epoch)
            torch.manual_seed(round_seed)
            generator = torch.Generator().manual_seed(round_seed)
            model.train()
            totals: dict[str, float] = {}
            count = 0
            for batch in task.batches(state.epoch, generator):
                if schedule is not None:
                    factor = float(schedule(state.steps))
                    for optimizer in optimizers.values():
                        for group in optimizer.param_groups:
                            group["lr"] = group["initial_lr"] * factor
                for name, value in task.train_step(batch, state.steps).items():
                    totals[name] = totals.get(name, 0.0) + float(value)
                state.steps += 1
                count += 1
            losses = {name: total / max(count, 1) for name, total in totals.items()}
            bad = {name: value for name, value in losses.items() if not math.isfinite(value)}
            if bad:
                raise FloatingPointError(
                    f"{progress_key} {state.epoch + 1}: non-finite losses {bad}; lower the learning rate or check the data"
                )
            end_round = getattr(task, "end_round", None)
            if end_round is not None:
                end_round(state.epoch)
            model.eval()
            evaluation = dict(task.evaluate() or {})
            state.epoch += 1
            entry = {progress_key: state.epoch if progress_key == "epoch" else state.steps, **losses, **evaluation}
            value = None
            if selection.metric is not None:
                value = _smoothed([*state.history, entry], selection.metric, selection.smoothing)
                if selection.smoothing > 1:
                    entry[f"{selection.metric}_smoothed"] = value
            state.history.append(entry)
            warming_up = state.epoch <= selection.warmup
            tie = None if selection.tie_breaker is None else evaluation.get(selection.tie_breaker)
            best_tie = (
                None
                if selection.tie_breaker is None or state.best_epoch < 1
                else state.history[state.best_epoch - 1].get(selection.tie_breaker)
            )
            is_best = warming_up or value is None or _better(value, tie, state.best_auc, best_tie, selection)
            if is_best:
                state.best_epoch, state.best_auc, state.epochs_without_improvement = (
                    state.epoch,
                    None if warming_up else value,
                    0,
                )
                state.best_state_dict = cpu_state_dict(model.state_dict())
            else:
                state.epochs_without_improvement += 1
            state.stopped_early = out_of_patience() and state.epoch < rounds
            if save_state is not None:
                save_state(snapshot())
            if on_round_end is not None:
                on_round_end(
                    RoundReport(
                        epoch=state.epoch,
                        epochs=rounds,
                        step=state.steps,
                        losses=losses,
                        evaluation=evaluation,
                        selection=value,
                        is_best=is_best,
                        seconds=time.perf_counter() - round_started,
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
        steps=final.steps,
        seconds=time.perf_counter() - started,
        model_factory=model_factory,
    )
