"""Algorithm 1 of Hayajneh et al. 2022: project faces into the StyleGAN2 latent space.

A generator trained on typical faces cannot reproduce an anomaly, so the face it
reconstructs from the best latent code is the "normalized" face. The procedure is the
StyleGAN2 projector (Karras et al. 2020, appendix D):

1. mean ``w̄`` and spread ``σ_w`` (RMS distance to the mean) of ``mean_w_samples``
   mapped ``z ~ N(0, I)`` (10 000 in the paper); ``w`` starts at ``w̄`` (one row, or
   ``num_ws`` rows with ``w_plus``) and the noise maps at N(0, 1);
2. for ``steps`` iterations (2000 in the paper) minimise with Adam
   ``LPIPS(target, G(w + n_w, noise)) + α · Σ_maps Σ_pyramid (autocorrelation)²``
   at ``working_resolution``, with ``α = noise_regularization`` (1e5), a latent noise
   ``n_w ~ N(0, (σ_w · latent_noise · max(0, 1 − t / latent_noise_ramp)²)²)`` and a
   learning rate ramped up linearly over the first ``lr_rampup`` and down with a cosine
   over the last ``lr_rampdown`` of the run (``t`` = step / steps); after each step every
   noise map is renormalised to zero mean and unit variance.

Several faces are inverted at once; each face has its own loss terms (summed), its own
noise normalisation, and Adam works element-wise, so faces do not influence each other.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import from_mapping
from .generator import StyleGAN2Generator
from .imaging import resize
from .losses import perceptual_distance

# The StyleGAN2 projector stops its noise pyramid at 8×8 (smaller maps are used as they are).
NOISE_PYRAMID_MIN_SIZE = 8


@dataclass(frozen=True)
class InversionConfig:
    """Settings of Algorithm 1 (the ``inversion`` block of ``parameters_stylegan2.yml``)."""

    mean_w_samples: int  # z samples mapped to estimate the mean W (paper 10 000)
    steps: int  # optimisation iterations (paper 2000)
    lr: float  # peak Adam learning rate (0.1)
    lr_rampup: float  # fraction of the run with a linear warm-up (0.05)
    lr_rampdown: float  # fraction of the run with the cosine decay to 0 (0.25)
    adam_betas: tuple[float, float]  # (0.9, 0.999)
    latent_noise: float  # initial latent noise, in units of σ_w (0.05)
    latent_noise_ramp: float  # fraction of the run over which it decays to 0 (0.75)
    noise_regularization: float  # α, weight of the noise autocorrelation penalty (1e5)
    w_plus: bool  # optimise one w per synthesis layer (W+) instead of one w (W)
    working_resolution: int  # side at which LPIPS compares images (256)
    seed: int  # seeds the mean-W samples, the initial noise maps and the latent noise

    def __post_init__(self) -> None:
        if self.mean_w_samples < 1 or self.steps < 1 or self.working_resolution < 1:
            raise ValueError(f"mean_w_samples, steps and working_resolution must be ≥ 1: {self}")
        if self.lr <= 0 or not 0 < self.lr_rampup <= 1 or not 0 < self.lr_rampdown <= 1 or self.latent_noise_ramp <= 0:
            raise ValueError(f"lr > 0, lr_rampup and lr_rampdown in (0, 1], latent_noise_ramp > 0 required: {self}")
        if len(self.adam_betas) != 2 or self.latent_noise < 0 or self.noise_regularization < 0:
            raise ValueError(f"adam_betas needs 2 values; latent_noise, noise_regularization ≥ 0: {self}")

    @classmethod
    def from_dict(cls, config: Mapping) -> "InversionConfig":
        return from_mapping(cls, config, "inversion")


@dataclass
class InversionResult:
    """Outcome of :func:`invert` for B faces (tensors detached, on the generator's device).

    ``w``: (B, num_ws, latent_dim) W+ codes (W codes repeated when ``w_plus`` is off);
    ``noise``: the optimised noise maps, map ``j`` (B, 1, r_j, r_j);
    ``perceptual_loss`` / ``noise_loss``: (steps, B) per-step values on the CPU (the
    perceptual term is measured on the latent-noise-perturbed code of that step).
    """

    w: torch.Tensor
    noise: list[torch.Tensor]
    perceptual_loss: torch.Tensor
    noise_loss: torch.Tensor


def w_statistics(generator: StyleGAN2Generator, num_samples: int, rng: torch.Generator) -> tuple[torch.Tensor, float]:
    """Mean ``w̄`` (latent_dim,) and RMS distance ``σ_w = √(Σ‖w − w̄‖² / N)`` of N mapped z."""
    with torch.no_grad():
        z = torch.randn(num_samples, generator.config.latent_dim, generator=rng, device=generator.device)
        w = generator.mapping(z)
        mean = w.mean(dim=0)
        std = float(((w - mean).square().sum() / num_samples).sqrt())
    return mean, std


def noise_regularization(noise: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-image noise penalty of the StyleGAN2 projector, (B,) ≥ 0.

    For every map (B, 1, r, r) and every level of its 2×2-average pyramid down to 8×8,
    adds the squared mean product of the map with itself shifted by one pixel
    horizontally and vertically (circularly). About 0 for white noise (≈ 2 / r² per level),
    about 2 per level for a smooth map of unit variance; it stops the optimiser from
    hiding image content in the noise inputs.
    """
    total = torch.zeros(noise[0].shape[0], device=noise[0].device)
    for level in noise:
        while True:
            total = total + (level * level.roll(1, dims=3)).mean(dim=(1, 2, 3)).square()
            total = total + (level * level.roll(1, dims=2)).mean(dim=(1, 2, 3)).square()
            if level.shape[2] <= NOISE_PYRAMID_MIN_SIZE:
                break
            level = F.avg_pool2d(level, 2)
    return total


def normalize_noise_(noise: Sequence[torch.Tensor]) -> None:
    """In place: each image's noise map to zero mean and unit variance."""
    with torch.no_grad():
        for level in noise:
            level.sub_(level.mean(dim=(1, 2, 3), keepdim=True))
            level.div_(level.std(dim=(1, 2, 3), keepdim=True))


def learning_rate(t: float, peak: float, rampup: float, rampdown: float) -> float:
    """Projector schedule at progress ``t`` ∈ [0, 1): linear warm-up over ``rampup``,
    cosine decay over the last ``rampdown``, ``peak`` in between (0 at t = 0)."""
    ramp = min(1.0, (1.0 - t) / rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return peak * ramp * min(1.0, t / rampup)


def invert(
    generator: StyleGAN2Generator,
    targets: torch.Tensor,
    perceptual: nn.Module,
    config: InversionConfig,
    on_step: Callable[[int], None] | None = None,
) -> InversionResult:
    """Algorithm 1: latent codes and noise maps that make ``generator`` reproduce ``targets``.

    Args:
        generator: left unchanged (no gradients are accumulated in its parameters).
        targets: (B, 3, H, W) float images in [-1, 1], any size (resized to the working size).
        perceptual: e.g. ``lpips.LPIPS(...).eval()``; see :func:`.losses.perceptual_distance`.
        config: the settings; ``config.seed`` makes the run deterministic on a given device.
        on_step: called with the step index after each optimisation step (progress, timing).
    """
    device = generator.device
    rng = torch.Generator(device=device).manual_seed(config.seed)
    w_mean, w_std = w_statistics(generator, config.mean_w_samples, rng)
    batch = targets.shape[0]
    rows = generator.num_ws if config.w_plus else 1
    w = w_mean.expand(batch, rows, -1).clone().requires_grad_(True)
    noise = generator.make_noise(batch, rng)
    normalize_noise_(noise)
    for level in noise:
        level.requires_grad_(True)
    variables = [w, *noise]
    size = (config.working_resolution, config.working_resolution)
    target = resize(targets.to(device=device, dtype=torch.float32), size)
    optimizer = torch.optim.Adam(variables, lr=config.lr, betas=config.adam_betas)
    perceptual_history = torch.zeros(config.steps, batch, device=device)
    noise_history = torch.zeros(config.steps, batch, device=device)
    for step in range(config.steps):
        t = step / config.steps
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(t, config.lr, config.lr_rampup, config.lr_rampdown)
        strength = w_std * config.latent_noise * max(0.0, 1.0 - t / config.latent_noise_ramp) ** 2
        w_noisy = w + strength * torch.randn(w.shape, generator=rng, device=device)
        image = generator.synthesis(generator.broadcast_w(w_noisy), noise)
        distance = perceptual_distance(perceptual, image, target, config.working_resolution)
        penalty = noise_regularization(noise)
        loss = (distance + config.noise_regularization * penalty).sum()
        for variable, grad in zip(variables, torch.autograd.grad(loss, variables)):
            variable.grad = grad
        optimizer.step()
        normalize_noise_(noise)
        perceptual_history[step] = distance.detach()
        noise_history[step] = penalty.detach()
        if on_step is not None:
            on_step(step)
    return InversionResult(
        w=generator.broadcast_w(w.detach()).clone(),
        noise=[level.detach().clone() for level in noise],
        perceptual_loss=perceptual_history.cpu(),
        noise_loss=noise_history.cpu(),
    )
