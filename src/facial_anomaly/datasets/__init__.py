"""Kedro datasets of the project (the only Kedro-aware code outside ``pipelines``)."""

from .arrays import NpzArrayDataset
from .folders import PartitionedFolderDataset
from .images import BinaryFileDataset, PngArrayDataset
from .models import NormalModelDataset
from .optional import OptionalDataset
from .tables import TableDataset

__all__ = [
    "BinaryFileDataset",
    "NormalModelDataset",
    "NpzArrayDataset",
    "OptionalDataset",
    "PartitionedFolderDataset",
    "PngArrayDataset",
    "TableDataset",
]
