"""StyleGAN2 through the pipelines with the tiny random `smoke_test` preset (no weights here)."""

from __future__ import annotations

import glob

import mlflow
import pandas as pd
import pytest
from kedro_helpers import run_session


@pytest.fixture(scope="module")
def sample_with_faces(tmp_path_factory):
    from facial_anomaly.sample import write_embedded_sample

    root = tmp_path_factory.mktemp("stylegan2")
    write_embedded_sample(root / "sample")
    (root / "raw").mkdir()
    for name in ("demo_astronaut.png", "demo_astronaut_mirrored.jpg", "rejected/demo_tiny.png"):
        (root / "raw" / name.replace("/", "_")).write_bytes((root / "sample" / name).read_bytes())
    return root


def test_stylegan2_is_a_normalizer_of_the_scoring_contract(sample_with_faces, tmp_path, monkeypatch):
    root = sample_with_faces
    run_session(
        tmp_path,
        monkeypatch,
        "score_photos",
        input_dir=str(root / "raw"),
        output_dir=str(tmp_path / "out"),
        mlflow_tracking="false",
        normalize={"normalizer": "stylegan2", "stylegan2": {"preset": "smoke_test"}},
    )
    scores = pd.read_csv(tmp_path / "out" / "scores.csv")
    assert dict(zip(scores["image"], scores["status"])) == {
        "demo_astronaut.png": "ok",
        "demo_astronaut_mirrored.jpg": "ok",
        "rejected_demo_tiny.png": "too_small",
    }
    assert scores.loc[scores["status"] == "ok", "anomaly_score"].notna().all()
    assert len(list((tmp_path / "out/03_primary/normalized/stylegan2").glob("*.png"))) == 2


def test_inspection_saves_snapshots_severity_index_and_loss_curves(sample_with_faces, tmp_path, monkeypatch):
    root = sample_with_faces
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_session(
        tmp_path,
        monkeypatch,
        "preprocess",
        input_dir=str(root / "raw"),
        output_dir=str(tmp_path / "out"),
        mlflow_tracking="false",
    )
    run_session(
        tmp_path,
        monkeypatch,
        "stylegan2_inspect",
        input_dir=str(root / "raw"),
        output_dir=str(tmp_path / "out"),
        mlflow_tracking_uri=uri,
        normalize={"stylegan2": {"preset": "smoke_test"}},
    )
    snapshots = sorted(p.name for p in (tmp_path / "out/03_primary/stylegan2_snapshots").rglob("*.png"))
    assert snapshots.count("step_0000.png") == 2 and snapshots.count("step_0004.png") == 2
    severity = pd.read_parquet(
        glob.glob(str(tmp_path / "out/07_model_output/stylegan2_severity.parquet/*/*.parquet"))[0]
    )
    assert len(severity) == 2 and (severity["seconds"] > 0).all()
    mlflow.set_tracking_uri(uri)
    run = mlflow.search_runs(experiment_names=["facial_anomaly"]).iloc[0]
    history = mlflow.MlflowClient().get_metric_history(run["run_id"], "stylegan2_curves.inversion_loss")
    assert len(history) == 10  # one point per inversion step of the smoke_test preset
    logged = [item.path for item in mlflow.MlflowClient().list_artifacts(run["run_id"], "reports/stylegan2_snapshots")]
    assert len(logged) == 6  # 2 faces × 3 snapshot steps


def test_paper_preset_without_weights_names_the_missing_file(sample_with_faces, tmp_path, monkeypatch):
    root = sample_with_faces
    with pytest.raises(Exception, match=r"stylegan2-ffhq-config-f\.pt|vgg16-397923af\.pth"):
        run_session(
            tmp_path,
            monkeypatch,
            "score_photos",
            input_dir=str(root / "raw"),
            output_dir=str(tmp_path / "out"),
            mlflow_tracking="false",
            normalize={"normalizer": "stylegan2"},
        )
