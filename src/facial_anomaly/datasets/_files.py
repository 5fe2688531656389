"""Shared file plumbing for the project's datasets: fsspec set-up and all-or-nothing writes."""

from __future__ import annotations

from copy import deepcopy
from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import AbstractVersionedDataset, Version, get_filepath_str, get_protocol_and_path

from ..atomic import write_bytes_atomically as write_local_atomically


def write_bytes_atomically(fs: fsspec.AbstractFileSystem, protocol: str, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the whole new one, never a part.

    On a local disk the bytes go to a temporary file in the same folder, which is then
    renamed over the target (``os.replace`` is atomic within a filesystem). Object stores
    (``s3://``, ``gcs://``...) already publish an object only when its upload completes.
    """
    if protocol == "file":
        write_local_atomically(path, data)
    else:
        fs.pipe_file(path, data)


class FileDatasetBase(AbstractVersionedDataset):
    """A versionable single-file dataset on any fsspec filesystem, saved atomically.

    Subclasses implement ``_decode(bytes)`` and ``_encode(data) -> bytes``.
    """

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = get_protocol_and_path(filepath, version)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(deepcopy(credentials) or {}), **(deepcopy(fs_args) or {}))
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol, "version": self._version}

    def _read_bytes(self) -> bytes:
        return self._fs.cat_file(get_filepath_str(self._get_load_path(), self._protocol))

    def _write_bytes(self, data: bytes) -> None:
        path = get_filepath_str(self._get_save_path(), self._protocol)
        write_bytes_atomically(self._fs, self._protocol, path, data)
        self._fs.invalidate_cache(path)

    def _exists(self) -> bool:
        try:
            path = get_filepath_str(self._get_load_path(), self._protocol)
        except Exception:  # kedro raises when no version exists yet
            return False
        return self._fs.exists(path)

    def load(self):
        return self._decode(self._read_bytes())

    def save(self, data) -> None:
        self._write_bytes(self._encode(data))

    def _decode(self, data: bytes):  # pragma: no cover - abstract
        raise NotImplementedError

    def _encode(self, data) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError
