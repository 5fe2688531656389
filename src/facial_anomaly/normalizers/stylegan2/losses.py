"""Perceptual loss used by inversion and adaptation (LPIPS or any module with its call form)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .config import from_mapping
from .imaging import resize


@dataclass(frozen=True)
class PerceptualConfig:
    """The ``perceptual`` block of ``parameters_stylegan2.yml``; see :func:`build_lpips`."""

    net: str
    pretrained_backbone: bool

    @classmethod
    def from_dict(cls, config: Mapping) -> "PerceptualConfig":
        return from_mapping(cls, config, "perceptual")


def perceptual_distance(
    perceptual: nn.Module, a: torch.Tensor, b: torch.Tensor, working_resolution: int
) -> torch.Tensor:
    """Per-image perceptual distance at ``working_resolution``.

    Args:
        perceptual: called as ``perceptual(x, y)`` on (B, 3, r, r) images in [-1, 1] and
            returning (B, …) distances, e.g. ``lpips.LPIPS`` (returns (B, 1, 1, 1)).
            Must be in eval mode (LPIPS has dropout layers).
        a, b: (B, 3, H, W) images in [-1, 1]; resized (area / bilinear) to the working size.

    Returns:
        (B,) distances, the sum of whatever the module returns per image.
    """
    if perceptual.training:
        raise ValueError("the perceptual loss module must be in eval mode (call .eval())")
    size = (working_resolution, working_resolution)
    distance = perceptual(resize(a, size), resize(b, size))
    return distance.reshape(a.shape[0], -1).sum(dim=1)


def lpips_backbone_file(net: str) -> str:
    """File name of the ImageNet backbone that ``lpips.LPIPS(net=net)`` takes from torchvision."""
    from torchvision import models

    weights = {
        "alex": models.AlexNet_Weights.IMAGENET1K_V1,
        "vgg": models.VGG16_Weights.IMAGENET1K_V1,
        "squeeze": models.SqueezeNet1_1_Weights.IMAGENET1K_V1,
    }
    if net not in weights:
        raise ValueError(f"unknown LPIPS net {net!r}; use one of {sorted(weights)}")
    return weights[net].url.rsplit("/", 1)[-1]


def build_lpips(net: str, pretrained_backbone: bool) -> nn.Module:
    """An ``lpips.LPIPS`` in eval mode with frozen parameters.

    Args:
        net: ``"vgg"`` (the StyleGAN2 projector's choice), ``"alex"`` or ``"squeeze"``.
        pretrained_backbone: ``True`` for the real metric (the ImageNet backbone must be in
            the torch hub cache; nothing is downloaded); ``False`` builds a randomly
            initialised backbone, which is *not* a perceptual metric (tests only).

    Raises:
        FileNotFoundError: naming the backbone file and the folder it must be placed in.
    """
    import lpips

    if pretrained_backbone:
        folder = Path(torch.hub.get_dir()) / "checkpoints"
        file = folder / lpips_backbone_file(net)
        if not file.is_file():
            raise FileNotFoundError(
                f"LPIPS({net!r}) needs the ImageNet backbone {file.name} in {folder} (torchvision's "
                "download location); copy it there, as this machine cannot download it."
            )
    else:
        lpips_backbone_file(net)  # validates the name
    with warnings.catch_warnings():  # lpips 0.1.4 still calls torchvision with `pretrained=`
        warnings.filterwarnings("ignore", message="The parameter 'pretrained' is deprecated", category=UserWarning)
        warnings.filterwarnings("ignore", message="Arguments other than a weight enum", category=UserWarning)
        model = lpips.LPIPS(net=net, pnet_rand=not pretrained_backbone, verbose=False)
    return model.eval().requires_grad_(False)
