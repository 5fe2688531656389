"""Helpers for running stages through Kedro on temporary folders (imported by pipeline tests)."""

from __future__ import annotations

import glob
from pathlib import Path

import pandas as pd
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner
from project_paths import PROJECT_ROOT

from facial_anomaly.hooks import untracked_pipelines
from facial_anomaly.settings import CONFIG_LOADER_ARGS


def project_config(runtime_params: dict, env: str | None = None) -> OmegaConfigLoader:
    """The project's real ``conf/`` with per-run settings, as ``kedro run --params`` gives them."""
    return OmegaConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"),
        base_env="base",
        default_run_env="local",
        env=env,
        runtime_params=runtime_params,
        # The project's own resolver: OmegaConf keeps the first one registered process-wide.
        custom_resolvers={"fa.untracked_pipelines": untracked_pipelines},
        merge_strategy=CONFIG_LOADER_ARGS["merge_strategy"],  # as settings.py gives kedro run
    )


def build_catalog(
    input_dir: Path | None, output_dir: Path, extra_params: dict | None = None, *, pipeline: Pipeline, **runtime
) -> DataCatalog:
    """The project's catalog.yml pointed at tmp folders, with the parameters ``pipeline`` uses
    turned into their typed configs exactly as ``kedro run`` does (dotted ``extra_params``
    keys override one setting: ``{"normalize.normalizer": "shape_model"}``)."""
    from kedro.validation.parameter_validator import ParameterValidator

    folders = {"output_dir": str(output_dir), **{key: str(value) for key, value in runtime.items()}}
    if input_dir is not None:
        folders["input_dir"] = str(input_dir)
    loader = project_config({**folders, **nested(extra_params or {})})
    catalog = DataCatalog.from_config(loader["catalog"])
    parameters = ParameterValidator({"test": pipeline}).validate_raw_params(loader["parameters"])
    for name, value in _flat_parameters(parameters).items():
        catalog[f"params:{name}"] = value
    return catalog


def nested(dotted: dict) -> dict:
    """``{"a.b": 1}`` → ``{"a": {"b": 1}}``, as ``kedro run --params a.b=1`` gives them."""
    result: dict = {}
    for key, value in dotted.items():
        *parents, last = str(key).split(".")
        node = result
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return result


def _flat_parameters(parameters: dict, prefix: str = "") -> dict:
    """``params:a`` and ``params:a.b`` entries, as Kedro provides them to nodes."""
    flat = {}
    for key, value in parameters.items():
        flat[f"{prefix}{key}"] = value
        if isinstance(value, dict):
            flat.update(_flat_parameters(value, f"{prefix}{key}."))
    return flat


def run_pipeline(pipeline: Pipeline, input_dir, output_dir, extra_params: dict | None = None, **runtime) -> DataCatalog:
    """Run ``pipeline`` with a SequentialRunner on a hand-built catalog (no hooks, no MLflow)."""
    catalog = build_catalog(input_dir, output_dir, extra_params, pipeline=pipeline, **runtime)
    SequentialRunner().run(pipeline, catalog)
    return catalog


def latest_table(folder: Path, name: str) -> pd.DataFrame:
    """The newest version of the versioned table ``08_reporting/<name>.parquet`` (or a path pattern)."""
    pattern = str(folder / "08_reporting" / f"{name}.parquet" / "*" / f"{name}.parquet")
    return pd.read_parquet(sorted(glob.glob(pattern))[-1])


def run_session(tmp_path: Path, monkeypatch, pipeline: str, **runtime_params) -> None:
    """``kedro run --pipelines <pipeline> --params ...`` in-process, MLflow artifacts under tmp_path."""
    import mlflow
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    # Each test's run gets its own store: a run left active by an earlier test (MLflow
    # keeps it in process-wide state) would make kedro-mlflow log into that one instead.
    while mlflow.active_run():
        mlflow.end_run()
    runtime_params.setdefault("mlflow_tracking_uri", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)  # MLflow artifacts of a sqlite store go under ./mlruns
    bootstrap_project(PROJECT_ROOT)
    try:
        with KedroSession.create(project_path=PROJECT_ROOT, runtime_params=runtime_params) as session:
            session.run(pipeline_names=[pipeline])
    finally:
        while mlflow.active_run():
            mlflow.end_run()
