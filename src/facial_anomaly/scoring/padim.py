"""PaDiM: a Gaussian of pretrained features at every location of the aligned face, fitted on
normal faces; the anomaly map is the Mahalanobis distance (Defard, Setkov, Loesch & Audigier
2021, "PaDiM: a Patch Distribution Modeling Framework for Anomaly Detection and
Localization", ICPR workshops, LNCS 12664: 475–489).

Features: the EfficientNet-Lite0 taps of :mod:`facial_anomaly.features` (default blocks 2,
4, 10: strides 4, 8, 16; 176 channels) of the lower-face crop, brought to one grid of
``grid_stride`` input pixels per location (finer taps average-pooled, coarser ones resized
bilinearly) and concatenated; as in the paper a fixed random subset of ``channels`` of
them is kept (seeded). Per location ``x`` of the G × G grid, the normal faces' features
give a mean ``μ_x`` and a covariance ``Σ_x``, shrunk towards ``(tr Σ_x / d)·I`` with the
Ledoit–Wolf coefficient (Ledoit & Wolf 2004, "A well-conditioned estimator for
large-dimensional covariance matrices", J. Multivariate Anal. 88: 365–411; the paper adds
0.01·I instead, available as ``shrinkage: fixed``). A face's map is

    M(x) = sqrt((f_x − μ_x)ᵀ Σ_x⁻¹ (f_x − μ_x)),

carried back onto the aligned face (bilinear, 0 outside the crop), and its image score is a
summary of the map over a region (``max``, ``topk`` mean or ``mean``).

With the backbone's ``mirror_average`` and ``mirror_augment`` (every normal face also enters
mirrored — free, since the mirrored face's features are the mirrored features) the model
is mirror-symmetric and a face and its mirror image get the same score.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from ..config import Config
from ..features.backbone import BackboneConfig, FaceFeatures, cached_features, feature_extractor
from ..heatmaps.regions import REGIONS, region_mask
from ..provenance import model_provenance
from .model_files import load_model_file, save_model_file
from .scores import DEFAULT_TOP_K_FRACTION, top_k_mean

MODEL_KIND = "padim"
SCHEMA_VERSION = 1
_LOCATION_CHUNK = 64  # locations per batched covariance computation (memory ~ chunk · d² · 8 B × 3)


class PadimConfig(Config):
    """PaDiM settings (``fit_normal_models.padim``)."""

    backbone: BackboneConfig = Field(default_factory=BackboneConfig, description="taps, input size, crop, device")
    grid_stride: int = Field(8, ge=4, le=32, description="input pixels per Gaussian location (a power of 2)")
    channels: int = Field(100, ge=0, description="random channel subset kept (0 = all)")
    channel_seed: int = Field(0, description="seed of the channel subset")
    shrinkage: Literal["ledoit_wolf", "fixed"] = Field(
        "ledoit_wolf", description="ledoit_wolf (data-driven) | fixed (Σ + fixed_epsilon·I, the paper's)"
    )
    fixed_epsilon: float = Field(0.01, gt=0.0, description="ridge of the fixed shrinkage")
    mirror_augment: bool = Field(True, description="fit on every normal face and its mirror image")
    region: str = Field("mouth_nose", description="region of the image score (facial_anomaly.heatmaps.REGIONS)")
    region_params: dict = Field(default_factory=lambda: {"margin_iod": 0.15}, description="the region's parameters")
    summary: Literal["max", "topk", "mean"] = Field("topk", description="image score over the region")
    top_k_fraction: float = Field(DEFAULT_TOP_K_FRACTION, gt=0.0, le=1.0, description="share of pixels of topk")

    @model_validator(mode="after")
    def _consistent(self) -> "PadimConfig":
        stride = self.grid_stride
        if stride & (stride - 1):
            raise ValueError(f"grid_stride must be a power of 2, got {stride}")
        if self.backbone.input_size % stride:
            raise ValueError(f"grid_stride {stride} does not divide the input size {self.backbone.input_size}")
        total = sum(self.backbone.channels)
        if self.channels > total:
            raise ValueError(
                f"channels {self.channels} exceeds the {total} channels of taps {list(self.backbone.taps)}"
            )
        if self.region not in REGIONS:
            raise ValueError(f"unknown region {self.region!r}; valid: {list(REGIONS)}")
        return self

    @property
    def grid(self) -> int:
        """Locations per side of the Gaussian grid."""
        return self.backbone.input_size // self.grid_stride

    def channel_index(self) -> np.ndarray:
        """The kept channels of the concatenated taps, sorted, (d,) int64."""
        total = sum(self.backbone.channels)
        if self.channels in (0, total):
            return np.arange(total)
        return np.sort(np.random.default_rng(self.channel_seed).choice(total, size=self.channels, replace=False))


def grid_features(features: FaceFeatures, config: PadimConfig) -> np.ndarray:
    """The taps of N faces on the Gaussian grid, selected channels: (N, G, G, d) float32.

    Finer taps are averaged over blocks of cells, coarser ones resized bilinearly
    (half-pixel centres, as the rest of the project).
    """
    import torch
    import torch.nn.functional as F

    grid = config.grid
    parts = []
    for maps in features.maps:
        n, channels, height, _ = maps.shape
        if height > grid:
            factor = height // grid
            maps = maps.reshape(n, channels, grid, factor, grid, factor).mean(axis=(3, 5))
        elif height < grid:
            # a copy: shared features are read-only, which torch.from_numpy warns about
            resized = F.interpolate(torch.tensor(maps), size=(grid, grid), mode="bilinear", align_corners=False)
            maps = resized.numpy()
        parts.append(maps)
    stacked = np.concatenate(parts, axis=1)[:, config.channel_index()]
    return np.ascontiguousarray(stacked.transpose(0, 2, 3, 1), dtype=np.float32)


def ledoit_wolf(centred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ledoit–Wolf shrunk covariances of a batch of centred samples.

    Args:
        centred: (L, n, d) float64, each of the L sample sets centred on its mean.

    Returns:
        ``(covariances (L, d, d), shrinkage (L,))``, equal to
        ``sklearn.covariance.ledoit_wolf(x, assume_centered=True)`` per location.
    """
    _, n, d = centred.shape
    covariance = np.einsum("lni,lnj->lij", centred, centred) / n
    squared = centred**2
    trace = np.einsum("lii->l", covariance)
    mu = trace / d
    beta_sum = np.einsum("lni,lnj->l", squared, squared)  # Σ_ij (X²ᵀX²)_ij
    delta_sum = np.einsum("lij,lij->l", covariance, covariance)  # ‖S‖²_F = Σ (XᵀX)² / n²
    beta = (beta_sum / n - delta_sum) / (d * n)
    delta = (delta_sum - 2.0 * mu * trace + d * mu**2) / d
    beta = np.minimum(beta, delta)
    shrinkage = np.where(delta > 0, beta / np.where(delta > 0, delta, 1.0), 0.0)
    shrunk = (1.0 - shrinkage)[:, None, None] * covariance
    shrunk[:, np.arange(d), np.arange(d)] += (shrinkage * mu)[:, None]
    return shrunk, shrinkage


class PadimScorer:
    """A fitted PaDiM model: ``mean`` (G, G, d) float32, ``precision`` (G, G, d, d) float32
    (inverse shrunk covariances), ``config``, ``provenance``."""

    def __init__(self, mean: np.ndarray, precision: np.ndarray, config: PadimConfig, provenance: dict):
        grid, d = config.grid, len(config.channel_index())
        if mean.shape != (grid, grid, d) or precision.shape != (grid, grid, d, d):
            raise ValueError(
                f"PaDiM arrays {mean.shape} / {precision.shape} do not fit a {grid}×{grid} grid of {d} channels"
            )
        self.mean = mean.astype(np.float32)
        self.precision = precision.astype(np.float32)
        self.config = config
        self.provenance = dict(provenance)

    # ------------------------------------------------------------------ fitting

    @classmethod
    def fit(
        cls,
        faces: Iterable[np.ndarray],
        landmarks: Iterable[np.ndarray],
        config: PadimConfig | None = None,
        *,
        training_data: str = "unspecified",
    ) -> "PadimScorer":
        """Fit on normal aligned faces (H×W×3 uint8) and their (478, 2|3) landmarks.

        Raises:
            ValueError: fewer than 2 faces, or counts that differ.
        """
        config = config or PadimConfig()
        extractor = feature_extractor(config.backbone)
        batch: list[tuple[np.ndarray, np.ndarray]] = []
        grids: list[np.ndarray] = []
        faces, landmarks = list(faces), list(landmarks)
        if len(faces) != len(landmarks):
            raise ValueError(f"{len(faces)} faces but {len(landmarks)} landmark arrays")
        for face, points in zip(faces, landmarks):
            batch.append((face, points))
            if len(batch) == config.backbone.batch_size:
                grids.append(grid_features(extractor.features(*zip(*batch)), config))
                batch = []
        if batch:
            grids.append(grid_features(extractor.features(*zip(*batch)), config))
        return cls.fit_grid_features(
            np.concatenate(grids) if grids else np.zeros((0,)), config, training_data=training_data
        )

    @classmethod
    def fit_grid_features(
        cls, features: np.ndarray, config: PadimConfig, *, training_data: str = "unspecified"
    ) -> "PadimScorer":
        """Fit on precomputed grid features (N, G, G, d) of normal faces (:func:`grid_features`)."""
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 4 or len(features) < 2:
            raise ValueError(f"PaDiM needs grid features of at least 2 normal faces, got shape {features.shape}")
        faces = len(features)
        if config.mirror_augment:
            features = np.concatenate([features, features[:, :, ::-1]])
        n, grid, _, d = features.shape
        samples = features.reshape(n, grid * grid, d).transpose(1, 0, 2)  # (L, n, d)
        mean = samples.mean(axis=1, dtype=np.float64)
        precision = np.empty((grid * grid, d, d), np.float32)
        shrinkages = []
        for start in range(0, grid * grid, _LOCATION_CHUNK):
            chunk = (
                samples[start : start + _LOCATION_CHUNK].astype(np.float64)
                - mean[start : start + _LOCATION_CHUNK, None]
            )
            if config.shrinkage == "ledoit_wolf":
                covariance, shrinkage = ledoit_wolf(chunk)
                shrinkages.append(shrinkage)
            else:
                covariance = np.einsum("lni,lnj->lij", chunk, chunk) / max(n - 1, 1)
                covariance[:, np.arange(d), np.arange(d)] += config.fixed_epsilon
            precision[start : start + _LOCATION_CHUNK] = np.linalg.inv(covariance)
        provenance = model_provenance(
            MODEL_KIND,
            schema_version=SCHEMA_VERSION,
            params={
                **config.model_dump(mode="json"),
                "faces": faces,
                "median_shrinkage": float(np.median(np.concatenate(shrinkages))) if shrinkages else None,
            },
            training_data=training_data,
            uses_landmarks=True,
        )
        return cls(
            mean.reshape(grid, grid, d).astype(np.float32), precision.reshape(grid, grid, d, d), config, provenance
        )

    # ------------------------------------------------------------------ scoring

    def distance_grid(self, features: np.ndarray) -> np.ndarray:
        """Mahalanobis distances (N, G, G) float32 of grid features (N, G, G, d)."""
        difference = np.asarray(features, dtype=np.float32) - self.mean
        squared = np.einsum("nxyi,xyij,nxyj->nxy", difference, self.precision, difference, optimize=True)
        return np.sqrt(np.maximum(squared, 0.0)).astype(np.float32)

    def score_map(self, face: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The anomaly map of one aligned face: H×W float32 ≥ 0 (Mahalanobis distance, 0
        outside the crop)."""
        features = cached_features(face, landmarks, self.config.backbone)
        distances = self.distance_grid(grid_features(features, self.config))[0]
        heat, _ = features.crops[0].to_face(distances, face.shape)
        return heat

    def score(self, face: np.ndarray, landmarks: np.ndarray, *, heat: np.ndarray | None = None) -> float:
        """The image score: :attr:`config` ``summary`` of the map over ``region`` ∩ the crop.

        Raises:
            ValueError: the region and the crop do not overlap.
        """
        heat = self.score_map(face, landmarks) if heat is None else heat
        return self.summarise(heat, landmarks, face.shape)

    def summarise(self, heat: np.ndarray, landmarks: np.ndarray, face_shape: tuple[int, ...]) -> float:
        """The image score of a map from :meth:`score_map`."""
        crop = self.config.backbone.crop_of(landmarks, face_shape)
        mask = region_mask(landmarks, face_shape, self.config.region, **self.config.region_params) & crop.inside(
            face_shape
        )
        if not mask.any():
            raise ValueError(f"the region {self.config.region!r} does not overlap the {self.config.backbone.crop} crop")
        values = heat[mask]
        if self.config.summary == "max":
            return float(values.max())
        if self.config.summary == "mean":
            return float(values.mean())
        return top_k_mean(values, fraction=self.config.top_k_fraction)

    # ------------------------------------------------------------------ files

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model as ``.npz`` (``mean``, ``precision``, ``channel_index``) with its
        configuration and provenance."""
        arrays = {"mean": self.mean, "precision": self.precision, "channel_index": self.config.channel_index()}
        record = {"config": self.config.model_dump(mode="json"), "provenance": self.provenance}
        return save_model_file(path, arrays, record)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "PadimScorer":
        """Read :meth:`save`'s file.

        Raises:
            FileNotFoundError; facial_anomaly.provenance.ModelMismatch: another kind of
            model or schema, or arrays that do not fit the stored configuration.
        """
        from ..provenance import ModelMismatch

        arrays, record = load_model_file(path, kind=MODEL_KIND, schema_version=SCHEMA_VERSION)
        config = PadimConfig.model_validate(record["config"])
        if not np.array_equal(arrays.get("channel_index"), config.channel_index()):
            raise ModelMismatch(f"{path}: the stored channel subset does not match its configuration")
        try:
            return cls(arrays["mean"], arrays["precision"], config, record["provenance"])
        except (KeyError, ValueError) as error:
            raise ModelMismatch(f"{path}: {error}") from error


def features_for_padim(faces: Sequence[np.ndarray], landmarks: Sequence[np.ndarray], config: PadimConfig) -> np.ndarray:
    """Grid features (N, G, G, d) of faces, for :meth:`PadimScorer.fit_grid_features`."""
    return grid_features(feature_extractor(config.backbone).features(faces, landmarks), config)
