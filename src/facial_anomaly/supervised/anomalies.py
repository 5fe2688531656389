"""Anomalies for training pairs: the graded families of :mod:`facial_anomaly.synthesis`
plus three generic *local* kinds anywhere on the lower face, so that a classifier learns
"something is locally wrong" rather than four specific pictures:

* ``local_warp``: a smooth Gaussian displacement bump (a random bulge, pull or twist of
  the skin and features under it);
* ``lesions``: round soft spots, darker/redder (papules, pigmented marks) or paler;
* ``scars``: thin curved lines, paler, pinker or darker than the skin (cleft-repair and
  other scars), 1-3 px wide on the 512 px crop.

All three are confined to the *lower face*: inside the FaceMesh face outline (shrunk by
``outline_margin_iod``), below ``start_below_eyes_iod`` under the eye line, and outside
the mouth opening (teeth are not skin). Magnitudes
are in inter-ocular distances (IOD) like the synthesis parameters; lists marked "per
severity" give severities 1..4. Parameters: ``train_supervised.data.anomalies`` in
``conf/base/parameters_train_supervised.yml``.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from ..faces.landmarks import eye_centers
from ..faces.mesh import MOUTH_INNER_CORNERS, boundary_loops
from ..normalizers.geometry import face_region_mask
from ..synthesis import SyntheticFace, families, generate
from ..synthesis.base import check_face, check_severity, inter_ocular_distance, per_severity
from ..synthesis.deform import warp_with_field

LOCAL_KINDS = ("local_warp", "lesions", "scars")
_BEZIER_POINTS = 48  # samples along a scar's curve
_SUBPIXEL_BITS = 4  # cv2 drawing precision: 1/16 px
_EDIT_THRESHOLD = 0.5  # grey levels: pixels changed by less are not "edited"
_NEGLIGIBLE_MOVE_PX = 0.1  # a warp bump ends where it moves pixels by less


def anomaly_kinds() -> tuple[str, ...]:
    """Every kind :func:`make_anomaly` accepts: the synthesis families, then :data:`LOCAL_KINDS`."""
    return tuple(families()) + LOCAL_KINDS


def lower_face_mask(landmarks: np.ndarray, shape: tuple[int, ...], params: Mapping) -> np.ndarray:
    """H×W bool: the lower face (see the module docstring; ``params``: the ``lower_face`` block)."""
    iod = inter_ocular_distance(landmarks)
    face = (face_region_mask(landmarks, shape, feather_px=0.0) > 0.5).astype(np.uint8)
    margin = int(round(float(params["outline_margin_iod"]) * iod))
    if margin > 0:
        face = cv2.erode(face, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1)))
    eye_y = float(np.mean([centre[1] for centre in eye_centers(landmarks)]))
    top = int(np.ceil(eye_y + float(params["start_below_eyes_iod"]) * iod))
    face[: max(0, top)] = 0
    (mouth,) = [loop for loop in boundary_loops()[1:] if MOUTH_INNER_CORNERS[0] in loop]
    cv2.fillPoly(face, [np.round(np.asarray(landmarks)[mouth, :2]).astype(np.int32)], 0)
    return face.astype(bool)


def _random_points(mask: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, 2) pixel positions (x, y) drawn uniformly from the True pixels of ``mask``."""
    candidates = np.flatnonzero(mask)
    if candidates.size == 0:
        raise ValueError("the lower-face region is empty (landmarks outside the image?)")
    chosen = candidates[rng.integers(candidates.size, size=count)]
    ys, xs = np.unravel_index(chosen, mask.shape)
    return np.column_stack([xs, ys]).astype(np.float64) + rng.uniform(-0.5, 0.5, size=(count, 2))


def _uniform(rng: np.random.Generator, bounds) -> float:
    low, high = (float(value) for value in bounds)
    return float(rng.uniform(low, high))


def _count(rng: np.random.Generator, bounds) -> int:
    low, high = (int(value) for value in bounds)
    return int(rng.integers(low, high + 1))


def _paint(face: np.ndarray, weights: np.ndarray, colours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Add ``weights`` (K, H, W) in [0, 1] × ``colours`` (K, 3) grey-level deltas to the
    face; returns (uint8 image, edited mask)."""
    delta = np.einsum("khw,kc->hwc", weights.astype(np.float32), colours.astype(np.float32))
    image = np.clip(np.rint(face.astype(np.float32) + delta), 0, 255).astype(np.uint8)
    return image, np.abs(delta).max(axis=2) >= _EDIT_THRESHOLD


def _colour_table(params: Mapping) -> tuple[list[str], np.ndarray]:
    names = sorted(params["colours"])
    return names, np.array([params["colours"][name] for name in names], dtype=np.float64)


def local_warp(
    face: np.ndarray,
    landmarks: np.ndarray,
    *,
    severity: int,
    rng: np.random.Generator,
    params: Mapping,
    region: np.ndarray,
) -> SyntheticFace:
    """A Gaussian displacement bump centred in ``region``.

    ``params``: ``amplitude_iod`` (per severity: the largest move), ``radius_iod`` [low,
    high] (the bump's Gaussian σ), ``max_amplitude_ratio`` (the move never exceeds this ×
    σ; a Gaussian bump folds the image beyond e^½ ≈ 1.65, so keep it below ~1.2) and
    ``grid_step_iod`` (warp grid, :func:`~facial_anomaly.synthesis.deform.warp_with_field`).
    """
    iod = inter_ocular_distance(landmarks)
    (centre,) = _random_points(region, 1, rng)
    sigma = _uniform(rng, params["radius_iod"]) * iod
    amplitude = min(
        float(per_severity(params["amplitude_iod"], severity, "amplitude_iod")) * iod,
        float(params["max_amplitude_ratio"]) * sigma,
    )
    angle = rng.uniform(0.0, 2.0 * np.pi)
    height, width = face.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    bump = np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2.0 * sigma**2))
    bump[bump * amplitude < _NEGLIGIBLE_MOVE_PX] = 0.0  # a finite support: the rest of the image is an exact copy
    field = np.stack([bump * amplitude * np.cos(angle), bump * amplitude * np.sin(angle)], axis=2)
    image, moved, edited = warp_with_field(face, landmarks, field, grid_step_px=float(params["grid_step_iod"]) * iod)
    metadata = {
        "centre_px": [round(float(v), 2) for v in centre],
        "sigma_iod": round(sigma / iod, 5),
        "amplitude_iod": round(amplitude / iod, 5),
        "angle_rad": round(float(angle), 5),
    }
    return SyntheticFace(image=image, landmarks=moved, edited_mask=edited, metadata=metadata)


def lesions(
    face: np.ndarray,
    landmarks: np.ndarray,
    *,
    severity: int,
    rng: np.random.Generator,
    params: Mapping,
    region: np.ndarray,
) -> SyntheticFace:
    """Round soft spots (Gaussian profile, σ = radius / 2) in ``region``.

    ``params``: ``count`` (per severity: [low, high] inclusive), ``radius_iod`` [low,
    high], ``intensity`` (per severity: multiplier of the colour), ``colours`` (name →
    RGB delta in grey levels at intensity 1; one drawn per lesion).
    """
    iod = inter_ocular_distance(landmarks)
    names, table = _colour_table(params)
    count = _count(rng, per_severity(params["count"], severity, "count"))
    intensity = float(per_severity(params["intensity"], severity, "intensity"))
    height, width = face.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    weights, colours, kinds = [], [], []
    for centre in _random_points(region, count, rng):
        sigma = _uniform(rng, params["radius_iod"]) * iod / 2.0
        weights.append(np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2.0 * sigma**2)))
        kind = int(rng.integers(len(names)))
        colours.append(table[kind] * intensity)
        kinds.append(names[kind])
    image, edited = _paint(face, np.stack(weights), np.stack(colours))
    return SyntheticFace(
        image=image,
        landmarks=landmarks.copy(),
        edited_mask=edited,
        metadata={"count": count, "intensity": intensity, "colours": kinds},
    )


def scar_curve(start: np.ndarray, length: float, angle: float, bend: float) -> np.ndarray:
    """(48, 2) points of a quadratic Bézier from ``start``, ``length`` px long (chord) at
    ``angle``, its control point ``bend`` px off the chord's middle (signed)."""
    direction = np.array([np.cos(angle), np.sin(angle)])
    end = start + length * direction
    control = (start + end) / 2.0 + bend * np.array([-direction[1], direction[0]])
    t = np.linspace(0.0, 1.0, _BEZIER_POINTS)[:, None]
    return (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * end


def scars(
    face: np.ndarray,
    landmarks: np.ndarray,
    *,
    severity: int,
    rng: np.random.Generator,
    params: Mapping,
    region: np.ndarray,
    face_mask: np.ndarray,
) -> SyntheticFace:
    """Thin curved lines starting in ``region`` (clipped to the face outline ``face_mask``).

    ``params``: ``count`` (per severity: [low, high]), ``length_iod`` [low, high] (chord),
    ``bend_iod`` (the control point lies up to this far off the chord), ``width_iod``
    [low, high] (line width; 0.007-0.02 IOD ≈ 1-3 px at 512 px), ``intensity`` (per
    severity), ``colours`` (name → RGB delta at intensity 1). Lines are anti-aliased and
    softened with a Gaussian of σ = width / 3.
    """
    iod = inter_ocular_distance(landmarks)
    names, table = _colour_table(params)
    count = _count(rng, per_severity(params["count"], severity, "count"))
    intensity = float(per_severity(params["intensity"], severity, "intensity"))
    scale = 1 << _SUBPIXEL_BITS
    weights, colours, kinds = [], [], []
    for start in _random_points(region, count, rng):
        length = _uniform(rng, params["length_iod"]) * iod
        bend = rng.uniform(-1.0, 1.0) * float(params["bend_iod"]) * iod
        width_px = _uniform(rng, params["width_iod"]) * iod
        curve = scar_curve(start, length, rng.uniform(0.0, 2.0 * np.pi), bend)
        line = np.zeros(face.shape[:2], dtype=np.float32)
        cv2.polylines(
            line,
            [np.round(curve * scale).astype(np.int32)],
            False,
            1.0,
            thickness=max(1, int(round(width_px))),
            lineType=cv2.LINE_AA,
            shift=_SUBPIXEL_BITS,
        )
        line = cv2.GaussianBlur(line, (0, 0), max(width_px / 3.0, 0.3)) * face_mask
        weights.append(np.clip(line / max(float(line.max()), 1e-6), 0.0, 1.0))
        kind = int(rng.integers(len(names)))
        colours.append(table[kind] * intensity)
        kinds.append(names[kind])
    image, edited = _paint(face, np.stack(weights), np.stack(colours))
    return SyntheticFace(
        image=image,
        landmarks=landmarks.copy(),
        edited_mask=edited,
        metadata={"count": count, "intensity": intensity, "colours": kinds},
    )


def make_anomaly(
    kind: str,
    face: np.ndarray,
    landmarks: np.ndarray,
    *,
    severity: int,
    rng: np.random.Generator,
    synth_params: Mapping,
    local_params: Mapping,
) -> SyntheticFace:
    """One anomaly of ``kind`` (:func:`anomaly_kinds`) at ``severity`` 1..4.

    Args:
        face: aligned H×W×3 uint8 RGB; landmarks: its (478, 3) landmarks.
        rng: advanced by the call.
        synth_params: the ``synthesize`` block (``synthesize.<family>`` for the families;
            ``lip_lt_v2`` needs ``templates`` added).
        local_params: the ``anomalies`` block of ``train_supervised.data`` (``lower_face``
            and one block per local kind).

    Returns:
        :class:`~facial_anomaly.synthesis.SyntheticFace`; ``metadata`` has ``family``
        (= kind) and ``severity``.

    Raises:
        KeyError: unknown kind. ValueError: bad inputs or parameters.
        DeformationFolds: when a warp would fold the image.
    """
    severity = check_severity(severity)
    if severity == 0:
        raise ValueError("make_anomaly needs a severity in 1..4 (0 is the untouched face)")
    if kind in families():
        return generate(kind, face, landmarks, severity=severity, rng=rng, params=synth_params[kind])
    if kind not in LOCAL_KINDS:
        raise KeyError(f"unknown anomaly kind {kind!r}; available: {list(anomaly_kinds())}")
    landmarks = check_face(face, landmarks)
    region = lower_face_mask(landmarks, face.shape, local_params["lower_face"])
    extra = {"face_mask": face_region_mask(landmarks, face.shape, feather_px=0.0)} if kind == "scars" else {}
    function = {"local_warp": local_warp, "lesions": lesions, "scars": scars}[kind]
    result = function(face, landmarks, severity=severity, rng=rng, params=local_params[kind], region=region, **extra)
    result.metadata = {"family": kind, "severity": severity, "side": None, "label": kind, **result.metadata}
    return result
