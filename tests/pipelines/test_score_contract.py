"""The scoring contract, exactly as documented:

kedro run --pipeline score --params "input_dir=DIR,output_dir=OUT"       → OUT/scores.csv
kedro run --pipeline evaluate --params "scores=OUT/scores.csv,labels=LABELS.csv,output_dir=EVAL"
"""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from kedro_helpers import run_session
from test_preprocess_pipeline import EXPECTED_STATUS


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """The score pipeline run once on the demo sample (module-scoped: it takes a while)."""
    import yaml
    from _pytest.monkeypatch import MonkeyPatch
    from project_paths import PROJECT_ROOT

    from facial_anomaly.sample import write_embedded_sample

    root = tmp_path_factory.mktemp("contract")
    params = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters.yml").read_text())["embedded_sample"]
    write_embedded_sample(root / "raw", params)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    patch = MonkeyPatch()
    try:
        run_session(
            root, patch, "score", input_dir=str(root / "raw"), output_dir=str(root / "out"), mlflow_tracking_uri=uri
        )
    finally:
        patch.undo()
    return {"root": root, "uri": uri, "scores": pd.read_csv(root / "out" / "scores.csv")}


def test_scores_csv_has_a_row_for_every_input_file(scored):
    scores = scored["scores"]
    assert list(scores.columns[:3]) == ["image", "status", "anomaly_score"]
    assert dict(zip(scores["image"], scores["status"])) == EXPECTED_STATUS
    ok = scores["status"] == "ok"
    assert np.isfinite(scores.loc[ok, "anomaly_score"]).all() and (scores.loc[ok, "anomaly_score"] >= 0).all()
    assert scores.loc[~ok, "anomaly_score"].isna().all()
    assert "symmetry.pse_ycbcr_eroded__mouth_nose" in scores.columns
    np.testing.assert_allclose(scores.loc[ok, "anomaly_score"], scores.loc[ok, "symmetry.pse_ycbcr_eroded__mouth_nose"])
    assert "normality_index" in scores.columns  # the paper's S
    # No supervised model trained: anomaly_score is the unsupervised default, and says so.
    np.testing.assert_allclose(scores.loc[ok, "anomaly_score"], scores.loc[ok, "unsupervised_score"])
    summary = json.loads((scored["root"] / "out/07_model_output/scores_summary.json").read_text())
    assert summary["anomaly_score_source"] == "unsupervised" and summary["supervised_models"] == []


def test_every_variant_is_a_nested_mlflow_run(scored):
    mlflow.set_tracking_uri(scored["uri"])
    runs = mlflow.search_runs(experiment_names=["facial_anomaly"])
    parents = runs[runs["tags.mlflow.parentRunId"].isna()]
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert len(parents) == 1
    assert (children["tags.mlflow.parentRunId"] == parents["run_id"].iloc[0]).all()
    variant_columns = [c for c in scored["scores"].columns if c.startswith("symmetry.")]
    assert sorted(children["tags.mlflow.runName"]) == sorted(variant_columns)
    assert set(children["params.region"]) == {"mouth_nose", "face_without_eyes"}
    assert (children["metrics.scored"] == 8).all()


def test_heatmaps_masks_and_overlays_are_written(scored):
    out = scored["root"] / "out"
    ok_ids = {p.stem for p in (out / "02_intermediate/aligned").glob("*.png")}
    assert {p.stem for p in (out / "04_feature/heatmaps/symmetry").glob("*.npz")} == ok_ids
    for region in ("mouth_nose", "face_without_eyes", "full_face"):
        assert {p.stem for p in (out / "04_feature/region_masks" / region).glob("*.png")} == ok_ids
    overlays = sorted((out / "08_reporting/heatmaps/original/symmetry").glob("*.png"))
    assert len(overlays) == len(ok_ids)
    from facial_anomaly.datasets import PngArrayDataset

    photo = next(p for p in overlays if "demo_astronaut.png" in p.name)
    assert PngArrayDataset(filepath=str(photo)).load().shape == (512, 512, 3)  # the original photo's size


def test_evaluate_contract_writes_metrics_and_plots(scored, tmp_path, monkeypatch):
    scores = scored["scores"]
    # Labels: the demo's photometric variants play "anomalous", the rest normal controls.
    labels = pd.DataFrame({"image": scores["image"]})
    labels["label"] = labels["image"].str.contains("bright|16bit|gray").astype(int)
    labels["severity"] = labels["label"] * 2.0
    labels["subset"] = np.where(labels["image"].str.contains("sub folder"), "small", "demo")
    labels.to_csv(tmp_path / "labels.csv", index=False)
    scores_path = scored["root"] / "out" / "scores.csv"
    evaluation = tmp_path / "eval"
    run_session(
        tmp_path,
        monkeypatch,
        "evaluate",
        scores=str(scores_path),
        labels=str(tmp_path / "labels.csv"),
        output_dir=str(evaluation),
        mlflow_tracking="false",
    )
    metrics = json.loads((evaluation / "metrics.json").read_text())
    overall = metrics["default"]["overall"]
    assert overall["n"] == 8 and overall["n_anomalous"] == 3
    assert 0.0 <= overall["classification"]["roc_auc"] <= 1.0
    assert metrics["default"]["excluded"]["status_not_ok"] == 5  # rejected files are counted, not dropped
    comparison = pd.read_csv(evaluation / "comparison.csv")
    assert "anomaly_score" in set(comparison["run_name"])
    assert (evaluation / "comparison.md").read_text().startswith("# Scoring variants compared")
    assert {p.name for p in (evaluation / "plots").glob("*.png")} >= {"roc.png", "histogram.png"}


def test_evaluate_without_labels_fails_clearly(scored, tmp_path, monkeypatch):
    from kedro.io import DatasetError

    with pytest.raises(DatasetError, match="labels"):
        run_session(
            tmp_path,
            monkeypatch,
            "evaluate",
            scores=str(scored["root"] / "out" / "scores.csv"),
            labels=str(tmp_path / "missing.csv"),
            output_dir=str(tmp_path / "eval"),
            mlflow_tracking="false",
        )
