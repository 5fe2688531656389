"""Typed settings of the heatmaps stage (``params:heatmaps``): which maps are computed, how
they are summarised in face regions (the variant grid of Hayajneh et al. 2022, Table 1),
and which map is saved per image. Defaults in code."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from ..config import Config
from .color import COLOR_SPACES
from .maps import CHANNEL_REDUCTIONS, HEATMAP_KINDS
from .regions import REGIONS


class SsimOptions(Config):
    win_size: int = Field(default=7, ge=3)
    """Side of the uniform SSIM window in pixels (odd; scikit-image's default)."""


class LpipsOptions(Config):
    net: Literal["alex", "vgg", "squeeze"] = "alex"
    """LPIPS trunk; its ImageNet weights must already be in $TORCH_HOME/hub/checkpoints (never downloaded)."""
    device: str = "auto"
    pretrained_backbone: bool = True


class KindOptions(Config):
    """Per-kind settings; ``pse`` has none."""

    ssim: SsimOptions = SsimOptions()
    lpips: LpipsOptions = LpipsOptions()


class MouthNoseRegion(Config):
    margin_iod: float = Field(default=0.15, ge=0)
    """Hull of nose + lips grown by this many eye distances (upper lip to chin top)."""


class FaceWithoutEyesRegion(Config):
    eye_margin_iod: float = Field(default=0.15, ge=0)
    """Each eye + eyebrow hull grown by this many eye distances is left out."""


class FullFaceRegion(Config):
    """The hull of the face oval; no parameters."""


class LowerFaceRegion(Config):
    below_eyes_iod: float = Field(default=0.3, ge=0)
    """The face oval below a line this many eye distances under the eye line (cheeks, nose, mouth, chin)."""


class RegionsConfig(Config):
    """Face regions, in eye distances (eye-corner midpoints)."""

    mouth_nose: MouthNoseRegion = MouthNoseRegion()
    face_without_eyes: FaceWithoutEyesRegion = FaceWithoutEyesRegion()
    full_face: FullFaceRegion = FullFaceRegion()
    lower_face: LowerFaceRegion = LowerFaceRegion()


class GridConfig(Config):
    """The variant grid: every kind × local contrast normalisation × colour space × erosion ×
    region × summary is one score column."""

    kinds: tuple[str, ...] = ("pse", "ssim", "lpips")
    color_spaces: tuple[str, ...] = ("rgb", "ycbcr")
    erosion: tuple[bool, ...] = (False, True)
    regions: tuple[str, ...] = ("mouth_nose", "face_without_eyes")
    lcn: tuple[bool, ...] = (False,)
    """With (true) and/or without (false) local contrast normalisation (pixel kinds only)."""
    summaries: tuple[Literal["mean", "topk"], ...] = ("mean",)
    """mean of the region's heat | topk: mean of its top 1 %."""
    variants: tuple[str, ...] = ()
    """Further variants by name beyond the product (``<kind>_<processing>__<region>[__<summary>]``,
    in one of ``regions``): e.g. the deep kind on plain RGB beside pixel kinds in YCbCr."""

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, value):
        return _members(value, HEATMAP_KINDS, "heatmap kind")

    @field_validator("color_spaces")
    @classmethod
    def _spaces(cls, value):
        return _members(value, COLOR_SPACES, "colour space")

    @field_validator("regions")
    @classmethod
    def _regions(cls, value):
        return _members(value, REGIONS, "region")

    @field_validator("variants")
    @classmethod
    def _named_variants(cls, value, info: ValidationInfo):
        from ..scoring.scores import parse_variant_name

        regions = info.data.get("regions", ())
        for name in value:
            variant = parse_variant_name(name)
            if variant.summary.startswith("z"):
                raise ValueError(f"{name!r}: z-scored summaries follow normal_variation, name the plain one")
            if variant.region not in regions:
                raise ValueError(f"{name!r} is in region {variant.region!r}, not among regions {list(regions)}")
        return tuple(value)


def _members(values, valid, what: str):
    unknown = [value for value in values if value not in valid]
    if unknown:
        raise ValueError(f"unknown {what} {unknown[0]!r}; valid: {list(valid)}")
    if not values:
        raise ValueError(f"name at least one {what}")
    return tuple(values)


class HeatmapsConfig(Config):
    """Maps, their region summaries and the saved map (``params:heatmaps``)."""

    parameter = "heatmaps"

    kind: str = "pse"
    """The map saved per image (and drawn): pse (eq. 4) | ssim ((1 − SSIM)/2) | lpips."""
    color_space: str = "ycbcr"
    """rgb | ycbcr (ITU-R BT.601, eq. 3); both on the 8-bit scale."""
    erosion_size: int = Field(default=3, ge=1)
    """Side of the square grey-level erosion kernel (eq. 5; paper: 3×3)."""
    erosion_iterations: int = Field(default=1, ge=0)
    """Paper: 1; 0 disables erosion."""
    channel_reduction: Literal["sum", "mean"] = "sum"
    """sum (PSE → squared colour distance) | mean."""
    statistic: Literal["anomaly_score", "normality_index"] = "anomaly_score"
    """anomaly_score = mean heat in the region (higher = more anomalous); normality_index = the
    paper's S = −log(‖PSE‖_F / N) (higher = more normal)."""
    kind_options: KindOptions = KindOptions()
    regions: RegionsConfig = RegionsConfig()
    grid: GridConfig = GridConfig()
    normal_variation: bool = True
    """When ``fit_normal_models`` has fitted normal-variation maps for a normalizer, add the
    z-scored summary (``zmean``, ``ztopk``) of every summary of the grid for it."""

    @field_validator("kind")
    @classmethod
    def _kind(cls, value):
        return _members((value,), HEATMAP_KINDS, "heatmap kind")[0]

    @field_validator("color_space")
    @classmethod
    def _space(cls, value):
        return _members((value,), COLOR_SPACES, "colour space")[0]

    @field_validator("channel_reduction")
    @classmethod
    def _reduction(cls, value):
        return _members((value,), CHANNEL_REDUCTIONS, "channel reduction")[0]

    def map_settings(self) -> dict:
        """Keyword arguments of :func:`~facial_anomaly.heatmaps.heatmap` for the saved map."""
        return {
            "kind": self.kind,
            "color_space": self.color_space,
            "erosion_size": self.erosion_size,
            "erosion_iterations": self.erosion_iterations,
            "channel_reduction": self.channel_reduction,
            "kind_options": self.kind_options.model_dump(),
        }

    def scoring_options(self) -> dict:
        """Keyword arguments of :func:`~facial_anomaly.scoring.score_variants` besides the grid."""
        return {
            "erosion_size": self.erosion_size,
            "erosion_iterations": self.erosion_iterations,
            "channel_reduction": self.channel_reduction,
            "kind_options": self.kind_options.model_dump(),
            "region_params": self.regions.model_dump(),
        }
