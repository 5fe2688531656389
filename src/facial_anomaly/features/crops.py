"""Where the backbone looks: an aligned face resampled to the square network input, and
maps computed on that input carried back onto the face.

Two crops, both defined by the face's own landmarks (never by the preset's pixel numbers):

* ``full_face`` — the whole aligned image, scaled to ``input_size`` × ``input_size``;
* ``lower_face`` — a box in the face's eye frame (origin at the midpoint of the eye
  centres, x along the eye line, y perpendicular to it pointing to the chin, unit = the
  inter-ocular distance, IOD): ``top_below_eyes_iod`` below the eye line down to
  ``chin_margin_iod`` below the chin landmark (FaceMesh 152), and ``half_width_iod`` either
  side of the midline. On the default 512 px preset (eyes 140 px apart at y = 0.42·512)
  that is ≈ 280 × 200 px. The box is stretched to the square input, so its vertical scale
  follows each face's eye-to-chin length and every input location means the same place
  on every face (what a per-location normal model needs).

Coordinates follow OpenCV and the landmarks: pixel centres at integer coordinates, so the
mirror image of an image of width ``W`` maps x to ``W − 1 − x``
(:func:`facial_anomaly.faces.mesh.mirrored_landmarks`). The crop is mirror-equivariant:
the crop of a mirrored face (with its mirrored landmarks) is the mirror image of the
face's crop, exactly, interpolation included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from ..config import Config
from ..faces.landmarks import eye_centers, validate_landmarks

CROPS = ("full_face", "lower_face")
CHIN_LANDMARK = 152  # FaceMesh: lowest point of the chin, on the midline


class LowerFaceCrop(Config):
    """The lower-face box, in inter-ocular distances (IOD) of the face's eye frame."""

    top_below_eyes_iod: float = Field(0.25, ge=-1.0, le=2.0, description="top edge below the eye line, IOD")
    chin_margin_iod: float = Field(0.05, ge=0.0, le=1.0, description="bottom edge below the chin landmark, IOD")
    half_width_iod: float = Field(1.0, gt=0.0, le=2.0, description="half width about the midline, IOD")


def _eye_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(origin, x unit vector, y unit vector, IOD px) of the face's eye frame."""
    left, right = eye_centers(landmarks)
    eye_line = right - left
    iod = float(np.hypot(*eye_line))
    if not np.isfinite(iod) or iod < 1e-6:
        raise ValueError(f"the eye centres coincide (distance {iod}); no crop can be placed")
    x_axis = eye_line / iod
    y_axis = np.array([-x_axis[1], x_axis[0]])  # x rotated by +90°: points down the face in image coordinates
    return (left + right) / 2.0, x_axis, y_axis, iod


def crop_matrix(
    landmarks: np.ndarray,
    face_shape: tuple[int, ...],
    *,
    crop: Literal["full_face", "lower_face"],
    input_size: int,
    lower_face: LowerFaceCrop,
) -> np.ndarray:
    """The 2×3 affine matrix from face pixels to network-input pixels (centres at integers).

    Args:
        landmarks: (478, 2|3) landmarks in pixels of the aligned face.
        face_shape: the aligned face's shape (H, W, ...).
        crop: ``"full_face"`` or ``"lower_face"`` (see the module docstring).
        input_size: side of the square network input in pixels.
        lower_face: the lower-face box.

    Returns:
        (2, 3) float64: ``[col, row] = M @ [x, y, 1]``; the box's edges map to the input's
        edges (−½ and ``input_size`` − ½).

    Raises:
        ValueError: unknown crop, bad landmarks, or a box of no height (chin above its top).
    """
    height, width = int(face_shape[0]), int(face_shape[1])
    if crop == "full_face":
        # Edge to edge: col + ½ = (x + ½)·S/W.
        scale_x, scale_y = input_size / width, input_size / height
        return np.array([[scale_x, 0.0, 0.5 * scale_x - 0.5], [0.0, scale_y, 0.5 * scale_y - 0.5]])
    if crop != "lower_face":
        raise ValueError(f"unknown crop {crop!r}; valid: {list(CROPS)}")
    points = validate_landmarks(landmarks)[:, :2]
    origin, x_axis, y_axis, iod = _eye_frame(points)
    chin = float((points[CHIN_LANDMARK] - origin) @ y_axis) / iod
    top = lower_face.top_below_eyes_iod
    bottom = chin + lower_face.chin_margin_iod
    if bottom - top < 0.1:
        raise ValueError(f"the lower-face box has no height: chin {chin:.2f} IOD below the eyes, top at {top:.2f} IOD")
    half = lower_face.half_width_iod
    # (u, v) = eye-frame coordinates in IOD; the box's edges go to the input's edges:
    # col + ½ = (u + half) / (2 half) · S, row + ½ = (v − top) / (bottom − top) · S.
    scale_u = input_size / (2.0 * half * iod)
    scale_v = input_size / ((bottom - top) * iod)
    linear = np.vstack([scale_u * x_axis, scale_v * y_axis])
    offset = np.array([input_size / 2.0 - 0.5, -top * iod * scale_v - 0.5]) - linear @ origin
    return np.hstack([linear, offset[:, None]])


def _antialias(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Blur before a shrinking warp: σ = (f − 1)/2 along each face axis shrunk by f > 1
    (scikit-image's anti-aliasing rule); mirror-symmetric, so equivariance is kept."""
    shrink_x = 1.0 / max(float(np.hypot(matrix[0, 0], matrix[1, 0])), 1e-12)
    shrink_y = 1.0 / max(float(np.hypot(matrix[0, 1], matrix[1, 1])), 1e-12)
    sigma_x, sigma_y = max(0.0, (shrink_x - 1.0) / 2.0), max(0.0, (shrink_y - 1.0) / 2.0)
    if sigma_x < 0.1 and sigma_y < 0.1:
        return image
    return cv2.GaussianBlur(image, (0, 0), sigmaX=max(sigma_x, 1e-3), sigmaY=max(sigma_y, 1e-3))


@dataclass(frozen=True)
class FaceCrop:
    """Where one face's network input comes from: ``matrix`` (2, 3) float64 maps face
    pixels to the pixels of an ``input_size`` × ``input_size`` input (see the module
    docstring)."""

    matrix: np.ndarray
    input_size: int

    def cut(self, face: np.ndarray) -> np.ndarray:
        """The network input: ``input_size`` × ``input_size`` × 3 uint8 RGB, resampled
        bilinearly (anti-aliased) through :attr:`matrix`; beyond the face image's edge
        the border is reflected.

        Raises:
            ValueError: when ``face`` is not H×W×3 uint8.
        """
        if face.ndim != 3 or face.shape[2] != 3 or face.dtype != np.uint8:
            raise ValueError(f"face must be an H×W×3 uint8 RGB image, got shape {face.shape} dtype {face.dtype}")
        size = self.input_size
        matrix = self.matrix
        full_face = crop_matrix(None, face.shape, crop="full_face", input_size=size, lower_face=LowerFaceCrop())
        if np.allclose(matrix, full_face, rtol=0, atol=1e-12):
            # The full-face crop is a plain resize: area averaging is the best anti-aliasing.
            return cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
        return cv2.warpAffine(
            _antialias(face, matrix),
            matrix,
            (size, size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )

    def to_face(self, values: np.ndarray, face_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Carry a map on the input square back onto the aligned face.

        Args:
            values: (h, w) float map covering the input square at any resolution (a
                feature map of stride s has h = input_size / s); cell ``i`` is centred at
                input pixel ``(i + ½)·input_size / h − ½``.
            face_shape: the face's shape (H, W, ...).

        Returns:
            ``(map, inside)``: H×W float32 sampled bilinearly, 0 outside the crop; H×W
            bool, True where the face pixel's centre lies inside the crop.
        """
        values = np.ascontiguousarray(values, dtype=np.float32)
        if values.ndim != 2:
            raise ValueError(f"expected an (h, w) map, got shape {values.shape}")
        map_height, map_width = values.shape
        # Input pixel → map cell: j + ½ = (col + ½)·h/S, composed with face → input.
        scale = np.diag([map_width / self.input_size, map_height / self.input_size])
        to_map = scale @ self.matrix
        to_map[:, 2] += scale @ np.array([0.5, 0.5]) - 0.5
        size = (int(face_shape[1]), int(face_shape[0]))
        # WARP_INVERSE_MAP: the matrix maps destination (face) pixels to source (map) cells.
        heat = cv2.warpAffine(
            values,
            to_map,
            size,
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        inside = self.inside(face_shape)
        heat[~inside] = 0.0
        return heat, inside

    def inside(self, face_shape: tuple[int, ...]) -> np.ndarray:
        """H×W bool: face pixels whose centre maps inside the input square."""
        # Products on the 1-D axes, broadcast when added: the same values as on a full
        # pixel grid (same operations, same order) for a fraction of the memory traffic.
        rows = np.arange(int(face_shape[0]), dtype=np.float64)[:, None]
        cols = np.arange(int(face_shape[1]), dtype=np.float64)[None, :]
        col = self.matrix[0, 0] * cols + self.matrix[0, 1] * rows + self.matrix[0, 2]
        row = self.matrix[1, 0] * cols + self.matrix[1, 1] * rows + self.matrix[1, 2]
        inside = (col >= -0.5) & (col <= self.input_size - 0.5) & (row >= -0.5) & (row <= self.input_size - 0.5)
        return inside


def face_crop(
    landmarks: np.ndarray | None,
    face_shape: tuple[int, ...],
    *,
    crop: Literal["full_face", "lower_face"],
    input_size: int,
    lower_face: LowerFaceCrop,
) -> FaceCrop:
    """The :class:`FaceCrop` of one face (see :func:`crop_matrix`; ``landmarks`` may be
    None for the full-face crop).

    Raises:
        ValueError: the lower-face crop without landmarks, or as :func:`crop_matrix`.
    """
    if landmarks is None and crop != "full_face":
        raise ValueError(f"the {crop!r} crop is placed from the face's landmarks; none were given")
    matrix = crop_matrix(landmarks, face_shape, crop=crop, input_size=input_size, lower_face=lower_face)
    return FaceCrop(matrix=matrix, input_size=int(input_size))
