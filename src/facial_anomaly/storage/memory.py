"""Decoded artifacts kept in this process's memory between the stages of a run.

When one process runs every stage (the ``serial`` executor), each aligned face would be
decoded from its PNG by normalize, heatmaps and the report, and each normalized face and
heat map once more by the report. Instead, a stage that writes (or decodes) a local
artifact leaves the decoded arrays here, and the next stage that reads the same file takes
them from memory: a PNG is decoded at most once per run while the budget lasts.

* Keyed by the file's identity (path, inode, size, modification time): a file replaced
  on disk — by another run, by hand — is a different key, so a stale entry is never
  returned; the caller still checks the provenance record as for a file read from disk.
* Bounded by a budget in bytes (:func:`configure`; 0, the default, keeps nothing): once
  full, later entries are not kept (a stage reading images in order then still finds the
  first ones, where evicting the oldest would find none). Worker processes of the
  ``processes`` and ``dask`` executors keep nothing: images move between workers.
* Arrays are stored read-only; readers get copies (or new arrays derived from them).
"""

from __future__ import annotations

import os
import threading
from typing import Any

_lock = threading.Lock()
_budget = 0
_used = 0
_entries: dict[tuple, tuple[Any, int]] = {}
_hits = 0
_misses = 0


def configure(budget_bytes: int) -> None:
    """Keep at most ``budget_bytes`` of decoded arrays (0 = nothing); a new budget drops what
    is kept."""
    global _budget
    with _lock:
        if budget_bytes != _budget:
            _clear_locked()
            _budget = max(int(budget_bytes), 0)


def clear() -> None:
    """Drop every entry (the budget stays)."""
    with _lock:
        _clear_locked()


def _clear_locked() -> None:
    global _used
    _entries.clear()
    _used = 0


def enabled() -> bool:
    return _budget > 0


def file_key(path: str) -> tuple | None:
    """The identity of the local file ``path``; None when it does not exist (or the cache is off)."""
    if _budget <= 0:
        return None
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def get(key: tuple | None, *, count: bool = True) -> Any:
    """The entry kept for ``key``, or None; ``count=False`` leaves the hit and miss counts
    (which count file reads) alone."""
    global _hits, _misses
    if key is None:
        return None
    with _lock:
        found = _entries.get(key)
        if count and found is None:
            _misses += 1
        elif count:
            _hits += 1
        return None if found is None else found[0]


def put(key: tuple | None, value: Any, nbytes: int) -> bool:
    """Keep ``value`` (``nbytes`` large) for ``key`` if the budget allows; True when kept."""
    global _used
    if key is None:
        return False
    with _lock:
        if key in _entries:
            return True
        if _used + nbytes > _budget:
            return False
        _entries[key] = (value, nbytes)
        _used += nbytes
        return True


def stats() -> dict[str, int]:
    """Budget, bytes kept, entries, hits and misses since the process started."""
    with _lock:
        return {"budget": _budget, "used": _used, "entries": len(_entries), "hits": _hits, "misses": _misses}
