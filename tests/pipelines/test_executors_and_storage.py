"""The scoring contract gives the same scores.csv on every executor, and runs on any fsspec
storage (``memory://`` stands in for an object store here)."""

from __future__ import annotations

import fsspec
import pandas as pd
import pytest
from kedro_helpers import run_pipeline
from sample_expectations import EXPECTED_STATUS

from facial_anomaly.pipelines.score_photos import create_pipeline


@pytest.fixture(scope="module")
def serial_scores(tmp_path_factory):
    from facial_anomaly.sample import write_embedded_sample

    root = tmp_path_factory.mktemp("executors")
    write_embedded_sample(root / "raw")
    run_pipeline(create_pipeline(), root / "raw", root / "serial", {"executor.kind": "serial"})
    return root, pd.read_csv(root / "serial/scores.csv")


@pytest.mark.parametrize(
    "executor",
    [
        {"executor.kind": "processes", "executor.workers": 2, "executor.chunk_size": 2},
        {"executor.kind": "dask", "executor.workers": 2, "executor.chunk_size": 2},
    ],
    ids=["processes", "dask"],
)
def test_every_executor_gives_the_serial_scores_bit_for_bit_in_the_same_order(serial_scores, executor):
    from facial_anomaly.parallel import shutdown

    root, expected = serial_scores
    out = root / executor["executor.kind"]
    try:
        run_pipeline(create_pipeline(), root / "raw", out, executor)
    finally:
        shutdown()
    pd.testing.assert_frame_equal(pd.read_csv(out / "scores.csv"), expected)
    for folder in ("02_intermediate/aligned", "03_primary/normalized/symmetry"):
        for path in (root / "serial" / folder).glob("*.png"):
            assert (out / folder / path.name).read_bytes() == path.read_bytes()


def test_the_contract_runs_on_an_fsspec_url_and_matches_a_local_run(serial_scores):
    root, expected = serial_scores
    memory = fsspec.filesystem("memory")
    for path in (root / "raw").rglob("*"):
        if path.is_file():
            memory.pipe_file(f"/contract-in/{path.relative_to(root / 'raw').as_posix()}", path.read_bytes())
    run_pipeline(create_pipeline(), "memory:///contract-in", "memory:///contract-out", {"executor.kind": "serial"})
    with memory.open("/contract-out/scores.csv") as handle:
        got = pd.read_csv(handle)
    pd.testing.assert_frame_equal(got, expected)
    assert memory.exists("/contract-out/08_reporting/report.html")
    assert len(memory.find("/contract-out/02_intermediate/aligned")) == sum(s == "ok" for s in EXPECTED_STATUS.values())
