"""Report stage: readable heatmap panels, heat on the original photos, and report.html."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
