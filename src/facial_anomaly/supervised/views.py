"""What a supervised model sees: *views* of an (original, normalized) pair of aligned faces.

A view is one 3-channel picture cut from the aligned face and resized to the model size:

* ``original`` — the aligned face;
* ``normalized`` — its normalized partner (same size, same alignment);
* ``mirrored`` — the original reflected about its own facial midline (the line fitted
  through the FaceMesh midline landmarks in the picture, :func:`~facial_anomaly.
  normalizers.geometry.fit_midline`), so that each side of the face lies over the other.

:class:`ViewSpec` names the view, the square crop box (fractions of the aligned image,
:class:`~facial_anomaly.normalizers.reconstruction.data.CropSpec`, so the same spec fits
the 256/512/1024 px presets) and the model size S. A model's input is its views stacked
along the channels: ``uint8`` (3·V, S, S) per pair, kept as ``uint8`` in memory (4× less
than float) and divided by 255 per batch (:func:`to_unit_float`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from ..normalizers.geometry import fit_midline
from ..normalizers.reconstruction.data import CropSpec, check_face_image, crop_face

VIEWS = ("original", "normalized", "mirrored")
CHANNELS = 3  # RGB per view


@dataclass(frozen=True)
class ViewSpec:
    """One view of a pair: ``view`` (one of :data:`VIEWS`), ``crop`` box, ``image_size`` S."""

    view: str
    crop: CropSpec
    image_size: int

    def __post_init__(self):
        if self.view not in VIEWS:
            raise ValueError(f"unknown view {self.view!r}; available: {list(VIEWS)}")
        if int(self.image_size) != self.image_size or self.image_size < 32:
            raise ValueError(f"image_size must be an integer ≥ 32, got {self.image_size!r}")

    @property
    def key(self) -> str:
        """A readable unique name, e.g. ``original@0.5,0.55,0.75/128``."""
        c = self.crop
        return f"{self.view}@{c.center_x:g},{c.center_y:g},{c.size:g}/{self.image_size}"


def view_specs(views: Sequence[str], crop: Mapping, image_size: int) -> tuple[ViewSpec, ...]:
    """The views of one model: same crop box and size for all (they are stacked)."""
    spec = CropSpec.from_dict(crop)
    return tuple(ViewSpec(view, spec, int(image_size)) for view in views)


def mirror_face(face: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The face reflected about its facial midline in the picture: H×W×3 uint8 (borders reflected).

    Args:
        face: aligned H×W×3 uint8 RGB.
        landmarks: its (478, 2|3) landmarks in pixels (only x, y are used).
    """
    height, width = face.shape[:2]
    matrix = fit_midline(np.asarray(landmarks, dtype=np.float64)[:, :2]).reflection_matrix()
    return cv2.warpAffine(face, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def prepare_views(
    specs: Sequence[ViewSpec], original: np.ndarray, normalized: np.ndarray | None, landmarks: np.ndarray | None
) -> np.ndarray:
    """One pair as a model input: the views stacked, ``uint8`` (3·V, S, S).

    Args:
        specs: the model's views (all the same size S).
        original: aligned face, H×W×3 uint8 RGB.
        normalized: its normalized partner (same shape); needed only by ``normalized`` views.
        landmarks: (478, 2|3) landmarks of ``original``; needed only by ``mirrored`` views.

    Raises:
        ValueError: a needed input is missing, images of other shapes, or sizes that differ.
    """
    original = check_face_image(original)
    sizes = {spec.image_size for spec in specs}
    if len(sizes) != 1:
        raise ValueError(f"stacked views need one image size, got {sorted(sizes)}")
    sources: dict[str, np.ndarray] = {"original": original}
    if any(spec.view == "normalized" for spec in specs):
        if normalized is None:
            raise ValueError("this model compares with the normalized face: pass `normalized`")
        if check_face_image(normalized).shape != original.shape:
            raise ValueError(f"normalized face {normalized.shape} and original {original.shape} differ in shape")
        sources["normalized"] = normalized
    if any(spec.view == "mirrored" for spec in specs):
        if landmarks is None:
            raise ValueError("this model compares the face with its mirror image: pass the face's `landmarks`")
        sources["mirrored"] = mirror_face(original, landmarks)
    crops = [crop_face(sources[spec.view], spec.crop, spec.image_size) for spec in specs]
    return np.ascontiguousarray(np.concatenate(crops, axis=2).transpose(2, 0, 1))


def to_unit_float(inputs: torch.Tensor) -> torch.Tensor:
    """``uint8`` model inputs (N, C, S, S) → float32 in [0, 1] (float inputs are passed through)."""
    return inputs.float().div_(255.0) if inputs.dtype == torch.uint8 else inputs.float()
