"""Ordered work in a few ``spawn`` processes that fails loudly when a process dies.

``multiprocessing.Pool`` replaces a worker that dies (killed by the out-of-memory killer, a
segfault in a native library, ``os._exit``) but loses the task it was running, so
``Pool.map`` and ``Pool.imap`` then wait for that result forever: a training or a
preparation step hangs without a word. :class:`OrderedWorkers` gives the same ordered
``imap`` on a ``ProcessPoolExecutor``, which notices the death, and raises
:class:`WorkerDied` naming what the processes were doing.

Most users hand the processes a ``job`` — the read-only data every task needs (faces,
settings), sent once per process instead of once per task — and read it in the task
function with :func:`worker_job`.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

_JOB: dict = {}  # the job of this worker process (set once by its initializer)


def worker_job() -> dict:
    """In a process of :class:`OrderedWorkers` started with ``job``: that job (a dict the
    process's tasks may also cache per-process things in)."""
    return _JOB


def _install_job(job: dict) -> None:
    # One OpenCV and one torch thread per process: the processes are the parallelism, and
    # more threads on the shared cores would only compete with the caller's.
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    _JOB.clear()
    _JOB.update(job)


class WorkerDied(RuntimeError):
    """A worker process ended without returning its result (killed, out of memory, crashed)."""


class OrderedWorkers:
    """``workers`` spawned processes, each set up once: with ``job``, one OpenCV and one
    torch thread and the job in :func:`worker_job`; else ``initializer(*initargs)``.

    Args:
        workers: processes (≥ 1).
        job: read-only data every task needs (must pickle).
        initializer, initargs: run once in each process instead (not with ``job``).
        task: what the processes do, for the error message (e.g. "making training batches").

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        workers: int,
        *,
        job: dict | None = None,
        initializer: Callable[..., None] | None = None,
        initargs: tuple = (),
        task: str = "working",
    ):
        if workers < 1:
            raise ValueError(f"workers must be ≥ 1, got {workers}")
        if job is not None:
            if initializer is not None:
                raise ValueError("give OrderedWorkers a job or an initializer, not both")
            initializer, initargs = _install_job, (job,)
        self.task = task
        self.executor = ProcessPoolExecutor(
            int(workers),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=initializer,
            initargs=initargs,
        )

    def imap(self, function: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
        """``function(item)`` of every item, in the items' order. Every item is submitted at
        once (as ``Pool.imap`` does); results not yet taken when the iteration stops are
        cancelled.

        Raises:
            WorkerDied: a process died before returning a result.
        """
        futures = [self.executor.submit(function, item) for item in items]
        try:
            for future in futures:
                try:
                    yield future.result()
                except BrokenProcessPool as error:
                    raise WorkerDied(
                        f"a worker process {self.task} died without a result (killed, out of memory or "
                        "crashed); retry with fewer workers or more memory"
                    ) from error
        finally:
            for future in futures:
                future.cancel()

    def map(self, function: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """``list(self.imap(function, items))``."""
        return list(self.imap(function, items))

    def close(self) -> None:
        """Stop the processes (pending work is cancelled)."""
        self.executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> OrderedWorkers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
