"""Training, scoring, Grad-CAM and checkpoints of the supervised models, on a tiny
Siamese trained to find a painted defect on the aligned astronaut."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch
from supervised_helpers import DEFECT_RADIUS, TINY_TRAINING, defect_centres, paint_defect, tiny_config

from facial_anomaly.supervised import build_model, grad_cam, load_model, model_to_bytes, save_model, train
from facial_anomaly.supervised.checkpoint import FORMAT_NAME, FORMAT_VERSION


def test_loss_falls_and_reports_reach_the_callback(trained):
    history = trained["result"].history
    assert len(history) == TINY_TRAINING["epochs"]
    assert history[-1]["loss"] < 0.6 * history[0]["loss"]
    assert history[-1]["anomaly_bce"] < history[0]["anomaly_bce"]
    reports = trained["reports"]
    assert [report.epoch for report in reports] == list(range(1, len(history) + 1))
    metrics = reports[-1].metrics()
    assert {
        "train_loss",
        "train_anomaly_bce",
        "train_severity_bce",
        "dev_auc",
        "dev_auc.painted",
        "epoch_seconds",
    } <= set(metrics)
    assert trained["result"].best_auc == max(h["dev_auc"] for h in history) >= 0.9


def test_identical_pair_scores_lower_than_a_painted_defect(trained, astronaut_aligned):
    model, face, landmarks = trained["model"], astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    probability, severity = model.score(face, face, landmarks)
    assert 0.0 <= probability <= 1.0 and 0.0 <= severity <= 4.0
    rng = np.random.default_rng(7)
    centres = defect_centres(face, landmarks)
    for centre in centres[rng.integers(len(centres), size=4)]:
        painted_probability, painted_severity = model.score(paint_defect(face, centre), face, landmarks)
        assert painted_probability > probability + 0.2
        assert painted_severity > severity


def test_grad_cam_has_the_input_size_and_peaks_at_the_defect(trained, astronaut_aligned):
    model, face, landmarks = trained["model"], astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    # The peak lies in the defect or in the next cell of the stride-8 map (32 aligned px at
    # 64 px for a 256 px crop): a cell summarises a neighbourhood, not a point.
    tolerance = DEFECT_RADIUS + 32
    rng = np.random.default_rng(3)
    centres = defect_centres(face, landmarks)
    for centre in centres[rng.integers(len(centres), size=4)]:
        heat = grad_cam(model, paint_defect(face, centre), face, landmarks, tap=model.config.feature_blocks)
        assert heat.shape == face.shape[:2] and heat.dtype == np.float32 and heat.min() >= 0.0
        y, x = np.unravel_index(np.argmax(heat), heat.shape)
        assert np.hypot(x - centre[0], y - centre[1]) < tolerance, (centre, (x, y))
    assert model.training is False


def test_grad_cam_rejects_a_tap_beyond_the_kept_modules(trained, astronaut_aligned):
    face = astronaut_aligned["rgb"]
    with pytest.raises(ValueError, match="tap must be in 1..5"):
        grad_cam(trained["model"], face, face, astronaut_aligned["landmarks"], tap=6)


def test_checkpoint_round_trip_gives_identical_scores(trained, painted_task, tmp_path):
    model = trained["model"]
    inputs = painted_task["dev"].inputs(model.view_specs)
    expected = model.predict(inputs, batch_size=8)
    for restored in (load_model(save_model(model, tmp_path / "model.pt")), load_model(model_to_bytes(model))):
        assert restored.config_dict() == model.config_dict()
        for got, want in zip(restored.predict(inputs, batch_size=8), expected):
            np.testing.assert_array_equal(got, want)


def test_same_seed_gives_identical_training_on_cpu(painted_task):
    settings = {**TINY_TRAINING, "epochs": 2}
    small = painted_task["train"].select(np.arange(len(painted_task["train"])) < 32)
    first, second = (
        train(painted_task["config"], small, painted_task["dev"], device="cpu", **settings) for _ in range(2)
    )
    assert first.history[-1]["loss"] == second.history[-1]["loss"]
    assert first.best_state_dict.keys() == second.best_state_dict.keys()
    for key, value in first.best_state_dict.items():
        assert torch.equal(value, second.best_state_dict[key]), key
    other = train(painted_task["config"], small, painted_task["dev"], device="cpu", **{**settings, "seed": 1})
    assert other.history[-1]["loss"] != first.history[-1]["loss"]


def test_corrupt_or_foreign_checkpoints_give_clear_errors(trained, tmp_path):
    good = model_to_bytes(trained["model"])
    with pytest.raises(ValueError, match="not a readable supervised-model checkpoint"):
        load_model(good[: len(good) // 2])
    with pytest.raises(ValueError, match="not a readable supervised-model checkpoint"):
        load_model(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="not a readable supervised-model checkpoint"):
        load_model(pickle.dumps({"format": FORMAT_NAME, "code": print}, protocol=2))  # a pickle that needs code
    buffer = io.BytesIO()
    torch.save({"weights": torch.zeros(2)}, buffer)
    with pytest.raises(ValueError, match="is not a facial_anomaly.supervised checkpoint"):
        load_model(buffer.getvalue())
    # Weights of the Siamese under a single-branch config: a wrong architecture.
    wrong = torch.load(io.BytesIO(good), weights_only=True)
    wrong["config_json"] = (
        wrong["config_json"].replace('"siamese"', '"single_branch"').replace(', "combine": "concat_difference"', "")
    )
    buffer = io.BytesIO()
    torch.save(wrong, buffer)
    with pytest.raises(ValueError, match=r"does not match the .*shape mismatches"):
        load_model(buffer.getvalue())
    missing = tmp_path / "absent.pt"
    with pytest.raises(FileNotFoundError, match="absent.pt"):
        load_model(missing)
    newer = torch.load(io.BytesIO(good), weights_only=True) | {"version": FORMAT_VERSION + 1}
    buffer = io.BytesIO()
    torch.save(newer, buffer)
    with pytest.raises(ValueError, match="version"):
        load_model(buffer.getvalue())


def test_train_rejects_a_single_class_and_bad_settings(painted_task):
    normal_only = painted_task["train"].select(painted_task["train"].labels == 0)
    with pytest.raises(ValueError, match="both normal"):
        train(painted_task["config"], normal_only, None, device="cpu", **TINY_TRAINING)
    with pytest.raises(ValueError, match="batch_size"):
        train(painted_task["config"], painted_task["train"], None, device="cpu", **{**TINY_TRAINING, "batch_size": 1})


def test_training_without_dev_pairs_keeps_the_last_epoch(painted_task):
    small = painted_task["train"].select(np.arange(len(painted_task["train"])) < 16)
    result = train(painted_task["config"], small, None, device="cpu", **{**TINY_TRAINING, "epochs": 1})
    assert result.best_epoch == 1 and result.best_auc is None and result.history[0]["dev_auc"] is None
    model = build_model(tiny_config("siamese"), load_backbone_weights=False)
    model.load_state_dict(result.best_state_dict)
