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
from .detection import detect_faces, detect_faces_mirror_consistent
from .io import ImageRejected, decode_image
from .landmarks import NUM_LANDMARKS, LandmarkConfig, LandmarksNotFound, detect_landmarks, eye_centers

# Keys of the preprocess config that change the output; anything else (``force``) does not.
_OUTPUT_DEFINING_KEYS = ("decode", "detection", "landmarks", "min_eye_distance_px", "alignment", "background")


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
    return hashlib.sha1(json.dumps(defining, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass
class FaceGeometry:
    """Where the face is in one photo and how to align it; ``status`` is ``ok`` or a rejection reason."""

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
        # Mirror-consistent landmarks need a mirror-consistent face box to crop around.
        detect = detect_faces_mirror_consistent if landmark_config.mirror_consistent else detect_faces
        detections = detect(rgb, config["detection"])
        geometry.face_count = detections.count
        box = detections.largest
        if box is None:
            raise ImageRejected("no_face", "no face detector found a face")
        geometry.detector = box.detector
        geometry.detection_confidence = box.confidence
        try:
            landmarks = detect_landmarks(rgb, box, landmark_config)
        except LandmarksNotFound as error:
            raise ImageRejected("no_landmarks", str(error)) from error
        left, right = eye_centers(landmarks)
        geometry.eye_distance_source_px = float(np.hypot(*(right - left)))
        if geometry.eye_distance_source_px < config["min_eye_distance_px"]:
            raise ImageRejected(
                "too_small",
                f"face too small: eye distance {geometry.eye_distance_source_px:.1f} px "
                f"< {config['min_eye_distance_px']} px",
            )
        matrix = alignment_from_landmarks(landmarks, AlignmentSpec.from_config(config["alignment"]))
        geometry.landmarks = landmarks
        geometry.matrix = matrix
        geometry.roll_degrees = matrix_roll_degrees(matrix)
        geometry.scale = matrix_scale(matrix)
    except ImageRejected as rejection:
        geometry.status = rejection.reason
        geometry.detail = rejection.message
    geometry.seconds = time.perf_counter() - start
    return geometry, rgb


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
        scale=float(record.get("scale", np.nan)),
        matrix=matrix if ok else None,
        landmarks=landmarks if ok else None,
        seconds=float(record.get("seconds", 0.0) or 0.0),
    )
