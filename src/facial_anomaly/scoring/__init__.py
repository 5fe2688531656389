"""Scores from difference heatmaps: the paper's normality index S, an anomaly score, the
grid of scoring variants (Hayajneh et al. 2022 Table 1) with mean / top-k summaries,
normal-variation maps that z-score heat per location, PaDiM and the shape-model landmark
residual. No Kedro."""

from .columns import parse_column, score_columns
from .normal_variation import NormalVariation, NormalVariationConfig, NormalVariationFitter, NormalVariationMaps
from .padim import PadimConfig, PadimScorer, grid_features, ledoit_wolf
from .scores import (
    DEFAULT_TOP_K_FRACTION,
    STATISTICS,
    SUMMARIES,
    Z_SUMMARIES,
    Variant,
    anomaly_score,
    normality_index,
    parse_variant_name,
    region_summary,
    score_variants,
    single_variant_grid,
    top_k_mean,
    variant_grid,
    variant_maps,
)
from .shape_residual import ShapeResidualConfig, landmark_residuals, shape_residual_score, shape_residual_scores

__all__ = [
    "DEFAULT_TOP_K_FRACTION",
    "NormalVariation",
    "NormalVariationConfig",
    "NormalVariationFitter",
    "NormalVariationMaps",
    "PadimConfig",
    "PadimScorer",
    "STATISTICS",
    "ShapeResidualConfig",
    "SUMMARIES",
    "Variant",
    "Z_SUMMARIES",
    "anomaly_score",
    "grid_features",
    "landmark_residuals",
    "ledoit_wolf",
    "normality_index",
    "parse_column",
    "parse_variant_name",
    "region_summary",
    "score_columns",
    "score_variants",
    "shape_residual_score",
    "shape_residual_scores",
    "single_variant_grid",
    "top_k_mean",
    "variant_grid",
    "variant_maps",
]
