"""Head pose from the 3-D FaceMesh landmarks, photo orientation, and the pose check.

Pose
----
FaceMesh gives every landmark a depth ``z`` on the scale of ``x`` and ``y``, so the 468
mesh points are a 3-D shape seen (nearly) orthographically. :func:`estimate_pose` fits
a rotation, an isotropic scale and a translation that carry a frontal reference shape
onto them (the weighted least-squares similarity of Umeyama 1991, "Least-squares
estimation of transformation parameters between two point patterns", IEEE PAMI 13: 376)
and reads three angles from the rotation:

* ``yaw`` — the face turned left/right: > 0 when the nose points to the image-right;
* ``pitch`` — nodding: > 0 when the nose points up (chin raised);
* ``roll`` — the head tilted in the picture: the angle of the reference's left-to-right
  axis in the image, > 0 clockwise (the image-right eye lower), the same convention as
  :func:`~facial_anomaly.faces.alignment.matrix_roll_degrees`.

The reference shape is measured once, like the mirror pairs: FaceMesh on scikit-image's
astronaut (a frontal portrait), made exactly left–right symmetric (each landmark
averaged with the reflection of its counterpart about the least-squares midsagittal
plane) and rotated so that this plane is the ``x = 0`` plane. Yaw and roll are therefore
zero for a symmetric face seen straight on; pitch is zero for the astronaut's own head
pitch (camera at eye height).

The MediaPipe wheel ships no canonical face model, hence the measured reference.

Orientation
-----------
FaceMesh follows faces turned by 90° (its region of interest is rotated from the
detector's keypoints) but not upside-down ones: on the astronaut turned by 180° it
returns an upright-looking mesh on the wrong features, with a plausible roll. The face
detector, however, is far more confident on the upright photo: on the astronaut and 60
photos of ``../shared/data/faces`` its score was always higher on the photo than on the
photo turned by 180° (0.70–0.98 against 0–0.82). :func:`orientation_candidates` and
:func:`rotate_photo` let :func:`~facial_anomaly.faces.preprocess.locate_face` try the
photo turned by 180° (and by 90°/270° when no face is found or the measured roll is
implausible) and keep the orientation in which the face is upright. A face found only
in a photo turned on its side must score at least ``quarter_turn_min_confidence``: a
coffee cup turned by 90° gets a face box scoring 0.61 (and FaceMesh "finds" a face in
it), while upright faces scored 0.70–0.98 in the probe above.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from pydantic import Field

from ..config import Config
from .mesh import NUM_MESH_POINTS, midline_indices, mirror_pairs, region_indices

# FaceMesh settings used only to measure the reference shape on the bundled astronaut.
_REFERENCE_LANDMARK_CONFIG = {"crop_margin": 0.5, "crop_max_side": 768, "min_confidence": 0.5}
ROTATIONS = (0, 90, 180, 270)  # counter-clockwise quarter turns a photo may be corrected by


class PoseConfig(Config):
    """Orientation correction and pose limits (the ``pose`` block of the preprocess parameters).

    The default limits keep all 478 normal photos of ``../shared/data/faces`` (their
    largest |yaw| is 26°, |pitch| 22°, roll after correction 8°; ``benchmarks/mirror.py``)
    and reject upside-down faces that cannot be corrected, faces cut by the photo border
    through an eye or the mouth, and faces turned or nodding far from the camera.
    """

    auto_rotate: bool = Field(True, description="try the photo turned by 180° (and 90°/270°) and keep the upright face")
    max_yaw_degrees: float = Field(30.0, gt=0.0, le=180.0, description="reject faces turned further left/right (°)")
    max_pitch_degrees: float = Field(30.0, gt=0.0, le=180.0, description="reject faces nodding further up/down (°)")
    max_roll_degrees: float = Field(
        45.0,
        gt=0.0,
        le=180.0,
        description="reject faces tilted further in the picture after the orientation correction (°)",
    )
    min_visible_fraction: float = Field(
        0.95,
        ge=0.0,
        le=1.0,
        description="reject faces with less of their eye, nose and lip landmarks inside the photo (share, 0..1)",
    )
    quarter_turn_min_confidence: float = Field(
        0.75,
        ge=0.0,
        le=1.0,
        description="when no face is found either way up, a face found in the photo turned by 90°/270° "
        "counts only with at least this detector score (0..1)",
    )
    upside_down_confidence_margin: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="the photo counts as upside down when the detector's score on it turned by 180° "
        "exceeds its score on the photo by more than this",
    )


@dataclass(frozen=True)
class HeadPose:
    """Angles in degrees (see the module docstring for the signs); ``visible_fraction`` is
    the share of the eye, nose and lip landmarks inside the photo (0..1)."""

    yaw_degrees: float
    pitch_degrees: float
    roll_degrees: float
    visible_fraction: float = 1.0


def _symmetric_frontal(landmarks: np.ndarray) -> np.ndarray:
    """The 468 mesh points made left–right symmetric and rotated so that the midsagittal
    plane is ``x = 0`` (normal along +x), centred on the origin."""
    points = np.asarray(landmarks, dtype=np.float64)[:NUM_MESH_POINTS, :3]
    pairs = mirror_pairs()[:NUM_MESH_POINTS]
    midline = points[midline_indices()[midline_indices() < NUM_MESH_POINTS]]
    centre = midline.mean(axis=0)
    normal = np.linalg.svd(midline - centre, full_matrices=False)[2][-1]
    normal = normal if normal[0] >= 0 else -normal
    reflected = points[pairs] - 2.0 * ((points[pairs] - centre) @ normal)[:, None] * normal
    symmetric = (points + reflected) / 2.0 - centre
    # Smallest rotation taking the plane normal onto +x (Rodrigues); keeps the pitch.
    axis = np.cross(normal, [1.0, 0.0, 0.0])
    sine, cosine = np.linalg.norm(axis), float(normal[0])
    if sine < 1e-12:
        return symmetric
    axis /= sine
    skew = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.eye(3) + sine * skew + (1.0 - cosine) * skew @ skew
    return symmetric @ rotation.T


@functools.lru_cache(maxsize=1)
def reference_shape() -> np.ndarray:
    """``(468, 3)`` frontal, symmetric reference of the mesh points (astronaut pixels,
    centred; x right, y down, z away from the camera). Measured once and cached."""
    from skimage import data

    from .landmarks import detect_landmarks

    reference = _symmetric_frontal(detect_landmarks(data.astronaut(), None, _REFERENCE_LANDMARK_CONFIG))
    reference.setflags(write=False)
    return reference


def rigid_rotation(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """3×3 rotation (det +1) of the least-squares similarity carrying ``reference`` onto
    ``points`` (both (N, 3)), Umeyama's method."""
    source = reference - reference.mean(axis=0)
    target = points - points.mean(axis=0)
    u, _, vt = np.linalg.svd(target.T @ source)
    sign = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    return u @ sign @ vt


def angles_from_rotation(rotation: np.ndarray) -> tuple[float, float, float]:
    """``(yaw, pitch, roll)`` in degrees of a rotation of the frontal reference frame.

    Roll is the angle of the face's left-to-right axis in the image; yaw and pitch are
    read after that roll is undone (``R = R_z(roll) · R'``), so they describe the head
    relative to itself and do not change when the photo is turned (an upside-down face
    nodding up still has pitch > 0).
    """
    across = rotation @ np.array([1.0, 0.0, 0.0])  # the face's left-to-right axis
    roll = np.arctan2(across[1], across[0])
    cos, sin = np.cos(roll), np.sin(roll)
    unrolled = np.array([[cos, sin, 0.0], [-sin, cos, 0.0], [0.0, 0.0, 1.0]]) @ rotation
    forward = unrolled @ np.array([0.0, 0.0, -1.0])  # where the nose points (towards the camera when frontal)
    yaw = np.degrees(np.arctan2(forward[0], -forward[2]))
    pitch = np.degrees(np.arctan2(-forward[1], np.hypot(forward[0], forward[2])))
    return float(yaw), float(pitch), float(np.degrees(roll))


@functools.lru_cache(maxsize=1)
def feature_indices() -> np.ndarray:
    """Landmarks of the eyes, nose and lips (MediaPipe's contour sets): what must be in the
    photo for the face to be scored."""
    names = ("image_left_eye", "image_right_eye", "nose", "lips")
    indices = np.unique(np.concatenate([region_indices(name) for name in names]))
    indices.setflags(write=False)
    return indices


def visible_fraction(landmarks: np.ndarray, image_shape: tuple[int, ...]) -> float:
    """Share (0..1) of the eye, nose and lip landmarks that lie inside an image of
    ``image_shape``. (Not the face outline: tight face crops such as UTKFace's cut the
    forehead and the jaw — 61–83 % of the outline inside — while every feature is in.)"""
    points = np.asarray(landmarks, dtype=np.float64)[feature_indices(), :2]
    height, width = image_shape[:2]
    inside = (points[:, 0] >= 0) & (points[:, 0] <= width - 1) & (points[:, 1] >= 0) & (points[:, 1] <= height - 1)
    return float(inside.mean())


def estimate_pose(landmarks: np.ndarray, image_shape: tuple[int, ...] | None = None) -> HeadPose:
    """Yaw, pitch and roll of a face from its (478, 3) FaceMesh landmarks (pixels, z on the
    x scale), and the share of its eye, nose and lip landmarks inside an image of
    ``image_shape`` (1.0 when not given).

    Raises:
        ValueError: landmarks without depth (shape (N, 2)) or with non-finite values.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or points.shape[0] < NUM_MESH_POINTS:
        raise ValueError(f"pose needs (478, 3) landmarks with depth, got shape {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError("pose needs finite landmarks")
    yaw, pitch, roll = angles_from_rotation(rigid_rotation(points[:NUM_MESH_POINTS], reference_shape()))
    fraction = 1.0 if image_shape is None else visible_fraction(points, image_shape)
    return HeadPose(yaw, pitch, roll, fraction)


def wrap_degrees(angle: float) -> float:
    """An angle in (−180°, 180°]."""
    wrapped = (float(angle) + 180.0) % 360.0 - 180.0
    return 180.0 if wrapped == -180.0 else wrapped


def pose_problem(pose: HeadPose, config: PoseConfig, *, rotated_degrees: int = 0) -> str | None:
    """Why a face is outside the configured limits (a sentence naming the angle and the
    limit), or None when it is within them. Roll is checked after the orientation
    correction: the face's roll in the photo turned by ``rotated_degrees``."""
    residual_roll = wrap_degrees(pose.roll_degrees - rotated_degrees)
    checks = (
        (abs(pose.yaw_degrees), config.max_yaw_degrees, f"turned {pose.yaw_degrees:+.0f}° (yaw)"),
        (abs(pose.pitch_degrees), config.max_pitch_degrees, f"tilted {pose.pitch_degrees:+.0f}° up/down (pitch)"),
        (abs(residual_roll), config.max_roll_degrees, f"rolled {residual_roll:+.0f}° in the picture (roll)"),
    )
    for value, limit, what in checks:
        if value > limit:
            return f"face {what}, beyond the ±{limit:g}° limit"
    if pose.visible_fraction < config.min_visible_fraction:
        return (
            f"only {pose.visible_fraction:.0%} of the eyes, nose and lips are inside the photo "
            f"(at least {config.min_visible_fraction:.0%} required)"
        )
    return None


# --------------------------------------------------------------------------- photo orientation


def rotate_photo(rgb: np.ndarray, degrees: int) -> np.ndarray:
    """The photo turned counter-clockwise by ``degrees`` (a multiple of 90), contiguous."""
    _check_rotation(degrees)
    return np.ascontiguousarray(np.rot90(rgb, degrees // 90))


def points_to_unrotated(points: np.ndarray, degrees: int, original_shape: tuple[int, ...]) -> np.ndarray:
    """Points measured on :func:`rotate_photo` ``(photo, degrees)`` mapped back to pixels of
    the photo (x, y; a z column is kept). ``original_shape`` is the photo's (H, W, ...)."""
    _check_rotation(degrees)
    height, width = original_shape[:2]
    points = np.asarray(points, dtype=np.float64)
    out = points.copy()
    x, y = points[:, 0], points[:, 1]
    if degrees == 90:  # rot90 k=1: rotated (x, y) shows photo (W − 1 − y, x)
        out[:, 0], out[:, 1] = width - 1 - y, x
    elif degrees == 180:
        out[:, 0], out[:, 1] = width - 1 - x, height - 1 - y
    elif degrees == 270:  # rot90 k=3: rotated (x, y) shows photo (y, H − 1 − x)
        out[:, 0], out[:, 1] = y, height - 1 - x
    return out


def nearest_quarter_turn(roll_degrees: float) -> int:
    """The counter-clockwise quarter turn (0, 90, 180, 270) that best levels a face whose
    roll in the photo is ``roll_degrees`` (clockwise positive)."""
    return int(round(wrap_degrees(roll_degrees) / 90.0)) % 4 * 90


def _check_rotation(degrees: int) -> None:
    if degrees not in ROTATIONS:
        raise ValueError(f"rotation must be one of {ROTATIONS} degrees, got {degrees!r}")
