"""Typed settings of the evaluation (``params:evaluate``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..config import Config


class EvaluateConfig(Config):
    """How a scores table is evaluated against a labels table (``params:evaluate``)."""

    parameter = "evaluate"

    label_column: str = "label"
    """1/true = anomalous, 0/false = normal control. Without it, label = severity > 0."""
    severity_column: str = "severity"
    """A rating or grade for Pearson/Spearman; used when the labels table has it."""
    subset_column: str = "subset"
    """Per-subset breakdown (dataset, anomaly family...); used when the labels table has it."""
    subset_controls: Literal["all_normals", "within"] = "all_normals"
    """all_normals: each subset's anomalous images against every normal control; within: each subset alone."""
    specificity: float = Field(default=0.95, gt=0, lt=1)
    """The threshold keeps this fraction of normal controls below it."""
    n_boot: int = Field(default=1000, ge=0)
    """Bootstrap resamples for the correlation confidence intervals."""
    ci_level: float = Field(default=0.95, gt=0, lt=1)
    seed: int = 0
    """Bootstrap seed (results are reproducible)."""
    report_decimals: int = Field(default=3, ge=0)
    histogram_bins: int = Field(default=30, ge=2)
