"""Settings of ``train_reconstruction`` (``params:train_reconstruction``) and its presets.

GANomaly (Akcay et al. 2018; Wang et al. use it for facial palsy) and a convolutional
autoencoder baseline are trained on normal faces only. The model sees the ``crop`` box of
each aligned face (fractions of the aligned image, so the same numbers fit every alignment
preset), resized to ``image_size``, as floats in [-1, 1]. Validation: the dev split of the
synthesize stage (normal faces, label 0, and synthetic anomalies made from them, label 1);
of the epochs from ``min_epochs`` on, the one with the best ROC AUC is kept, and training
stops after ``patience`` epochs without a better one.

Presets:

* ``cpu_64`` (default): 64 px, base width 16 (the paper's 64 costs 16× the multiply-adds),
  batches of 16, at most 16 epochs: ≤ 10 min per model on 2 cores. The dev AUC of the
  synthetic anomalies stays near chance at this size, hence the warm-up (an early, barely
  trained epoch that scores a lucky AUC is never kept).
* ``gpu_128``: 128 px at the paper's width (64) and batch (64), up to 200 epochs.
* ``smoke_test``: 32 px, width 8, 2 epochs: seconds, for trying the pipeline (its models
  mean nothing).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ...config import Config

# Forehead to below the chin, ear to ear (eyes at 0.42 of the height): 384 px of a 512 px face.
FACE_CROP = {"center_x": 0.5, "center_y": 0.55, "size": 0.75}
# GANomaly's loss weights w_adv, w_con, w_enc (paper) and the reference code's D re-initialisation.
GANOMALY_LOSS = {"loss_weights": {"adv": 1.0, "con": 50.0, "enc": 1.0}, "d_reinit_threshold": 1.0e-5}


class ReconstructionTraining(Config):
    """The optimizer and the stopping rule of one model (Adam, the paper's lr and betas)."""

    epochs: int = Field(16, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(2.0e-4, gt=0)
    betas: tuple[float, float] = (0.5, 0.999)
    seed: int = 0
    patience: int = Field(4, ge=1)
    """Epochs without a better validation AUC before stopping."""
    min_epochs: int = Field(8, ge=1)
    """Warm-up: earlier epochs neither win nor count for patience."""


class ModelPreset(Config):
    """One model of a preset: its architecture settings (:func:`.base.build_model`) and training."""

    model: dict[str, Any]
    training: ReconstructionTraining = ReconstructionTraining()


def _model(architecture: str, image_size: int, base_channels: int) -> dict[str, Any]:
    extra = GANOMALY_LOSS if architecture == "ganomaly" else {}
    return {
        "architecture": architecture,
        "image_size": image_size,
        "latent_size": 100,
        "base_channels": base_channels,
        "extra_layers": 0,
        "crop": dict(FACE_CROP),
        **extra,
    }


_GPU_TRAINING = ReconstructionTraining(epochs=200, batch_size=64, patience=20, min_epochs=30)
PRESETS: dict[str, dict[str, ModelPreset]] = {
    "cpu_64": {name: ModelPreset(model=_model(name, 64, 16)) for name in ("ganomaly", "autoencoder")},
    "gpu_128": {
        name: ModelPreset(model=_model(name, 128, 64), training=_GPU_TRAINING) for name in ("ganomaly", "autoencoder")
    },
    "smoke_test": {
        name: ModelPreset(
            model={**_model(name, 32, 8), "latent_size": 16},
            training=ReconstructionTraining(epochs=2, batch_size=4, patience=1, min_epochs=1),
        )
        for name in ("ganomaly", "autoencoder")
    },
}


class TrainReconstructionConfig(Config):
    """``params:train_reconstruction``."""

    parameter = "train_reconstruction"

    preset: str = "cpu_64"
    """A built-in preset (``cpu_64``, ``gpu_128``) or one defined under ``presets``."""
    models: tuple[Literal["ganomaly", "autoencoder"], ...] = ("ganomaly", "autoencoder")
    device: str = "auto"
    """auto = cuda when torch sees a GPU, else cpu."""
    validation_split: str = "dev"
    """Split of the synthesize labels table used for the AUC."""
    resume: bool = False
    """Continue from the saved training state (raise the epochs to train longer)."""
    grid_faces: int = Field(8, ge=0)
    """Validation faces in the reconstruction grid."""
    presets: dict[str, dict[str, ModelPreset]] = Field(default_factory=dict)
    """Extra presets: name → model → ``{model: ..., training: ...}``."""

    @model_validator(mode="after")
    def _preset_has_the_models(self) -> TrainReconstructionConfig:
        available = {**PRESETS, **self.presets}
        if self.preset not in available:
            raise ValueError(f"preset: unknown preset {self.preset!r}; available: {sorted(available)}")
        missing = [name for name in self.models if name not in available[self.preset]]
        if missing:
            raise ValueError(f"preset {self.preset!r} has no settings for models {missing}")
        return self

    def model_preset(self, name: str) -> ModelPreset:
        """The settings of model ``name`` in the chosen preset."""
        return {**PRESETS, **self.presets}[self.preset][name]
