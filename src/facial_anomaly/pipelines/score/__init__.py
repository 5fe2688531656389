"""The scoring contract: preprocess → normalize → heatmaps → scores in one run."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
