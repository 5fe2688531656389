"""Unsupervised scores of training pairs, so that a fusion can be fitted on the dev split.

The scoring contract's table has one column ``<normalizer>.<variant>`` per unsupervised
scoring variant (:mod:`facial_anomaly.scoring`). A fusion that combines the supervised
probability with some of those columns (:mod:`.fusion`) must be fitted on the same
numbers, measured on the dev pairs at full resolution — before :class:`~.data.PairSet`
keeps only the small model views. :class:`UnsupervisedPairScores` is the
``extra_columns`` callable of :func:`~.data.build_pair_set` that does this; it is a plain
dataclass of parameters, so it can be sent to worker processes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..scoring import score_variants, single_variant_grid
from .data import Pair

SUPERVISED_PREFIX = "supervised"


def unsupervised_column(normalizer: str, variant: str) -> str:
    """The scores-table column of an unsupervised variant: ``<normalizer>.<variant>``."""
    return f"{normalizer}.{variant}"


def supervised_columns(model: str) -> tuple[str, str]:
    """The scores-table columns of a supervised model: ``supervised.<model>.probability``
    (∈ [0, 1]) and ``supervised.<model>.severity`` (expected grade ∈ [0, 4])."""
    return f"{SUPERVISED_PREFIX}.{model}.probability", f"{SUPERVISED_PREFIX}.{model}.severity"


@dataclass(frozen=True)
class UnsupervisedPairScores:
    """Per pair: the unsupervised ``variants`` (canonical names such as
    ``pse_ycbcr_eroded__mouth_nose``) of (original, normalized), as the columns
    ``<normalizer>.<variant>`` — exactly what the scores pipeline computes for a photo.

    ``statistic`` and ``options`` are the scores pipeline's settings (``scores.statistic``;
    ``erosion_size``, ``erosion_iterations``, ``channel_reduction``, ``kind_options`` from
    ``heatmaps``; ``region_params`` = ``scores.regions``).
    """

    normalizer: str
    variants: tuple[str, ...]
    statistic: str
    options: Mapping = field(default_factory=dict)

    def __post_init__(self):
        for name in self.variants:
            single_variant_grid(name)  # raises on a name that is not a canonical variant

    @property
    def columns(self) -> list[str]:
        return [unsupervised_column(self.normalizer, name) for name in self.variants]

    def __call__(self, pair: Pair) -> dict[str, float]:
        values = {}
        for name in self.variants:
            (value,) = score_variants(
                pair.original,
                pair.normalized,
                pair.landmarks[:, :2],
                grid=single_variant_grid(name),
                statistic=self.statistic,
                **self.options,
            ).values()
            values[unsupervised_column(self.normalizer, name)] = float(value)
        return values


def scoring_options(heatmaps: Mapping, scores: Mapping) -> dict:
    """The keyword options of :func:`~facial_anomaly.scoring.score_variants` from the
    ``heatmaps`` and ``scores`` parameter blocks (as the scores pipeline uses them)."""
    return {
        "erosion_size": heatmaps["erosion_size"],
        "erosion_iterations": heatmaps["erosion_iterations"],
        "channel_reduction": heatmaps["channel_reduction"],
        "kind_options": heatmaps["kind_options"],
        "region_params": scores["regions"],
    }


def fusion_features(models: Sequence[str], normalizer: str, variants: Sequence[str]) -> list[str]:
    """The columns a fusion combines: each model's probability, then the unsupervised variants."""
    return [supervised_columns(model)[0] for model in models] + [
        unsupervised_column(normalizer, name) for name in variants
    ]
