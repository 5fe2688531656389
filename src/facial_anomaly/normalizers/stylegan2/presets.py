"""StyleGAN2 normalizer presets (Hayajneh et al. 2022, Algorithms 1 and 2): defaults in code.

* ``paper`` — 2000 inversion steps (W, LPIPS-VGG at 256 px, noise regulariser α = 1e5) then
  50 adaptation steps (the paper's values; the adaptation learning rate 3e-4 is assumed from
  pivotal tuning, Roich et al. 2022). Needs the FFHQ config-f weights and a GPU in practice.
* ``paper_severity`` — as ``paper``, with 200 adaptation steps and more snapshots, to measure
  the steps until the anomaly region is reconstructed (an alternative severity index).
* ``cpu_quick`` — 100 + 10 steps on the CPU, for a look at real weights without a GPU.
* ``smoke_test`` — a tiny random 32 px generator and a random AlexNet LPIPS: tests only.

``normalize.stylegan2.preset`` chooses one; ``normalize.stylegan2.checkpoint`` overrides its
weights file. Field meanings: :class:`.InversionConfig`, :class:`.AdaptationConfig`,
:class:`.PerceptualConfig`, :class:`.GeneratorConfig`.
"""

from __future__ import annotations

import copy

DEFAULT_CHECKPOINT = "data/06_models/stylegan2/stylegan2-ffhq-config-f.pt"

PRESETS: dict[str, dict] = {
    "paper": {
        "device": "auto",
        "checkpoint": DEFAULT_CHECKPOINT,
        "random_generator": None,
        "perceptual": {"net": "vgg", "pretrained_backbone": True},
        "batch_size": 4,
        "inversion": {
            "mean_w_samples": 10000,
            "steps": 2000,
            "lr": 0.1,
            "lr_rampup": 0.05,
            "lr_rampdown": 0.25,
            "adam_betas": [0.9, 0.999],
            "latent_noise": 0.05,
            "latent_noise_ramp": 0.75,
            "noise_regularization": 100000.0,
            "w_plus": False,
            "working_resolution": 256,
            "seed": 0,
        },
        "adaptation": {
            "steps": 50,
            "output_step": 50,
            "snapshot_steps": [0, 25, 50],
            "lr": 0.0003,
            "adam_betas": [0.9, 0.999],
            "lpips_weight": 1.0,
            "l2_weight": 1.0,
            "working_resolution": 256,
            "reconstruction_fraction": 0.5,
        },
    },
    "paper_severity": {
        "device": "auto",
        "checkpoint": DEFAULT_CHECKPOINT,
        "random_generator": None,
        "perceptual": {"net": "vgg", "pretrained_backbone": True},
        "batch_size": 4,
        "inversion": {
            "mean_w_samples": 10000,
            "steps": 2000,
            "lr": 0.1,
            "lr_rampup": 0.05,
            "lr_rampdown": 0.25,
            "adam_betas": [0.9, 0.999],
            "latent_noise": 0.05,
            "latent_noise_ramp": 0.75,
            "noise_regularization": 100000.0,
            "w_plus": False,
            "working_resolution": 256,
            "seed": 0,
        },
        "adaptation": {
            "steps": 200,
            "output_step": 50,
            "snapshot_steps": [0, 25, 50, 100, 200],
            "lr": 0.0003,
            "adam_betas": [0.9, 0.999],
            "lpips_weight": 1.0,
            "l2_weight": 1.0,
            "working_resolution": 256,
            "reconstruction_fraction": 0.5,
        },
    },
    "cpu_quick": {
        "device": "cpu",
        "checkpoint": DEFAULT_CHECKPOINT,
        "random_generator": None,
        "perceptual": {"net": "vgg", "pretrained_backbone": True},
        "batch_size": 1,
        "inversion": {
            "mean_w_samples": 10000,
            "steps": 100,
            "lr": 0.1,
            "lr_rampup": 0.05,
            "lr_rampdown": 0.25,
            "adam_betas": [0.9, 0.999],
            "latent_noise": 0.05,
            "latent_noise_ramp": 0.75,
            "noise_regularization": 100000.0,
            "w_plus": False,
            "working_resolution": 256,
            "seed": 0,
        },
        "adaptation": {
            "steps": 10,
            "output_step": 10,
            "snapshot_steps": [0, 10],
            "lr": 0.001,
            "adam_betas": [0.9, 0.999],
            "lpips_weight": 1.0,
            "l2_weight": 1.0,
            "working_resolution": 256,
            "reconstruction_fraction": 0.5,
        },
    },
    "smoke_test": {
        "device": "cpu",
        "checkpoint": None,
        "random_generator": {
            "resolution": 32,
            "latent_dim": 32,
            "mapping_layers": 8,
            "mapping_lr_multiplier": 0.01,
            "channel_base": 256,
            "channel_max": 32,
            "seed": 0,
        },
        "perceptual": {"net": "alex", "pretrained_backbone": False},
        "batch_size": 2,
        "inversion": {
            "mean_w_samples": 1000,
            "steps": 10,
            "lr": 0.1,
            "lr_rampup": 0.05,
            "lr_rampdown": 0.25,
            "adam_betas": [0.9, 0.999],
            "latent_noise": 0.05,
            "latent_noise_ramp": 0.75,
            "noise_regularization": 100000.0,
            "w_plus": False,
            "working_resolution": 32,
            "seed": 0,
        },
        "adaptation": {
            "steps": 4,
            "output_step": 2,
            "snapshot_steps": [0, 2, 4],
            "lr": 0.001,
            "adam_betas": [0.9, 0.999],
            "lpips_weight": 1.0,
            "l2_weight": 1.0,
            "working_resolution": 32,
            "reconstruction_fraction": 0.5,
        },
    },
}


def stylegan2_settings(preset: str, checkpoint: str | None = None) -> dict:
    """The keyword arguments of :class:`.StyleGAN2Normalizer` for ``preset`` (a copy), with
    ``checkpoint`` replacing the preset's weights file when given.

    Raises:
        KeyError: naming the unknown preset and the available ones.
    """
    if preset not in PRESETS:
        raise KeyError(f"unknown stylegan2 preset {preset!r}; available: {sorted(PRESETS)}")
    settings = copy.deepcopy(PRESETS[preset])
    if checkpoint is not None:
        settings["checkpoint"] = checkpoint
    return settings
