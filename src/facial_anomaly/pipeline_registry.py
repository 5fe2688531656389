"""Project pipelines: every ``pipelines/<stage>`` package is found automatically."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# The main job (``kedro run``): the stages that turn photos into measurements.
# Training and fitting pipelines are run by name, never by default.
DEFAULT_STAGES = ("score",)


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines: one per stage, plus ``__default__``."""
    pipelines = find_pipelines(raise_errors=True)
    # Kedro imports only the requested pipelines when one is named (`--pipeline x`);
    # the default is assembled when its stages are all loaded.
    if all(name in pipelines for name in DEFAULT_STAGES):
        pipelines["__default__"] = sum((pipelines[name] for name in DEFAULT_STAGES), Pipeline([]))
    return pipelines
