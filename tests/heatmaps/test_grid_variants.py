"""The variant grid: the product of its settings plus variants named one by one."""

from __future__ import annotations

import pytest

from facial_anomaly.batch.heatmaps import z_grid
from facial_anomaly.config import validated
from facial_anomaly.heatmaps.config import GridConfig, HeatmapsConfig
from facial_anomaly.run_checks import RunConfigurationError, check_default_variant
from facial_anomaly.scoring.scores import variant_grid

PRODUCT = {"kinds": ["pse"], "color_spaces": ["ycbcr"], "erosion": [True], "regions": ["mouth_nose", "lower_face"],
           "summaries": ["mean", "topk"]}  # fmt: skip


def test_named_variants_follow_the_product_once_each():
    grid = {**PRODUCT, "variants": ["deep_base__lower_face__topk", "pse_ycbcr_eroded__mouth_nose",
                                    "deep_base__lower_face__topk"]}  # fmt: skip
    assert [v.name for v in variant_grid(grid)] == [
        "pse_ycbcr_eroded__mouth_nose",
        "pse_ycbcr_eroded__mouth_nose__topk",
        "pse_ycbcr_eroded__lower_face",
        "pse_ycbcr_eroded__lower_face__topk",
        "deep_base__lower_face__topk",
    ]


def test_named_variants_get_their_z_scored_counterparts():
    names = [v.name for v in variant_grid(z_grid({**PRODUCT, "variants": ["deep_base__lower_face__topk"]}))]
    assert names[-2:] == ["deep_base__lower_face__topk", "deep_base__lower_face__ztopk"]
    assert "pse_ycbcr_eroded__mouth_nose__zmean" in names and len(names) == 10


@pytest.mark.parametrize(
    ("variants", "match"),
    [
        (["deep_base__full_face"], r"grid\.variants: .*'deep_base__full_face' is in region 'full_face', not among"),
        (["deep_base__lower_face__ztopk"], r"grid\.variants: .*z-scored summaries follow normal_variation"),
        (["deep_rgb__lower_face"], r"not canonical; did you mean 'deep_base__lower_face'"),
    ],
)
def test_bad_named_variants_are_named(variants, match):
    with pytest.raises(ValueError, match=match) as caught:
        validated(GridConfig, {**PRODUCT, "variants": variants}, name="grid")
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match="regions"):
        variant_grid({**PRODUCT, "variants": ["deep_base__full_face"]})


def test_the_default_variant_must_be_computed_by_the_grid():
    heatmaps = HeatmapsConfig.model_validate({"grid": {**PRODUCT, "variants": ["deep_base__lower_face__topk"]}})
    check_default_variant(heatmaps, {"default_variant": "deep_base__lower_face__topk"})
    check_default_variant(heatmaps, {"default_variant": "deep_base__lower_face__ztopk"})  # normal_variation on
    with pytest.raises(RunConfigurationError, match=r"scores\.default_variant='deep_base__lower_face__ztopk'"):
        check_default_variant(heatmaps.model_copy(update={"normal_variation": False}),
                              {"default_variant": "deep_base__lower_face__ztopk"})  # fmt: skip
    with pytest.raises(RunConfigurationError, match="is not a variant of heatmaps.grid"):
        check_default_variant(heatmaps, {"default_variant": "ssim_ycbcr_eroded__mouth_nose"})
