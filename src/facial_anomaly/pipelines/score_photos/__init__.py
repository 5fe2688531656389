"""The scoring contract (the default pipeline): preprocess → normalize → heatmaps → scores → report."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
