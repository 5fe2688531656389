"""A tiny scorer task for the tests (imported by name): strong patches on colour variants of
the aligned astronaut, 24 px per eye distance, a 4-layer single-branch CNN."""

from __future__ import annotations

import numpy as np

from facial_anomaly.supervised.capture import CaptureConfig
from facial_anomaly.supervised.crops import CropConfig
from facial_anomaly.supervised.fresh import AnomalyConfig, PaintConfig
from facial_anomaly.supervised.networks import NetworkConfig
from facial_anomaly.supervised.scorer import ScorerConfig
from facial_anomaly.supervised.trainer import SupervisedConfig, TrainingConfig

STRONG = ((0.6, 0.7),) * 4
TINY = SupervisedConfig(
    scorer=ScorerConfig(
        crops=CropConfig(pixels_per_iod=24.0, full_face_size=48),
        network=NetworkConfig(channels=(8, 16, 16, 32), strides=(2, 2, 2, 2), dropout=0.0, comparison="single"),
    ),
    anomalies=AnomalyConfig(
        families={"patch": 1.0},
        paint=PaintConfig(change=STRONG, patch_radius_iod=((0.3, 0.4),) * 4),
        second_anomaly_probability=0.0,
    ),
    capture=CaptureConfig(jpeg_probability=0.0, noise_probability=0.0, blur_probability=0.0),
    training=TrainingConfig(
        steps=80,
        faces_per_batch=6,
        lr=3e-3,
        warmup_steps=5,
        eval_every=20,
        smoothing=2,
        dev_clean_per_face=4,
        dev_anomalous_per_face=4,
        device="cpu",
    ),
)


def variants(face: np.ndarray, count: int) -> list[np.ndarray]:
    """The face under different colour gains: stand-ins for different people."""
    gains = np.random.default_rng(0).uniform(0.8, 1.2, size=(count, 3))
    return [np.clip(face * g, 0, 255).astype(np.uint8) for g in gains]
