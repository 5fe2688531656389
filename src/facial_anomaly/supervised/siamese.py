"""Two-branch (Siamese) comparison of a face with its normalized version (Rosero et al. 2024).

The original and the normalized face (same crop, same size) pass through one MobileNetV2
branch with shared weights (one batched pass of 2N images); the two embeddings are
concatenated, (N, 2E), and a dense layer of ``hidden_units`` (paper: 256) feeds the
anomaly and severity outputs (:class:`~.base.ScoreHead`).

Input: (N, 6, S, S) in [0, 1] — channels 0-2 the original, 3-5 the normalized face.
"""

from __future__ import annotations

import torch

from .backbone import standardize_rgb
from .base import ModelConfig, ScoreHead, SupervisedModel, register_architecture


@register_architecture
class SiameseModel(SupervisedModel):
    architecture = "siamese"
    views = ("original", "normalized")

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.encoder = self.branch(in_channels=3)
        self.head = ScoreHead(2 * self.encoder.embedding_size, config.hidden_units, config.dropout)

    def embed(self, x: torch.Tensor, tap: int | None):
        original, normalized = standardize_rgb(x[:, :3]), standardize_rgb(x[:, 3:6])
        if tap is None:
            embeddings = self.encoder(torch.cat([original, normalized]))
            return torch.cat(embeddings.chunk(2), dim=1), []
        # Grad-CAM: one pass per view, so each tapped map is its own node of the graph.
        (first, first_map), (second, second_map) = (self.encoder.forward_tapped(view, tap) for view in (original, normalized))
        return torch.cat([first, second], dim=1), [(first_map, 0), (second_map, 1)]
