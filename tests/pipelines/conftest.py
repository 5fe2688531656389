"""Fixtures for the pipeline tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from project_paths import PROJECT_ROOT


@pytest.fixture
def sample_input(tmp_path) -> Path:
    """The embedded demo sample written to a temporary raw folder."""
    import yaml

    from facial_anomaly.sample import write_embedded_sample

    params = yaml.safe_load((PROJECT_ROOT / "conf" / "base" / "parameters.yml").read_text())["embedded_sample"]
    folder = tmp_path / "raw"
    write_embedded_sample(folder, params)
    (folder / ".gitkeep").write_text("")
    return folder
