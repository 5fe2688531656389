"""An exclusive lock on a run's output folder, held for the whole run.

Two runs writing into one output folder would interleave their per-image artifacts and
tables. The lock is ``<output>/.facial_anomaly.lock``: an ``flock`` on it is held by the
running process (the kernel releases it when the process dies, however it dies), and the
file's content names the holder (pid, host, start time, pipeline) for the message the
second run prints. A lock file left by a dead process is taken over, with a warning.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import logging
import os
import socket
from pathlib import Path

logger = logging.getLogger(__name__)

LOCK_NAME = ".facial_anomaly.lock"


class OutputLocked(RuntimeError):
    """Another live run holds the output folder."""


class OutputLock:
    """``with OutputLock(folder, description):`` — or :meth:`acquire` / :meth:`release`."""

    def __init__(self, folder: str | os.PathLike, description: str = "") -> None:
        self.path = Path(folder) / LOCK_NAME
        self.description = description
        self._handle = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`OutputLocked` at once, naming the holder.

        Raises:
            OutputLocked: another live process holds it.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the whole run
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = _describe(handle.read())
            handle.close()
            raise OutputLocked(
                f"output_dir {str(self.path.parent)!r} is in use by another run ({holder}); wait for it to finish "
                "or choose another output_dir"
            ) from None
        handle.seek(0)
        previous = handle.read().strip()
        if previous:
            logger.warning(
                "taking over the lock of %s left by a run that is gone (%s)", self.path.parent, _describe(previous)
            )
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                    "run": self.description,
                }
            )
        )
        handle.flush()
        os.fsync(handle.fileno())
        self._handle = handle

    def release(self) -> None:
        """Give the lock back (the file is emptied, then unlocked)."""
        if self._handle is None:
            return
        try:
            self._handle.seek(0)
            self._handle.truncate()
            self._handle.flush()
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
        finally:
            self._handle.close()
            self._handle = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


def _describe(content: str) -> str:
    try:
        holder = json.loads(content)
    except (ValueError, TypeError):
        return "holder unknown"
    return f"pid {holder.get('pid')} on host {holder.get('host')}, started {holder.get('started')}" + (
        f", {holder['run']}" if holder.get("run") else ""
    )
