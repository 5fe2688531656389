"""Facial-palsy-like droop: one mouth corner sags and the nasolabial fold on that side flattens.

In a unilateral facial (VII) nerve palsy the paralysed side loses tone: the oral
commissure drops and drifts slightly towards the midline, and the nasolabial fold
fades because the cheek no longer bunches up against it. ``side`` is the image side
of the paralysed half.

* *Droop* (geometry): the commissure on ``side`` moves down by ``corner_drop_iod[s]``
  and towards the midline by ``corner_medial_iod[s]`` (× IOD). Every lip-contour
  landmark on that side moves by the same vector times ``t ** lip_follow_power``,
  where ``t`` runs from 0 at the lip midline to 1 at the corner; the other half of the
  lips stays. Mesh vertices within ``free_radius_iod`` of the corner (cheek, chin)
  follow smoothly (:mod:`.deform`); the ``still_regions`` and the face outline stay.
* *Flattening* (shading): along the nasolabial crease (FaceMesh vertices from the alar
  base past the mouth corner) the mid-scale lightness — the crease's shadow and
  highlight, between Gaussian scales ``band_sigma_iod`` — is reduced by
  ``nasolabial_flattening[s]`` (0 = unchanged, 1 = removed). Finer skin texture and the
  broad shading of the face are kept, so the skin does not look smoothed. The weight
  is a band of half-width ``fold_halfwidth_iod`` around the crease, feathered by a
  Gaussian of ``fold_feather_iod``.
"""

from __future__ import annotations

import cv2
import numpy as np

from .anatomy import (
    CUPIDS_BOW_MIDPOINT,
    IMAGE_LEFT_NASOLABIAL_FOLD,
    LOWER_LIP_INNER,
    LOWER_LIP_OUTER,
    MOUTH_CORNERS,
    UPPER_LIP_INNER,
    UPPER_LIP_OUTER,
    sided,
)
from .base import SyntheticFace, inter_ocular_distance, moves_metadata, per_severity
from .colour import to_lab, write_lab_deltas
from .deform import deform_face, fitted_displacement, still_vertices, vertices_near

_LIP_CONTOURS = tuple(sorted(set(UPPER_LIP_OUTER + UPPER_LIP_INNER + LOWER_LIP_OUTER + LOWER_LIP_INNER)))
# Weights below this (1/255 of full strength) cannot change an 8-bit pixel: the
# flattening band ends there, so the edited region is finite.
_MIN_WEIGHT = 1.0 / 255.0


def nasolabial_weight(landmarks: np.ndarray, side: str, shape, *, halfwidth_px: float, feather_px: float) -> np.ndarray:
    """H×W float32 weight in [0, 1]: a band along the nasolabial crease on ``side``,
    Gaussian-feathered, exactly 0 where it is below 1/255."""
    crease = np.round(landmarks[list(sided(IMAGE_LEFT_NASOLABIAL_FOLD, side)), :2]).astype(np.int32)
    band = np.zeros(shape[:2], dtype=np.float32)
    cv2.polylines(band, [crease], isClosed=False, color=1.0, thickness=max(1, int(round(2 * halfwidth_px))))
    weight = cv2.GaussianBlur(band, (0, 0), feather_px) if feather_px > 0 else band
    weight[weight < _MIN_WEIGHT] = 0.0
    return weight


def _palsy_problem(landmarks: np.ndarray, severity: int, side: str, params: dict):
    """(constrained, moves, free, corner move px, drop px, medial px, flattening, iod) of the palsy droop."""
    iod = inter_ocular_distance(landmarks)
    xy = landmarks[:, :2]
    corner = MOUTH_CORNERS[side]
    towards_midline = 1.0 if side == "left" else -1.0
    drop_px = per_severity(params["corner_drop_iod"], severity, "corner_drop_iod") * iod
    medial_px = per_severity(params["corner_medial_iod"], severity, "corner_medial_iod") * iod
    flattening = float(per_severity(params["nasolabial_flattening"], severity, "nasolabial_flattening"))
    corner_move = np.array([towards_midline * medial_px, drop_px])

    constrained = np.array(_LIP_CONTOURS, dtype=np.int64)
    along = (xy[constrained, 0] - xy[CUPIDS_BOW_MIDPOINT, 0]) / (xy[corner, 0] - xy[CUPIDS_BOW_MIDPOINT, 0])
    share = np.clip(along, 0.0, 1.0) ** params["lip_follow_power"]
    moves = share[:, None] * corner_move[None, :]
    free = np.setdiff1d(
        vertices_near(xy, xy[[corner]], params["free_radius_iod"] * iod), still_vertices(*params["still_regions"])
    )
    return constrained, moves, free, corner_move, drop_px, medial_px, flattening, iod


def palsy_displacement(landmarks: np.ndarray, shape, *, severity: int, side: str, params: dict) -> np.ndarray:
    """The forward displacement field (H×W×2, pixels) of the droop that :func:`facial_palsy`
    applies to a face of ``shape`` with these landmarks, without warping any image (the
    flattened fold is :func:`flatten_nasolabial_fold`)."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    constrained, moves, free, *_, iod = _palsy_problem(landmarks, severity, side, params)
    field, _ = fitted_displacement(landmarks, shape, constrained, moves, free, params["warp"], iod)
    return field


def flatten_nasolabial_fold(
    image: np.ndarray, landmarks: np.ndarray, side: str, flattening: float, params: dict
) -> tuple[np.ndarray, np.ndarray]:
    """Remove ``flattening`` (0..1) of the crease shading in the band around the nasolabial
    fold of ``side`` (see the module docstring); returns (uint8 image, bool mask of the band)."""
    iod = inter_ocular_distance(landmarks)
    weight = nasolabial_weight(
        landmarks,
        side,
        image.shape,
        halfwidth_px=params["fold_halfwidth_iod"] * iod,
        feather_px=params["fold_feather_iod"] * iod,
    )
    fine_sigma, coarse_sigma = (sigma * iod for sigma in params["band_sigma_iod"])
    lightness = to_lab(image)[..., 0]
    crease_shading = cv2.GaussianBlur(lightness, (0, 0), fine_sigma) - cv2.GaussianBlur(lightness, (0, 0), coarse_sigma)
    deltas = np.zeros(image.shape, dtype=np.float32)
    deltas[..., 0] = -flattening * weight * crease_shading
    flattened = weight > 0
    return write_lab_deltas(image, deltas, flattened), flattened


def facial_palsy(face, landmarks, *, severity: int, side: str, rng, params: dict) -> SyntheticFace:
    """Facial-palsy-like droop (see the module docstring). Called through
    :func:`facial_anomaly.synthesis.generate`, which validates the inputs and returns
    severity 0 untouched. ``rng`` is unused (the edit is determined by severity and side).

    ``params``: ``corner_drop_iod``, ``corner_medial_iod``, ``nasolabial_flattening`` (per
    severity), ``lip_follow_power``, ``free_radius_iod``, ``still_regions`` (FaceMesh
    regions that never move, besides the face outline), ``fold_halfwidth_iod``,
    ``fold_feather_iod``, ``band_sigma_iod`` ([fine, coarse]), ``warp`` (``smoothing_iod``,
    ``grid_step_iod``; see :func:`.deform.deform_face`).
    """
    constrained, moves, free, corner_move, drop_px, medial_px, flattening, iod = _palsy_problem(
        landmarks, severity, side, params
    )
    corner = MOUTH_CORNERS[side]
    warped = deform_face(face, landmarks, constrained, moves, free, params["warp"], iod)
    image, new_landmarks, edited = warped.image, warped.landmarks, warped.edited_mask

    if flattening > 0:
        image, flattened = flatten_nasolabial_fold(image, new_landmarks, side, flattening, params)
        edited |= flattened

    return SyntheticFace(
        image,
        new_landmarks,
        edited,
        {
            "iod_px": iod,
            "corner_drop_iod": drop_px / iod,
            "corner_medial_iod": medial_px / iod,
            "nasolabial_flattening": flattening,
            "move_scale": warped.move_scale,
            **moves_metadata(landmarks, new_landmarks, {corner: corner_move}, iod),
        },
    )
