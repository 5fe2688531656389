"""Wrong parameters fail before any work, with one line naming the parameter, the value and
what is allowed."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro_helpers import run_session


def fails_before_work(tmp_path, monkeypatch, pipeline: str, match: str, **params) -> str:
    params.setdefault("output_dir", str(tmp_path / "out"))
    with pytest.raises(Exception, match=match) as caught:
        run_session(tmp_path, monkeypatch, pipeline, mlflow_tracking="false", **params)
    assert not (tmp_path / "out/02_intermediate").exists()  # no photo was touched
    message = str(caught.value)
    return message


def test_a_missing_input_folder_is_named(tmp_path, monkeypatch):
    message = fails_before_work(
        tmp_path, monkeypatch, "score_photos", r"input_dir='.*nope': no such folder", input_dir=str(tmp_path / "nope")
    )
    assert "\n" not in message


def test_an_input_file_instead_of_a_folder_is_named(tmp_path, monkeypatch):
    (tmp_path / "photo.jpg").write_bytes(b"x")
    fails_before_work(
        tmp_path,
        monkeypatch,
        "preprocess",
        r"input_dir=.*is a file, not a folder",
        input_dir=str(tmp_path / "photo.jpg"),
    )


def test_an_unknown_normalizer_lists_every_known_one(sample_input, tmp_path, monkeypatch):
    fails_before_work(
        tmp_path, monkeypatch, "score_photos",
        r"normalize\.normalizer: .*unknown normalizer 'symetry'; known: symmetry, mirror, shape_model, "
        r"appearance_model, inpaint, stylegan2, ganomaly, autoencoder",
        input_dir=str(sample_input), normalize={"normalizer": "symetry"},
    )  # fmt: skip


def test_an_output_folder_that_cannot_be_written_is_named(sample_input, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    fails_before_work(
        tmp_path, monkeypatch, "preprocess", r"output_dir='.*file/out': cannot be written",
        input_dir=str(sample_input), output_dir=str(tmp_path / "file/out"),
    )  # fmt: skip


def test_an_output_folder_inside_the_input_folder_is_refused(sample_input, tmp_path, monkeypatch):
    with pytest.raises(Exception, match=r"output_dir=.* lies inside input_dir="):
        run_session(tmp_path, monkeypatch, "preprocess", mlflow_tracking="false",
                    input_dir=str(sample_input), output_dir=str(sample_input / "results"))  # fmt: skip
    assert not (sample_input / "results/02_intermediate").exists()


def test_a_mistyped_runtime_parameter_is_named_with_a_suggestion(sample_input, tmp_path, monkeypatch):
    fails_before_work(
        tmp_path, monkeypatch, "preprocess", r"unknown parameter 'input_dri'; did you mean 'input_dir'\?",
        input_dri=str(sample_input),
    )  # fmt: skip


def test_a_labels_table_without_label_or_severity_is_refused(tmp_path, monkeypatch):
    pd.DataFrame({"image": ["a.jpg"], "anomaly_score": [1.0], "status": ["ok"]}).to_csv(tmp_path / "s.csv", index=False)
    pd.DataFrame({"image": ["a.jpg"], "grade": [2]}).to_csv(tmp_path / "labels.csv", index=False)
    fails_before_work(
        tmp_path, monkeypatch, "evaluate", r"labels=.*labels\.csv': needs a column 'label' or 'severity'",
        scores=str(tmp_path / "s.csv"), labels=str(tmp_path / "labels.csv"),
    )  # fmt: skip


def test_a_missing_labels_file_is_named(tmp_path, monkeypatch):
    pd.DataFrame({"image": ["a.jpg"], "anomaly_score": [1.0], "status": ["ok"]}).to_csv(tmp_path / "s.csv", index=False)
    fails_before_work(
        tmp_path, monkeypatch, "evaluate", r"labels='.*missing\.csv': no such file",
        scores=str(tmp_path / "s.csv"), labels=str(tmp_path / "missing.csv"),
    )  # fmt: skip


def test_a_default_variant_the_grid_does_not_compute_is_refused(sample_input, tmp_path, monkeypatch):
    grid = {"kinds": ["pse"], "lcn": [False], "color_spaces": ["ycbcr"], "erosion": [True],
            "regions": ["mouth_nose"], "summaries": ["mean"], "variants": []}  # fmt: skip
    message = fails_before_work(
        tmp_path, monkeypatch, "score_photos",
        r"scores\.default_variant='deep_base__lower_face__topk' is not a variant of heatmaps\.grid",
        input_dir=str(sample_input), heatmaps={"grid": grid},
    )  # fmt: skip
    assert "\n" not in message and "heatmaps.grid.variants" in message
