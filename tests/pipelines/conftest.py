"""Fixtures for the pipeline tests."""

from __future__ import annotations

from pathlib import Path

import pytest

# What preprocess reports for each file of the embedded sample (plus the .gitkeep the
# fixture adds: every file gets a row, housekeeping files included).
EXPECTED_STATUS = {
    ".gitkeep": "unsupported_format",
    "demo_astronaut.png": "ok",
    "demo_astronaut_mirrored.jpg": "ok",
    "demo_astronaut_rolled.png": "ok",
    "demo_astronaut_bright.jpg": "ok",
    "demo_astronaut_gray.png": "ok",
    "demo_astronaut_16bit.png": "ok",
    "demo_astronaut_rgba.png": "ok",
    "demo_astronaut_exif_orientation.jpg": "ok",
    "sub folder/demo astronaut small.webp": "too_small",
    "rejected/demo_no_face_coffee.jpg": "no_face",
    "rejected/demo_truncated.jpg": "unreadable",
    "rejected/demo_tiny.png": "too_small",
    "rejected/demo_notes.txt": "unsupported_format",
}
OK_COUNT = sum(status == "ok" for status in EXPECTED_STATUS.values())


@pytest.fixture
def sample_input(tmp_path) -> Path:
    """The embedded demo sample written to a temporary raw folder."""
    from facial_anomaly.sample import write_embedded_sample

    folder = tmp_path / "raw"
    write_embedded_sample(folder)
    (folder / ".gitkeep").write_text("")
    return folder
