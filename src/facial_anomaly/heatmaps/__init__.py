"""Difference heatmaps between a face and its normalized version (Hayajneh et al. 2022 §1.3):
colour spaces, local contrast normalisation, PSE / SSIM / LPIPS / deep-feature maps, erosion,
face regions and overlays. No Kedro."""

from .color import COLOR_SPACES, as_unit_rgb, channel_ranges, rgb_to_ycbcr, to_color_space, ycbcr_to_rgb
from .contrast import LocalContrastConfig, local_contrast_normalize
from .deep import DeepHeatmapConfig, deep_distance_map
from .maps import (
    CHANNEL_REDUCTIONS,
    HEATMAP_KINDS,
    LANDMARK_KINDS,
    DeepFeaturesUnavailable,
    HeatmapKindUnavailable,
    LpipsUnavailable,
    channel_map,
    channel_map_converted,
    context_radius,
    ensure_kind_available,
    heatmap,
    load_lpips,
    lpips_backbone_file,
    lpips_map,
    pse_map,
    reduce_channels,
    ssim_map,
)
from .morphology import erode, erosion_reach
from .overlay import overlay_heatmap, overlay_on_original, warp_to_original
from .regions import REGIONS, face_without_eyes_mask, full_face_mask, mouth_nose_mask, region_mask

__all__ = [
    "CHANNEL_REDUCTIONS",
    "COLOR_SPACES",
    "DeepFeaturesUnavailable",
    "DeepHeatmapConfig",
    "HEATMAP_KINDS",
    "HeatmapKindUnavailable",
    "LANDMARK_KINDS",
    "LocalContrastConfig",
    "LpipsUnavailable",
    "REGIONS",
    "as_unit_rgb",
    "channel_map",
    "channel_map_converted",
    "channel_ranges",
    "context_radius",
    "deep_distance_map",
    "ensure_kind_available",
    "erode",
    "erosion_reach",
    "face_without_eyes_mask",
    "full_face_mask",
    "heatmap",
    "load_lpips",
    "local_contrast_normalize",
    "lpips_backbone_file",
    "lpips_map",
    "mouth_nose_mask",
    "overlay_heatmap",
    "overlay_on_original",
    "pse_map",
    "reduce_channels",
    "region_mask",
    "rgb_to_ycbcr",
    "ssim_map",
    "to_color_space",
    "ycbcr_to_rgb",
    "warp_to_original",
]
