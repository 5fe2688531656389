"""478 facial landmarks with MediaPipe FaceMesh (``refine_landmarks=True``), in image pixels.

Landmarks are an ``(478, 3)`` float array: ``x`` and ``y`` in pixels of the image they
were measured on, ``z`` depth in the same pixel scale (MediaPipe's relative z times the
width of the image FaceMesh saw; smaller is closer to the camera).

FaceMesh is run on a crop around the detected face so that, in a photo with several
people, the landmarks belong to the face the detector chose, and so that a small
face in a large photo is seen at a useful resolution.

Mirror-consistent landmarks
---------------------------
FaceMesh is not mirror-equivariant: on the aligned astronaut, FaceMesh(face) and the
mirror image of FaceMesh(mirror(face)) (relabelled with
:func:`~facial_anomaly.faces.mesh.mirror_pairs`) differ by a median 2.2 px and a 90th
percentile 4.5 px — 1.6 % / 3.2 % of the eye distance, the size of the asymmetries
being measured. The part of the error that flips sign with the image (a constant
horizontal bias, a left–right tilt of the model) therefore makes a face and its
mirror image look differently asymmetric. With ``mirror_consistent`` (the default)
FaceMesh runs on the crop and on its mirror image and the two results are averaged,
the second mirrored back about the crop's centre column and relabelled: the
estimate is exactly mirror-equivariant for a given crop (the mirrored crop's two
passes are the same two passes, swapped) and the mirror-odd error cancels. It costs a
second FaceMesh pass (≈ 6 ms at 512 px on one core; ``benchmarks/mirror.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import cv2
import numpy as np
from pydantic import Field

from ..config import Config, validated
from .detection import FaceBox

NUM_LANDMARKS = 478

# MediaPipe FaceMesh topology (fixed by the model, not tunable). "image-left" is the
# eye that appears on the left of a frontal photo, i.e. the subject's right eye.
IMAGE_LEFT_EYE_CORNERS = (33, 133)
IMAGE_RIGHT_EYE_CORNERS = (362, 263)
IMAGE_LEFT_IRIS = (468, 469, 470, 471, 472)
IMAGE_RIGHT_IRIS = (473, 474, 475, 476, 477)


class LandmarksNotFound(Exception):
    """FaceMesh found no face in the crop or in the whole image."""


class LandmarkConfig(Config):
    """How FaceMesh measures a face (the ``landmarks`` block of ``parameters_preprocess.yml``)."""

    crop_margin: float = Field(0.5, ge=0.0, description="crop around the detected box, × box side on every side")
    crop_max_side: int = Field(768, ge=64, description="FaceMesh sees at most this many pixels per crop side (px)")
    min_confidence: float = Field(0.5, ge=0.0, le=1.0, description="FaceMesh face detection confidence, 0..1")
    mirror_consistent: bool = Field(
        True,
        description="average FaceMesh on the crop with FaceMesh on its mirror image (mirrored back, "
        "relabelled): mirror-equivariant landmarks for a second FaceMesh pass",
    )


@functools.lru_cache(maxsize=2)
def _face_mesh(min_confidence: float):
    from mediapipe.python.solutions import face_mesh

    return face_mesh.FaceMesh(
        static_image_mode=True,
        max_num_faces=1,
        refine_landmarks=True,
        min_detection_confidence=min_confidence,
    )


def _run_face_mesh(rgb: np.ndarray, min_confidence: float) -> np.ndarray | None:
    """Landmarks normalised to the given image (x, y in [0, 1]; z relative), or None."""
    result = _face_mesh(min_confidence).process(np.ascontiguousarray(rgb))
    if not result.multi_face_landmarks:
        return None
    points = result.multi_face_landmarks[0].landmark
    return np.array([(p.x, p.y, p.z) for p in points], dtype=np.float64)


def face_crop_box(box: FaceBox, image_shape: tuple[int, ...], margin: float) -> tuple[int, int, int, int]:
    """Square crop ``(x0, y0, x1, y1)`` around a face box, enlarged by ``margin`` × its side on
    every side and clipped to the image.

    The column bounds are rounded so that the mirror image of the box (``x ↦ W − x``)
    gives exactly the mirrored columns (``x0' = W − x1``): each bound is rounded from its
    own side of the image.
    """
    height, width = image_shape[:2]
    side = max(box.width, box.height) * (1.0 + 2.0 * margin)
    cx, cy = box.x + box.width / 2.0, box.y + box.height / 2.0
    x0 = int(max(round(cx - side / 2.0), 0))
    x1 = int(min(width - round(width - cx - side / 2.0), width))
    y0, y1 = int(max(cy - side / 2.0, 0)), int(min(cy + side / 2.0, height))
    return x0, y0, x1, y1


def detect_landmarks(rgb: np.ndarray, box: FaceBox | None, config: LandmarkConfig | Mapping) -> np.ndarray:
    """478 landmarks of the face in ``box`` (or of the most prominent face when ``box`` is None).

    Args:
        rgb: H×W×3 uint8 image.
        box: the detected face to measure; FaceMesh runs on a crop around it.
        config: a :class:`LandmarkConfig` or the ``landmarks`` block of
            ``parameters_preprocess.yml`` as a dict (missing keys take the defaults).

    Returns:
        ``(478, 3)`` float64 array in pixels of ``rgb`` (x, y: pixel centres at integer
        coordinates, as OpenCV's warps use them; z: depth on the same scale).

    Raises:
        LandmarksNotFound: when FaceMesh finds no face in the crop nor in the whole image.
        ValueError: a bad ``config`` value, naming it.
    """
    config = validated(LandmarkConfig, config, name="landmarks")
    attempts = []
    if box is not None:
        attempts.append(face_crop_box(box, rgb.shape, config.crop_margin))
    attempts.append((0, 0, rgb.shape[1], rgb.shape[0]))
    for x0, y0, x1, y1 in attempts:
        crop = rgb[y0:y1, x0:x1]
        crop_height, crop_width = crop.shape[:2]
        # Downscale big crops: FaceMesh works at 192 px internally, so a huge crop only
        # costs resize time; upscaling small faces is left to FaceMesh itself.
        factor = min(1.0, config.crop_max_side / max(crop_height, crop_width))
        if factor < 1.0:
            crop = cv2.resize(crop, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        relative = _run_face_mesh(crop, config.min_confidence)
        if relative is None:
            continue
        landmarks = _crop_to_image(relative, x0, y0, crop_width, crop_height)
        if config.mirror_consistent:
            mirrored = _run_face_mesh(np.ascontiguousarray(crop[:, ::-1]), config.min_confidence)
            if mirrored is not None:
                landmarks = _average_with_mirror_pass(
                    landmarks, mirrored, x0, y0, crop_width, crop_height, crop.shape[1]
                )
        return landmarks
    raise LandmarksNotFound("FaceMesh found no face landmarks in the face crop or the whole image")


def _crop_to_image(relative: np.ndarray, x0: int, y0: int, crop_width: int, crop_height: int) -> np.ndarray:
    """FaceMesh's normalised landmarks of a crop → pixels of the whole image."""
    landmarks = np.empty_like(relative)
    landmarks[:, 0] = x0 + relative[:, 0] * crop_width
    landmarks[:, 1] = y0 + relative[:, 1] * crop_height
    landmarks[:, 2] = relative[:, 2] * crop_width
    return landmarks


def _average_with_mirror_pass(
    landmarks: np.ndarray,
    mirrored_relative: np.ndarray,
    x0: int,
    y0: int,
    crop_width: int,
    crop_height: int,
    seen_width: int,
) -> np.ndarray:
    """Average the landmarks of a crop with those FaceMesh found on its mirror image.

    The mirror pass is mapped like the first (column ``c`` of the seen image is
    ``c × crop_width / seen_width`` crop pixels from ``x0``) after undoing the flip in the
    seen image's pixels (column ``c`` ↔ ``seen_width − 1 − c``), then relabelled: its
    landmark ``pairs[i]`` is the counterpart of landmark ``i``. A detector error that is
    the same in both passes in image terms (e.g. a constant rightward bias) flips sign
    between them and cancels in the average.
    """
    from .mesh import mirror_pairs

    back = _crop_to_image(mirrored_relative, x0, y0, crop_width, crop_height)
    pixel = crop_width / seen_width
    back[:, 0] = 2 * x0 + crop_width - pixel - back[:, 0]
    return (landmarks + back[mirror_pairs()]) / 2.0


def eye_centers(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the image-left and image-right eyes (x, y) as the midpoints of the eye corners.

    Eye corners, unlike the iris, do not move with gaze, so alignment does not depend on
    where the person looks.
    """
    left = landmarks[list(IMAGE_LEFT_EYE_CORNERS), :2].mean(axis=0)
    right = landmarks[list(IMAGE_RIGHT_EYE_CORNERS), :2].mean(axis=0)
    return left, right


def validate_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Check a landmark array has shape (478, 2|3) and only finite values; return it as float64.

    Raises:
        ValueError: naming what is wrong (shape, NaN or inf).
    """
    array = np.asarray(landmarks, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] != NUM_LANDMARKS or array.shape[1] not in (2, 3):
        raise ValueError(f"landmarks must have shape ({NUM_LANDMARKS}, 2 or 3), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"landmarks contain {int((~np.isfinite(array)).sum())} NaN or infinite values")
    return array
