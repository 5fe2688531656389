"""fit_normal_models and normalize through Kedro runners on the demo sample."""

from __future__ import annotations

import glob

import numpy as np
import pandas as pd
import pytest
from kedro.runner import SequentialRunner
from kedro_helpers import project_config
from test_preprocess_pipeline import EXPECTED_STATUS

from facial_anomaly.pipelines.fit_normal_models import create_pipeline as fit_pipeline
from facial_anomaly.pipelines.normalize import create_pipeline as normalize_pipeline


def catalog_for(input_dir, output_dir, models_dir, normalizer: str):
    from kedro.io import DataCatalog

    loader = project_config({"input_dir": str(input_dir), "output_dir": str(output_dir), "models_dir": str(models_dir)})
    catalog = DataCatalog.from_config(loader["catalog"])
    for name, value in loader["parameters"].items():
        catalog[f"params:{name}"] = value
    catalog["params:normalize"] = {**loader["parameters"]["normalize"], "normalizer": normalizer}
    return catalog


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    import yaml
    from project_paths import PROJECT_ROOT

    from facial_anomaly.sample import write_embedded_sample

    root = tmp_path_factory.mktemp("normalize")
    write_embedded_sample(
        root / "raw", yaml.safe_load((PROJECT_ROOT / "conf/base/parameters.yml").read_text())["embedded_sample"]
    )
    catalog = catalog_for(root / "raw", root / "out", root / "models", "symmetry")
    SequentialRunner().run(fit_pipeline(), catalog)
    return root


def test_models_are_fitted_versioned_and_summarised(fitted):
    from kedro.io.core import Version

    from facial_anomaly.datasets import NormalModelDataset

    for kind in ("shape_model", "appearance_model"):
        versions = glob.glob(str(fitted / "models" / f"{kind}.npz" / "*" / f"{kind}.npz"))
        assert len(versions) == 1
        model = NormalModelDataset(
            filepath=str(fitted / "models" / f"{kind}.npz"), kind=kind, version=Version(None, None)
        ).load()
        assert model.metadata["faces"] == 8 and model.metadata["components"] >= 1
        summary = pd.read_json(fitted / "models" / f"{kind}_summary.json", typ="series")
        assert summary["faces"] == 8 and 0.0 < summary["explained_variance"] <= 1.0


def test_every_normalizer_writes_one_folder_and_a_report_row_per_file(fitted):
    names = "symmetry+shape_model+appearance_model+inpaint"
    SequentialRunner().run(normalize_pipeline(), catalog_for(fitted / "raw", fitted / "out", fitted / "models", names))
    report = pd.read_parquet(sorted(glob.glob(str(fitted / "out/03_primary/normalize_report.parquet/*/*.parquet")))[-1])
    assert len(report) == len(EXPECTED_STATUS) * 4
    for name in names.split("+"):
        rows = report[report["normalizer"] == name]
        assert dict(zip(rows["image"], rows["status"])) == EXPECTED_STATUS
        written = list((fitted / "out/03_primary/normalized" / name).glob("*.png"))
        assert len(written) == 8
        sheet = fitted / "out/08_reporting/normalize_sheets" / f"{name}.png"
        assert sheet.exists()
    from facial_anomaly.datasets import PngArrayDataset

    face = PngArrayDataset(filepath=str(written[0])).load()
    assert face.shape == (512, 512, 3) and face.dtype == np.uint8


def test_model_normalizer_without_a_fitted_model_says_how_to_fit(tmp_path, fitted):
    catalog = catalog_for(fitted / "raw", fitted / "out", tmp_path / "no_models", "shape_model")
    with pytest.raises(Exception, match="fit_normal_models"):
        SequentialRunner().run(normalize_pipeline(), catalog)


def test_unknown_normalizer_lists_the_available_ones(fitted, tmp_path):
    catalog = catalog_for(fitted / "raw", fitted / "out", fitted / "models", "codeformer")
    with pytest.raises(Exception, match="symmetry"):
        SequentialRunner().run(normalize_pipeline(), catalog)


def test_invalid_landmarks_become_a_report_row_not_a_crash():
    from facial_anomaly.pipelines.normalize.nodes import normalize_faces

    geometry = pd.DataFrame({"image_id": ["a"], "image": ["a.jpg"], "status": ["ok"]})
    landmarks = pd.DataFrame({"image_id": ["a"] * 478, "landmark": range(478), "x": np.nan, "y": 1.0, "z": 0.0})
    from project_paths import load_parameters

    params = {**load_parameters("normalize")["normalize"], "normalizer": "symmetry"}
    stylegan2 = load_parameters("stylegan2")
    outputs, report = normalize_faces(
        {"a": lambda: None},
        geometry,
        landmarks,
        None,
        None,
        params,
        stylegan2["stylegan2"],
        stylegan2["stylegan2_presets"],
        {},
        load_parameters("train_reconstruction")["train_reconstruction"],
    )
    assert outputs == {}
    assert report.loc[0, "status"] == "invalid_landmarks" and "finite" in report.loc[0, "detail"]
