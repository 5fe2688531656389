"""The one training loop of the library, used by every trainer (the supervised scorer and
the reconstruction models): :func:`fit` runs rounds of steps of a :class:`TrainingTask`,
evaluates after each, keeps the best state by a smoothed dev metric (:class:`Selection`),
records the history and calls back (:class:`MetricHistory` streams it to MLflow);
:mod:`.checkpoint` reads and writes tensor-only checkpoints with provenance;
:class:`TrainingState` makes runs resumable. Kedro-free.
"""

from .checkpoint import (
    CheckpointFormat,
    check_state_dict,
    cpu_state_dict,
    envelope,
    json_entry,
    payload_to_bytes,
    read_checkpoint,
    write_payload,
)
from .history import MetricHistory
from .loop import Selection, TrainingTask, fit, warmup_cosine
from .state import RoundReport, TrainingResult, TrainingState, flatten_metrics

__all__ = [
    "CheckpointFormat",
    "MetricHistory",
    "RoundReport",
    "Selection",
    "TrainingResult",
    "TrainingState",
    "TrainingTask",
    "check_state_dict",
    "cpu_state_dict",
    "envelope",
    "fit",
    "flatten_metrics",
    "json_entry",
    "payload_to_bytes",
    "read_checkpoint",
    "warmup_cosine",
    "write_payload",
]
