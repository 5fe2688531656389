"""One executor for per-image work: ``serial``, a local process pool, or a Dask cluster.

See :func:`run_job`: every per-image stage sends its images through it in chunks and
gets the results back streamed, in input order, whatever the backend.
"""

from .executor import ExecutorConfig, Job, JobStats, preload_in_workers, resolve_kind, run_job, shutdown

__all__ = ["ExecutorConfig", "Job", "JobStats", "preload_in_workers", "resolve_kind", "run_job", "shutdown"]
