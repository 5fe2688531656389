"""Hostile input folders: odd names and odd files never stop a batch and are never dropped;
each becomes a report row with its own reason."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pandas as pd
import pytest

from facial_anomaly.batch.preprocess import preprocess_folder
from facial_anomaly.faces.config import PreprocessConfig
from facial_anomaly.parallel import ExecutorConfig
from facial_anomaly.storage.artifacts import ArtifactFolder
from facial_anomaly.storage.inputs import list_inputs

SERIAL = ExecutorConfig(kind="serial")


@pytest.fixture
def no_hang():
    """Fail (instead of hanging the suite) when a test blocks for more than 60 s."""

    def expire(*_):
        raise TimeoutError("the batch hung")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def run(folder: Path, tmp_path: Path, entries=None, **config) -> pd.DataFrame:
    entries = list_inputs(str(folder)) if entries is None else entries
    aligned = ArtifactFolder(str(tmp_path / "aligned"))
    return preprocess_folder(str(folder), entries, aligned, PreprocessConfig(**config), SERIAL)


def statuses(table: pd.DataFrame) -> dict[str, str]:
    return dict(zip(table["image"], table["status"]))


def test_every_kind_of_hostile_file_gets_its_own_row_and_reason(tmp_path, astronaut_jpeg, no_hang):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.jpg").write_bytes(astronaut_jpeg)
    # A name that is not UTF-8 (Latin-1 "é"), and names that are only an extension.
    (Path(os.fsdecode(bytes(folder)) + "/") / os.fsdecode(b"caf\xe9.jpg")).write_bytes(astronaut_jpeg)
    (folder / ".jpg").write_bytes(astronaut_jpeg)
    (folder / "..jpg").write_bytes(astronaut_jpeg)
    # A name so long that the id plus a temporary-file suffix would pass 255 bytes.
    long_name = "x" * 240 + ".jpg"
    (folder / long_name).write_bytes(astronaut_jpeg)
    os.mkfifo(folder / "pipe.jpg")  # reading it would block for ever
    (folder / "zero.jpg").symlink_to("/dev/zero")  # reading it would fill the memory
    (folder / "empty.jpg").write_bytes(b"")
    with open(folder / "huge.jpg", "wb") as handle:  # sparse: big on paper, nothing on disk
        handle.truncate(300_000_000)
    (folder / "loop").symlink_to(folder)  # a folder that contains itself
    (folder / "notes.txt").write_text("not a photo")

    table = run(folder, tmp_path, decode={"max_bytes": 200_000_000})
    got = statuses(table)
    assert got["good.jpg"] == "ok"
    assert got["caf\\xe9.jpg"] == "ok"  # shown escaped, read by its real bytes
    assert got[".jpg"] == "ok" and got["..jpg"] == "ok"
    assert got[long_name] == "ok"
    assert got["pipe.jpg"] == "not_a_regular_file"
    assert got["zero.jpg"] == "not_a_regular_file"
    assert got["empty.jpg"] == "empty_file"
    assert got["huge.jpg"] == "too_large"
    assert got["notes.txt"] == "unsupported_format"
    assert len(table) == len(got) == 10  # every file once; the looping folder is not walked twice
    assert (table.loc[table["status"] != "ok", "detail"] != "").all()
    ids = table["image_id"]
    assert ids.is_unique and ids.map(len).max() <= 120
    for image_id in table.loc[table["status"] == "ok", "image_id"]:
        assert (tmp_path / "aligned" / f"{image_id}.png").exists()


def test_a_file_that_vanishes_after_listing_is_a_row_not_a_crash(tmp_path, astronaut_jpeg):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg"):
        (folder / name).write_bytes(astronaut_jpeg)
    entries = list_inputs(str(folder))  # listed once, as a run does
    (folder / "a.jpg").unlink()
    table = run(folder, tmp_path, entries=entries)
    assert statuses(table) == {"a.jpg": "vanished", "b.jpg": "ok"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder: permissions cannot be tested")
def test_an_unreadable_sub_folder_is_a_row(tmp_path, astronaut_jpeg):
    folder = tmp_path / "in"
    (folder / "locked").mkdir(parents=True)
    (folder / "locked" / "a.jpg").write_bytes(astronaut_jpeg)
    (folder / "b.jpg").write_bytes(astronaut_jpeg)
    (folder / "locked").chmod(0)
    try:
        table = run(folder, tmp_path)
    finally:
        (folder / "locked").chmod(0o755)
    assert statuses(table) == {"b.jpg": "ok", "locked/": "unreadable"}


def test_a_file_over_the_byte_limit_is_refused_before_reading(tmp_path, astronaut_jpeg):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(astronaut_jpeg)
    table = run(folder, tmp_path, decode={"max_bytes": 1000})
    assert table.loc[0, "status"] == "too_large" and "1000-byte limit" in table.loc[0, "detail"]


def test_a_missing_input_folder_is_an_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_inputs(str(tmp_path / "nope"))
