"""train_supervised on the embedded sample (smoke_test preset) through a KedroSession with
MLflow, then the scores contract with the fused anomaly_score and the CAM overlays."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from kedro_helpers import run_session

SAMPLE = [
    "demo_astronaut.png",
    "demo_astronaut_mirrored.jpg",
    "demo_astronaut_rolled.png",
    "demo_astronaut_bright.jpg",
    "demo_astronaut_gray.png",
]
SEEDS = [0, 1]
MODELS = ["siamese", "single_branch"]


def _runtime(root) -> dict:
    """As ``kedro run --params "input_dir=...,train_supervised.preset=smoke_test,..."`` gives them (nested)."""
    return {
        "input_dir": str(root / "raw"),
        "output_dir": str(root / "out"),
        "models_dir": str(root / "models"),
        "persons": str(root / "persons.csv"),
        "train_supervised": {
            "preset": "smoke_test",
            "seeds": SEEDS,
            "data": {"variants_per_face": {"clean": 2, "anomalous": 2}},
        },
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import yaml
    from project_paths import PROJECT_ROOT

    from facial_anomaly.sample import write_embedded_sample

    root = tmp_path_factory.mktemp("supervised")
    write_embedded_sample(root / "sample")
    (root / "raw").mkdir()
    for name in SAMPLE:
        shutil.copy(root / "sample" / name, root / "raw" / name)
    # Five "persons" so that train / dev / test each get one; two are children.
    pd.DataFrame({"image": SAMPLE, "person": [f"p{i}" for i in range(5)], "age": [30, 8, 40, 12, 25]}).to_csv(
        root / "persons.csv", index=False
    )
    monkeypatch = pytest.MonkeyPatch()
    try:
        run_session(root, monkeypatch, "train_supervised", **_runtime(root))
    finally:
        monkeypatch.undo()
    return root


def test_training_writes_versioned_checkpoints_fusion_and_reports(trained):
    root = trained
    for model in MODELS:
        versions = list((root / f"models/supervised/{model}.pt").iterdir())
        assert len(versions) == 1 and (versions[0] / f"{model}.pt").stat().st_size > 0
    seeds = sorted(path.name for path in (root / "models/supervised_seeds").iterdir())
    assert seeds == sorted(f"{model}.seed{seed}.pt" for model in MODELS for seed in SEEDS)
    summary = json.loads((root / "models/supervised_summary.json").read_text())
    kept = summary["siamese"]["kept_seed"]
    (best,) = (root / "models/supervised/siamese.pt").rglob("siamese.pt")
    (same,) = (root / f"models/supervised_seeds/siamese.seed{kept}.pt").rglob("*.pt")
    assert best.read_bytes() == same.read_bytes()
    assert set(MODELS) <= set(summary) and summary["device"] == "cpu"
    assert sorted(map(int, summary["siamese"]["dev_auc_by_seed"])) == SEEDS
    history = pd.read_csv(root / "out/08_reporting/supervised_history.csv")
    assert history["step"].tolist() == [1, 2]
    for model in MODELS:
        for seed in SEEDS:
            assert {f"{model}.seed{seed}.train_loss", f"{model}.seed{seed}.dev_auc"} <= set(history.columns)
    assert any(".dev_auc." in column for column in history.columns)  # per anomaly family
    fusion_file = next((root / "models/supervised_fusion.json").rglob("supervised_fusion.json"))
    fusion = json.loads(fusion_file.read_text())
    assert fusion["features"][:2] == [f"supervised.{m}.probability" for m in MODELS]
    assert set(fusion["provenance"]["checkpoint_sha1"]) == set(MODELS)
    evaluation = pd.read_csv(root / "out/08_reporting/supervised_evaluation.csv")
    assert {"siamese", "single_branch", "fused"} <= set(evaluation["scorer"])
    assert {"dev", "test", "nuisance_check"} <= set(evaluation["split"])
    fpr = evaluation[evaluation["metric"] == "fpr"]["value"]
    assert ((fpr >= 0) & (fpr <= 1)).all()
    accuracy = pd.read_csv(root / "out/08_reporting/supervised_paper_accuracy.csv")
    assert {"train", "dev", "test"} <= set(accuracy["subset"]) and (accuracy["seeds"] == len(SEEDS)).all()
    assert any(subset in set(accuracy["subset"]) for subset in ("test.child", "test.adult"))
    report = (root / "out/08_reporting/supervised_report.md").read_text()
    assert "z-test" in report and "± " in report
    cams = list((root / "out/08_reporting/supervised_cams").glob("*.png"))
    assert sorted(p.stem for p in cams) == sorted(MODELS)
    pairs = pd.read_parquet(next((root / "out/05_model_input/supervised_pairs.parquet").rglob("*.parquet")))
    # Split by person: no face in two splits.
    assert pairs[pairs["split"] != "nuisance_check"].groupby("face")["split"].nunique().max() == 1
    assert "symmetry.pse_ycbcr_eroded__mouth_nose" in pairs


def test_training_is_logged_to_mlflow(trained):
    import mlflow

    client = mlflow.tracking.MlflowClient(f"sqlite:///{trained / 'mlflow.db'}")
    (run,) = client.search_runs(client.search_experiments()[0].experiment_id)
    history = client.get_metric_history(run.info.run_id, "supervised_history.siamese.seed0.dev_auc")
    assert [m.step for m in history] == [1, 2]
    assert "seconds.train_supervised_models" in run.data.metrics
    assert "supervised_evaluation_summary.fused.test.auc" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "reports")}
    assert "reports/supervised_cam_samples" in artifacts and "reports/supervised_report.md" in artifacts


def test_scores_use_the_fused_score_and_draw_cams(trained, tmp_path):
    from kedro_helpers import run_session

    root = trained
    runtime = _runtime(root)
    monkeypatch = pytest.MonkeyPatch()
    try:
        run_session(tmp_path, monkeypatch, "__default__", **runtime)
    finally:
        monkeypatch.undo()
    scores = pd.read_csv(root / "out/scores.csv")
    ok = scores[scores["status"] == "ok"]
    assert len(ok) == len(SAMPLE)
    summary = json.loads((root / "out/07_model_output/scores_summary.json").read_text())
    assert summary["anomaly_score_source"] == "fused", summary
    assert {"supervised.siamese.probability", "supervised.single_branch.severity", "unsupervised_score"} <= set(
        scores.columns
    )
    assert ((ok["supervised.siamese.probability"] >= 0) & (ok["supervised.siamese.probability"] <= 1)).all()
    assert ((ok["supervised.single_branch.severity"] >= 0) & (ok["supervised.single_branch.severity"] <= 4)).all()
    # The fused score is the fitted logistic regression of the named columns.
    from facial_anomaly.supervised.fusion import Fusion

    fusion = Fusion.load(next((root / "models/supervised_fusion.json").rglob("supervised_fusion.json")))
    assert np.allclose(ok["anomaly_score"], fusion.fuse(ok))
    assert not np.allclose(ok["anomaly_score"], ok["unsupervised_score"])
    for model in MODELS:
        aligned = sorted((root / f"out/08_reporting/cam/aligned/{model}").glob("*.png"))
        original = sorted((root / f"out/08_reporting/cam/original/{model}").glob("*.png"))
        assert len(aligned) == len(SAMPLE) and len(original) == len(SAMPLE)
        cam = np.load(next((root / f"out/04_feature/cam/{model}").glob("*.npz")))
        assert cam[cam.files[0]].shape == (512, 512)


def test_fusion_fitted_for_other_checkpoints_is_not_used(trained, tmp_path):
    """A checkpoint replaced after the fusion was fitted: anomaly_score falls back to the
    unsupervised default and the summary says why."""
    root = tmp_path / "copy"
    shutil.copytree(trained / "raw", root / "raw")
    shutil.copytree(trained / "models", root / "models")
    shutil.copy(trained / "persons.csv", root / "persons.csv")
    (checkpoint,) = (root / "models/supervised/single_branch.pt").rglob("single_branch.pt")
    from facial_anomaly.supervised import build_model, load_model, save_model

    model = load_model(checkpoint)
    retrained = build_model(model.config_dict(), load_backbone_weights=False)
    save_model(retrained, checkpoint)
    monkeypatch = pytest.MonkeyPatch()
    try:
        run_session(tmp_path, monkeypatch, "__default__", **_runtime(root))
    finally:
        monkeypatch.undo()
    summary = json.loads((root / "out/07_model_output/scores_summary.json").read_text())
    assert summary["anomaly_score_source"] == "unsupervised"
    assert "single_branch" in summary["fusion_unavailable"]
    scores = pd.read_csv(root / "out/scores.csv")
    assert np.allclose(scores["anomaly_score"].dropna(), scores["unsupervised_score"].dropna())


def test_too_few_persons_for_the_split_is_a_clear_error(astronaut_aligned):
    """Three photos of one person cannot fill train and dev: the node says what to do."""
    from project_paths import load_parameters

    from facial_anomaly.faces.background import pack_face_and_mask
    from facial_anomaly.pipelines.train_supervised.nodes import build_supervised_pairs

    ids = ["a", "b", "c"]
    rgba = pack_face_and_mask(astronaut_aligned["rgb"], astronaut_aligned["mask"])
    geometry = pd.DataFrame({"image_id": ids, "image": [f"{i}.png" for i in ids], "status": "ok"})
    points = astronaut_aligned["landmarks"]
    landmarks = pd.concat(
        [
            pd.DataFrame(
                {
                    "image_id": i,
                    "landmark": np.arange(len(points)),
                    "x": points[:, 0],
                    "y": points[:, 1],
                    "z": points[:, 2],
                }
            )
            for i in ids
        ]
    )
    persons = pd.DataFrame({"image": geometry["image"], "person": "same"})
    params = {
        name: load_parameters(name)[name]
        for name in ("train_supervised", "normalize", "synthesize", "heatmaps", "scores")
    }
    params["train_supervised"] = {**params["train_supervised"], "preset": "smoke_test"}
    with pytest.raises(ValueError, match="no person fell into the (train|dev) split .*3 faces of 1 persons"):
        build_supervised_pairs(
            geometry,
            {i: (lambda: rgba) for i in ids},
            landmarks,
            persons,
            params["train_supervised"],
            params["normalize"],
            params["synthesize"],
            params["heatmaps"],
            params["scores"],
        )
