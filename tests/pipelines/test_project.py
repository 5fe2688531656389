"""The project as `kedro run` sees it: settings, hooks, registry, MLflow tracking."""

from __future__ import annotations

from types import SimpleNamespace

import mlflow
import pytest
from kedro.framework.startup import bootstrap_project
from kedro_helpers import run_session
from project_paths import PROJECT_ROOT
from sample_expectations import EXPECTED_STATUS, OK_COUNT


def tracked_runs(uri: str):
    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(experiment_names=["facial_anomaly"])


def test_kedro_run_logs_one_mlflow_run_with_params_metrics_and_report(sample_input, tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_session(
        tmp_path,
        monkeypatch,
        "preprocess",
        input_dir=str(sample_input),
        output_dir=str(tmp_path / "out"),
        mlflow_tracking_uri=uri,
    )
    runs = tracked_runs(uri)
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["status"] == "FINISHED"
    assert run["params.preprocess.alignment_preset"] == "default"
    assert run["metrics.preprocess_summary.ok"] == OK_COUNT
    assert run["metrics.preprocess_summary.rejected"] == len(EXPECTED_STATUS) - OK_COUNT
    assert run["metrics.seconds.preprocess_photos"] > 0
    artifacts = [item.path for item in mlflow.MlflowClient().list_artifacts(run["run_id"], "reports")]
    assert "reports/preprocess_report.csv" in artifacts


def test_tracking_can_be_switched_off_per_run(sample_input, tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_session(
        tmp_path,
        monkeypatch,
        "preprocess",
        input_dir=str(sample_input),
        output_dir=str(tmp_path / "out"),
        mlflow_tracking_uri=uri,
        mlflow_tracking="false",
    )
    assert (tmp_path / "out/08_reporting/preprocess_summary.json").exists()
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name("facial_anomaly")
    assert experiment is None or tracked_runs(uri).empty


def test_registry_has_the_stages_a_default_and_the_deprecated_alias():
    from facial_anomaly.pipeline_registry import register_pipelines

    bootstrap_project(PROJECT_ROOT)
    pipelines = register_pipelines()
    stages = {"preprocess", "normalize", "heatmaps", "scores", "report"}
    assert stages | {"score_photos", "evaluate", "fit_normal_models"} <= set(pipelines)
    default_nodes = {node.name for node in pipelines["__default__"].nodes}
    assert default_nodes == {node.name for node in pipelines["score_photos"].nodes}
    for stage in stages:
        assert {node.name for node in pipelines[stage].nodes} <= default_nodes
    assert pipelines["score"] is pipelines["score_photos"]  # deprecated name, one more release


def test_embedded_sample_fills_only_an_empty_default_folder(tmp_path):
    from facial_anomaly.hooks import EmbeddedSampleHook

    raw = tmp_path / "data/01_raw"
    raw.mkdir(parents=True)
    (raw / ".gitkeep").write_text("")
    pipeline = SimpleNamespace(datasets=lambda: {"photos"})
    hook = EmbeddedSampleHook()
    hook.after_context_created(SimpleNamespace(project_path=tmp_path))

    hook.before_pipeline_run({"runtime_params": {"input_dir": "/elsewhere"}}, pipeline, None)
    assert not (raw / "embedded_sample").exists()  # a user folder is never touched

    hook.before_pipeline_run({"runtime_params": {}}, pipeline, None)
    written = sorted(p.name for p in (raw / "embedded_sample").rglob("*") if p.is_file())
    assert "demo_astronaut.png" in written and "demo_truncated.jpg" in written

    (raw / "embedded_sample" / "demo_astronaut.png").unlink()
    hook.before_pipeline_run({"runtime_params": {}}, pipeline, None)
    assert not (raw / "embedded_sample" / "demo_astronaut.png").exists()  # not empty: left alone


def test_untracked_pipelines_resolver():
    from facial_anomaly.hooks import untracked_pipelines

    bootstrap_project(PROJECT_ROOT)
    assert untracked_pipelines("true") == [] and untracked_pipelines(True) == []
    off = untracked_pipelines("false")
    assert "preprocess" in off and "__default__" in off


def test_a_run_whose_process_died_is_marked_failed_by_the_next_run(sample_input, tmp_path, monkeypatch):
    import socket
    import subprocess
    import sys

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment_id = mlflow.set_experiment("facial_anomaly").experiment_id
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    client = mlflow.MlflowClient()
    abandoned = client.create_run(
        experiment_id, tags={"facial_anomaly.pid": dead.stdout.strip(), "facial_anomaly.host": socket.gethostname()}
    )
    alive = client.create_run(
        experiment_id, tags={"facial_anomaly.pid": "1", "facial_anomaly.host": socket.gethostname()}
    )
    run_session(tmp_path, monkeypatch, "preprocess", input_dir=str(sample_input), output_dir=str(tmp_path / "out"),
                mlflow_tracking_uri=uri)  # fmt: skip
    mlflow.set_tracking_uri(uri)
    assert client.get_run(abandoned.info.run_id).info.status == "FAILED"
    assert client.get_run(alive.info.run_id).info.status == "RUNNING"  # pid 1 is alive: left alone


@pytest.mark.parametrize("log_face_images", ["true", "false"])
def test_face_images_go_to_mlflow_only_when_allowed(sample_input, tmp_path, monkeypatch, log_face_images):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    folders = {"input_dir": str(sample_input), "output_dir": str(tmp_path / "out"), "mlflow_tracking_uri": uri}
    run_session(tmp_path, monkeypatch, "preprocess", **folders, mlflow_tracking="false")
    run_session(tmp_path, monkeypatch, "normalize", **folders, log_face_images=log_face_images)
    run = tracked_runs(uri).iloc[0]
    logged = [item.path for item in mlflow.MlflowClient().list_artifacts(run["run_id"], "reports")]
    assert ("reports/normalize_sheets" in logged) == (log_face_images == "true")
    assert "reports/normalize_report.csv" in logged  # tables are always logged
