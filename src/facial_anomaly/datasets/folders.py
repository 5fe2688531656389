"""Folder datasets: the input photos (listed once per run) and folders of per-image artifacts.

Per-image artifacts are written by the executor's workers straight to storage (streamed,
so memory stays flat and a cluster scales out), each carrying its provenance; the stage's
table is the node output Kedro saves after them. So these datasets load to small handles
(a listing, a folder URL), never to the pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError
from kedro_datasets.partitions import PartitionedDataset

from facial_anomaly.storage.artifacts import ArtifactFolder
from facial_anomaly.storage.inputs import InputFile, list_inputs


@dataclass(frozen=True)
class InputListing:
    """The files of an input folder, listed once: ``root`` and one :class:`InputFile` each."""

    root: str
    entries: tuple[InputFile, ...]


class InputFolderDataset(AbstractDataset):
    """Read-only: lists ``path`` recursively (any file name, any file type) when loaded.

    A missing or unreadable folder raises :class:`DatasetError` naming the path.
    """

    def __init__(self, *, path: str, storage_options: dict | None = None, metadata: dict | None = None) -> None:
        self._path = str(path)
        self._storage_options = storage_options or {}
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path}

    def load(self) -> InputListing:
        try:
            return InputListing(self._path, tuple(list_inputs(self._path, storage_options=self._storage_options)))
        except OSError as error:
            raise DatasetError(f"cannot list the input folder {self._path!r}: {error}") from error

    def save(self, data: Any) -> None:
        raise DatasetError("the input folder is read-only: photos are never modified")

    def _exists(self) -> bool:
        return True


class ArtifactFolderDataset(AbstractDataset):
    """A folder of per-image artifacts; loads as an :class:`ArtifactFolder` handle."""

    def __init__(self, *, path: str, storage_options: dict | None = None, metadata: dict | None = None) -> None:
        self._folder = ArtifactFolder(str(path), tuple(sorted((storage_options or {}).items())))
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": self._folder.url}

    def load(self) -> ArtifactFolder:
        return self._folder

    def save(self, data: Any) -> None:
        raise DatasetError("artifact folders are written by the stage's workers, not saved through the catalog")

    def _exists(self) -> bool:
        return True


class PartitionedFolderDataset(PartitionedDataset):
    """``PartitionedDataset`` that loads a missing or empty folder as ``{}``.

    The stock dataset raises "No partitions found", which would stop a run whose earlier
    stage produced nothing; here such a run completes with empty tables, and the reports
    say why.
    """

    def load(self) -> dict[str, Any]:
        self._invalidate_caches()  # list what is on disk now, not at the first load
        if not self._filesystem.exists(self._normalized_path):
            return {}
        if not self._list_partitions():
            return {}
        return super().load()


class ArtifactFoldersDataset(AbstractDataset):
    """Several artifact folders as one handle (``aligned``, ``normalized``, ``heatmaps``...), for
    nodes whose workers read all of them; loads as a
    :class:`~facial_anomaly.batch.gallery.GalleryFolders`."""

    def __init__(self, *, paths: dict[str, str], storage_options: dict | None = None, metadata: dict | None = None):
        options = tuple(sorted((storage_options or {}).items()))
        self._folders = {name: ArtifactFolder(str(path), options) for name, path in paths.items()}
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {name: folder.url for name, folder in self._folders.items()}

    def load(self):
        from facial_anomaly.batch.gallery import GalleryFolders

        return GalleryFolders(**self._folders)

    def save(self, data: Any) -> None:
        raise DatasetError("artifact folders are written by the stages' workers, not saved through the catalog")

    def _exists(self) -> bool:
        return True
