"""Start-up cost: the per-image stages of the scoring contract import neither torch nor
mlflow (seconds each) unless a configuration needs them (the deep and lpips kinds need
torch; the pixel kinds and the geometric normalizers do not), and the LPIPS check finds its
weight files where torch would look for them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from facial_anomaly.heatmaps import maps

HEAVY = ("torch", "torchvision", "lpips", "mlflow", "sklearn", "matplotlib")

_STAGES = """
import json, sys
import facial_anomaly.batch.gallery, facial_anomaly.batch.heatmaps, facial_anomaly.batch.normalize
import facial_anomaly.batch.preprocess
from facial_anomaly.heatmaps import HeatmapKindUnavailable, ensure_kind_available, lpips_backbone_file
from facial_anomaly.heatmaps.config import HeatmapsConfig
from facial_anomaly.normalizers.config import NormalizeConfig
from facial_anomaly.normalizers.factory import build_normalizers

normalizers = build_normalizers(NormalizeConfig(normalizer="symmetry"), {})
try:
    ensure_kind_available("lpips", kind_options=HeatmapsConfig().kind_options.model_dump())
    lpips = "available"
except HeatmapKindUnavailable:
    lpips = "unavailable"
print(json.dumps({"normalizers": list(normalizers), "lpips": lpips, "file": str(lpips_backbone_file("alex")),
                  "imported": sorted(name for name in %r if name in sys.modules)}))
"""


def _run(environment: dict) -> dict:
    env = {**os.environ, **environment}
    result = subprocess.run(
        [sys.executable, "-c", _STAGES % (HEAVY,)], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_contract_stages_import_no_torch_or_mlflow(tmp_path):
    report = _run({"TORCH_HOME": str(tmp_path / "torch_home")})
    assert report["normalizers"] == ["symmetry"]
    assert report["lpips"] == "unavailable"
    assert report["imported"] == []


@pytest.mark.parametrize("variables", [{"TORCH_HOME": "th"}, {"XDG_CACHE_HOME": "xdg"}, {}])
def test_lpips_file_is_where_torch_looks(tmp_path, monkeypatch, variables):
    import torch
    import torchvision.models

    environment = {name: str(tmp_path / value) for name, value in variables.items()}
    for name in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    expected = os.path.join(torch.hub.get_dir(), "checkpoints", "alexnet-owt-7be5be79.pth")
    report = _run({})  # the environment set above, in a process without torch
    assert report["file"] == expected
    if not environment:
        assert expected == os.path.expanduser("~/.cache/torch/hub/checkpoints/alexnet-owt-7be5be79.pth")
    # With torch imported, torch is asked (it may have been pointed elsewhere with set_dir).
    assert str(maps.lpips_backbone_file("alex")) == expected
    for net, weights in maps._LPIPS_BACKBONE_WEIGHTS.items():
        url = getattr(torchvision.models, weights).IMAGENET1K_V1.url
        assert url.rsplit("/", 1)[1] == maps._LPIPS_BACKBONE_FILES[net]


def test_registering_the_pipelines_imports_no_torch_or_sklearn():
    """``kedro registry list`` / ``kedro run`` register every pipeline: their node modules
    import the heavy libraries where a node runs, not at import."""
    code = (
        "import json, sys\n"
        "from kedro.framework.project import configure_project\n"
        "configure_project('facial_anomaly')\n"
        "from facial_anomaly.pipeline_registry import register_pipelines\n"
        "pipelines = register_pipelines()\n"
        f"print(json.dumps({{'pipelines': len(pipelines), 'imported': sorted(n for n in {HEAVY!r} if n in sys.modules)}}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["pipelines"] > 10
    assert report["imported"] == []
