"""A partitioned folder whose absence or emptiness is an empty result, not an error."""

from __future__ import annotations

from typing import Any

from kedro_datasets.partitions import PartitionedDataset


class PartitionedFolderDataset(PartitionedDataset):
    """``PartitionedDataset`` that loads a missing or empty folder as ``{}``.

    The stock dataset raises "No partitions found", which would stop a run whose input
    folder is empty or whose earlier stage rejected every photo; here such a run
    completes with empty tables, and the reports say why.
    """

    def load(self) -> dict[str, Any]:
        self._invalidate_caches()  # list what is on disk now, not at the first load
        if not self._filesystem.exists(self._normalized_path):
            return {}
        if not self._list_partitions():
            return {}
        return super().load()
