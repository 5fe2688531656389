"""Project pipelines: every ``pipelines/<stage>`` package is found automatically."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# The main job (``kedro run``): the stages that turn a folder of photos into measurements.
# Training and fitting pipelines are run by name, never by default.
DEFAULT_PIPELINE = "score_photos"
# Old names kept for one release; running one logs what to use instead.
DEPRECATED_ALIASES = {"score": DEFAULT_PIPELINE}


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines: one per stage, the contract, ``__default__`` and the
    deprecated aliases."""
    pipelines = find_pipelines(raise_errors=True)
    # Kedro imports only the requested pipelines when one is named (`--pipelines x`);
    # the default and the aliases exist when their pipeline is loaded.
    if DEFAULT_PIPELINE in pipelines:
        pipelines["__default__"] = pipelines[DEFAULT_PIPELINE]
    for alias, target in DEPRECATED_ALIASES.items():
        if target in pipelines:
            pipelines[alias] = pipelines[target]
    return pipelines
