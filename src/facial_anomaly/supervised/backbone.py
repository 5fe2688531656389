"""The MobileNetV2 branch every supervised model is built from (Sandler et al. 2018;
``torchvision.models.mobilenet_v2(weights=None)``: nothing is downloaded).

A :class:`MobileNetBranch` is the convolutional ``features`` of MobileNetV2 (optionally
only the first ``feature_blocks`` of its 19 modules, for a finer, cheaper feature map),
with ``in_channels`` input channels and global pooling to an embedding. It can start from
user-provided ImageNet weights (:func:`load_backbone_weights`, read with
``torch.load(weights_only=True)``).

Output stride of the feature map after the first k modules: 2 for k = 1-2, 4 for k = 3-4,
8 for k = 5-7, 16 for k = 8-14, 32 for k = 15-19 (19 = all, ending with the 1×1 conv to
``max(1280, 1280·width_mult)`` channels).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from ..training.checkpoint import check_state_dict

MOBILENET_V2_MODULES = 19  # len(torchvision.models.mobilenet_v2().features)
POOLINGS = ("avg", "max", "avgmax")
# The ImageNet statistics torchvision's MobileNetV2 weights were trained with (RGB in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def standardize_rgb(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, S, S) RGB in [0, 1] → ImageNet-standardized (what pretrained weights expect)."""
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def gaussian_blur(x: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """(N, C, S, S) → the same blurred per channel by a separable Gaussian of σ ``sigma_px``
    (kernel radius 3σ, reflected borders, so a flat image stays flat)."""
    radius = max(1, int(math.ceil(3.0 * sigma_px)))
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (offsets / sigma_px) ** 2)
    kernel = kernel / kernel.sum()
    channels = x.shape[1]
    padded = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def local_contrast(x: torch.Tensor, *, sigma: float, floor: float) -> torch.Tensor:
    """Local contrast normalisation of (N, 3, S, S) RGB in [0, 1] (Pinto et al. 2008's
    subtractive + divisive form): the local mean (Gaussian of σ = ``sigma`` × S) is taken
    away per channel and the rest divided by the local RMS of that detail over all channels
    (same Gaussian), not below ``floor`` (grey levels / 255; flat skin is not blown up to
    noise). Light, skin tone and colour casts vanish; spots, lines and edges of features
    stay, in comparable units on every face."""
    sigma_px = float(sigma) * x.shape[-1]
    detail = x - gaussian_blur(x, sigma_px)
    energy = gaussian_blur(detail.pow(2).mean(dim=1, keepdim=True), sigma_px)
    return detail / torch.sqrt(energy).clamp_min(float(floor))


def scale_rgb_difference(d: torch.Tensor) -> torch.Tensor:
    """(N, 3, S, S) difference of two [0, 1] RGB images, in [-1, 1] → scaled as
    :func:`standardize_rgb` scales an image (divided by the ImageNet std, no mean)."""
    return d / d.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)


class MobileNetBranch(nn.Module):
    """MobileNetV2 features → global pooling.

    Args:
        width_mult: MobileNetV2 width multiplier (1.0 = the paper's network; 0.5 ≈ 4× fewer
            multiply-adds, for the CPU).
        in_channels: input channels (3 for an RGB view; other values replace the first conv).
        feature_blocks: how many of the 19 ``features`` modules to keep (1..19).
        pooling: ``avg`` (mean over the map), ``max`` (strongest cell: small lesions) or
            ``avgmax`` (both, concatenated).

    ``forward(x)``: (N, in_channels, S, S) standardized input → (N, :attr:`embedding_size`).
    """

    def __init__(self, *, width_mult: float, in_channels: int, feature_blocks: int, pooling: str):
        super().__init__()
        if not 1 <= feature_blocks <= MOBILENET_V2_MODULES:
            raise ValueError(f"feature_blocks must be in 1..{MOBILENET_V2_MODULES}, got {feature_blocks}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if width_mult <= 0 or in_channels < 1:
            raise ValueError(f"need width_mult > 0 and in_channels ≥ 1, got {width_mult}, {in_channels}")
        network = torchvision.models.mobilenet_v2(weights=None, width_mult=float(width_mult))
        features = network.features[:feature_blocks]
        if in_channels != 3:
            first = features[0][0]
            features[0][0] = nn.Conv2d(
                in_channels, first.out_channels, first.kernel_size, first.stride, first.padding, bias=False
            )
            nn.init.kaiming_normal_(features[0][0].weight, mode="fan_out")  # torchvision's init of MobileNetV2 convs
        features.architecture = (
            f"MobileNetV2 features (width_mult {width_mult:g}, {feature_blocks} modules, {in_channels} input channels)"
        )
        self.features = features
        self.in_channels = int(in_channels)
        self.pooling = pooling
        self.channels = int(features[-1].out_channels)
        self.embedding_size = self.channels * (2 if pooling == "avgmax" else 1)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, S, S) → the last kept module's map (N, :attr:`channels`, S/stride, S/stride)."""
        return self.features(x)

    def pool(self, feature_map: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) → (N, :attr:`embedding_size`)."""
        pooled = []
        if self.pooling in ("avg", "avgmax"):
            pooled.append(feature_map.mean(dim=(2, 3)))
        if self.pooling in ("max", "avgmax"):
            pooled.append(feature_map.amax(dim=(2, 3)))
        return torch.cat(pooled, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.feature_map(x))

    def forward_tapped(self, x: torch.Tensor, tap: int | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(embedding, activations after the first tap modules)``; with ``tap`` None as
        ``forward`` and no activations. ``tap`` = ``len(features)`` taps the last map."""
        if tap is None:
            return self(x), None
        tapped = self.features[:tap](x)
        return self.pool(self.features[tap:](tapped)), tapped

    def load_pretrained(self, path: str | os.PathLike) -> None:
        """Initialise the kept modules from a torchvision MobileNetV2 state dict of the same
        width (see :func:`load_backbone_weights`)."""
        self.features.load_state_dict(load_backbone_weights(path, self.features), strict=True)


def load_backbone_weights(path: str | os.PathLike, features: nn.Sequential) -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors of a MobileNetV2 state dict file, fitted to ``features``.

    The file is a state dict of ``torchvision.models.mobilenet_v2`` (e.g. the ImageNet
    weights a user downloaded themselves), read with ``torch.load(weights_only=True)``.
    ``classifier.*`` and the modules beyond those kept are ignored. When ``features`` has
    a first conv with a multiple of 3 input channels other than 3, the RGB kernel is
    repeated over the channel groups and divided by their number (the initial response
    to identical groups equals the RGB response).

    Raises:
        FileNotFoundError: naming the missing file.
        ValueError: not a readable tensor-only state dict, or tensors that do not fit
            (wrong width multiplier: every key, missing and mismatched, is listed).
    """
    name = str(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"backbone weights file {name} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError, RuntimeError, EOFError, ... depending on the damage
        raise ValueError(
            f"{name} is not a readable tensor-only torch state dict: {type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}"
        ) from error
    if not isinstance(state, Mapping):
        raise ValueError(f"{name} holds a {type(state).__name__}, not a MobileNetV2 state dict")
    prefix, kept = "features.", len(features)
    selected = {}
    for key, value in state.items():
        if not str(key).startswith(prefix):
            continue
        local = str(key)[len(prefix) :]
        if int(local.split(".", 1)[0]) < kept:
            selected[local] = value
    first_key, target = "0.0.weight", features[0][0].weight
    rgb = selected.get(first_key)
    if (
        isinstance(rgb, torch.Tensor)
        and rgb.ndim == 4
        and rgb.shape[1] == 3
        and target.shape[1] != 3
        and target.shape[1] % 3 == 0
    ):
        groups = target.shape[1] // 3
        selected[first_key] = rgb.repeat(1, groups, 1, 1) / groups
    check_state_dict(features, selected, name)
    return selected
