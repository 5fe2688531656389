"""What the supervised scorer sees: a face *canvas* at working resolution and two views cut
from it — the lower face (where clefts, palsy droops and most scars are) and the full face
(acne on the cheeks and forehead).

Geometry is measured from the face's own landmarks, in inter-ocular distances (IOD, the
distance between the eye centres; 140 px in the default 512 px aligned face): the origin
is the midpoint of the eye centres, x along the eye line, y perpendicular to it, downwards.

* The **canvas** covers the full-face box (default x ∈ [−1.625, 1.625], y ∈ [−1.0, 2.25]
  IOD: forehead to below the chin, ear to ear) at ``pixels_per_iod`` (default 64): a
  208 × 208 px uint8 RGB image. Synthetic anomalies are drawn on it (6× fewer pixels than
  the 512 px aligned face, so fresh anomalies every step are cheap).
* The **lower-face view** is the canvas window x ∈ [−1, 1], y ∈ [0.25, 2.25] IOD (0.25
  IOD below the eye line to below the chin — at most 2.1 IOD on the 478 shared normal
  faces — ±1 IOD around the midline): 128 × 128 px at 64 px per IOD, cut without
  resampling.
* The **full-face view** is the whole canvas resized (area interpolation) to
  ``full_face_size`` (128 px: ≈ 39 px per IOD).

Each view is fed to the network standardised by its own mean and spread
(:func:`standardise`), so a brighter photo, a stronger contrast or a colour cast changes
nothing the network sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from pydantic import Field, model_validator

from ..config import Config
from ..faces.landmarks import eye_centers

VIEW_NAMES = ("lower", "full")
PARTNERS = ("mirror", "flip")


class CropConfig(Config):
    """Canvas and views, in IOD relative to the eye midpoint (see the module docstring)."""

    pixels_per_iod: float = Field(64.0, gt=8, description="canvas resolution, pixels per inter-ocular distance")
    full_face_box: tuple[float, float, float, float] = Field(
        (-1.625, 1.625, -1.0, 2.25), description="canvas box (x0, x1, y0, y1), IOD from the eye midpoint"
    )
    lower_face_box: tuple[float, float, float, float] = Field(
        (-1.0, 1.0, 0.25, 2.25), description="lower-face view box (x0, x1, y0, y1), IOD; inside the canvas box"
    )
    full_face_size: int = Field(128, ge=32, description="side of the full-face view, pixels")

    @model_validator(mode="after")
    def _boxes_fit(self) -> CropConfig:
        fx0, fx1, fy0, fy1 = self.full_face_box
        lx0, lx1, ly0, ly1 = self.lower_face_box
        if not (fx0 < fx1 and fy0 < fy1 and lx0 < lx1 and ly0 < ly1):
            raise ValueError("boxes need x0 < x1 and y0 < y1")
        if not (fx0 <= lx0 and lx1 <= fx1 and fy0 <= ly0 and ly1 <= fy1):
            raise ValueError(f"lower_face_box {self.lower_face_box} must lie inside full_face_box {self.full_face_box}")
        return self

    def pixels(self, iod: float) -> int:
        """``iod`` inter-ocular distances in canvas pixels (rounded)."""
        return int(round(iod * self.pixels_per_iod))

    @property
    def canvas_shape(self) -> tuple[int, int]:
        """(height, width) of the canvas in pixels."""
        x0, x1, y0, y1 = self.full_face_box
        return self.pixels(y1 - y0), self.pixels(x1 - x0)

    @property
    def lower_window(self) -> tuple[slice, slice]:
        """(rows, columns) of the lower-face view in the canvas."""
        fx0, _, fy0, _ = self.full_face_box
        lx0, lx1, ly0, ly1 = self.lower_face_box
        return (
            slice(self.pixels(ly0 - fy0), self.pixels(ly1 - fy0)),
            slice(self.pixels(lx0 - fx0), self.pixels(lx1 - fx0)),
        )

    def view_size(self, view: str) -> int:
        """Side of a (square) view in pixels."""
        if view == "full":
            return self.full_face_size
        rows, columns = self.lower_window
        if rows.stop - rows.start != columns.stop - columns.start:
            raise ValueError(f"the lower-face view must be square, got {self.lower_face_box}")
        return rows.stop - rows.start


@dataclass
class Canvas:
    """A face at working resolution: ``image`` (H, W, 3) uint8 RGB; ``landmarks`` (478, 3)
    in canvas pixels; ``matrix`` (2, 3): the affine map from the source face's pixels to
    the canvas (for putting heatmaps back)."""

    image: np.ndarray
    landmarks: np.ndarray
    matrix: np.ndarray

    @property
    def iod(self) -> float:
        left, right = eye_centers(self.landmarks)
        return float(np.hypot(*(right - left)))


def canvas_matrix(landmarks: np.ndarray, config: CropConfig) -> np.ndarray:
    """(2, 3) similarity from source pixels to canvas pixels: the eye midpoint goes to the
    canvas position of the IOD origin, the eye line becomes horizontal, one IOD becomes
    ``pixels_per_iod`` pixels."""
    left, right = eye_centers(np.asarray(landmarks, dtype=np.float64))
    delta = right - left
    iod = float(np.hypot(*delta))
    if not np.isfinite(iod) or iod < 1.0:
        raise ValueError(f"eye centres {left}, {right} are too close to measure the face")
    scale = config.pixels_per_iod / iod
    cos, sin = delta / iod
    middle = (left + right) / 2.0
    x0, x1, y0, _ = config.full_face_box
    # Canvas pixel of the eye midpoint; with a box symmetric in x the midline falls on the
    # canvas's centre line (W − 1) / 2, so a left-right flip of the canvas mirrors the face.
    origin = np.array([-x0 * config.pixels_per_iod - 0.5, -y0 * config.pixels_per_iod])
    rotation = scale * np.array([[cos, sin], [-sin, cos]])
    return np.hstack([rotation, (origin - rotation @ middle)[:, None]])


def face_canvas(face: np.ndarray, landmarks: np.ndarray, config: CropConfig) -> Canvas:
    """The canvas of an aligned (or any) face.

    Args:
        face: H×W×3 uint8 RGB.
        landmarks: its (478, 2|3) landmarks in pixels.
        config: canvas geometry.

    Downscaling is done with area interpolation first (no aliasing), the remaining rotation
    and sub-pixel placement with bilinear interpolation; borders are reflected.
    """
    if face.dtype != np.uint8 or face.ndim != 3 or face.shape[2] != 3:
        raise ValueError(f"face must be H×W×3 uint8 RGB, got {face.dtype} {face.shape}")
    points = np.asarray(landmarks, dtype=np.float64)
    matrix = canvas_matrix(points, config)
    scale = float(np.hypot(*matrix[:, 0]))
    source, pre = face, np.eye(3)
    if scale < 0.9:  # shrink by area first, then a near-unit-scale affine
        size = (max(1, int(round(face.shape[1] * scale))), max(1, int(round(face.shape[0] * scale))))
        source = cv2.resize(face, size, interpolation=cv2.INTER_AREA)
        pre = np.diag([size[0] / face.shape[1], size[1] / face.shape[0], 1.0])
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    # cv2 pixel centres: an area resize maps pixel centre p to (p + 0.5)·f − 0.5.
    shift = np.array([[1.0, 0.0, 0.5 * pre[0, 0] - 0.5], [0.0, 1.0, 0.5 * pre[1, 1] - 0.5], [0.0, 0.0, 1.0]])
    resized_to_source = np.linalg.inv(shift @ pre)
    height, width = config.canvas_shape
    image = cv2.warpAffine(
        source,
        (full @ resized_to_source)[:2],
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    moved = points.copy()
    moved[:, :2] = points[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    if moved.shape[1] > 2:
        moved[:, 2] *= scale
    return Canvas(image=image, landmarks=moved, matrix=matrix)


def cut_view(image: np.ndarray, view: str, config: CropConfig) -> np.ndarray:
    """A view of a canvas image (H, W, C): ``lower`` → the window (a view of the array),
    ``full`` → resized to ``full_face_size`` (area interpolation)."""
    if view == "lower":
        rows, columns = config.lower_window
        return image[rows, columns]
    if view == "full":
        size = config.full_face_size
        return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    raise ValueError(f"unknown view {view!r}; available: {list(VIEW_NAMES)}")


def cut_mask(mask: np.ndarray, view: str, config: CropConfig) -> np.ndarray:
    """A view of an (H, W) float mask of the canvas (area-averaged for ``full``), float32."""
    return np.asarray(cut_view(mask.astype(np.float32)[..., None], view, config), dtype=np.float32).reshape(
        config.view_size(view), config.view_size(view)
    )


def views_tensor(images: Sequence[np.ndarray], views: Sequence[str], config: CropConfig) -> torch.Tensor:
    """Canvas images → ``uint8`` (N, 3·V, S, S) with the views in ``views`` order stacked on
    the channels (all views must have the same size)."""
    sizes = {config.view_size(view) for view in views}
    if len(sizes) != 1:
        raise ValueError(f"stacked views need one size, got {sorted(sizes)} for {list(views)}")
    stacked = [np.concatenate([cut_view(image, view, config) for view in views], axis=2) for image in images]
    return torch.from_numpy(np.ascontiguousarray(np.stack(stacked).transpose(0, 3, 1, 2)))


def standardise(views: torch.Tensor, *, channels: int = 3, floor: float = 4.0 / 255.0) -> torch.Tensor:
    """Per-view standardisation: each group of ``channels`` channels of each sample minus its
    own per-channel mean, divided by its own spread (the standard deviation over its
    pixels and channels, at least ``floor``).

    Args:
        views: (N, C·V, S, S) ``uint8`` or float in [0, 1].
        channels: channels per view.
        floor: least spread (in [0, 1] units), so a flat crop is not blown up into noise.

    Returns:
        float32 (N, C·V, S, S), mean 0 per channel and spread 1 per view.
    """
    # In place where the tensor is this function's own: the same arithmetic in fewer passes
    # over memory (a training step standardises 4 views of every sample).
    fresh = views.dtype == torch.uint8
    x = views.float().div_(255.0) if fresh else views.float()
    n, c, h, w = x.shape
    grouped = x.reshape(n, c // channels, channels, h, w)
    mean = grouped.mean(dim=(3, 4), keepdim=True)
    centred = grouped.sub_(mean) if fresh else grouped - mean
    spread = centred.pow(2).mean(dim=(2, 3, 4), keepdim=True).sqrt().clamp_min(floor)
    return (centred.div_(spread) if fresh else centred / spread).reshape(n, c, h, w)


_MIRROR_BORDER_STEP_PX = 24.0  # anchors along the canvas border (the normalizer's default suits 512 px faces)


def partner_image(image: np.ndarray, landmarks: np.ndarray, kind: str) -> np.ndarray:
    """The Siamese partner of a canvas image: ``mirror`` — the face's own mirror image warped
    onto its landmarks (:class:`facial_anomaly.normalizers.mirror.MirrorNormalizer`: each
    side of the face lies over the other, whatever the head's pose); ``flip`` — the canvas
    flipped about its centre line (the eye midpoint's perpendicular)."""
    if kind == "flip":
        return np.ascontiguousarray(image[:, ::-1])
    if kind == "mirror":
        from ..normalizers.mirror import MirrorNormalizer

        return MirrorNormalizer(border_step_px=_MIRROR_BORDER_STEP_PX).normalize(image, landmarks).image
    raise ValueError(f"unknown partner {kind!r}; available: {list(PARTNERS)}")
