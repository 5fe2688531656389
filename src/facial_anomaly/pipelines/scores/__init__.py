"""Scores stage: (aligned, normalized) pairs → one row of scores per input file."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
