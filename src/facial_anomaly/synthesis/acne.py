"""Acne-like inflammatory lesions: papules and pustules on the forehead, cheeks and chin.

Counts follow the spirit of the Hayashi grading used by ACNE04 (mild … very severe by
the number of inflammatory lesions): ``count[s]`` is an inclusive range per severity.
Each lesion is a soft, slightly elliptical spot of radius ``r`` (drawn from the range
``radius_iod[s]`` × IOD as ``low + (high − low) · u^radius_skew``, ``u`` uniform, so small
lesions are more common than large ones) described as CIELAB changes of the skin
(:mod:`.colour`):

* a *core* (Gaussian of ``core_sigma × r``), redder and darker, and a faint
  erythematous *halo* (Gaussian of ``halo_sigma × r``). Both are additive deltas, so the
  skin's texture shows through, and they depend on the skin tone: inflammation looks
  red on light skin and dark red-brown on dark skin, so the deltas are interpolated
  between ``colour.<part>.dark`` and ``colour.<part>.light`` by the median skin
  lightness of the face between ``colour.reference_lightness`` [dark, light];
* *dome shading*: light from above makes the upper half of the raised core lighter and
  the lower half darker (``dome_shading`` lightness units at one core sigma);
* for *pustules* (a fraction ``pustule_fraction[s]``), a *head* (Gaussian of
  ``head_sigma × r``) that blends towards the absolute pale yellow-white colour
  ``colour.pustule_head.lab`` with opacity ``colour.pustule_head.opacity`` — pus looks
  the same on every skin.

Each lesion is scaled by an intensity drawn from ``intensity``, stretched by an aspect
ratio from ``aspect`` at a random angle, and cut off smoothly at ``footprint_sigmas``
halo sigmas (its footprint). Lesions are placed only where their whole footprint lies
in an allowed region — the forehead, cheeks and chin polygons, inside the face outline
by ``outline_margin_iod`` and away from the eyes, eyebrows, nose and lips by
``keep_out_margin_iod`` — on skin-coloured pixels (CIELAB distance from the median skin
colour of those regions at most ``skin_max_delta_e``; this keeps them off hair, beards
and shadows), no closer to each other than ``spacing × (r₁ + r₂)``. Regions are chosen
with probability ∝ ``region_weights`` × the region's skin-coloured area.
"""

from __future__ import annotations

import cv2
import numpy as np

from .anatomy import dilate, erode, face_mask, feature_masks, skin_regions
from .base import SyntheticFace, inter_ocular_distance, per_severity
from .colour import to_lab, write_lab_deltas

LESION_KINDS = ("papule", "pustule")
# Tries per lesion to find a free, allowed, skin-coloured spot before giving up on it.
_PLACEMENT_ATTEMPTS = 200


def allowed_regions(landmarks: np.ndarray, shape, params: dict) -> dict[str, np.ndarray]:
    """Where lesions may go: forehead, cheek_left, cheek_right, chin (bool H×W each),
    inside the face outline by ``outline_margin_iod`` and clear of the eyes, eyebrows,
    nose and lips by ``keep_out_margin_iod[feature]`` (all × IOD)."""
    iod = inter_ocular_distance(landmarks)
    inside = erode(face_mask(landmarks, shape), params["outline_margin_iod"] * iod)
    keep_out = np.zeros(shape[:2], dtype=bool)
    for feature, mask in feature_masks(landmarks, shape).items():
        keep_out |= dilate(mask, params["keep_out_margin_iod"][feature] * iod)
    return {name: region & inside & ~keep_out for name, region in skin_regions(landmarks, shape).items()}


def _reach_px(radius_px: float, aspect: float, shape_params: dict) -> float:
    """Farthest distance from the centre at which a lesion changes anything."""
    return (
        shape_params["footprint_sigmas"] * shape_params["halo_sigma"] * radius_px * np.sqrt(max(aspect, 1.0 / aspect))
    )


def _lesion_deltas(lesion: dict, colours: dict, shape_params: dict, shape) -> tuple[tuple[slice, slice], np.ndarray]:
    """CIELAB deltas of one lesion on its bounding box: ``(box, deltas h×w×3)``.
    ``colours``: the lesion's ``core``, ``halo`` and ``head`` deltas at full strength."""
    x0, y0, r = lesion["x"], lesion["y"], lesion["radius_px"]
    reach = _reach_px(r, lesion["aspect"], shape_params)
    top, bottom = int(max(0, np.floor(y0 - reach))), int(min(shape[0], np.ceil(y0 + reach) + 1))
    left, right = int(max(0, np.floor(x0 - reach))), int(min(shape[1], np.ceil(x0 + reach) + 1))
    ys, xs = np.mgrid[top:bottom, left:right].astype(np.float64)
    dx, dy = xs - x0, ys - y0
    cos, sin = np.cos(lesion["angle"]), np.sin(lesion["angle"])
    # Elliptical distance in units of r: the lesion is ``aspect`` times longer along ``angle``.
    along, across = (
        (dx * cos + dy * sin) / np.sqrt(lesion["aspect"]),
        (-dx * sin + dy * cos) * np.sqrt(lesion["aspect"]),
    )
    d = np.hypot(along, across) / r
    footprint = shape_params["footprint_sigmas"] * shape_params["halo_sigma"]
    window = np.clip(1.0 - (d / footprint) ** 2, 0.0, 1.0) ** 2

    def gaussian(sigma):
        return np.exp(-0.5 * (d / sigma) ** 2)[..., None]

    core = gaussian(shape_params["core_sigma"])
    deltas = colours["core"] * core + colours["halo"] * gaussian(shape_params["halo_sigma"])
    deltas[..., 0] -= shape_params["dome_shading"] * (dy / (shape_params["core_sigma"] * r)) * core[..., 0]
    if lesion["kind"] == "pustule":
        deltas += colours["head"] * gaussian(shape_params["head_sigma"])
    return (slice(top, bottom), slice(left, right)), deltas * (lesion["intensity"] * window)[..., None]


def _lab_triplet(values: dict) -> np.ndarray:
    return np.array([values["L"], values["a"], values["b"]], dtype=np.float64)


def _lesion_colours(skin_lightness: float, skin_at_lesion: np.ndarray, colour: dict) -> dict[str, np.ndarray]:
    """Full-strength CIELAB deltas of a lesion's core, halo and pustule head (see the module docstring)."""
    dark_lightness, light_lightness = colour["reference_lightness"]
    lightness = float(np.clip((skin_lightness - dark_lightness) / (light_lightness - dark_lightness), 0.0, 1.0))
    colours = {
        part: (1.0 - lightness) * _lab_triplet(colour[part]["dark"]) + lightness * _lab_triplet(colour[part]["light"])
        for part in ("core", "halo")
    }
    papule_centre = skin_at_lesion + colours["core"]
    colours["head"] = colour["pustule_head"]["opacity"] * (_lab_triplet(colour["pustule_head"]["lab"]) - papule_centre)
    return colours


def _skin(face: np.ndarray, landmarks: np.ndarray, params: dict):
    """Allowed regions, the locally averaged CIELAB image, the median skin colour and
    where the face is skin-coloured (None when no region is usable)."""
    iod = inter_ocular_distance(landmarks)
    regions = allowed_regions(landmarks, face.shape, params)
    usable = np.logical_or.reduce(list(regions.values()))
    if not usable.any():
        return None
    local = cv2.GaussianBlur(to_lab(face), (0, 0), params["skin_sample_sigma_iod"] * iod)
    skin = np.median(local[usable], axis=0)
    skin_like = np.linalg.norm(local - skin, axis=2) <= params["skin_max_delta_e"]
    return regions, local, skin, skin_like


def _place_lesions(regions, skin_like, iod, severity, rng, params) -> tuple[list[dict], int]:
    """Draw lesions (dicts) for ``severity``; returns them and how many were requested."""
    clearance = {
        name: cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        for name, region in regions.items()
    }
    low, high = per_severity(params["count"], severity, "count")
    requested = int(rng.integers(low, high + 1))
    radius_low, radius_high = per_severity(params["radius_iod"], severity, "radius_iod")
    pustule_fraction = per_severity(params["pustule_fraction"], severity, "pustule_fraction")
    names = sorted(regions)
    # Weighted by the skin-coloured area: a forehead mostly under a fringe gets few lesions.
    weights = np.array(
        [params["region_weights"][name.split("_")[0]] * (regions[name] & skin_like).sum() for name in names], float
    )
    if weights.sum() == 0:
        return [], requested
    # Skin pixels of each region (row-major, as np.argwhere) and their clearance, found once:
    # a lesion's candidates are those with enough clearance for its reach.
    skin_pixels = {name: np.argwhere((clearance[name] > 0) & skin_like) for name in names}
    skin_clearance = {name: clearance[name][tuple(skin_pixels[name].T)] for name in names}
    lesions: list[dict] = []
    placed = np.zeros((0, 3))  # x, y, radius of the lesions so far
    for _ in range(requested):
        radius = (radius_low + (radius_high - radius_low) * rng.random() ** params["radius_skew"]) * iod
        kind = LESION_KINDS[1] if rng.random() < pustule_fraction else LESION_KINDS[0]
        aspect = float(rng.uniform(*params["aspect"]))
        region = names[int(rng.choice(len(names), p=weights / weights.sum()))]
        candidates = skin_pixels[region][skin_clearance[region] > _reach_px(radius, aspect, params["shape"])]
        if len(candidates) == 0:
            continue
        # Up to _PLACEMENT_ATTEMPTS random candidates, the first far enough from the lesions
        # so far wins. All attempts are checked at once; the generator is then left as the
        # attempts one by one would leave it (an array of n draws is n single draws).
        state = rng.bit_generator.state
        draws = rng.integers(len(candidates), size=_PLACEMENT_ATTEMPTS)
        tried = candidates[draws]
        far_enough = np.hypot(tried[:, 1, None] - placed[:, 0], tried[:, 0, None] - placed[:, 1]) >= (
            params["spacing"] * (radius + placed[:, 2])
        )
        hits = np.flatnonzero(far_enough.all(axis=1))
        rng.bit_generator.state = state
        rng.integers(len(candidates), size=int(hits[0]) + 1 if hits.size else _PLACEMENT_ATTEMPTS)
        if hits.size == 0:
            continue
        y, x = tried[hits[0]]
        placed = np.vstack([placed, [float(x), float(y), float(radius)]])
        lesions.append(
            {
                "kind": kind,
                "region": region,
                "x": float(x),
                "y": float(y),
                "radius_px": float(radius),
                "intensity": float(rng.uniform(*params["intensity"])),
                "aspect": aspect,
                "angle": float(rng.uniform(0.0, np.pi)),
            }
        )
    return lesions, requested


def acne_lesions(face, landmarks, *, severity: int, side, rng, params: dict) -> SyntheticFace:
    """Acne-like papules and pustules (see the module docstring). Called through
    :func:`facial_anomaly.synthesis.generate`, which validates the inputs and returns
    severity 0 untouched. ``side`` is ignored (acne is not one-sided).

    ``params``: ``count``, ``radius_iod``, ``pustule_fraction`` (per severity),
    ``radius_skew``, ``region_weights``, ``outline_margin_iod``, ``keep_out_margin_iod``,
    ``skin_max_delta_e``, ``skin_sample_sigma_iod``, ``spacing``, ``intensity``,
    ``aspect``, ``shape`` (``core_sigma``, ``halo_sigma``, ``head_sigma``,
    ``dome_shading``, ``footprint_sigmas``) and ``colour`` (``reference_lightness``;
    ``core`` and ``halo`` CIELAB deltas for ``dark`` and ``light`` skin; ``pustule_head``
    ``lab`` and ``opacity``).
    """
    iod = inter_ocular_distance(landmarks)
    skin = _skin(face, landmarks, params)
    lesions, requested = ([], 0) if skin is None else _place_lesions(skin[0], skin[3], iod, severity, rng, params)
    deltas = np.zeros(face.shape, dtype=np.float32)
    edited = np.zeros(face.shape[:2], dtype=bool)
    for lesion in lesions:
        _, local, median, _ = skin
        colours = _lesion_colours(median[0], local[int(lesion["y"]), int(lesion["x"])], params["colour"])
        box, lesion_deltas = _lesion_deltas(lesion, colours, params["shape"], face.shape)
        deltas[box] += lesion_deltas
        edited[box] |= np.abs(lesion_deltas).max(axis=2) > 0
    image = write_lab_deltas(face, deltas, edited)
    return SyntheticFace(
        image,
        np.array(landmarks, dtype=np.float64, copy=True),
        edited,
        {
            "iod_px": iod,
            "lesions_requested": requested,
            "lesion_count": len(lesions),
            "pustule_count": sum(lesion["kind"] == "pustule" for lesion in lesions),
            "lesions": [
                {key: (round(v, 3) if isinstance(v, float) else v) for key, v in lesion.items()} for lesion in lesions
            ],
        },
    )
