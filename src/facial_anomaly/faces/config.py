"""Typed settings of preprocessing (Hayajneh et al. 2022 §1.1): defaults in code.

``conf/base/parameters_preprocess.yml`` holds what users tune; everything else keeps the
defaults below. :class:`PreprocessConfig` reads like the dict the ``faces`` functions were
written against (``config["decode"]``, ``config["alignment"]``...), with the alignment
preset already resolved.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ..config import Config
from .landmarks import LandmarkConfig
from .pose import PoseConfig


class DecodeConfig(Config):
    """Guards applied while reading a photo."""

    max_pixels: int = Field(default=60_000_000, gt=0)
    """Decompression-bomb guard, checked from the header (≈ 7700 × 7700)."""
    min_side: int = Field(default=64, gt=0)
    """Images with a shorter side (pixels) are rejected as ``too_small``."""
    max_bytes: int = Field(default=200_000_000, gt=0)
    """Files larger than this (bytes) are refused before being read, as ``too_large``."""


class HaarConfig(Config):
    """OpenCV Haar cascade, the fallback detector."""

    cascade_file: str = "haarcascade_frontalface_default.xml"
    scale_factor: float = Field(default=1.1, gt=1.0)
    min_neighbors: int = Field(default=5, ge=0)
    min_size_px: int = Field(default=40, gt=0)


class DetectionConfig(Config):
    """Face detection: MediaPipe's short-range model, then full-range, then Haar."""

    mediapipe_model_selections: tuple[Literal[0, 1], ...] = (0, 1)
    min_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    haar_fallback: bool = True
    haar: HaarConfig = HaarConfig()


class AlignmentConfig(Config):
    """Where the eyes go in the aligned crop."""

    output_size: int = Field(default=512, ge=32)
    """Side of the square crop (pixels)."""
    eye_distance_px: float = Field(default=140.0, gt=0)
    """Distance between the eye centres after alignment (pixels)."""
    eye_center_y: float = Field(default=0.42, gt=0.0, lt=1.0)
    """Height of the eye midpoint as a fraction of the crop side."""


# The face/background rule of the paper is "face ≈ 60 % of the crop": a face is about 2.2
# eye distances wide, so 140 px eyes in a 512 px crop put the face at ~60 % of its width.
ALIGNMENT_PRESETS: dict[str, AlignmentConfig] = {
    "default": AlignmentConfig(),
    "paper_1024": AlignmentConfig(output_size=1024, eye_distance_px=280),  # the paper's literal size
    "small_256": AlignmentConfig(output_size=256, eye_distance_px=70),  # quick looks, CPU-only models
}


class BackgroundConfig(Config):
    """Mirrored padding and the foreground mask."""

    padding_blur_sigma: float = Field(default=12.0, ge=0)
    """Blur of the mirrored padding (crop pixels)."""
    padding_seam_sigma: float = Field(default=3.0, ge=0)
    """Softness of the photo/padding seam (crop pixels)."""
    segmentation_model: Literal[0, 1] = 0
    """MediaPipe selfie segmentation: 0 general, 1 landscape."""
    mask_feather_sigma: float = Field(default=4.0, ge=0)
    """Gaussian feather of the foreground mask (crop pixels)."""


class PreprocessConfig(Config):
    """Everything that decides an aligned face (``params:preprocess``)."""

    parameter = "preprocess"

    alignment_preset: Literal["default", "paper_1024", "small_256"] = "default"
    """Named crop geometry; ``alignment`` (when given) overrides it."""
    alignment: AlignmentConfig = AlignmentConfig()
    force: bool = False
    """Recompute images already preprocessed with these settings."""
    decode: DecodeConfig = DecodeConfig()
    detection: DetectionConfig = DetectionConfig()
    landmarks: LandmarkConfig = LandmarkConfig()
    min_eye_distance_px: float = Field(default=24.0, gt=0)
    """Faces whose eyes are closer than this in the photo (pixels) are ``too_small``."""
    background: BackgroundConfig = BackgroundConfig()
    pose: PoseConfig = PoseConfig()
    """Head-pose limits and the turning of photos taken sideways or upside down."""

    @model_validator(mode="before")
    @classmethod
    def _resolve_preset(cls, values: Any) -> Any:
        if isinstance(values, dict) and "alignment" not in values:
            preset = values.get("alignment_preset", "default")
            if preset in ALIGNMENT_PRESETS:
                values = {**values, "alignment": ALIGNMENT_PRESETS[preset]}
        return values

    def output_settings(self) -> dict[str, Any]:
        """The settings that change an aligned face (everything but ``force`` and the preset name)."""
        return self.model_dump(mode="json", exclude={"force", "alignment_preset"})


def config_fingerprint(config: Any) -> str:
    """Short hash of every setting that changes an aligned face: of a :class:`PreprocessConfig`
    or of a mapping of its blocks (e.g. one with a block replaced to relax the pose check)."""
    if not isinstance(config, PreprocessConfig):
        config = PreprocessConfig.model_validate(dict(config))
    return Config.fingerprint(config.model_copy(update={"force": False, "alignment_preset": "default"}))
