"""Fixtures for the StyleGAN2 tests: a tiny random generator (32 px, ≤ 32 channels) and an
LPIPS with a random AlexNet backbone (constructs offline; a test loss, not a metric)."""

from __future__ import annotations

import pytest
import torch

from facial_anomaly.normalizers.stylegan2 import GeneratorConfig, StyleGAN2Generator, build_lpips

TINY = {
    "resolution": 32,
    "latent_dim": 32,
    "mapping_layers": 2,
    "mapping_lr_multiplier": 0.01,
    "channel_base": 256,  # 32 channels at 4 and 8 px, 16 at 16 px, 8 at 32 px
    "channel_max": 32,
}


@pytest.fixture(autouse=True)
def _few_threads():
    """The machine is shared: keep each test on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_config() -> GeneratorConfig:
    return GeneratorConfig.from_dict(TINY)


def _make_generator(config: GeneratorConfig, seed: int) -> StyleGAN2Generator:
    """A randomly initialised generator whose noise strengths and biases are non-zero,
    so that every parameter influences the image."""
    torch.manual_seed(seed)
    generator = StyleGAN2Generator(config)
    with torch.no_grad():
        for name, parameter in generator.named_parameters():
            if name.endswith("noise_strength") or name.endswith(".bias"):
                parameter.add_(0.1 * torch.randn_like(parameter))
    return generator.eval()


@pytest.fixture(scope="session")
def make_generator():
    """``make_generator(config, seed)`` → a fresh random generator (see ``_make_generator``)."""
    return _make_generator


@pytest.fixture
def tiny_generator(tiny_config) -> StyleGAN2Generator:
    return _make_generator(tiny_config, seed=0)


@pytest.fixture(scope="session")
def lpips_random():
    return build_lpips("alex", pretrained_backbone=False)


@pytest.fixture(scope="session")
def stylegan2_parameters() -> dict:
    """The presets in code, in the shape the tests read them (``stylegan2_presets``)."""
    from facial_anomaly.normalizers.stylegan2.presets import PRESETS

    return {"stylegan2": {"preset": "paper"}, "stylegan2_presets": PRESETS}
