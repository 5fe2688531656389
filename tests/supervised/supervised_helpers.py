"""Tiny configs and a painted-defect task for the supervised tests (fast on 2 CPU cores)."""

from __future__ import annotations

import cv2
import numpy as np

from facial_anomaly.supervised import Pair, lower_face_mask

# The lower face at 64 px: 256 aligned px → 4 px per input pixel, 32 px per stride-8 cell.
LOWER_FACE_CROP = {"center_x": 0.5, "center_y": 0.66, "size": 0.5}
DEFECT_RADIUS = 56  # aligned px: well above the 32 px cells of the stride-8 map (Grad-CAM resolution)
DEFECT_RGB = (200, 30, 160)
TINY_TRAINING = {
    "epochs": 16,
    "batch_size": 16,
    "lr": 2e-3,
    "weight_decay": 0.0,
    "severity_weight": 0.5,
    "bn_batches": 100,
    "flip_probability": 0.5,
    "shift_fraction": 0.0,
    "patience": 16,
    "seed": 0,
}


def tiny_config(architecture: str, **overrides) -> dict:
    """A model config small enough for tests: 64 px (256 for texture), width 0.25, the
    first 5 MobileNetV2 modules (stride 8)."""
    config = {
        "architecture": architecture,
        "image_size": 256 if architecture == "texture" else 64,
        "crop": LOWER_FACE_CROP,
        "width_mult": 0.25,
        "feature_blocks": 5,
        "pooling": "avg",
        "hidden_units": 32,
        "dropout": 0.0,
        "backbone_weights": None,
    }
    config.update(
        {"siamese": {"combine": "concat_difference"}, "self_comparison": {"input": "difference"}}.get(architecture, {})
    )
    config.update(overrides)
    return config


def paint_defect(image: np.ndarray, centre) -> np.ndarray:
    """A copy of ``image`` with a filled magenta disc of :data:`DEFECT_RADIUS` at ``centre`` (x, y)."""
    out = image.copy()
    cv2.circle(out, (int(centre[0]), int(centre[1])), DEFECT_RADIUS, DEFECT_RGB, -1, lineType=cv2.LINE_AA)
    return out


def defect_centres(face: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(K, 2) pixel positions where a whole defect lies in the lower face and in the crop box."""
    from facial_anomaly.normalizers.reconstruction import CropSpec

    x0, y0, side = CropSpec.from_dict(LOWER_FACE_CROP).box(*face.shape[:2])
    region = lower_face_mask(landmarks, face.shape, {"start_below_eyes_iod": 0.45, "outline_margin_iod": 0.0})
    inside = np.zeros_like(region)
    margin = DEFECT_RADIUS + 4
    inside[y0 + margin : y0 + side - margin, x0 + margin : x0 + side - margin] = True
    ys, xs = np.nonzero(region & inside)
    return np.column_stack([xs, ys])


def painted_pairs(face: np.ndarray, landmarks: np.ndarray, count: int, *, seed: int) -> list[Pair]:
    """``count`` pairs (original, normalized = the clean face): every second one with a
    painted defect (label 1, severity 3); both classes get the same kind of harmless
    change (integer shift of ±4 px, gain 0.9-1.1) applied after painting."""
    rng = np.random.default_rng(seed)
    centres = defect_centres(face, landmarks)
    pairs = []
    for index in range(count):
        label = index % 2
        shift, gain = rng.integers(-4, 5, size=2), rng.uniform(0.9, 1.1)
        original = paint_defect(face, centres[rng.integers(len(centres))]) if label else face
        matrix = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])

        def change(image):
            moved = cv2.warpAffine(image, matrix, image.shape[1::-1], borderMode=cv2.BORDER_REFLECT)
            return np.clip(moved * gain, 0, 255).astype(np.uint8)

        record = {
            "face": f"astronaut-{seed}-{index}",
            "person": "astronaut",
            "variant": index,
            "label": label,
            "severity": 3 * label,
            "family": "painted" if label else "normal",
            "side": None,
            "nuisances": "shift+gain",
            "redraws": 0,
        }
        pairs.append(Pair(change(original), change(face), landmarks, record))
    return pairs
