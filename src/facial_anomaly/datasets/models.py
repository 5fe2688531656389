"""Fitted models of normal faces as ``.npz`` files (plain arrays + JSON metadata, no pickle)."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError

from ._files import FileDatasetBase


def _model_classes() -> dict[str, type]:
    from facial_anomaly.normalizers import AppearanceModel, ShapeModel

    return {"shape_model": ShapeModel, "appearance_model": AppearanceModel}


class NormalModelDataset(FileDatasetBase):
    """A fitted ``ShapeModel`` or ``AppearanceModel`` (``kind``) stored as ``.npz``.

    Loading never unpickles (``allow_pickle=False``), so a model file from elsewhere
    cannot run code. Versionable like any file dataset; saves are atomic.
    """

    def __init__(self, *, filepath: str, kind: str, **kwargs: Any) -> None:
        classes = _model_classes()
        if kind not in classes:
            raise ValueError(f"kind must be one of {sorted(classes)}, got {kind!r}")
        self._kind = kind
        super().__init__(filepath=filepath, **kwargs)

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "kind": self._kind}

    def _decode(self, data: bytes):
        from facial_anomaly.normalizers import load_state

        return _model_classes()[self._kind].from_state(*load_state(io.BytesIO(data)), source=str(self._get_load_path()))

    def _encode(self, model) -> bytes:
        expected = _model_classes()[self._kind]
        if not isinstance(model, expected):
            raise TypeError(f"expected a {expected.__name__}, got {type(model).__name__}")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.npz"
            model.save(path)
            return path.read_bytes()


class ModelStoreDataset(AbstractDataset):
    """``models_dir`` as a :class:`~facial_anomaly.storage.models.ModelStore` handle: a run reads
    (and validates) only the models its chosen normalizers and scorers use, so a corrupt file
    of a model it does not use cannot break it."""

    def __init__(self, *, path: str, storage_options: dict | None = None, metadata: dict | None = None) -> None:
        from facial_anomaly.storage.models import ModelStore

        self._store = ModelStore(str(path), tuple(sorted((storage_options or {}).items())))
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": self._store.url}

    def load(self):
        return self._store

    def save(self, data: Any) -> None:
        raise DatasetError("models are saved through their own datasets (shape_model, appearance_model, ...)")

    def _exists(self) -> bool:
        return True
