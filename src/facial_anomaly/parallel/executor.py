"""Per-image work on one core, on every core of a machine, or on a Dask cluster.

A :class:`Job` is a stage's per-image function plus the small, picklable ``spec`` its
workers build their state from (configs, folder handles, fitted models as bytes).
:func:`run_job` sends the items in chunks to the chosen backend and yields one result per
item, **in input order**, as chunks complete, with at most a few chunks in flight, so
memory stays flat in the number of images.

Backends (``executor.kind``):

* ``serial`` — this process, one item after another.
* ``processes`` — a ``ProcessPoolExecutor`` (``forkserver`` start method with the heavy
  imports preloaded, so workers start in milliseconds); each worker builds the job's state
  once, from the spec it receives once at start-up (never re-pickled with every task).
* ``dask`` — ``dask.distributed``: a scheduler at ``executor.address``, or a
  ``LocalCluster`` of ``executor.workers`` processes. The spec is scattered to every worker
  once (``Client.scatter(broadcast=True)``) and tasks receive it by reference; each worker
  process builds the state once per job. GPU jobs ask for a ``GPU`` resource when the
  cluster advertises one.
* ``auto`` (default) — ``processes`` on every core when there are several cores and enough
  images to pay the start-up, else ``serial``.

Failures: an exception in the per-image function becomes that item's failure row
(``job.fail(item, reason)``) and never touches the other items of its chunk. A worker
process that dies (killed, out of memory, a crash in native code) is replaced and its
chunks are retried; a chunk that keeps killing workers is split, and the one image that
still does gets the reason ``worker_crashed`` instead of stopping the run. Dask retries
tasks itself (``retries``) and reschedules the work of a lost worker.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from ..config import Config

logger = logging.getLogger(__name__)

Kind = Literal["auto", "serial", "processes", "dask"]
_FATAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
WORKER_CRASHED = "worker_crashed"


class ExecutorConfig(Config):
    """How per-image work is spread (``params:executor``)."""

    parameter = "executor"

    kind: Kind = "auto"
    """``serial`` | ``processes`` | ``dask`` | ``auto`` (processes on a multi-core machine)."""
    workers: int | None = Field(default=None, ge=1)
    """Worker processes; None = every core (processes, LocalCluster)."""
    address: str | None = None
    """Dask scheduler address (``tcp://host:8786``); None = start a LocalCluster."""
    chunk_size: int = Field(default=4, ge=1)
    """Images per task: larger amortises scheduling, smaller balances load."""
    retries: int = Field(default=2, ge=0)
    """How often a task is retried when its worker dies."""
    auto_min_images: int = Field(default=16, ge=1)
    """``auto`` stays serial below this many images (worker start-up would cost more)."""
    progress_seconds: float = Field(default=10.0, gt=0)
    """Seconds between progress lines (n/N images, rate, ETA)."""
    memory_cache_mb: int = Field(default=1024, ge=0)
    """``serial`` only: megabytes of decoded faces and heat maps kept in memory from one stage
    to the next, so each is decoded once per run while they fit (0 = decode every time);
    :mod:`facial_anomaly.storage.memory`."""


@dataclass(frozen=True)
class Job:
    """A stage's per-image work.

    ``setup(spec) → state`` runs once per worker process; ``run(state, item) → result``
    once per item; ``fail(item, reason) → result`` makes the row of an item that could not
    be processed. All three must be module-level functions (picklable by reference).
    """

    name: str
    setup: Callable[[Any], Any]
    run: Callable[[Any, Any], Any]
    fail: Callable[[Any, str], Any]
    spec: Any = None
    gpu: bool = False


@dataclass
class JobStats:
    """What a finished :func:`run_job` did: filled while iterating, complete at the end."""

    kind: str = "serial"
    workers: int = 1
    items: int = 0
    seconds: float = 0.0
    # worker id (host:pid) → how many times that worker built the job's state (1 when right)
    initialisations: dict[str, int] = field(default_factory=dict)
    worker_restarts: int = 0
    crashed_items: int = 0


def resolve_kind(config: ExecutorConfig, items: int) -> tuple[str, int]:
    """The backend and worker count ``config`` means for ``items`` images."""
    cores = os.cpu_count() or 1
    workers = config.workers or cores
    kind = config.kind
    if kind == "auto":
        chunks = math.ceil(items / config.chunk_size)
        kind = "processes" if cores > 1 and items >= config.auto_min_images and chunks > 1 else "serial"
        workers = min(workers, max(chunks, 1))
    if kind == "serial":
        workers = 1
    return kind, workers


# --------------------------------------------------------------------------- worker side
# Module state of a worker process: the state of the job it serves (built once per job).

_WORKER_JOB: dict[str, Any] = {}
_INIT_COUNTS: collections.Counter = collections.Counter()


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _state_for(token: str, setup: Callable, spec: Any) -> Any:
    if _WORKER_JOB.get("token") != token:
        _WORKER_JOB.clear()  # one job's state per worker at a time: stages run one after another
        _WORKER_JOB["state"] = setup(spec)
        _WORKER_JOB["token"] = token
        _INIT_COUNTS[token] += 1
    return _WORKER_JOB["state"]


class SetupFailed(RuntimeError):
    """What a job needs for every image (a model, its weights) could not be made: every
    image would fail the same way, so the run stops with the original message."""


def is_fatal(error: BaseException) -> bool:
    """Errors of the machine or of the job, not of the image (full disk, quota, read-only
    storage, out of memory, :class:`SetupFailed`): every later image would fail the same
    way, so the run stops with them."""
    return isinstance(error, (MemoryError, SetupFailed)) or (
        isinstance(error, OSError) and error.errno in _FATAL_ERRNOS
    )


def _run_items(state: Any, run: Callable, fail: Callable, items: list[Any], release: bool = True) -> list[Any]:
    results = []
    for item in items:
        try:
            results.append(run(state, item))
        except Exception as error:  # one bad image never takes down the rest of its chunk
            if is_fatal(error):
                raise
            logger.debug("item failed", exc_info=True)
            results.append(fail(item, f"{type(error).__name__}: {error}"))
    if release:
        release_free_memory()
    return results


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl)
        return None


_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Give the heap's free pages back to the system (glibc ``malloc_trim``; elsewhere nothing).

    Measured on one process computing the default heatmap grid over 480 faces: without it
    the resident size climbs from 613 to 896 MB and stays there (glibc keeps freed pages of
    the many differently sized image and tensor buffers); with it, after each chunk, it
    moves between 605 and 830 MB with no trend. ~1 ms per call, once per chunk.
    """
    if _TRIM is not None:
        _TRIM(0)


def _install(token: str, setup: Callable, spec: Any) -> None:
    """Process-pool initializer: receives the spec once per worker and builds the state."""
    _state_for(token, setup, spec)


def _pool_chunk(token: str, run: Callable, fail: Callable, items: list[Any]) -> tuple[list[Any], str, int]:
    if _WORKER_JOB.get("token") != token:  # (a job's state may itself be None)
        raise RuntimeError("worker has no state for this job (its initializer did not run)")
    return _run_items(_WORKER_JOB["state"], run, fail, items), _worker_id(), _INIT_COUNTS[token]


# Specs delivered to a Dask worker by the job's worker plugin, built into state on first use
# (in the thread that runs the tasks).
_DASK_SPECS: dict[str, tuple[Callable, Any]] = {}


def _dask_chunk(token: str, run: Callable, fail: Callable, items: list[Any]) -> tuple[list[Any], str, int]:
    if token not in _DASK_SPECS:
        raise RuntimeError("this Dask worker has not received the job's spec (its worker plugin did not run)")
    setup, spec = _DASK_SPECS[token]
    state = _state_for(token, setup, spec)
    return _run_items(state, run, fail, items), _worker_id(), _INIT_COUNTS[token]


# --------------------------------------------------------------------------- driver side


class _Progress:
    """Periodic "n/N images, rate, ETA" log lines for one job."""

    def __init__(self, name: str, total: int, every: float) -> None:
        self.name, self.total, self.every = name, total, every
        self.started = self.last = time.perf_counter()
        self.done = 0

    def advance(self, count: int) -> None:
        self.done += count
        now = time.perf_counter()
        if now - self.last >= self.every or self.done == self.total:
            self.last = now
            elapsed = now - self.started
            rate = self.done / elapsed if elapsed > 0 else float("inf")
            remaining = (self.total - self.done) / rate if rate > 0 else float("nan")
            logger.info(
                "%s: %d/%d images (%.0f%%), %.2f images/s, ETA %s",
                self.name,
                self.done,
                self.total,
                100.0 * self.done / max(self.total, 1),
                rate,
                _duration(remaining),
            )


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def run_job(job: Job, items: Iterable[Any], config: ExecutorConfig | None = None, stats: JobStats | None = None):
    """Run ``job`` over ``items``; yields one result per item, in input order.

    Args:
        job: the per-image work.
        items: the images (small picklable descriptions, not pixels).
        config: the backend; default :class:`ExecutorConfig` (``auto``).
        stats: filled in while iterating (backend, workers, state builds per worker, timing).
    """
    config = config or ExecutorConfig()
    items = list(items)
    stats = stats if stats is not None else JobStats()
    kind, workers = resolve_kind(config, len(items))
    stats.kind, stats.workers, stats.items = kind, workers, len(items)
    progress = _Progress(job.name, len(items), config.progress_seconds)
    started = time.perf_counter()
    if not items:
        return
    backend = {"serial": _serial, "processes": _processes, "dask": _dask}[kind]
    logger.info("%s: %d images, executor %s with %d worker(s)", job.name, len(items), kind, workers)
    for result in backend(job, items, config, workers, stats, progress):
        stats.seconds = time.perf_counter() - started  # kept current: a caller may stop reading early
        yield result


def _serial(job, items, config, workers, stats, progress) -> Iterator[Any]:
    from ..storage import memory

    # One process runs every stage: what a stage writes, the next one reads from memory.
    memory.configure(config.memory_cache_mb * 2**20)
    token = uuid.uuid4().hex
    state = _state_for(token, job.setup, job.spec)
    stats.initialisations[_worker_id()] = _INIT_COUNTS[token]
    for position, item in enumerate(items, start=1):
        (result,) = _run_items(state, job.run, job.fail, [item], release=position % config.chunk_size == 0)
        progress.advance(1)
        yield result
    _WORKER_JOB.clear()  # release models and MediaPipe graphs held for the job


# Modules worker processes need, imported once by the fork server that starts the pool's
# workers (and by a LocalCluster's Dask workers as they start), so a worker of any stage
# begins with them in memory instead of importing them before its first image (about a
# second per worker and stage). Extended with :func:`preload_in_workers`.
_WORKER_PRELOAD: list[str] = ["facial_anomaly.parallel.executor", "numpy", "cv2", "PIL.Image"]


def preload_in_workers(*modules: str) -> None:
    """Declare modules that worker processes should import before their first task (the
    stages' own modules, and the libraries they import lazily). A module that cannot be
    imported is skipped. Takes effect for worker processes started afterwards; the fork
    server of the ``processes`` executor starts with the first pool of the process."""
    for module in modules:
        if module not in _WORKER_PRELOAD:
            _WORKER_PRELOAD.append(module)


def _forkserver_context(job: Job):
    import multiprocessing

    context = multiprocessing.get_context("forkserver")
    # Imported once in the fork server, then shared by every worker it forks.
    modules = {function.__module__ for function in (job.setup, job.run, job.fail)}
    context.set_forkserver_preload([*_WORKER_PRELOAD, *sorted(modules - set(_WORKER_PRELOAD))])
    return context


def _processes(job, items, config, workers, stats, progress) -> Iterator[Any]:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    token = uuid.uuid4().hex
    context = _forkserver_context(job)

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_install, initargs=(token, job.setup, job.spec)
        )

    # Work units: (index of the first item, items, times it was alone in a pool that died).
    queue = collections.deque((start, chunk, 0) for start, chunk in _indexed_chunks(items, config.chunk_size))
    # Chunks that were in flight when a pool died: any of them may be the culprit, so they
    # run again one at a time, where a death names its chunk exactly.
    suspects: collections.deque = collections.deque()
    results: dict[int, Any] = {}
    next_index = 0
    window = max(2 * workers, 1)
    pool = new_pool()
    in_flight: dict[Any, tuple[int, list, int]] = {}

    def submit(source: collections.deque) -> bool:
        """Send the next unit of ``source`` to the pool; False if the pool has already
        broken (the unit goes back where it came from, it never ran)."""
        unit = source.popleft()
        try:
            in_flight[pool.submit(_pool_chunk, token, job.run, job.fail, unit[1])] = unit
        except BrokenProcessPool:
            source.appendleft(unit)
            return False
        return True

    try:
        while queue or suspects or in_flight:
            healthy = True
            if suspects:
                if not in_flight:
                    healthy = submit(suspects)
            else:
                while healthy and queue and len(in_flight) < window:
                    healthy = submit(queue)
            isolated = len(in_flight) == 1  # a death with one chunk in flight names its culprit
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED) if in_flight else (set(), set())
            broken = not healthy
            for future in done:
                start, chunk, attempts = in_flight.pop(future)
                try:
                    chunk_results, worker, inits = future.result()
                except BrokenProcessPool:
                    broken = True
                    if isolated:
                        _blame(suspects, start, chunk, attempts, config.retries, job, results, stats)
                    else:
                        suspects.append((start, chunk, attempts))
                    continue
                stats.initialisations[worker] = inits
                for offset, result in enumerate(chunk_results):
                    results[start + offset] = result
            if broken:
                # Every task still in the dead pool is lost with it.
                suspects.extend(in_flight.values())
                in_flight.clear()
                _discard_broken_pool(pool)
                stats.worker_restarts += 1
                logger.warning("%s: a worker process died; restarting the pool and retrying its images", job.name)
                pool = new_pool()
            while next_index in results:
                progress.advance(1)
                yield results.pop(next_index)
                next_index += 1
    finally:
        # ``_broken`` is the standard library's own flag (no public way to ask); a broken
        # pool is not waited for, see _discard_broken_pool.
        if getattr(pool, "_broken", False):
            _discard_broken_pool(pool)
        else:
            pool.shutdown(wait=True, cancel_futures=True)


def _discard_broken_pool(pool) -> None:
    """Shut down a pool whose worker died, without waiting for it.

    The standard library terminates a broken pool's workers and then joins them, but a
    worker it started while the pool was breaking is never signalled and waits for work
    forever, and with it the pool's manager thread (seen here on Python 3.11 under load:
    the run hung at the end). Every worker this process still knows of is killed first.
    """
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # gone, or never started
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def _indexed_chunks(items, size):
    return [(start, list(items[start : start + size])) for start in range(0, len(items), size)]


def _blame(suspects, start, chunk, attempts, retries, job, results, stats) -> None:
    """A chunk whose worker died while it ran alone: retry it while retries remain, then
    item by item; an item that alone keeps killing its worker gets a ``worker_crashed`` row."""
    attempts += 1
    if attempts <= retries:
        suspects.appendleft((start, chunk, attempts))
    elif len(chunk) > 1:
        for offset in reversed(range(len(chunk))):
            suspects.appendleft((start + offset, [chunk[offset]], retries))  # one more try each, alone
    else:
        results[start] = job.fail(chunk[0], f"{WORKER_CRASHED}: the worker process died while processing it")
        stats.crashed_items += 1


# --------------------------------------------------------------------------- dask

_DASK_CLIENTS: dict[tuple, Any] = {}


def _dask_client(config: ExecutorConfig, workers: int):
    key = (config.address, workers)
    client = _DASK_CLIENTS.get(key)
    if client is not None and client.status == "running":
        return client
    from distributed import Client, LocalCluster

    if config.address:
        client = Client(config.address, set_as_default=False)
    else:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.WARNING,
            preload=[module for module in _WORKER_PRELOAD if _importable(module)],
        )
        client = Client(cluster, set_as_default=False)
    _DASK_CLIENTS[key] = client
    return client


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _gpu_resources(client) -> dict[str, int] | None:
    workers = client.scheduler_info().get("workers", {})
    if any((info.get("resources") or {}).get("GPU") for info in workers.values()):
        return {"GPU": 1}
    return None


def _dask(job, items, config, workers, stats, progress) -> Iterator[Any]:
    from distributed import as_completed

    client = _dask_client(config, workers)
    stats.workers = len(client.scheduler_info().get("workers", {})) or workers
    token = uuid.uuid4().hex
    from .dask_plugin import JobSpecPlugin

    plugin = JobSpecPlugin(token, job.setup, job.spec)
    client.register_plugin(plugin)
    resources = _gpu_resources(client) if job.gpu else None
    chunks = _indexed_chunks(items, config.chunk_size)
    # Enough tasks queued at the scheduler that a worker finishing one starts the next
    # without waiting for this client's round trip (Dask's per-task latency is milliseconds).
    window = 4 * max(stats.workers, 1)
    results: dict[int, Any] = {}
    pending = collections.deque(chunks)
    starts: dict[Any, tuple[int, list]] = {}

    def submit():
        start, chunk = pending.popleft()
        future = client.submit(
            _dask_chunk,
            token,
            job.run,
            job.fail,
            chunk,
            pure=False,
            retries=config.retries,
            resources=resources,
        )
        starts[future] = (start, chunk)
        return future

    completed = as_completed(
        [submit() for _ in range(min(window, len(pending)))], loop=client.loop, with_results=True, raise_errors=False
    )
    try:
        yield from _dask_results(completed, starts, pending, submit, job, stats, results, progress)
    finally:
        try:
            client.unregister_worker_plugin(plugin.name)
        except Exception:  # the cluster may be gone already; the plugin dies with it
            logger.debug("unregistering the job plugin failed", exc_info=True)


def _dask_results(completed, starts, pending, submit, job, stats, results, progress) -> Iterator[Any]:
    from distributed.client import FutureCancelledError

    next_index = 0
    # Results arrive with their futures (gathered in batches by the client, not one round
    # trip per future); a failed task arrives as its exception.
    for future, outcome in completed:
        start, chunk = starts.pop(future)
        if future.status == "finished":
            chunk_results, worker, inits = outcome
            stats.initialisations[worker] = inits
        else:  # KilledWorker after the retries, a cancelled task, a lost scheduler
            if future.status == "error":  # (type, exception, traceback)
                error = outcome[1]
            else:
                error = outcome if isinstance(outcome, BaseException) else FutureCancelledError(future.key, None)
            if is_fatal(error):
                raise error
            reason = f"{WORKER_CRASHED}: {type(error).__name__}: {error}"
            chunk_results = [job.fail(item, reason) for item in chunk]
            stats.crashed_items += len(chunk)
        for offset, result in enumerate(chunk_results):
            results[start + offset] = result
        if pending:
            completed.add(submit())
        while next_index in results:
            progress.advance(1)
            yield results.pop(next_index)
            next_index += 1


def shutdown() -> None:
    """Close the Dask clients (and LocalClusters) this process started."""
    for client in list(_DASK_CLIENTS.values()):
        cluster = getattr(client, "cluster", None)
        try:
            client.close()
            if cluster is not None:
                cluster.close()
        except Exception:  # closing is best effort at the end of a run
            logger.debug("closing a Dask client failed", exc_info=True)
    _DASK_CLIENTS.clear()
