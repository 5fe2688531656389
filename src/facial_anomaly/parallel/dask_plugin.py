"""The worker plugin that hands a job's spec to every Dask worker (imported only for Dask).

A plugin, unlike a scattered future, reaches workers that join or restart while the job
runs, so a killed worker's replacement can carry on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from . import executor


class JobSpecPlugin(WorkerPlugin):
    """Stores ``(setup, spec)`` under the job's token in each worker process."""

    def __init__(self, token: str, setup: Callable, spec: Any) -> None:
        self.name = f"facial-anomaly-job-{token}"
        self.token, self.job_setup, self.spec = token, setup, spec

    def setup(self, worker) -> None:
        executor._DASK_SPECS[self.token] = (self.job_setup, self.spec)

    def teardown(self, worker) -> None:
        executor._DASK_SPECS.pop(self.token, None)
