"""Typed settings of the scores stage (``params:scores``)."""

from __future__ import annotations

from pydantic import Field, field_validator

from ..config import Config
from .scores import parse_variant_name


class ScoresConfig(Config):
    """Which score becomes ``anomaly_score`` (``params:scores``)."""

    parameter = "scores"

    default_variant: str = "pse_ycbcr_eroded__mouth_nose"
    """The variant of the first normalizer behind ``anomaly_score`` (``<kind>_<processing>__<region>``)."""
    use_fusion: bool = True
    """Use a fitted fused score as ``anomaly_score``: ``fit_fusion``'s, else the one
    ``train_supervised`` refitted with its scorer."""
    use_supervised: bool = True
    """Score every face with the supervised scorer (column ``supervised.probability``) when
    ``train_supervised`` has saved one in ``models_dir``."""
    supervised_partner_shape: bool = True
    """When ``fit_normal_models`` saved a shape model: the scorer's mirror partner lies on each
    face's normal shape (the model's robust fit), not on the measured landmarks, which follow
    a droop and cancel it (docs/supervised.md). A fusion ``train_supervised`` fitted with the
    other choice is not applied."""
    model_columns: tuple[str, ...] = ("padim__lower_face__topk", "shape_residual__lips__mean")
    """Columns of the models ``fit_normal_models`` fits (``padim__<region>__<max|topk|mean>``,
    ``shape_residual__<mouth_nose|lips|face>__<mean|topk>``), computed when the model is in
    ``models_dir``."""
    device: str = "auto"
    """Where the scorer and PaDiM's backbone run: ``auto`` (cuda when present), ``cpu``, ``cuda``..."""

    @field_validator("model_columns")
    @classmethod
    def _model_columns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from ..heatmaps.regions import REGIONS
        from .columns import parse_column

        for column in value:
            source, _, details = parse_column(column)
            if source == "variant":
                raise ValueError(f"{column!r} is a heatmap variant, not a fitted model's column")
            if source == "padim" and details[0] not in REGIONS:
                raise ValueError(f"{column!r}: unknown region {details[0]!r}; valid: {list(REGIONS)}")
        return value

    @field_validator("default_variant")
    @classmethod
    def _canonical(cls, value: str) -> str:
        parse_variant_name(value)
        return value


class FitFusionConfig(Config):
    """How ``fit_fusion`` fits the fused default score (``params:fit_fusion``)."""

    parameter = "fit_fusion"

    columns: tuple[str, ...] = ()
    """Score columns of scores.csv to fuse (``<normalizer>.<variant>``); empty = every score
    column with a value for every labelled row."""
    label_column: str = "label"
    """Column of the labels table: 0 = normal (harmless variants included), 1 = anomalous."""
    severity_column: str = "severity"
    """Column of the labels table with each anomaly's severity (> 0): when the table has it,
    the graded (proportional-odds) fusion is fitted, whose weights also rank anomalies by
    severity; empty, or a table without it, fits the 0/1 label only."""
    C: float = Field(default=1.0, gt=0)
    """Inverse L2 strength of the logistic regression."""
    tail_max_of: tuple[str, ...] = ()
    """Fused columns whose largest robust z against the normal rows is one more feature (the
    tail maximum of :mod:`facial_anomaly.supervised.fusion`: keeps a column that alone sees
    one kind of anomaly); each must be among the fused columns."""
    min_per_class: int = Field(default=5, ge=2)
    """Fewer normal or anomalous labelled rows than this is an error (a fusion of too few is noise)."""
