import os

import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError
from kedro.io.core import Version

from facial_anomaly.datasets import BinaryFileDataset, OptionalDataset, PngArrayDataset, TableDataset
from facial_anomaly.datasets._files import write_bytes_atomically


def test_png_rgb_round_trip_is_lossless(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, size=(17, 23, 3), dtype=np.uint8)
    dataset = PngArrayDataset(filepath=str(tmp_path / "a.png"))
    dataset.save(image)
    np.testing.assert_array_equal(dataset.load(), image)


def test_png_rgba_round_trip_and_opaque_alpha_for_rgb_files(tmp_path):
    image = np.random.default_rng(1).integers(0, 256, size=(9, 11, 4), dtype=np.uint8)
    dataset = PngArrayDataset(filepath=str(tmp_path / "a.png"), mode="rgba")
    dataset.save(image)
    np.testing.assert_array_equal(dataset.load(), image)
    np.testing.assert_array_equal(PngArrayDataset(filepath=str(tmp_path / "a.png")).load(), image[..., :3])
    PngArrayDataset(filepath=str(tmp_path / "b.png")).save(image[..., :3])
    opaque = PngArrayDataset(filepath=str(tmp_path / "b.png"), mode="rgba").load()
    np.testing.assert_array_equal(opaque[..., :3], image[..., :3])
    assert (opaque[..., 3] == 255).all()


def test_png_gray_saves_float_masks_as_8_bit(tmp_path):
    dataset = PngArrayDataset(filepath=str(tmp_path / "m.png"), mode="gray")
    dataset.save(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    np.testing.assert_array_equal(dataset.load(), [[0, 128, 255]])


def test_png_rejects_wrong_shapes_with_a_message(tmp_path):
    with pytest.raises(DatasetError, match="H×W×3"):
        PngArrayDataset(filepath=str(tmp_path / "a.png")).save(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="mode"):
        PngArrayDataset(filepath=str(tmp_path / "a.png"), mode="cmyk")


def test_table_parquet_and_csv_round_trip(tmp_path):
    frame = pd.DataFrame({"image_id": ["a", "b"], "score": [0.5, 1.5]})
    for name in ("t.parquet", "t.csv"):
        dataset = TableDataset(filepath=str(tmp_path / name))
        dataset.save(frame)
        pd.testing.assert_frame_equal(dataset.load(), frame)
    with pytest.raises(DatasetError, match=".xlsx"):
        TableDataset(filepath=str(tmp_path / "t.xlsx")).save(frame)


def test_versioned_table_keeps_earlier_versions(tmp_path):
    path = str(tmp_path / "report.parquet")
    first = TableDataset(filepath=path, version=Version(None, "2026-01-01T00.00.00.000Z"))
    first.save(pd.DataFrame({"x": [1]}))
    second = TableDataset(filepath=path, version=Version(None, "2026-01-02T00.00.00.000Z"))
    second.save(pd.DataFrame({"x": [2]}))
    assert TableDataset(filepath=path, version=Version(None, None)).load()["x"].tolist() == [2]
    assert TableDataset(filepath=path, version=Version("2026-01-01T00.00.00.000Z", None)).load()["x"].tolist() == [1]


class _ExplodingFrame(pd.DataFrame):
    def to_parquet(self, *args, **kwargs):
        raise RuntimeError("disk full halfway")


def test_failed_save_leaves_the_previous_file_whole(tmp_path):
    path = tmp_path / "t.parquet"
    dataset = TableDataset(filepath=str(path))
    dataset.save(pd.DataFrame({"x": [1, 2, 3]}))
    before = path.read_bytes()
    with pytest.raises(DatasetError):
        dataset.save(_ExplodingFrame({"x": [9]}))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]  # no partial file left


def test_atomic_write_cleans_up_when_rename_fails(tmp_path, monkeypatch):
    import fsspec

    def broken_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_bytes_atomically(fsspec.filesystem("file"), "file", str(tmp_path / "x.bin"), b"data")
    assert list(tmp_path.iterdir()) == []


def test_binary_dataset_returns_raw_bytes(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"\xff\xd8 not really")
    assert BinaryFileDataset(filepath=str(tmp_path / "x.jpg")).load() == b"\xff\xd8 not really"


def test_optional_dataset_returns_default_when_missing(tmp_path):
    table = {"type": "facial_anomaly.datasets.TableDataset", "filepath": str(tmp_path / "t.parquet")}
    assert OptionalDataset(dataset=table).load() is None
    TableDataset(filepath=str(tmp_path / "t.parquet")).save(pd.DataFrame({"x": [1]}))
    assert OptionalDataset(dataset=table).load()["x"].tolist() == [1]
    with pytest.raises(DatasetError, match="read-only"):
        OptionalDataset(dataset=table).save(pd.DataFrame())


def test_missing_or_empty_folder_loads_as_no_partitions(tmp_path):
    from facial_anomaly.datasets import PartitionedFolderDataset

    folder = PartitionedFolderDataset(
        path=str(tmp_path / "absent"), dataset="facial_anomaly.datasets.BinaryFileDataset"
    )
    assert folder.load() == {}
    (tmp_path / "empty").mkdir()
    empty = PartitionedFolderDataset(path=str(tmp_path / "empty"), dataset="facial_anomaly.datasets.BinaryFileDataset")
    assert empty.load() == {}
    (tmp_path / "empty" / "a.jpg").write_bytes(b"x")
    assert {key: load() for key, load in empty.load().items()} == {"a.jpg": b"x"}
