"""Fresh synthetic anomalies at working resolution, a new one for every training sample.

Every normal face is prepared once (:func:`prepare_face`): its canvas (:mod:`.crops`, 64 px
per IOD), the regions anomalies may go to, and — for the two mesh-warp families of
:mod:`facial_anomaly.synthesis`, whose harmonic mesh fit takes ~0.1 s per face — their
displacement field at severity 4 on the image-left side, computed once by the synthesis
code itself (:func:`~facial_anomaly.synthesis.lip.lip_lt_v1_displacement`,
:func:`~facial_anomaly.synthesis.palsy.palsy_displacement`; for palsy also the flattened
nasolabial fold). A sample then costs milliseconds (:func:`make_sample`):

Families (:data:`FAMILIES`), severities 2–4 by default:

* realistic: ``lip`` (the cleft-lip-like LT-v1 warp, :func:`facial_anomaly.synthesis.lip.
  parametric_lip_deformation`), ``palsy`` (mouth-corner droop and flattened nasolabial
  fold), ``acne`` (inflamed papules and pustules on forehead, cheeks and chin, made larger
  and stronger than the synthesis defaults so severity 2 is visible at 64 px per IOD),
  ``lesions`` (soft round spots) and ``scars`` (curved lines) on the lower face. The lip
  and palsy warps are the prepared severity-4 field scaled by the synthesis parameters'
  magnitude ratio for the drawn severity (peak raise, resp. corner drop, of severity s over
  severity 4) × U(1 − jitter, 1 + jitter): the synthesis warps are linear in the moves, so
  this is the generator's own warp for that magnitude (up to its compression guard). The
  other side comes from the mirror-image capture change.
* generic: ``warp`` (a smooth Gaussian shift or bulge of 0.03–0.16 IOD with a radius of
  0.1–0.4 IOD, anywhere on the face), ``patch`` (a soft ellipse) and ``line`` (a curved
  stroke) that change the colour by 20–40 %.

A positive gets a second anomaly of another family with ``second_anomaly_probability``
(~10 %); its severity is the larger one. A negative gets a *null warp* with
``null_warp_probability`` (~50 %): a smooth warp of a fraction of a pixel through the same
resampling, so the slight blur that a warp's interpolation leaves is no shortcut. Then both
get random capture changes (:mod:`.capture`). The *change mask* (pixels whose colour
changed by more than ``visible_change`` grey levels before the capture changes) is the
dense target of the per-cell head.

The Siamese partner (:func:`make_sample` with ``partner`` set, :func:`~.crops.partner_image`)
is made in training from the *clean* source face (``partner_from="clean"``), under the same
capture changes as the sample, and at scoring time from the input (``partner_from="input"``,
what dev and test sets use). The ``mirror`` partner of the clean canvas is prepared once per face.

Determinism: everything is drawn from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from pydantic import Field, model_validator

from ..config import Config
from ..normalizers.geometry import face_region_mask
from ..parallel.ordered import OrderedWorkers, worker_job
from ..synthesis import generate
from ..synthesis.base import per_severity
from ..synthesis.deform import DeformationFolds
from ..synthesis.lip import lip_lt_v1_displacement
from ..synthesis.palsy import flatten_nasolabial_fold, palsy_displacement
from .anomalies import lesions as paint_lesions
from .anomalies import lower_face_mask
from .anomalies import scars as paint_scars
from .capture import CaptureConfig, apply_capture, apply_to_mask, draw_capture
from .crops import Canvas, CropConfig, cut_mask, cut_view, face_canvas, partner_image

REALISTIC_FAMILIES = ("lip", "palsy", "acne", "lesions", "scars")
GENERIC_FAMILIES = ("warp", "patch", "line")
FAMILIES = REALISTIC_FAMILIES + GENERIC_FAMILIES
NORMAL = "normal"
WARP_FAMILIES = {"lip": "lip_lt_v1", "palsy": "palsy"}  # family → synthesis family with a prepared field
SEVERITY_RATIO_KEYS = {"lip": "peak_raise_iod", "palsy": "corner_drop_iod"}
_FIELD_SUPPORT_PX = 0.02  # displacements below this are not part of a prepared field's box
_BOX_MARGIN_PX = 3
_PAINT_DIRECTIONS = {  # relative RGB change per unit of colour change
    "darker": (-1.0, -1.0, -1.0),
    "lighter": (1.0, 1.0, 1.0),
    "redder": (0.25, -1.0, -1.0),
    "browner": (-0.55, -0.85, -1.0),
}

Range = tuple[float, float]
Motion = tuple[tuple[int, int, int, int], np.ndarray]  # (top, left, bottom, right) box, forward field (h, w, 2) px
PerSeverityRange = tuple[Range, Range, Range, Range]


class SmoothWarpConfig(Config):
    """The generic ``warp`` family (and the null warp of negatives)."""

    amplitude_iod: PerSeverityRange = Field(
        ((0.015, 0.03), (0.03, 0.06), (0.06, 0.10), (0.10, 0.16)),
        description="largest move per severity 1..4, [low, high] IOD",
    )
    radius_iod: Range = Field((0.1, 0.4), description="Gaussian sigma of the bump, [low, high] IOD")
    max_amplitude_ratio: float = Field(
        0.9, gt=0, le=1.5, description="move ≤ this × sigma (a Gaussian bump folds beyond ≈ 1.65 sigma)"
    )


class PaintConfig(Config):
    """The generic ``patch`` and ``line`` families: a soft shape whose colour changes."""

    change: PerSeverityRange = Field(
        ((0.10, 0.20), (0.20, 0.27), (0.27, 0.33), (0.33, 0.40)),
        description="relative colour change per severity 1..4, [low, high] (0.3 = 30 %)",
    )
    patch_radius_iod: PerSeverityRange = Field(
        ((0.04, 0.08), (0.06, 0.12), (0.09, 0.18), (0.13, 0.25)),
        description="patch semi-axis per severity 1..4, [low, high] IOD",
    )
    patch_aspect: Range = Field((0.5, 2.0), description="patch elongation, [low, high]")
    line_width_iod: Range = Field((0.02, 0.05), description="line width, [low, high] IOD")
    line_length_iod: PerSeverityRange = Field(
        ((0.1, 0.2), (0.2, 0.35), (0.3, 0.5), (0.45, 0.7)), description="line chord per severity 1..4, [low, high] IOD"
    )
    line_bend_iod: float = Field(0.1, ge=0, description="control point up to this far off the chord, IOD")
    feather_iod: float = Field(0.015, ge=0, description="Gaussian softening of the shape's edge, IOD")


class LesionsConfig(Config):
    """The ``lesions`` family (:func:`.anomalies.lesions`), visible from severity 2 at 64 px per IOD."""

    count: tuple[tuple[int, int], ...] = Field(((1, 2), (3, 5), (5, 9), (9, 15)), description="per severity 1..4")
    radius_iod: Range = Field((0.03, 0.07), description="spot radius, [low, high] IOD")
    intensity: tuple[float, float, float, float] = Field((0.5, 0.8, 1.0, 1.2), description="× colour, per severity")
    colours: dict[str, tuple[float, float, float]] = Field(
        {"red": (-12.0, -40.0, -35.0), "brown": (-40.0, -42.0, -38.0), "pale": (30.0, 25.0, 25.0)},
        description="RGB deltas (grey levels) at intensity 1",
    )


class ScarsConfig(Config):
    """The ``scars`` family (:func:`.anomalies.scars`), visible from severity 2 at 64 px per IOD."""

    count: tuple[tuple[int, int], ...] = Field(((1, 1), (1, 1), (1, 2), (2, 3)), description="per severity 1..4")
    length_iod: Range = Field((0.2, 0.5), description="chord, [low, high] IOD")
    bend_iod: float = Field(0.08, ge=0, description="control point up to this far off the chord, IOD")
    width_iod: Range = Field((0.02, 0.04), description="line width, [low, high] IOD (1.3-2.6 px at 64 px/IOD)")
    intensity: tuple[float, float, float, float] = Field((0.5, 0.8, 1.0, 1.2), description="× colour, per severity")
    colours: dict[str, tuple[float, float, float]] = Field(
        {"pale": (35.0, 28.0, 28.0), "pink": (25.0, -8.0, -4.0), "dark": (-35.0, -38.0, -34.0)},
        description="RGB deltas (grey levels) at intensity 1",
    )


class AcneConfig(Config):
    """Changes to the synthesis ``acne`` parameters for training at 64 px per IOD."""

    radius_scale: float = Field(1.6, gt=0, description="× the synthesis lesion radius ranges")
    intensity: Range = Field((0.9, 1.5), description="per-lesion strength range (replaces the synthesis one)")


class AnomalyConfig(Config):
    """What positives and negatives look like (see the module docstring)."""

    families: dict[str, float] = Field(
        dict.fromkeys(FAMILIES, 1.0), description="family → sampling weight (0 or absent: never drawn)"
    )
    severities: tuple[int, ...] = Field((2, 3, 4), description="drawn uniformly per anomaly")
    second_anomaly_probability: float = Field(0.1, ge=0, le=1, description="share of positives with two anomalies")
    null_warp_probability: float = Field(0.5, ge=0, le=1, description="share of negatives with a null warp")
    null_warp_px: Range = Field((0.2, 0.5), description="null-warp amplitude, [low, high] canvas pixels")
    warp_jitter: float = Field(0.15, ge=0, lt=1, description="lip/palsy magnitude × U(1 − jitter, 1 + jitter)")
    visible_change: float = Field(8.0, ge=0, description="grey levels above which a pixel counts as changed")
    landmark_follow: Range = Field(
        (0.0, 0.0),
        description="the mirror partner is made on landmarks moved by this share of each warp, "
        "[low, high] drawn per sample (a scoring run measures landmarks that follow a warp)",
    )
    lower_face_start_below_eyes_iod: float = Field(0.45, description="lesions and scars: below the eye line by this")
    lower_face_outline_margin_iod: float = Field(0.05, ge=0, description="... and this far inside the face outline")
    warp: SmoothWarpConfig = SmoothWarpConfig()
    paint: PaintConfig = PaintConfig()
    lesions: LesionsConfig = LesionsConfig()
    scars: ScarsConfig = ScarsConfig()
    acne: AcneConfig = AcneConfig()

    @model_validator(mode="after")
    def _check(self) -> AnomalyConfig:
        unknown = sorted(set(self.families) - set(FAMILIES))
        if unknown or not any(weight > 0 for weight in self.families.values()):
            raise ValueError(f"families must weight some of {list(FAMILIES)} above 0; unknown {unknown}")
        if any(weight < 0 for weight in self.families.values()):
            raise ValueError(f"family weights must be ≥ 0, got {self.families}")
        if not self.severities or any(s not in (1, 2, 3, 4) for s in self.severities):
            raise ValueError(f"severities must be drawn from 1..4, got {self.severities}")
        low, high = self.landmark_follow
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"landmark_follow must be 0 ≤ low ≤ high ≤ 1, got {self.landmark_follow}")
        return self

    def without(self, family: str) -> AnomalyConfig:
        """This config with ``family`` never drawn (leave-one-family-out training)."""
        if family not in FAMILIES:
            raise ValueError(f"unknown family {family!r}; available: {list(FAMILIES)}")
        return self.model_copy(update={"families": {k: v for k, v in self.families.items() if k != family}})

    def active_families(self) -> tuple[str, ...]:
        return tuple(name for name in FAMILIES if self.families.get(name, 0.0) > 0)


# ---------------------------------------------------------------------------- prepared faces


@dataclass
class FieldPatch:
    """A prepared warp: ``box`` (top, left, bottom, right) on the canvas and the forward
    ``field`` (h, w, 2) float32 pixels inside it at severity 4; ``delta_box`` and ``delta``
    (h', w', 3) int16: the family's colour change at severity 4 before the warp (palsy: the
    flattened nasolabial fold), or None."""

    box: tuple[int, int, int, int]
    field: np.ndarray
    delta_box: tuple[int, int, int, int] | None = None
    delta: np.ndarray | None = None


@dataclass
class PreparedFace:
    """A normal face ready for fresh anomalies: its ``canvas`` (:class:`~.crops.Canvas`),
    ``face_region`` and ``lower_region`` (bool masks: inside the face outline; the lower face
    of lesions and scars), ``fields`` (family → :class:`FieldPatch`; a family whose warp
    would fold this face is absent) and ``mirror`` (the ``mirror`` partner of the canvas)."""

    canvas: Canvas
    face_region: np.ndarray
    lower_region: np.ndarray
    fields: dict[str, FieldPatch] = field(default_factory=dict)
    name: str = ""
    mirror: np.ndarray | None = None


def warp_image(image: np.ndarray, box: tuple[int, int, int, int], forward: np.ndarray) -> np.ndarray:
    """``image`` warped inside ``box`` by the forward displacement ``forward`` (h, w, 2 pixels):
    each output pixel x takes the input at x − d(x − d(x)) (one fixed-point step of the
    inverse map; exact enough for the smooth fields here), bilinear, borders reflected."""
    top, left, bottom, right = box
    height, width = bottom - top, right - left
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    first = (xs - forward[..., 0], ys - forward[..., 1])
    back = cv2.remap(forward.astype(np.float32), first[0], first[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    map_x = xs - back[..., 0] + left
    map_y = ys - back[..., 1] + top
    out = image.copy()
    out[top:bottom, left:right] = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out


def _field_patch(field_full: np.ndarray, shape: tuple[int, int]) -> tuple[tuple[int, int, int, int], np.ndarray]:
    support = np.abs(field_full).max(axis=2) > _FIELD_SUPPORT_PX
    if not support.any():
        raise DeformationFolds("the prepared warp moves nothing")
    ys, xs = np.flatnonzero(support.any(axis=1)), np.flatnonzero(support.any(axis=0))
    box = (
        max(0, ys[0] - _BOX_MARGIN_PX),
        max(0, xs[0] - _BOX_MARGIN_PX),
        min(shape[0], ys[-1] + _BOX_MARGIN_PX + 1),
        min(shape[1], xs[-1] + _BOX_MARGIN_PX + 1),
    )
    top, left, bottom, right = box
    return box, field_full[top:bottom, left:right].astype(np.float32)


def prepare_face(
    face: np.ndarray,
    landmarks: np.ndarray,
    *,
    synth_params: Mapping,
    crops: CropConfig | None,
    anomalies: AnomalyConfig,
    name: str = "",
) -> PreparedFace:
    """Canvas, regions and prepared warps of one normal face (~0.15 s with both warps on an
    idle core).

    Args:
        face: aligned H×W×3 uint8 RGB; landmarks: its (478, 3) landmarks in pixels.
        synth_params: the ``synthesize`` parameter block (``lip_lt_v1``, ``palsy``, ``acne``).
        crops: the canvas geometry; None keeps the face at its own resolution (the
            "canvas" is the face itself: full-resolution samples for the unsupervised
            scores of a fusion; no mirror partner is prepared).
        anomalies: anomaly settings (families with weight 0 get no prepared warp).
    """
    if crops is None:
        identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        canvas = Canvas(image=face.copy(), landmarks=np.asarray(landmarks, dtype=np.float64).copy(), matrix=identity)
    else:
        canvas = face_canvas(face, landmarks, crops)
    shape = canvas.image.shape
    face_region = face_region_mask(canvas.landmarks, shape, feather_px=0.0) > 0.5
    lower = lower_face_mask(
        canvas.landmarks,
        shape,
        {
            "start_below_eyes_iod": anomalies.lower_face_start_below_eyes_iod,
            "outline_margin_iod": anomalies.lower_face_outline_margin_iod,
        },
    )
    prepared = PreparedFace(
        canvas=canvas,
        face_region=face_region,
        lower_region=lower,
        name=name,
        mirror=None if crops is None else partner_image(canvas.image, canvas.landmarks, "mirror"),
    )
    for family, synthesis_name in WARP_FAMILIES.items():
        if anomalies.families.get(family, 0.0) <= 0:
            continue
        params = dict(synth_params[synthesis_name])
        displacement = lip_lt_v1_displacement if family == "lip" else palsy_displacement
        field_full = displacement(canvas.landmarks, shape, severity=4, side="left", params=params)
        try:
            box, patch = _field_patch(field_full, shape[:2])
        except DeformationFolds:
            continue
        prepared.fields[family] = FieldPatch(box=box, field=patch)
        if family == "palsy":
            flattening = float(per_severity(params["nasolabial_flattening"], 4, "nasolabial_flattening"))
            flattened, band = flatten_nasolabial_fold(canvas.image, canvas.landmarks, "left", flattening, params)
            if band.any():
                ys, xs = np.flatnonzero(band.any(axis=1)), np.flatnonzero(band.any(axis=0))
                top, left, bottom, right = ys[0], xs[0], ys[-1] + 1, xs[-1] + 1
                prepared.fields[family].delta_box = (top, left, bottom, right)
                prepared.fields[family].delta = (
                    flattened[top:bottom, left:right].astype(np.int16) - canvas.image[top:bottom, left:right]
                )
    return prepared


def _worker_prepare(item: tuple[np.ndarray, np.ndarray, str]) -> PreparedFace:
    face, landmarks, name = item
    return prepare_face(face, landmarks, name=name, **worker_job())


def prepare_faces(
    faces: Sequence[np.ndarray],
    landmarks: Sequence[np.ndarray],
    *,
    synth_params: Mapping,
    crops: CropConfig,
    anomalies: AnomalyConfig,
    names: Sequence[str] | None = None,
    workers: int = 1,
) -> list[PreparedFace]:
    """:func:`prepare_face` for many faces, in ``workers`` processes ("spawn"; 1 = here).
    The result does not depend on ``workers``."""
    if len(faces) != len(landmarks):
        raise ValueError(f"need one landmark array per face: {len(faces)} faces, {len(landmarks)} landmark arrays")
    names = list(names) if names is not None else [str(i) for i in range(len(faces))]
    job = {"synth_params": dict(synth_params), "crops": crops, "anomalies": anomalies}
    items = list(zip(faces, landmarks, names))
    if workers <= 1 or len(items) < 2:
        return [prepare_face(f, lm, name=n, **job) for f, lm, n in items]
    with OrderedWorkers(int(workers), job=job, task="preparing faces") as pool:
        return pool.map(_worker_prepare, items)


# ---------------------------------------------------------------------------- anomalies


def _uniform(rng: np.random.Generator, bounds) -> float:
    return float(rng.uniform(float(bounds[0]), float(bounds[1])))


def _random_point(region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    candidates = np.flatnonzero(region)
    if candidates.size == 0:
        raise ValueError("the region for an anomaly is empty")
    y, x = np.unravel_index(candidates[int(rng.integers(candidates.size))], region.shape)
    return np.array([x, y], dtype=np.float64) + rng.uniform(-0.5, 0.5, size=2)


def _bump_field(shape, centre, sigma: float, amplitude: float, rng: np.random.Generator):
    """A smooth forward field inside its box: a Gaussian shift (random direction) or a
    radial bulge / pinch, largest move ``amplitude`` pixels; returns (box, field)."""
    reach = 3.0 * sigma
    top = int(max(0, np.floor(centre[1] - reach)))
    bottom = int(min(shape[0], np.ceil(centre[1] + reach) + 1))
    left = int(max(0, np.floor(centre[0] - reach)))
    right = int(min(shape[1], np.ceil(centre[0] + reach) + 1))
    ys, xs = np.mgrid[top:bottom, left:right].astype(np.float32)
    dx, dy = xs - centre[0], ys - centre[1]
    gaussian = np.exp(-(dx**2 + dy**2) / (2.0 * sigma**2))
    if rng.uniform() < 0.5:
        angle = rng.uniform(0.0, 2.0 * np.pi)
        field = np.stack([gaussian * np.cos(angle), gaussian * np.sin(angle)], axis=2) * amplitude
    else:  # radial: r/σ·exp(½ − r²/2σ²) peaks at 1 where r = σ
        sign = 1.0 if rng.uniform() < 0.5 else -1.0
        scale = sign * amplitude * np.exp(0.5) / sigma * gaussian
        field = np.stack([dx * scale, dy * scale], axis=2)
    return (top, left, bottom, right), field.astype(np.float32)


def _smooth_motion(face: PreparedFace, shape, severity: int, rng, config: SmoothWarpConfig) -> Motion:
    """The field of the generic ``warp`` family on a canvas of ``face`` of ``shape``."""
    iod = face.canvas.iod
    amplitude = _uniform(rng, config.amplitude_iod[severity - 1]) * iod
    low, high = config.radius_iod
    sigma = _uniform(rng, (max(low, amplitude / iod / config.max_amplitude_ratio), max(high, low))) * iod
    return _bump_field(shape, _random_point(face.face_region, rng), sigma, amplitude, rng)


def _null_motion(face: PreparedFace, shape, rng, config: AnomalyConfig) -> Motion:
    """The field of a null warp: a fraction of a pixel (see the module docstring)."""
    sigma = _uniform(rng, config.warp.radius_iod) * face.canvas.iod
    amplitude = _uniform(rng, config.null_warp_px)
    return _bump_field(shape, _random_point(face.face_region, rng), sigma, amplitude, rng)


def move_points(points: np.ndarray, motions: Sequence[Motion], follow: float = 1.0) -> np.ndarray:
    """Points (N, ≥2; x, y in pixels; further columns kept) carried along by warps: each
    :data:`Motion` in turn moves a point inside its box by ``follow`` × the forward field
    there (bilinear), as :func:`warp_image` moves the content under it; points outside a
    box stay. ``follow`` < 1 stands for a landmark detector that follows a warp only partly."""
    moved = np.array(points, dtype=np.float64, copy=True)
    for (top, left, bottom, right), forward in motions:
        x, y = moved[:, 0] - left, moved[:, 1] - top
        inside = (x >= 0) & (y >= 0) & (x <= right - left - 1) & (y <= bottom - top - 1)
        if not inside.any():
            continue
        map_x = x[inside].astype(np.float32).reshape(-1, 1)
        map_y = y[inside].astype(np.float32).reshape(-1, 1)
        shift = cv2.remap(np.ascontiguousarray(forward, dtype=np.float32), map_x, map_y, cv2.INTER_LINEAR)
        moved[inside, :2] += follow * shift.reshape(-1, 2)
    return moved


def _soft(mask: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(sigma, 0.3)) if sigma > 0 else mask.astype(np.float32)


def paint(face: PreparedFace, image: np.ndarray, kind: str, severity: int, rng, config: PaintConfig) -> np.ndarray:
    """The generic ``patch`` or ``line`` family: a soft shape inside the face whose colour
    changes by the drawn relative amount in one of a few directions (darker, lighter,
    redder, browner); both the change and the shape's size (patch radius, line length) grow
    with severity."""
    iod = face.canvas.iod
    height, width = image.shape[:2]
    centre = _random_point(face.face_region, rng)
    shape = np.zeros((height, width), dtype=np.float32)
    if kind == "patch":
        radius = _uniform(rng, config.patch_radius_iod[severity - 1]) * iod
        aspect = _uniform(rng, config.patch_aspect)
        axes = (max(1, int(round(radius * np.sqrt(aspect)))), max(1, int(round(radius / np.sqrt(aspect)))))
        cv2.ellipse(
            shape,
            (int(round(centre[0])), int(round(centre[1]))),
            axes,
            rng.uniform(0, 180),
            0,
            360,
            1.0,
            -1,
            cv2.LINE_AA,
        )
    else:
        length = _uniform(rng, config.line_length_iod[severity - 1]) * iod
        angle = rng.uniform(0.0, 2.0 * np.pi)
        direction = np.array([np.cos(angle), np.sin(angle)])
        start = centre - 0.5 * length * direction
        end = centre + 0.5 * length * direction
        control = centre + rng.uniform(-1, 1) * config.line_bend_iod * iod * np.array([-direction[1], direction[0]])
        t = np.linspace(0.0, 1.0, 40)[:, None]
        curve = (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * end
        thickness = max(1, int(round(_uniform(rng, config.line_width_iod) * iod)))
        cv2.polylines(shape, [np.round(curve * 16).astype(np.int32)], False, 1.0, thickness, cv2.LINE_AA, shift=4)
    weight = np.clip(_soft(shape, config.feather_iod * iod), 0.0, 1.0) * face.face_region
    change = _uniform(rng, config.change[severity - 1])
    direction = np.asarray(list(_PAINT_DIRECTIONS.values())[int(rng.integers(len(_PAINT_DIRECTIONS)))], np.float32)
    factor = 1.0 + change * direction[None, None, :] * weight[..., None]
    return np.clip(np.rint(image.astype(np.float32) * factor), 0, 255).astype(np.uint8)


def _prepared_warp(face, image, family, severity, rng, synth_params, config) -> tuple[np.ndarray, Motion]:
    """The ``lip`` or ``palsy`` family: ``image`` with the palsy fold flattened (the lip: as
    given) and the prepared field scaled to ``severity`` (see the module docstring), to be
    applied with :func:`warp_image`."""
    patch = face.fields[family]
    values = synth_params[WARP_FAMILIES[family]][SEVERITY_RATIO_KEYS[family]]
    ratio = float(per_severity(values, severity, SEVERITY_RATIO_KEYS[family])) / float(per_severity(values, 4, "4"))
    factor = ratio * rng.uniform(1.0 - config.warp_jitter, 1.0 + config.warp_jitter)
    if patch.delta is not None:  # the fold is flattened first, then moves with the skin
        flattening = synth_params["palsy"]["nasolabial_flattening"]
        share = float(per_severity(flattening, severity, "nasolabial_flattening")) / float(
            per_severity(flattening, 4, "4")
        )
        top, left, bottom, right = patch.delta_box
        image = image.copy()
        region = image[top:bottom, left:right].astype(np.float32) + share * patch.delta
        image[top:bottom, left:right] = np.clip(np.rint(region), 0, 255).astype(np.uint8)
    return image, (patch.box, patch.field * factor)


def _acne_params(synth_params: Mapping, config: AcneConfig) -> dict:
    params = dict(synth_params["acne"])
    params["radius_iod"] = [
        [low * config.radius_scale, high * config.radius_scale] for low, high in params["radius_iod"]
    ]
    params["intensity"] = list(config.intensity)
    return params


def _local_params(config: LesionsConfig | ScarsConfig) -> dict:
    params = config.model_dump()
    params["count"] = [list(pair) for pair in params["count"]]
    params["colours"] = {name: list(values) for name, values in params["colours"].items()}
    return params


def draw_anomaly(
    face: PreparedFace,
    image: np.ndarray,
    family: str,
    severity: int,
    rng: np.random.Generator,
    *,
    synth_params: Mapping,
    config: AnomalyConfig,
) -> np.ndarray:
    """One anomaly of ``family`` at ``severity`` (1..4) on ``image`` (the canvas of ``face``
    or an already changed copy of it); returns a new uint8 image.

    Raises:
        KeyError: an unknown family, or a warp family this face has no prepared field for.
    """
    return _draw(face, image, family, severity, rng, synth_params=synth_params, config=config)[0]


def _draw(face, image, family, severity, rng, *, synth_params, config) -> tuple[np.ndarray, list[Motion]]:
    """:func:`draw_anomaly` and the warps it applied (none for the painted families)."""
    if family in WARP_FAMILIES:
        if family not in face.fields:
            raise KeyError(f"face {face.name!r} has no prepared {family} warp")
        image, motion = _prepared_warp(face, image, family, severity, rng, synth_params, config)
        return warp_image(image, *motion), [motion]
    if family == "warp":
        motion = _smooth_motion(face, image.shape, severity, rng, config.warp)
        return warp_image(image, *motion), [motion]
    return _paint_family(face, image, family, severity, rng, synth_params=synth_params, config=config), []


def _paint_family(face, image, family, severity, rng, *, synth_params, config) -> np.ndarray:
    landmarks = face.canvas.landmarks
    if family == "acne":
        made = generate(
            "acne", image, landmarks, severity=severity, rng=rng, params=_acne_params(synth_params, config.acne)
        )
        return made.image
    if family == "lesions":
        return paint_lesions(
            image, landmarks, severity=severity, rng=rng, params=_local_params(config.lesions), region=face.lower_region
        ).image
    if family == "scars":
        return paint_scars(
            image,
            landmarks,
            severity=severity,
            rng=rng,
            params=_local_params(config.scars),
            region=face.lower_region,
            face_mask=face.face_region.astype(np.float32),
        ).image
    if family in ("patch", "line"):
        return paint(face, image, family, severity, rng, config.paint)
    raise KeyError(f"unknown anomaly family {family!r}; available: {list(FAMILIES)}")


def changed_pixels(before: np.ndarray, after: np.ndarray, threshold: float) -> np.ndarray:
    """H×W bool: pixels whose largest channel difference exceeds ``threshold`` grey levels."""
    difference = cv2.absdiff(after, before)  # exact |after − before| for uint8, without widening
    return np.maximum(np.maximum(difference[..., 0], difference[..., 1]), difference[..., 2]) > threshold


# ---------------------------------------------------------------------------- samples


@dataclass
class Sample:
    """One training or evaluation sample on the canvas: ``image`` (H, W, 3) uint8 after the
    capture changes; ``partner`` (the mirror-image partner, or None); ``change`` (H, W)
    float32 in [0, 1]: the change mask moved with the image; ``label`` 0/1; ``severity``
    0..4; ``family`` (``normal`` or the first anomaly's family); ``families`` (all of them);
    ``capture`` (the changes applied); ``motions`` (the warps applied before the capture
    changes, in order: :func:`move_points` carries the canvas landmarks along)."""

    image: np.ndarray
    partner: np.ndarray | None
    change: np.ndarray
    label: int
    severity: int
    family: str
    families: tuple[str, ...]
    capture: tuple[str, ...]
    motions: tuple[Motion, ...] = ()


def _available(face: PreparedFace, config: AnomalyConfig, exclude: Sequence[str] = ()) -> tuple[list[str], np.ndarray]:
    names = [
        name
        for name in config.active_families()
        if name not in exclude and (name not in WARP_FAMILIES or name in face.fields)
    ]
    weights = np.array([config.families[name] for name in names], dtype=np.float64)
    return names, weights / weights.sum()


def make_sample(
    face: PreparedFace,
    rng: np.random.Generator,
    *,
    anomalous: bool,
    synth_params: Mapping,
    anomalies: AnomalyConfig,
    capture: CaptureConfig,
    partner: str | None = None,
    partner_from: str = "clean",
    family: str | None = None,
    severity: int | None = None,
) -> Sample:
    """A fresh sample of ``face`` (see the module docstring); ``partner`` (``mirror`` or
    ``flip``; None: no partner) made from the clean face or the sample (``partner_from``
    ``clean`` | ``input``); ``family`` and ``severity`` force the first anomaly (evaluation
    sets go through every family in turn)."""
    if partner_from not in ("clean", "input"):
        raise ValueError(f"partner_from must be 'clean' or 'input', got {partner_from!r}")
    clean = face.canvas.image
    families: list[str] = []
    severities: list[int] = []
    motions: list[Motion] = []
    image = clean
    if anomalous:
        names, weights = _available(face, anomalies)
        if family is None:
            family = names[int(rng.choice(len(names), p=weights))]
        severity = int(
            severity if severity is not None else anomalies.severities[int(rng.integers(len(anomalies.severities)))]
        )
        image, moved = _draw(face, image, family, severity, rng, synth_params=synth_params, config=anomalies)
        motions += moved
        families.append(family)
        severities.append(severity)
        if rng.uniform() < anomalies.second_anomaly_probability:
            others, other_weights = _available(face, anomalies, exclude=families)
            if others:
                second = others[int(rng.choice(len(others), p=other_weights))]
                second_severity = int(anomalies.severities[int(rng.integers(len(anomalies.severities)))])
                image, moved = _draw(
                    face, image, second, second_severity, rng, synth_params=synth_params, config=anomalies
                )
                motions += moved
                families.append(second)
                severities.append(second_severity)
    elif rng.uniform() < anomalies.null_warp_probability:
        motions.append(_null_motion(face, clean.shape, rng, anomalies))
        image = warp_image(clean, *motions[-1])
    change = changed_pixels(clean, image, anomalies.visible_change) if anomalous else np.zeros(clean.shape[:2], bool)
    draw = draw_capture(rng, capture)
    shown = apply_capture(image, draw)
    mirror = None
    if partner is not None:
        low, high = anomalies.landmark_follow
        # drawn last, so the samples themselves do not depend on it
        follow = 0.0 if not motions else (_uniform(rng, (low, high)) if high > low else float(low))
        source = clean if partner_from == "clean" else image
        if partner == "flip":  # flipped after the capture changes, as at scoring time
            mirror = np.ascontiguousarray(apply_capture(source, draw)[:, ::-1])
        elif partner_from == "clean" and face.mirror is not None:
            # the mirror partner commutes with the capture changes (it lives in the face's own
            # frame); landmarks that follow a warp carry the partner along with it
            base = face.mirror
            for box, forward in motions if follow > 0 else ():
                base = warp_image(base, box, forward * follow)
            mirror = apply_capture(base, draw)
        else:
            points = move_points(face.canvas.landmarks, motions, follow) if follow > 0 else face.canvas.landmarks
            mirror = apply_capture(partner_image(source, points, partner), draw)
    return Sample(
        image=shown,
        partner=mirror,
        change=apply_to_mask(change, draw),
        label=int(anomalous),
        severity=max(severities, default=0),
        family=families[0] if families else NORMAL,
        families=tuple(families),
        capture=draw.applied(),
        motions=tuple(motions),
    )


def sample_views(
    samples: Sequence[Sample], views: Sequence[str], crops: CropConfig
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Model inputs of samples: ``(faces, partners, masks)`` with faces and partners ``uint8``
    (N, V, 3, S, S) (partners None when the samples have none) and masks float32
    (N, V, S, S) (the change mask per view, area-averaged)."""
    faces = np.stack([[cut_view(s.image, v, crops).transpose(2, 0, 1) for v in views] for s in samples])
    partners = None
    if samples and samples[0].partner is not None:
        partners = np.stack([[cut_view(s.partner, v, crops).transpose(2, 0, 1) for v in views] for s in samples])
    masks = np.stack([[cut_mask(s.change, v, crops) for v in views] for s in samples])
    return np.ascontiguousarray(faces), None if partners is None else np.ascontiguousarray(partners), masks
