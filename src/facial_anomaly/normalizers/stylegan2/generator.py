"""StyleGAN2 generator (config-f) in plain PyTorch: no custom CUDA ops, CPU or GPU.

Architecture of Karras et al., "Analyzing and Improving the Image Quality of StyleGAN"
(CVPR 2020), configuration F, as used by Hayajneh et al. 2022 for face normalization:

- mapping network: pixel norm of ``z``, then ``mapping_layers`` equalized-learning-rate
  fully connected layers with leaky ReLU (slope 0.2, gain √2) and a learning-rate
  multiplier (0.01 in config-f) → ``w``;
- synthesis network: a learned 4×4 constant, then per resolution 8, 16, …, ``resolution``
  one modulated 3×3 convolution that upsamples ×2 and one that does not, each with weight
  demodulation, a per-layer noise input with learned strength, bias and leaky ReLU; a
  modulated 1×1 "toRGB" per resolution (no demodulation) whose outputs are summed after
  upsampling the running image ("skip" architecture);
- resampling with the FIR filter [1, 3, 3, 1] (``upfirdn2d`` semantics) done with
  ``F.conv2d``; modulated convolutions in the equivalent non-fused form (input scaled by
  the style, shared weight, output scaled by the demodulation coefficients).

The module names are this project's own (see :func:`StyleGAN2Generator.state_dict`):

    mapping.layers.{i}.weight / .bias                 (latent_dim, latent_dim) / (latent_dim,)
    synthesis.const                                   (1, C4, 4, 4)
    synthesis.layers.{j}.conv.weight                  (C_out, C_in, 3, 3)
    synthesis.layers.{j}.conv.affine.weight / .bias   (C_in, latent_dim) / (C_in,)
    synthesis.layers.{j}.noise_strength               ()
    synthesis.layers.{j}.bias                         (C_out,)
    synthesis.layers.{j}.noise_const                  (1, 1, r_j, r_j)   buffer
    synthesis.to_rgbs.{k}.conv.weight                 (3, C_in, 1, 1)
    synthesis.to_rgbs.{k}.conv.affine.weight / .bias  (C_in, latent_dim) / (C_in,)
    synthesis.to_rgbs.{k}.bias                        (3,)

Layer ``j`` (0 … ``num_layers - 1``) works at resolution ``r_j = 2 ** ((j + 5) // 2)``
and reads ``ws[:, j]``; toRGB ``k`` works at ``4 · 2**k`` and reads ``ws[:, 2k + 1]``
(so ``num_ws = num_layers + 1 = 2·log2(resolution) − 2``, 18 at 1024 px), the ordering of
both public implementations. :mod:`.checkpoint` converts the public formats to these names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import from_mapping

# Fixed by the StyleGAN2 architecture (Karras et al. 2020, config-f), not tunable.
FIR_TAPS = (1.0, 3.0, 3.0, 1.0)  # separable resampling filter ("blur kernel")
LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)  # keeps the activation variance of leaky ReLU at 1
DEMODULATION_EPS = 1e-8
PIXEL_NORM_EPS = 1e-8


@dataclass(frozen=True)
class GeneratorConfig:
    """Shape of a generator; saved with every checkpoint as a small JSON-able dict.

    ``channels(res) = min(channel_base // res, channel_max)``: config-f is
    ``channel_base=32768, channel_max=512`` (512 channels up to 64 px, 32 at 1024 px).
    ``mapping_lr_multiplier`` scales the mapping weights at run time (0.01 in config-f);
    it cannot be read from the weights, so it is part of the configuration.
    """

    resolution: int
    latent_dim: int
    mapping_layers: int
    mapping_lr_multiplier: float
    channel_base: int
    channel_max: int

    def __post_init__(self) -> None:
        log2 = math.log2(self.resolution) if self.resolution > 0 else 0.0
        if self.resolution < 4 or log2 != int(log2):
            raise ValueError(f"resolution must be a power of two ≥ 4, got {self.resolution}")
        if self.latent_dim < 1 or self.mapping_layers < 1 or self.mapping_lr_multiplier <= 0:
            raise ValueError(f"latent_dim, mapping_layers and mapping_lr_multiplier must be positive: {self}")
        if self.channel_max < 1 or self.channel_base // self.resolution < 1:
            raise ValueError(f"channel_base // resolution and channel_max must be ≥ 1: {self}")

    @classmethod
    def from_dict(cls, config: Mapping) -> "GeneratorConfig":
        """Build from a dict with exactly the field names (a YAML block or a checkpoint's ``config``)."""
        return from_mapping(cls, config, "generator config")

    def to_dict(self) -> dict:
        return asdict(self)

    def channels(self, res: int) -> int:
        """Feature channels of the synthesis layers at resolution ``res``."""
        return min(self.channel_base // res, self.channel_max)

    @property
    def log2_resolution(self) -> int:
        return int(math.log2(self.resolution))

    @property
    def num_layers(self) -> int:
        """Synthesis convolutions (= noise inputs): one at 4 px, two per higher resolution."""
        return 2 * (self.log2_resolution - 2) + 1

    @property
    def num_ws(self) -> int:
        """Rows of the W+ code: one per synthesis convolution, plus the last toRGB."""
        return self.num_layers + 1

    def layer_resolution(self, layer: int) -> int:
        return 2 ** ((layer + 5) // 2)


def fir_filter(taps: Sequence[float], gain: float) -> torch.Tensor:
    """2-D separable FIR filter ``outer(taps, taps)`` normalised to sum ``gain``; (k, k) float32."""
    kernel = torch.tensor(taps, dtype=torch.float32)
    kernel = kernel[None, :] * kernel[:, None]
    return kernel / kernel.sum() * gain


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int, pad: tuple[int, int]) -> torch.Tensor:
    """Upsample by zero insertion, pad, and filter each channel with ``kernel``.

    Same semantics as the reference ``upfirdn2d`` (without downsampling): ``x`` (B, C, H, W)
    → (B, C, H·up + pad0 + pad1 − k + 1, …). The kernel is flipped so that this is a true
    convolution, as in the reference (it is symmetric for StyleGAN2 anyway).
    """
    batch, channels, height, width = x.shape
    if up > 1:
        x = x.reshape(batch, channels, height, 1, width, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(batch, channels, height * up, width * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    # Depthwise convolution (groups = channels): much faster on the CPU than folding the
    # channels into the batch, which falls back to a slow im2col path.
    weight = kernel.flip([0, 1])[None, None].to(x.dtype).expand(channels, 1, *kernel.shape)
    return F.conv2d(x, weight, groups=channels)


class EqualLinear(nn.Module):
    """Fully connected layer with equalized learning rate.

    The stored weight is ``N(0, 1) / lr_multiplier`` and is scaled by
    ``lr_multiplier / √in_features`` at run time; the bias by ``lr_multiplier``.
    With ``activation`` the output goes through leaky ReLU (0.2) × √2.
    """

    def __init__(
        self, in_features: int, out_features: int, *, lr_multiplier: float, bias_init: float, activation: bool
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.lr_multiplier = lr_multiplier
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_multiplier)
        if self.activation:
            out = F.leaky_relu(out, LRELU_SLOPE) * LRELU_GAIN
        return out


class MappingNetwork(nn.Module):
    """``z`` (B, latent_dim) → ``w`` (B, latent_dim): pixel norm, then the FC stack."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.layers = nn.ModuleList(
            EqualLinear(
                config.latent_dim,
                config.latent_dim,
                lr_multiplier=config.mapping_lr_multiplier,
                bias_init=0.0,
                activation=True,
            )
            for _ in range(config.mapping_layers)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + PIXEL_NORM_EPS)
        for layer in self.layers:
            x = layer(x)
        return x


class ModulatedConv2d(nn.Module):
    """Convolution whose weights are scaled per sample by a style from ``w``.

    ``weight`` (C_out, C_in, k, k) is multiplied by ``1/√(C_in·k²)`` (equalized lr) and by
    ``affine(w)`` (B, C_in) along the input channels; with ``demodulate`` each output
    filter is then rescaled to unit norm. With ``upsample`` the convolution is transposed
    with stride 2 and followed by the [1, 3, 3, 1] filter.

    Computed in the equivalent "non-fused" form: scale the input channels by the styles,
    convolve with the shared weight, scale the output channels by the demodulation
    coefficients. Unlike the per-sample grouped convolution it needs no gradient with
    respect to the conv weight when only ``w`` is optimised (inversion), and it batches
    as one ordinary convolution.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        latent_dim: int,
        *,
        demodulate: bool,
        upsample: bool,
    ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.affine = EqualLinear(latent_dim, in_channels, lr_multiplier=1.0, bias_init=1.0, activation=False)
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.demodulate = demodulate
        self.upsample = upsample
        if upsample:
            self.register_buffer("fir", fir_filter(FIR_TAPS, gain=4.0), persistent=False)
            p = (len(FIR_TAPS) - 2) - (kernel_size - 1)
            self.fir_pad = ((p + 1) // 2 + 1, p // 2 + 1)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``x`` (B, C_in, H, W), ``w`` (B, latent_dim) → (B, C_out, H', W'), H' = 2H when upsampling."""
        styles = self.affine(w)  # (B, C_in)
        weight = self.weight * self.weight_gain
        x = x * styles[:, :, None, None]
        if self.upsample:
            out = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
            out = upfirdn2d(out, self.fir, up=1, pad=self.fir_pad)
        else:
            out = F.conv2d(x, weight, padding=weight.shape[-1] // 2)
        if self.demodulate:
            # Σ_{i,kh,kw} (weight[o,i] · styles[b,i])² for every (b, o).
            energy = styles.square() @ weight.square().sum(dim=(2, 3)).t()
            out = out * torch.rsqrt(energy + DEMODULATION_EPS)[:, :, None, None]
        return out


class SynthesisLayer(nn.Module):
    """Modulated 3×3 conv (+ optional ×2 upsampling), noise × learned strength, bias, leaky ReLU × √2.

    ``noise_const`` (1, 1, r, r) is the layer's stored noise map, used when no noise is given.
    """

    def __init__(self, in_channels: int, out_channels: int, latent_dim: int, resolution: int, *, upsample: bool):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, latent_dim, demodulate=True, upsample=upsample)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``noise`` (B or 1, 1, r, r) at this layer's output resolution."""
        out = self.conv(x, w) + self.noise_strength * noise
        return F.leaky_relu(out + self.bias[None, :, None, None], LRELU_SLOPE) * LRELU_GAIN


class ToRGB(nn.Module):
    """Modulated 1×1 conv to 3 channels without demodulation, plus bias."""

    def __init__(self, in_channels: int, latent_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, 3, 1, latent_dim, demodulate=False, upsample=False)
        self.bias = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None]


class SynthesisNetwork(nn.Module):
    """``ws`` (B, num_ws, latent_dim) + noise maps → image (B, 3, resolution, resolution)."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        c4 = config.channels(4)
        self.const = nn.Parameter(torch.randn(1, c4, 4, 4))
        layers = [SynthesisLayer(c4, c4, config.latent_dim, 4, upsample=False)]
        to_rgbs = [ToRGB(c4, config.latent_dim)]
        in_channels = c4
        for log2_res in range(3, config.log2_resolution + 1):
            res = 2**log2_res
            out_channels = config.channels(res)
            layers.append(SynthesisLayer(in_channels, out_channels, config.latent_dim, res, upsample=True))
            layers.append(SynthesisLayer(out_channels, out_channels, config.latent_dim, res, upsample=False))
            to_rgbs.append(ToRGB(out_channels, config.latent_dim))
            in_channels = out_channels
        self.layers = nn.ModuleList(layers)
        self.to_rgbs = nn.ModuleList(to_rgbs)
        self.register_buffer("fir_up", fir_filter(FIR_TAPS, gain=4.0), persistent=False)
        p = len(FIR_TAPS) - 2
        self.skip_pad = ((p + 1) // 2 + 1, p // 2)

    def forward(self, ws: torch.Tensor, noise: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """Synthesize images, approximately in [-1, 1].

        Args:
            ws: (B, num_ws, latent_dim) W+ codes (repeat one ``w`` for a W code).
            noise: ``num_layers`` maps, map ``j`` (B or 1, 1, r_j, r_j); ``None`` uses the
                stored ``noise_const`` maps (deterministic output).
        """
        if ws.ndim != 3 or ws.shape[1] != self.config.num_ws:
            raise ValueError(f"ws must be (B, {self.config.num_ws}, {self.config.latent_dim}), got {tuple(ws.shape)}")
        if noise is None:
            noise = [layer.noise_const for layer in self.layers]
        if len(noise) != len(self.layers):
            raise ValueError(f"expected {len(self.layers)} noise maps, got {len(noise)}")
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        x = self.layers[0](x, ws[:, 0], noise[0])
        image = self.to_rgbs[0](x, ws[:, 1])
        for block, to_rgb in enumerate(self.to_rgbs[1:], start=1):
            j = 2 * block - 1
            x = self.layers[j](x, ws[:, j], noise[j])
            x = self.layers[j + 1](x, ws[:, j + 1], noise[j + 1])
            image = upfirdn2d(image, self.fir_up, up=2, pad=self.skip_pad) + to_rgb(x, ws[:, j + 2])
        return image


class StyleGAN2Generator(nn.Module):
    """Mapping + synthesis network; ``forward(z)`` maps and synthesizes with the stored noise."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        self.mapping = MappingNetwork(config)
        self.synthesis = SynthesisNetwork(config)

    @property
    def device(self) -> torch.device:
        return self.synthesis.const.device

    @property
    def num_ws(self) -> int:
        return self.config.num_ws

    @property
    def resolution(self) -> int:
        return self.config.resolution

    def noise_shapes(self) -> list[tuple[int, int, int, int]]:
        """Shapes (1, 1, r_j, r_j) of the ``num_layers`` noise inputs."""
        return [tuple(layer.noise_const.shape) for layer in self.synthesis.layers]

    def make_noise(self, batch: int, rng: torch.Generator | None = None) -> list[torch.Tensor]:
        """Fresh N(0, 1) noise maps, each (batch, 1, r_j, r_j), on the generator's device."""
        return [torch.randn((batch, *shape[1:]), generator=rng, device=self.device) for shape in self.noise_shapes()]

    def broadcast_w(self, w: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim) or (B, 1, latent_dim) W codes, or (B, num_ws, latent_dim) W+ codes →
        (B, num_ws, latent_dim) (a view, no copy)."""
        if w.ndim == 2:
            w = w[:, None]
        return w.expand(-1, self.num_ws, -1)

    def forward(self, z: torch.Tensor, noise: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """``z`` (B, latent_dim) ~ N(0, I) → image (B, 3, resolution, resolution), about [-1, 1]."""
        return self.synthesis(self.broadcast_w(self.mapping(z)), noise)
