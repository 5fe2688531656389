"""Fault injection for the crash-and-rerun tests: ``FACIAL_ANOMALY_EXIT_AT=<stage>:<n>`` makes
the process exit abruptly (``os._exit``, no clean-up, like ``kill -9``) after the stage has
handled ``n`` images. Unset in normal runs: the check is one dictionary lookup."""

from __future__ import annotations

import os

ENVIRONMENT_VARIABLE = "FACIAL_ANOMALY_EXIT_AT"
EXIT_CODE = 70


def exit_if_requested(stage: str, done: int) -> None:
    """Exit the process when the environment asks for a crash at ``stage`` after ``done`` images."""
    request = os.environ.get(ENVIRONMENT_VARIABLE)
    if not request:
        return
    wanted_stage, _, count = request.partition(":")
    if wanted_stage == stage and done >= int(count or 0):
        os._exit(EXIT_CODE)
