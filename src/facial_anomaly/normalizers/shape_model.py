"""Statistical shape model normalizer: the face warped to the closest *normal* shape.

A point distribution model (Cootes, Taylor, Cooper & Graham 1995, "Active Shape Models —
their training and application", CVIU 61: 38–59) of the 468 FaceMesh mesh points of
normal faces: generalized Procrustes analysis (Gower 1975) removes position, rotation
and scale; PCA keeps the modes that explain a chosen share of the variance. Training
shapes may be augmented with their mirror images, which centres the model on symmetric
faces.

To normalize a face its landmarks are explained by the model with a robust, iteratively
reweighted fit (alternating a weighted similarity alignment and a MAP estimate of the
mode coefficients under the Gaussian PCA prior, coefficients clamped to ±k·σ as in
Cootes et al.); landmarks the model cannot explain (a cleft, a drooping corner) get
low Huber/Tukey weights and do not pull the fit. The target shape keeps the observed
landmarks in proportion to their weight (``observed_weight``; 0 = the pure model shape)
and the face is warped piecewise-affinely onto it with the background anchored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..faces.mesh import NUM_MESH_POINTS, mirror_pairs
from ..provenance import ModelMismatch, check_provenance, landmark_order_problem, model_provenance
from .base import (
    NormalizedFace,
    Normalizer,
    load_state,
    register,
    save_state,
    validate_face,
    validate_training_landmarks,
)
from .geometry import AnchoredWarp
from .statistics import fit_pca, robust_fit_params, robust_scale, robust_weights, weighted_map_coefficients

MODEL_KIND = "facemesh_shape_model"
MODEL_VERSION = 1


def similarity_transform(source: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """2×3 similarity (rotation, isotropic scale, translation; no reflection) minimising
    Σ wᵢ ‖M·sourceᵢ − targetᵢ‖² (weighted Umeyama)."""
    weights = np.ones(len(source)) if weights is None else np.asarray(weights, dtype=np.float64)
    total = weights.sum()
    if total <= 0:
        raise ValueError("similarity_transform needs a positive total weight")
    mu_s = weights @ source / total
    mu_t = weights @ target / total
    s, t = source - mu_s, target - mu_t
    covariance = (t * weights[:, None]).T @ s / total
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rotation = u @ sign @ vt
    variance = (weights * (s**2).sum(axis=1)).sum() / total
    scale = float((singular * np.diag(sign)).sum() / variance)
    linear = scale * rotation
    return np.hstack([linear, (mu_t - linear @ mu_s)[:, None]])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def _invert(matrix: np.ndarray) -> np.ndarray:
    linear = np.linalg.inv(matrix[:, :2])
    return np.hstack([linear, (-linear @ matrix[:, 2])[:, None]])


def _normalized(shape: np.ndarray) -> np.ndarray:
    centred = shape - shape.mean(axis=0)
    return centred / np.sqrt((centred**2).sum())


def generalized_procrustes(shapes: np.ndarray, *, iterations: int, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Generalized Procrustes analysis of (N, P, 2) shapes.

    Returns:
        ``(aligned, mean)``: the shapes aligned to the mean (N, P, 2) and the mean shape
        (centred, unit Frobenius norm, rotated like the first shape).
    """
    shapes = np.asarray(shapes, dtype=np.float64)
    mean = _normalized(shapes[0])
    reference = mean
    aligned = shapes
    for _ in range(iterations):
        aligned = np.stack([_apply(similarity_transform(shape, mean), shape) for shape in shapes])
        new_mean = _normalized(aligned.mean(axis=0))
        new_mean = _apply(similarity_transform(new_mean, reference), new_mean)
        new_mean = _normalized(new_mean)
        change = np.sqrt(((new_mean - mean) ** 2).sum())
        mean = new_mean
        if change < tolerance:
            break
    aligned = np.stack([_apply(similarity_transform(shape, mean), shape) for shape in shapes])
    return aligned, mean


def mirrored_shapes(shapes: np.ndarray) -> np.ndarray:
    """Mirror images of (N, 468, 2) shapes, relabelled so index i is still landmark i."""
    pairs = mirror_pairs()[:NUM_MESH_POINTS]
    mirrored = np.asarray(shapes, dtype=np.float64)[:, pairs].copy()
    mirrored[..., 0] = -mirrored[..., 0]
    return mirrored


@dataclass
class ShapeFit:
    """A robust model fit: ``shape`` (468, 2) in image pixels, per-landmark ``weights`` in
    [0, 1], mode ``coefficients`` and the residual ``scale_px``."""

    shape: np.ndarray
    weights: np.ndarray
    coefficients: np.ndarray
    scale_px: float


@dataclass
class ShapeModel:
    """Point distribution model of the 468 FaceMesh points: ``mean`` (468, 2, unit size),
    ``components`` (K, 936) orthonormal modes, ``variances`` (K,), ``metadata``."""

    mean: np.ndarray
    components: np.ndarray
    variances: np.ndarray
    metadata: dict

    @classmethod
    def fit(
        cls,
        landmarks: Sequence[np.ndarray],
        *,
        explained_variance: float,
        max_components: int,
        mirror_augment: bool,
        procrustes_iterations: int,
        procrustes_tolerance: float,
        training_data: str = "",
    ) -> "ShapeModel":
        """Fit the model to the landmarks of normal faces ((478|468, 2|3) each).

        ``training_data`` identifies the faces (:func:`~facial_anomaly.provenance.training_data_fingerprint`)
        in the model's provenance record.
        """
        fit_params = {
            "explained_variance": explained_variance,
            "max_components": max_components,
            "mirror_augment": mirror_augment,
            "procrustes_iterations": procrustes_iterations,
            "procrustes_tolerance": procrustes_tolerance,
        }
        checked = validate_training_landmarks(landmarks)
        shapes = np.stack([points[:NUM_MESH_POINTS, :2] for points in checked])
        if mirror_augment:
            shapes = np.concatenate([shapes, mirrored_shapes(shapes)])
        aligned, mean = generalized_procrustes(shapes, iterations=procrustes_iterations, tolerance=procrustes_tolerance)
        pca = fit_pca(
            aligned.reshape(len(aligned), -1), explained_variance=explained_variance, max_components=max_components
        )
        total_variance = float(aligned.reshape(len(aligned), -1).var(axis=0, ddof=1).sum()) if len(aligned) > 1 else 0.0
        metadata = {
            "kind": MODEL_KIND,
            "version": MODEL_VERSION,
            "provenance": model_provenance(
                "shape_model", schema_version=MODEL_VERSION, params=fit_params, training_data=training_data
            ),
            "faces": len(checked),
            "mirror_augment": bool(mirror_augment),
            "explained_variance_target": float(explained_variance),
            "explained_variance": float(pca.variances.sum() / total_variance) if total_variance > 0 else 1.0,
            "max_components": int(max_components),
            "components": int(len(pca.variances)),
        }
        return cls(pca.mean.reshape(NUM_MESH_POINTS, 2), pca.components, pca.variances, metadata)

    # --- persistence -----------------------------------------------------------------

    def to_state(self) -> tuple[dict[str, np.ndarray], dict]:
        return {"mean": self.mean, "components": self.components, "variances": self.variances}, dict(self.metadata)

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], metadata: dict, *, source: str = "shape_model") -> "ShapeModel":
        """The model of a saved state, refused (naming ``source``) when its provenance or its
        arrays do not fit this code: another kind or schema, another landmark layout, arrays
        of the wrong shape, or a mean shape whose points are not in FaceMesh order.

        Raises:
            ModelMismatch: naming ``source`` and the problem.
        """
        check_provenance(metadata.get("provenance"), kind="shape_model", schema_version=MODEL_VERSION, source=source)
        missing = [name for name in ("mean", "components", "variances") if name not in arrays]
        if missing:
            raise ModelMismatch(f"{source}: the model file has no arrays {missing}")
        problem = landmark_order_problem(arrays["mean"])
        if problem:
            raise ModelMismatch(f"{source}: {problem}")
        if metadata.get("kind") != MODEL_KIND:
            raise ValueError(f"not a shape model state (kind {metadata.get('kind')!r})")
        return cls(arrays["mean"], arrays["components"], arrays["variances"], dict(metadata))

    def save(self, path: str | Path) -> None:
        save_state(path, *self.to_state())

    @classmethod
    def load(cls, path: str | Path) -> "ShapeModel":
        return cls.from_state(*load_state(path), source=str(path))

    # --- fitting a face ----------------------------------------------------------------

    def shape_from(self, coefficients: np.ndarray) -> np.ndarray:
        """Model shape (468, 2, model frame) for mode coefficients."""
        return self.mean + (coefficients @ self.components).reshape(NUM_MESH_POINTS, 2)

    def fit_shape(
        self,
        landmarks: np.ndarray,
        *,
        clamp_sigma: float,
        iterations: int,
        loss: str,
        tuning: float,
        scale_floor_px: float,
    ) -> ShapeFit:
        """Robustly explain a face's landmarks by the model (see the module docstring).

        Args:
            landmarks: (478|468, 2|3) landmarks in image pixels.
            clamp_sigma: mode coefficients are limited to ±clamp_sigma·√variance.
            iterations: reweighting rounds.
            loss, tuning: robust weight function (:func:`~.statistics.robust_weights`).
            scale_floor_px: lower bound of the residual scale, so well-explained faces
                do not turn FaceMesh jitter into outliers.
        """
        points = np.asarray(landmarks, dtype=np.float64)[:NUM_MESH_POINTS, :2]
        weights = np.ones(NUM_MESH_POINTS)
        coefficients = np.zeros(len(self.variances))
        limit = clamp_sigma * np.sqrt(self.variances)
        basis = self.components.T  # (936, K)
        scale_px = scale_floor_px
        for _ in range(iterations):
            model_shape = self.shape_from(coefficients)
            to_image = similarity_transform(model_shape, points, weights)
            pixels_per_unit = float(np.sqrt(abs(np.linalg.det(to_image[:, :2]))))
            in_model = _apply(_invert(to_image), points)
            noise_variance = (scale_px / pixels_per_unit) ** 2
            coefficients = weighted_map_coefficients(
                basis, (in_model - self.mean).ravel(), np.repeat(weights, 2), self.variances, noise_variance
            )
            coefficients = np.clip(coefficients, -limit, limit)
            model_shape = self.shape_from(coefficients)
            residuals = np.linalg.norm(in_model - model_shape, axis=1) * pixels_per_unit
            scale_px = robust_scale(residuals, floor=scale_floor_px)
            weights = robust_weights(residuals, scale_px, loss=loss, tuning=tuning)
        to_image = similarity_transform(self.shape_from(coefficients), points, weights)
        return ShapeFit(_apply(to_image, self.shape_from(coefficients)), weights, coefficients, scale_px)


@register
class ShapeModelNormalizer(Normalizer):
    """See the module docstring. ``model`` is a fitted :class:`ShapeModel` (or None until
    :meth:`fit`, which then needs ``model_params``: the keyword arguments of
    :meth:`ShapeModel.fit` from ``parameters_fit_normal_models.yml``)."""

    name = "shape_model"

    def __init__(
        self,
        *,
        clamp_sigma: float,
        robust_iterations: int,
        robust_loss: str,
        robust_tuning: float,
        scale_floor_px: float,
        observed_weight: float,
        ring_scale: float,
        border_step_px: float,
        model: ShapeModel | None = None,
        model_params: dict | None = None,
    ):
        if not 0.0 <= observed_weight <= 1.0:
            raise ValueError(f"observed_weight must be in [0, 1], got {observed_weight}")
        self.robust_fit_params = robust_fit_params(
            clamp_sigma=clamp_sigma,
            iterations=robust_iterations,
            loss=robust_loss,
            tuning=robust_tuning,
            scale_floor=("scale_floor_px", scale_floor_px),
        )
        self.observed_weight = float(observed_weight)
        self.warp = AnchoredWarp(ring_scale=float(ring_scale), border_step_px=float(border_step_px))
        self.model = model
        self.model_params = model_params

    def fit(self, faces, landmarks) -> "ShapeModelNormalizer":
        if self.model_params is None:
            raise ValueError("ShapeModelNormalizer.fit needs model_params (see parameters_fit_normal_models.yml)")
        self.model = ShapeModel.fit(landmarks, **self.model_params)
        return self

    def target_landmarks(self, landmarks: np.ndarray) -> tuple[np.ndarray, ShapeFit]:
        """The normal shape a face is warped to (478, 3; iris rows unchanged) and the fit."""
        if self.model is None:
            raise ValueError("the shape model is not fitted; call fit() or pass model=ShapeModel.load(path)")
        landmarks = np.asarray(landmarks, dtype=np.float64)
        fit = self.model.fit_shape(landmarks, **self.robust_fit_params)
        keep = (self.observed_weight * fit.weights)[:, None]
        target = landmarks.copy()
        target[:NUM_MESH_POINTS, :2] = fit.shape + keep * (landmarks[:NUM_MESH_POINTS, :2] - fit.shape)
        return target, fit

    def normalize(self, face: np.ndarray, landmarks: np.ndarray, mask: np.ndarray | None = None) -> NormalizedFace:
        landmarks = validate_face(face, landmarks, mask)
        target, _ = self.target_landmarks(landmarks)
        image, moved = self.warp.warp_face(face, landmarks, target)
        return NormalizedFace(image=image, landmarks=moved)
