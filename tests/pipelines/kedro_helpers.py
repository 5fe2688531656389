"""Helpers for running stages through Kedro on temporary folders (imported by pipeline tests)."""

from __future__ import annotations

from pathlib import Path

from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog
from project_paths import PROJECT_ROOT

from facial_anomaly.hooks import untracked_pipelines


def project_config(runtime_params: dict) -> OmegaConfigLoader:
    """The project's real ``conf/`` with per-run settings, as ``kedro run --params`` gives them."""
    return OmegaConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"),
        base_env="base",
        default_run_env="local",
        runtime_params=runtime_params,
        # The project's own resolver: OmegaConf keeps the first one registered process-wide.
        custom_resolvers={"fa.untracked_pipelines": untracked_pipelines},
    )


def build_catalog(input_dir: Path, output_dir: Path, extra_params: dict | None = None) -> DataCatalog:
    """A temporary catalog: the project's catalog.yml pointed at tmp folders, plus parameters."""
    loader = project_config({"input_dir": str(input_dir), "output_dir": str(output_dir)})
    catalog = DataCatalog.from_config(loader["catalog"])
    parameters = loader["parameters"]
    for key, value in (extra_params or {}).items():
        section, name = key.split(".", 1)
        parameters[section] = {**parameters[section], name: value}
    for name, value in parameters.items():
        catalog[f"params:{name}"] = value
    return catalog


def run_session(tmp_path: Path, monkeypatch, pipeline: str, **runtime_params) -> None:
    """``kedro run --pipeline <pipeline> --params ...`` in-process, MLflow artifacts under tmp_path."""
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
