"""Cleft-lip-like deformations of the upper lip: parametric (LT-v1) and shape transfer (LT-v2).

Both only move upper-lip landmarks; the lower lip and the mouth corners are held, the
mesh vertices within ``free_radius_iod`` of the upper lip follow smoothly (:mod:`.deform`)
except those of the ``still_regions`` (FaceMesh region names) and the face outline,
which never move. LT-v1 lets the nose base follow (a raised lip border with a displaced
nostril sill is the cleft-lip picture, and a still nose leaves a short upper lip no room
to rise); LT-v2 holds the nose so that only the lip region changes. ``side`` is the
image side of the (simulated) cleft.

**LT-v1** — three parametric edits seen in unilateral cleft lip, summed (set a
magnitude to 0 to switch one off). With ``x`` the horizontal position along the lip,
``IOD`` the inter-ocular distance and ``bump`` Wendland's C² bump
(:func:`.deform.smooth_bump`, 1 at the centre, 0 beyond the half-width):

* *peak raise*: the vermilion border rises by ``peak_raise_iod[s] · IOD ·
  bump(|x − x_peak| / (peak_halfwidth_iod · IOD))`` around the cupid's-bow peak on the
  cleft side; the free margin rises by ``inner_follow`` times that (a short lip).
* *bow shift*: the centre of the upper lip moves horizontally towards the non-cleft
  side by ``bow_shift_iod[s] · IOD · bump(|x − x_mid| / (bow_halfwidth_iod · IOD))``
  (the philtrum and cupid's bow deviate to the non-cleft side).
* *notch*: the free margin rises by ``notch_depth_iod[s] · IOD · bump(|x − x_notch| /
  (notch_halfwidth_iod · IOD))`` at ``x_notch`` = the peak moved ``notch_offset_iod``
  towards the cleft side (next to the philtral column); the vermilion border follows
  by ``notch_outer_follow``, so the red lip thins into a V notch.

**LT-v2** — lip-shape transfer (Rosero et al. 2024): a *template* (the upper-lip
landmarks of a real cleft-lip photo, :func:`extract_lip_template`) is scaled by the
ratio of the control's to the template's commissure distance, translated so its
cupid's-bow midpoint lands on the control's, and blended with the control's upper-lip
landmarks with weight ``blend_weight[s]`` (severity / 4 by default); the face is then
warped so its upper lip takes the blended shape. The template is not rotated: both
faces are aligned with level eyes.

One step is added to the published recipe, the *hinge correction*: each half of the
placed template (cupid's-bow midpoint → commissure) is sheared so that its commissure
lands on the control's. Without it, how far the corners sit below the cupid's bow —
which depends mostly on how open the mouth is and on the smile, not on the cleft —
dominates the transfer: the real templates (children, often with open mouths) put the
corners up to 0.3 IOD lower than a closed adult mouth, and since the warp holds the
commissures, that difference would fold the lip. After the correction the transfer
carries what distinguishes the cleft lip: the heights of the peaks and of the border
between the bow and the corners, asymmetry, notches and the vermilion's thickness.
Templates are kept as a small long table (:func:`templates_to_table`), so no photo is
needed after extraction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from facial_anomaly.faces.mesh import mirror_pairs
from facial_anomaly.faces.preprocess import locate_face

from .anatomy import (
    CUPIDS_BOW_MIDPOINT,
    CUPIDS_BOW_PEAKS,
    INNER_MOUTH_CORNERS,
    LOWER_LIP_INNER,
    LOWER_LIP_OUTER,
    MOUTH_CORNERS,
    UPPER_LIP_INNER,
    UPPER_LIP_OUTER,
)
from .base import SIDES, SyntheticFace, inter_ocular_distance, moves_metadata, per_severity
from .deform import WarpedFace, deform_face, fitted_displacement, smooth_bump, still_vertices, vertices_near

# Landmarks of a lip template, in this order: the upper lip's outer then inner contour.
TEMPLATE_LANDMARKS = UPPER_LIP_OUTER + UPPER_LIP_INNER
TEMPLATE_COLUMNS = ["template", "landmark", "x", "y", "cleft_side"]
_CORNERS = (*MOUTH_CORNERS.values(), *INNER_MOUTH_CORNERS.values())
# Upper-lip landmarks a lip deformation moves (the corners stay: they fix the scale).
_MOVED_OUTER = tuple(i for i in UPPER_LIP_OUTER if i not in _CORNERS)
_MOVED_INNER = tuple(i for i in UPPER_LIP_INNER if i not in _CORNERS)


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class LipTemplate:
    """Upper-lip shape of one real cleft-lip photo.

    ``points``: (22, 2) float, aligned-crop pixels of :data:`TEMPLATE_LANDMARKS` in that
    order; ``cleft_side``: image side of the cleft ("left"/"right"); ``name``: an id.

    Raises:
        ValueError: when ``points`` has the wrong shape or missing (NaN/inf) values, or
            ``cleft_side`` is not an image side.
    """

    name: str
    points: np.ndarray
    cleft_side: str

    def __post_init__(self):
        points = np.array(self.points, dtype=np.float64)  # a private, read-only copy
        expected = (len(TEMPLATE_LANDMARKS), 2)
        if points.shape != expected:
            raise ValueError(
                f"lip template {self.name!r} must have {expected[0]} upper-lip landmarks (x, y), "
                f"got an array of shape {points.shape}"
            )
        missing = ~np.isfinite(points).all(axis=1)
        if missing.any():
            landmarks = [TEMPLATE_LANDMARKS[i] for i in np.flatnonzero(missing)]
            raise ValueError(
                f"lip template {self.name!r} has missing (NaN or infinite) coordinates for landmarks {landmarks}"
            )
        if self.cleft_side not in SIDES:
            raise ValueError(f"lip template {self.name!r}: cleft_side must be one of {SIDES}, got {self.cleft_side!r}")
        points.setflags(write=False)
        object.__setattr__(self, "points", points)

    def point(self, landmark: int) -> np.ndarray:
        return self.points[TEMPLATE_LANDMARKS.index(landmark)]

    def mirrored(self) -> "LipTemplate":
        """The same lip seen in a mirror (cleft on the other side), about the cupid's-bow midpoint."""
        pairs = mirror_pairs()
        axis_x = self.point(CUPIDS_BOW_MIDPOINT)[0]
        points = np.array([self.point(int(pairs[landmark])) for landmark in TEMPLATE_LANDMARKS])
        points[:, 0] = 2.0 * axis_x - points[:, 0]
        return LipTemplate(self.name, points, "right" if self.cleft_side == "left" else "left")


def raised_side(points: np.ndarray) -> str:
    """Image side whose cupid's-bow peak sits higher above the line of the mouth corners
    (in a unilateral cleft the peak on the cleft side is pulled up).

    Args:
        points: landmarks (478, 2|3) or a template's (22, 2) points.
    """

    def get(landmark):
        return points[landmark] if len(points) > len(TEMPLATE_LANDMARKS) else points[TEMPLATE_LANDMARKS.index(landmark)]

    corner_y = (get(MOUTH_CORNERS["left"])[1] + get(MOUTH_CORNERS["right"])[1]) / 2.0
    rise = {side: corner_y - get(CUPIDS_BOW_PEAKS[side])[1] for side in SIDES}
    return max(SIDES, key=lambda side: rise[side])


def extract_lip_template(
    rgb_photo: np.ndarray, preprocess_config: dict, *, name: str | None = None, cleft_side: str | None = None
) -> LipTemplate:
    """Measure the upper-lip template of a cleft-lip photo (run at run time on photos the
    user names; only the 22 landmark positions are kept).

    The photo is preprocessed exactly like every other input (detection, FaceMesh,
    alignment with ``preprocess_config``), so the template is in aligned-crop pixels.

    Args:
        rgb_photo: H×W×3 uint8 RGB photo of a face with a cleft lip.
        preprocess_config: the resolved preprocess config (see
            :class:`facial_anomaly.faces.config.PreprocessConfig`).
        name: the template id; default ``lip-<first 10 hex digits of the SHA-1 of the
            pixels>`` (stable, and it does not carry the file name).
        cleft_side: the image side of the cleft when known; default :func:`raised_side`.

    Raises:
        ValueError: when no face or no landmarks are found (with the preprocessing reason).
    """
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb_photo), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode the photo for preprocessing")
    geometry, _ = locate_face(encoded.tobytes(), preprocess_config)
    if not geometry.ok:
        raise ValueError(f"no lip template: the photo was rejected ({geometry.status}: {geometry.detail})")
    landmarks = geometry.aligned_landmarks()
    if name is None:
        name = "lip-" + hashlib.sha1(np.ascontiguousarray(rgb_photo).tobytes()).hexdigest()[:10]
    return LipTemplate(
        name=name,
        points=landmarks[list(TEMPLATE_LANDMARKS), :2],
        cleft_side=cleft_side if cleft_side is not None else raised_side(landmarks),
    )


def templates_to_table(templates) -> pd.DataFrame:
    """Long table, one row per template and landmark: ``template, landmark, x, y, cleft_side``.

    Raises:
        ValueError: when two templates share a name (the name is the table's key).
    """
    templates = list(templates)
    names = [template.name for template in templates]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"lip template names must be unique; repeated: {duplicated}")
    rows = [
        (template.name, landmark, float(x), float(y), template.cleft_side)
        for template in templates
        for landmark, (x, y) in zip(TEMPLATE_LANDMARKS, template.points)
    ]
    return pd.DataFrame(rows, columns=TEMPLATE_COLUMNS)


def templates_from_table(table: pd.DataFrame) -> list[LipTemplate]:
    """Inverse of :func:`templates_to_table`, in the order the templates first appear.

    Raises:
        ValueError: naming the template and what is wrong (a missing column, missing,
            duplicated or unexpected landmarks, NaN coordinates, several cleft sides).
    """
    absent = [column for column in TEMPLATE_COLUMNS if column not in table.columns]
    if absent:
        raise ValueError(f"lip template table lacks the columns {absent}")
    templates = []
    for name, rows in table.groupby("template", sort=False):
        landmarks = rows["landmark"].astype(int).tolist()
        missing = sorted(set(TEMPLATE_LANDMARKS) - set(landmarks))
        extra = sorted(set(landmarks) - set(TEMPLATE_LANDMARKS))
        if missing or extra or len(landmarks) != len(TEMPLATE_LANDMARKS):
            raise ValueError(
                f"lip template {name!r} must list each of the {len(TEMPLATE_LANDMARKS)} upper-lip landmarks once; "
                f"got {len(landmarks)} rows, missing {missing}, unexpected {extra}"
            )
        sides = rows["cleft_side"].unique().tolist()
        if len(sides) != 1:
            raise ValueError(f"lip template {name!r} has several cleft sides: {sides}")
        by_landmark = rows.set_index(rows["landmark"].astype(int))
        points = by_landmark.loc[list(TEMPLATE_LANDMARKS), ["x", "y"]].to_numpy(dtype=np.float64)
        templates.append(LipTemplate(name=str(name), points=points, cleft_side=sides[0]))
    return templates


def save_lip_templates(templates, path: str | Path) -> None:
    """Write templates as a parquet table (:func:`templates_to_table`)."""
    templates_to_table(templates).to_parquet(path, index=False)


def load_lip_templates(path: str | Path) -> list[LipTemplate]:
    """Read templates written by :func:`save_lip_templates` (validated)."""
    return templates_from_table(pd.read_parquet(path))


# --------------------------------------------------------------------------- deformations


def _upper_lip_problem(landmarks, targets: dict[int, np.ndarray], params: dict, iod: float):
    """(constrained, moves, free) of a warp that moves the upper-lip landmarks to ``targets``
    (index → (x, y)); the lower lip and the corners are held, vertices within
    ``free_radius_iod`` of the upper lip follow, the ``still_regions`` and the face outline stay."""
    xy = landmarks[:, :2]
    moved = np.array(sorted(targets), dtype=np.int64)
    held = np.array(sorted(set(LOWER_LIP_OUTER + LOWER_LIP_INNER + _CORNERS)), dtype=np.int64)
    constrained = np.concatenate([moved, held])
    moves = np.vstack([np.array([targets[i] for i in moved]) - xy[moved], np.zeros((len(held), 2))])
    free_radius_px = params["free_radius_iod"] * iod
    free = np.setdiff1d(
        vertices_near(xy, xy[list(UPPER_LIP_OUTER)], free_radius_px), still_vertices(*params["still_regions"])
    )
    return constrained, moves, free


def _upper_lip_warp(face, landmarks, targets: dict[int, np.ndarray], params: dict, iod: float) -> WarpedFace:
    """Warp the face so the moved upper-lip landmarks reach ``targets`` (:func:`_upper_lip_problem`)."""
    return deform_face(face, landmarks, *_upper_lip_problem(landmarks, targets, params, iod), params["warp"], iod)


def _key_moves(targets: dict, xy: np.ndarray, side: str) -> dict:
    """Requested moves of the cleft-side cupid's-bow peak and of the bow's midpoint."""
    return {index: targets[index] - xy[index] for index in (CUPIDS_BOW_PEAKS[side], CUPIDS_BOW_MIDPOINT)}


def _lt_v1_targets(landmarks: np.ndarray, severity: int, side: str, params: dict):
    """(targets, iod, raise px, shift px, notch px) of LT-v1 (see :func:`parametric_lip_deformation`)."""
    iod = inter_ocular_distance(landmarks)
    xy = landmarks[:, :2]
    towards_cleft = -1.0 if side == "left" else 1.0
    raise_px = per_severity(params["peak_raise_iod"], severity, "peak_raise_iod") * iod
    shift_px = per_severity(params["bow_shift_iod"], severity, "bow_shift_iod") * iod
    notch_px = per_severity(params["notch_depth_iod"], severity, "notch_depth_iod") * iod
    peak_x = xy[CUPIDS_BOW_PEAKS[side], 0]
    middle_x = xy[CUPIDS_BOW_MIDPOINT, 0]
    notch_x = peak_x + towards_cleft * params["notch_offset_iod"] * iod

    def profile(x, centre, halfwidth_iod):
        return smooth_bump((x - centre) / (halfwidth_iod * iod))

    targets = {}
    for contour, raise_share, notch_share in (
        (_MOVED_OUTER, 1.0, params["notch_outer_follow"]),
        (_MOVED_INNER, params["inner_follow"], 1.0),
    ):
        for index in contour:
            x = xy[index, 0]
            up = raise_px * raise_share * profile(
                x, peak_x, params["peak_halfwidth_iod"]
            ) + notch_px * notch_share * profile(x, notch_x, params["notch_halfwidth_iod"])
            across = -towards_cleft * shift_px * profile(x, middle_x, params["bow_halfwidth_iod"])
            targets[index] = xy[index] + np.array([across, -up])
    return targets, iod, raise_px, shift_px, notch_px


def lip_lt_v1_displacement(landmarks: np.ndarray, shape, *, severity: int, side: str, params: dict) -> np.ndarray:
    """The forward displacement field (H×W×2, pixels) that :func:`parametric_lip_deformation`
    applies to a face of ``shape`` with these landmarks, without warping any image (for
    re-applying the same warp scaled; :mod:`facial_anomaly.supervised.fresh`)."""
    targets, iod, *_ = _lt_v1_targets(np.asarray(landmarks, dtype=np.float64), severity, side, params)
    constrained, moves, free = _upper_lip_problem(landmarks, targets, params, iod)
    field, _ = fitted_displacement(landmarks, shape, constrained, moves, free, params["warp"], iod)
    return field


def parametric_lip_deformation(face, landmarks, *, severity: int, side: str, rng, params: dict) -> SyntheticFace:
    """LT-v1 (see the module docstring). Called through :func:`facial_anomaly.synthesis.generate`,
    which validates the inputs and returns severity 0 untouched.

    ``params``: ``peak_raise_iod``, ``bow_shift_iod``, ``notch_depth_iod`` (per severity),
    ``peak_halfwidth_iod``, ``inner_follow``, ``bow_halfwidth_iod``, ``notch_halfwidth_iod``,
    ``notch_offset_iod``, ``notch_outer_follow``, ``free_radius_iod``, ``still_regions``
    (FaceMesh regions that never move, besides the face outline), ``warp``
    (``smoothing_iod``, ``grid_step_iod``; see :func:`.deform.deform_face`). ``rng`` is unused
    (the edit is fully determined by severity and side).
    """
    targets, iod, raise_px, shift_px, notch_px = _lt_v1_targets(landmarks, severity, side, params)
    xy = landmarks[:, :2]
    warped = _upper_lip_warp(face, landmarks, targets, params, iod)
    return SyntheticFace(
        warped.image,
        warped.landmarks,
        warped.edited_mask,
        {
            "variant": "LT-v1",
            "iod_px": iod,
            "peak_raise_iod": raise_px / iod,
            "bow_shift_iod": shift_px / iod,
            "notch_depth_iod": notch_px / iod,
            "move_scale": warped.move_scale,
            **moves_metadata(landmarks, warped.landmarks, _key_moves(targets, xy, side), iod),
        },
    )


def placed_template(template: LipTemplate, landmarks: np.ndarray) -> np.ndarray:
    """The template's (22, 2) points placed on the control face (see the module docstring):
    scaled by the ratio of the commissure distances (control / template), translated so
    its cupid's-bow midpoint lies on the control's, then each half sheared so its
    commissure lies on the control's (the hinge correction)."""
    xy = landmarks[:, :2]
    control_width = np.linalg.norm(xy[MOUTH_CORNERS["right"]] - xy[MOUTH_CORNERS["left"]])
    template_width = np.linalg.norm(template.point(MOUTH_CORNERS["right"]) - template.point(MOUTH_CORNERS["left"]))
    origin = template.point(CUPIDS_BOW_MIDPOINT)
    placed = (template.points - origin) * (control_width / template_width) + xy[CUPIDS_BOW_MIDPOINT]
    middle_x = xy[CUPIDS_BOW_MIDPOINT, 0]
    for side, corner in MOUTH_CORNERS.items():
        template_corner = placed[TEMPLATE_LANDMARKS.index(corner)]
        on_side = np.clip((placed[:, 0] - middle_x) / (template_corner[0] - middle_x), 0.0, 1.0)
        placed = placed + on_side[:, None] * (xy[corner] - template_corner)[None, :]
    return placed


def lip_shape_transfer(face, landmarks, *, severity: int, side: str, rng, params: dict) -> SyntheticFace:
    """LT-v2 (see the module docstring). Called through :func:`facial_anomaly.synthesis.generate`.

    ``params``: ``blend_weight`` (per severity), ``free_radius_iod``, ``still_regions`` and
    ``warp`` (as for LT-v1), and ``templates``: a
    non-empty sequence of :class:`LipTemplate` (added by the caller, e.g. from
    :func:`load_lip_templates`). ``rng`` picks the template, which is mirrored when its
    cleft is on the other side than ``side``.

    Raises:
        ValueError: when no template is given.
    """
    templates = list(params.get("templates") or [])
    if not templates:
        raise ValueError(
            "lip_lt_v2 needs params['templates']: LipTemplate objects (extract_lip_template / load_lip_templates)"
        )
    template = templates[int(rng.integers(len(templates)))]
    mirrored = side != template.cleft_side
    if mirrored:
        template = template.mirrored()
    weight = float(per_severity(params["blend_weight"], severity, "blend_weight"))
    iod = inter_ocular_distance(landmarks)
    xy = landmarks[:, :2]
    placed = dict(zip(TEMPLATE_LANDMARKS, placed_template(template, landmarks)))
    targets = {index: (1.0 - weight) * xy[index] + weight * placed[index] for index in _MOVED_OUTER + _MOVED_INNER}
    # The free margin of the upper lip may rise (open) but not sink past the lower lip's.
    for upper, lower in zip(UPPER_LIP_INNER, LOWER_LIP_INNER):
        if upper in targets:
            targets[upper][1] = min(targets[upper][1], xy[lower, 1])
    warped = _upper_lip_warp(face, landmarks, targets, params, iod)
    return SyntheticFace(
        warped.image,
        warped.landmarks,
        warped.edited_mask,
        {
            "variant": "LT-v2",
            "iod_px": iod,
            "template": template.name,
            "template_mirrored": mirrored,
            "blend_weight": weight,
            "move_scale": warped.move_scale,
            **moves_metadata(landmarks, warped.landmarks, _key_moves(targets, xy, side), iod),
        },
    )
