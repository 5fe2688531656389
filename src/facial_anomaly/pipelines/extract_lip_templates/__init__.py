"""Measure LT-v2 lip templates from cleft-lip photos the user names (kept as a small table)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
