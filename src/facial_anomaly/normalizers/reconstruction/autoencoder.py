"""Convolutional autoencoder: the simpler baseline to GANomaly, with the same data path
and the same DCGAN encoder/decoder (:class:`~.ganomaly.DcganEncoder`,
:class:`~.ganomaly.DcganDecoder`), but no second encoder and no discriminator.

x (N, 3, S, S) in [-1, 1] → z (N, latent, 1, 1) → x̂ (N, 3, S, S) in [-1, 1] (tanh).
Trained with the L1 reconstruction loss (L_con of GANomaly) alone. Score (latent-free):
the reconstruction error A(x) = mean over pixels and channels of |x − x̂|.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import ReconstructionModel, check_geometry, config_from_dict, dcgan_init, register_architecture
from .data import CropSpec
from .ganomaly import DcganDecoder, DcganEncoder


@dataclass(frozen=True)
class AutoencoderConfig:
    """Every number of the autoencoder (the ``model`` block without ``architecture``);
    fields as in :class:`~.ganomaly.GanomalyConfig`."""

    image_size: int
    latent_size: int
    base_channels: int
    extra_layers: int
    crop: CropSpec

    def __post_init__(self):
        check_geometry(self.image_size, self.latent_size, self.base_channels, self.extra_layers)

    @classmethod
    def from_dict(cls, data: Mapping) -> "AutoencoderConfig":
        converters = dict.fromkeys(("image_size", "latent_size", "base_channels", "extra_layers"), int)
        return config_from_dict(cls, data, {**converters, "crop": CropSpec.from_dict})

    def to_dict(self) -> dict:
        return {
            "image_size": self.image_size,
            "latent_size": self.latent_size,
            "base_channels": self.base_channels,
            "extra_layers": self.extra_layers,
            "crop": self.crop.to_dict(),
        }


@register_architecture
class ConvAutoencoder(ReconstructionModel):
    """``encoder`` → ``decoder``, DCGAN-initialised; one optimizer (``generator``)."""

    architecture = "autoencoder"
    config_class = AutoencoderConfig

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        self.config = config
        geometry = (config.image_size, config.latent_size, config.base_channels, config.extra_layers)
        self.encoder = DcganEncoder(*geometry)
        self.decoder = DcganDecoder(*geometry)
        self.apply(dcgan_init)

    def _reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(images))

    def _raw_scores(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self._reconstruct(images)).abs().flatten(1).mean(dim=1)

    def optimizer_groups(self) -> dict[str, Iterable[nn.Parameter]]:
        return {"generator": self.parameters()}

    def train_step(
        self, images: torch.Tensor, optimizers: Mapping[str, torch.optim.Optimizer]
    ) -> dict[str, torch.Tensor]:
        """One L1 step; returns ``generator`` (the total loss) and ``con`` (the same L1 term)."""
        loss = F.l1_loss(self._reconstruct(images), images)
        optimizers["generator"].zero_grad(set_to_none=True)
        loss.backward()
        optimizers["generator"].step()
        return {"generator": loss.detach(), "con": loss.detach()}
