"""Local contrast normalisation (LCN) of images before a pixel comparison (``pse``, ``ssim``).

Each channel of an image in a colour space from :mod:`.color` has its local mean removed
and is divided by its local RMS contrast, both measured with a Gaussian window of σ
given in eye distances (so the same setting fits any crop size)::

    μ = G_σ * x,    r = sqrt(G_σ * (x − μ)² + floor²),    lcn(x) = (x − μ) / r

as in the contrast normalisation of Jarrett, Kavukcuoglu, Ranzato & LeCun (2009, "What
is the best multi-stage architecture for object recognition?", ICCV) and Pinto, Cox &
DiCarlo (2008). ``floor`` (8-bit grey levels) keeps flat areas (and the constant chroma
of a greyscale photo) from being amplified into noise. The result is put back on the
colour space's 8-bit scale — mid-range plus one local RMS per eighth of the channel's
nominal range — so ``pse`` and ``ssim`` (with their constants) apply unchanged.

What it removes: smooth shading and lighting gradients (a face lit from one side looks
very different from its mirror image; LCN makes the ``mirror`` normalizer compare
structure, not light), global gain (±20 % brightness gives the same map) and global
contrast. What it keeps: edges, texture and marks smaller than the window.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from ..config import Config
from .color import channel_ranges

# One local RMS maps to this fraction of a channel's nominal range.
_RMS_PER_RANGE = 1.0 / 8.0


class LocalContrastConfig(Config):
    """Settings of local contrast normalisation (variants named ``…_lcn…``)."""

    sigma_iod: float = Field(
        0.25, gt=0.0, description="Gaussian σ of the local mean and RMS, in eye distances (0.25 = 35 px at 512 px)"
    )
    rms_floor: float = Field(
        4.0, ge=0.0, description="added in quadrature to the local RMS, 8-bit grey levels; keeps flat areas flat"
    )


def local_contrast_normalize(image: np.ndarray, *, color_space: str, sigma_px: float, rms_floor: float) -> np.ndarray:
    """Locally contrast-normalised copy of an image already in ``color_space``.

    Args:
        image: H×W×C float32 on the 8-bit scale of ``color_space`` (from ``to_color_space``).
        color_space: the space the image is in (its nominal channel ranges set the output scale).
        sigma_px: Gaussian σ of the local window in pixels (> 0).
        rms_floor: grey levels added in quadrature to the local RMS (≥ 0).

    Returns:
        H×W×C float32: mid-range + (x − local mean) / local RMS × range / 8 per channel.
        A constant channel becomes its mid-range value (to float rounding).

    Raises:
        ValueError: a non-positive σ, a negative floor, or a floor of 0 with a flat channel
            (division by zero).
    """
    if not np.isfinite(sigma_px) or sigma_px <= 0:
        raise ValueError(f"sigma_px must be > 0, got {sigma_px!r}")
    if not np.isfinite(rms_floor) or rms_floor < 0:
        raise ValueError(f"rms_floor must be ≥ 0, got {rms_floor!r}")
    values = np.ascontiguousarray(image, dtype=np.float32)
    mean = cv2.GaussianBlur(values, (0, 0), sigmaX=float(sigma_px), borderType=cv2.BORDER_REFLECT)
    centred = values - mean
    power = cv2.GaussianBlur(centred * centred, (0, 0), sigmaX=float(sigma_px), borderType=cv2.BORDER_REFLECT)
    rms = np.sqrt(np.maximum(power, 0.0) + np.float32(rms_floor) ** 2)
    if rms_floor == 0 and (rms == 0).any():
        raise ValueError("a flat image region with rms_floor 0: local contrast normalisation divides by zero")
    low, high = channel_ranges(color_space)
    channels = values.shape[2] if values.ndim == 3 else 1
    low, high = low[:channels], high[:channels]
    return ((low + high) / 2.0 + centred / rms * ((high - low) * _RMS_PER_RANGE)).astype(np.float32)


def lcn_sigma_px(config: LocalContrastConfig, eye_distance_px: float) -> float:
    """The LCN window σ in pixels for a face whose eyes are ``eye_distance_px`` apart."""
    if not np.isfinite(eye_distance_px) or eye_distance_px <= 0:
        raise ValueError(f"eye distance must be > 0 px, got {eye_distance_px!r}")
    return config.sigma_iod * float(eye_distance_px)
