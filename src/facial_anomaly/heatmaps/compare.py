"""How the pixel kinds (``pse``, ``ssim``) see a face and its normalized version, so that
harmless changes of the photo do not change the score.

Measured causes (``benchmarks/invariance.py``) and what is done about each, in order:

* **Exposure.** PSE grows with the square of the image gain: the same face 20 % brighter
  scored 1.40× (and 0.62× 20 % darker). Both images are scaled by one factor that brings
  the original face's mean luma above black (``Y − 16`` over the face oval) to
  ``reference_luma``: a global gain of the photo cancels exactly (up to clipping).
* **Fine texture and compression noise.** A normalizer that resamples the face
  (every warp interpolates) smooths what it moves, so pixel noise, JPEG blocking and
  palette dithering, and skin pores, become heat, and blur removes it: SSIM fell to
  0.4–0.7× under a 1 px blur or JPEG quality 30. Both images are smoothed with a
  Gaussian of σ = ``smoothing_iod`` eye distances before they are compared: the
  comparison happens at a scale where these changes vanish while marks of a few
  pixels and larger remain.
* **Colour.** A greyscale photo has no chroma, so its YCbCr (and, less, RGB) maps lack
  the chroma part every colour photo has and it scored lower (0.76–0.85× for PSE). When
  either image has no colour (mean chroma over the face below ``chroma_threshold``),
  both are compared on luma alone and the map is multiplied by ``greyscale_scale``, the
  median ratio of full to luma-only heat on normal colour faces (1.01–1.22 by kind,
  colour space and LCN), so that greyscale photos of normal faces score like colour ones
  instead of lower. The colour of a colour photo still counts in full. (The landmarks of
  a greyscale copy are the photo's own: ``LandmarkConfig.measure_on_luma``.)

:func:`prepare_pair` applies these to both images of a pair; :class:`PixelComparison`
holds the settings.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import Field

from ..config import Config
from .color import rgb_to_ycbcr, to_color_space
from .contrast import gaussian_smooth

# BT.601 luma weights of R, G, B (the Y row of color.rgb_to_ycbcr, normalised to sum 1).
_LUMA_WEIGHTS = np.array([65.481, 128.553, 24.966], np.float32) / np.float32(219.0)
# Y of BT.601 studio swing: black is 16.
_LUMA_BLACK = 16.0


# Median full / luma-only heat of the eroded maps on 242 normal colour faces of
# ../shared/data/faces (symmetry, mirror and shape_model normalizers, mouth_nose and
# face_without_eyes; ``benchmarks/invariance.py --calibrate``).
GREYSCALE_SCALE = {
    "pse_rgb": 1.02,
    "pse_ycbcr": 1.06,
    "pse_rgb_lcn": 1.01,
    "pse_ycbcr_lcn": 1.01,
    "ssim_rgb": 1.05,
    "ssim_ycbcr": 1.12,
    "ssim_rgb_lcn": 1.03,
    "ssim_ycbcr_lcn": 1.22,
}


def scale_key(kind: str, color_space: str, lcn: bool) -> str:
    """The :attr:`PixelComparison.greyscale_scale` key of a pixel variant."""
    return f"{kind}_{color_space}" + ("_lcn" if lcn else "")


class PixelComparison(Config):
    """Settings of :func:`prepare_pair` (see the module docstring)."""

    exposure_normalization: bool = Field(
        True, description="scale both images so the original face's mean luma above black is reference_luma"
    )
    reference_luma: float = Field(
        110.0, gt=0.0, description="mean luma above black (Y − 16, 8-bit levels) the face is scaled to"
    )
    smoothing_iod: float = Field(
        0.01, ge=0.0, description="Gaussian σ applied to both images before comparing, in eye distances; 0 = off"
    )
    chroma_threshold: float = Field(
        3.0,
        ge=0.0,
        description="mean chroma magnitude over the face (8-bit levels, distance of (Cb, Cr) from 128) "
        "below which an image counts as having no colour",
    )
    greyscale_scale: dict[str, float] = Field(
        default_factory=lambda: dict(GREYSCALE_SCALE),
        description="per '<kind>_<colour space>[_lcn]', the factor a luma-only map is multiplied by: "
        "the median ratio of full to luma-only heat on normal colour faces; others keep 1",
    )

    @classmethod
    def plain(cls) -> "PixelComparison":
        """Images compared as they are (no exposure normalisation, smoothing or colour
        handling): the literal maps of Hayajneh et al. 2022."""
        return cls(exposure_normalization=False, smoothing_iod=0.0, chroma_threshold=0.0)


@dataclass(frozen=True)
class PreparedPair:
    """A face and its normalized version ready for a pixel kind: both H×W×3 RGB on the
    0–255 scale (float32; the inputs themselves when nothing is to be done), greyscale
    R = G = B when ``luma_only``, the exposure ``gain`` applied, and the factor the map of
    each variant must be multiplied by (``map_scale``, keyed by :func:`scale_key`; empty
    unless ``luma_only``)."""

    original: np.ndarray
    normalized: np.ndarray
    luma_only: bool
    gain: float
    map_scale: dict[str, float]


def mean_chroma(rgb: np.ndarray, mask: np.ndarray) -> float:
    """Mean distance of (Cb, Cr) from the neutral 128 over ``mask`` (8-bit levels): about 0
    for a greyscale image, 10–40 for skin in colour."""
    _, cb, cr = cv2.split(rgb_to_ycbcr(rgb))
    # OpenCV's magnitude and masked mean: ~2× faster than numpy on the strided channels.
    return float(cv2.mean(cv2.magnitude(cb - 128.0, cr - 128.0), mask=mask.astype(np.uint8))[0])


def luma(rgb: np.ndarray) -> np.ndarray:
    """H×W float32 BT.601 luma of an RGB image on the 0–255 scale."""
    values = np.ascontiguousarray(rgb, dtype=np.float32)
    return cv2.transform(values, _LUMA_WEIGHTS[None, :]).reshape(values.shape[:2])


def prepare_pair(
    original: np.ndarray,
    normalized: np.ndarray,
    face_mask: np.ndarray,
    eye_distance_px: float,
    comparison: PixelComparison,
) -> PreparedPair:
    """Apply exposure normalisation, colour handling and smoothing to both images.

    Args:
        original, normalized: H×W×3 RGB, uint8 (or float on the 0–255 scale).
        face_mask: H×W bool, the face oval of ``original`` (statistics are taken there).
        eye_distance_px: the face's eye distance in pixels (sets the smoothing σ).
        comparison: the settings.

    Returns:
        :class:`PreparedPair`; feed ``original`` / ``normalized`` to ``to_color_space``.

    Raises:
        ValueError: mismatched shapes or an empty mask.
    """
    if original.shape != normalized.shape:
        raise ValueError(f"original {original.shape} and normalized {normalized.shape} differ in shape")
    if not face_mask.any():
        raise ValueError("the face mask is empty")
    if comparison == PixelComparison.plain():
        return PreparedPair(original, normalized, False, 1.0, {})  # exactly the images as given
    a = np.asarray(original, dtype=np.float32)
    b = np.asarray(normalized, dtype=np.float32)
    luma_only = comparison.chroma_threshold > 0 and (
        min(mean_chroma(a, face_mask), mean_chroma(b, face_mask)) < comparison.chroma_threshold
    )
    if luma_only:
        a, b = (np.repeat(luma(image)[..., None], 3, axis=2) for image in (a, b))
    gain = 1.0
    if comparison.exposure_normalization:
        level = float(luma(a)[face_mask].mean()) * (219.0 / 255.0)  # Y − 16 on the studio-swing scale
        gain = comparison.reference_luma / max(level, 1.0)
        a, b = a * np.float32(gain), b * np.float32(gain)
    if comparison.smoothing_iod > 0:
        sigma = comparison.smoothing_iod * float(eye_distance_px)
        a, b = gaussian_smooth(a, sigma), gaussian_smooth(b, sigma)
    scale = dict(comparison.greyscale_scale) if luma_only else {}
    return PreparedPair(a, b, luma_only, gain, scale)


def prepared_color_space(pair: PreparedPair, color_space: str) -> tuple[np.ndarray, np.ndarray]:
    """Both prepared images in ``color_space`` (8-bit scale, float32). Values may exceed
    the nominal range after the exposure gain; the kinds do not clip."""
    return tuple(_to_space(image, color_space) for image in (pair.original, pair.normalized))


def _to_space(image: np.ndarray, color_space: str) -> np.ndarray:
    if image.dtype == np.uint8:
        return to_color_space(image, color_space)
    if color_space == "rgb":
        return np.ascontiguousarray(image, dtype=np.float32)
    # to_color_space expects [0, 1] floats or uint8; the gain may take values past 255.
    return to_color_space(image / np.float32(255.0), color_space)
