"""All-or-nothing writes (facial_anomaly.atomic)."""

from __future__ import annotations

import pytest

from facial_anomaly.atomic import write_bytes_atomically


def test_writes_whole_file_and_creates_the_folder(tmp_path):
    target = write_bytes_atomically(tmp_path / "a" / "b.bin", b"new")
    assert target.read_bytes() == b"new" and [p.name for p in target.parent.iterdir()] == ["b.bin"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")

    def broken_replace(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr("facial_anomaly.atomic.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_bytes_atomically(target, b"new")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_a_file_that_already_holds_the_bytes_is_not_rewritten(tmp_path, monkeypatch):
    target = write_bytes_atomically(tmp_path / "same.bin", b"payload")
    replaced = []
    monkeypatch.setattr("facial_anomaly.atomic.os.replace", lambda *args: replaced.append(args))
    write_bytes_atomically(target, b"payload")
    assert replaced == [] and target.read_bytes() == b"payload"
    monkeypatch.undo()
    write_bytes_atomically(target, b"payloaD")  # same size, other bytes: written
    assert target.read_bytes() == b"payloaD"
