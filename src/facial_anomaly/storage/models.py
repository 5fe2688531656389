"""Fitted models and checkpoints in ``models_dir``, found by name, read only when a run uses them.

Models are versioned the way Kedro versions datasets (``<file>/<timestamp>/<file name>``);
the latest version is the one used. A run asks the store only for the models its chosen
normalizers and scorers need, so a corrupt file of a model it does not use cannot break it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

# Where each model lives under models_dir (the catalog writes them there).
MODEL_FILES = {
    "shape_model": "shape_model.npz",
    "appearance_model": "appearance_model.npz",
    "padim": "padim.npz",
    "normal_variation": "normal_variation.npz",
    "supervised_scorer": "supervised_scorer.pt",
    "ganomaly": "reconstruction/ganomaly.pt",
    "autoencoder": "reconstruction/autoencoder.pt",
}


@dataclass(frozen=True)
class StoredModel:
    """One version of a model file: its name, path, bytes and their SHA-1."""

    name: str
    path: str
    data: bytes
    sha1: str
    version: str | None


@dataclass(frozen=True)
class ModelStore:
    """``models_dir`` on any fsspec filesystem (small and picklable)."""

    url: str
    storage_options: tuple[tuple[str, Any], ...] = ()

    def _fs(self):
        import fsspec

        fs, root = fsspec.core.url_to_fs(self.url, **dict(self.storage_options))
        return fs, root.rstrip("/")

    def versions(self, relative: str) -> list[str]:
        """The saved versions of ``relative`` (oldest first); [] when none."""
        fs, root = self._fs()
        path = f"{root}/{relative}"
        if not fs.isdir(path):
            return []
        name = relative.rsplit("/", 1)[-1]
        return sorted(
            entry.rstrip("/").rsplit("/", 1)[-1]
            for entry in fs.ls(path, detail=False)
            if fs.isfile(f"{entry.rstrip('/')}/{name}")
        )

    def latest(self, name: str, relative: str | None = None) -> StoredModel | None:
        """The latest version of model ``name`` (or of the file ``relative``), or None when
        none was saved. An unversioned file at the path is used when there are no versions."""
        relative = relative or MODEL_FILES[name]
        fs, root = self._fs()
        versions = self.versions(relative)
        if versions:
            path = f"{root}/{relative}/{versions[-1]}/{relative.rsplit('/', 1)[-1]}"
            version = versions[-1]
        elif fs.isfile(f"{root}/{relative}"):
            path, version = f"{root}/{relative}", None
        else:
            return None
        data = fs.cat_file(path)
        return StoredModel(name, path, data, hashlib.sha1(data).hexdigest(), version)
