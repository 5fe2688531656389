"""The scoring contract, exactly as documented:

kedro run --pipelines score --params "input_dir=DIR,output_dir=OUT[,labels=LABELS.csv]"   → OUT/scores.csv
kedro run --pipelines evaluate --params "scores=OUT/scores.csv,labels=LABELS.csv,output_dir=EVAL"
"""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from kedro_helpers import run_session
from sample_expectations import EXPECTED_STATUS, OK_COUNT


def demo_labels(scores: pd.DataFrame) -> pd.DataFrame:
    """The demo's photometric variants play "anomalous", the rest normal controls."""
    labels = pd.DataFrame({"image": scores["image"]})
    labels["label"] = labels["image"].str.contains("bright|16bit|gray").astype(int)
    labels["severity"] = labels["label"] * 2.0
    labels["subset"] = np.where(labels["image"].str.contains("sub folder"), "small", "demo")
    return labels


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """The score pipeline run once on the demo sample (module-scoped: it takes a while)."""
    from _pytest.monkeypatch import MonkeyPatch

    from facial_anomaly.sample import write_embedded_sample

    root = tmp_path_factory.mktemp("contract")
    write_embedded_sample(root / "raw")
    (root / "raw" / ".gitkeep").write_text("")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    patch = MonkeyPatch()
    try:
        run_session(
            root,
            patch,
            "score_photos",
            input_dir=str(root / "raw"),
            output_dir=str(root / "out"),
            mlflow_tracking_uri=uri,
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
    assert (scores.loc[~ok, "detail"].fillna("") != "").all()  # every rejection says why
    # The default: the best variant of the detection bench that needs no fitted model.
    assert (
        "mirror.deep_base__lower_face__topk" in scores.columns
        and "mirror.pse_ycbcr_eroded__mouth_nose" in scores.columns
    )
    np.testing.assert_allclose(scores.loc[ok, "anomaly_score"], scores.loc[ok, "mirror.deep_base__lower_face__topk"])
    assert {"yaw_degrees", "pitch_degrees", "roll_degrees"} <= set(scores.columns)
    assert "normality_index" in scores.columns  # the paper's S
    assert (scores.loc[ok, "face_count"] >= 1).all()
    np.testing.assert_allclose(scores.loc[ok, "anomaly_score"], scores.loc[ok, "unsupervised_score"])
    summary = json.loads((scored["root"] / "out/08_reporting/scores_summary.json").read_text())
    assert summary["anomaly_score_source"] == "unsupervised" and summary["scored"] == OK_COUNT


def test_scores_of_the_sample_are_unchanged(scored):
    """A refactoring keeps the contract's numbers (relative 1e-4: MediaPipe and torch may round
    differently on another CPU; a real change of the method moves them by far more)."""
    from sample_expectations import EXPECTED_DEFAULT_SCORES

    scores = scored["scores"].set_index("image")
    got = {image: scores.loc[image, "anomaly_score"] for image in EXPECTED_DEFAULT_SCORES}
    assert got == pytest.approx(EXPECTED_DEFAULT_SCORES, rel=1e-4)


def test_one_mlflow_run_named_after_the_pipeline_and_folder_with_plain_parameters(scored):
    mlflow.set_tracking_uri(scored["uri"])
    runs = mlflow.search_runs(experiment_names=["facial_anomaly"])
    parent = runs[runs["tags.mlflow.parentRunId"].isna()].iloc[0]
    assert parent["tags.mlflow.runName"] == "score_photos · raw"
    assert parent["params.input_dir"].endswith("raw") and parent["params.output_dir"].endswith("out")
    assert parent["params.normalizer"] == "mirror"
    assert parent["params.default_variant"] == "deep_base__lower_face__topk"
    assert parent["params.preprocess.alignment_preset"] == "default"  # typed parameters, flattened
    assert not any(column.startswith("params.train_supervised") for column in runs.columns)
    experiment = mlflow.get_experiment_by_name("facial_anomaly")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_every_variant_is_a_nested_mlflow_run_with_its_parameters(scored):
    mlflow.set_tracking_uri(scored["uri"])
    runs = mlflow.search_runs(experiment_names=["facial_anomaly"])
    parents = runs[runs["tags.mlflow.parentRunId"].isna()]
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert len(parents) == 1
    assert (children["tags.mlflow.parentRunId"] == parents["run_id"].iloc[0]).all()
    variant_columns = [c for c in scored["scores"].columns if c.startswith("mirror.")]
    assert set(variant_columns) <= set(children["tags.mlflow.runName"])
    grid = children[children["tags.mlflow.runName"].isin(variant_columns)]
    assert set(grid["params.region"]) == {"mouth_nose", "face_without_eyes", "lower_face"}
    assert set(grid["params.normalizer"]) == {"mirror"}
    assert (grid["metrics.scored"] == OK_COUNT).all()


def test_heatmaps_are_written_with_their_scores(scored):
    out = scored["root"] / "out"
    ok_ids = {p.stem for p in (out / "02_intermediate/aligned").glob("*.png")}
    assert {p.stem for p in (out / "04_feature/heatmaps/mirror").glob("*.npz")} == ok_ids
    from facial_anomaly.storage.artifacts import decode_npz

    scores = scored["scores"].set_index("image_id")
    for path in (out / "04_feature/heatmaps/mirror").glob("*.npz"):
        arrays, provenance = decode_npz(path.read_bytes())
        assert arrays["heat"].shape == (512, 512) and arrays["heat"].dtype == np.float32
        stored = provenance.record["scores"]["deep_base__lower_face__topk"]
        assert stored == pytest.approx(scores.loc[path.stem, "anomaly_score"])


def test_contract_with_labels_evaluates_in_the_same_run(scored, tmp_path, monkeypatch):
    labels = demo_labels(scored["scores"])
    labels.to_csv(tmp_path / "labels.csv", index=False)
    out = tmp_path / "out"
    run_session(
        tmp_path, monkeypatch, "score_photos",
        input_dir=str(scored["root"] / "raw"), output_dir=str(out), labels=str(tmp_path / "labels.csv"),
    )  # fmt: skip
    runs = mlflow.search_runs(experiment_names=["facial_anomaly"])
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    default = children[children["tags.mlflow.runName"] == "mirror.deep_base__lower_face__topk"].iloc[0]
    assert 0.0 <= default["metrics.auc"] <= 1.0 and default["params.kind"] == "deep"
    metrics = json.loads((out / "08_reporting/metrics.json").read_text())
    assert metrics["evaluated"] and metrics["default"]["overall"]["n_anomalous"] == 3


def test_evaluate_contract_writes_metrics_and_plots(scored, tmp_path, monkeypatch):
    labels = demo_labels(scored["scores"])
    labels.to_csv(tmp_path / "labels.csv", index=False)
    evaluation = tmp_path / "eval"
    run_session(
        tmp_path, monkeypatch, "evaluate",
        scores=str(scored["root"] / "out" / "scores.csv"), labels=str(tmp_path / "labels.csv"),
        output_dir=str(evaluation), mlflow_tracking="false",
    )  # fmt: skip
    metrics = json.loads((evaluation / "08_reporting/metrics.json").read_text())
    overall = metrics["default"]["overall"]
    assert overall["n"] == OK_COUNT and overall["n_anomalous"] == 3
    assert 0.0 <= overall["classification"]["roc_auc"] <= 1.0
    assert metrics["default"]["excluded"]["status_not_ok"] == len(EXPECTED_STATUS) - OK_COUNT
    comparison = pd.read_csv(evaluation / "08_reporting/comparison.csv")
    assert "anomaly_score" in set(comparison["run_name"])
    assert (evaluation / "08_reporting/comparison.md").read_text().startswith("# Scoring variants compared")
    assert {p.name for p in (evaluation / "08_reporting/plots").glob("*.png")} >= {"roc.png", "histogram.png"}


def test_labels_with_image_label_and_severity_only_are_enough(scored, tmp_path, monkeypatch):
    labels = demo_labels(scored["scores"])[["image", "label", "severity"]]
    labels.to_csv(tmp_path / "labels.csv", index=False)
    run_session(
        tmp_path, monkeypatch, "evaluate",
        scores=str(scored["root"] / "out" / "scores.csv"), labels=str(tmp_path / "labels.csv"),
        output_dir=str(tmp_path / "eval"), mlflow_tracking="false",
    )  # fmt: skip
    metrics = json.loads((tmp_path / "eval/08_reporting/metrics.json").read_text())
    assert metrics["default"]["subsets"] == {} and metrics["default"]["overall"]["n_anomalous"] == 3


def test_readable_panels_share_one_colour_scale_and_heat_goes_back_on_the_photos(scored):
    out = scored["root"] / "out/08_reporting"
    panels = sorted((out / "heatmap_gallery/mirror").glob("*.png"))
    photos = sorted((out / "photo_overlays/mirror").glob("*.png"))
    assert len(panels) == OK_COUNT and {p.name for p in photos} == {p.name for p in panels}
    summary = json.loads((out / "report_summary.json").read_text())
    assert summary["vmax"]["mirror"] > 0 and summary["thumbnails"] == OK_COUNT
    from facial_anomaly.storage.artifacts import decode_png

    photo = decode_png(next(p for p in photos if "demo_astronaut.png" in p.name).read_bytes(), channels=3)
    assert photo.shape == (512, 512, 3)  # the original photo's size, untinted outside the face


def test_report_html_opens_in_a_real_browser_with_every_image(scored, chromium):
    from facial_anomaly.evaluation.html_report import expected_image_count  # noqa: F401 (documents the count)

    report = scored["root"] / "out/08_reporting/report.html"
    page = chromium.open(report.as_uri())
    status = page.image_status()
    assert status["total"] == OK_COUNT and status["decoded"] == OK_COUNT  # one thumbnail per scored image
    assert page.collect().errors == []
    text = page.evaluate("document.body.innerText")
    for name, expected in EXPECTED_STATUS.items():
        assert name.split("/")[-1] in text  # every file is listed: scored, or rejected with its reason
        if expected != "ok":
            assert expected in text
