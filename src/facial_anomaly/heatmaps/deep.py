"""The ``deep`` heatmap kind: an LPIPS-style distance between the ImageNet features of a face
and of its normalized version (Zhang et al. 2018, "The unreasonable effectiveness of deep
features as a perceptual metric", CVPR, eq. 1, without the learned channel weights; the
backbone is EfficientNet-Lite0, :mod:`facial_anomaly.features`).

For each tapped block l with features ``f`` (C_l channels on an h_l × w_l grid):

    f̂ = f / (‖f‖₂ over channels + ε),    d_l = Σ_c (f̂_original − f̂_normalized)²  ∈ [0, 4]

then every d_l is resized (bilinear) to the finest tap's grid, averaged with the layer
weights ``Σ w_l d_l / Σ w_l``, and carried back onto the aligned face (bilinear; 0 outside
the crop). Both images are cut at the *original's* crop, so a normalizer that moves the
landmarks (e.g. a shape normalizer) is compared place for place.

The features of the last few originals are cached (keyed by their pixels, crop and
configuration), so scoring one face against several normalized versions runs the backbone
on the face once.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field, field_validator, model_validator

from ..config import Config
from ..features.backbone import BackboneConfig, FaceFeatures, cached_features, clear_feature_cache

_NORM_EPSILON = 1e-10  # as LPIPS's normalize_tensor
__all__ = ["DeepHeatmapConfig", "clear_feature_cache", "deep_distance_map"]


class DeepHeatmapConfig(Config):
    """Options of the ``deep`` kind (``kind_options.deep`` of parameters_heatmaps.yml)."""

    backbone: BackboneConfig = Field(default_factory=BackboneConfig, description="taps, input size, crop, device")
    layer_weights: tuple[float, ...] | None = Field(
        None, description="weight of each tap's distance (≥ 0, one per tap); null = equal weights"
    )

    @field_validator("layer_weights")
    @classmethod
    def _non_negative(cls, weights: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if weights is not None and (any(w < 0 for w in weights) or sum(weights) <= 0):
            raise ValueError(f"layer_weights must be ≥ 0 and not all 0, got {list(weights)}")
        return weights

    @model_validator(mode="after")
    def _one_weight_per_tap(self) -> "DeepHeatmapConfig":
        if self.layer_weights is not None and len(self.layer_weights) != len(self.backbone.taps):
            raise ValueError(
                f"layer_weights has {len(self.layer_weights)} values for {len(self.backbone.taps)} taps "
                f"{list(self.backbone.taps)}"
            )
        return self

    @property
    def weights(self) -> np.ndarray:
        """The layer weights, normalised to sum to 1, (T,) float64."""
        raw = np.ones(len(self.backbone.taps)) if self.layer_weights is None else np.asarray(self.layer_weights, float)
        return raw / raw.sum()


def unit_normalized(features: np.ndarray) -> np.ndarray:
    """(…, C, h, w) features divided by their L2 norm over channels (+ ε) at each location."""
    norm = np.sqrt(np.sum(np.square(features, dtype=np.float32), axis=-3, keepdims=True))
    return features / (norm + np.float32(_NORM_EPSILON))


def layer_distances(original: FaceFeatures, normalized: FaceFeatures) -> list[np.ndarray]:
    """``d_l`` of the module docstring for each tap of one face: (h_l, w_l) float32 in [0, 4]."""
    return [
        np.sum(np.square(unit_normalized(a[0]) - unit_normalized(b[0])), axis=0)
        for a, b in zip(original.maps, normalized.maps)
    ]


def combine_layers(distances: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """The weighted mean of per-tap maps, each resized (bilinear) to the finest tap's grid."""
    height, width = max(d.shape for d in distances)
    total = np.zeros((height, width), np.float32)
    for distance, weight in zip(distances, weights):
        if distance.shape != (height, width):
            distance = cv2.resize(distance, (width, height), interpolation=cv2.INTER_LINEAR)
        total += np.float32(weight) * distance
    return total


def deep_distance_map(
    original: np.ndarray,
    normalized: np.ndarray,
    landmarks: np.ndarray | None,
    config: DeepHeatmapConfig,
) -> np.ndarray:
    """The ``deep`` heatmap of a face and its normalized version (see the module docstring).

    Args:
        original, normalized: H×W×3 uint8 RGB aligned faces of the same shape.
        landmarks: the original's (478, 2|3) landmarks (None only for the full-face crop).
        config: the kind's options.

    Returns:
        H×W float32 in [0, 4], 0 outside the crop.

    Raises:
        ValueError: shapes that differ, or the lower-face crop without landmarks.
        ImportError: the backbone's packages are missing (naming them).
    """
    if original.shape != normalized.shape:
        raise ValueError(f"original {original.shape} and normalized {normalized.shape} differ in shape")
    crop = config.backbone.crop_of(landmarks, original.shape)
    face = cached_features(original, landmarks, config.backbone, crop)
    # only the face's own features are asked for again (PaDiM), never a partner's
    partner = cached_features(normalized, landmarks, config.backbone, crop, keep_for_run=False)
    grid = combine_layers(layer_distances(face, partner), config.weights)
    heat, _ = crop.to_face(grid, original.shape)
    return np.clip(heat, 0.0, 4.0, out=heat)
