"""Train the supervised comparison scorers (Siamese, single-branch, ...) and their fusion."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
