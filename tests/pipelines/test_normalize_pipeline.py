"""fit_normal_models and normalize through Kedro runners on the demo sample."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro_helpers import latest_table, run_pipeline
from sample_expectations import EXPECTED_STATUS, OK_COUNT

from facial_anomaly.pipelines.fit_normal_models import create_pipeline as fit_pipeline
from facial_anomaly.pipelines.normalize import create_pipeline as normalize_pipeline
from facial_anomaly.storage.artifacts import ArtifactFolder, decode_png


def normalize(root, models_dir, names: str, **extra):
    return run_pipeline(
        normalize_pipeline(),
        root / "raw",
        root / "out",
        {"normalize.normalizer": names, **extra},
        models_dir=models_dir,
    )


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    from facial_anomaly.sample import write_embedded_sample

    root = tmp_path_factory.mktemp("normalize")
    write_embedded_sample(root / "raw")
    (root / "raw" / ".gitkeep").write_text("")
    run_pipeline(fit_pipeline(), root / "raw", root / "out", models_dir=root / "models")
    return root


def test_models_are_fitted_versioned_summarised_and_carry_provenance(fitted):
    from kedro.io.core import Version

    from facial_anomaly.datasets import NormalModelDataset

    for kind in ("shape_model", "appearance_model"):
        versions = glob.glob(str(fitted / "models" / f"{kind}.npz" / "*" / f"{kind}.npz"))
        assert len(versions) == 1
        model = NormalModelDataset(
            filepath=str(fitted / "models" / f"{kind}.npz"), kind=kind, version=Version(None, None)
        ).load()
        assert model.metadata["faces"] == OK_COUNT and model.metadata["components"] >= 1
        provenance = model.metadata["provenance"]
        assert provenance["kind"] == kind and provenance["landmarks"]["count"] == 478
        assert len(provenance["training_data"]) == 12
        summary = pd.read_json(fitted / "out/08_reporting" / f"{kind}_summary.json", typ="series")
        assert summary["faces"] == OK_COUNT and 0.0 < summary["explained_variance"] <= 1.0


def test_every_normalizer_writes_one_folder_and_a_report_row_per_file(fitted):
    names = "symmetry+shape_model+appearance_model+inpaint"
    normalize(fitted, fitted / "models", names)
    report = latest_table(fitted / "out", "normalize_report")
    assert len(report) == len(EXPECTED_STATUS) * 4
    folder = ArtifactFolder(str(fitted / "out/03_primary/normalized"))
    for name in names.split("+"):
        rows = report[report["normalizer"] == name]
        assert dict(zip(rows["image"], rows["status"])) == EXPECTED_STATUS
        written = sorted((fitted / "out/03_primary/normalized" / name).glob("*.png"))
        assert len(written) == OK_COUNT
        assert (fitted / "out/08_reporting/normalize_sheets" / f"{name}.png").exists()
        ok = rows[rows["status"] == "ok"].set_index("image_id")
        for path in written:  # each face says what made it
            provenance = folder.png_provenance(f"{name}/{path.name}")
            assert provenance.key == ok.loc[path.stem, "params_hash"]
            assert provenance.source_sha1 == ok.loc[path.stem, "source_sha1"]
    face = decode_png(written[0].read_bytes(), channels=3)
    assert face.shape == (512, 512, 3) and face.dtype == np.uint8


def test_rerun_reuses_normalized_faces_and_a_refitted_model_recomputes_them(fitted, tmp_path, monkeypatch):
    from facial_anomaly.pipelines.normalize import nodes

    normalize(fitted, fitted / "models", "symmetry+shape_model")
    first = latest_table(fitted / "out", "normalize_report")
    sheets = {name: (fitted / f"out/08_reporting/normalize_sheets/{name}.png").read_bytes()
              for name in ("symmetry", "shape_model")}  # fmt: skip
    drawn = []
    monkeypatch.setattr(nodes, "comparison_sheet", lambda *args, **kwargs: drawn.append(1))
    normalize(fitted, fitted / "models", "symmetry+shape_model")
    again = latest_table(fitted / "out", "normalize_report")
    assert again.loc[again["status"] == "ok", "reused"].all()
    pd.testing.assert_series_equal(first["params_hash"], again["params_hash"])
    # The sheets were drawn from the same faces: reused, not drawn again.
    assert drawn == [] and all(
        (fitted / f"out/08_reporting/normalize_sheets/{name}.png").read_bytes() == data for name, data in sheets.items()
    )
    monkeypatch.undo()
    # Another shape model (fitted on other faces) changes the shape_model faces' key, not symmetry's.
    import shutil

    shutil.copytree(fitted / "models", tmp_path / "models")
    _refit_shape_model(fitted).save(tmp_path / "models/shape_model.npz/2099-01-01T00.00.00.000Z/shape_model.npz")
    normalize(fitted, tmp_path / "models", "symmetry+shape_model")
    third = latest_table(fitted / "out", "normalize_report")
    ok = third[third["status"] == "ok"]
    assert ok.loc[ok["normalizer"] == "symmetry", "reused"].all()
    assert not ok.loc[ok["normalizer"] == "shape_model", "reused"].any()


def _refit_shape_model(fitted):
    from facial_anomaly.faces.tables import landmarks_by_image
    from facial_anomaly.normalizers import ShapeModel

    shapes = list(landmarks_by_image(pd.read_parquet(fitted / "out/02_intermediate/landmarks.parquet")).values())
    return ShapeModel.fit(
        shapes[:4],
        explained_variance=0.9,
        max_components=3,
        mirror_augment=False,
        procrustes_iterations=5,
        procrustes_tolerance=1e-6,
        training_data="other",
    )


def test_model_normalizer_without_a_fitted_model_says_how_to_fit(tmp_path, fitted):
    with pytest.raises(Exception, match="fit_normal_models"):
        normalize(fitted, tmp_path / "no_models", "shape_model")


def test_unknown_normalizer_lists_the_available_ones(fitted):
    with pytest.raises(Exception, match=r"normalize\.normalizer.*'codeformer'.*symmetry, mirror"):
        normalize(fitted, fitted / "models", "codeformer")


def test_padim_and_the_shape_residual_are_fitted_and_become_score_columns(fitted):
    from facial_anomaly.batch.inputs import read_aligned_face
    from facial_anomaly.batch.preprocess import STAGE, aligned_name
    from facial_anomaly.normalizers import ShapeModel
    from facial_anomaly.pipelines.score_photos import create_pipeline as score_pipeline
    from facial_anomaly.scoring.padim import PadimScorer
    from facial_anomaly.scoring.shape_residual import ShapeResidualConfig, shape_residual_score
    from facial_anomaly.storage.artifacts import Provenance

    (padim_file,) = glob.glob(str(fitted / "models/padim.npz/*/padim.npz"))
    padim = PadimScorer.load(padim_file)
    assert padim.provenance["params"]["faces"] == OK_COUNT and padim.provenance["params"]["mirror_augment"]
    summary = pd.read_json(fitted / "out/08_reporting/padim_model_summary.json", typ="series")
    assert summary["faces"] == OK_COUNT and summary["channels"] == 100

    run_pipeline(score_pipeline(), fitted / "raw", fitted / "scored", {"normalize.normalizer": "mirror"},
                 models_dir=fitted / "models")  # fmt: skip
    scores = pd.read_csv(fitted / "scored/scores.csv")
    ok = scores[scores["status"] == "ok"]
    assert len(ok) == OK_COUNT
    assert ok["padim__lower_face__topk"].gt(0).all() and ok["shape_residual__lips__mean"].gt(0).all()
    # Each column is the library's value on the aligned face the run wrote.
    report = latest_table(fitted / "scored", "normalize_report")
    row = report[report["status"] == "ok"].iloc[0]
    face = read_aligned_face(
        ArtifactFolder(str(fitted / "scored/02_intermediate/aligned")),
        aligned_name(row["image_id"]),
        Provenance(STAGE, row["source_sha1"], row["aligned_key"]),
    )
    (shape_file,) = glob.glob(str(fitted / "models/shape_model.npz/*/shape_model.npz"))
    expected = shape_residual_score(
        face.landmarks, ShapeModel.load(shape_file), ShapeResidualConfig(landmarks="lips", summary="mean")
    )
    value = ok.set_index("image").loc[row["image"], "shape_residual__lips__mean"]
    assert value == pytest.approx(expected, rel=1e-9)
    heat = padim.score_map(face.rgb, face.landmarks)
    assert heat.shape == face.rgb.shape[:2] and heat.max() > 0

    # The normal-variation maps add the z-scored summaries, equal to the library's.
    import yaml
    from kedro_helpers import PROJECT_ROOT

    from facial_anomaly.batch.heatmaps import load_normal_variation, z_grid
    from facial_anomaly.heatmaps.config import HeatmapsConfig
    from facial_anomaly.scoring import score_variants

    (maps_file,) = glob.glob(str(fitted / "models/normal_variation.npz/*/normal_variation.npz"))
    maps = load_normal_variation(Path(maps_file).read_bytes())
    assert sorted(maps.maps) == ["mirror"]
    heat_summary = pd.read_json(fitted / "scored/08_reporting/heatmaps_summary.json", typ="series")
    assert heat_summary["normal_variation"]["path"] == maps_file
    column = "mirror.pse_ycbcr_eroded__lower_face__ztopk"
    assert ok[column].notna().all() and ok["mirror.pse_ycbcr_eroded__lower_face__topk"].notna().all()
    normalized = decode_png(
        (fitted / f"scored/03_primary/normalized/mirror/{row['image_id']}.png").read_bytes(), channels=3
    )
    # The grid the stage scored (its window over the regions decides the z maps' edges).
    config = HeatmapsConfig.model_validate(
        yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_heatmaps.yml").read_text())["heatmaps"]
    )
    grid = z_grid({**config.grid.model_dump(), "kinds": [k for k in config.grid.kinds if k != "lpips"]})
    expected = score_variants(
        face.rgb, normalized, face.landmarks, grid=grid, statistic="anomaly_score",
        normal_variation=maps.for_normalizer("mirror"),
        **config.scoring_options(),
    )[column.split(".", 1)[1]]  # fmt: skip
    assert ok.set_index("image").loc[row["image"], column] == pytest.approx(expected, rel=1e-6)


def test_maps_fitted_for_another_grid_stop_the_run_with_the_fix(fitted, tmp_path):
    from facial_anomaly.pipelines.score_photos import create_pipeline as score_pipeline

    other_grid = {"normalize.normalizer": "mirror", "heatmaps.grid.color_spaces": ["rgb"]}
    with pytest.raises(
        Exception,
        match=r"heatmaps\.grid: the normal-variation maps of normalizer 'mirror' were "
        r"fitted for another grid and lack \['pse_eroded', .*fit_normal_models",
    ):
        run_pipeline(score_pipeline(), fitted / "raw", tmp_path / "scored", other_grid, models_dir=fitted / "models")
