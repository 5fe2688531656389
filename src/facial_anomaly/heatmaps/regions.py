"""Where on the face a heatmap is scored: boolean masks built from 478 FaceMesh landmarks.

Regions (margins are in inter-ocular distances — the distance between the eye-corner
midpoints — so the same configuration fits any crop size):

* ``mouth_nose`` — the region of Hayajneh et al. 2022 for cleft lip: the convex hull of
  MediaPipe's nose landmarks (bridge to nostrils) and lip landmarks (so the philtrum
  between them is inside), grown by
  ``margin_iod`` to take in the skin around the upper lip and down to the top of the
  chin, and kept inside the face oval;
* ``face_without_eyes`` — the face oval minus each eye with its eyebrow (convex hull of
  eye, eyebrow and iris landmarks per side) grown by ``eye_margin_iod``; eyes move, blink
  and look around, which a normalizer cannot be expected to reproduce;
* ``full_face`` — the convex hull of the face oval;
* ``lower_face`` — the face oval below a line ``below_eyes_iod`` under the eye line
  (parallel to it): cheeks, nose, mouth and chin, where clefts, palsy and most acne,
  lesions and scars are, without the eyes, brows and hairline.

Landmark sets come from MediaPipe's ``face_mesh_connections`` through
:func:`facial_anomaly.faces.mesh.region_indices`, never typed by hand.
"""

from __future__ import annotations

import cv2
import numpy as np

from facial_anomaly.faces.landmarks import eye_centers, validate_landmarks
from facial_anomaly.faces.mesh import region_indices

REGIONS = ("mouth_nose", "face_without_eyes", "full_face", "lower_face")

# Sub-pixel precision of polygon rasterisation (OpenCV ``shift`` bits).
_RASTER_SHIFT_BITS = 4
# Directions approximating the disk of a margin r: the grown polygon is within
# r·(1 − cos(π/128)) ≈ 0.0003·r of the true rounded outline.
_MARGIN_ANGLES = np.linspace(0.0, 2.0 * np.pi, 128, endpoint=False)
_MARGIN_DIRECTIONS = np.column_stack([np.cos(_MARGIN_ANGLES), np.sin(_MARGIN_ANGLES)])


def _indices(*names: str) -> np.ndarray:
    return np.unique(np.concatenate([region_indices(name) for name in names]))


def _hull_mask(points_xy: np.ndarray, shape: tuple[int, int], *, margin_px: float) -> np.ndarray:
    """Convex hull of (N, 2) pixel points grown by ``margin_px`` (Euclidean), as bool H×W.

    A convex polygon grown by a disk is the convex hull of disks around its points, so
    one polygon fill does it — no per-pixel distance transform.
    """
    hull = cv2.convexHull(np.asarray(points_xy, dtype=np.float32)).reshape(-1, 2)
    if margin_px > 0:
        # Only the hull's vertices matter for the grown hull (fewer points to re-hull).
        grown = hull[:, None, :].astype(np.float64) + margin_px * _MARGIN_DIRECTIONS[None]
        hull = cv2.convexHull(grown.reshape(-1, 2).astype(np.float32)).reshape(-1, 2)
    fixed_point = np.round(hull * (1 << _RASTER_SHIFT_BITS)).astype(np.int32)
    mask = np.zeros(shape, dtype=np.uint8)
    cv2.fillConvexPoly(mask, fixed_point, 1, lineType=cv2.LINE_8, shift=_RASTER_SHIFT_BITS)
    return mask.astype(bool)


def _inter_ocular_px(landmarks: np.ndarray) -> float:
    left, right = eye_centers(landmarks)
    return float(np.hypot(*(right - left)))


def _check_margin(name: str, value: float) -> None:
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")


def full_face_mask(landmarks: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Convex hull of the face oval. ``landmarks``: (478, 2|3) pixels; returns bool H×W."""
    points = validate_landmarks(landmarks)[:, :2]
    return _hull_mask(points[region_indices("face_oval")], tuple(shape[:2]), margin_px=0.0)


def mouth_nose_mask(landmarks: np.ndarray, shape: tuple[int, ...], *, margin_iod: float) -> np.ndarray:
    """Nose + philtrum + mouth: hull of the nose and lip landmarks grown by
    ``margin_iod`` × inter-ocular distance, intersected with the face oval. Returns bool H×W."""
    _check_margin("margin_iod", margin_iod)
    points = validate_landmarks(landmarks)[:, :2]
    margin_px = margin_iod * _inter_ocular_px(points)
    grown = _hull_mask(points[_indices("nose", "lips")], tuple(shape[:2]), margin_px=margin_px)
    return grown & full_face_mask(points, shape)


def face_without_eyes_mask(landmarks: np.ndarray, shape: tuple[int, ...], *, eye_margin_iod: float) -> np.ndarray:
    """Face oval minus each eye + eyebrow hull grown by ``eye_margin_iod`` × inter-ocular
    distance. Returns bool H×W."""
    _check_margin("eye_margin_iod", eye_margin_iod)
    points = validate_landmarks(landmarks)[:, :2]
    size = tuple(shape[:2])
    radius = eye_margin_iod * _inter_ocular_px(points)
    eyes = np.zeros(size, dtype=bool)
    for side in ("image_left", "image_right"):
        # One hull per side: a hull over both eyes would also cut out the nasal bridge.
        side_points = points[_indices(f"{side}_eye", f"{side}_eyebrow", f"{side}_iris")]
        eyes |= _hull_mask(side_points, size, margin_px=radius)
    return full_face_mask(points, shape) & ~eyes


def lower_face_mask(landmarks: np.ndarray, shape: tuple[int, ...], *, below_eyes_iod: float) -> np.ndarray:
    """Face oval below the line ``below_eyes_iod`` × inter-ocular distance under the eye line
    (parallel to it; pixel centres at integer coordinates). Returns bool H×W."""
    if not np.isfinite(below_eyes_iod):
        raise ValueError(f"below_eyes_iod must be a finite number, got {below_eyes_iod!r}")
    points = validate_landmarks(landmarks)[:, :2]
    left, right = eye_centers(points)
    iod = float(np.hypot(*(right - left)))
    across = (right - left) / iod
    down = np.array([-across[1], across[0]])
    # 1-D axes broadcast in the sum: the same values as on a full pixel grid, less traffic
    rows = np.arange(shape[0], dtype=np.float64)[:, None]
    cols = np.arange(shape[1], dtype=np.float64)[None, :]
    depth = (cols - (left[0] + right[0]) / 2.0) * down[0] + (rows - (left[1] + right[1]) / 2.0) * down[1]
    return full_face_mask(points, shape) & (depth >= below_eyes_iod * iod)


_REGION_BUILDERS = {
    "mouth_nose": mouth_nose_mask,
    "face_without_eyes": face_without_eyes_mask,
    "full_face": full_face_mask,
    "lower_face": lower_face_mask,
}


def region_mask(landmarks: np.ndarray, shape: tuple[int, ...], region: str, **params) -> np.ndarray:
    """Boolean mask of a named face region.

    Args:
        landmarks: (478, 2|3) FaceMesh landmarks in pixels of the image the mask is for.
        shape: the image shape; only ``shape[:2]`` (H, W) is used.
        region: one of :data:`REGIONS`.
        **params: the region's parameters (one entry of ``regions`` in
            ``parameters_scores.yml``): ``margin_iod`` for ``mouth_nose``,
            ``eye_margin_iod`` for ``face_without_eyes``, none for ``full_face``,
            ``below_eyes_iod`` for ``lower_face``.

    Returns:
        H×W ``bool``.

    Raises:
        ValueError: unknown region (listing the valid ones), bad landmarks or a negative margin.
        TypeError: missing or unexpected parameters for the region.
    """
    if region not in _REGION_BUILDERS:
        raise ValueError(f"unknown region {region!r}; valid: {list(REGIONS)}")
    return _REGION_BUILDERS[region](landmarks, shape, **params)
