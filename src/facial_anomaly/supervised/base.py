"""The :class:`Scorer` interface, the base class of the supervised models, their shared
score head, config and registry.

Every model maps a stack of views (:mod:`.views`; ``uint8`` (N, 3·V, S, S) → float in
[0, 1]) to two outputs (Rosero et al. 2024 train the anomaly output; the severity output
is ours):

* ``anomaly_logit`` (N,): the anomaly probability is ``sigmoid(anomaly_logit)`` ∈ [0, 1];
* ``severity_logits`` (N, 4): an ordinal head (Frank & Hall 2001; Cao et al. 2020's
  CORAL targets without weight sharing): logit k−1 models P(severity ≥ k), k = 1..4,
  trained with binary cross-entropy on the targets ``severity ≥ k``. The severity
  estimate is the expected grade ``Σ_k sigmoid(logit_k)`` ∈ [0, 4] (0 = normal,
  1..4 = mild .. very severe, the grades of :mod:`facial_anomaly.synthesis`).

Config (one dict, as in ``conf/base/parameters_train_supervised.yml``): ``architecture``,
``image_size``, ``crop`` ({center_x, center_y, size}: fractions of the aligned face),
``width_mult``, ``feature_blocks``, ``pooling`` (see :class:`~.backbone.MobileNetBranch`),
``hidden_units`` (the dense layer after the embedding; paper: 256), ``dropout`` (before
the outputs), ``backbone_weights`` (null or a MobileNetV2 state dict file), plus the
architecture's own keys (``extra_keys``). Optional: ``local_contrast`` — null (absent)
feeds each view ImageNet-standardized, ``{sigma, floor}`` feeds it locally
contrast-normalised (:func:`~.backbone.local_contrast`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import ClassVar, TypeVar

import numpy as np
import torch
from torch import nn

from ..synthesis.base import SEVERITIES
from .backbone import MobileNetBranch, local_contrast, standardize_rgb
from .views import ViewSpec, prepare_views, to_unit_float, view_specs

SEVERITY_LEVELS = len(SEVERITIES) - 1  # grades 1..4 above the normal 0
COMMON_KEYS = (
    "architecture",
    "image_size",
    "crop",
    "width_mult",
    "feature_blocks",
    "pooling",
    "hidden_units",
    "dropout",
    "backbone_weights",
)
# Keys a config may leave out (older configs and checkpoints have none): name → the value
# meaning "as before".
OPTIONAL_KEYS = {"local_contrast": None}
LOCAL_CONTRAST_KEYS = ("sigma", "floor")


class Scorer(ABC):
    """Anything that scores an (original, normalized) pair of aligned faces.

    ``score(original, normalized, landmarks=None) -> (probability, severity)``:
    ``probability`` ∈ [0, 1] that the face is anomalous; ``severity`` ∈ [0, 4], the
    expected grade (higher = more severe). Images are aligned H×W×3 uint8 RGB crops of
    the same size; ``landmarks`` (478, 2|3) of the original in its pixels are needed by
    scorers that use the face's midline (``self_comparison``); scorers that do not use
    the normalized face accept None for it.
    """

    @abstractmethod
    def score_batch(
        self,
        originals: Sequence[np.ndarray],
        normalized: Sequence[np.ndarray | None],
        landmarks: Sequence[np.ndarray | None],
        *,
        batch_size: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Score many pairs: ``(probabilities (N,), severities (N,))`` float64 arrays."""

    def score(
        self, original: np.ndarray, normalized: np.ndarray | None, landmarks: np.ndarray | None = None
    ) -> tuple[float, float]:
        """Score one pair: ``(probability, severity)``."""
        probabilities, severities = self.score_batch([original], [normalized], [landmarks], batch_size=1)
        return float(probabilities[0]), float(severities[0])


@dataclass(frozen=True)
class ModelConfig:
    """A parsed, validated model config (see the module docstring); ``extra`` holds the
    architecture's own keys."""

    architecture: str
    image_size: int
    crop: dict
    width_mult: float
    feature_blocks: int
    pooling: str
    hidden_units: int
    dropout: float
    backbone_weights: str | None
    extra: dict = field(default_factory=dict)
    local_contrast: dict | None = None

    def to_dict(self) -> dict:
        """The config as the plain dict it was parsed from (JSON-serialisable). Optional keys
        are written only when they differ from "as before", so an older config (and the
        checkpoint of an older model) keeps its canonical form."""
        data = asdict(self)
        optional = {key: data[key] for key, default in OPTIONAL_KEYS.items() if data[key] != default}
        return {**{key: data[key] for key in COMMON_KEYS}, **optional, **data["extra"]}


class ScoreHead(nn.Module):
    """Embedding (N, E) → dense ``hidden_units`` + ReLU + dropout → (anomaly logit (N,),
    severity logits (N, 4))."""

    def __init__(self, in_features: int, hidden_units: int, dropout: float):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(in_features, hidden_units), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.out = nn.Linear(hidden_units, 1 + SEVERITY_LEVELS)

    def forward(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.out(self.hidden(embedding))
        return logits[:, 0], logits[:, 1:]


def probabilities_and_severities(
    anomaly_logit: torch.Tensor, severity_logits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Model outputs → (probability ∈ [0, 1], expected severity ∈ [0, 4]), each (N,)."""
    return torch.sigmoid(anomaly_logit), torch.sigmoid(severity_logits).sum(dim=1)


class SupervisedModel(nn.Module, Scorer):
    """Base of the supervised models: a :class:`Scorer` and an ``nn.Module``.

    Subclasses set ``architecture``, ``views`` (which views they stack, :data:`~.views.VIEWS`)
    and ``extra_keys``, build their branch(es) and :class:`ScoreHead` in ``__init__`` and
    implement :meth:`embed`.

    ``forward(x)``: x (N, 3·V, S, S) float in [0, 1] (or ``uint8``) → ``(anomaly_logit (N,),
    severity_logits (N, 4))``.
    """

    architecture: ClassVar[str]
    views: ClassVar[tuple[str, ...]]
    extra_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.view_specs: tuple[ViewSpec, ...] = view_specs(self.views, config.crop, config.image_size)

    def branch(self, in_channels: int) -> MobileNetBranch:
        """A MobileNetV2 branch with this config's width, modules and pooling."""
        c = self.config
        return MobileNetBranch(
            width_mult=c.width_mult, in_channels=in_channels, feature_blocks=c.feature_blocks, pooling=c.pooling
        )

    def view_input(self, view: torch.Tensor) -> torch.Tensor:
        """One view (N, 3, S, S) in [0, 1] → what a branch is fed: ImageNet-standardized, or
        locally contrast-normalised when the config sets ``local_contrast``."""
        settings = self.config.local_contrast
        return standardize_rgb(view) if settings is None else local_contrast(view, **settings)

    def branches(self) -> list[MobileNetBranch]:
        """The model's MobileNetV2 branches (for loading backbone weights)."""
        return [module for module in self.modules() if isinstance(module, MobileNetBranch)]

    def config_dict(self) -> dict:
        return self.config.to_dict()

    @abstractmethod
    def embed(self, x: torch.Tensor, tap: int | None) -> tuple[torch.Tensor, list[tuple[torch.Tensor, int]]]:
        """x (N, 3·V, S, S) in [0, 1] → (embedding (N, E), maps).

        With ``tap`` (1..feature_blocks) the maps are the branch activations after that
        many MobileNetV2 modules, each as (tensor (N, C, h, w), index of the view in
        :attr:`view_specs` whose pixel grid it covers); without, an empty list.
        """

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding, _ = self.embed(to_unit_float(x), None)
        return self.head(embedding)

    def forward_with_maps(
        self, x: torch.Tensor, tap: int
    ) -> tuple[torch.Tensor, torch.Tensor, list[tuple[torch.Tensor, int]]]:
        """As ``forward``, plus the activations at ``tap`` (see :meth:`embed`; for Grad-CAM)."""
        if not 1 <= tap <= self.config.feature_blocks:
            raise ValueError(
                f"tap must be in 1..{self.config.feature_blocks} (the kept MobileNetV2 modules), got {tap}"
            )
        embedding, maps = self.embed(to_unit_float(x), tap)
        anomaly_logit, severity_logits = self.head(embedding)
        return anomaly_logit, severity_logits, maps

    # ------------------------------------------------------------------ scoring

    def prepare(self, original: np.ndarray, normalized: np.ndarray | None, landmarks: np.ndarray | None) -> np.ndarray:
        """One pair as this model's input: ``uint8`` (3·V, S, S) (:func:`~.views.prepare_views`)."""
        return prepare_views(self.view_specs, original, normalized, landmarks)

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, *, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Prepared inputs (N, 3·V, S, S) (``uint8`` or float in [0, 1], any device) →
        ``(probabilities (N,), severities (N,))`` float64, computed in eval mode on the
        model's device in batches (the training mode is restored afterwards)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        device = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            outputs = [
                probabilities_and_severities(*self(inputs[start : start + batch_size].to(device)))
                for start in range(0, len(inputs), batch_size)
            ]
        finally:
            self.train(was_training)
        if not outputs:
            return np.zeros(0), np.zeros(0)
        return tuple(torch.cat([output[i] for output in outputs]).double().cpu().numpy() for i in range(2))

    def score_batch(self, originals, normalized, landmarks, *, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        if not len(originals) == len(normalized) == len(landmarks):
            raise ValueError(
                f"need as many normalized faces and landmark arrays as originals: "
                f"{len(originals)}, {len(normalized)}, {len(landmarks)}"
            )
        inputs = (
            np.stack([self.prepare(*pair) for pair in zip(originals, normalized, landmarks)])
            if len(originals)
            else np.zeros((0, 1, 1, 1), np.uint8)
        )
        return self.predict(torch.from_numpy(inputs), batch_size=batch_size)


# ---------------------------------------------------------------------- config and registry

M = TypeVar("M", bound=type)
_ARCHITECTURES: dict[str, type[SupervisedModel]] = {}


def register_architecture(cls: M) -> M:
    """Class decorator: make a model available to :func:`build_model` under ``cls.architecture``."""
    if _ARCHITECTURES.get(cls.architecture, cls) is not cls:
        raise ValueError(f"a supervised model named {cls.architecture!r} is already registered")
    _ARCHITECTURES[cls.architecture] = cls
    return cls


def _import_builtin_models() -> None:
    from . import self_comparison, siamese, single_branch, texture  # noqa: F401  (they register themselves)


def architectures() -> tuple[str, ...]:
    """Names accepted as ``architecture``."""
    _import_builtin_models()
    return tuple(sorted(_ARCHITECTURES))


def _positive(name: str, cast: Callable) -> Callable:
    def convert(value):
        if isinstance(value, bool) or cast(value) != value or cast(value) <= 0:
            raise ValueError(f"{name} must be a positive {cast.__name__}, got {value!r}")
        return cast(value)

    return convert


def _local_contrast(value) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != set(LOCAL_CONTRAST_KEYS):
        raise ValueError(
            f"local_contrast must be null or a mapping with keys {list(LOCAL_CONTRAST_KEYS)}, got {value!r}"
        )
    sigma, floor = float(value["sigma"]), float(value["floor"])
    if not 0.0 < sigma < 0.5 or not floor > 0.0:
        raise ValueError(
            f"local_contrast needs 0 < sigma < 0.5 (fraction of the input side) and floor > 0, got {dict(value)}"
        )
    return {"sigma": sigma, "floor": floor}


def parse_config(config: Mapping) -> tuple[type[SupervisedModel], ModelConfig]:
    """Validate a model config dict; returns the model class and the parsed config.

    Raises:
        ValueError: unknown architecture, missing or unknown keys, or invalid values
            (each message names the key).
    """
    _import_builtin_models()
    if not isinstance(config, Mapping) or "architecture" not in config:
        raise ValueError(
            f"a model config needs an 'architecture' (one of {sorted(_ARCHITECTURES)}), got {config!r:.200}"
        )
    name = config["architecture"]
    if name not in _ARCHITECTURES:
        raise ValueError(f"unknown supervised architecture {name!r}; available: {sorted(_ARCHITECTURES)}")
    cls = _ARCHITECTURES[name]
    expected = set(COMMON_KEYS) | set(cls.extra_keys)
    given = set(config) - set(OPTIONAL_KEYS)
    if given != expected:
        raise ValueError(
            f"{name} config: missing keys {sorted(expected - given)}, unknown keys {sorted(given - expected)}"
        )
    dropout = float(config["dropout"])
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {config['dropout']!r}")
    weights = config["backbone_weights"]
    if weights is not None and not isinstance(weights, str):
        raise ValueError(f"backbone_weights must be null or a file path, got {weights!r}")
    parsed = ModelConfig(
        architecture=name,
        image_size=_positive("image_size", int)(config["image_size"]),
        crop=dict(config["crop"]),
        width_mult=_positive("width_mult", float)(config["width_mult"]),
        feature_blocks=_positive("feature_blocks", int)(config["feature_blocks"]),
        pooling=str(config["pooling"]),
        hidden_units=_positive("hidden_units", int)(config["hidden_units"]),
        dropout=dropout,
        backbone_weights=weights,
        extra={key: config[key] for key in cls.extra_keys},
        local_contrast=_local_contrast(config.get("local_contrast", OPTIONAL_KEYS["local_contrast"])),
    )
    view_specs(cls.views, parsed.crop, parsed.image_size)  # validates crop and size
    return cls, parsed


def build_model(config: Mapping, *, load_backbone_weights: bool) -> SupervisedModel:
    """A freshly initialised model of ``config`` (on the CPU, train mode).

    Args:
        config: model config dict (see the module docstring).
        load_backbone_weights: initialise the MobileNetV2 branches from
            ``config["backbone_weights"]`` when that is set (True to start training;
            False when the weights come from a checkpoint anyway).

    Raises:
        ValueError: invalid config, or backbone weights that do not fit.
        FileNotFoundError: the backbone weights file does not exist.
    """
    cls, parsed = parse_config(config)
    model = cls(parsed)
    if load_backbone_weights and parsed.backbone_weights is not None:
        for branch in model.branches():
            branch.load_pretrained(parsed.backbone_weights)
    return model


def normalized_config(config: Mapping) -> dict:
    """``config`` validated and in canonical form (for comparing configs)."""
    return parse_config(config)[1].to_dict()
