"""The preprocessing of Hayajneh et al. 2022 for one photo: decode → detect → landmarks → align → crop.

It is split in two steps so a pipeline can keep memory flat:

* :func:`locate_face` turns file bytes into a :class:`FaceGeometry` (small: numbers and
  landmarks) or a rejection with a reason;
* :func:`render_aligned_face` turns the photo and its geometry into the aligned crop and
  its foreground mask (large: pixels), which can be produced lazily, one image at a time.

``config`` arguments are the ``preprocess`` block of ``conf/base/parameters_preprocess.yml``
with the chosen alignment preset resolved into ``config["alignment"]``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass, field

import numpy as np

from ..config import validated
from .alignment import (
    AlignmentSpec,
    alignment_from_landmarks,
    matrix_roll_degrees,
    matrix_scale,
    transform_points,
)
from .background import foreground_mask, warp_with_mirrored_background
from .detection import Detections, detect_faces, detect_faces_mirror_consistent
from .io import ImageRejected, decode_image
from .landmarks import NUM_LANDMARKS, LandmarkConfig, LandmarksNotFound, detect_landmarks, eye_centers
from .pose import (
    HeadPose,
    PoseConfig,
    estimate_pose,
    nearest_quarter_turn,
    points_to_unrotated,
    pose_problem,
    rotate_photo,
    wrap_degrees,
)

# Keys of the preprocess config that change the output; anything else (``force``) does not.
_OUTPUT_DEFINING_KEYS = ("decode", "detection", "landmarks", "min_eye_distance_px", "alignment", "background")
# The pose block is optional in the parameters (defaults in PoseConfig) and joins the
# fingerprint resolved.


def resolve_config(preprocess: dict, alignment_presets: dict) -> dict:
    """Copy of the ``preprocess`` parameters with ``alignment`` set from the named preset.

    Raises:
        KeyError: naming the unknown preset and the available ones.
    """
    preset = preprocess["alignment_preset"]
    if preset not in alignment_presets:
        raise KeyError(f"unknown alignment_preset {preset!r}; available: {sorted(alignment_presets)}")
    return {**preprocess, "alignment": dict(alignment_presets[preset])}


def config_fingerprint(config: dict) -> str:
    """Short hash of every setting that changes a preprocessed output.

    Reruns skip an image only when both its bytes and this fingerprint are unchanged.
    """
    defining = {key: config[key] for key in _OUTPUT_DEFINING_KEYS}
    # Typed blocks with defaults in code: their resolved values define the output, so a
    # new default changes the fingerprint even when the YAML does not name it.
    defining["landmarks"] = validated(LandmarkConfig, config["landmarks"], name="preprocess.landmarks").model_dump()
    defining["pose"] = validated(PoseConfig, config.get("pose"), name="preprocess.pose").model_dump()
    return hashlib.sha1(json.dumps(defining, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass
class FaceGeometry:
    """Where the face is in one photo and how to align it; ``status`` is ``ok`` or a rejection reason.

    Pose (:mod:`.pose`): ``roll_degrees`` is the face's tilt in the photo as given (what the
    alignment removes; clockwise positive), ``yaw_degrees`` (> 0: nose towards the
    image-right) and ``pitch_degrees`` (> 0: nose up) come from the 3-D landmarks,
    ``rotated_degrees`` is the counter-clockwise quarter turn the photo was given before
    the face was measured (180 for an upside-down photo), ``visible_fraction`` the share
    of the eye, nose and lip landmarks inside the photo.
    """

    status: str
    detail: str = ""
    width: int = 0
    height: int = 0
    source_mode: str = ""
    face_count: int = 0
    detector: str = ""
    detection_confidence: float = float("nan")
    eye_distance_source_px: float = float("nan")
    roll_degrees: float = float("nan")
    yaw_degrees: float = float("nan")
    pitch_degrees: float = float("nan")
    rotated_degrees: int = 0
    visible_fraction: float = float("nan")
    scale: float = float("nan")
    matrix: np.ndarray | None = None
    landmarks: np.ndarray | None = field(default=None, repr=False)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def aligned_landmarks(self) -> np.ndarray:
        """Landmarks in aligned-crop pixels, (478, 3)."""
        if self.landmarks is None or self.matrix is None:
            raise ValueError(f"no landmarks for a face with status {self.status!r}")
        return transform_points(self.landmarks, self.matrix)


def locate_face(data: bytes, config: dict) -> tuple[FaceGeometry, np.ndarray | None]:
    """Decode a photo and find, measure and align its largest face.

    Args:
        data: the image file's bytes.
        config: resolved preprocess config (see module docstring).

    Returns:
        ``(geometry, rgb)``: the geometry (status ``ok`` or a rejection reason — never an
        exception for bad input) and the decoded RGB image (None when undecodable), so a
        caller that renders straight away need not decode twice.
    """
    start = time.perf_counter()
    geometry = FaceGeometry(status="ok")
    rgb = None
    try:
        decoded = decode_image(data, **config["decode"])
        rgb = decoded.rgb
        geometry.height, geometry.width = rgb.shape[:2]
        geometry.source_mode = decoded.source_mode
        landmark_config = validated(LandmarkConfig, config["landmarks"], name="preprocess.landmarks")
        pose_config = validated(PoseConfig, config.get("pose"), name="preprocess.pose")
        located = _locate_upright(rgb, config, landmark_config, pose_config)
        geometry.face_count = located.detections.count
        geometry.rotated_degrees = located.rotated_degrees
        box = located.detections.largest
        geometry.detector = box.detector
        geometry.detection_confidence = box.confidence
        landmarks = located.landmarks
        left, right = eye_centers(landmarks)
        geometry.eye_distance_source_px = float(np.hypot(*(right - left)))
        matrix = alignment_from_landmarks(landmarks, AlignmentSpec.from_config(config["alignment"]))
        geometry.roll_degrees = matrix_roll_degrees(matrix)
        pose = estimate_pose(landmarks, rgb.shape)
        geometry.yaw_degrees, geometry.pitch_degrees = pose.yaw_degrees, pose.pitch_degrees
        geometry.visible_fraction = pose.visible_fraction
        problem = pose_problem(
            HeadPose(pose.yaw_degrees, pose.pitch_degrees, geometry.roll_degrees, pose.visible_fraction),
            pose_config,
            rotated_degrees=located.rotated_degrees,
        )
        if problem is None and located.upside_down:
            problem = (
                f"the face is upside down (the detector is more confident on the photo turned by "
                f"{(located.rotated_degrees + 180) % 360}°) and "
                + ("could not be measured that way up" if pose_config.auto_rotate else "auto_rotate is off")
            )
        if problem is not None:
            raise ImageRejected("pose_out_of_range", problem)
        # After the pose: a turned face's eyes look closer together than they are.
        if geometry.eye_distance_source_px < config["min_eye_distance_px"]:
            raise ImageRejected(
                "too_small",
                f"face too small: eye distance {geometry.eye_distance_source_px:.1f} px "
                f"< {config['min_eye_distance_px']} px",
            )
        geometry.landmarks = landmarks
        geometry.matrix = matrix
        geometry.scale = matrix_scale(matrix)
    except ImageRejected as rejection:
        geometry.status = rejection.reason
        geometry.detail = rejection.message
    geometry.seconds = time.perf_counter() - start
    return geometry, rgb


@dataclass(frozen=True)
class _Located:
    detections: Detections
    landmarks: np.ndarray  # (478, 3) in pixels of the photo as given
    rotated_degrees: int  # counter-clockwise turn of the photo the landmarks were measured on
    upside_down: bool  # the detector prefers the photo turned by a further 180°


def _detector_score(detections: Detections) -> float:
    """The largest face's detection score; Haar boxes (no score) count 0, no face −1."""
    box = detections.largest
    if box is None:
        return -1.0
    return float(box.confidence) if np.isfinite(box.confidence) else 0.0


def _locate_upright(rgb: np.ndarray, config: dict, landmark_config: LandmarkConfig, pose: PoseConfig) -> _Located:
    """Detect the face and measure its landmarks in the orientation where it is upright.

    The photo as given and turned by 180° are both run through the detector (the
    upright face scores higher; FaceMesh alone cannot tell, see :mod:`.pose`); 90° and
    270° are tried when neither finds a face, and the photo is turned by the quarter
    turn nearest the measured roll when that roll is beyond ``max_roll_degrees``, so
    FaceMesh always sees the face about upright. Landmarks are returned in pixels of the
    photo as given.

    Raises:
        ImageRejected: ``no_face`` or ``no_landmarks``.
    """
    # Mirror-consistent landmarks need a mirror-consistent face box to crop around.
    detect = detect_faces_mirror_consistent if landmark_config.mirror_consistent else detect_faces
    found = {0: detect(rgb, config["detection"])}
    found[180] = detect(rotate_photo(rgb, 180), config["detection"])
    upside_down = _detector_score(found[180]) > _detector_score(found[0]) + pose.upside_down_confidence_margin
    if not pose.auto_rotate:
        order = [0]
    elif upside_down:
        order = [180, 0, 90, 270]
    else:
        order = [0, 90, 270]  # a face only in the 180° turn makes ``upside_down`` true

    def measure(turn: int) -> np.ndarray:
        points = detect_landmarks(rotate_photo(rgb, turn), found[turn].largest, landmark_config)
        return points_to_unrotated(points, turn, rgb.shape)

    landmarks, rotation, failure = None, 0, None
    for turn in order:
        if turn not in found:
            found[turn] = detect(rotate_photo(rgb, turn), config["detection"])
        if found[turn].largest is None:
            continue
        if turn in (90, 270) and _detector_score(found[turn]) < pose.quarter_turn_min_confidence:
            continue  # a weak box in a photo turned on its side is most likely not a face
        try:
            landmarks, rotation = measure(turn), turn
            break
        except LandmarksNotFound as error:
            failure = failure or error
    if landmarks is None:
        # A face box on the photo as given that FaceMesh cannot measure is no_landmarks; a
        # box only in a turned photo is too weak a sign of a face.
        if found[0].largest is not None:
            raise ImageRejected("no_landmarks", str(failure))
        raise ImageRejected("no_face", "no face detector found a face")
    if pose.auto_rotate:
        left, right = eye_centers(landmarks)
        roll = float(np.degrees(np.arctan2(*(right - left)[::-1])))
        turn = nearest_quarter_turn(roll)
        if abs(wrap_degrees(roll - rotation)) > pose.max_roll_degrees and turn != rotation:
            if turn not in found:
                found[turn] = detect(rotate_photo(rgb, turn), config["detection"])
            # Without a face or landmarks there, keep the first orientation's landmarks.
            if found[turn].largest is not None:
                with contextlib.suppress(LandmarksNotFound):
                    landmarks, rotation = measure(turn), turn
    # Upright in the chosen orientation: the detector prefers it to the same photo turned
    # by a further 180° (FaceMesh fits an upright mesh to an upside-down face).
    opposite = (rotation + 180) % 360
    if opposite not in found:
        found[opposite] = detect(rotate_photo(rgb, opposite), config["detection"])
    upside_down = (
        _detector_score(found[opposite]) > _detector_score(found[rotation]) + pose.upside_down_confidence_margin
    )
    return _Located(found[rotation], landmarks, rotation, upside_down)


def render_aligned_face(rgb: np.ndarray, geometry: FaceGeometry, config: dict) -> tuple[np.ndarray, np.ndarray]:
    """The aligned crop (uint8, S×S×3, mirrored-blurred padding) and its feathered
    foreground mask (float32 S×S in [0, 1]) for a located face."""
    if not geometry.ok or geometry.matrix is None:
        raise ValueError(f"cannot render a face with status {geometry.status!r}")
    size = int(config["alignment"]["output_size"])
    background = config["background"]
    crop, _ = warp_with_mirrored_background(
        rgb,
        geometry.matrix,
        size,
        blur_sigma=background["padding_blur_sigma"],
        seam_sigma=background["padding_seam_sigma"],
    )
    mask = foreground_mask(
        crop,
        model_selection=background["segmentation_model"],
        feather_sigma=background["mask_feather_sigma"],
    )
    return crop, mask


def geometry_to_record(geometry: FaceGeometry) -> dict:
    """Flat, table-ready dict of a geometry (matrix as m00..m12, landmarks as a flat list)."""
    record = {
        "status": geometry.status,
        "detail": geometry.detail,
        "width": geometry.width,
        "height": geometry.height,
        "source_mode": geometry.source_mode,
        "face_count": geometry.face_count,
        "detector": geometry.detector,
        "detection_confidence": geometry.detection_confidence,
        "eye_distance_source_px": geometry.eye_distance_source_px,
        "roll_degrees": geometry.roll_degrees,
        "yaw_degrees": geometry.yaw_degrees,
        "pitch_degrees": geometry.pitch_degrees,
        "rotated_degrees": geometry.rotated_degrees,
        "visible_fraction": geometry.visible_fraction,
        "scale": geometry.scale,
        "seconds": geometry.seconds,
    }
    matrix = geometry.matrix if geometry.matrix is not None else np.full((2, 3), np.nan)
    for row in range(2):
        for col in range(3):
            record[f"m{row}{col}"] = float(matrix[row, col])
    record["landmarks"] = (
        geometry.landmarks.astype(np.float64).ravel().tolist() if geometry.landmarks is not None else None
    )
    return record


def geometry_from_record(record: dict) -> FaceGeometry:
    """Inverse of :func:`geometry_to_record` (accepts a pandas row or a dict)."""
    matrix = np.array([[record[f"m{r}{c}"] for c in range(3)] for r in range(2)], dtype=np.float64)
    flat = record.get("landmarks")
    landmarks = None
    if flat is not None and len(flat) == NUM_LANDMARKS * 3:
        landmarks = np.asarray(flat, dtype=np.float64).reshape(NUM_LANDMARKS, 3)
    ok = record["status"] == "ok"
    return FaceGeometry(
        status=record["status"],
        detail=record.get("detail", "") or "",
        width=int(record.get("width", 0) or 0),
        height=int(record.get("height", 0) or 0),
        source_mode=record.get("source_mode", "") or "",
        face_count=int(record.get("face_count", 0) or 0),
        detector=record.get("detector", "") or "",
        detection_confidence=float(record.get("detection_confidence", np.nan)),
        eye_distance_source_px=float(record.get("eye_distance_source_px", np.nan)),
        roll_degrees=float(record.get("roll_degrees", np.nan)),
        yaw_degrees=float(record.get("yaw_degrees", np.nan)),
        pitch_degrees=float(record.get("pitch_degrees", np.nan)),
        rotated_degrees=int(record.get("rotated_degrees", 0) or 0),
        visible_fraction=float(record.get("visible_fraction", np.nan)),
        scale=float(record.get("scale", np.nan)),
        matrix=matrix if ok else None,
        landmarks=landmarks if ok else None,
        seconds=float(record.get("seconds", 0.0) or 0.0),
    )
