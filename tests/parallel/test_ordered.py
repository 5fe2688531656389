"""OrderedWorkers: results in input order, each process set up once, and a process that
dies fails the caller with WorkerDied instead of leaving it waiting (Pool.imap hangs)."""

from __future__ import annotations

import os

import pytest

from facial_anomaly.parallel.ordered import OrderedWorkers, WorkerDied


def test_results_come_back_in_the_items_order():
    with OrderedWorkers(2, initializer=os.getpid, task="testing") as workers:
        assert workers.map(abs, [-3, 1, -2, 0, -5]) == [3, 1, 2, 0, 5]
        assert list(workers.imap(str.upper, iter(["a", "b"]))) == ["A", "B"]


def test_a_process_that_dies_raises_instead_of_hanging():
    workers = OrderedWorkers(1, initializer=os.getpid, task="making test batches")
    with workers, pytest.raises(WorkerDied, match="making test batches died"):
        workers.map(os._exit, [3])


def test_a_wrong_worker_count_fails_before_starting():
    with pytest.raises(ValueError, match="workers must be ≥ 1"):
        OrderedWorkers(0, initializer=os.getpid)


def _job_value_and_threads(key: str) -> tuple:
    import cv2
    import torch

    from facial_anomaly.parallel import worker_job

    return worker_job()[key], torch.get_num_threads(), cv2.getNumThreads()


def test_a_job_is_sent_once_to_every_process_that_runs_single_threaded():
    job = {"scale": 3, "name": "faces"}
    with OrderedWorkers(2, job=job, task="testing") as workers:
        assert workers.map(_job_value_and_threads, ["scale", "name", "scale"]) == [
            (3, 1, 1),
            ("faces", 1, 1),
            (3, 1, 1),
        ]
    with pytest.raises(ValueError, match="a job or an initializer, not both"):
        OrderedWorkers(1, job=job, initializer=os.getpid)
