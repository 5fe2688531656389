"""Kedro datasets of the project (the only Kedro-aware code outside ``pipelines``)."""

from .arrays import NpzArrayDataset
from .folders import (
    ArtifactFolderDataset,
    ArtifactFoldersDataset,
    InputFolderDataset,
    InputListing,
    PartitionedFolderDataset,
)
from .images import BinaryFileDataset, PngArrayDataset
from .models import ModelStoreDataset, NormalModelDataset
from .optional import OptionalDataset
from .tables import TableDataset

__all__ = [
    "ArtifactFolderDataset",
    "ArtifactFoldersDataset",
    "BinaryFileDataset",
    "InputFolderDataset",
    "InputListing",
    "ModelStoreDataset",
    "NormalModelDataset",
    "NpzArrayDataset",
    "OptionalDataset",
    "PartitionedFolderDataset",
    "PngArrayDataset",
    "TableDataset",
]
