"""Kedro datasets of the project (the only Kedro-aware code outside ``pipelines``)."""

from .folders import PartitionedFolderDataset
from .images import BinaryFileDataset, PngArrayDataset
from .optional import OptionalDataset
from .tables import TableDataset

__all__ = ["BinaryFileDataset", "OptionalDataset", "PartitionedFolderDataset", "PngArrayDataset", "TableDataset"]
