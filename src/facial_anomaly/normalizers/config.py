"""Typed settings of the normalizers (``params:normalize``): defaults in code.

Pixel values refer to the default 512 px aligned crop (eye distance 140 px); scale the
``*_px`` entries with the alignment preset.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..config import Config

# Every normalizer the project knows, by name, whether or not its module is imported yet
# (the learned ones load torch): what `normalize.normalizer` accepts.
NORMALIZER_NAMES = (
    "symmetry",
    "mirror",
    "shape_model",
    "appearance_model",
    "inpaint",
    "stylegan2",
    "ganomaly",
    "autoencoder",
)
# Which fitted model of `fit_normal_models` (or trained checkpoint) each normalizer needs.
REQUIRED_MODELS = {
    "shape_model": ("shape_model",),
    "appearance_model": ("appearance_model",),
    "inpaint": ("appearance_model",),
    "ganomaly": ("ganomaly",),
    "autoencoder": ("autoencoder",),
}


class AnchoredWarpConfig(Config):
    """How a landmark displacement becomes an image warp that leaves the background still."""

    ring_scale: float = Field(default=1.35, gt=1.0)
    """Background anchors on the face outline scaled by this about its centre ..."""
    border_step_px: float = Field(default=64.0, gt=0)
    """... and every this many pixels along the image border; beyond them nothing moves."""


class SymmetryConfig(AnchoredWarpConfig):
    """Warp to the mirror-symmetric version of the face's own landmark configuration."""

    texture_blend: float = Field(default=0.0, ge=0.0, le=0.5)
    """Weight of the mirrored texture (0.5 = fully symmetric texture)."""
    blend_feather_px: float = Field(default=8.0, ge=0)
    """Softness of the edge of that blend."""


class RobustFitConfig(Config):
    """Robust (IRLS) fit of a statistical model, shared by the shape and appearance normalizers."""

    clamp_sigma: float = Field(default=3.0, gt=0)
    """Mode coefficients limited to ± this many standard deviations."""
    robust_iterations: int = Field(default=6, ge=1)
    robust_loss: Literal["tukey", "huber"] = "tukey"
    robust_tuning: float = Field(default=4.685, gt=0)
    """Tukey c for 95 % Gaussian efficiency (Huber: 1.345)."""


class ShapeModelConfig(RobustFitConfig, AnchoredWarpConfig):
    """Warp to the closest normal shape (Cootes et al. 1995 point distribution model)."""

    scale_floor_px: float = Field(default=1.0, gt=0)
    """Residual scale never below this, so FaceMesh jitter is not an outlier (pixels)."""
    observed_weight: float = Field(default=1.0, ge=0.0, le=1.0)
    """1 = keep well-explained landmarks as observed; 0 = pure model shape."""


class AppearanceModelConfig(RobustFitConfig):
    """Robust reconstruction of the shape-free texture (Cootes, Edwards & Taylor AAM)."""

    robust_iterations: int = Field(default=5, ge=1)
    scale_floor: float = Field(default=0.02, gt=0)
    """Residual scale floor, RGB distance in [0, 1] units (≈ 5 grey levels)."""
    feather_px: float = Field(default=6.0, ge=0)
    """The correction fades in over ~2× this inside the face outline."""
    inlier_correction: float = Field(default=0.0, ge=0.0, le=1.0)
    """Share of the correction applied where the model explains the pixel (outliers always get all)."""


class InpaintConfig(Config):
    """Hayajneh et al. 2025: mask the anomaly, then fill it."""

    reference: Literal["appearance_model", "symmetry", "shape_model"] = "appearance_model"
    """Normalizer giving the initial anomaly map."""
    fill: Literal["appearance", "telea", "ns"] = "appearance"
    """appearance (model reconstruction) | telea | ns (OpenCV baselines)."""
    fill_iterations: int = Field(default=2, ge=1)
    phases: int = Field(default=2, ge=1)
    """Mask-then-fill rounds; the second re-estimates the mask from the first fill."""
    residual_blur_px: float = Field(default=2.0, ge=0)
    threshold_sigma: float = Field(default=4.0, gt=0)
    """Anomalous: residual > median + this many σ_MAD over the face ..."""
    min_threshold: float = Field(default=0.08, ge=0)
    """... and > this (RGB distance in [0, 1] units, ≈ 20 grey levels)."""
    opening_px: float = Field(default=2.0, ge=0)
    dilation_px: float = Field(default=4.0, ge=0)
    face_margin_px: float = Field(default=3.0, ge=0)
    feather_px: float = Field(default=2.0, ge=0)
    inpaint_radius_px: float = Field(default=5.0, gt=0)


class PasteConfig(Config):
    """How a low-resolution reconstruction is pasted back into the aligned face."""

    feather: float = Field(default=0.08, ge=0, le=0.5)
    """Blend ramp inside the box edge, × box side."""
    detail_transfer: bool = True
    """Add back the face's detail finer than a model pixel."""


class ReconstructionNormalizerConfig(Config):
    """GANomaly / autoencoder as normalizers (trained by ``train_reconstruction``)."""

    batch_size: int = Field(default=32, ge=1)
    paste: PasteConfig = PasteConfig()
    device: str = "auto"


class StyleGAN2NormalizerConfig(Config):
    """StyleGAN2 inversion + adaptation (Hayajneh et al. 2022); presets in ``normalizers.stylegan2``."""

    preset: Literal["paper", "paper_severity", "cpu_quick", "smoke_test"] = "paper"
    checkpoint: str | None = None
    """Generator weights; None = the preset's path (data/06_models/stylegan2/...)."""


class NormalizeConfig(Config):
    """Which normalizers make the normalized faces, and their settings (``params:normalize``)."""

    parameter = "normalize"

    normalizer: str = "symmetry"
    """One name, or several joined by ``+`` (``symmetry+mirror``); the first gives ``anomaly_score``."""
    symmetry: SymmetryConfig = SymmetryConfig()
    shape_model: ShapeModelConfig = ShapeModelConfig()
    appearance_model: AppearanceModelConfig = AppearanceModelConfig()
    inpaint: InpaintConfig = InpaintConfig()
    reconstruction: ReconstructionNormalizerConfig = ReconstructionNormalizerConfig()
    stylegan2: StyleGAN2NormalizerConfig = StyleGAN2NormalizerConfig()
    sheet_faces: int = Field(default=4, ge=0)
    """Faces on each normalizer's comparison sheet (08_reporting/normalize_sheets)."""

    @field_validator("normalizer")
    @classmethod
    def _known_names(cls, value: str) -> str:
        names = [name.strip() for name in str(value).split("+") if name.strip()]
        if not names:
            raise ValueError(f"name at least one normalizer of {list(NORMALIZER_NAMES)}")
        unknown = [name for name in names if name not in NORMALIZER_NAMES]
        if unknown:
            raise ValueError(f"unknown normalizer {unknown[0]!r}; known: {', '.join(NORMALIZER_NAMES)}")
        if len(set(names)) != len(names):
            raise ValueError(f"a normalizer is named twice in {value!r}")
        return "+".join(names)

    @property
    def names(self) -> list[str]:
        """The normalizers of this run, in order (the first is the default for scoring)."""
        return self.normalizer.split("+")

    def required_models(self) -> list[str]:
        """The fitted models and checkpoints the chosen normalizers need, in order."""
        needed: list[str] = []
        for name in self.names:
            for model in REQUIRED_MODELS.get(name, ()):
                if model not in needed:
                    needed.append(model)
        return needed


def normalizer_settings(config: NormalizeConfig, name: str) -> dict:
    """Every setting that changes what normalizer ``name`` makes, as plain values (for keys)."""
    if name in ("ganomaly", "autoencoder"):
        return config.reconstruction.model_dump(mode="json", exclude={"device", "batch_size"})
    if name == "inpaint":
        settings = {"inpaint": config.inpaint.model_dump(mode="json")}
        for used in {config.inpaint.reference, "appearance_model"}:
            settings[used] = config[used].model_dump(mode="json")
        return settings
    block = config.get(name)
    return block.model_dump(mode="json") if block is not None else {}
