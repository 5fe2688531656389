"""Similarity alignment of a face: eyes level, fixed inter-ocular distance, fixed crop.

Hayajneh et al. 2022 (§1.1) level the eyes and fix the eye distance before cropping so
that every face is compared in the same frame. The transform is a 2×3 similarity matrix
``M`` mapping source pixels to aligned pixels, ``[x', y'] = M @ [x, y, 1]``; it is saved
per image so heatmaps can be mapped back onto the original photo with its inverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .landmarks import eye_centers


@dataclass(frozen=True)
class AlignmentSpec:
    """Where the eyes go in the aligned crop.

    ``output_size`` is the side of the square crop in pixels, ``eye_distance_px`` the
    distance between the eye centres after alignment, ``eye_center_y`` the height of
    the eye midpoint as a fraction of ``output_size`` (the midpoint is centred
    horizontally, on column ``(output_size − 1) / 2``).
    """

    output_size: int
    eye_distance_px: float
    eye_center_y: float

    @classmethod
    def from_config(cls, config: dict) -> "AlignmentSpec":
        return cls(
            output_size=int(config["output_size"]),
            eye_distance_px=float(config["eye_distance_px"]),
            eye_center_y=float(config["eye_center_y"]),
        )


def similarity_matrix(left_eye: np.ndarray, right_eye: np.ndarray, spec: AlignmentSpec) -> np.ndarray:
    """2×3 matrix that rotates about the eye midpoint to level the eyes, scales their
    distance to ``spec.eye_distance_px`` and moves the midpoint to its place in the crop.

    Args:
        left_eye, right_eye: (x, y) of the image-left and image-right eye centres.

    Raises:
        ValueError: when the eyes coincide (no defined direction or scale).
    """
    delta = np.asarray(right_eye, dtype=np.float64) - np.asarray(left_eye, dtype=np.float64)
    distance = float(np.hypot(*delta))
    if not np.isfinite(distance) or distance < 1e-6:
        raise ValueError(f"eye centres coincide or are not finite (distance {distance})")
    scale = spec.eye_distance_px / distance
    cos, sin = delta / distance
    # Rotation by minus the eye-line angle: maps the eye vector onto +x.
    linear = scale * np.array([[cos, sin], [-sin, cos]])
    midpoint = (np.asarray(left_eye, dtype=np.float64) + np.asarray(right_eye, dtype=np.float64)) / 2.0
    # Pixel centres are at integer coordinates (OpenCV's warps), so the crop's centre column
    # is (size − 1) / 2: mirroring the photo then mirrors the crop exactly (x ↔ size − 1 − x).
    target = np.array([(spec.output_size - 1) / 2.0, spec.eye_center_y * spec.output_size])
    translation = target - linear @ midpoint
    return np.hstack([linear, translation[:, None]])


def alignment_from_landmarks(landmarks: np.ndarray, spec: AlignmentSpec) -> np.ndarray:
    """The 2×3 alignment matrix for a face given its 478 landmarks in source pixels."""
    left, right = eye_centers(landmarks)
    return similarity_matrix(left, right, spec)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a 2×3 affine matrix to (N, 2) or (N, 3) points; a third (depth) column is
    multiplied by the matrix's scale so it stays in pixel units."""
    points = np.asarray(points, dtype=np.float64)
    out = points.copy()
    out[:, :2] = points[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    if points.shape[1] == 3:
        out[:, 2] = points[:, 2] * matrix_scale(matrix)
    return out


def matrix_scale(matrix: np.ndarray) -> float:
    """Isotropic scale of a similarity matrix."""
    return float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))


def matrix_roll_degrees(matrix: np.ndarray) -> float:
    """Roll of the source face in degrees (the rotation the alignment removed)."""
    return float(np.degrees(np.arctan2(matrix[0, 1], matrix[0, 0])))


def invert_matrix(matrix: np.ndarray) -> np.ndarray:
    """Inverse 2×3 affine matrix: maps aligned pixels back to source pixels."""
    return cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))
