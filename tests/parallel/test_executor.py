"""The per-image executor: same results in the same order on every backend, worker state
built once per worker, failures isolated to their image, dead workers replaced."""

from __future__ import annotations

import pytest
from jobs import echo, fail, no_state, setup, square

from facial_anomaly.parallel import ExecutorConfig, Job, JobStats, resolve_kind, run_job

ITEMS = list(range(23))
EXPECTED = [{"item": i, "value": i * i * 3, "status": "ok"} for i in ITEMS]


def job(**spec) -> Job:
    return Job("test", setup, square, fail, spec={"scale": 3, **spec})


def test_serial_results_are_in_order_and_state_is_built_once():
    stats = JobStats()
    results = list(run_job(job(), ITEMS, ExecutorConfig(kind="serial", chunk_size=4), stats))
    assert results == EXPECTED
    assert stats.kind == "serial" and stats.items == len(ITEMS)
    assert list(stats.initialisations.values()) == [1]


def test_free_heap_pages_are_returned_after_every_chunk(monkeypatch):
    from facial_anomaly.parallel import executor

    calls = []
    monkeypatch.setattr(executor, "_TRIM", lambda pad: calls.append(pad) or 1)
    assert list(run_job(job(), ITEMS, ExecutorConfig(kind="serial", chunk_size=4))) == EXPECTED
    assert calls == [0] * 5  # 23 items: after every 4th


def test_processes_give_the_serial_results_in_order_and_build_state_once_per_worker():
    stats = JobStats()
    results = list(run_job(job(), ITEMS, ExecutorConfig(kind="processes", workers=2, chunk_size=3), stats))
    assert results == EXPECTED
    assert stats.kind == "processes" and stats.workers == 2
    assert 1 <= len(stats.initialisations) <= 2 and set(stats.initialisations.values()) == {1}


def test_an_exception_fails_only_its_own_image():
    results = list(run_job(job(bad_item=5), ITEMS, ExecutorConfig(kind="processes", workers=2, chunk_size=4)))
    assert results[5]["status"] == "failed" and "item 5 is bad" in results[5]["detail"]
    assert [r for i, r in enumerate(results) if i != 5] == [r for i, r in enumerate(EXPECTED) if i != 5]


def test_a_killed_worker_loses_no_image(tmp_path):
    stats = JobStats()
    spec = {"crash_item": 9, "crash_marker": str(tmp_path / "crashed")}
    results = list(run_job(job(**spec), ITEMS, ExecutorConfig(kind="processes", workers=2, chunk_size=3), stats))
    assert (tmp_path / "crashed").exists()  # the worker really died once
    assert results == EXPECTED and stats.worker_restarts >= 1


def test_an_image_that_always_kills_its_worker_gets_a_row_with_the_reason():
    stats = JobStats()
    config = ExecutorConfig(kind="processes", workers=2, chunk_size=3, retries=1)
    results = list(run_job(job(always_crash_item=4), ITEMS, config, stats))
    assert results[4]["status"] == "failed" and results[4]["detail"].startswith("worker_crashed")
    assert [r for i, r in enumerate(results) if i != 4] == [r for i, r in enumerate(EXPECTED) if i != 4]
    assert stats.crashed_items == 1


class _PoolThatBreaksOnItsSecondTask:
    """Stands in for ``ProcessPoolExecutor`` in this process. The first pool breaks the way
    a real one does when a worker dies between two submissions: the task in flight fails
    with ``BrokenProcessPool`` and the next ``submit`` raises it."""

    created: list = []

    def __init__(self, max_workers, mp_context, initializer, initargs):
        from concurrent.futures.process import BrokenProcessPool

        self.broken_error, self.first = BrokenProcessPool, not self.created
        self.created.append(self)
        self.submitted, self._broken, self.killed, self.waited = 0, False, [], None
        self._processes = {1: self} if self.first else {}
        initializer(*initargs)

    def kill(self):
        self.killed.append(True)

    def submit(self, function, *args):
        from concurrent.futures import Future

        self.submitted += 1
        future = Future()
        if self.first and self.submitted >= 2:
            self._broken = True
            raise self.broken_error("a child process terminated abruptly")
        if self.first:
            future.set_exception(self.broken_error("a child process terminated abruptly"))
        else:
            future.set_result(function(*args))
        return future

    def shutdown(self, wait=True, cancel_futures=False):
        self.waited = wait


def test_a_pool_that_breaks_between_two_submissions_is_replaced_without_waiting_for_it(monkeypatch):
    import concurrent.futures

    _PoolThatBreaksOnItsSecondTask.created = []
    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", _PoolThatBreaksOnItsSecondTask)
    stats = JobStats()
    results = list(run_job(job(), ITEMS, ExecutorConfig(kind="processes", workers=2, chunk_size=4), stats))
    assert results == EXPECTED and stats.worker_restarts == 1
    broken, replacement = _PoolThatBreaksOnItsSecondTask.created
    # The broken pool's workers are killed and it is not waited for (its manager thread
    # could wait forever for a worker started as it broke); the healthy one is.
    assert broken.killed == [True] and broken.waited is False
    assert replacement.waited is True


@pytest.mark.parametrize("kind", ["serial", "processes"])
def test_a_job_whose_state_is_none_runs(kind):
    stateless = Job("stateless", no_state, echo, fail)
    assert list(run_job(stateless, ITEMS, ExecutorConfig(kind=kind, workers=2, chunk_size=5))) == ITEMS


def test_auto_is_serial_for_few_images_and_uses_the_cores_for_many(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert resolve_kind(ExecutorConfig(), 3) == ("serial", 1)
    assert resolve_kind(ExecutorConfig(), 400) == ("processes", 8)
    assert resolve_kind(ExecutorConfig(workers=3), 400) == ("processes", 3)
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert resolve_kind(ExecutorConfig(), 400) == ("serial", 1)


def test_no_items_yields_nothing():
    assert list(run_job(job(), [], ExecutorConfig(kind="processes"))) == []


def test_wrong_settings_fail_naming_the_parameter():
    with pytest.raises(ValueError, match=r"executor\.kind"):
        ExecutorConfig.model_validate({"kind": "threads"})
    with pytest.raises(ValueError, match=r"executor\.workers"):
        ExecutorConfig.model_validate({"workers": 0})


@pytest.mark.slow
def test_dask_local_cluster_gives_the_serial_results_and_survives_a_killed_worker(tmp_path):
    from facial_anomaly.parallel import shutdown

    try:
        stats = JobStats()
        config = ExecutorConfig(kind="dask", workers=2, chunk_size=3)
        assert list(run_job(job(), ITEMS, config, stats)) == EXPECTED
        assert stats.kind == "dask" and set(stats.initialisations.values()) == {1}
        spec = {"crash_item": 9, "crash_marker": str(tmp_path / "crashed")}
        assert list(run_job(job(**spec), ITEMS, config)) == EXPECTED
        assert (tmp_path / "crashed").exists()
    finally:
        shutdown()


@pytest.mark.slow
def test_dask_gives_an_image_that_always_kills_its_worker_a_row_with_the_reason():
    from facial_anomaly.parallel import shutdown

    try:
        stats = JobStats()
        config = ExecutorConfig(kind="dask", workers=2, chunk_size=1, retries=0)
        results = list(run_job(job(always_crash_item=4), ITEMS, config, stats))
        assert results[4]["status"] == "failed" and results[4]["detail"].startswith("worker_crashed")
        assert [r for i, r in enumerate(results) if i != 4] == [r for i, r in enumerate(EXPECTED) if i != 4]
        assert stats.crashed_items == 1
    finally:
        shutdown()
