"""Harmless image changes ("nuisances") applied to both classes of training pairs, so that
the camera, the light or the file format can never be what separates them.

:data:`NUISANCES`, in the order they are applied (geometry, then light, then the camera
and the file):

* ``mirror``: horizontal flip; landmarks are flipped and relabelled through
  :func:`~facial_anomaly.faces.mesh.mirror_pairs` (landmark i of the flipped face is the
  flipped counterpart of i);
* ``rotate_shift``: rotation by ±``rotation_deg`` about the image centre and a shift of
  up to ±``shift_iod`` IOD per axis (borders reflected; landmarks moved along);
* ``brightness_contrast``: ``(x − mean)·c + mean + b``, c ∈ 1 ± ``contrast``,
  b ∈ ±``brightness`` × 255;
* ``colour_cast``: per-channel gains 1 ± ``colour_cast``;
* ``blur``: Gaussian, σ ∈ ``blur_sigma_iod`` × IOD;
* ``downscale``: shrunk by a factor in ``downscale`` (area) and enlarged back (bilinear);
* ``noise``: Gaussian, σ ∈ ``noise_sigma`` grey levels;
* ``jpeg``: encoded and decoded at a quality in ``jpeg_quality``.

Each is applied with its ``probability`` (``only`` forces a given set instead). The
random draws are made in a fixed order whatever is applied, so a seed gives the same
changes. Parameters: ``train_supervised.data.nuisance``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from ..faces.mesh import mirror_pairs
from ..synthesis.base import inter_ocular_distance

NUISANCES = ("mirror", "rotate_shift", "brightness_contrast", "colour_cast", "blur", "downscale", "noise", "jpeg")


def mirror(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal flip of an H×W×3 image and its (478, 2|3) landmarks (relabelled)."""
    flipped = np.asarray(landmarks, dtype=np.float64)[mirror_pairs()].copy()
    flipped[:, 0] = image.shape[1] - flipped[:, 0]  # the convention of faces.mesh's mirror measurement
    return np.ascontiguousarray(image[:, ::-1]), flipped


def _affine(image: np.ndarray, landmarks: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    height, width = image.shape[:2]
    warped = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    moved = np.asarray(landmarks, dtype=np.float64).copy()
    moved[:, :2] = moved[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    return warped, moved


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def apply_nuisances(
    image: np.ndarray,
    landmarks: np.ndarray,
    rng: np.random.Generator,
    params: Mapping,
    *,
    only: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Apply random harmless changes to an aligned face.

    Args:
        image: H×W×3 uint8 RGB; landmarks: its (478, 2|3) landmarks in pixels.
        rng: advanced by the call (the same number of draws whatever is applied).
        params: the ``nuisance`` block (see the module docstring).
        only: apply exactly these nuisances (at random magnitudes) instead of drawing
            which ones with their probabilities.

    Returns:
        ``(image, landmarks, applied)``: the changed uint8 image, landmarks moved by the
        geometric changes, and the names of the nuisances applied, in order.

    Raises:
        ValueError: an unknown nuisance name in ``only`` or in ``params["probability"]``.
    """
    probability = params["probability"]
    unknown = (set(only or ()) | set(probability)) - set(NUISANCES)
    if unknown or set(probability) != set(NUISANCES):
        raise ValueError(
            f"nuisances are {list(NUISANCES)}; got unknown {sorted(unknown)}, probabilities for {sorted(probability)}"
        )
    iod = inter_ocular_distance(landmarks)
    # Every draw is made up front, in a fixed order.
    draws = {name: rng.uniform() < float(probability[name]) for name in NUISANCES}
    angle = rng.uniform(-1.0, 1.0) * float(params["rotation_deg"])
    shift = rng.uniform(-1.0, 1.0, size=2) * float(params["shift_iod"]) * iod
    contrast = 1.0 + rng.uniform(-1.0, 1.0) * float(params["contrast"])
    brightness = rng.uniform(-1.0, 1.0) * float(params["brightness"]) * 255.0
    gains = 1.0 + rng.uniform(-1.0, 1.0, size=3) * float(params["colour_cast"])
    sigma = rng.uniform(*params["blur_sigma_iod"]) * iod
    factor = rng.uniform(*params["downscale"])
    noise_sigma = rng.uniform(*params["noise_sigma"])
    noise_seed = int(rng.integers(2**31))
    quality = int(rng.integers(int(params["jpeg_quality"][0]), int(params["jpeg_quality"][1]) + 1))
    chosen = [name for name in NUISANCES if (name in only if only is not None else draws[name])]

    landmarks = np.asarray(landmarks, dtype=np.float64)
    height, width = image.shape[:2]
    for name in chosen:
        if name == "mirror":
            image, landmarks = mirror(image, landmarks)
        elif name == "rotate_shift":
            matrix = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), angle, 1.0)
            matrix[:, 2] += shift
            image, landmarks = _affine(image, landmarks, matrix)
        elif name == "brightness_contrast":
            mean = image.reshape(-1, 3).mean(axis=0)
            image = _to_uint8((image.astype(np.float32) - mean) * contrast + mean + brightness)
        elif name == "colour_cast":
            image = _to_uint8(image.astype(np.float32) * gains.astype(np.float32))
        elif name == "blur":
            image = cv2.GaussianBlur(image, (0, 0), sigma)
        elif name == "downscale":
            small = (max(1, int(round(width * factor))), max(1, int(round(height * factor))))
            image = cv2.resize(
                cv2.resize(image, small, interpolation=cv2.INTER_AREA), (width, height), interpolation=cv2.INTER_LINEAR
            )
        elif name == "noise":
            noise = np.random.default_rng(noise_seed).normal(0.0, noise_sigma, size=image.shape).astype(np.float32)
            image = _to_uint8(image.astype(np.float32) + noise)
        elif name == "jpeg":
            image = _jpeg(image, quality)
    return np.ascontiguousarray(image), landmarks, tuple(chosen)
