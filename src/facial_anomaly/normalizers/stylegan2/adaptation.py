"""Algorithm 2 of Hayajneh et al. 2022: adapt the generator to one face, w and noise frozen.

Inversion alone loses some of the person's identity. Fine-tuning the synthesis weights
for a few steps (50 in the paper) with ``lpips_weight · LPIPS + l2_weight · MSE`` against
the original face brings the identity back while the anomaly, which the face prior
resists, appears only later. So

- the image after ``output_step`` steps is the normalized face;
- images after each of ``snapshot_steps`` show the anomaly coming back;
- the number of steps until the anomaly region is reconstructed is a severity index:
  the first step ``k`` at which the mean *heat* inside the region mask,
  ``mean_channels(((G_k − original) / 2)²)`` (squared error in [0, 1] units at the
  generator resolution), falls below ``reconstruction_fraction`` × its value at step 0.

Each face gets its own copy of the generator; the caller's generator is never changed.
The mapping network is not used (w is given) and not tuned.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import from_mapping
from .generator import StyleGAN2Generator
from .imaging import resize
from .losses import perceptual_distance


@dataclass(frozen=True)
class AdaptationConfig:
    """Settings of Algorithm 2 (the ``adaptation`` block of ``parameters_stylegan2.yml``)."""

    steps: int  # fine-tuning steps run (≥ output_step and every snapshot step)
    output_step: int  # the normalized face is the image after this many steps (paper 50)
    snapshot_steps: tuple[int, ...]  # steps whose images are kept, e.g. (0, 25, 50, 100, 200)
    lr: float  # Adam learning rate of the synthesis weights
    adam_betas: tuple[float, float]
    lpips_weight: float
    l2_weight: float
    working_resolution: int  # side at which LPIPS compares images
    reconstruction_fraction: float  # region "reconstructed" when its heat < fraction × step-0 heat

    def __post_init__(self) -> None:
        if self.steps < 0 or not 0 <= self.output_step <= self.steps:
            raise ValueError(f"need 0 ≤ output_step ≤ steps: {self}")
        if any(not 0 <= step <= self.steps for step in self.snapshot_steps):
            raise ValueError(f"snapshot_steps must lie in [0, steps={self.steps}]: {self.snapshot_steps}")
        if self.lr <= 0 or self.lpips_weight < 0 or self.l2_weight < 0 or self.working_resolution < 1:
            raise ValueError(f"lr > 0, loss weights ≥ 0 and working_resolution ≥ 1 required: {self}")
        if len(self.adam_betas) != 2 or not 0 < self.reconstruction_fraction < 1:
            raise ValueError(f"adam_betas needs 2 values and reconstruction_fraction must be in (0, 1): {self}")

    @classmethod
    def from_dict(cls, config: Mapping) -> "AdaptationConfig":
        return from_mapping(cls, config, "adaptation")


@dataclass
class AdaptationResult:
    """Outcome of :func:`adapt` for one face.

    ``generator``: the fine-tuned copy (after ``steps`` steps);
    ``output``: (3, R, R) image in [-1, 1] after ``output_step`` steps, on the CPU;
    ``snapshots``: step → (3, R, R) image in [-1, 1], on the CPU;
    ``loss``: (steps,) training loss per step;
    ``region_heat``: (steps + 1,) mean heat inside the region after k steps, or ``None``
    without a mask; ``reconstruction_step``: see the module docstring, ``None`` when the
    region is not reconstructed within ``steps`` or no mask was given.
    """

    generator: StyleGAN2Generator
    output: torch.Tensor
    snapshots: dict[int, torch.Tensor]
    loss: torch.Tensor
    region_heat: torch.Tensor | None
    reconstruction_step: int | None


def region_heat(images: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mask-weighted mean of ``mean_channels(((images − targets) / 2)²)``, (B,) in [0, 1].

    Args:
        images, targets: (B, 3, H, W) in [-1, 1].
        mask: (B or 1, 1, H, W) weights in [0, 1]; an empty mask gives 0.
    """
    heat = ((images - targets) / 2.0).square().mean(dim=1, keepdim=True)
    mask = mask.expand_as(heat)
    return (heat * mask).sum(dim=(1, 2, 3)) / mask.sum(dim=(1, 2, 3)).clamp_min(1e-12)


def reconstruction_step(heat: torch.Tensor, fraction: float) -> int | None:
    """First step ``k ≥ 1`` with ``heat[k] < fraction · heat[0]`` (0 when ``heat[0]`` is 0), else ``None``."""
    if float(heat[0]) <= 0.0:
        return 0
    below = torch.nonzero(heat[1:] < fraction * heat[0])
    return int(below[0, 0]) + 1 if len(below) else None


def adapt(
    generator: StyleGAN2Generator,
    w: torch.Tensor,
    noise: Sequence[torch.Tensor],
    target: torch.Tensor,
    perceptual: nn.Module,
    config: AdaptationConfig,
    region_mask: torch.Tensor | None,
    on_step: Callable[[int], None] | None = None,
) -> AdaptationResult:
    """Algorithm 2 for one face.

    Args:
        generator: the (inverted-into) generator; copied, never modified.
        w: (1, num_ws, latent_dim) W+ code from :func:`.inversion.invert`; not modified.
        noise: the inverted noise maps, map ``j`` (1, 1, r_j, r_j); not modified.
        target: (1, 3, H, W) original face in [-1, 1].
        perceptual: eval-mode perceptual loss, see :func:`.losses.perceptual_distance`.
        config: the settings.
        region_mask: (1, 1, H', W') weights in [0, 1] of the anomaly region (any size,
            resized to the generator's), or ``None``.
        on_step: called with the step index after each optimisation step (progress, timing).
    """
    if w.ndim != 3 or w.shape[0] != 1 or target.shape[0] != 1:
        raise ValueError(
            f"adapt works on one face: w (1, num_ws, dim), target (1, 3, H, W); got {tuple(w.shape)}, {tuple(target.shape)}"
        )
    tuned = copy.deepcopy(generator)
    device = tuned.device
    ws = tuned.broadcast_w(w.detach().to(device))
    noise = [level.detach().to(device) for level in noise]
    full = (tuned.resolution, tuned.resolution)
    target_full = resize(target.to(device=device, dtype=torch.float32), full)
    target_work = resize(target_full, (config.working_resolution, config.working_resolution))
    mask = None if region_mask is None else resize(region_mask.to(device=device, dtype=torch.float32), full)
    weights = list(tuned.synthesis.parameters())
    optimizer = torch.optim.Adam(weights, lr=config.lr, betas=config.adam_betas)
    keep = set(config.snapshot_steps) | {config.output_step}
    snapshots: dict[int, torch.Tensor] = {}
    losses = torch.zeros(config.steps, device=device)
    heat = torch.zeros(config.steps + 1, device=device)
    for step in range(config.steps + 1):
        image = tuned.synthesis(ws, noise)
        if step in keep:
            snapshots[step] = image[0].detach().cpu()
        if mask is not None:
            heat[step] = region_heat(image.detach(), target_full, mask)[0]
        if step == config.steps:
            break
        loss = config.l2_weight * F.mse_loss(image, target_full)
        if config.lpips_weight > 0:
            loss = (
                loss
                + config.lpips_weight
                * perceptual_distance(perceptual, image, target_work, config.working_resolution).sum()
            )
        for weight, grad in zip(weights, torch.autograd.grad(loss, weights)):
            weight.grad = grad
        optimizer.step()
        losses[step] = loss.detach()
        if on_step is not None:
            on_step(step)
    heat_curve = None if mask is None else heat.cpu()
    return AdaptationResult(
        generator=tuned,
        output=snapshots[config.output_step],
        snapshots={step: snapshots[step] for step in sorted(config.snapshot_steps)},
        loss=losses.cpu(),
        region_heat=heat_curve,
        reconstruction_step=None
        if heat_curve is None
        else reconstruction_step(heat_curve, config.reconstruction_fraction),
    )
