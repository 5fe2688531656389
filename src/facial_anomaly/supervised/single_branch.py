"""One MobileNetV2 branch on the original face only: the single-branch baseline of
Rosero et al. 2024 (no normalized face).

Input: (N, 3, S, S) in [0, 1], the original face; the embedding (N, E) feeds the dense
layer and the outputs (:class:`~.base.ScoreHead`).
"""

from __future__ import annotations

import torch

from .base import ModelConfig, ScoreHead, SupervisedModel, register_architecture


@register_architecture
class SingleBranchModel(SupervisedModel):
    architecture = "single_branch"
    views = ("original",)

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.encoder = self.branch(in_channels=3)
        self.head = ScoreHead(self.encoder.embedding_size, config.hidden_units, config.dropout)

    def embed(self, x: torch.Tensor, tap: int | None):
        embedding, tapped = self.encoder.forward_tapped(self.view_input(x[:, :3]), tap)
        return embedding, [] if tapped is None else [(tapped, 0)]
