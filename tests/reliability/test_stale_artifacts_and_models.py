"""Stale, foreign and corrupt artifacts and models: a file that is not what the run needs is
recomputed (artifacts) or refused with its path and the mismatch (models), never used; a
model a run does not use cannot break it."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from kedro_helpers import latest_table, run_pipeline

from facial_anomaly.normalizers import ShapeModel, load_state, save_state
from facial_anomaly.normalizers.factory import model_from_bytes
from facial_anomaly.provenance import ModelMismatch, landmark_order_problem
from facial_anomaly.storage.artifacts import ArtifactFolder, Provenance, encode_png, png_intact


@pytest.fixture(scope="module")
def shape_model(astronaut_aligned) -> ShapeModel:
    rng = np.random.default_rng(0)
    shapes = [
        astronaut_aligned["landmarks"] + rng.normal(0, 1.0, astronaut_aligned["landmarks"].shape) for _ in range(6)
    ]
    return ShapeModel.fit(
        shapes,
        explained_variance=0.9,
        max_components=3,
        mirror_augment=True,
        procrustes_iterations=5,
        procrustes_tolerance=1e-7,
        training_data="test",
    )


def model_bytes(arrays, metadata) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, __metadata_json__=np.array(__import__("json").dumps(metadata)))
    return buffer.getvalue()


def saved(model: ShapeModel, tmp_path) -> bytes:
    path = tmp_path / "shape_model.npz"
    model.save(path)
    return path.read_bytes()


def test_a_valid_model_loads(shape_model, tmp_path):
    loaded = model_from_bytes("shape_model", saved(shape_model, tmp_path), source="models/shape_model.npz")
    np.testing.assert_array_equal(loaded.mean, shape_model.mean)


def test_a_model_with_its_landmark_order_reversed_is_refused_naming_the_file(shape_model, tmp_path):
    arrays, metadata = shape_model.to_state()
    reversed_mean = arrays["mean"][::-1].copy()
    assert landmark_order_problem(reversed_mean)
    data = model_bytes({**arrays, "mean": reversed_mean}, metadata)
    with pytest.raises(ModelMismatch, match=r"models/shape_model\.npz: the landmark order does not match FaceMesh"):
        model_from_bytes("shape_model", data, source="models/shape_model.npz")


def test_a_model_of_another_kind_or_schema_or_without_provenance_is_refused(shape_model, tmp_path):
    arrays, metadata = shape_model.to_state()
    other_kind = {**metadata, "provenance": {**metadata["provenance"], "kind": "appearance_model"}}
    with pytest.raises(ModelMismatch, match="holds a 'appearance_model' model, not a 'shape_model'"):
        model_from_bytes("shape_model", model_bytes(arrays, other_kind), source="m.npz")
    old_schema = {**metadata, "provenance": {**metadata["provenance"], "schema_version": 0}}
    with pytest.raises(ModelMismatch, match="schema version 0"):
        model_from_bytes("shape_model", model_bytes(arrays, old_schema), source="m.npz")
    no_provenance = {key: value for key, value in metadata.items() if key != "provenance"}
    with pytest.raises(ModelMismatch, match="m.npz: no provenance record"):
        model_from_bytes("shape_model", model_bytes(arrays, no_provenance), source="m.npz")
    other_layout = {**metadata, "provenance": {**metadata["provenance"], "landmarks": {"count": 68, "layout": "x"}}}
    with pytest.raises(ModelMismatch, match="landmark layout of 68 points"):
        model_from_bytes("shape_model", model_bytes(arrays, other_layout), source="m.npz")


def test_a_corrupt_model_file_is_refused_naming_it():
    with pytest.raises(ModelMismatch, match=r"models/shape_model\.npz: not a readable shape_model file"):
        model_from_bytes("shape_model", b"PK\x03\x04 not really a zip", source="models/shape_model.npz")


def test_pickled_arrays_are_never_loaded(shape_model, tmp_path):
    arrays, metadata = shape_model.to_state()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, evil=np.array([object()], dtype=object), __metadata_json__=np.array("{}"))
    with pytest.raises(ModelMismatch, match="not a readable"):
        model_from_bytes("shape_model", buffer.getvalue(), source="m.npz")


def test_a_corrupt_model_the_run_does_not_use_does_not_break_it(sample_input, tmp_path):
    from facial_anomaly.pipelines.normalize import create_pipeline as normalize_pipeline
    from facial_anomaly.pipelines.preprocess import create_pipeline as preprocess_pipeline

    models = tmp_path / "models"
    (models / "shape_model.npz").mkdir(parents=True)
    (models / "shape_model.npz" / "2026-01-01T00.00.00.000Z").mkdir()
    (models / "shape_model.npz" / "2026-01-01T00.00.00.000Z" / "shape_model.npz").write_bytes(b"garbage")
    pipeline = preprocess_pipeline() + normalize_pipeline()
    run_pipeline(pipeline, sample_input, tmp_path / "out", {"normalize.normalizer": "symmetry"}, models_dir=models)
    report = latest_table(tmp_path / "out", "normalize_report")
    assert (report["status"] == "ok").sum() == 8
    with pytest.raises(Exception, match=r"shape_model\.npz: not a readable shape_model file"):
        run_pipeline(
            pipeline, sample_input, tmp_path / "out", {"normalize.normalizer": "shape_model"}, models_dir=models
        )


def test_damaged_or_foreign_artifacts_are_recomputed_not_reused(sample_input, tmp_path):
    from facial_anomaly.pipelines.score_photos import create_pipeline

    out = tmp_path / "out"
    run_pipeline(create_pipeline(), sample_input, out)
    clean = pd.read_csv(out / "scores.csv")
    aligned = sorted((out / "02_intermediate/aligned").glob("*.png"))
    normalized = sorted((out / "03_primary/normalized/mirror").glob("*.png"))
    heatmaps = sorted((out / "04_feature/heatmaps/mirror").glob("*.npz"))
    aligned[0].write_bytes(aligned[0].read_bytes()[:-100])  # truncated
    normalized[1].write_bytes(normalized[2].read_bytes())  # another image's normalized face
    heatmaps[3].write_bytes(heatmaps[3].read_bytes()[:500])  # damaged
    # A valid PNG with no provenance at all, put there by hand.
    normalized[4].write_bytes(encode_png(np.zeros((512, 512, 3), np.uint8)))
    run_pipeline(create_pipeline(), sample_input, out)
    pd.testing.assert_frame_equal(pd.read_csv(out / "scores.csv"), clean)
    reused = {
        stage: latest_table(out, f"{stage}_report").set_index("image_id")["reused"]
        for stage in ("preprocess", "normalize", "heatmaps")
    }
    assert not reused["preprocess"][aligned[0].stem]
    assert not reused["normalize"][normalized[1].stem] and not reused["normalize"][normalized[4].stem]
    assert not reused["heatmaps"][heatmaps[3].stem]


def test_png_integrity_check_catches_truncation_and_bit_flips():
    data = encode_png(np.full((32, 32, 3), 7, np.uint8), Provenance("s", "a", "k"))
    assert png_intact(data)
    assert not png_intact(data[:-1])
    flipped = bytearray(data)
    flipped[len(data) - 20] ^= 0xFF  # inside the pixel data, after the record
    assert not png_intact(bytes(flipped))
    folder = ArtifactFolder("memory://intact-test")
    folder.write("a.png", bytes(flipped))
    assert folder.intact_png_provenance("a.png") is None and folder.png_provenance("a.png") is not None


def test_load_state_round_trip_keeps_provenance(shape_model, tmp_path):
    save_state(tmp_path / "m.npz", *shape_model.to_state())
    arrays, metadata = load_state(tmp_path / "m.npz")
    assert metadata["provenance"]["training_data"] == "test"
