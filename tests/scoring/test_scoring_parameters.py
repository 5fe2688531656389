"""The typed settings (defaults in code, conf/base values on top) fit the library's signatures."""

import numpy as np
import pytest
from kedro_helpers import project_config

from facial_anomaly.evaluation.config import EvaluateConfig
from facial_anomaly.heatmaps import ensure_kind_available, heatmap
from facial_anomaly.heatmaps.config import HeatmapsConfig
from facial_anomaly.scoring import parse_variant_name, score_variants, variant_grid
from facial_anomaly.scoring.config import ScoresConfig


def configured(config_type, block: str, env: str | None = None):
    return config_type.model_validate(project_config({}, env=env)["parameters"][block])


def test_paper_defaults_and_table_1_grid():
    heatmaps, scores = configured(HeatmapsConfig, "heatmaps"), configured(ScoresConfig, "scores")
    assert (heatmaps.kind, heatmaps.color_space) == ("pse", "ycbcr")
    assert (heatmaps.erosion_size, heatmaps.erosion_iterations) == (3, 1)
    names = [variant.name for variant in variant_grid(heatmaps.grid.model_dump())]
    # The default grid: the pixel kinds in YCbCr, eroded, with and without LCN, and the deep
    # kind on RGB, in the three regions with both summaries — what the bench ranks best.
    assert len(names) == (2 * 2 + 1) * 3 * 2 and "pse_ycbcr_eroded__mouth_nose" in names
    assert "ssim_ycbcr_lcn_eroded__lower_face__topk" in names and "deep_base__mouth_nose" in names
    assert scores.default_variant in names
    default = parse_variant_name(scores.default_variant)
    assert (default.kind, default.region, default.summary) == ("deep", "lower_face", "topk")
    assert configured(EvaluateConfig, "evaluate").subset_controls in ("within", "all_normals")
    # The full_grid environment: Table 1 ({PSE, SSIM, LPIPS} × {base, YCbCr, eroded, both} ×
    # regions) plus the deep kind and LCN on the pixel kinds, the default variant among them.
    full = configured(HeatmapsConfig, "heatmaps", env="full_grid")
    names = [variant.name for variant in variant_grid(full.grid.model_dump())]
    assert len(names) == (2 * 2 * 4 + 4 + 4) * 3 * 2  # pse and ssim with and without LCN, lpips, deep
    assert {"lpips_base__mouth_nose", "pse_ycbcr_eroded__mouth_nose", scores.default_variant} <= set(names)


def test_parameter_blocks_run_through_the_library(astronaut_aligned):
    heatmaps = configured(HeatmapsConfig, "heatmaps")
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    other = np.roll(face, 2, axis=1)
    heat = heatmap(face, other, **heatmaps.map_settings())
    assert heat.shape == face.shape[:2] and heat.dtype == np.float32
    ensure_kind_available("ssim", kind_options=heatmaps.kind_options.model_dump())
    result = score_variants(
        face, other, landmarks, grid=heatmaps.grid.model_dump(), statistic=heatmaps.statistic,
        **heatmaps.scoring_options(),
    )  # fmt: skip
    assert len(result) == 5 * 3 * 2 and all(np.isfinite(list(result.values())))


def test_a_wrong_setting_fails_in_one_line_naming_the_parameter():
    with pytest.raises(ValueError, match=r"^scores\.default_variant: .*'pse_ycbcr__mouth'") as caught:
        ScoresConfig.model_validate({"default_variant": "pse_ycbcr__mouth"})
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match=r"^heatmaps\.erosion_size: .*greater than or equal to 1 \(got 0\)"):
        HeatmapsConfig.model_validate({"erosion_size": 0})
    with pytest.raises(ValueError, match=r"^heatmaps\.grid\.regions: .*'nose'"):
        HeatmapsConfig.model_validate({"grid": {"regions": ["nose"]}})
    for column, message in (
        ("mirror.pse_base__mouth_nose", "is a heatmap variant"),
        ("padim__nowhere__topk", "unknown region 'nowhere'"),
        ("shape_residual__teeth__mean", "is not <normalizer>.<variant>"),
    ):
        with pytest.raises(ValueError, match=rf"^scores\.model_columns: .*{message}") as caught:
            ScoresConfig.model_validate({"model_columns": [column]})
        assert "\n" not in str(caught.value)
