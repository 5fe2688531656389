"""Paths shared by the test modules (importable because pytest puts tests/ on sys.path)."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONF_BASE = PROJECT_ROOT / "conf" / "base"
SHARED_DATA = Path(os.environ.get("FACIAL_ANOMALY_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


def load_parameters(stage: str) -> dict:
    """The parsed ``conf/base/parameters_<stage>.yml`` (no Kedro needed)."""
    import yaml

    with open(CONF_BASE / f"parameters_{stage}.yml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)
