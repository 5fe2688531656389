"""The one training loop: selection by a smoothed dev metric, warm-up, patience, the
learning-rate schedule, history callbacks, determinism and exact resume, checkpoints."""

from __future__ import annotations

import io

import pytest
import torch

from facial_anomaly.provenance import ModelMismatch, model_provenance
from facial_anomaly.training import (
    CheckpointFormat,
    MetricHistory,
    Selection,
    envelope,
    fit,
    payload_to_bytes,
    read_checkpoint,
    warmup_cosine,
)

CONFIG = {"architecture": "line", "inputs": 4}
FORMAT = CheckpointFormat("facial_anomaly.test", 1, "test", "test_model")


class LineTask:
    """A linear regression on fixed data; ``scripted`` dev metrics replace the real one."""

    def __init__(self, device, scripted=None, steps_per_round=3, lr=0.1):
        generator = torch.Generator().manual_seed(99)
        self.x = torch.randn(64, 4, generator=generator)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5, 3.0])
        self.model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.2), torch.nn.Linear(8, 1))
        self.optimizers = {"model": torch.optim.AdamW(self.model.parameters(), lr=lr)}
        self.scripted, self.steps_per_round, self.rounds_ended = scripted, steps_per_round, []

    def batches(self, round_index, generator):
        for _ in range(self.steps_per_round):
            yield torch.randint(0, len(self.x), (16,), generator=generator)

    def train_step(self, index, step):
        loss = torch.nn.functional.mse_loss(self.model(self.x[index])[:, 0], self.y[index])
        self.optimizers["model"].zero_grad()
        loss.backward()
        self.optimizers["model"].step()
        return {"mse": loss.detach(), "lr": self.optimizers["model"].param_groups[0]["lr"]}

    def end_round(self, round_index):
        self.rounds_ended.append(round_index)

    def evaluate(self):
        if self.scripted is not None:
            return {"dev_auc": self.scripted.pop(0), "dev_bce": 0.5}
        with torch.no_grad():
            return {"dev_mse": float(torch.nn.functional.mse_loss(self.model(self.x)[:, 0], self.y))}


def run(rounds=4, scripted=None, **options):
    return fit(
        lambda device: LineTask(device, None if scripted is None else list(scripted)),
        model_config=CONFIG,
        rounds=rounds,
        seed=options.pop("seed", 0),
        device="cpu",
        **options,
    )


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


def test_smoothed_selection_ignores_a_single_lucky_round():
    aucs = [0.50, 0.90, 0.50, 0.70, 0.72, 0.74, 0.50]
    raw = run(len(aucs), aucs, selection=Selection(metric="dev_auc"))
    assert raw.best_epoch == 2 and raw.best_auc == 0.90
    smoothed = run(len(aucs), aucs, selection=Selection(metric="dev_auc", smoothing=3))
    # trailing means: .5 .7 .633 .7 .64 .72 .653 → round 6 (the first 0.70 of round 2 is not beaten by round 4's 0.70)
    assert smoothed.best_epoch == 6 and smoothed.best_auc == pytest.approx(0.72)
    assert smoothed.history[5]["dev_auc_smoothed"] == pytest.approx(0.72)
    assert "dev_auc_smoothed" not in raw.history[0]


def test_warmup_rounds_are_only_a_fallback_and_patience_stops():
    result = run(
        8, [0.9, 0.95, 0.6, 0.7, 0.65, 0.68, 0.5, 0.5], selection=Selection(metric="dev_auc", warmup=2, patience=2)
    )
    assert result.best_epoch == 4 and result.best_auc == 0.7
    assert result.epochs_run == 6 and result.stopped_early
    endless = run(8, [0.9, 0.6, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], selection=Selection(metric="dev_auc"))
    assert endless.epochs_run == 8 and not endless.stopped_early and endless.best_epoch == 1


def test_ties_go_to_the_lower_tie_breaker_and_no_metric_keeps_the_last_round():
    result = run(3, [0.8, 0.8, 0.7], selection=Selection(metric="dev_auc", tie_breaker="dev_bce"))
    assert result.best_epoch == 1  # equal AUC and equal BCE: not better
    last = run(3)
    assert last.best_epoch == 3 and last.best_auc is None and same(last.best_state_dict, last.state.state_dict)


def test_warmup_cosine_schedule_reaches_the_optimizer():
    factor = warmup_cosine(total_steps=10, warmup_steps=2, final_factor=0.1)
    assert [round(factor(s), 6) for s in (0, 1, 2, 6, 10, 50)] == [0.5, 1.0, 1.0, 0.55, 0.1, 0.1]
    result = run(2, progress_key="step", schedule=factor)
    assert [entry["step"] for entry in result.history] == [3, 6]
    # mean lr of steps 0..2 = 0.1 × (0.5 + 1 + 1) / 3
    assert result.history[0]["lr"] == pytest.approx(0.1 * 2.5 / 3)
    with pytest.raises(ValueError, match="warmup_steps"):
        warmup_cosine(10, 10)


def test_same_seed_same_weights_and_resume_is_exact():
    first, again, other = run(4), run(4), run(4, seed=1)
    assert first.history == again.history and same(first.state.state_dict, again.state.state_dict)
    assert first.history != other.history
    half = run(2, schedule=warmup_cosine(12, 3))
    resumed = fit(
        lambda device: LineTask(device),
        model_config=CONFIG,
        rounds=4,
        seed=0,
        device="cpu",
        resume_from=half.state,
        schedule=warmup_cosine(12, 3),
    )
    full = run(4, schedule=warmup_cosine(12, 3))
    assert resumed.history == full.history and same(resumed.state.state_dict, full.state.state_dict)
    assert half.state.epoch == 2 and resumed.steps == 12
    with pytest.raises(ValueError, match=r"differs in \['inputs'\]"):
        fit(
            lambda d: LineTask(d),
            model_config={**CONFIG, "inputs": 5},
            rounds=3,
            seed=0,
            device="cpu",
            resume_from=half.state,
        )


def test_training_restores_the_callers_rng_and_rejects_non_finite_losses():
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    run(1)
    assert torch.equal(torch.rand(2), expected) and not torch.are_deterministic_algorithms_enabled()
    with pytest.raises(FloatingPointError, match="epoch 1: non-finite losses"):
        fit(lambda d: LineTask(d, lr=1e30), model_config=CONFIG, rounds=2, seed=0, device="cpu")


def test_metric_history_collects_and_logs_every_round():
    logged = []
    history = MetricHistory(prefix="m.", log=lambda metrics, step: logged.append((step, metrics)), by="step")
    run(
        3,
        [0.6, 0.7, 0.8],
        selection=Selection(metric="dev_auc", smoothing=2),
        on_round_end=history,
        progress_key="step",
    )
    table = history.table()
    assert list(table["step"]) == [3, 6, 9] and list(table["epoch"]) == [1, 2, 3]
    assert list(table["m.dev_auc"]) == [0.6, 0.7, 0.8]
    assert table["m.selection"].tolist() == pytest.approx([0.6, 0.65, 0.75])
    assert {"m.train_mse", "m.round_seconds", "m.dev_bce"} <= set(table.columns)
    assert [step for step, _ in logged] == [3, 6, 9]


def test_checkpoints_check_format_version_and_provenance():
    record = model_provenance("test_model", schema_version=1, params=CONFIG, training_data="abc", uses_landmarks=False)
    good = payload_to_bytes(
        envelope(FORMAT, "model", config=CONFIG, state_dict={"w": torch.ones(2)}, provenance=record)
    )
    payload, name = read_checkpoint(good, FORMAT)
    assert torch.equal(payload["state_dict"]["w"], torch.ones(2)) and name == "checkpoint bytes"
    other = model_provenance("other_model", schema_version=1, params=CONFIG, training_data="abc", uses_landmarks=False)
    foreign = payload_to_bytes(envelope(FORMAT, "model", config=CONFIG, state_dict={}, provenance=other))
    with pytest.raises(ModelMismatch, match="holds a 'other_model' model, not a 'test_model'"):
        read_checkpoint(foreign, FORMAT)
    buffer = io.BytesIO()
    torch.save({"format": FORMAT.name, "version": 1, "kind": "model", "config_json": "{}", "state_dict": {}}, buffer)
    with pytest.raises(ValueError, match=r"without \['provenance_json'\]"):
        read_checkpoint(buffer.getvalue(), FORMAT)
    with pytest.raises(ValueError, match="version 1 is not supported"):
        read_checkpoint(good, CheckpointFormat(FORMAT.name, 2, "test", "test_model"))
    with pytest.raises(ValueError, match="not a readable test checkpoint"):
        read_checkpoint(good[:100], FORMAT)
