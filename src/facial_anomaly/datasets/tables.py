"""Tables as Parquet or CSV (chosen by the file suffix), versionable and saved atomically."""

from __future__ import annotations

import io

import pandas as pd

from ._files import FileDatasetBase


class TableDataset(FileDatasetBase):
    """A pandas DataFrame stored as ``.parquet`` or ``.csv``.

    Unlike ``pandas.ParquetDataset``, a save never leaves a half-written file: readers
    (and later stages of an interrupted run) see the previous version or the new one.
    """

    def _format(self) -> str:
        suffix = self._filepath.suffix.lower()
        if suffix not in (".parquet", ".csv"):
            raise ValueError(f"TableDataset supports .parquet and .csv, not {suffix!r} ({self._filepath})")
        return suffix

    def _decode(self, data: bytes) -> pd.DataFrame:
        if self._format() == ".parquet":
            return pd.read_parquet(io.BytesIO(data))
        return pd.read_csv(io.BytesIO(data))

    def _encode(self, data: pd.DataFrame) -> bytes:
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"TableDataset saves a pandas DataFrame, got {type(data).__name__}")
        buffer = io.BytesIO()
        if self._format() == ".parquet":
            data.to_parquet(buffer, index=False)
        else:
            data.to_csv(buffer, index=False)
        return buffer.getvalue()
