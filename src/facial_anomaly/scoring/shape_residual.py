"""The shape-model landmark residual: how far a face's landmarks lie from the closest normal
shape, an anomaly score with no pixels involved.

The statistical shape model of normal faces (:class:`~facial_anomaly.normalizers.ShapeModel`,
Cootes et al. 1995) is fitted robustly to the face's landmarks (Huber/Tukey reweighting:
landmarks the model cannot explain do not pull the fit), and the residual of each landmark
of a region — the distance between where it is and where the fitted normal shape puts it —
is measured in inter-ocular distances (IOD). The score is the mean or the top-k mean of
those residuals: a cleft lip or a drooping mouth corner moves lip and nose landmarks away
from any normal shape, while identity and expression are what the model's modes explain.

With a mirror-augmented model (``fit_normal_models.shape_model.mirror_augment``) and
mirror-consistent landmarks the residuals of a mirrored face are the mirrored residuals,
so the score is the same for a face and its mirror image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field

from ..config import Config
from ..faces.landmarks import eye_centers
from ..faces.mesh import NUM_MESH_POINTS, region_indices
from ..normalizers.shape_model import ShapeModel
from ..normalizers.statistics import robust_fit_params
from .scores import DEFAULT_TOP_K_FRACTION, top_k_mean

LANDMARK_SETS = {
    "mouth_nose": ("lips", "nose"),
    "lips": ("lips",),
    "face": ("face_oval", "lips", "nose", "image_left_eye", "image_right_eye"),
}


class ShapeResidualConfig(Config):
    """Settings of the shape residual score (the robust fit as ``normalize.normalizers.shape_model``)."""

    landmarks: Literal["mouth_nose", "lips", "face"] = Field(
        "mouth_nose", description="which landmarks are scored (FaceMesh contour sets)"
    )
    summary: Literal["mean", "topk"] = Field("topk", description="mean or top-k mean of the residuals")
    top_k_fraction: float = Field(0.1, gt=0.0, le=1.0, description="share of the landmarks of the top-k mean")
    clamp_sigma: float = Field(3.0, gt=0.0, description="mode coefficients limited to ± this many σ")
    robust_iterations: int = Field(6, ge=1, description="reweighting rounds of the robust fit")
    robust_loss: Literal["tukey", "huber"] = Field("tukey", description="robust weight function")
    robust_tuning: float = Field(4.685, gt=0.0, description="Tukey c (Huber: 1.345)")
    scale_floor_px: float = Field(1.0, gt=0.0, description="residual scale floor of the fit, px")


def landmark_set(name: str) -> np.ndarray:
    """Sorted mesh-point indices of a :data:`LANDMARK_SETS` entry (iris points excluded)."""
    indices = np.unique(np.concatenate([region_indices(part) for part in LANDMARK_SETS[name]]))
    return indices[indices < NUM_MESH_POINTS]


def _robust_fit(points: np.ndarray, model: ShapeModel, config: ShapeResidualConfig):
    return model.fit_shape(
        points,
        **robust_fit_params(
            clamp_sigma=config.clamp_sigma,
            iterations=config.robust_iterations,
            loss=config.robust_loss,
            tuning=config.robust_tuning,
            scale_floor=("scale_floor_px", config.scale_floor_px),
        ),
    )


def landmark_residuals(landmarks: np.ndarray, model: ShapeModel, config: ShapeResidualConfig) -> np.ndarray:
    """Per-mesh-point residual (468,) in IOD: |landmark − robustly fitted normal shape|."""
    points = np.asarray(landmarks, dtype=np.float64)
    fit = _robust_fit(points, model, config)
    left, right = eye_centers(points)
    iod = float(np.hypot(*(right - left)))
    return np.linalg.norm(points[:NUM_MESH_POINTS, :2] - fit.shape, axis=1) / iod


def shape_residual_score(landmarks: np.ndarray, model: ShapeModel, config: ShapeResidualConfig | None = None) -> float:
    """The shape residual score of one face (see the module docstring): IOD, ≥ 0.

    Args:
        landmarks: (478, 2|3) landmarks in pixels (any frame: the fit removes position,
            rotation and scale).
        model: the fitted shape model of normal faces.
        config: which landmarks and summary; defaults when None.
    """
    config = config or ShapeResidualConfig()
    residuals = landmark_residuals(landmarks, model, config)[landmark_set(config.landmarks)]
    if config.summary == "mean":
        return float(residuals.mean())
    return top_k_mean(residuals, fraction=config.top_k_fraction)


def normal_shape_landmarks(
    landmarks: np.ndarray, model: ShapeModel, config: ShapeResidualConfig | None = None
) -> np.ndarray:
    """The face's landmarks with what no normal shape explains taken out: each mesh point
    moves from where it was measured toward the robust fit of the shape model by one minus
    its robust weight — points the model explains stay, outliers (a drooping mouth corner,
    a displaced lip) go to where a normal face of this shape has them. (478|468, 2|3) in
    pixels, as given; iris rows unchanged. What the supervised scorer's mirror partner is
    warped onto (:class:`facial_anomaly.supervised.scorer.SupervisedScorer`): on the
    measured landmarks, which follow a droop, the partner droops too and the comparison
    cancels it."""
    points = np.asarray(landmarks, dtype=np.float64)
    fit = _robust_fit(points, model, config or ShapeResidualConfig())
    out = points.copy()
    measured = points[:NUM_MESH_POINTS, :2]
    out[:NUM_MESH_POINTS, :2] = fit.shape + fit.weights[:, None] * (measured - fit.shape)
    return out


def shape_residual_scores(
    landmarks: Sequence[np.ndarray], model: ShapeModel, config: ShapeResidualConfig | None = None
) -> np.ndarray:
    """:func:`shape_residual_score` of several faces, (N,) float64."""
    return np.array([shape_residual_score(points, model, config) for points in landmarks])


__all__ = [
    "DEFAULT_TOP_K_FRACTION",
    "LANDMARK_SETS",
    "ShapeResidualConfig",
    "landmark_residuals",
    "landmark_set",
    "normal_shape_landmarks",
    "shape_residual_score",
    "shape_residual_scores",
]
