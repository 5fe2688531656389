"""Train the reconstruction normalizers (GANomaly, autoencoder) on normal faces."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
