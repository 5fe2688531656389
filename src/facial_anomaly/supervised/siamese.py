"""Two-branch (Siamese) comparison of a face with its normalized version (Rosero et al. 2024).

The original and the normalized face (same crop, same size) pass through one MobileNetV2
branch with shared weights (one batched pass of 2N images); the two embeddings e_o, e_n
are combined and a dense layer of ``hidden_units`` (paper: 256) feeds the anomaly and
severity outputs (:class:`~.base.ScoreHead`). ``combine`` (architecture key):

* ``concat``: [e_o, e_n], (N, 2E) — the paper's;
* ``concat_difference``: [e_o, e_n, |e_o − e_n|], (N, 3E) — the usual Siamese comparison
  feature: the nuisances that the original and its normalized version share (light,
  camera, pose) cancel in it, which a network trained from scratch on few faces does
  not find by itself from the concatenation (it tends to memorise the nuisances instead);
* ``concat_map_difference``: [e_o, e_n, pool(|F_o − F_n|)], (N, 3E) — the difference taken
  cell by cell on the two feature maps F before pooling: the two faces are aligned, so a
  local change (a drooping corner, a shifted lip) stays a strong cell of the difference
  map, where pooling first would average it away with the rest of the face.

Input: (N, 6, S, S) in [0, 1] — channels 0-2 the original, 3-5 the normalized face.
"""

from __future__ import annotations

import torch

from .base import ModelConfig, ScoreHead, SupervisedModel, register_architecture

COMBINES = {"concat": 2, "concat_difference": 3, "concat_map_difference": 3}  # → embedding multiples fed to the head


@register_architecture
class SiameseModel(SupervisedModel):
    architecture = "siamese"
    views = ("original", "normalized")
    extra_keys = ("combine",)

    def __init__(self, config: ModelConfig):
        if config.extra["combine"] not in COMBINES:
            raise ValueError(f"siamese combine must be one of {list(COMBINES)}, got {config.extra['combine']!r}")
        super().__init__(config)
        self.combine = config.extra["combine"]
        self.encoder = self.branch(in_channels=3)
        self.head = ScoreHead(COMBINES[self.combine] * self.encoder.embedding_size, config.hidden_units, config.dropout)

    def _combined(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        parts = [first, second] + ([torch.abs(first - second)] if self.combine == "concat_difference" else [])
        return torch.cat(parts, dim=1)

    def embed(self, x: torch.Tensor, tap: int | None):
        original, normalized = self.view_input(x[:, :3]), self.view_input(x[:, 3:6])
        if self.combine == "concat_map_difference":
            return self._map_difference(original, normalized, tap)
        if tap is None:
            return self._combined(*self.encoder(torch.cat([original, normalized])).chunk(2)), []
        # Grad-CAM: one pass per view, so each tapped map is its own node of the graph.
        (first, first_map), (second, second_map) = (
            self.encoder.forward_tapped(view, tap) for view in (original, normalized)
        )
        return self._combined(first, second), [(first_map, 0), (second_map, 1)]

    def _map_difference(self, original: torch.Tensor, normalized: torch.Tensor, tap: int | None):
        encoder = self.encoder
        if tap is None:
            first_final, second_final = encoder.feature_map(torch.cat([original, normalized])).chunk(2)
            maps = []
        else:  # Grad-CAM: one pass per view, so each tapped map is its own node of the graph
            first_map, second_map = (encoder.features[:tap](view) for view in (original, normalized))
            first_final, second_final = (encoder.features[tap:](tapped) for tapped in (first_map, second_map))
            maps = [(first_map, 0), (second_map, 1)]
        parts = [
            encoder.pool(first_final),
            encoder.pool(second_final),
            encoder.pool(torch.abs(first_final - second_final)),
        ]
        return torch.cat(parts, dim=1), maps
