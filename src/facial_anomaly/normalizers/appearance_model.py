"""Appearance model normalizer: a shape-free texture model of normal faces (AAM-style).

Following the appearance model of Cootes, Edwards & Taylor (1998/2001, "Active
Appearance Models", ECCV / IEEE TPAMI 23: 681–685), every normal face is warped
piecewise-affinely onto the mean FaceMesh shape at a reduced working resolution
(``working_size`` px, for speed), the pixels inside the mesh form its shape-free texture,
and PCA of these textures gives the texture model.

A new face is warped the same way and its texture reconstructed *robustly*: an
iteratively reweighted least-squares fit of the mode coefficients (MAP under the PCA
prior, clamped to ±k·σ) in which pixels with large residuals — the anomaly — get low
Huber/Tukey weights and pixels flagged by ``mask`` get weight 0, so the anomaly does not
pull the fit (robust AAM texture fitting as in Gross, Matthews & Baker 2006,
"Active appearance models with occlusion", Image and Vision Computing, 2006). The
correction (reconstruction minus observed texture) is warped back onto the face and
added inside the face, fading in from the outline, so the face keeps its own fine
detail; ``inlier_correction`` sets how much of it well-explained pixels receive (1: the
full reconstruction, 0: only what the model cannot explain is replaced — a new person's
normal skin is never exactly in the model's span). The background is untouched.
``confidence`` is the robust weight.

Faces are aligned crops of one size (``parameters_preprocess.yml``), so the mean shape
is the mean of the landmarks (alignment has already removed position, roll and scale).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..faces.mesh import NUM_MESH_POINTS, triangulation
from ..faces.warp import TriangleRaster
from ..provenance import ModelMismatch, check_provenance, landmark_order_problem, model_provenance
from .base import (
    NormalizedFace,
    Normalizer,
    load_state,
    register,
    save_state,
    to_uint8,
    validate_face,
    validate_training_landmarks,
)
from .geometry import face_region_mask
from .statistics import fit_pca, robust_fit_params, robust_scale, robust_weights, weighted_map_coefficients

MODEL_KIND = "facemesh_appearance_model"
MODEL_VERSION = 1


@dataclass
class FaceFrame:
    """One face seen by the model: its shape-free ``texture`` (P, 3) in [0, 1], its mesh
    ``points`` (468, 2) in face pixels, and the map from the face's pixels (inside ``box``
    = ``(y0, y1, x0, x1)``) to the working frame, ``inside`` marking the face pixels
    covered by the mesh. Build it once per face and
    reuse it for several fits (e.g. with different masks)."""

    shape: tuple[int, int]
    box: tuple[int, int, int, int]
    map_x: np.ndarray
    map_y: np.ndarray
    inside: np.ndarray
    texture: np.ndarray
    points: np.ndarray

    def to_face(self, working_image: np.ndarray, outside: float) -> np.ndarray:
        """Warp a working-frame image (S×S or S×S×C float32) onto the face: H×W(×C)
        float32, ``outside`` on pixels the mesh does not cover."""
        warped = cv2.remap(
            working_image, self.map_x, self.map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        inside = self.inside if warped.ndim == 2 else self.inside[..., None]
        full = np.full(self.shape + working_image.shape[2:], outside, dtype=np.float32)
        y0, y1, x0, x1 = self.box
        full[y0:y1, x0:x1] = np.where(inside, warped, outside)
        return full

    def inside_mask(self) -> np.ndarray:
        """H×W bool: the face pixels covered by the mesh."""
        inside = np.zeros(self.shape, dtype=bool)
        y0, y1, x0, x1 = self.box
        inside[y0:y1, x0:x1] = self.inside
        return inside

    def crop(self, image: np.ndarray) -> np.ndarray:
        """The part of a face-frame image inside ``box``."""
        y0, y1, x0, x1 = self.box
        return image[y0:y1, x0:x1]


@dataclass
class TextureFit:
    """A robust texture reconstruction in the working frame: ``reconstruction`` (P, 3) in
    [0, 1], per-pixel robust ``weights`` (P,) in [0, 1], and the ``frame`` it was fitted in."""

    frame: FaceFrame
    reconstruction: np.ndarray
    weights: np.ndarray
    pixels: np.ndarray
    working_size: int

    def _working_image(self, values: np.ndarray) -> np.ndarray:
        size = self.working_size
        channels = values.shape[1] if values.ndim == 2 else 1
        image = np.zeros((size * size, channels), dtype=np.float32)
        image[self.pixels] = values.reshape(len(self.pixels), channels)
        return image.reshape(size, size, channels) if channels > 1 else image.reshape(size, size)

    def reconstruction_image(self) -> np.ndarray:
        """H×W×3 float32 reconstruction in [0, 255] on the face (0 outside the mesh)."""
        return self.frame.to_face(self._working_image(self.reconstruction * 255.0), outside=0.0)

    def correction_image(self) -> np.ndarray:
        """H×W×3 float32 reconstruction minus observed texture, in [−255, 255] (0 outside)."""
        return self.frame.to_face(self._working_image((self.reconstruction - self.frame.texture) * 255.0), outside=0.0)

    def weight_image(self) -> np.ndarray:
        """H×W float32 robust weights on the face (1 outside the mesh)."""
        return np.clip(self.frame.to_face(self._working_image(self.weights), outside=1.0), 0.0, 1.0)


@dataclass
class AppearanceModel:
    """Texture PCA in the mean-shape frame: ``mean_shape`` (468, 2) in working pixels,
    ``mean`` (P·3,) float32 texture in [0, 1], ``components`` (K, P·3), ``variances`` (K,)."""

    mean_shape: np.ndarray
    mean: np.ndarray
    components: np.ndarray
    variances: np.ndarray
    metadata: dict

    def __post_init__(self):
        size = int(self.metadata["working_size"])
        self._raster = TriangleRaster.build(self.mean_shape, triangulation(), (size, size))
        if len(self.mean) != 3 * len(self._raster.pixels):
            raise ValueError("appearance model texture size does not match its mean shape raster")

    @property
    def working_size(self) -> int:
        return int(self.metadata["working_size"])

    @property
    def face_size(self) -> int:
        return int(self.metadata["face_size"])

    @classmethod
    def fit(
        cls,
        faces: Iterable[np.ndarray],
        landmarks: Sequence[np.ndarray],
        *,
        working_size: int,
        explained_variance: float,
        max_components: int,
        training_data: str = "",
    ) -> "AppearanceModel":
        """Fit the texture model to aligned normal faces (all the same square size).

        ``faces`` may be a lazy iterable (e.g. a generator reading one image at a time):
        only each face's small shape-free texture is kept. ``training_data`` identifies the
        faces in the model's provenance record.
        """
        fit_params = {
            "working_size": working_size,
            "explained_variance": explained_variance,
            "max_components": max_components,
        }
        checked = validate_training_landmarks(landmarks)
        mean_points = np.mean([points[:NUM_MESH_POINTS, :2] for points in checked], axis=0)
        raster, face_size, textures = None, None, []
        for face, points in zip(faces, checked, strict=True):
            validate_face(face, points)
            if face_size is None:
                face_size = face.shape[0]
                raster = TriangleRaster.build(
                    mean_points * (working_size / face_size), triangulation(), (working_size, working_size)
                )
            if face.shape[:2] != (face_size, face_size):
                raise ValueError(f"faces must be aligned square crops of one size: {face.shape[:2]} after {face_size}²")
            textures.append(_sample_texture(raster, face, points, working_size))
        textures = np.stack(textures)
        mean_shape = mean_points * (working_size / face_size)
        pca = fit_pca(
            textures.reshape(len(textures), -1), explained_variance=explained_variance, max_components=max_components
        )
        total_variance = (
            float(textures.reshape(len(textures), -1).var(axis=0, ddof=1).sum()) if len(textures) > 1 else 0.0
        )
        metadata = {
            "kind": MODEL_KIND,
            "version": MODEL_VERSION,
            "provenance": model_provenance(
                "appearance_model", schema_version=MODEL_VERSION, params=fit_params, training_data=training_data
            ),
            "faces": len(checked),
            "face_size": int(face_size),
            "working_size": int(working_size),
            "explained_variance_target": float(explained_variance),
            "explained_variance": float(pca.variances.sum() / total_variance) if total_variance > 0 else 1.0,
            "max_components": int(max_components),
            "components": int(len(pca.variances)),
            "texture_pixels": int(len(raster.pixels)),
        }
        return cls(mean_shape, pca.mean, pca.components, pca.variances, metadata)

    # --- persistence -----------------------------------------------------------------

    def to_state(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays = {
            "mean_shape": self.mean_shape,
            "mean": self.mean,
            "components": self.components,
            "variances": self.variances,
        }
        return arrays, dict(self.metadata)

    @classmethod
    def from_state(
        cls, arrays: dict[str, np.ndarray], metadata: dict, *, source: str = "appearance_model"
    ) -> "AppearanceModel":
        """The model of a saved state, refused (naming ``source``) when its provenance or its
        arrays do not fit this code: another kind or schema, another landmark layout, arrays
        of the wrong shape, or a mean shape whose points are not in FaceMesh order.

        Raises:
            ModelMismatch: naming ``source`` and the problem.
        """
        check_provenance(
            metadata.get("provenance"), kind="appearance_model", schema_version=MODEL_VERSION, source=source
        )
        missing = [name for name in ("mean_shape", "mean", "components", "variances") if name not in arrays]
        if missing:
            raise ModelMismatch(f"{source}: the model file has no arrays {missing}")
        problem = landmark_order_problem(arrays["mean_shape"])
        if problem:
            raise ModelMismatch(f"{source}: {problem}")
        if metadata.get("kind") != MODEL_KIND:
            raise ValueError(f"not an appearance model state (kind {metadata.get('kind')!r})")
        return cls(arrays["mean_shape"], arrays["mean"], arrays["components"], arrays["variances"], dict(metadata))

    def save(self, path: str | Path) -> None:
        save_state(path, *self.to_state())

    @classmethod
    def load(cls, path: str | Path) -> "AppearanceModel":
        return cls.from_state(*load_state(path), source=str(path))

    # --- reconstruction ----------------------------------------------------------------

    def frame(self, face: np.ndarray, landmarks: np.ndarray) -> FaceFrame:
        """How a face (H×W×3 uint8, landmarks in its pixels) maps to the working frame."""
        points = np.asarray(landmarks, dtype=np.float64)[:NUM_MESH_POINTS, :2]
        height, width = face.shape[:2]
        x0, y0 = np.maximum(np.floor(points.min(axis=0)).astype(int) - 1, 0)
        x1, y1 = np.minimum(np.ceil(points.max(axis=0)).astype(int) + 2, (width, height))
        raster = TriangleRaster.build(points, triangulation(), (y1 - y0, x1 - x0), origin=(int(x0), int(y0)))
        map_x, map_y = raster.source_maps(self.mean_shape)
        return FaceFrame(
            shape=(height, width),
            box=(int(y0), int(y1), int(x0), int(x1)),
            map_x=map_x,
            map_y=map_y,
            inside=raster.coverage(),
            texture=_sample_texture(self._raster, face, points, self.working_size),
            points=points,
        )

    def sample(self, frame: FaceFrame, image: np.ndarray) -> np.ndarray:
        """Values (P, C) of another face-frame image (e.g. a mask) in the working frame."""
        return _sample_texture(self._raster, image, frame.points, self.working_size)

    def fit_texture(
        self,
        frame: FaceFrame,
        *,
        excluded: np.ndarray | None,
        initial_weights: np.ndarray | None,
        clamp_sigma: float,
        iterations: int,
        loss: str,
        tuning: float,
        scale_floor: float,
    ) -> TextureFit:
        """Robust reconstruction of a face's texture (see the module docstring).

        Args:
            frame: the face, from :meth:`frame`.
            excluded: optional (P,) bool, working-frame pixels that must not be used.
            initial_weights: optional (P,) weights to start from (e.g. an earlier fit of
                the same face), instead of trusting every pixel.
            clamp_sigma: coefficients limited to ±clamp_sigma·√variance.
            iterations: reweighting rounds.
            loss, tuning: robust weight function.
            scale_floor: lower bound of the residual scale (RGB distance in [0, 1] units).
        """
        prior = np.ones(len(frame.texture), np.float32)
        if excluded is not None:
            prior[np.asarray(excluded, bool)] = 0.0
        observed = frame.texture.ravel() - self.mean
        basis = self.components.T  # (P·3, K)
        limit = clamp_sigma * np.sqrt(self.variances)
        weights = prior if initial_weights is None else prior * np.asarray(initial_weights, np.float32)
        residuals = np.linalg.norm(observed.reshape(-1, 3), axis=1)
        scale = robust_scale(residuals, floor=scale_floor, weights=prior)
        coefficients = np.zeros(len(self.variances), dtype=basis.dtype)
        for _ in range(iterations):
            solved = weighted_map_coefficients(basis, observed, np.repeat(weights, 3), self.variances, scale**2)
            coefficients = np.clip(solved, -limit, limit).astype(basis.dtype)
            residuals = np.linalg.norm((observed - basis @ coefficients).reshape(-1, 3), axis=1)
            scale = robust_scale(residuals, floor=scale_floor, weights=prior)
            weights = prior * robust_weights(residuals, scale, loss=loss, tuning=tuning).astype(np.float32)
        reconstruction = (self.mean + basis @ coefficients).reshape(-1, 3)
        return TextureFit(frame, reconstruction, weights, self._raster.pixels, self.working_size)


def _sample_texture(raster: TriangleRaster, image: np.ndarray, landmarks: np.ndarray, working_size: int) -> np.ndarray:
    """Shape-free texture: ``image`` (H×W×C, any dtype) resized to the working scale and
    warped onto the raster's mean shape; (P, C) float32, uint8 images scaled to [0, 1]."""
    height = image.shape[0]
    factor = working_size / height
    small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA) if factor != 1 else image
    if small.ndim == 2:
        small = small[..., None]
    points = np.asarray(landmarks, dtype=np.float64)[:NUM_MESH_POINTS, :2] * factor
    warped = raster.warp(small, points, border_mode=cv2.BORDER_REPLICATE)
    warped = warped.reshape(-1, small.shape[2] if small.ndim == 3 else 1)[raster.pixels].astype(np.float32)
    return warped / 255.0 if image.dtype == np.uint8 else warped


@register
class AppearanceModelNormalizer(Normalizer):
    """See the module docstring. ``model`` is a fitted :class:`AppearanceModel` (or None
    until :meth:`fit`, which then needs ``model_params``: the keyword arguments of
    :meth:`AppearanceModel.fit` from ``parameters_fit_normal_models.yml``)."""

    name = "appearance_model"

    def __init__(
        self,
        *,
        clamp_sigma: float,
        robust_iterations: int,
        robust_loss: str,
        robust_tuning: float,
        scale_floor: float,
        feather_px: float,
        inlier_correction: float,
        model: AppearanceModel | None = None,
        model_params: dict | None = None,
    ):
        self.robust_fit_params = robust_fit_params(
            clamp_sigma=clamp_sigma,
            iterations=robust_iterations,
            loss=robust_loss,
            tuning=robust_tuning,
            scale_floor=("scale_floor", scale_floor),
        )
        if not 0.0 <= inlier_correction <= 1.0:
            raise ValueError(f"inlier_correction must be in [0, 1], got {inlier_correction}")
        self.feather_px = float(feather_px)
        self.inlier_correction = float(inlier_correction)
        self.model = model
        self.model_params = model_params

    def fit(self, faces, landmarks) -> "AppearanceModelNormalizer":
        if self.model_params is None:
            raise ValueError("AppearanceModelNormalizer.fit needs model_params (see parameters_fit_normal_models.yml)")
        self.model = AppearanceModel.fit(faces, landmarks, **self.model_params)
        return self

    def fit_texture(
        self,
        frame: FaceFrame,
        mask: np.ndarray | None = None,
        *,
        start: TextureFit | None = None,
        iterations: int | None = None,
    ) -> TextureFit:
        """The robust texture reconstruction of a face (``frame`` from :meth:`frame`).

        Args:
            mask: optional H×W map, > 0.5 on pixels that must not be used.
            start: an earlier fit of the same face whose robust weights to start from.
            iterations: reweighting rounds, if not this normalizer's ``robust_iterations``.
        """
        model = self._fitted()
        excluded = None if mask is None else model.sample(frame, np.asarray(mask, dtype=np.float32))[:, 0] > 0.5
        params = (
            dict(self.robust_fit_params)
            if iterations is None
            else {**self.robust_fit_params, "iterations": int(iterations)}
        )
        return model.fit_texture(
            frame, excluded=excluded, initial_weights=None if start is None else start.weights, **params
        )

    def frame(self, face: np.ndarray, landmarks: np.ndarray) -> FaceFrame:
        """The face as seen by the model (reusable across fits of the same face)."""
        return self._fitted().frame(face, landmarks)

    def _fitted(self) -> AppearanceModel:
        if self.model is None:
            raise ValueError("the appearance model is not fitted; call fit() or pass model=AppearanceModel.load(path)")
        return self.model

    def normalize(self, face: np.ndarray, landmarks: np.ndarray, mask: np.ndarray | None = None) -> NormalizedFace:
        landmarks = validate_face(face, landmarks, mask)
        frame = self.frame(face, landmarks)
        return self.render(face, landmarks, self.fit_texture(frame, mask))

    def render(self, face: np.ndarray, landmarks: np.ndarray, texture: TextureFit) -> NormalizedFace:
        """The normalized face from a texture fit: the correction added inside the face,
        fading in from the outline, scaled per pixel by 1 − (1 − inlier_correction)·weight."""
        frame = texture.frame
        region = face_region_mask(landmarks, face.shape, feather_px=self.feather_px)
        fade_in = np.clip(2.0 * frame.crop(region) - 1.0, 0.0, 1.0)
        weights = texture.weight_image()
        applied = fade_in * (1.0 - (1.0 - self.inlier_correction) * frame.crop(weights))
        image = face.copy()
        y0, y1, x0, x1 = frame.box
        correction = frame.crop(texture.correction_image())
        image[y0:y1, x0:x1] = to_uint8(frame.crop(face) + applied[..., None] * correction)
        return NormalizedFace(image=image, confidence=weights)
