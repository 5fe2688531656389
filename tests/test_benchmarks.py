"""The benchmark scripts read the project's settings the way the pipelines do.

conf/base names only what users tune; the rest are defaults in code. A benchmark that read a
key straight from the YAML broke silently when the key moved into code, so the settings come
from one helper, checked here against the library functions they feed.
"""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
from project_paths import PROJECT_ROOT

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
from _shared_data import project_settings


def test_project_settings_feed_the_library_functions():
    from facial_anomaly.normalizers import ShapeModel, build_normalizer
    from facial_anomaly.normalizers.config import NormalizeConfig
    from facial_anomaly.scoring import score_variants

    settings = project_settings()
    assert isinstance(settings["normalize"], NormalizeConfig)
    for name in ("mirror", "symmetry"):
        assert build_normalizer(name, settings["normalize"]).__class__.__name__.lower().startswith(name)
    inspect.signature(ShapeModel.fit).bind([], **settings["shape_model"])
    inspect.signature(score_variants).bind(None, None, None, grid={}, statistic="anomaly_score", **settings["scoring"])
    assert set(settings["scoring"]["region_params"]) >= {"mouth_nose", "lower_face", "face_without_eyes"}


def test_invariance_benchmark_demo_runs_on_the_astronaut():
    pytest.importorskip("mediapipe")
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "benchmarks" / "invariance.py"), "--demo"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT_ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines() if line.split()[:1] in (["clean"], ["mirrored"])]
    assert len(rows) == 2
    (_, clean_off, clean_on), (_, mirrored_off, mirrored_on) = rows
    # With the defaults the mirror image scores as the face does (mirror-consistent landmarks).
    assert float(mirrored_on) == pytest.approx(float(clean_on), rel=0.02)
