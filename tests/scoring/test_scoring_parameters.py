"""The shipped parameter files fit the library's signatures."""

from pathlib import Path

import numpy as np
import yaml

from facial_anomaly.heatmaps import ensure_kind_available, heatmap, overlay_heatmap
from facial_anomaly.scoring import parse_variant_name, score_variants, variant_grid

CONF = Path(__file__).resolve().parents[2] / "conf" / "base"


def _load(stage):
    return yaml.safe_load((CONF / f"parameters_{stage}.yml").read_text(encoding="utf-8"))


def test_paper_defaults_and_table_1_grid():
    heatmaps, scores = _load("heatmaps")["heatmaps"], _load("scores")["scores"]
    assert (heatmaps["kind"], heatmaps["color_space"]) == ("pse", "ycbcr")
    assert (heatmaps["erosion_size"], heatmaps["erosion_iterations"]) == (3, 1)
    names = [variant.name for variant in variant_grid(scores["grid"])]
    assert len(names) == 24 and scores["default_variant"] in names
    assert parse_variant_name(scores["default_variant"]).region == "mouth_nose"
    evaluate = _load("evaluate")["evaluate"]
    assert evaluate["subset_controls"] in ("within", "all_normals")


def test_parameter_blocks_run_through_the_library(astronaut_aligned):
    heatmaps, scores = _load("heatmaps")["heatmaps"], _load("scores")["scores"]
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    other = np.roll(face, 2, axis=1)
    settings = {key: heatmaps[key] for key in ("erosion_size", "erosion_iterations", "channel_reduction")}
    settings["kind_options"] = heatmaps["kind_options"]
    heat = heatmap(face, other, kind=heatmaps["kind"], color_space=heatmaps["color_space"], **settings)
    overlay_heatmap(face, heat, **heatmaps["overlay"])
    ensure_kind_available("ssim", kind_options=heatmaps["kind_options"])
    local_grid = {**scores["grid"], "kinds": ["pse", "ssim"]}  # LPIPS weights are not on this machine
    result = score_variants(
        face,
        other,
        landmarks,
        grid=local_grid,
        statistic=scores["statistic"],
        region_params=scores["regions"],
        **settings,
    )
    assert len(result) == 16 and all(np.isfinite(list(result.values())))
