"""The preprocess stage run through Kedro runners and a real KedroSession."""

from __future__ import annotations

import glob

import numpy as np
import pandas as pd
from kedro.runner import SequentialRunner
from kedro_helpers import build_catalog

from facial_anomaly.faces import eye_centers, image_id_from_path
from facial_anomaly.faces.tables import landmarks_by_image
from facial_anomaly.pipelines.preprocess import create_pipeline

EXPECTED_STATUS = {
    "demo_astronaut.png": "ok",
    "demo_astronaut_mirrored.jpg": "ok",
    "demo_astronaut_rolled.png": "ok",
    "demo_astronaut_bright.jpg": "ok",
    "demo_astronaut_gray.png": "ok",
    "demo_astronaut_16bit.png": "ok",
    "demo_astronaut_rgba.png": "ok",
    "demo_astronaut_exif_orientation.jpg": "ok",
    "sub folder/demo astronaut small.webp": "too_small",
    "rejected/demo_no_face_coffee.jpg": "no_face",
    "rejected/demo_truncated.jpg": "unreadable",
    "rejected/demo_tiny.png": "too_small",
    "rejected/demo_notes.txt": "unsupported_format",
}


def latest(pattern: str) -> str:
    return sorted(glob.glob(pattern))[-1]


def run_preprocess(input_dir, output_dir, **extra):
    catalog = build_catalog(input_dir, output_dir, extra)
    SequentialRunner().run(create_pipeline(), catalog)
    return catalog


def test_every_input_file_gets_a_report_row_and_ok_faces_get_outputs(sample_input, tmp_path):
    out = tmp_path / "out"
    run_preprocess(sample_input, out)
    report = pd.read_parquet(latest(str(out / "02_intermediate/preprocess_report.parquet/*/preprocess_report.parquet")))
    assert dict(zip(report["image"], report["status"])) == EXPECTED_STATUS  # .gitkeep is housekeeping
    assert (report["detail"].fillna("") != "").sum() == (report["status"] != "ok").sum()
    ok_ids = set(report.loc[report["status"] == "ok", "image_id"])
    aligned = {p.stem for p in (out / "02_intermediate/aligned").glob("*.png")}
    assert aligned == ok_ids
    from facial_anomaly.datasets import PngArrayDataset
    from facial_anomaly.faces.background import unpack_face_and_mask

    rgba = PngArrayDataset(
        filepath=str(out / "02_intermediate/aligned" / f"{sorted(ok_ids)[0]}.png"), mode="rgba"
    ).load()
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
    assert summary["files"] == len(EXPECTED_STATUS) and summary["ok"] == 8 and summary["rejected"] == 5


def test_image_id_maps_back_to_the_input_path(sample_input, tmp_path):
    out = tmp_path / "out"
    run_preprocess(sample_input, out)
    report = pd.read_parquet(latest(str(out / "02_intermediate/preprocess_report.parquet/*/*.parquet")))
    for image, image_id in zip(report["image"], report["image_id"]):
        assert image_id == image_id_from_path(image)


def test_rerun_skips_unchanged_images_and_force_recomputes(sample_input, tmp_path):
    out = tmp_path / "out"
    run_preprocess(sample_input, out)
    crop = next((out / "02_intermediate/aligned").glob("*.png"))
    first_mtime = crop.stat().st_mtime_ns

    run_preprocess(sample_input, out)
    report = pd.read_parquet(latest(str(out / "02_intermediate/preprocess_report.parquet/*/*.parquet")))
    readable = report["status"] != "unsupported_format"
    assert report.loc[readable, "reused"].all()
    assert crop.stat().st_mtime_ns == first_mtime

    # A changed file is recomputed; the others are still reused.
    changed = sample_input / "demo_astronaut_bright.jpg"
    changed.write_bytes((sample_input / "demo_astronaut_mirrored.jpg").read_bytes())
    run_preprocess(sample_input, out)
    report = pd.read_parquet(latest(str(out / "02_intermediate/preprocess_report.parquet/*/*.parquet")))
    reused = dict(zip(report["image"], report["reused"]))
    assert not reused["demo_astronaut_bright.jpg"] and reused["demo_astronaut.png"]

    run_preprocess(sample_input, out, **{"preprocess.force": True})
    report = pd.read_parquet(latest(str(out / "02_intermediate/preprocess_report.parquet/*/*.parquet")))
    assert not report["reused"].any()
    assert crop.stat().st_mtime_ns != first_mtime


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
    report = pd.read_parquet(latest(str(out / "02_intermediate/preprocess_report.parquet/*/*.parquet")))
    assert not report["reused"].any()
    crop = next((out / "02_intermediate/aligned").glob("*.png"))
    from facial_anomaly.datasets import PngArrayDataset

    assert PngArrayDataset(filepath=str(crop), mode="rgba").load().shape == (256, 256, 4)


def test_outputs_are_lazy_callables(sample_input, tmp_path):
    """Crops are produced one at a time while saving, so memory does not grow with the input."""
    from facial_anomaly.pipelines.preprocess.nodes import locate_faces, render_aligned_faces

    catalog = build_catalog(sample_input, tmp_path / "out")
    raw = catalog.load("raw_images")
    params, presets = catalog.load("params:preprocess"), catalog.load("params:alignment_presets")
    geometry = locate_faces(raw, None, params, presets)
    crops = render_aligned_faces(raw, geometry, {}, params, presets)
    assert len(crops) == 8 and all(callable(make) for make in crops.values())
    assert next(iter(crops.values()))().shape == (512, 512, 4)


def test_empty_input_folder_gives_empty_report(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / ".gitkeep").write_text("")
    out = tmp_path / "out"
    run_preprocess(tmp_path / "raw", out)
    report = pd.read_parquet(latest(str(out / "02_intermediate/preprocess_report.parquet/*/*.parquet")))
    assert report.empty and "status" in report.columns
