"""Typed settings of the synthesize stage (``params:synthesize``).

The generators' many magnitudes live with the code, in ``synthesis/defaults.yml`` (every
value commented, with its unit); ``conf/base/parameters_synthesize.yml`` holds what users
tune, and any value of the defaults can be changed the same way (a nested mapping laid over
them: ``{"palsy": {"free_radius_iod": 0.5}}``). Unknown keys are errors naming their path.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, model_validator

from ..config import Config

DEFAULTS_FILE = Path(__file__).with_name("defaults.yml")
# Blocks whose value is replaced as a whole (lists or free-form tables), not merged key by key.
_REPLACED = {"families", "severities", "fractions", "region_weights", "keep_out_margin_iod", "crops"}


@functools.cache
def _defaults() -> dict[str, Any]:
    return yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))["synthesize"]


def _laid_over(base: Mapping, overrides: Mapping, where: str) -> dict:
    out = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if key not in out:
            raise ValueError(f"{where}{key}: unknown setting; known: {sorted(out)}")
        if isinstance(out[key], dict) and isinstance(value, Mapping) and key not in _REPLACED:
            out[key] = _laid_over(out[key], value, f"{where}{key}.")
        else:
            out[key] = copy.deepcopy(value)
    return out


def synthesis_parameters(overrides: Mapping | None = None) -> dict[str, Any]:
    """The full ``synthesize`` block the generators read (``synthesize.<family>`` …): the
    packaged defaults with ``overrides`` laid over them.

    Raises:
        ValueError: an unknown key, named with its path.
    """
    return _laid_over(_defaults(), dict(overrides or {}), "synthesize.")


class SynthesizeConfig(Config):
    """``params:synthesize``: the run's seed, families, severities and split, plus any other
    value of the defaults to change (``settings``: family block → values)."""

    parameter = "synthesize"

    seed: int = 20240605
    """One seed for the whole run (split and every generator)."""
    families: tuple[str, ...] = ("lip_lt_v1", "lip_lt_v2", "palsy", "acne")
    severities: tuple[int, ...] = (0, 1, 2, 3, 4)
    severities_per_face: int = Field(1, ge=1)
    """Per face and family, this many severities drawn from 1..4 (balanced over faces)."""
    split: dict[str, float] = Field(default_factory=lambda: {"train": 0.6, "dev": 0.2, "test": 0.2})
    """Shares of persons per split (no person in two splits)."""
    child_max_age: int = 17
    settings: dict[str, Any] = Field(default_factory=dict)
    """Values of the generators' defaults to change, e.g. ``{"palsy": {"free_radius_iod": 0.5}}``."""

    @model_validator(mode="after")
    def _valid(self) -> SynthesizeConfig:
        from .registry import families as available_families

        unknown = sorted(set(self.families) - set(available_families()))
        if unknown:
            raise ValueError(f"families: unknown {unknown}; available: {sorted(available_families())}")
        if abs(sum(self.split.values()) - 1.0) > 1e-6:
            raise ValueError(f"split: fractions must add up to 1, got {sum(self.split.values()):g}")
        self.parameters()  # unknown settings fail before any work
        return self

    def parameters(self) -> dict[str, Any]:
        """The full block the library reads (the former ``parameters_synthesize.yml`` shape)."""
        top = {
            "seed": self.seed,
            "families": list(self.families),
            "severities": list(self.severities),
            "severities_per_face": self.severities_per_face,
            "split": {"fractions": dict(self.split)},
            "child_max_age": self.child_max_age,
        }
        return synthesis_parameters({**top, **self.settings})
