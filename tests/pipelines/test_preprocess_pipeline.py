"""The preprocess stage run through a Kedro runner on a hand-built catalog."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro_helpers import latest_table, run_pipeline
from sample_expectations import EXPECTED_STATUS, OK_COUNT

from facial_anomaly.faces import eye_centers, image_id_from_path
from facial_anomaly.faces.tables import landmarks_by_image
from facial_anomaly.pipelines.preprocess import create_pipeline
from facial_anomaly.storage.artifacts import ArtifactFolder, decode_png


def run_preprocess(input_dir, output_dir, **extra):
    return run_pipeline(create_pipeline(), input_dir, output_dir, extra)


def aligned_pngs(out) -> dict[str, bytes]:
    return {p.stem: p.read_bytes() for p in (out / "02_intermediate/aligned").glob("*.png")}


def test_every_input_file_gets_a_report_row_and_ok_faces_get_outputs(sample_input, tmp_path):
    out = tmp_path / "out"
    run_preprocess(sample_input, out)
    report = latest_table(out, "preprocess_report")
    assert dict(zip(report["image"], report["status"])) == EXPECTED_STATUS
    assert (report["detail"].fillna("") != "").sum() == (report["status"] != "ok").sum()
    ok_ids = set(report.loc[report["status"] == "ok", "image_id"])
    assert set(aligned_pngs(out)) == ok_ids
    from facial_anomaly.faces.background import unpack_face_and_mask

    rgba = decode_png(aligned_pngs(out)[sorted(ok_ids)[0]], channels=4)
    face, mask = unpack_face_and_mask(rgba)
    assert face.shape == (512, 512, 3) and mask.shape == (512, 512)
    assert mask[256, 256] > 0.9 and mask[3, 3] < 0.5  # face centre is foreground, corner is not

    landmarks = landmarks_by_image(pd.read_parquet(out / "02_intermediate/landmarks.parquet"))
    assert set(landmarks) == ok_ids
    for image_id, points in landmarks.items():
        assert points.shape == (478, 3)
        left, right = eye_centers(points)
        assert abs(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0]))) < 0.5, image_id
        assert abs(np.hypot(*(right - left)) - 140.0) < 1.0, image_id
    alignment = pd.read_parquet(out / "02_intermediate/alignment.parquet")
    assert set(alignment["image_id"]) == ok_ids
    assert alignment[["m00", "m01", "m02", "m10", "m11", "m12"]].notna().all().all()

    summary = pd.read_json(out / "08_reporting/preprocess_summary.json", typ="series")
    assert summary["files"] == len(EXPECTED_STATUS) and summary["ok"] == OK_COUNT
    assert summary["rejected"] == len(EXPECTED_STATUS) - OK_COUNT


def test_each_aligned_face_carries_its_own_provenance_and_geometry(sample_input, tmp_path):
    out = tmp_path / "out"
    run_preprocess(sample_input, out)
    report = latest_table(out, "preprocess_report").set_index("image_id")
    folder = ArtifactFolder(str(out / "02_intermediate/aligned"))
    landmarks = landmarks_by_image(pd.read_parquet(out / "02_intermediate/landmarks.parquet"), coordinates="source")
    for image_id in report.index[report["status"] == "ok"]:
        provenance = folder.png_provenance(f"{image_id}.png")
        assert provenance.stage == "preprocess"
        assert provenance.source_sha1 == report.loc[image_id, "source_sha1"]
        assert provenance.key == report.loc[image_id, "params_hash"]
        stored = np.asarray(provenance.record["landmarks"]).reshape(478, 3)
        np.testing.assert_allclose(stored[:, :2], landmarks[image_id][:, :2], atol=1e-3)


def test_image_id_maps_back_to_the_input_path(sample_input, tmp_path):
    out = tmp_path / "out"
    run_preprocess(sample_input, out)
    report = latest_table(out, "preprocess_report")
    for image, image_id in zip(report["image"], report["image_id"]):
        assert image_id == image_id_from_path(image)


def test_rerun_skips_unchanged_images_and_force_recomputes(sample_input, tmp_path):
    out = tmp_path / "out"
    run_preprocess(sample_input, out)
    crop = next((out / "02_intermediate/aligned").glob("*.png"))
    first_mtime, first_bytes = crop.stat().st_mtime_ns, crop.read_bytes()

    run_preprocess(sample_input, out)
    report = latest_table(out, "preprocess_report")
    assert report.loc[report["status"] == "ok", "reused"].all()
    assert crop.stat().st_mtime_ns == first_mtime

    # A changed file is recomputed; the others are still reused.
    changed = sample_input / "demo_astronaut_bright.jpg"
    changed.write_bytes((sample_input / "demo_astronaut_mirrored.jpg").read_bytes())
    run_preprocess(sample_input, out)
    report = latest_table(out, "preprocess_report")
    reused = dict(zip(report["image"], report["reused"]))
    assert not reused["demo_astronaut_bright.jpg"] and reused["demo_astronaut.png"]

    run_preprocess(sample_input, out, **{"preprocess.force": True})
    report = latest_table(out, "preprocess_report")
    assert not report["reused"].any()
    # Recomputed to the same bytes (the file is then left as it was, not rewritten).
    assert crop.read_bytes() == first_bytes


def test_deleted_crop_is_rendered_again(sample_input, tmp_path):
    out = tmp_path / "out"
    run_preprocess(sample_input, out)
    crop = next((out / "02_intermediate/aligned").glob("*.png"))
    crop.unlink()
    run_preprocess(sample_input, out)
    assert crop.exists()


def test_changed_settings_invalidate_earlier_results(sample_input, tmp_path):
    out = tmp_path / "out"
    run_preprocess(sample_input, out)
    run_preprocess(sample_input, out, **{"preprocess.alignment_preset": "small_256"})
    report = latest_table(out, "preprocess_report")
    assert not report["reused"].any()
    crop = next((out / "02_intermediate/aligned").glob("*.png"))
    assert decode_png(crop.read_bytes(), channels=4).shape == (256, 256, 4)


@pytest.mark.parametrize("kind", ["serial", "processes"])
def test_executors_give_identical_reports_and_faces(sample_input, tmp_path, kind):
    reference, other = tmp_path / "serial", tmp_path / kind
    run_preprocess(sample_input, reference, **{"executor.kind": "serial"})
    run_preprocess(sample_input, other, **{"executor.kind": kind, "executor.workers": 2, "executor.chunk_size": 2})
    columns = ["image_id", "image", "status", "detail", "source_sha1", "params_hash"]
    pd.testing.assert_frame_equal(
        latest_table(reference, "preprocess_report")[columns], latest_table(other, "preprocess_report")[columns]
    )
    assert aligned_pngs(reference) == aligned_pngs(other)  # bit for bit


def test_empty_input_folder_gives_empty_report(tmp_path):
    (tmp_path / "raw").mkdir()
    out = tmp_path / "out"
    run_preprocess(tmp_path / "raw", out)
    report = latest_table(out, "preprocess_report")
    assert report.empty and "status" in report.columns
