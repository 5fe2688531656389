"""The StyleGAN2 normalizer of Hayajneh et al. 2022: inversion (Algorithm 1), then
adaptation (Algorithm 2), registered as ``"stylegan2"``.

Faces (uint8 RGB, the aligned size, e.g. 512×512) are resized to the generator's
resolution (area averaging down, bilinear up), inverted in batches of ``batch_size``,
adapted one by one, and the generator's images are resized back to each face's size.
All tensors live on one device: ``device: auto`` picks CUDA when torch sees a GPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ...devices import resolve_device
from ..base import NormalizedFace, Normalizer, register, validate_face
from .adaptation import AdaptationConfig, adapt
from .checkpoint import load_generator
from .generator import GeneratorConfig, StyleGAN2Generator
from .imaging import images_to_tensor, mask_to_tensor, tensor_to_image
from .inversion import InversionConfig, invert
from .losses import PerceptualConfig, build_lpips


@dataclass
class StyleGAN2Normalization:
    """Everything the StyleGAN2 normalizer finds for one face.

    ``image``: the normalized face, H×W×3 uint8 RGB at the input size (generator output
    after ``adaptation.output_step`` steps); ``snapshots``: adaptation step → image (same
    format); ``reconstruction_step``: steps until the masked region is reconstructed
    (``None`` without a mask or when not reached); ``region_heat``: (steps + 1,) float32
    mean heat inside the mask per step, or ``None``; ``w``: (num_ws, latent_dim) float32
    inverted code; ``inversion_loss``: perceptual loss at the last inversion step;
    ``inversion_losses`` / ``noise_losses``: (inversion steps,) per-step perceptual loss
    and noise regulariser; ``adaptation_losses``: (adaptation steps,) per-step loss.
    """

    image: np.ndarray
    snapshots: dict[int, np.ndarray]
    reconstruction_step: int | None
    region_heat: np.ndarray | None
    w: np.ndarray
    inversion_loss: float
    inversion_losses: np.ndarray
    noise_losses: np.ndarray
    adaptation_losses: np.ndarray


@register
class StyleGAN2Normalizer(Normalizer):
    """Normalize faces by projecting them onto a StyleGAN2 face generator.

    Constructed from one preset of ``conf/base/parameters_stylegan2.yml`` (keyword
    arguments = its keys), or from ready modules with :meth:`from_modules`.

    Args:
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        checkpoint: generator weights (see :mod:`.checkpoint` for formats and where to
            get them); ``None`` to use ``random_generator`` instead.
        random_generator: ``None``, or generator config fields plus ``seed`` for a randomly
            initialised generator (pipeline smoke tests only: the output is meaningless).
        perceptual: ``{net: vgg|alex|squeeze, pretrained_backbone: bool}`` for LPIPS.
        batch_size: faces inverted together.
        inversion, adaptation: the blocks read by :class:`InversionConfig` and :class:`AdaptationConfig`.
    """

    name = "stylegan2"

    def __init__(
        self,
        *,
        device: str,
        checkpoint: str | None,
        random_generator: Mapping | None,
        perceptual: Mapping,
        batch_size: int,
        inversion: Mapping,
        adaptation: Mapping,
    ):
        # Check every setting before loading anything heavy.
        resolved = resolve_device(device)
        inversion_settings = InversionConfig.from_dict(inversion)
        adaptation_settings = AdaptationConfig.from_dict(adaptation)
        lpips_settings = PerceptualConfig.from_dict(perceptual)
        if (checkpoint is None) == (random_generator is None):
            raise ValueError("set exactly one of 'checkpoint' and 'random_generator'")
        if random_generator is not None and "seed" not in random_generator:
            raise ValueError("random_generator needs a 'seed' besides the generator config fields")
        lpips_model = build_lpips(lpips_settings.net, lpips_settings.pretrained_backbone)
        if checkpoint is not None:
            generator = load_generator(checkpoint, resolved)
        else:
            fields = {key: value for key, value in random_generator.items() if key != "seed"}
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(random_generator["seed"]))
                generator = StyleGAN2Generator(GeneratorConfig.from_dict(fields)).eval().to(resolved)
        self._attach(generator, lpips_model, inversion_settings, adaptation_settings, int(batch_size), resolved)

    @classmethod
    def from_modules(
        cls,
        generator: StyleGAN2Generator,
        perceptual: nn.Module,
        *,
        inversion: InversionConfig,
        adaptation: AdaptationConfig,
        batch_size: int,
        device: str | torch.device,
    ) -> "StyleGAN2Normalizer":
        """Use a generator and an eval-mode perceptual loss built elsewhere (tests, notebooks).
        Both are moved to ``device`` (``auto`` allowed)."""
        self = cls.__new__(cls)
        self._attach(generator, perceptual, inversion, adaptation, batch_size, resolve_device(str(device)))
        return self

    def _attach(
        self,
        generator: StyleGAN2Generator,
        perceptual: nn.Module,
        inversion: InversionConfig,
        adaptation: AdaptationConfig,
        batch_size: int,
        device: torch.device,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        self.device = device
        self.generator = generator.to(device)
        self.perceptual = perceptual.to(device)
        self.inversion = inversion
        self.adaptation = adaptation
        self.batch_size = batch_size

    def normalize(self, face: np.ndarray, landmarks: np.ndarray, mask: np.ndarray | None = None) -> NormalizedFace:
        """The normalized face (``Normalizer`` interface); ``mask`` is the anomaly region
        whose reconstruction is tracked (see :meth:`normalize_batch` for everything else)."""
        validate_face(face, landmarks, mask)
        return NormalizedFace(image=self.normalize_batch([face], None if mask is None else [mask])[0].image)

    def normalize_batch(
        self, faces: Sequence[np.ndarray], masks: Sequence[np.ndarray | None] | None = None
    ) -> list[StyleGAN2Normalization]:
        """Normalize several faces (inverted ``batch_size`` at a time).

        Args:
            faces: H×W×3 uint8 RGB images (aligned crops; sizes may differ).
            masks: per face an H×W anomaly-region mask in [0, 1] (or ``None``), or ``None``.
        """
        if masks is not None and len(masks) != len(faces):
            raise ValueError(f"{len(faces)} faces but {len(masks)} masks")
        resolution = self.generator.resolution
        results = []
        for start in range(0, len(faces), self.batch_size):
            chunk = faces[start : start + self.batch_size]
            targets = images_to_tensor(chunk, resolution, self.device)
            inverted = invert(self.generator, targets, self.perceptual, self.inversion)
            for i, face in enumerate(chunk):
                mask = None if masks is None else masks[start + i]
                adapted = adapt(
                    self.generator,
                    inverted.w[i : i + 1],
                    [level[i : i + 1] for level in inverted.noise],
                    targets[i : i + 1],
                    self.perceptual,
                    self.adaptation,
                    None if mask is None else mask_to_tensor(mask, resolution, self.device),
                )
                height, width = face.shape[:2]
                results.append(
                    StyleGAN2Normalization(
                        image=tensor_to_image(adapted.output, height, width),
                        snapshots={step: tensor_to_image(x, height, width) for step, x in adapted.snapshots.items()},
                        reconstruction_step=adapted.reconstruction_step,
                        region_heat=None
                        if adapted.region_heat is None
                        else adapted.region_heat.numpy().astype(np.float32),
                        w=inverted.w[i].cpu().numpy().astype(np.float32),
                        inversion_loss=float(inverted.perceptual_loss[-1, i]),
                        inversion_losses=inverted.perceptual_loss[:, i].numpy().astype(np.float32),
                        noise_losses=inverted.noise_loss[:, i].numpy().astype(np.float32),
                        adaptation_losses=adapted.loss.detach().cpu().numpy().astype(np.float32),
                    )
                )
        return results
