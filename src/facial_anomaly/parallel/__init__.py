"""One executor for per-image work: ``serial``, a local process pool, or a Dask cluster.

See :func:`run_job`: every per-image stage sends its images through it in chunks and
gets the results back streamed, in input order, whatever the backend. :class:`OrderedWorkers`
is the plain ordered map in a few processes the supervised trainer makes its batches with.
"""

from .executor import ExecutorConfig, Job, JobStats, preload_in_workers, resolve_kind, run_job, shutdown
from .ordered import OrderedWorkers, WorkerDied, worker_job

__all__ = [
    "ExecutorConfig",
    "Job",
    "JobStats",
    "OrderedWorkers",
    "WorkerDied",
    "preload_in_workers",
    "resolve_kind",
    "run_job",
    "shutdown",
    "worker_job",
]
