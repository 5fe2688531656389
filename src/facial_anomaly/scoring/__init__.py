"""Scores from difference heatmaps: the paper's normality index S, an anomaly score and the
grid of scoring variants (Hayajneh et al. 2022 Table 1). No Kedro."""

from .scores import (
    STATISTICS,
    Variant,
    anomaly_score,
    normality_index,
    parse_variant_name,
    score_variants,
    single_variant_grid,
    variant_grid,
)

__all__ = [
    "STATISTICS",
    "Variant",
    "anomaly_score",
    "normality_index",
    "parse_variant_name",
    "score_variants",
    "single_variant_grid",
    "variant_grid",
]
