"""Self-comparison: the face against its own mirror image about the facial midline.

The mirror view reflects the original about the line fitted through its FaceMesh midline
landmarks (:func:`~.views.mirror_face`), so every point of one side lies over its
counterpart on the other: a one-sided anomaly (cleft, palsy droop, a scar on one cheek)
shows up as a difference, a symmetric face as none — no normalizer needed.

``input`` (architecture key) chooses the channels of the one MobileNetV2 branch:

* ``stack``: face and mirror, (N, 6, S, S);
* ``difference``: face and face − mirror, (N, 6, S, S) (the asymmetry made explicit; with
  ``local_contrast`` both are normalised first and the difference is of the normalised views).

Input of ``forward``: (N, 6, S, S) in [0, 1], channels 0-2 the face, 3-5 the mirror.
"""

from __future__ import annotations

import torch

from .backbone import scale_rgb_difference, standardize_rgb
from .base import ModelConfig, ScoreHead, SupervisedModel, register_architecture

INPUTS = ("stack", "difference")


@register_architecture
class SelfComparisonModel(SupervisedModel):
    architecture = "self_comparison"
    views = ("original", "mirrored")
    extra_keys = ("input",)

    def __init__(self, config: ModelConfig):
        if config.extra["input"] not in INPUTS:
            raise ValueError(f"self_comparison input must be one of {INPUTS}, got {config.extra['input']!r}")
        super().__init__(config)
        self.input = config.extra["input"]
        self.encoder = self.branch(in_channels=6)
        self.head = ScoreHead(self.encoder.embedding_size, config.hidden_units, config.dropout)

    def embed(self, x: torch.Tensor, tap: int | None):
        face, mirror = x[:, :3], x[:, 3:6]
        if self.config.local_contrast is None:
            first = standardize_rgb(face)
            second = standardize_rgb(mirror) if self.input == "stack" else scale_rgb_difference(face - mirror)
        else:  # both views normalised alike, so their difference compares like with like
            first, mirrored = self.view_input(face), self.view_input(mirror)
            second = mirrored if self.input == "stack" else first - mirrored
        embedding, tapped = self.encoder.forward_tapped(torch.cat([first, second], dim=1), tap)
        return embedding, [] if tapped is None else [(tapped, 0)]
