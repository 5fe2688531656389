"""Evaluate stage: a scores table + a labels table → metrics, comparison and plots."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
