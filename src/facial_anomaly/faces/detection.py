"""Face detection: MediaPipe's bundled face detector, OpenCV's Haar cascade as a fallback.

MediaPipe 0.10.21 ships the BlazeFace models inside its wheel, and OpenCV-contrib 4.11
ships the Haar XMLs (``cv2.data.haarcascades``): nothing is downloaded at run time.
Detector objects are expensive to build, so one per configuration is kept per process.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import cv2
import numpy as np

# MediaPipe's C++ core logs every graph start to stderr; keep warnings and errors only.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass(frozen=True)
class FaceBox:
    """A detected face in pixel coordinates of the image it was found in.

    ``x, y`` is the top-left corner; ``confidence`` is in [0, 1] (Haar detections have
    no calibrated score and report ``nan``); ``detector`` names the model that found it.
    """

    x: float
    y: float
    width: float
    height: float
    confidence: float
    detector: str

    @property
    def area(self) -> float:
        return self.width * self.height


@dataclass(frozen=True)
class Detections:
    """All faces found in an image, largest first."""

    boxes: tuple[FaceBox, ...]

    @property
    def count(self) -> int:
        return len(self.boxes)

    @property
    def largest(self) -> FaceBox | None:
        return self.boxes[0] if self.boxes else None


@functools.lru_cache(maxsize=4)
def _mediapipe_detector(model_selection: int, min_confidence: float):
    from mediapipe.python.solutions import face_detection

    return face_detection.FaceDetection(model_selection=model_selection, min_detection_confidence=min_confidence)


@functools.lru_cache(maxsize=2)
def _haar_detector(cascade_file: str) -> cv2.CascadeClassifier:
    path = cv2.data.haarcascades + cascade_file
    classifier = cv2.CascadeClassifier(path)
    if classifier.empty():
        raise FileNotFoundError(f"OpenCV Haar cascade not found or unreadable: {path}")
    return classifier


def detect_mediapipe(rgb: np.ndarray, *, model_selection: int, min_confidence: float) -> list[FaceBox]:
    """Faces found by MediaPipe face detection in an H×W×3 uint8 RGB image.

    ``model_selection`` 0 is the short-range model (faces within ~2 m), 1 the full-range one.
    """
    height, width = rgb.shape[:2]
    result = _mediapipe_detector(model_selection, min_confidence).process(rgb)
    boxes = []
    for detection in result.detections or []:
        rel = detection.location_data.relative_bounding_box
        x0, y0 = max(rel.xmin, 0.0) * width, max(rel.ymin, 0.0) * height
        x1 = min(rel.xmin + rel.width, 1.0) * width
        y1 = min(rel.ymin + rel.height, 1.0) * height
        if x1 <= x0 or y1 <= y0:
            continue
        boxes.append(FaceBox(x0, y0, x1 - x0, y1 - y0, float(detection.score[0]), f"mediapipe_{model_selection}"))
    return boxes


def detect_haar(
    rgb: np.ndarray, *, cascade_file: str, scale_factor: float, min_neighbors: int, min_size_px: int
) -> list[FaceBox]:
    """Faces found by an OpenCV Haar cascade (frontal faces; no confidence score)."""
    gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    found = _haar_detector(cascade_file).detectMultiScale(
        gray, scaleFactor=scale_factor, minNeighbors=min_neighbors, minSize=(min_size_px, min_size_px)
    )
    return [FaceBox(float(x), float(y), float(w), float(h), float("nan"), "haar") for x, y, w, h in found]


def detect_faces(rgb: np.ndarray, config: dict) -> Detections:
    """Run the configured detectors in order until one finds a face; largest face first.

    ``config`` is the ``detection`` block of ``parameters_preprocess.yml``: a list of
    MediaPipe ``model_selections`` tried first, then the Haar fallback when enabled.
    """
    boxes: list[FaceBox] = []
    for model_selection in config["mediapipe_model_selections"]:
        boxes = detect_mediapipe(rgb, model_selection=model_selection, min_confidence=config["min_confidence"])
        if boxes:
            break
    if not boxes and config["haar_fallback"]:
        haar = config["haar"]
        boxes = detect_haar(
            rgb,
            cascade_file=haar["cascade_file"],
            scale_factor=haar["scale_factor"],
            min_neighbors=haar["min_neighbors"],
            min_size_px=haar["min_size_px"],
        )
    return Detections(tuple(sorted(boxes, key=lambda box: box.area, reverse=True)))


def _mirrored_box(box: FaceBox, width: int) -> FaceBox:
    """The box of the same face in the horizontally mirrored image (x ↦ width − x)."""
    return FaceBox(width - box.x - box.width, box.y, box.width, box.height, box.confidence, box.detector)


def _intersection_over_union(a: FaceBox, b: FaceBox) -> float:
    overlap_x = max(0.0, min(a.x + a.width, b.x + b.width) - max(a.x, b.x))
    overlap_y = max(0.0, min(a.y + a.height, b.y + b.height) - max(a.y, b.y))
    overlap = overlap_x * overlap_y
    union = a.area + b.area - overlap
    return overlap / union if union > 0 else 0.0


def _average_boxes(a: FaceBox, b: FaceBox) -> FaceBox:
    confidence = (
        float(np.nanmean([a.confidence, b.confidence]))
        if np.isfinite([a.confidence, b.confidence]).any()
        else a.confidence
    )
    return FaceBox(
        (a.x + b.x) / 2.0,
        (a.y + b.y) / 2.0,
        (a.width + b.width) / 2.0,
        (a.height + b.height) / 2.0,
        confidence,
        a.detector if a.detector == b.detector else f"{a.detector}+{b.detector}",
    )


# Boxes of the image and of its mirror image (mapped back) overlapping at least this much
# are the same face.
_SAME_FACE_IOU = 0.5


def detect_faces_mirror_consistent(rgb: np.ndarray, config: dict) -> Detections:
    """:func:`detect_faces` on the image and on its mirror image; the boxes of a face found
    in both are averaged (the mirror's mapped back), so a face and its mirror image get
    mirror-image boxes exactly: the first step of mirror-equivariant landmarks.

    A face found in only one of the two passes keeps its single box. With several faces,
    boxes are matched greedily by overlap (IoU ≥ 0.5), largest first.
    """
    width = rgb.shape[1]
    direct = list(detect_faces(rgb, config).boxes)
    mirrored = [_mirrored_box(box, width) for box in detect_faces(np.ascontiguousarray(rgb[:, ::-1]), config).boxes]
    boxes = []
    for box in direct:
        overlaps = [_intersection_over_union(box, other) for other in mirrored]
        best = int(np.argmax(overlaps)) if overlaps else -1
        if best >= 0 and overlaps[best] >= _SAME_FACE_IOU:
            boxes.append(_average_boxes(box, mirrored.pop(best)))
        else:
            boxes.append(box)
    boxes.extend(mirrored)
    return Detections(tuple(sorted(boxes, key=lambda box: box.area, reverse=True)))
