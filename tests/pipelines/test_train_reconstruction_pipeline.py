"""train_reconstruction on a tiny synthetic set, then GANomaly as a normalizer of the contract."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner
from kedro_helpers import project_config

from facial_anomaly.pipelines.heatmaps import create_pipeline as heatmaps_pipeline
from facial_anomaly.pipelines.normalize import create_pipeline as normalize_pipeline
from facial_anomaly.pipelines.scores import create_pipeline as scores_pipeline
from facial_anomaly.pipelines.synthesize import create_pipeline as synthesize_pipeline
from facial_anomaly.pipelines.train_reconstruction import create_pipeline as train_pipeline

TINY = {
    "architecture": None,
    "image_size": 32,
    "latent_size": 16,
    "base_channels": 8,
    "extra_layers": 0,
    "crop": {"center_x": 0.5, "center_y": 0.55, "size": 0.75},
}


def catalog_for(root, parameters_override: dict) -> DataCatalog:
    loader = project_config(
        {"input_dir": str(root / "raw"), "output_dir": str(root / "out"), "models_dir": str(root / "models")}
    )
    from kedro.validation.parameter_validator import ParameterValidator

    catalog = DataCatalog.from_config(loader["catalog"])
    # Typed as `kedro run` types them, for every stage these tests run.
    stages = synthesize_pipeline() + train_pipeline() + normalize_pipeline() + heatmaps_pipeline() + scores_pipeline()
    parameters = ParameterValidator({"test": stages}).validate_raw_params(
        {**loader["parameters"], **parameters_override}
    )
    for name, value in parameters.items():
        catalog[f"params:{name}"] = value
    return catalog


@pytest.fixture(scope="module")
def trained(tmp_path_factory):

    from facial_anomaly.sample import write_embedded_sample

    root = tmp_path_factory.mktemp("reconstruction")
    write_embedded_sample(root / "sample")
    (root / "raw").mkdir()
    names = [
        "demo_astronaut.png",
        "demo_astronaut_mirrored.jpg",
        "demo_astronaut_rolled.png",
        "demo_astronaut_bright.jpg",
        "demo_astronaut_gray.png",
    ]
    for name in names:
        (root / "raw" / name).write_bytes((root / "sample" / name).read_bytes())
    pd.DataFrame({"image": names, "person": ["p1", "p2", "p3", "p4", "p5"]}).to_csv(root / "persons.csv", index=False)
    synthesize = {"families": ["palsy"], "split": {"train": 0.6, "dev": 0.4, "test": 0.0}}
    loader_catalog = catalog_for(root, {"synthesize": synthesize})
    loader_catalog["synthesis_persons"] = pd.read_csv(root / "persons.csv")
    SequentialRunner().run(synthesize_pipeline(), loader_catalog)

    training = {
        "epochs": 2,
        "batch_size": 2,
        "lr": 2.0e-4,
        "betas": [0.5, 0.999],
        "seed": 0,
        "patience": 1,
        "min_epochs": 1,
    }
    ganomaly = {
        **TINY,
        "architecture": "ganomaly",
        "loss_weights": {"adv": 1.0, "con": 50.0, "enc": 1.0},
        "d_reinit_threshold": 1.0e-5,
    }
    train = {
        "preset": "tiny",
        "models": ["ganomaly"],  # device: auto, as shipped
        "presets": {"tiny": {"ganomaly": {"model": ganomaly, "training": training}}},
    }
    SequentialRunner().run(train_pipeline(), catalog_for(root, {"train_reconstruction": train}))
    return root, train


def test_training_writes_a_versioned_checkpoint_history_and_grid(trained):
    root, _ = trained
    versions = list((root / "models/reconstruction/ganomaly.pt").iterdir())
    assert len(versions) == 1 and (versions[0] / "ganomaly.pt").stat().st_size > 0
    history = pd.read_csv(root / "out/08_reporting/reconstruction_history.csv")
    assert history["step"].tolist() == [1, 2] and "ganomaly.val_auc" in history
    summary = json.loads((root / "models/reconstruction_summary.json").read_text())
    assert summary["ganomaly"]["epochs_run"] == 2 and summary["ganomaly"]["train_faces"] >= 1
    assert (root / "out/08_reporting/reconstruction_grids/ganomaly.png").exists()
    assert (root / "models/reconstruction_states/ganomaly.pt").exists()


def test_trained_ganomaly_normalizes_and_adds_its_own_score(trained):
    root, train = trained
    normalize = {"normalizer": "ganomaly"}
    catalog = catalog_for(root, {"normalize": normalize, "train_reconstruction": train})
    SequentialRunner().run(normalize_pipeline() + heatmaps_pipeline() + scores_pipeline(), catalog)
    scores = pd.read_csv(root / "out/scores.csv")
    ok = scores[scores["status"] == "ok"]
    assert len(ok) == 5 and ok["anomaly_score"].notna().all()
    assert ok["ganomaly.model_score"].notna().all() and (ok["ganomaly.model_score"] >= 0).all()


def test_untrained_model_says_how_to_train(trained, tmp_path):
    root, train = trained
    normalize = {"normalizer": "autoencoder"}
    with pytest.raises(Exception, match="train_reconstruction"):
        SequentialRunner().run(
            normalize_pipeline(), catalog_for(root, {"normalize": normalize, "train_reconstruction": train})
        )


def test_wrong_settings_fail_before_any_work():
    from facial_anomaly.normalizers.reconstruction.presets import PRESETS, TrainReconstructionConfig

    assert TrainReconstructionConfig().model_preset("ganomaly").model["image_size"] == 64
    assert PRESETS["gpu_128"]["autoencoder"].training.batch_size == 64
    with pytest.raises(ValueError, match="unknown preset 'cpu_32'"):
        TrainReconstructionConfig.model_validate({"preset": "cpu_32"})
    with pytest.raises(ValueError, match="models"):
        TrainReconstructionConfig.model_validate({"models": ["gan"]})
