"""What the reconstruction models share: their interface, config checks, the DCGAN
weight initialisation, input checks and the finite-score guarantee, and a registry of
architectures so that a config dict (``architecture: ganomaly | autoencoder``) builds
the right model (:func:`build_model`).

Tensor conventions: images are (N, 3, S, S) float32 in [-1, 1] (see :mod:`.data`),
scores are (N,) float32, ≥ 0 and finite, larger = more anomalous.
"""

from __future__ import annotations

import dataclasses
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from .data import CHANNELS, CropSpec, faces_to_tensor

# DCGAN initialisation (Radford et al. 2016), as in the GANomaly reference ``weights_init``.
INIT_STD = 0.02
# Largest score reported: non-finite scores (a diverged model) are replaced by it.
SCORE_CEILING = 1.0e6
# Input values may exceed [-1, 1] by this much (float rounding) before they are rejected.
RANGE_TOLERANCE = 1.0e-3

C = TypeVar("C")


def config_from_dict(cls: type[C], data: Mapping, converters: Mapping[str, Callable] | None = None) -> C:
    """A dataclass instance from a mapping with exactly the dataclass's fields.

    Args:
        cls: the dataclass.
        data: field name → value (e.g. a YAML block).
        converters: optional field name → function applied to the raw value.

    Raises:
        ValueError: naming missing and unknown keys.
    """
    names = [field.name for field in dataclasses.fields(cls)]
    missing = [name for name in names if name not in data]
    unknown = [key for key in data if key not in names]
    if missing or unknown:
        raise ValueError(f"{cls.__name__}: missing keys {missing}, unknown keys {unknown} (expected {names})")
    converters = converters or {}
    return cls(**{name: converters.get(name, lambda value: value)(data[name]) for name in names})


def check_geometry(image_size: int, latent_size: int, base_channels: int, extra_layers: int) -> None:
    """Validate the size fields every DCGAN-style model shares.

    Raises:
        ValueError: image size not a positive multiple of 16, or a non-positive width.
    """
    if image_size < 16 or image_size % 16:
        raise ValueError(f"image_size must be a positive multiple of 16 (DCGAN encoder), got {image_size}")
    if latent_size < 1 or base_channels < 1 or extra_layers < 0:
        raise ValueError(
            f"need latent_size ≥ 1, base_channels ≥ 1, extra_layers ≥ 0; got {latent_size}, {base_channels}, {extra_layers}"
        )


def dcgan_init(module: nn.Module) -> None:
    """``module.apply`` hook: conv weights ~ N(0, 0.02); batch-norm scale ~ N(1, 0.02), shift 0.

    Uses torch's global RNG (seeded by the training loop)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, INIT_STD)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, INIT_STD)
        nn.init.zeros_(module.bias)


def check_images(images: torch.Tensor, image_size: int) -> None:
    """Raise ``ValueError`` unless ``images`` is (N, 3, S, S), floating, finite and in [-1, 1]."""
    expected = (CHANNELS, image_size, image_size)
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or tuple(images.shape[1:]) != expected:
        raise ValueError(
            f"expected images of shape (N, {CHANNELS}, {image_size}, {image_size}), got {getattr(images, 'shape', images)!r}"
        )
    if images.shape[0] == 0:
        raise ValueError("no images given")
    if not images.is_floating_point():
        raise ValueError(f"images must be floating point in [-1, 1], got {images.dtype}")
    if not bool(torch.isfinite(images).all()):
        raise ValueError("images contain NaN or infinite values")
    low, high = float(images.min()), float(images.max())
    if low < -1.0 - RANGE_TOLERANCE or high > 1.0 + RANGE_TOLERANCE:
        raise ValueError(
            f"images must lie in [-1, 1] (see facial_anomaly.normalizers.reconstruction.data), got [{low:.3g}, {high:.3g}]"
        )


def finite_scores(scores: torch.Tensor) -> torch.Tensor:
    """(N,) scores with NaN/±inf replaced (NaN, +inf → :data:`SCORE_CEILING`; −inf → 0) and
    clamped to [0, SCORE_CEILING]; warns when something had to be replaced."""
    if not bool(torch.isfinite(scores).all()):
        warnings.warn(
            "non-finite anomaly scores (diverged model?) were replaced by the score ceiling",
            RuntimeWarning,
            stacklevel=3,
        )
    cleaned = torch.nan_to_num(scores.float(), nan=SCORE_CEILING, posinf=SCORE_CEILING, neginf=0.0)
    return cleaned.clamp(0.0, SCORE_CEILING)


class ReconstructionModel(nn.Module, ABC):
    """A model trained on normal faces that reconstructs a face and scores its anomaly.

    Subclasses set ``architecture`` (the config name) and ``config_class`` (a dataclass
    with ``image_size`` and ``crop`` fields, ``from_dict`` and ``to_dict``), are
    constructed from such a config (kept as ``config``) and implement the methods
    below. The training loop (:mod:`.training`) only uses this interface.
    """

    architecture: str
    config_class: type
    config: object

    @property
    def image_size(self) -> int:
        return int(self.config.image_size)

    @property
    def crop(self) -> CropSpec:
        return self.config.crop

    def config_dict(self) -> dict:
        """JSON-able config including ``architecture`` (what :func:`build_model` takes)."""
        return {"architecture": self.architecture, **self.config.to_dict()}

    @abstractmethod
    def _reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) in [-1, 1] → reconstruction of the same shape and range (no checks)."""

    @abstractmethod
    def _raw_scores(self, images: torch.Tensor) -> torch.Tensor:
        """(N,) anomaly scores of checked inputs, before the finite guarantee."""

    @contextmanager
    def _inference(self, images: torch.Tensor) -> Iterator[None]:
        """Check ``images``, then run the block in eval mode without gradients."""
        check_images(images, self.image_size)
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.train(was_training)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) in [-1, 1] → reconstruction, same shape, in [-1, 1] (eval mode, no gradients).

        Raises:
            ValueError: for wrongly shaped, non-finite or out-of-range inputs.
        """
        with self._inference(images):
            return self._reconstruct(images)

    def anomaly_score(self, images: torch.Tensor) -> torch.Tensor:
        """(N,) float32 anomaly scores (≥ 0, finite, larger = more anomalous) of
        (N, 3, S, S) images in [-1, 1], computed in eval mode without gradients.

        Raises:
            ValueError: for wrongly shaped, non-finite or out-of-range inputs.
        """
        with self._inference(images):
            return finite_scores(self._raw_scores(images))

    @abstractmethod
    def optimizer_groups(self) -> dict[str, Iterable[nn.Parameter]]:
        """Optimizer name → parameters; the training loop makes one Adam per entry."""

    @abstractmethod
    def train_step(
        self, images: torch.Tensor, optimizers: Mapping[str, torch.optim.Optimizer]
    ) -> dict[str, torch.Tensor]:
        """One optimisation step on a batch (N, 3, S, S) in [-1, 1] (model in train mode).

        Returns:
            loss name → detached scalar tensor (the batch mean), e.g. ``generator``, ``con``.
        """


def model_inputs(model: ReconstructionModel, images: Sequence[np.ndarray] | torch.Tensor) -> torch.Tensor:
    """Aligned faces (H×W×3 uint8 each) through the model's data path, or an already
    prepared (N, 3, S, S) tensor in [-1, 1] (checked): a float32 CPU tensor (N, 3, S, S)."""
    if isinstance(images, torch.Tensor):
        check_images(images, model.image_size)
        return images.detach().float().cpu()
    return faces_to_tensor(images, model.crop, model.image_size)


def map_batches(
    function: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, batch_size: int, device: torch.device
) -> torch.Tensor:
    """``function`` applied to ``images`` (N, ...) in batches of ``batch_size`` moved to
    ``device``; the outputs concatenated along dim 0 on the CPU."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    return torch.cat([function(images[i : i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)])


_ARCHITECTURES: dict[str, type[ReconstructionModel]] = {}
M = TypeVar("M", bound=type)


def register_architecture(cls: M) -> M:
    """Class decorator: make ``cls`` buildable by :func:`build_model` under ``cls.architecture``."""
    if _ARCHITECTURES.get(cls.architecture, cls) is not cls:
        raise ValueError(f"architecture {cls.architecture!r} is already registered")
    _ARCHITECTURES[cls.architecture] = cls
    return cls


def architectures() -> tuple[str, ...]:
    """Names accepted as ``architecture`` in a model config."""
    from . import autoencoder, ganomaly  # noqa: F401  (they register themselves)

    return tuple(sorted(_ARCHITECTURES))


def parse_config(config: Mapping) -> tuple[type[ReconstructionModel], object]:
    """The architecture class and its parsed config dataclass for a config dict.

    Raises:
        ValueError: unknown or missing architecture, or missing/unknown/invalid config keys.
    """
    if not isinstance(config, Mapping) or "architecture" not in config:
        raise ValueError(f"model config needs an 'architecture' ({list(architectures())}), got {config!r:.200}")
    name = config["architecture"]
    if name not in architectures():
        raise ValueError(f"unknown architecture {name!r}; available: {list(architectures())}")
    cls = _ARCHITECTURES[name]
    return cls, cls.config_class.from_dict({key: value for key, value in config.items() if key != "architecture"})


def build_model(config: Mapping) -> ReconstructionModel:
    """A freshly initialised model (CPU, train mode) from a config dict with ``architecture``.

    Weights come from torch's global RNG: call ``torch.manual_seed`` first for
    reproducible models.

    Raises:
        ValueError: see :func:`parse_config`.
    """
    cls, parsed = parse_config(config)
    return cls(parsed)


def normalized_config(config: Mapping) -> dict:
    """``config`` parsed and written back (types and key order fixed), for comparisons."""
    cls, parsed = parse_config(config)
    return {"architecture": cls.architecture, **parsed.to_dict()}
