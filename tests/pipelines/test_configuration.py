"""The configuration a newcomer sees: short parameter files, environments that change only
what differs, nodes that take only what they use."""

from __future__ import annotations

import pytest
import yaml
from kedro_helpers import project_config
from project_paths import PROJECT_ROOT


def _typed(env: str | None) -> dict:
    from kedro.framework.project import configure_project
    from kedro.validation.parameter_validator import ParameterValidator

    from facial_anomaly.pipeline_registry import register_pipelines

    configure_project("facial_anomaly")
    return ParameterValidator(dict(register_pipelines())).validate_raw_params(project_config({}, env=env)["parameters"])


def _depth(value) -> int:
    return 1 + max((_depth(item) for item in value.values()), default=0) if isinstance(value, dict) else 0


def test_base_parameters_are_short_and_shallow():
    files = sorted((PROJECT_ROOT / "conf/base").glob("parameters*.yml"))
    assert sum(len(path.read_text().splitlines()) for path in files) <= 300
    for path in files:
        assert _depth(yaml.safe_load(path.read_text()) or {}) <= 3, path.name


@pytest.mark.parametrize(
    "env, expected",
    [
        (None, {"train_supervised": "cpu", "train_reconstruction": "cpu_64", "stylegan2": "paper"}),
        (
            "smoke_test",
            {"train_supervised": "smoke_test", "train_reconstruction": "smoke_test", "stylegan2": "smoke_test"},
        ),
        ("gpu", {"train_supervised": "gpu", "train_reconstruction": "gpu_128", "stylegan2": "paper"}),
    ],
)
def test_environments_override_single_values(env, expected):
    typed = _typed(env)
    assert typed["train_supervised"].preset == expected["train_supervised"]
    assert typed["train_reconstruction"].preset == expected["train_reconstruction"]
    assert typed["normalize"].stylegan2.preset == expected["stylegan2"]
    # What the environment does not name keeps the base value (a soft merge, not a new block).
    assert typed["train_supervised"].split.train == 0.6 and typed["normalize"].normalizer == "mirror"


def test_paper_environment_is_the_published_setting():
    typed = _typed("paper")
    assert typed["preprocess"].alignment.output_size == 1024 and typed["normalize"].normalizer == "stylegan2"


def test_no_node_takes_more_than_six_inputs():
    from kedro.framework.project import configure_project

    from facial_anomaly.pipeline_registry import register_pipelines

    configure_project("facial_anomaly")
    wide = {
        node.name: len(node.inputs)
        for pipeline in register_pipelines().values()
        for node in pipeline.nodes
        if len(node.inputs) > 6
    }
    assert wide == {}


def test_readme_is_short():
    assert len((PROJECT_ROOT / "README.md").read_text().splitlines()) <= 200
