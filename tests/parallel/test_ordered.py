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
