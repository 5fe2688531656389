"""GANomaly and autoencoder modules: shapes, config checks, scores, D re-initialisation."""

from __future__ import annotations

import pytest
import torch
import yaml
from project_paths import CONF_BASE
from reconstruction_helpers import TINY_AUTOENCODER, TINY_GANOMALY

from facial_anomaly.normalizers.reconstruction import Ganomaly, architectures, build_model
from facial_anomaly.normalizers.reconstruction.base import SCORE_CEILING


def test_both_architectures_are_registered():
    assert architectures() == ("autoencoder", "ganomaly")


@pytest.mark.parametrize("image_size", [32, 64, 128])
def test_ganomaly_shapes(tiny_ganomaly, image_size):
    torch.manual_seed(0)
    model = build_model({**tiny_ganomaly, "image_size": image_size}).eval()
    images = torch.rand(2, 3, image_size, image_size) * 2 - 1
    reconstruction, latent, relatent = model.generator(images)
    assert reconstruction.shape == images.shape
    assert latent.shape == relatent.shape == (2, 16, 1, 1)
    logits, features = model.discriminator(images)
    assert logits.shape == (2,)
    assert features.shape == (2, 8 * image_size // 8, 4, 4)
    assert reconstruction.abs().max() <= 1.0
    assert model.anomaly_score(images).shape == (2,)


def test_autoencoder_shapes_and_score_is_reconstruction_error(tiny_autoencoder):
    torch.manual_seed(0)
    model = build_model(tiny_autoencoder)
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    reconstruction = model.reconstruct(images)
    assert reconstruction.shape == images.shape
    expected = (images - reconstruction).abs().mean(dim=(1, 2, 3))
    torch.testing.assert_close(model.anomaly_score(images), expected)


def test_ganomaly_score_is_mean_absolute_latent_difference(tiny_ganomaly):
    torch.manual_seed(0)
    model = build_model(tiny_ganomaly).eval()
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        _, latent, relatent = model.generator(images)
    torch.testing.assert_close(model.anomaly_score(images), (latent - relatent).abs().mean(dim=(1, 2, 3)))
    assert model.training is False  # anomaly_score restores the mode it found


def test_config_errors_name_the_problem(tiny_ganomaly):
    with pytest.raises(ValueError, match="multiple of 16"):
        build_model({**tiny_ganomaly, "image_size": 40})
    with pytest.raises(ValueError, match=r"missing keys \['d_reinit_threshold'\]"):
        build_model({k: v for k, v in tiny_ganomaly.items() if k != "d_reinit_threshold"})
    with pytest.raises(ValueError, match=r"unknown keys \['dropout'\]"):
        build_model({**tiny_ganomaly, "dropout": 0.1})
    with pytest.raises(ValueError, match="unknown architecture 'vae'"):
        build_model({**tiny_ganomaly, "architecture": "vae"})


@pytest.mark.parametrize("config", [TINY_GANOMALY, TINY_AUTOENCODER], ids=lambda c: c["architecture"])
def test_scores_are_finite_for_constant_images_and_even_for_a_broken_model(config):
    torch.manual_seed(0)
    model = build_model(config)
    constant = torch.stack([torch.full((3, 32, 32), value) for value in (-1.0, 0.0, 1.0)])
    scores = model.anomaly_score(constant)
    assert torch.isfinite(scores).all() and (scores >= 0).all()
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    with pytest.warns(RuntimeWarning, match="non-finite"):
        broken = model.anomaly_score(constant)
    assert torch.isfinite(broken).all() and (broken == SCORE_CEILING).all()


@pytest.mark.parametrize(
    "images, message",
    [
        (torch.full((1, 3, 32, 32), float("nan")), "NaN"),
        (torch.full((1, 3, 32, 32), 2.0), r"\[-1, 1\]"),
        (torch.zeros(1, 3, 64, 64), "shape"),
        (torch.zeros(1, 3, 32, 32, dtype=torch.uint8), "floating"),
    ],
)
def test_bad_inputs_are_rejected(tiny_ganomaly, images, message):
    model = build_model(tiny_ganomaly)
    with pytest.raises(ValueError, match=message):
        model.anomaly_score(images)


def test_discriminator_is_reinitialised_when_its_loss_collapses(tiny_ganomaly):
    torch.manual_seed(0)
    model: Ganomaly = build_model({**tiny_ganomaly, "d_reinit_threshold": 100.0})  # "collapsed" after any step
    optimizers = {name: torch.optim.Adam(params, lr=1e-2) for name, params in model.optimizer_groups().items()}
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    losses = model.train_step(images, optimizers)
    assert losses["d_reinit"] == 1.0
    weight = model.discriminator.body.features[0].weight
    assert abs(float(weight.detach().std()) - 0.02) < 0.005  # fresh N(0, 0.02) weights, not the stepped ones
    assert set(losses) == {"generator", "adv", "con", "enc", "discriminator", "d_reinit"}
    model_kept = build_model(tiny_ganomaly)
    optimizers = {name: torch.optim.Adam(params, lr=2e-4) for name, params in model_kept.optimizer_groups().items()}
    assert model_kept.train_step(images, optimizers)["d_reinit"] == 0.0


def test_configs_of_the_presets_build():
    from facial_anomaly.normalizers.reconstruction.presets import PRESETS, TrainReconstructionConfig

    params = TrainReconstructionConfig.model_validate(
        yaml.safe_load((CONF_BASE / "parameters_train_reconstruction.yml").read_text())["train_reconstruction"]
    )
    assert params.preset in PRESETS
    for preset in PRESETS.values():
        assert set(preset) >= set(params.models)
        for name, block in preset.items():
            assert block.model["architecture"] == name
            with torch.device("meta"):  # shapes only, no memory or time for the 128 px models
                build_model(block.model)
    cpu = PRESETS["cpu_64"]["ganomaly"]
    assert cpu.model["image_size"] == 64 and cpu.model["loss_weights"] == {"adv": 1.0, "con": 50.0, "enc": 1.0}
    assert PRESETS["gpu_128"]["ganomaly"].model["image_size"] == 128
