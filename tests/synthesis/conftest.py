"""Fixtures for the synthesis tests: the project's synthesize parameters, the aligned
astronaut, and a cleft-like lip template made from the astronaut's own landmarks (no
real photo: its right cupid's-bow peak is raised and the free margin next to it notched)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from project_paths import CONF_BASE

from facial_anomaly.synthesis import LipTemplate
from facial_anomaly.synthesis.base import inter_ocular_distance
from facial_anomaly.synthesis.lip import TEMPLATE_LANDMARKS

TEMPLATE_PEAK_RAISE_IOD = 0.06
TEMPLATE_NOTCH_IOD = 0.03


@pytest.fixture(scope="session")
def synth_params() -> dict:
    from facial_anomaly.synthesis.config import SynthesizeConfig

    with open(CONF_BASE / "parameters_synthesize.yml", encoding="utf-8") as handle:
        return SynthesizeConfig.model_validate(yaml.safe_load(handle)["synthesize"]).parameters()


@pytest.fixture(scope="session")
def face(astronaut_aligned) -> tuple[np.ndarray, np.ndarray]:
    return astronaut_aligned["rgb"], astronaut_aligned["landmarks"]


@pytest.fixture(scope="session")
def template_edit() -> dict:
    """How :func:`astronaut_template` differs from the astronaut's lip (IOD)."""
    return {"peak_raise_iod": TEMPLATE_PEAK_RAISE_IOD, "notch_iod": TEMPLATE_NOTCH_IOD}


@pytest.fixture(scope="session")
def astronaut_template(face) -> LipTemplate:
    """The astronaut's upper lip with the image-right peak (267) raised and the free
    margin below it (312) notched up."""
    _, landmarks = face
    iod = inter_ocular_distance(landmarks)
    points = landmarks[list(TEMPLATE_LANDMARKS), :2].copy()
    points[TEMPLATE_LANDMARKS.index(267), 1] -= TEMPLATE_PEAK_RAISE_IOD * iod
    points[TEMPLATE_LANDMARKS.index(312), 1] -= TEMPLATE_NOTCH_IOD * iod
    return LipTemplate(name="astronaut-raised-right", points=points, cleft_side="right")


@pytest.fixture(scope="session")
def family_params(synth_params, astronaut_template) -> dict:
    """Each family's parameter block, ``lip_lt_v2`` with the astronaut template."""
    params = {family: dict(synth_params[family]) for family in ("lip_lt_v1", "lip_lt_v2", "palsy", "acne")}
    params["lip_lt_v2"]["templates"] = [astronaut_template]
    return params
