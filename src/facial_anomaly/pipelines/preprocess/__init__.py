"""Preprocess stage: raw photos → aligned faces (Hayajneh et al. 2022 §1.1)."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
