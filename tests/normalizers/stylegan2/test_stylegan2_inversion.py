"""Algorithm 1 (inversion) and Algorithm 2 (adaptation) on the tiny generator."""

from __future__ import annotations

import math

import pytest
import torch

from facial_anomaly.normalizers.stylegan2 import (
    AdaptationConfig,
    InversionConfig,
    adapt,
    invert,
    learning_rate,
    noise_regularization,
    perceptual_distance,
    reconstruction_step,
    region_heat,
    w_statistics,
)

INVERSION = {
    "mean_w_samples": 500,
    "steps": 40,
    "lr": 0.1,
    "lr_rampup": 0.05,
    "lr_rampdown": 0.25,
    "adam_betas": [0.9, 0.999],
    "latent_noise": 0.05,
    "latent_noise_ramp": 0.75,
    "noise_regularization": "1e5",  # PyYAML reads this as a string: must still work
    "w_plus": False,
    "working_resolution": 32,
    "seed": 0,
}
ADAPTATION = {
    "steps": 6,
    "output_step": 4,
    "snapshot_steps": [0, 3, 6],
    "lr": 3.0e-3,
    "adam_betas": [0.9, 0.999],
    "lpips_weight": 1.0,
    "l2_weight": 1.0,
    "working_resolution": 32,
    "reconstruction_fraction": 0.5,
}


def _generated_targets(generator, count: int) -> torch.Tensor:
    z = torch.randn(count, generator.config.latent_dim, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        return generator(z)


def _distance(generator, perceptual, ws, noise, targets) -> torch.Tensor:
    with torch.no_grad():
        return perceptual_distance(perceptual, generator.synthesis(ws, noise), targets, 32)


def test_config_is_strict():
    assert InversionConfig.from_dict(INVERSION).noise_regularization == 1e5
    with pytest.raises(ValueError, match=r"missing keys \['seed'\], unexpected keys \['sead'\]"):
        InversionConfig.from_dict({**{k: v for k, v in INVERSION.items() if k != "seed"}, "sead": 0})
    with pytest.raises(ValueError, match="inversion.w_plus: expected true or false"):
        InversionConfig.from_dict({**INVERSION, "w_plus": "no"})
    with pytest.raises(ValueError, match="inversion.steps: expected an integer"):
        InversionConfig.from_dict({**INVERSION, "steps": 2.5})
    with pytest.raises(ValueError, match="snapshot_steps must lie in"):
        AdaptationConfig.from_dict({**ADAPTATION, "snapshot_steps": [0, 7]})


def test_presets_in_the_yaml_parse(stylegan2_parameters):
    presets = stylegan2_parameters["stylegan2_presets"]
    assert stylegan2_parameters["stylegan2"]["preset"] in presets
    for name, preset in presets.items():
        InversionConfig.from_dict(preset["inversion"])
        AdaptationConfig.from_dict(preset["adaptation"])
    paper = presets["paper"]
    assert (paper["inversion"]["steps"], paper["adaptation"]["steps"]) == (2000, 50)
    assert paper["inversion"]["noise_regularization"] == 1e5 and paper["inversion"]["lr"] == 0.1
    assert paper["inversion"]["mean_w_samples"] == 10000


def test_noise_regularization_small_for_white_noise_large_for_smooth_maps():
    rng = torch.Generator().manual_seed(0)
    white = [torch.randn(2, 1, 64, 64, generator=rng) for _ in range(3)]
    ramp = torch.linspace(-1.0, 1.0, 64)
    smooth = torch.sin(math.pi * ramp)[None, :] * torch.cos(math.pi * ramp)[:, None]
    smooth = ((smooth - smooth.mean()) / smooth.std()).expand(2, 1, 64, 64)
    white_penalty = noise_regularization(white)
    smooth_penalty = noise_regularization([smooth])
    assert white_penalty.shape == (2,)
    assert (white_penalty < 0.01).all()  # ≈ 3 maps × 2 / 64² ≈ 0.0015
    assert (smooth_penalty > 1.0).all()  # ≈ 2 per pyramid level (64, 32, 16, 8)


def test_learning_rate_schedule():
    assert learning_rate(0.0, 0.1, 0.05, 0.25) == 0.0
    assert learning_rate(0.025, 0.1, 0.05, 0.25) == pytest.approx(0.05)
    assert learning_rate(0.5, 0.1, 0.05, 0.25) == pytest.approx(0.1)
    assert learning_rate(0.875, 0.1, 0.05, 0.25) == pytest.approx(0.05)


def test_w_statistics_are_seeded(tiny_generator):
    mean_a, std_a = w_statistics(tiny_generator, 100, torch.Generator().manual_seed(1))
    mean_b, std_b = w_statistics(tiny_generator, 100, torch.Generator().manual_seed(1))
    assert torch.equal(mean_a, mean_b) and std_a == std_b > 0


def test_inversion_reduces_the_loss_on_a_generated_image(tiny_generator, lpips_random):
    targets = _generated_targets(tiny_generator, 2)
    before = {k: v.clone() for k, v in tiny_generator.state_dict().items()}
    config = InversionConfig.from_dict(INVERSION)
    result = invert(tiny_generator, targets, lpips_random, config)

    assert result.w.shape == (2, tiny_generator.num_ws, 32)
    assert torch.equal(result.w[:, 0], result.w[:, -1])  # W mode: one w for every layer
    assert [tuple(n.shape) for n in result.noise] == [(2, 1, r, r) for r in (4, 8, 8, 16, 16, 32, 32)]
    for level in result.noise:  # renormalised after every step
        torch.testing.assert_close(level.mean(dim=(1, 2, 3)), torch.zeros(2), atol=1e-5, rtol=0)
        torch.testing.assert_close(level.std(dim=(1, 2, 3)), torch.ones(2), atol=1e-5, rtol=0)
    assert result.perceptual_loss.shape == result.noise_loss.shape == (40, 2)

    mean_w, _ = w_statistics(tiny_generator, config.mean_w_samples, torch.Generator().manual_seed(config.seed))
    start = _distance(tiny_generator, lpips_random, tiny_generator.broadcast_w(mean_w.expand(2, -1)), None, targets)
    end = _distance(tiny_generator, lpips_random, result.w, result.noise, targets)
    assert (end < 0.5 * start).all(), (start, end)
    assert (result.perceptual_loss[-5:].mean(0) < result.perceptual_loss[:5].mean(0)).all()

    # The generator is left as it was, without gradients.
    for key, value in tiny_generator.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None for p in tiny_generator.parameters())


def test_inversion_is_deterministic_and_w_plus_gives_one_row_per_layer(tiny_generator, lpips_random):
    targets = _generated_targets(tiny_generator, 1)
    config = InversionConfig.from_dict({**INVERSION, "steps": 5, "w_plus": True})
    calls = []
    first = invert(tiny_generator, targets, lpips_random, config, on_step=calls.append)
    second = invert(tiny_generator, targets, lpips_random, config)
    assert calls == [0, 1, 2, 3, 4]
    assert torch.equal(first.w, second.w)
    assert not torch.equal(first.w[:, 0], first.w[:, -1])


def test_region_heat_and_reconstruction_step_values():
    images = torch.zeros(1, 3, 4, 4)
    targets = torch.zeros(1, 3, 4, 4)
    targets[..., :2, :] = 1.0  # top half differs by 1 → heat (1/2)² = 0.25
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 1:3, :] = 1.0  # half of the mask on the top half
    torch.testing.assert_close(region_heat(images, targets, mask), torch.tensor([0.125]))
    assert reconstruction_step(torch.tensor([1.0, 0.8, 0.5, 0.4, 0.1]), 0.5) == 3
    assert reconstruction_step(torch.tensor([1.0, 0.9, 0.6]), 0.5) is None
    assert reconstruction_step(torch.tensor([0.0, 0.0]), 0.5) == 0


def test_adaptation_freezes_w_and_noise_and_tunes_a_copy(tiny_generator, lpips_random):
    targets = _generated_targets(tiny_generator, 1)
    inverted = invert(tiny_generator, targets, lpips_random, InversionConfig.from_dict({**INVERSION, "steps": 5}))
    w = inverted.w.clone()
    noise = [level.clone() for level in inverted.noise]
    original = {k: v.clone() for k, v in tiny_generator.state_dict().items()}
    # An "anomaly": a bright square the inverted image does not have.
    anomalous = targets.clone()
    anomalous[..., 8:20, 8:20] = 1.0
    mask = torch.zeros(1, 1, 64, 64)  # any size; resized to the generator's
    mask[..., 16:40, 16:40] = 1.0
    config = AdaptationConfig.from_dict(ADAPTATION)
    result = adapt(tiny_generator, inverted.w, inverted.noise, anomalous, lpips_random, config, mask)

    assert torch.equal(inverted.w, w)  # bit-identical
    assert all(torch.equal(a, b) for a, b in zip(inverted.noise, noise))
    for key, value in tiny_generator.state_dict().items():
        assert torch.equal(value, original[key]), key  # the caller's generator is untouched
    tuned = result.generator.state_dict()
    changed = [key for key in original if key.startswith("synthesis.") and not torch.equal(tuned[key], original[key])]
    assert "synthesis.const" in changed and "synthesis.layers.6.conv.weight" in changed
    assert all(torch.equal(tuned[key], original[key]) for key in original if key.startswith("mapping."))

    assert sorted(result.snapshots) == [0, 3, 6]
    with torch.no_grad():
        step0 = tiny_generator.synthesis(inverted.w, inverted.noise)[0]
        final = result.generator.synthesis(inverted.w, inverted.noise)[0]
    torch.testing.assert_close(result.snapshots[0], step0)  # step 0 = the inversion result
    torch.testing.assert_close(result.snapshots[6], final)
    assert result.output.shape == (3, 32, 32) and not torch.equal(result.output, result.snapshots[0])
    assert result.loss.shape == (6,) and result.loss[-1] < result.loss[0]
    assert result.region_heat.shape == (7,) and result.region_heat[-1] < result.region_heat[0]

    no_mask = adapt(tiny_generator, inverted.w, inverted.noise, anomalous, lpips_random, config, None)
    assert no_mask.region_heat is None and no_mask.reconstruction_step is None


def test_adaptation_needs_one_face(tiny_generator, lpips_random):
    config = AdaptationConfig.from_dict(ADAPTATION)
    ws = torch.zeros(2, tiny_generator.num_ws, 32)
    noise = tiny_generator.make_noise(2)
    with pytest.raises(ValueError, match="one face"):
        adapt(tiny_generator, ws, noise, torch.zeros(2, 3, 32, 32), lpips_random, config, None)
