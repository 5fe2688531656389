"""GANomaly (Akcay et al. 2018), as used by Wang et al. to detect facial palsy from
normal faces only.

Networks (DCGAN style, following the reference implementation samet-akcay/ganomaly,
``lib/networks.py``):

* generator G = encoder G_E → decoder G_D → encoder E:
  x (N, 3, S, S) in [-1, 1] → z = G_E(x) (N, latent, 1, 1) → x̂ = G_D(z) (N, 3, S, S),
  tanh, in [-1, 1] → ẑ = E(x̂) (N, latent, 1, 1);
* discriminator D: the same encoder with one output channel; its last conv gives a
  logit (N,), the layers before it the features (N, C, 4, 4) used for feature matching.

Encoders: conv 4×4 stride 2 + LeakyReLU(0.2), ``extra_layers`` × (conv 3×3, BN,
LeakyReLU), then conv 4×4 stride 2 + BN + LeakyReLU doubling the channels until 4×4,
then a 4×4 conv to the output channels. Decoders mirror this with transposed convs,
BN and ReLU, ending in tanh. S must be a multiple of 16 (64 and 128 in our configs).

Losses (one optimizer each for G and D, Adam):

* L_adv = ‖f(x) − f(G(x))‖₂² (mean), f = D's features (feature matching);
* L_con = ‖x − G(x)‖₁ (mean);  L_enc = ‖G_E(x) − E(G(x))‖₂² (mean);
* L_G = w_adv·L_adv + w_con·L_con + w_enc·L_enc (paper: 1, 50, 1);
* L_D = ½ (BCE(D(x), 1) + BCE(D(G(x)), 0)); computed on logits with
  ``binary_cross_entropy_with_logits`` (the same value as BCE after the reference's
  sigmoid, without its saturation). When L_D falls below ``d_reinit_threshold`` (1e-5
  in the reference) D has won completely and its weights are re-initialised, as the
  reference ``reinit_d`` does (its Adam state is kept, as there).

Anomaly score (eq. 5, L1 as in the paper; the reference code uses the squared L2):
A(x) = mean_k |G_E(x)_k − E(G(x))_k|.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import ReconstructionModel, check_geometry, config_from_dict, dcgan_init, register_architecture
from .data import CHANNELS, CropSpec

LEAKY_SLOPE = 0.2  # DCGAN (Radford et al. 2016) and the GANomaly reference
KERNEL, STRIDE, PADDING = 4, 2, 1  # DCGAN down/up-sampling convolution
BOTTOM_SIZE = 4  # spatial size before the last encoder conv / after the first decoder conv


@dataclass(frozen=True)
class LossWeights:
    """Generator loss weights w_adv, w_con, w_enc (paper: 1, 50, 1)."""

    adv: float
    con: float
    enc: float

    @classmethod
    def from_dict(cls, data: Mapping) -> "LossWeights":
        return config_from_dict(cls, data, dict.fromkeys(("adv", "con", "enc"), float))

    def to_dict(self) -> dict:
        return {"adv": self.adv, "con": self.con, "enc": self.enc}


@dataclass(frozen=True)
class GanomalyConfig:
    """Every number of a GANomaly model (the ``model`` block of a config without ``architecture``).

    ``image_size``: S, a multiple of 16; ``latent_size``: channels of z; ``base_channels``:
    channels of the first encoder conv (doubled per level); ``extra_layers``: 3×3 conv
    layers added at full resolution; ``loss_weights``: :class:`LossWeights`;
    ``d_reinit_threshold``: L_D below which D is re-initialised; ``crop``: the modelled
    region of the aligned face (:class:`~.data.CropSpec`).
    """

    image_size: int
    latent_size: int
    base_channels: int
    extra_layers: int
    loss_weights: LossWeights
    d_reinit_threshold: float
    crop: CropSpec

    def __post_init__(self):
        check_geometry(self.image_size, self.latent_size, self.base_channels, self.extra_layers)
        if self.d_reinit_threshold < 0:
            raise ValueError(f"d_reinit_threshold must be ≥ 0, got {self.d_reinit_threshold}")

    @classmethod
    def from_dict(cls, data: Mapping) -> "GanomalyConfig":
        """From a mapping with exactly the field names (nested ``loss_weights`` and ``crop`` dicts)."""
        return config_from_dict(
            cls,
            data,
            {
                "image_size": int,
                "latent_size": int,
                "base_channels": int,
                "extra_layers": int,
                "loss_weights": LossWeights.from_dict,
                "d_reinit_threshold": float,
                "crop": CropSpec.from_dict,
            },
        )

    def to_dict(self) -> dict:
        return {
            "image_size": self.image_size,
            "latent_size": self.latent_size,
            "base_channels": self.base_channels,
            "extra_layers": self.extra_layers,
            "loss_weights": self.loss_weights.to_dict(),
            "d_reinit_threshold": self.d_reinit_threshold,
            "crop": self.crop.to_dict(),
        }


class DcganEncoder(nn.Module):
    """(N, 3, S, S) → (N, out_channels, 1, 1); with ``final_conv=False`` it stops at the
    (N, C, 4, 4) features before the last conv (C = base_channels · S / 8)."""

    def __init__(
        self, image_size: int, out_channels: int, base_channels: int, extra_layers: int, final_conv: bool = True
    ):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(CHANNELS, base_channels, KERNEL, STRIDE, PADDING, bias=False),
            nn.LeakyReLU(LEAKY_SLOPE),
        ]
        size, channels = image_size // 2, base_channels
        for _ in range(extra_layers):
            layers += [
                nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
                nn.BatchNorm2d(channels),
                nn.LeakyReLU(LEAKY_SLOPE),
            ]
        while size > BOTTOM_SIZE:
            layers += [
                nn.Conv2d(channels, channels * 2, KERNEL, STRIDE, PADDING, bias=False),
                nn.BatchNorm2d(channels * 2),
                nn.LeakyReLU(LEAKY_SLOPE),
            ]
            size, channels = size // 2, channels * 2
        self.feature_channels = channels
        self.features = nn.Sequential(*layers)
        self.final = nn.Conv2d(channels, out_channels, BOTTOM_SIZE, 1, 0, bias=False) if final_conv else None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.features(images)
        return features if self.final is None else self.final(features)


class DcganDecoder(nn.Module):
    """(N, latent_size, 1, 1) → (N, 3, S, S) in [-1, 1] (tanh)."""

    def __init__(self, image_size: int, latent_size: int, base_channels: int, extra_layers: int):
        super().__init__()
        channels = base_channels * image_size // (2 * BOTTOM_SIZE)  # mirrors the encoder's widest layer
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_size, channels, BOTTOM_SIZE, 1, 0, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
        ]
        size = BOTTOM_SIZE
        while size < image_size // 2:
            layers += [
                nn.ConvTranspose2d(channels, channels // 2, KERNEL, STRIDE, PADDING, bias=False),
                nn.BatchNorm2d(channels // 2),
                nn.ReLU(),
            ]
            size, channels = size * 2, channels // 2
        for _ in range(extra_layers):
            layers += [nn.Conv2d(channels, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()]
        layers += [nn.ConvTranspose2d(channels, CHANNELS, KERNEL, STRIDE, PADDING, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.main(latent)


class GanomalyGenerator(nn.Module):
    """G_E → G_D → E: x (N, 3, S, S) → (x̂ (N, 3, S, S), z (N, L, 1, 1), ẑ (N, L, 1, 1))."""

    def __init__(self, config: GanomalyConfig):
        super().__init__()
        geometry = (config.image_size, config.latent_size, config.base_channels, config.extra_layers)
        self.encoder = DcganEncoder(*geometry)
        self.decoder = DcganDecoder(*geometry)
        self.reencoder = DcganEncoder(*geometry)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        latent = self.encoder(images)
        reconstruction = self.decoder(latent)
        return reconstruction, latent, self.reencoder(reconstruction)


class GanomalyDiscriminator(nn.Module):
    """x (N, 3, S, S) → (logit (N,), features (N, C, 4, 4))."""

    def __init__(self, config: GanomalyConfig):
        super().__init__()
        self.body = DcganEncoder(config.image_size, 1, config.base_channels, config.extra_layers)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body.features(images)
        return self.body.final(features).flatten(), features


@register_architecture
class Ganomaly(ReconstructionModel):
    """GANomaly: ``generator`` (G_E, G_D, E) and ``discriminator`` (D), DCGAN-initialised."""

    architecture = "ganomaly"
    config_class = GanomalyConfig

    def __init__(self, config: GanomalyConfig):
        super().__init__()
        self.config = config
        self.generator = GanomalyGenerator(config)
        self.discriminator = GanomalyDiscriminator(config)
        self.apply(dcgan_init)

    def _reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        return self.generator(images)[0]

    def _raw_scores(self, images: torch.Tensor) -> torch.Tensor:
        _, latent, relatent = self.generator(images)
        return (latent - relatent).abs().flatten(1).mean(dim=1)

    def optimizer_groups(self) -> dict[str, Iterable[nn.Parameter]]:
        return {"generator": self.generator.parameters(), "discriminator": self.discriminator.parameters()}

    def train_step(
        self, images: torch.Tensor, optimizers: Mapping[str, torch.optim.Optimizer]
    ) -> dict[str, torch.Tensor]:
        """One G step then one D step (the reference's ``optimize_params``); returns the
        batch means of ``generator`` (L_G), ``adv``, ``con``, ``enc``, ``discriminator``
        (L_D) and ``d_reinit`` (1 when D was re-initialised after this step, else 0)."""
        weights = self.config.loss_weights
        reconstruction, latent, relatent = self.generator(images)
        logit_real, features_real = self.discriminator(images)
        logit_fake, _ = self.discriminator(reconstruction.detach())

        _, features_fake = self.discriminator(reconstruction)
        adv = F.mse_loss(features_fake, features_real.detach())
        con = F.l1_loss(reconstruction, images)
        enc = F.mse_loss(relatent, latent)
        generator_loss = weights.adv * adv + weights.con * con + weights.enc * enc
        optimizers["generator"].zero_grad(set_to_none=True)
        generator_loss.backward()
        optimizers["generator"].step()

        discriminator_loss = 0.5 * (
            F.binary_cross_entropy_with_logits(logit_real, torch.ones_like(logit_real))
            + F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake))
        )
        optimizers["discriminator"].zero_grad(set_to_none=True)
        discriminator_loss.backward()
        optimizers["discriminator"].step()
        reinit = discriminator_loss.item() < self.config.d_reinit_threshold
        if reinit:
            self.discriminator.apply(dcgan_init)
        losses = {"generator": generator_loss, "adv": adv, "con": con, "enc": enc, "discriminator": discriminator_loss}
        out = {name: value.detach() for name, value in losses.items()}
        out["d_reinit"] = torch.tensor(float(reinit), device=images.device)
        return out
