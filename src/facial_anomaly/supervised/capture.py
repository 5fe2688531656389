"""Harmless capture changes for the supervised scorer: light, contrast, colour, blur,
noise, compression, a small rotation and shift, and the mirror image. Applied alike to
clean and anomalous training samples, so none of them can tell the classes apart, and
used alone (one at a time, at full strength) for the nuisance false-positive check.

Magnitudes: ``rotation_deg`` ≤ 1.5° (a larger rotation moves the mouth corners as much as
a mild palsy droop, which would teach the network to ignore exactly that), shifts in
pixels of the image they are applied to (the 64 px-per-IOD canvas in training),
brightness as a fraction of the image mean, blur in pixels, noise in grey levels, JPEG
quality 0-100.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import Field

from ..config import Config

CHANGES = ("flip", "geometry", "light", "colour", "blur", "noise", "jpeg")


class CaptureConfig(Config):
    """Random harmless changes (see the module docstring); ``*_probability`` per change."""

    flip_probability: float = Field(0.5, ge=0, le=1, description="left-right mirror image")
    geometry_probability: float = Field(0.7, ge=0, le=1, description="rotation and shift")
    rotation_deg: float = Field(1.5, ge=0, le=10, description="largest rotation, degrees (±)")
    shift_px: float = Field(1.0, ge=0, description="largest shift per axis, pixels (±)")
    light_probability: float = Field(0.8, ge=0, le=1, description="brightness, contrast and gamma")
    brightness: float = Field(0.25, ge=0, lt=1, description="largest brightness change, fraction of the mean (±)")
    contrast: tuple[float, float] = Field((0.6, 1.5), description="contrast gain range about the mean")
    gamma: tuple[float, float] = Field((0.7, 1.4), description="gamma range")
    colour_probability: float = Field(0.5, ge=0, le=1, description="per-channel gains")
    colour_cast: float = Field(0.10, ge=0, lt=1, description="largest per-channel gain change (±)")
    blur_probability: float = Field(0.2, ge=0, le=1, description="Gaussian blur")
    blur_sigma_px: tuple[float, float] = Field((0.3, 1.0), description="blur sigma range, pixels")
    noise_probability: float = Field(0.3, ge=0, le=1, description="Gaussian noise")
    noise_sigma: tuple[float, float] = Field((1.0, 6.0), description="noise sigma range, grey levels")
    jpeg_probability: float = Field(0.5, ge=0, le=1, description="JPEG re-compression")
    jpeg_quality: tuple[int, int] = Field((25, 90), description="JPEG quality range (inclusive)")


@dataclass(frozen=True)
class CaptureDraw:
    """One draw of every change (applied or not), so two images can get the same changes."""

    flip: bool
    geometry: bool
    angle_deg: float
    shift: tuple[float, float]
    light: bool
    brightness: float
    contrast: float
    gamma: float
    colour: bool
    gains: tuple[float, float, float]
    blur: bool
    blur_sigma: float
    noise: bool
    noise_sigma: float
    noise_seed: int
    jpeg: bool
    quality: int

    def only(self, change: str) -> CaptureDraw:
        """This draw with every change but ``change`` switched off."""
        if change not in CHANGES:
            raise ValueError(f"unknown capture change {change!r}; available: {list(CHANGES)}")
        flags = {name: name == change for name in CHANGES}
        return CaptureDraw(**{**self.__dict__, **flags})

    def applied(self) -> tuple[str, ...]:
        return tuple(name for name in CHANGES if getattr(self, name))


def draw_capture(rng: np.random.Generator, config: CaptureConfig) -> CaptureDraw:
    """Draw every change (a fixed number of draws whatever is applied)."""
    u = rng.uniform(size=7)
    return CaptureDraw(
        flip=bool(u[0] < config.flip_probability),
        geometry=bool(u[1] < config.geometry_probability),
        angle_deg=float(rng.uniform(-1, 1) * config.rotation_deg),
        shift=tuple(float(v) for v in rng.uniform(-1, 1, size=2) * config.shift_px),
        light=bool(u[2] < config.light_probability),
        brightness=float(rng.uniform(-1, 1) * config.brightness),
        contrast=float(rng.uniform(*config.contrast)),
        gamma=float(np.exp(rng.uniform(*np.log(config.gamma)))),
        colour=bool(u[3] < config.colour_probability),
        gains=tuple(float(v) for v in 1.0 + rng.uniform(-1, 1, size=3) * config.colour_cast),
        blur=bool(u[4] < config.blur_probability),
        blur_sigma=float(rng.uniform(*config.blur_sigma_px)),
        noise=bool(u[5] < config.noise_probability),
        noise_sigma=float(rng.uniform(*config.noise_sigma)),
        noise_seed=int(rng.integers(2**31)),
        jpeg=bool(u[6] < config.jpeg_probability),
        quality=int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1)),
    )


def strongest(config: CaptureConfig, change: str, rng: np.random.Generator) -> CaptureDraw:
    """``change`` alone at the edge of its range (random sign or end), for the nuisance check."""
    sign = float(rng.choice([-1.0, 1.0]))
    draw = CaptureDraw(
        flip=True,
        geometry=True,
        angle_deg=sign * config.rotation_deg,
        shift=(sign * config.shift_px, -sign * config.shift_px),
        light=True,
        brightness=sign * config.brightness,
        contrast=config.contrast[0] if sign < 0 else config.contrast[1],
        gamma=config.gamma[0] if sign < 0 else config.gamma[1],
        colour=True,
        gains=tuple(float(1.0 + s * config.colour_cast) for s in rng.choice([-1.0, 1.0], size=3)),
        blur=True,
        blur_sigma=config.blur_sigma_px[1],
        noise=True,
        noise_sigma=config.noise_sigma[1],
        noise_seed=int(rng.integers(2**31)),
        jpeg=True,
        quality=config.jpeg_quality[0],
    )
    return draw.only(change)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def light_colour_table(draw: CaptureDraw, mean: float) -> np.ndarray:
    """(256, 3) uint8: the output level of each input level (rows) per RGB channel under the
    draw's light (contrast about ``mean``, the image's mean grey level, then brightness
    and gamma) and colour gains; the identity when neither is applied."""
    values = np.repeat(np.arange(256, dtype=np.float32)[:, None], 3, axis=1)
    if draw.light:
        values = (values - mean) * draw.contrast + mean * (1.0 + draw.brightness)
        values = 255.0 * np.power(np.clip(values, 0.0, 255.0) / 255.0, draw.gamma)
    if draw.colour:
        values = values * np.asarray(draw.gains, dtype=np.float32)
    return _to_uint8(values)


def apply_capture(image: np.ndarray, draw: CaptureDraw, *, flip_about: float | None = None) -> np.ndarray:
    """Apply a draw to an H×W×3 uint8 RGB image (geometry first, then light, colour, blur,
    noise, compression); returns uint8.

    Args:
        flip_about: the column the mirror image is taken about (default: the centre line
            (W − 1) / 2, where the canvas puts the facial midline).
    """
    height, width = image.shape[:2]
    out = image
    if draw.flip:
        if flip_about is None or abs(flip_about - (width - 1) / 2.0) < 1e-6:
            out = cv2.flip(out, 1)  # the same as out[:, ::-1], copied ~20x faster
        else:
            matrix = np.array([[-1.0, 0.0, 2.0 * flip_about], [0.0, 1.0, 0.0]])
            out = cv2.warpAffine(out, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if draw.geometry:
        matrix = geometry_matrix(draw, (height, width))
        out = cv2.warpAffine(out, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if draw.light or draw.colour:
        # light and colour map each grey level of a channel to one output level once the
        # image mean is known: a 256-entry table per channel instead of arithmetic per pixel
        mean = float(np.mean(cv2.mean(out)[:3]))  # the mean grey level over every channel
        out = cv2.LUT(out, light_colour_table(draw, mean).reshape(256, 1, 3))
    if draw.blur:
        out = cv2.GaussianBlur(out, (0, 0), draw.blur_sigma)
    if draw.noise:
        noise = np.random.default_rng(draw.noise_seed).standard_normal(out.shape, dtype=np.float32)
        noise *= np.float32(draw.noise_sigma)
        noise += out
        out = _to_uint8(noise)
    if draw.jpeg:
        ok, encoded = cv2.imencode(
            ".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, draw.quality]
        )
        if not ok:
            raise RuntimeError("OpenCV could not encode a JPEG")
        out = cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(out)


def apply_to_mask(mask: np.ndarray, draw: CaptureDraw) -> np.ndarray:
    """The geometric part of a draw (flip, rotation, shift) applied to an H×W float mask."""
    height, width = mask.shape[:2]
    out = mask.astype(np.float32)
    if draw.flip:
        out = cv2.flip(out, 1)
    if draw.geometry:
        matrix = geometry_matrix(draw, (height, width))
        out = cv2.warpAffine(out, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return out


def geometry_matrix(draw: CaptureDraw, shape: tuple[int, int]) -> np.ndarray:
    """(2, 3) affine of the draw's rotation (about the image centre) and shift, for an
    image of ``shape`` (H, W)."""
    height, width = shape[:2]
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2.0, (height - 1) / 2.0), draw.angle_deg, 1.0)
    matrix[:, 2] += draw.shift
    return matrix


def apply_to_points(points: np.ndarray, draw: CaptureDraw, shape: tuple[int, int]) -> np.ndarray:
    """The geometric part of a draw (flip, rotation, shift) applied to (N, 2|3) pixel
    coordinates of an image of ``shape`` (H, W): where the points are in the changed image,
    rows unchanged (a flip does not relabel left and right)."""
    height, width = shape[:2]
    out = np.asarray(points, dtype=np.float64).copy()
    if draw.flip:
        out[:, 0] = width - 1 - out[:, 0]
    if draw.geometry:
        matrix = geometry_matrix(draw, (height, width))
        out[:, :2] = out[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    return out


def changes_for_check(config: CaptureConfig) -> Sequence[str]:
    """The changes of the nuisance check: every change but the mirror image (a mirrored
    normal face is a normal face; a one-sided scorer may legitimately score it alike)."""
    return tuple(name for name in CHANGES if name != "flip")
