"""Module-level job functions for the executor tests (worker processes import them by name)."""

from __future__ import annotations

import os
from pathlib import Path


def setup(spec: dict) -> dict:
    """State = the spec plus a count of how often this process built it."""
    return {**spec, "pid": os.getpid()}


def square(state: dict, item: int) -> dict:
    if item == state.get("bad_item"):
        raise ValueError(f"item {item} is bad")
    marker = state.get("crash_marker")
    if item == state.get("crash_item") and marker and not Path(marker).exists():
        Path(marker).write_text("crashed once")
        os._exit(17)  # a worker dying mid-task: no exception, no clean-up
    if item == state.get("always_crash_item"):
        os._exit(18)
    return {"item": item, "value": item * item * state["scale"], "status": "ok"}


def fail(item: int, reason: str) -> dict:
    return {"item": item, "value": None, "status": "failed", "detail": reason}


def no_state(spec) -> None:
    """A job whose workers need no state at all."""
    return None


def echo(state, item: int) -> int:
    assert state is None
    return item
