"""train_supervised on the embedded sample (smoke_test preset) through a KedroSession with
MLflow: the split, the scorer checkpoint, its history, the fused score and the evaluation."""

from __future__ import annotations

import hashlib
import json
import shutil

import pandas as pd
import pytest
from kedro_helpers import run_session

from facial_anomaly.supervised.run_config import TrainSupervisedConfig

SAMPLE = [
    "demo_astronaut.png",
    "demo_astronaut_mirrored.jpg",
    "demo_astronaut_rolled.png",
    "demo_astronaut_bright.jpg",
    "demo_astronaut_gray.png",
]


def _runtime(root, **train_supervised) -> dict:
    """As ``kedro run --env smoke_test --params "input_dir=...,persons=..."`` gives them."""
    return {
        "input_dir": str(root / "raw"),
        "output_dir": str(root / "out"),
        "models_dir": str(root / "models"),
        "persons": str(root / "persons.csv"),
        "train_supervised": {"preset": "smoke_test", **train_supervised},
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from facial_anomaly.sample import write_embedded_sample

    root = tmp_path_factory.mktemp("supervised")
    write_embedded_sample(root / "sample")
    (root / "raw").mkdir()
    for name in SAMPLE:
        shutil.copy(root / "sample" / name, root / "raw" / name)
    # Five "persons": train, dev and test each get at least one.
    pd.DataFrame({"image": SAMPLE, "person": [f"p{i}" for i in range(5)]}).to_csv(root / "persons.csv", index=False)
    monkeypatch = pytest.MonkeyPatch()
    try:
        # The normal models first, so the fused default also fuses their columns.
        run_session(root, monkeypatch, "fit_normal_models", mlflow_tracking=False,
                    **{k: v for k, v in _runtime(root).items() if k in ("input_dir", "models_dir")},
                    output_dir=str(root / "fit_out"))  # fmt: skip
        run_session(root, monkeypatch, "train_supervised", **_runtime(root))
    finally:
        monkeypatch.undo()
    return root


def _latest(folder):
    return sorted(folder.rglob(folder.name))[-1]


def test_training_writes_a_versioned_checkpoint_fusion_and_reports(trained):
    from facial_anomaly.supervised.fused import PROBABILITY_COLUMN, checkpoint_sha1
    from facial_anomaly.supervised.fusion import Fusion
    from facial_anomaly.supervised.scorer import load_scorer

    root = trained
    split = pd.read_parquet(_latest(root / "out/05_model_input/supervised_split.parquet"))
    assert sorted(split["image"]) == sorted(SAMPLE)
    assert split.groupby("person")["split"].nunique().max() == 1  # persons kept together
    assert {"train", "dev"} <= set(split["split"])
    checkpoint = _latest(root / "models/supervised_scorer.pt").read_bytes()
    scorer = load_scorer(checkpoint, "cpu")
    face = split["image_id"].iloc[0]
    assert scorer is not None and face
    history = pd.read_csv(root / "out/08_reporting/supervised_history.csv")
    assert history["step"].tolist() == [2, 4] and history["dev_auc"].between(0, 1).all()
    summary = json.loads((root / "models/supervised_summary.json").read_text())
    assert summary["steps"] == 4 and summary["train_faces"] + summary["dev_faces"] <= len(SAMPLE)
    fusion = Fusion.load(_latest(root / "models/supervised_fusion.json"))
    # The scorer and every default fused column: the models they need were fitted first.
    assert fusion.columns == [PROBABILITY_COLUMN, *TrainSupervisedConfig().fused_columns]
    # with the tail maximum of the scorer and the shape residual as one more feature
    assert fusion.features == [*fusion.columns, "max_tail_z"]
    assert fusion.tail_max_of == [PROBABILITY_COLUMN, "shape_residual__lips__mean"]
    assert fusion.provenance["supervised_checkpoint_sha1"] == checkpoint_sha1(checkpoint)
    fitted = {name: hashlib.sha1(_latest(root / f"models/{name}.npz").read_bytes()).hexdigest()
              for name in ("normal_variation", "padim", "shape_model")}  # fmt: skip
    assert fusion.provenance["fitted_models_sha1"] == fitted
    assert fusion.provenance["params"]["target"] == "severity"  # fitted to the drawn grades by default
    assert fusion.provenance["supervised_partner_shape"] is True  # the shape model was in models_dir
    evaluation = pd.read_csv(root / "out/08_reporting/supervised_evaluation.csv").set_index("score")
    if (split["split"] == "test").any():
        assert 0 <= evaluation.loc["supervised", "test_auc"] <= 1
        assert 0 <= evaluation.loc["supervised", "nuisance_fpr"] <= 1
        assert evaluation.loc["fused", "full_resolution_test_auc"] >= 0
        assert "full_resolution_severity_spearman" in evaluation.columns
    report = (root / "out/08_reporting/supervised_report.md").read_text()
    assert report.startswith("# Supervised scorer") and "Fused default score" in report


def _score(root, monkeypatch, output: str, **scores) -> tuple[pd.DataFrame, dict]:
    runtime = {"input_dir": str(root / "raw"), "output_dir": str(root / output), "models_dir": str(root / "models"),
               "mlflow_tracking": False, "scores": scores}  # fmt: skip
    run_session(root, monkeypatch, "score_photos", **runtime)
    summary = json.loads((root / output / "08_reporting/scores_summary.json").read_text())
    return pd.read_csv(root / output / "scores.csv"), summary


def test_a_scoring_run_adds_the_scorer_and_applies_its_fusion(trained, monkeypatch):
    from facial_anomaly.batch.fitted_models import PROBABILITY_COLUMN as COLUMN
    from facial_anomaly.supervised.fused import PROBABILITY_COLUMN, checkpoint_sha1
    from facial_anomaly.supervised.fusion import Fusion
    from facial_anomaly.supervised.scorer import load_scorer

    assert COLUMN == PROBABILITY_COLUMN
    table, summary = _score(trained, monkeypatch, "scored")
    ok = table[table["status"] == "ok"]
    assert len(ok) == len(SAMPLE) and ok[COLUMN].between(0, 1).all()
    # The probability is the scorer's on the aligned face the run wrote.
    checkpoint = _latest(trained / "models/supervised_scorer.pt").read_bytes()
    used = json.loads((trained / "scored/08_reporting/model_scores_summary.json").read_text())
    assert used["supervised_checkpoint_sha1"] == checkpoint_sha1(checkpoint) and used["scored"] == len(SAMPLE)
    assert used["models"]["supervised_scorer"]["sha1"] == checkpoint_sha1(checkpoint)
    # the shape model is fitted: the scorer's partner lay on the normal shape, as when the fusion was fitted
    assert used["supervised_partner_shape"] is True and "shape_model" in used["models"]
    from facial_anomaly.batch.inputs import read_aligned_face
    from facial_anomaly.batch.preprocess import STAGE, aligned_name
    from facial_anomaly.storage.artifacts import ArtifactFolder, Provenance

    report = pd.read_parquet(_latest(trained / "scored/08_reporting/normalize_report.parquet"))
    row = report[report["status"] == "ok"].iloc[0]
    face = read_aligned_face(
        ArtifactFolder(str(trained / "scored/02_intermediate/aligned")),
        aligned_name(row["image_id"]),
        Provenance(STAGE, row["source_sha1"], row["aligned_key"]),
    )
    expected, _ = load_scorer(checkpoint, "cpu").score(face.rgb, face.landmarks)
    assert ok.set_index("image")[COLUMN][row["image"]] == pytest.approx(expected, abs=1e-6)
    # anomaly_score is the supervised fusion of the scorer and the mirror columns.
    fusion = Fusion.load(_latest(trained / "models/supervised_fusion.json"))
    assert summary["anomaly_score_source"] == "supervised_fusion"
    assert summary["fusion_columns"] == fusion.columns
    assert ok["anomaly_score"].to_numpy() == pytest.approx(fusion.fuse(ok), abs=1e-9)
    assert not ok["anomaly_score"].equals(ok["unsupervised_score"])

    # A rerun reads every face's columns back instead of scoring again: no model is even loaded.
    import facial_anomaly.supervised.scorer as scorer_module

    def must_not_load(*args, **kwargs):
        raise AssertionError("the rerun loaded the scorer")

    monkeypatch.setattr(scorer_module, "load_scorer", must_not_load)
    again, _ = _score(trained, monkeypatch, "scored")
    monkeypatch.undo()
    used = json.loads((trained / "scored/08_reporting/model_scores_summary.json").read_text())
    assert used["reused"] == len(SAMPLE)
    pd.testing.assert_series_equal(again[COLUMN], table[COLUMN])

    # Switched off: no scorer column, the default variant again.
    table, summary = _score(trained, monkeypatch, "unsupervised", use_supervised=False)
    assert COLUMN not in table.columns and summary["anomaly_score_source"] == "unsupervised"
    ok = table[table["status"] == "ok"]
    assert ok["anomaly_score"].equals(ok["unsupervised_score"])


@pytest.mark.parametrize(
    ("changed", "column"),
    [
        (("supervised_checkpoint_sha1",), "supervised.probability"),  # fitted with another scorer
        (("fitted_models_sha1", "padim"), "padim__lower_face__topk"),  # as if PaDiM had been refitted since
    ],
)
def test_a_fusion_fitted_with_another_scorer_or_other_models_is_not_applied(
    trained, tmp_path, monkeypatch, changed, column
):
    root = tmp_path
    shutil.copytree(trained / "raw", root / "raw")
    shutil.copytree(trained / "models", root / "models")
    fusion_file = _latest(root / "models/supervised_fusion.json")
    record = json.loads(fusion_file.read_text())
    provenance = record["provenance"]
    for key in changed[:-1]:
        provenance = provenance[key]
    provenance[changed[-1]] = "0" * 40
    fusion_file.write_text(json.dumps(record))
    table, summary = _score(root, monkeypatch, "scored")
    assert column in table.columns and summary["anomaly_score_source"] == "unsupervised"


def test_fused_columns_whose_model_is_not_fitted_are_left_out(tmp_path):
    from facial_anomaly.pipelines.train_supervised.nodes import _column_model, _fitted_models
    from facial_anomaly.storage.models import ModelStore

    columns = TrainSupervisedConfig().fused_columns
    assert [_column_model(c) for c in columns] == [None, None, None, "normal_variation", "normal_variation",
                                                   "padim", "shape_model"]  # fmt: skip
    assert _fitted_models(ModelStore(str(tmp_path)), columns) == ({}, {})


def test_training_is_logged_to_mlflow(trained):
    import mlflow

    client = mlflow.tracking.MlflowClient(f"sqlite:///{trained / 'mlflow.db'}")
    (run,) = client.search_runs(client.search_experiments()[0].experiment_id)
    history = client.get_metric_history(run.info.run_id, "supervised_history.dev_auc")
    assert [m.step for m in history] == [2, 4]
    assert "supervised_training_summary.best_dev_auc" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "reports")}
    assert "reports/supervised_report.md" in artifacts


def test_same_seed_same_checkpoint(trained, tmp_path):
    """A second run on the same photos with the same settings gives the same weights."""
    from facial_anomaly.supervised.scorer import load_scorer

    root = tmp_path / "again"
    shutil.copytree(trained / "raw", root / "raw")
    shutil.copy(trained / "persons.csv", root / "persons.csv")
    monkeypatch = pytest.MonkeyPatch()
    try:
        run_session(root, monkeypatch, "train_supervised", mlflow_tracking="false", **_runtime(root))
    finally:
        monkeypatch.undo()
    first = load_scorer(_latest(trained / "models/supervised_scorer.pt").read_bytes(), "cpu")
    second = load_scorer(_latest(root / "models/supervised_scorer.pt").read_bytes(), "cpu")
    a, b = first.network.state_dict(), second.network.state_dict()
    assert a.keys() == b.keys() and all((a[key] == b[key]).all() for key in a)


def test_wrong_settings_fail_before_any_work():
    from facial_anomaly.supervised.run_config import TrainSupervisedConfig

    with pytest.raises(ValueError, match="training.stepz"):
        TrainSupervisedConfig.model_validate({"settings": {"training": {"stepz": 3}}})
    with pytest.raises(ValueError, match="add up to 1"):
        TrainSupervisedConfig.model_validate({"split": {"train": 0.5, "dev": 0.2, "test": 0.2}})
    with pytest.raises(ValueError, match="score column"):
        TrainSupervisedConfig.model_validate({"fused_columns": ["not a column"]})


def test_too_few_persons_for_the_split_is_a_clear_error():
    """Three photos of one person cannot fill train and dev: the node says what to do."""
    from facial_anomaly.pipelines.train_supervised.nodes import split_supervised_faces
    from facial_anomaly.supervised.run_config import TrainSupervisedConfig

    ids = ["a", "b", "c"]
    geometry = pd.DataFrame({"image_id": ids, "image": [f"{i}.png" for i in ids], "status": "ok"})
    persons = pd.DataFrame({"image": [f"{i}.png" for i in ids], "person": "same"})
    faces = {i: (lambda: None) for i in ids}
    with pytest.raises(ValueError, match="needs more people"):
        split_supervised_faces(geometry, faces, persons, TrainSupervisedConfig())


def test_a_fusion_fitted_with_the_other_partner_choice_is_not_applied():
    from facial_anomaly.pipelines.scores.nodes import choose_fusion
    from facial_anomaly.scoring.config import ScoresConfig

    record = {"provenance": {"supervised_checkpoint_sha1": "a", "fitted_models_sha1": {"shape_model": "s"},
                             "supervised_partner_shape": True}}  # fmt: skip
    summary = {"models": {"supervised_scorer": {"sha1": "a"}, "shape_model": {"sha1": "s"}},
               "supervised_checkpoint_sha1": "a", "supervised_partner_shape": True}  # fmt: skip
    assert choose_fusion(None, record, summary, {}, ScoresConfig())["source"] == "supervised_fusion"
    assert choose_fusion(None, record, {**summary, "supervised_partner_shape": False}, {}, ScoresConfig()) == {}
    older = {"provenance": {**record["provenance"], "supervised_partner_shape": False}}
    assert choose_fusion(None, older, summary, {}, ScoresConfig()) == {}
