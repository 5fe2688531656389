"""``fit_fusion``: the fused default ``anomaly_score`` fitted on a labelled scoring run."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
