"""Typed settings of the scores stage (``params:scores``)."""

from __future__ import annotations

from pydantic import field_validator

from ..config import Config
from .scores import parse_variant_name


class ScoresConfig(Config):
    """Which score becomes ``anomaly_score`` (``params:scores``)."""

    parameter = "scores"

    default_variant: str = "pse_ycbcr_eroded__mouth_nose"
    """The variant of the first normalizer behind ``anomaly_score`` (``<kind>_<processing>__<region>``)."""

    @field_validator("default_variant")
    @classmethod
    def _canonical(cls, value: str) -> str:
        parse_variant_name(value)
        return value
