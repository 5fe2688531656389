"""Fixtures for the supervised tests: the project's parameters, tiny model configs, and a
painted-defect task on the aligned astronaut (helpers in supervised_helpers.py)."""

from __future__ import annotations

import pytest
from project_paths import load_parameters
from supervised_helpers import TINY_TRAINING, painted_pairs, tiny_config

from facial_anomaly.supervised import pairs_to_set, train


@pytest.fixture(scope="session")
def supervised_params() -> dict:
    return load_parameters("train_supervised")["train_supervised"]


@pytest.fixture(scope="session")
def synth_block() -> dict:
    return load_parameters("synthesize")["synthesize"]


@pytest.fixture(scope="session")
def painted_task(astronaut_aligned):
    """Training and dev pairs of the painted-defect task for the tiny Siamese config."""
    from facial_anomaly.supervised import build_model

    config = tiny_config("siamese")
    specs = build_model(config, load_backbone_weights=False).view_specs
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    return {
        "config": config,
        "train": pairs_to_set(painted_pairs(face, landmarks, 64, seed=0), specs),
        "dev": pairs_to_set(painted_pairs(face, landmarks, 32, seed=1), specs),
    }


@pytest.fixture(scope="session")
def trained(painted_task):
    """The tiny Siamese trained on the painted-defect task, with its epoch reports."""
    reports = []
    result = train(
        painted_task["config"],
        painted_task["train"],
        painted_task["dev"],
        device="cpu",
        on_epoch_end=reports.append,
        **TINY_TRAINING,
    )
    return {"result": result, "reports": reports, "model": result.best_model()}
