"""FaceMesh landmarks of the structures the generators edit, and masks drawn from them.

Indices are fixed by the MediaPipe FaceMesh topology (``FACEMESH_LIPS`` contours and
the canonical mesh vertices; checked against the mesh's measured mirror pairs in
``tests/synthesis/test_anatomy.py``). Lists run from image-left to image-right, and
polygons given for the image-left side are mirrored with
:func:`facial_anomaly.faces.mesh.mirror_pairs` for the image-right side.
"""

from __future__ import annotations

import cv2
import numpy as np

from facial_anomaly.faces.mesh import face_outline, mirror_pairs, region_indices

# FACEMESH_LIPS contours, image-left → image-right. The outer upper contour is the
# vermilion border (white roll) with the cupid's bow; the inner ones are the free
# margins where the lips meet.
UPPER_LIP_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
UPPER_LIP_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_LIP_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LOWER_LIP_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
MOUTH_CORNERS = {"left": 61, "right": 291}  # oral commissures (outer contour ends)
INNER_MOUTH_CORNERS = {"left": 78, "right": 308}
CUPIDS_BOW_MIDPOINT = 0  # labrale superius: the midline dip of the cupid's bow
CUPIDS_BOW_PEAKS = {"left": 37, "right": 267}  # the crests; the philtral columns rise from them

# Image-left region outlines (closed polygons through mesh vertices).
FOREHEAD = (70, 63, 105, 66, 107, 9, 336, 296, 334, 293, 300, 298, 332, 297, 338, 10, 109, 67, 103, 68)
IMAGE_LEFT_CHEEK = (116, 117, 118, 119, 120, 47, 126, 142, 203, 206, 216, 212, 214, 135, 138, 215, 213, 147, 123)
CHIN = (106, 182, 83, 18, 313, 406, 335, 424, 431, 395, 369, 396, 175, 171, 140, 170, 211, 204)
# Crease of the image-left nasolabial fold, from the alar base down past the mouth corner.
IMAGE_LEFT_NASOLABIAL_FOLD = (203, 206, 216, 212)


def mirrored(indices) -> tuple[int, ...]:
    """The left–right counterparts of landmark indices (image-left ↔ image-right)."""
    pairs = mirror_pairs()
    return tuple(int(pairs[i]) for i in indices)


def sided(indices, side: str) -> tuple[int, ...]:
    """Indices given for the image-left side, for ``side`` ("left" or "right")."""
    return tuple(indices) if side == "left" else mirrored(indices)


def polygon_mask(points: np.ndarray, indices, shape: tuple[int, ...]) -> np.ndarray:
    """H×W bool mask of the polygon through the landmarks ``indices`` (in that order)."""
    mask = np.zeros(shape[:2], dtype=np.uint8)
    polygon = np.round(np.asarray(points)[list(indices), :2]).astype(np.int32)
    cv2.fillPoly(mask, [polygon], 1)
    return mask.astype(bool)


def hull_mask(points: np.ndarray, indices, shape: tuple[int, ...]) -> np.ndarray:
    """H×W bool mask of the convex hull of the landmarks ``indices``."""
    mask = np.zeros(shape[:2], dtype=np.uint8)
    hull = cv2.convexHull(np.round(np.asarray(points)[list(indices), :2]).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    return mask.astype(bool)


def dilate(mask: np.ndarray, radius_px: float) -> np.ndarray:
    """Grow a bool mask by a disc of ``radius_px``."""
    radius = int(round(radius_px))
    if radius <= 0:
        return mask.copy()
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), disc).astype(bool)


def erode(mask: np.ndarray, radius_px: float) -> np.ndarray:
    """Shrink a bool mask by a disc of ``radius_px``."""
    return ~dilate(~mask, radius_px)


def face_mask(points: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Inside of the FaceMesh face outline."""
    return polygon_mask(points, face_outline(), shape)


def skin_regions(points: np.ndarray, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Forehead, cheeks and chin as bool masks (before any margin is taken off), kept inside
    the face outline (the cheek polygons share vertices with it, and rounding can put a few
    edge pixels just outside)."""
    face = face_mask(points, shape)
    return {
        "forehead": polygon_mask(points, FOREHEAD, shape) & face,
        "cheek_left": polygon_mask(points, IMAGE_LEFT_CHEEK, shape) & face,
        "cheek_right": polygon_mask(points, mirrored(IMAGE_LEFT_CHEEK), shape) & face,
        "chin": polygon_mask(points, CHIN, shape) & face,
    }


def feature_masks(points: np.ndarray, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Convex hulls of the eyes, eyebrows, nose and lips (MediaPipe's contour sets)."""
    return {
        "eyes": hull_mask(points, region_indices("image_left_eye"), shape)
        | hull_mask(points, region_indices("image_right_eye"), shape),
        "eyebrows": hull_mask(points, region_indices("image_left_eyebrow"), shape)
        | hull_mask(points, region_indices("image_right_eyebrow"), shape),
        "nose": hull_mask(points, region_indices("nose"), shape),
        "lips": hull_mask(points, region_indices("lips"), shape),
    }
