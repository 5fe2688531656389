"""Normalize stage: aligned faces → the same faces with the anomaly removed."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
