"""Training: losses fall, validation AUC and callbacks, determinism, early stopping, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reconstruction_helpers import TINY_AUTOENCODER, TINY_GANOMALY, TINY_TRAINING

from facial_anomaly.normalizers.reconstruction import (
    CropSpec,
    faces_to_tensor,
    load_training_state,
    reconstruction_grid,
    save_training_state,
    train,
    training,
)

SMALL = 32  # faces in the quick runs (4 steps per epoch)


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


@pytest.mark.parametrize("config", [TINY_GANOMALY, TINY_AUTOENCODER], ids=lambda c: c["architecture"])
def test_two_epochs_lower_the_loss_and_report_auc_and_a_grid(config, generated_faces, validation_set):
    reports = []
    result = train(
        config,
        generated_faces["train"][:SMALL],
        validation_set["images"],
        validation_set["labels"],
        epochs=2,
        on_epoch_end=reports.append,
        **TINY_TRAINING,
    )
    first, second = result.history
    assert second["generator"] < first["generator"] and second["con"] < first["con"]
    expected = {"epoch", "generator", "con", "val_auc"}
    if config["architecture"] == "ganomaly":
        expected |= {"adv", "enc", "discriminator", "d_reinit"}
    assert set(first) == expected
    assert all(0.0 <= entry["val_auc"] <= 1.0 for entry in result.history)
    assert [report.epoch for report in reports] == [1, 2] and reports[-1].history == result.history
    assert result.best_auc == max(entry["val_auc"] for entry in result.history)
    assert result.history[result.best_epoch - 1]["val_auc"] == result.best_auc
    grid = reconstruction_grid(reports[-1].model, validation_set["images"], 3)
    assert grid.shape == (64, 96, 3) and grid.dtype == np.uint8


def test_same_seed_gives_identical_results_and_another_seed_does_not(generated_faces):
    faces = generated_faces["train"][:SMALL]
    runs = [train(TINY_GANOMALY, faces, None, None, epochs=2, **{**TINY_TRAINING, "seed": seed}) for seed in (5, 5, 6)]
    assert runs[0].history == runs[1].history
    assert same_weights(runs[0].best_state_dict, runs[1].best_state_dict)
    assert runs[0].history != runs[2].history


def test_training_leaves_the_global_rng_and_determinism_flag_alone(generated_faces):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(TINY_AUTOENCODER, generated_faces["train"][:8], None, None, epochs=1, **TINY_TRAINING)
    assert torch.equal(torch.rand(3), expected)
    assert not torch.are_deterministic_algorithms_enabled()


def test_resume_continues_from_the_saved_epoch_exactly(generated_faces, tmp_path):
    faces = generated_faces["train"][:SMALL]
    full = train(TINY_GANOMALY, faces, None, None, epochs=3, **TINY_TRAINING)
    path = tmp_path / "run.pt"
    first = train(TINY_GANOMALY, faces, None, None, epochs=2, checkpoint_path=str(path), **TINY_TRAINING)
    assert load_training_state(path).epoch == 2
    epochs_seen = []
    resumed = train(
        TINY_GANOMALY,
        faces,
        None,
        None,
        epochs=3,
        resume_from=path,
        on_epoch_end=lambda report: epochs_seen.append(report.epoch),
        **TINY_TRAINING,
    )
    assert epochs_seen == [3]
    assert resumed.epochs_run == 3 and resumed.history[:2] == first.history
    assert resumed.history == full.history
    assert same_weights(resumed.state.state_dict, full.state.state_dict)
    # an in-memory state works too, and is not modified
    again = train(TINY_GANOMALY, faces, None, None, epochs=3, resume_from=first.state, **TINY_TRAINING)
    assert again.history == full.history and first.state.epoch == 2


def test_resume_refuses_another_model_config(generated_faces, tmp_path):
    path = save_training_state(
        train(TINY_GANOMALY, generated_faces["train"][:8], None, None, epochs=1, **TINY_TRAINING).state,
        tmp_path / "s.pt",
    )
    with pytest.raises(ValueError, match=r"differs in \['latent_size'\]"):
        train(
            {**TINY_GANOMALY, "latent_size": 8},
            generated_faces["train"][:8],
            None,
            None,
            epochs=2,
            resume_from=path,
            **TINY_TRAINING,
        )


def test_early_stopping_keeps_the_best_epoch(generated_faces, validation_set, monkeypatch):
    aucs = iter([0.6, 0.7, 0.65, 0.68, 0.9])
    monkeypatch.setattr(training, "validation_auc", lambda *args: next(aucs))
    result = train(
        TINY_AUTOENCODER,
        generated_faces["train"][:8],
        validation_set["images"],
        validation_set["labels"],
        epochs=5,
        **{**TINY_TRAINING, "patience": 2},
    )
    assert [entry["val_auc"] for entry in result.history] == [0.6, 0.7, 0.65, 0.68]
    assert result.stopped_early and result.best_epoch == 2 and result.best_auc == 0.7
    assert result.state.epochs_without_improvement == 2


def test_warm_up_epochs_neither_win_nor_count_for_patience(generated_faces, validation_set, monkeypatch):
    aucs = iter([0.9, 0.8, 0.5, 0.6, 0.55, 0.58])
    monkeypatch.setattr(training, "validation_auc", lambda *args: next(aucs))
    result = train(
        TINY_AUTOENCODER,
        generated_faces["train"][:8],
        validation_set["images"],
        validation_set["labels"],
        epochs=6,
        **{**TINY_TRAINING, "patience": 2, "min_epochs": 3},
    )
    assert len(result.history) == 6 and not result.stopped_early
    assert result.best_epoch == 4 and result.best_auc == 0.6
    short = train(
        TINY_AUTOENCODER, generated_faces["train"][:8], None, None, epochs=2, **{**TINY_TRAINING, "min_epochs": 5}
    )
    assert short.best_epoch == 2 and same_weights(short.best_state_dict, short.state.state_dict)


def test_validation_labels_need_both_classes(generated_faces, validation_set):
    images = validation_set["images"]
    with pytest.raises(ValueError, match="both 0"):
        train(TINY_AUTOENCODER, generated_faces["train"][:8], images, [0] * len(images), epochs=1, **TINY_TRAINING)
    with pytest.raises(ValueError, match="one label per"):
        train(TINY_AUTOENCODER, generated_faces["train"][:8], images, [0, 1], epochs=1, **TINY_TRAINING)


def test_prepared_tensors_are_accepted(generated_faces):
    faces = generated_faces["train"][:8]
    tensor = faces_to_tensor(faces, CropSpec.from_dict(TINY_AUTOENCODER["crop"]), TINY_AUTOENCODER["image_size"])
    from_faces = train(TINY_AUTOENCODER, faces, None, None, epochs=1, **TINY_TRAINING)
    from_tensor = train(TINY_AUTOENCODER, tensor, None, None, epochs=1, **TINY_TRAINING)
    assert from_faces.history == from_tensor.history
