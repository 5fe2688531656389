"""Fixtures of the reconstruction-model tests (see ``reconstruction_helpers``)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from reconstruction_helpers import (
    HELD_OUT_FACES,
    TINY_AUTOENCODER,
    TINY_GANOMALY,
    TINY_TRAINING,
    TRAIN_FACES,
    TRAINED_EPOCHS,
    generated_face,
    painted_defect,
)


@pytest.fixture(scope="session")
def generated_faces() -> dict:
    """``train`` (TRAIN_FACES clean faces) and ``held_out`` (HELD_OUT_FACES clean faces)."""
    rng = np.random.default_rng(11)
    faces = [generated_face(rng) for _ in range(TRAIN_FACES + HELD_OUT_FACES)]
    return {"train": faces[:TRAIN_FACES], "held_out": faces[TRAIN_FACES:]}


@pytest.fixture(scope="session")
def validation_set(generated_faces) -> dict:
    """Held-out faces, clean (label 0) and with the painted defect (label 1)."""
    clean = generated_faces["held_out"]
    return {"images": clean + [painted_defect(face) for face in clean], "labels": [0] * len(clean) + [1] * len(clean)}


@pytest.fixture
def tiny_ganomaly() -> dict:
    return copy.deepcopy(TINY_GANOMALY)


@pytest.fixture
def tiny_autoencoder() -> dict:
    return copy.deepcopy(TINY_AUTOENCODER)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny networks run fastest on one thread, above all on the shared 2-core machine
    (two threads spinning against other jobs were ~10× slower); restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def trained(generated_faces) -> dict:
    """architecture → TrainingResult of the tiny config trained on the clean faces only
    (no validation data, so the last epoch is kept and no defect was ever seen)."""
    from facial_anomaly.normalizers.reconstruction import train

    return {
        config["architecture"]: train(
            config, generated_faces["train"], None, None, epochs=TRAINED_EPOCHS, **TINY_TRAINING
        )
        for config in (TINY_GANOMALY, TINY_AUTOENCODER)
    }
