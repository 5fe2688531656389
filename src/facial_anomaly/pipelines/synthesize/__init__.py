"""Synthesize stage: normal faces → graded, labelled synthetic anomalies (ground truth)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
