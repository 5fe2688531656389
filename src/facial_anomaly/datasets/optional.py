"""A dataset that may not exist yet: loads a default instead of failing.

Used for inputs a run may or may not have: models fitted by an earlier run, a labels table
the user may name (``--params labels=...``), the persons table of a synthetic split.
"""

from __future__ import annotations

import copy
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError


class OptionalDataset(AbstractDataset):
    """Wraps any dataset config; ``load`` returns ``default`` when the data is absent.

    Args:
        dataset: the wrapped dataset's catalog config (``type`` + arguments).
        default: returned when the wrapped dataset does not exist or has no partitions
            (``null`` → None, ``{}`` for a partitioned dataset).
        given: an empty value (``''`` or null) means the data was not asked for: load returns
            ``default`` without looking (e.g. ``given: ${runtime_params:labels, ''}``).
    """

    def __init__(
        self, *, dataset: dict[str, Any], default: Any = None, given: Any = True, metadata: dict | None = None
    ) -> None:
        self._dataset_config = copy.deepcopy(dataset)
        # ``given: ${runtime_params:labels, ''}``: an empty value means the user named no file.
        self._dataset = None if given in ("", None) else AbstractDataset.from_config("inner", copy.deepcopy(dataset))
        self._default = default
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._dataset_config.get("type"), "default": self._default}

    def load(self) -> Any:
        if self._dataset is None:
            return copy.deepcopy(self._default)
        try:
            if not self._dataset.exists():
                return copy.deepcopy(self._default)
            return self._dataset.load()
        except DatasetError as error:
            # PartitionedDataset raises when its folder holds no partitions.
            if "No partitions found" in str(error) or "does not exist" in str(error):
                return copy.deepcopy(self._default)
            raise

    def save(self, data: Any) -> None:
        raise DatasetError("OptionalDataset is read-only: save through the dataset it mirrors")

    def _exists(self) -> bool:
        return True
