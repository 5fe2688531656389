"""Faults: a run killed at any stage and rerun after some photos were replaced gives exactly
the scores of a clean run on the new photos; two runs cannot share an output folder; a full
disk stops the run clearly and a rerun after freeing space matches a clean run."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from project_paths import PROJECT_ROOT

from facial_anomaly.batch.faults import ENVIRONMENT_VARIABLE, EXIT_CODE

PHOTOS = 5
REPLACED = ("photo_1.jpg", "photo_3.jpg", "photo_4.jpg")  # before and after the crash point


def kedro_run(
    input_dir: Path, output_dir: Path, *, exit_at: str | None = None, extra: str = ""
) -> subprocess.CompletedProcess:
    env = {**os.environ, "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "true", "OMP_NUM_THREADS": "1"}
    env.pop(ENVIRONMENT_VARIABLE, None)
    if exit_at:
        env[ENVIRONMENT_VARIABLE] = exit_at
    params = f"input_dir={input_dir},output_dir={output_dir},mlflow_tracking=false,executor.kind=serial{extra}"
    return subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--pipelines", "score_photos", "--params", params],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def photo_variants(astronaut_jpeg: bytes) -> list[bytes]:
    """Distinct photos of one face: shifts and brightness changes of the astronaut."""
    import io

    from PIL import Image, ImageEnhance

    base = Image.open(io.BytesIO(astronaut_jpeg)).convert("RGB")
    photos = []
    for index in range(PHOTOS):
        image = ImageEnhance.Brightness(base.rotate(2.0 * index, fillcolor=(120, 120, 120))).enhance(0.9 + 0.05 * index)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        photos.append(buffer.getvalue())
    return photos


def write_photos(folder: Path, photos: list[bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, data in enumerate(photos):
        (folder / f"photo_{index}.jpg").write_bytes(data)


def scores(output: Path) -> pd.DataFrame:
    table = pd.read_csv(output / "scores.csv").set_index("image").sort_index()
    return table.drop(columns=[c for c in table.columns if c.endswith("params_hash")], errors="ignore")


def assert_same_scores(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got.index) == list(expected.index)
    assert (got["status"] == expected["status"]).all()
    numeric = [c for c in expected.columns if pd.api.types.is_numeric_dtype(expected[c])]
    np.testing.assert_allclose(
        got[numeric].to_numpy(float), expected[numeric].to_numpy(float), rtol=1e-9, equal_nan=True
    )


@pytest.fixture(scope="module")
def photo_sets(tmp_path_factory, astronaut_jpeg, other_face_jpeg):
    root = tmp_path_factory.mktemp("faults")
    before = photo_variants(astronaut_jpeg)
    after = list(before)
    for name in REPLACED:  # other people's photos under the same names
        after[int(name.split("_")[1].split(".")[0])] = other_face_jpeg
    write_photos(root / "clean_after", after)
    assert kedro_run(root / "clean_after", root / "clean_out").returncode == 0
    return {"root": root, "before": before, "after": after, "clean": scores(root / "clean_out")}


@pytest.mark.parametrize("stage", ["preprocess", "normalize", "heatmaps"])
def test_a_run_killed_at_any_stage_then_rerun_on_changed_photos_matches_a_clean_run(photo_sets, stage):
    root = photo_sets["root"]
    folder, output = root / f"in_{stage}", root / f"out_{stage}"
    write_photos(folder, photo_sets["before"])
    assert kedro_run(folder, output).returncode == 0  # a complete earlier run on the old photos
    crashed = kedro_run(
        folder, output, exit_at=f"{stage}:3", extra=",preprocess.force=true" if stage == "preprocess" else ""
    )
    assert crashed.returncode == EXIT_CODE, crashed.stderr[-2000:]
    write_photos(folder, photo_sets["after"])
    rerun = kedro_run(folder, output)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert_same_scores(scores(output), photo_sets["clean"])


def test_a_foreign_aligned_face_in_place_of_the_right_one_is_recomputed(photo_sets):
    root = photo_sets["root"]
    folder, output = root / "in_foreign", root / "out_foreign"
    write_photos(folder, photo_sets["after"])
    assert kedro_run(folder, output).returncode == 0
    aligned = sorted((output / "02_intermediate/aligned").glob("*.png"))
    shutil.copyfile(aligned[0], aligned[1])  # a valid PNG of another photo under this image's name
    rerun = kedro_run(folder, output)
    assert rerun.returncode == 0
    assert_same_scores(scores(output), photo_sets["clean"])
    report = pd.read_parquet(sorted((output / "08_reporting/preprocess_report.parquet").glob("*/*.parquet"))[-1])
    assert not report.set_index("image_id").loc[aligned[1].stem, "reused"]


def test_a_second_run_on_the_same_output_fails_at_once_naming_the_holder(tmp_path, astronaut_jpeg):
    from facial_anomaly.storage.lock import OutputLock, OutputLocked

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from facial_anomaly.storage.lock import OutputLock; "
         f"lock = OutputLock({str(tmp_path / 'out')!r}, 'holder'); lock.acquire(); print('held', flush=True); time.sleep(300)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.perf_counter()
        with pytest.raises(OutputLocked, match=rf"pid {holder.pid} on host .*, started .*holder"):
            OutputLock(tmp_path / "out").acquire()
        assert time.perf_counter() - started < 1.0  # at once, not after a wait
        write_photos(tmp_path / "in", [astronaut_jpeg])
        second = kedro_run(tmp_path / "in", tmp_path / "out")
        assert second.returncode != 0 and f"pid {holder.pid}" in second.stderr + second.stdout
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The holder died without releasing: its lock is taken over by the next run.
    third = kedro_run(tmp_path / "in", tmp_path / "out")
    assert third.returncode == 0, third.stderr[-2000:]
    assert (tmp_path / "out/scores.csv").exists()
    with OutputLock(tmp_path / "out"):  # released at the end of the run
        pass


def test_a_full_disk_stops_the_stage_clearly_and_a_rerun_matches_a_clean_run(tmp_path, monkeypatch, astronaut_jpeg):
    from facial_anomaly import atomic
    from facial_anomaly.batch.normalize import normalize_faces
    from facial_anomaly.batch.preprocess import preprocess_folder, preprocess_tables
    from facial_anomaly.faces.config import PreprocessConfig
    from facial_anomaly.normalizers.config import NormalizeConfig
    from facial_anomaly.parallel import ExecutorConfig
    from facial_anomaly.storage.artifacts import ArtifactFolder
    from facial_anomaly.storage.inputs import list_inputs

    write_photos(tmp_path / "in", photo_variants(astronaut_jpeg)[:3])
    serial = ExecutorConfig(kind="serial")

    def run(out: Path) -> pd.DataFrame:
        entries = list_inputs(str(tmp_path / "in"))
        aligned = ArtifactFolder(str(out / "aligned"))
        report, _, _ = preprocess_tables(
            preprocess_folder(str(tmp_path / "in"), entries, aligned, PreprocessConfig(), serial)
        )
        return normalize_faces(report, aligned, ArtifactFolder(str(out / "normalized")), NormalizeConfig(), {}, serial)

    original = atomic.os.replace
    writes = {"count": 0}

    def full_disk(source, target):
        writes["count"] += 1
        if writes["count"] > 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        return original(source, target)

    monkeypatch.setattr(atomic.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        run(tmp_path / "out")
    monkeypatch.setattr(atomic.os, "replace", original)
    assert not list((tmp_path / "out").rglob("*.partial"))  # no half-written file left behind
    again = run(tmp_path / "out")
    clean = run(tmp_path / "clean")
    pd.testing.assert_frame_equal(
        again.drop(columns=["reused"]).reset_index(drop=True), clean.drop(columns=["reused"]).reset_index(drop=True)
    )
