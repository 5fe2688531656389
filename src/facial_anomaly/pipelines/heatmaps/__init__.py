"""Heatmaps stage: (aligned, normalized) pairs → difference maps, region masks, overlays."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
