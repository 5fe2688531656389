"""Inspect the StyleGAN2 normalizer: adaptation snapshots, steps-to-reconstruction, loss curves."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
