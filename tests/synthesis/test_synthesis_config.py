"""The synthesize settings: packaged defaults, single values changed, errors named."""

from __future__ import annotations

import pytest

from facial_anomaly.synthesis.config import SynthesizeConfig, synthesis_parameters


def test_defaults_are_the_generators_full_block():
    params = SynthesizeConfig().parameters()
    assert params["split"] == {"fractions": {"train": 0.6, "dev": 0.2, "test": 0.2}}
    assert params["palsy"]["corner_drop_iod"] == [0.025, 0.05, 0.08, 0.11]
    assert params["lip_lt_v2"]["warp"] == params["lip_lt_v1"]["warp"]  # the YAML anchor survives
    assert {"lip_lt_v1", "lip_lt_v2", "palsy", "acne", "contact_sheet"} <= set(params)


def test_settings_change_single_values_and_keep_the_rest():
    params = SynthesizeConfig(settings={"palsy": {"free_radius_iod": 0.5}}).parameters()
    assert params["palsy"]["free_radius_iod"] == 0.5
    assert params["palsy"]["corner_drop_iod"] == [0.025, 0.05, 0.08, 0.11]
    assert synthesis_parameters()["palsy"]["free_radius_iod"] == 0.55  # the defaults are not modified


def test_wrong_settings_name_their_path():
    with pytest.raises(ValueError, match=r"synthesize\.palsy\.free_radius: unknown setting"):
        SynthesizeConfig(settings={"palsy": {"free_radius": 0.5}})
    with pytest.raises(ValueError, match="families: unknown"):
        SynthesizeConfig.model_validate({"families": ["palsy", "freckles"]})
    with pytest.raises(ValueError, match="add up to 1"):
        SynthesizeConfig.model_validate({"split": {"train": 0.9, "dev": 0.2}})
