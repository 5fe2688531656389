"""Fit the models of normal faces (shape and appearance) used by the model-based normalizers."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
