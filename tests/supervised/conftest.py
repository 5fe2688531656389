"""Fixtures for the supervised tests: the project's parameters, tiny model configs, and a
painted-defect task on the aligned astronaut (helpers in supervised_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from project_paths import load_parameters
from scorer_helpers import TINY, variants
from supervised_helpers import TINY_TRAINING, painted_pairs, tiny_config

from facial_anomaly.supervised import pairs_to_set, train, train_scorer


@pytest.fixture(scope="session")
def supervised_params() -> dict:
    """Settings of the pair models (the previous design, library only: the train_supervised
    pipeline trains the scorer), kept beside their tests."""
    import yaml

    return yaml.safe_load((Path(__file__).parent / "pair_models_parameters.yml").read_text())["train_supervised"]


@pytest.fixture(scope="session")
def synth_block() -> dict:
    from facial_anomaly.synthesis.config import SynthesizeConfig

    return SynthesizeConfig.model_validate(load_parameters("synthesize")["synthesize"]).parameters()


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


@pytest.fixture(scope="session")
def scorer_task(astronaut_aligned, synth_block):
    """Colour variants of the astronaut (8 train, 4 dev) for the tiny scorer task."""
    faces = variants(astronaut_aligned["rgb"], 12)
    landmarks = [astronaut_aligned["landmarks"]] * 12
    splits = ["train"] * 8 + ["dev"] * 4
    return {"faces": faces, "landmarks": landmarks, "splits": splits, "synth": synth_block}


@pytest.fixture(scope="session")
def trained_scorer(scorer_task):
    """The tiny scorer (scorer_helpers.TINY) trained on the patch task, with its round reports."""
    torch.set_num_threads(1)
    reports = []
    out = train_scorer(
        scorer_task["faces"],
        scorer_task["landmarks"],
        scorer_task["splits"],
        synth_params=scorer_task["synth"],
        config=TINY,
        persons=[f"p{i}" for i in range(12)],
        on_round_end=reports.append,
    )
    return {"out": out, "reports": reports}
