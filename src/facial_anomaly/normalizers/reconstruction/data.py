"""The data path of the reconstruction models: aligned face ↔ model tensor, and how a
low-resolution reconstruction is put back into the full-size aligned face.

Forward (:func:`faces_to_tensor`): an aligned face (H×W×3 uint8 RGB, e.g. 512×512) →
the square crop box of :class:`CropSpec` (fractions of the aligned image, so the same
spec fits the 256/512/1024 px presets, whose eyes sit at the same relative place) →
area-averaged down to the model size S → float32 tensor (N, 3, S, S) in [-1, 1]
(``x / 127.5 - 1``, matching the decoder's tanh).

Backward (:func:`tensor_to_images`): (N, 3, S, S) in [-1, 1] → (N, S, S, 3) uint8;
non-finite values become 0 (mid grey) and everything is clipped to [-1, 1] first.

**Comparing a low-resolution reconstruction with the 512 px aligned face**
(:func:`paste_reconstruction`). The models see only the crop box at S px (64 or 128),
while the heatmap stage compares full-size images pixel by pixel (PSE, SSIM). The
reconstruction is therefore upsampled (bilinear) back to the crop box and pasted into a
*copy of the aligned face*, blended with weights that ramp smoothly (smoothstep) from 0
at the box edge to 1 at ``feather`` × box side inside it. Consequences:

* outside the box the output is byte-identical to the input, so PSE/SSIM heatmaps are 0
  there: they only ever show what the model changed *inside the region it models*,
  never background, hair or shoulders that the model never saw;
* the seam is feathered, so the box edge does not itself become a bright line in the
  heatmaps (a hard paste would put a step of the full reconstruction error on it);
* optional ``detail_transfer``: a model of S px cannot reproduce detail finer than its
  pixel (box side / S, ≈ 6 px at 384 px / 64 px), so an upsampled reconstruction differs
  from the face *everywhere* by that lost texture, which would drown the anomaly in the
  heatmaps. With ``detail_transfer`` the face's own high-pass residual
  (face − up(down(face)), i.e. exactly what the model cannot see) is added back to the
  upsampled reconstruction; the output then differs from the face only in what the
  model changed at its own resolution. The price: anomalies smaller than a model pixel
  (single acne papules at 64 px) are carried over with the detail and do not show.
  Without it the comparison is honest but dominated by blur; the heatmap stage could
  equally blur the face before comparing — this option keeps that choice here.

Alternatives rejected: comparing at S px (heatmaps would not be in aligned pixels like
every other normalizer's) and returning only the box (other stages expect the input's
size).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

CHANNELS = 3  # RGB


@dataclass(frozen=True)
class CropSpec:
    """The modelled square of an aligned face, in fractions of the image size.

    ``center_x``, ``center_y``: box centre as fractions of the width and height;
    ``size``: box side as a fraction of the shorter image side (1.0 = whole crop).
    """

    center_x: float
    center_y: float
    size: float

    @classmethod
    def from_dict(cls, data: Mapping) -> "CropSpec":
        """From the ``crop`` block of a model config (exactly the three keys)."""
        expected = {"center_x", "center_y", "size"}
        if set(data) != expected:
            raise ValueError(f"crop needs exactly the keys {sorted(expected)}, got {sorted(data)}")
        spec = cls(float(data["center_x"]), float(data["center_y"]), float(data["size"]))
        if not 0.0 < spec.size <= 1.0:
            raise ValueError(f"crop size must be in (0, 1], got {spec.size}")
        return spec

    def to_dict(self) -> dict:
        return {"center_x": self.center_x, "center_y": self.center_y, "size": self.size}

    def box(self, height: int, width: int) -> tuple[int, int, int]:
        """``(x0, y0, side)`` in pixels of an H×W image.

        Raises:
            ValueError: when the box does not lie inside the image.
        """
        side = int(round(self.size * min(height, width)))
        x0 = int(round(self.center_x * width - side / 2))
        y0 = int(round(self.center_y * height - side / 2))
        if side < 1 or x0 < 0 or y0 < 0 or x0 + side > width or y0 + side > height:
            raise ValueError(
                f"crop {self.to_dict()} gives box x0={x0} y0={y0} side={side}, outside a {width}×{height} image"
            )
        return x0, y0, side


@dataclass(frozen=True)
class PasteSpec:
    """How a reconstruction goes back into the aligned face (see the module docstring).

    ``feather``: width of the blend ramp inside the box, as a fraction of the box side;
    ``detail_transfer``: add the face's high-pass residual to the reconstruction.
    """

    feather: float
    detail_transfer: bool

    @classmethod
    def from_dict(cls, data: Mapping) -> "PasteSpec":
        """From the ``paste`` block of the normalizer parameters (exactly the two keys)."""
        if set(data) != {"feather", "detail_transfer"}:
            raise ValueError(f"paste needs exactly the keys ['detail_transfer', 'feather'], got {sorted(data)}")
        if not isinstance(data["detail_transfer"], bool):
            raise ValueError(f"paste.detail_transfer must be true or false, got {data['detail_transfer']!r}")
        spec = cls(float(data["feather"]), data["detail_transfer"])
        if not 0.0 <= spec.feather <= 0.5:
            raise ValueError(f"paste.feather must be in [0, 0.5] (fraction of the box side), got {spec.feather}")
        return spec


def check_face_image(face: np.ndarray) -> np.ndarray:
    """Return ``face`` if it is an H×W×3 uint8 array, else raise ``ValueError``."""
    if not isinstance(face, np.ndarray) or face.ndim != 3 or face.shape[2] != CHANNELS or face.dtype != np.uint8:
        raise ValueError(
            f"face must be an H×W×3 uint8 RGB array, got {getattr(face, 'dtype', type(face).__name__)} "
            f"{getattr(face, 'shape', '')}"
        )
    return face


def _resize(image: np.ndarray, side: int) -> np.ndarray:
    """Square resize: area averaging when shrinking, bilinear when enlarging."""
    if image.shape[0] == side and image.shape[1] == side:
        return image
    interpolation = cv2.INTER_AREA if side < min(image.shape[:2]) else cv2.INTER_LINEAR
    return cv2.resize(image, (side, side), interpolation=interpolation)


def crop_face(face: np.ndarray, crop: CropSpec, image_size: int) -> np.ndarray:
    """The crop box of an aligned face resized to the model size: S×S×3 uint8."""
    face = check_face_image(face)
    x0, y0, side = crop.box(*face.shape[:2])
    return _resize(np.ascontiguousarray(face[y0 : y0 + side, x0 : x0 + side]), image_size)


def faces_to_tensor(faces: Sequence[np.ndarray], crop: CropSpec, image_size: int) -> torch.Tensor:
    """Aligned faces (each H×W×3 uint8; sizes may differ) → (N, 3, S, S) float32 in [-1, 1], on the CPU.

    Raises:
        ValueError: for an empty list, a face that is not H×W×3 uint8 or a crop outside it.
    """
    if len(faces) == 0:
        raise ValueError("no faces given")
    crops = np.stack([crop_face(face, crop, image_size) for face in faces])
    tensor = torch.from_numpy(crops).permute(0, 3, 1, 2).float()
    return tensor.div_(127.5).sub_(1.0).contiguous()


def tensor_to_images(tensor: torch.Tensor) -> np.ndarray:
    """(N, 3, S, S) in [-1, 1] (any device) → (N, S, S, 3) uint8; NaN → 0 (mid grey), clipped."""
    if tensor.ndim != 4 or tensor.shape[1] != CHANNELS:
        raise ValueError(f"expected an (N, 3, S, S) tensor, got shape {tuple(tensor.shape)}")
    values = torch.nan_to_num(tensor.detach().float().cpu(), nan=0.0).clamp_(-1.0, 1.0)
    pixels = torch.round((values + 1.0) * 127.5).to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).contiguous().numpy()


def feather_weights(side: int, feather_px: float) -> np.ndarray:
    """side×side float32 blend weights: 1 in the interior, smoothstep down to 0 at the edges.

    A pixel at distance d (pixel centres, from the nearest edge along each axis) gets
    ``s(d_x / f) · s(d_y / f)`` with s the clipped smoothstep; ``feather_px`` = 0 gives 1
    everywhere (hard paste).
    """
    if feather_px < 0:
        raise ValueError(f"feather_px must be ≥ 0, got {feather_px}")
    centres = np.arange(side, dtype=np.float64) + 0.5
    distance = np.minimum(centres, side - centres)
    t = np.ones_like(distance) if feather_px == 0 else np.clip(distance / feather_px, 0.0, 1.0)
    ramp = t * t * (3.0 - 2.0 * t)
    return np.outer(ramp, ramp).astype(np.float32)


def paste_reconstruction(face: np.ndarray, reconstruction: np.ndarray, crop: CropSpec, paste: PasteSpec) -> np.ndarray:
    """The aligned face with the (upsampled) reconstruction blended into the crop box.

    Args:
        face: the aligned face the reconstruction was made from, H×W×3 uint8.
        reconstruction: S×S×3 uint8 model output for ``crop_face(face, crop, S)``.
        crop: the model's crop spec.
        paste: feather width (fraction of the box side; 0 = hard paste) and whether to
            add the face's high-pass residual (what the model cannot resolve; see the
            module docstring).

    Returns:
        H×W×3 uint8; pixels outside the box are exact copies of ``face``.
    """
    face = check_face_image(face)
    reconstruction = check_face_image(reconstruction)
    size = reconstruction.shape[0]
    if reconstruction.shape[1] != size:
        raise ValueError(f"reconstruction must be square, got {reconstruction.shape}")
    x0, y0, side = crop.box(*face.shape[:2])
    region = face[y0 : y0 + side, x0 : x0 + side].astype(np.float32)
    upsampled = _resize(reconstruction, side).astype(np.float32)
    if paste.detail_transfer:
        blurred = _resize(_resize(face[y0 : y0 + side, x0 : x0 + side], size), side).astype(np.float32)
        upsampled += region - blurred
    weights = feather_weights(side, paste.feather * side)[:, :, None]
    out = face.copy()
    blended = weights * upsampled + (1.0 - weights) * region
    out[y0 : y0 + side, x0 : x0 + side] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out
