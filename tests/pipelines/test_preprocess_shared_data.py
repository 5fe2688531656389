"""Preprocessing on the real photos in ../shared/data (skipped when the folder is absent).

The photos are read in place; nothing derived from them is written outside pytest's
temporary folder.
"""

from __future__ import annotations

import pytest
from kedro_helpers import latest_table, run_pipeline

from facial_anomaly.faces import is_supported
from facial_anomaly.pipelines.preprocess import create_pipeline

pytestmark = pytest.mark.shared_data


@pytest.mark.parametrize("folder", ["london_neutral", "canada"])
def test_at_least_98_percent_of_frontal_photos_are_ok(shared_faces, tmp_path, folder):
    out = tmp_path / "out"
    run_pipeline(create_pipeline(), shared_faces / folder, out)
    report = latest_table(out, "preprocess_report")
    images = report[report["image"].map(is_supported)]
    n_files = sum(1 for p in (shared_faces / folder).rglob("*") if p.is_file())
    assert len(report) == n_files  # every file has a row, sidecars (.tem) included
    assert (report.loc[~report["image"].map(is_supported), "status"] == "unsupported_format").all()
    ok_share = (images["status"] == "ok").mean()
    assert ok_share >= 0.98, images.loc[images["status"] != "ok", ["image", "status", "detail"]].to_string()
    assert (out / "02_intermediate/aligned").exists()
    assert len(list((out / "02_intermediate/aligned").glob("*.png"))) == (images["status"] == "ok").sum()
