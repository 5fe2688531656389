"""Aligned crops without black borders, and a soft face/background mask.

Hayajneh et al. 2022 keep a fixed 60/40 face/background ratio by padding the photo
with blurred, mirrored replicates of itself (the 8 flipped neighbours) rather than
black, so the generator and the comparison never see an artificial edge. Sampling the
affine warp with ``cv2.BORDER_REFLECT`` reads exactly those mirrored replicates (and
their mirrors further out); the part of the crop that lies outside the photo is then
replaced by a blurred copy, blended in over a feathered seam.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np


def warp_with_mirrored_background(
    rgb: np.ndarray, matrix: np.ndarray, output_size: int, *, blur_sigma: float, seam_sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Warp an image into the aligned crop, filling the area beyond the photo with blurred mirror images.

    Args:
        rgb: H×W×3 uint8 source image.
        matrix: 2×3 source→crop affine matrix.
        output_size: side of the square crop in pixels.
        blur_sigma: Gaussian sigma (pixels of the crop) of the blur applied to the padding.
        seam_sigma: Gaussian sigma of the blend between photo and padding.

    Returns:
        ``(crop, inside)``: the crop (uint8, output_size² × 3) and a float32 map in [0, 1]
        that is 1 where the crop shows the photo itself and 0 on the padding.
    """
    size = (output_size, output_size)
    mirrored = cv2.warpAffine(rgb, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if _crop_inside_photo(matrix, rgb.shape, output_size):
        # Every crop pixel samples the photo itself: no padding to blend (what warping a
        # plane of ones would say, without allocating and warping one the photo's size).
        return mirrored, np.ones((output_size, output_size), np.float32)
    ones = np.ones(rgb.shape[:2], dtype=np.float32)
    inside = cv2.warpAffine(ones, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if inside.min() >= 1.0:
        return mirrored, inside
    blurred = cv2.GaussianBlur(mirrored, (0, 0), sigmaX=blur_sigma, borderType=cv2.BORDER_REFLECT)
    # Erode-then-feather keeps the blend inside the photo so no padding leaks over it.
    weight = cv2.GaussianBlur(inside, (0, 0), sigmaX=seam_sigma) * inside
    weight = weight[..., None]
    crop = weight * mirrored.astype(np.float32) + (1.0 - weight) * blurred.astype(np.float32)
    return np.clip(np.round(crop), 0, 255).astype(np.uint8), inside


def _crop_inside_photo(matrix: np.ndarray, shape: tuple[int, ...], output_size: int) -> bool:
    """True when every pixel of the crop maps at least a pixel inside the photo (the crop's
    corners do: the footprint is convex), so bilinear sampling never reaches the border."""
    inverse = cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))
    last = output_size - 1.0
    corners = np.array([[0.0, 0.0, 1.0], [last, 0.0, 1.0], [0.0, last, 1.0], [last, last, 1.0]])
    source = corners @ inverse.T
    height, width = shape[:2]
    return bool(
        (source[:, 0] >= 1.0).all()
        and (source[:, 0] <= width - 2.0).all()
        and (source[:, 1] >= 1.0).all()
        and (source[:, 1] <= height - 2.0).all()
    )


@functools.lru_cache(maxsize=2)
def _selfie_segmenter(model_selection: int):
    from mediapipe.python.solutions import selfie_segmentation

    return selfie_segmentation.SelfieSegmentation(model_selection=model_selection)


def foreground_mask(rgb: np.ndarray, *, model_selection: int, feather_sigma: float) -> np.ndarray:
    """Person/background probability from MediaPipe selfie segmentation, feathered.

    Args:
        rgb: H×W×3 uint8 aligned crop.
        model_selection: 0 = general (256×256) model, 1 = landscape model.
        feather_sigma: Gaussian sigma in pixels that softens the mask edge.

    Returns:
        H×W float32 in [0, 1], 1 on the person.
    """
    result = _selfie_segmenter(model_selection).process(np.ascontiguousarray(rgb))
    mask = np.asarray(result.segmentation_mask, dtype=np.float32)
    if feather_sigma > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=feather_sigma)
    return np.clip(mask, 0.0, 1.0)


def pack_face_and_mask(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One H×W×4 uint8 RGBA array: the aligned crop with its foreground mask as alpha.

    Aligned faces are stored this way (one PNG per face), so a face and its mask can
    never come from different runs or settings.
    """
    if rgb.shape[:2] != mask.shape[:2]:
        raise ValueError(f"face {rgb.shape[:2]} and mask {mask.shape[:2]} differ in size")
    alpha = mask if mask.dtype == np.uint8 else np.round(np.clip(mask, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.dstack([rgb, alpha])


def unpack_face_and_mask(rgba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`pack_face_and_mask`: (H×W×3 uint8 RGB, H×W float32 mask in [0, 1]).

    A 3-channel image (no alpha) is accepted and gets an all-foreground mask.
    """
    if rgba.ndim != 3 or rgba.shape[2] not in (3, 4):
        raise ValueError(f"expected an H×W×3 or H×W×4 image, got shape {rgba.shape}")
    if rgba.shape[2] == 3:
        return np.array(rgba), np.ones(rgba.shape[:2], np.float32)  # always new arrays (the input may be shared)
    rgba = np.ascontiguousarray(rgba)
    # OpenCV splits the interleaved channels several times faster than numpy's strided copies.
    alpha = cv2.extractChannel(rgba, 3).astype(np.float32)
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB), np.divide(alpha, 255.0, out=alpha)
