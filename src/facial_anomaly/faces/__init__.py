"""Face I/O, detection, landmarks, alignment and background handling (Hayajneh et al. 2022 §1.1)."""

from .alignment import AlignmentSpec, alignment_from_landmarks, invert_matrix, similarity_matrix, transform_points
from .detection import Detections, FaceBox, detect_faces
from .io import ImageRejected, decode_image, image_id_from_path, is_supported
from .landmarks import NUM_LANDMARKS, LandmarkConfig, detect_landmarks, eye_centers, validate_landmarks
from .preprocess import (
    FaceGeometry,
    config_fingerprint,
    geometry_from_record,
    geometry_to_record,
    locate_face,
    render_aligned_face,
    resolve_config,
)

__all__ = [
    "AlignmentSpec",
    "Detections",
    "FaceBox",
    "FaceGeometry",
    "ImageRejected",
    "LandmarkConfig",
    "NUM_LANDMARKS",
    "alignment_from_landmarks",
    "config_fingerprint",
    "decode_image",
    "detect_faces",
    "detect_landmarks",
    "eye_centers",
    "geometry_from_record",
    "geometry_to_record",
    "image_id_from_path",
    "invert_matrix",
    "is_supported",
    "locate_face",
    "render_aligned_face",
    "resolve_config",
    "similarity_matrix",
    "transform_points",
    "validate_landmarks",
]
