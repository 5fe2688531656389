"""Landmark geometry shared by the normalizers: the facial plane of symmetry, mirror
symmetry, landmark asymmetry, and warping a face onto new landmark positions with the
background anchored."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..faces.mesh import NUM_MESH_POINTS, face_outline, midline_indices, mirror_pairs
from ..faces.warp import anchored_points, anchored_triangulation, piecewise_affine_warp, warp_landmarks


@dataclass(frozen=True)
class Midline:
    """The facial plane of symmetry through ``point`` with unit ``normal`` (x, y, z).

    Fitted to 3-D landmarks it is the midsagittal plane, so a turned head (yaw) is
    mirrored correctly; fitted to 2-D landmarks ``normal`` has no z part and the plane
    is the midline seen in the picture.
    """

    point: np.ndarray
    normal: np.ndarray

    def reflect(self, points: np.ndarray) -> np.ndarray:
        """Mirror (N, 2|3) points about the plane (2-D points about its trace in the image)."""
        points = np.asarray(points, dtype=np.float64)
        dims = points.shape[1]
        normal = self.normal[:dims] / np.linalg.norm(self.normal[:dims])
        offset = (points - self.point[:dims]) @ normal
        return points - 2.0 * offset[:, None] * normal

    def reflection_matrix(self) -> np.ndarray:
        """2×3 affine matrix of the reflection about the image trace of the plane (for
        ``cv2.warpAffine``; it is its own inverse)."""
        normal = self.normal[:2] / np.linalg.norm(self.normal[:2])
        linear = np.eye(2) - 2.0 * np.outer(normal, normal)
        return np.hstack([linear, (self.point[:2] - linear @ self.point[:2])[:, None]])


def fit_midline(landmarks: np.ndarray) -> Midline:
    """Total-least-squares plane through the FaceMesh midline landmarks (forehead, nose,
    lips, chin): in 3-D when the landmarks have depth, else the line in the image."""
    points = np.asarray(landmarks, dtype=np.float64)[midline_indices()]
    centre = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - centre, full_matrices=False)
    if points.shape[1] == 2:
        direction = vt[0]
        normal = np.array([-direction[1], direction[0], 0.0])
        centre = np.append(centre, 0.0)
    else:
        normal = vt[-1]  # the direction the midline points spread least in
    normal = normal if normal[0] >= 0 else -normal  # pointing to image-right
    return Midline(centre, normal)


def symmetric_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """The mirror-symmetric version of a landmark configuration: each landmark averaged
    with the mirror image (about the fitted plane of symmetry) of its counterpart."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    mirrored = fit_midline(landmarks).reflect(landmarks[mirror_pairs()])
    return (landmarks + mirrored) / 2.0


def landmark_asymmetry(landmarks: np.ndarray, indices: np.ndarray | None = None) -> float:
    """Mean distance (pixels; 3-D when the landmarks have depth) between landmarks and the
    mirror images of their counterparts about the fitted plane of symmetry, over
    ``indices`` (default: the 468 mesh points); 0 for a perfectly symmetric face."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    indices = np.arange(NUM_MESH_POINTS) if indices is None else np.asarray(indices)
    mirrored = fit_midline(landmarks).reflect(landmarks[mirror_pairs()[indices]])
    return float(np.linalg.norm(landmarks[indices] - mirrored, axis=1).mean())


@dataclass(frozen=True)
class AnchoredWarp:
    """How far the background anchors of a warp lie from the face."""

    ring_scale: float
    border_step_px: float

    def warp_face(self, face: np.ndarray, landmarks: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Warp ``face`` so its landmarks move to ``target`` (478 rows; the 468 mesh points
        drive the warp). Anchors around the face and on the image border stay put, so the
        background is untouched.

        Returns:
            ``(image, landmarks)``: the warped image and the target landmarks with the
            iris points carried along by the warp.
        """
        anchors = anchored_points(landmarks, face.shape, ring_scale=self.ring_scale, border_step_px=self.border_step_px)
        triangles = anchored_triangulation(landmarks, anchors)
        image = piecewise_affine_warp(face, landmarks, target, triangles, border_points=anchors)
        moved = np.asarray(target, dtype=np.float64).copy()
        iris = slice(NUM_MESH_POINTS, None)
        moved[iris, :2] = warp_landmarks(landmarks[iris], landmarks, target, triangles, border_points=anchors)[:, :2]
        return image, moved


def face_region_mask(landmarks: np.ndarray, shape: tuple[int, ...], *, feather_px: float) -> np.ndarray:
    """H×W float32 in [0, 1]: 1 inside the FaceMesh face outline, Gaussian-feathered by
    ``feather_px`` (0 = hard edge)."""
    mask = np.zeros(shape[:2], dtype=np.float32)
    outline = np.round(np.asarray(landmarks)[face_outline(), :2] * 16).astype(np.int32)
    cv2.fillPoly(mask, [outline], 1.0, lineType=cv2.LINE_AA, shift=4)
    if feather_px > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), feather_px)
    return mask
