import json

import numpy as np
import pytest

from facial_anomaly.faces import transform_points
from facial_anomaly.heatmaps import (
    HeatSketch,
    PanelConfig,
    heat_alpha,
    image_panel,
    overlay_on_photo,
    panel_layout,
    resolve_vmax,
    score_percentile,
    with_colorbar,
)
from facial_anomaly.heatmaps.drawing import colorize, fit_text, load_font, mask_outline
from facial_anomaly.heatmaps.panel import aligned_to_photo_matrix, ordinal, panel_title, photo_output_size

SIDE = 64
FACE_RGB = (90, 140, 60)  # no tile of a panel or colour of the outline has this colour


def _face(side=SIDE):
    rng = np.random.default_rng(0)
    face = np.empty((side, side, 3), np.uint8)
    face[:] = FACE_RGB
    face[::7, ::5] = rng.integers(0, 50, size=(len(range(0, side, 7)), len(range(0, side, 5)), 3))
    return face


def _square_region(side=SIDE, lo=16, hi=48):
    region = np.zeros((side, side), bool)
    region[lo:hi, lo:hi] = True
    return region


def _panel(heat, *, config, region=None, vmax=2.0, face=None):
    face = _face() if face is None else face
    return image_panel(
        face,
        face[:, ::-1].copy(),
        heat,
        face_mask=np.ones(heat.shape, np.float32),
        region_mask=_square_region() if region is None else region,
        vmax=vmax,
        image_name="sub folder/photo 1.jpg",
        variant="pse_ycbcr_eroded__mouth_nose",
        score=3.25,
        percentile=97.5,
        reference="40 controls",
        config=config,
    )


def _tile(panel, layout, name):
    x, y = layout[name]
    width, height = layout["tile"]
    return panel[y : y + height, x : x + width]


# ------------------------------------------------------------------------- geometry


def test_panel_size_and_tiles_match_the_layout():
    config = PanelConfig(tile_px=SIDE, colorbar_px=60, gap_px=3)
    face = _face()
    panel = _panel(np.zeros((SIDE, SIDE), np.float32), config=config, face=face)
    layout = panel_layout(config)
    assert panel.dtype == np.uint8 and panel.shape == (layout["size"][1], layout["size"][0], 3)
    assert layout["size"][0] == 4 * SIDE + 60 + 3 * 3
    np.testing.assert_array_equal(_tile(panel, layout, "aligned"), face)  # native size: untouched
    np.testing.assert_array_equal(_tile(panel, layout, "normalized"), face[:, ::-1])


def test_tiles_are_resampled_to_tile_px():
    config = PanelConfig(tile_px=32)
    panel = _panel(np.zeros((SIDE, SIDE), np.float32), config=config)
    layout = panel_layout(config)
    assert panel.shape[:2] == (layout["size"][1], layout["size"][0])
    assert layout["tile"] == (32, 32)
    np.testing.assert_array_equal(_tile(panel, layout, "aligned")[0, 1], FACE_RGB)


def test_the_colour_bar_runs_from_vmax_at_the_top_to_zero_at_the_bottom():
    config = PanelConfig(tile_px=SIDE, colormap="viridis")
    panel = _panel(np.zeros((SIDE, SIDE), np.float32), config=config)
    layout = panel_layout(config)
    x, y = layout["colorbar"]
    bar_column = panel[y : y + SIDE, x + 4]  # inside the coloured strip
    top, bottom = colorize(np.array([1.0]), "viridis")[0], colorize(np.array([0.0]), "viridis")[0]
    coloured = np.flatnonzero(np.abs(bar_column.astype(int) - 255).sum(axis=1) > 0)
    np.testing.assert_array_equal(bar_column[coloured[0]], top)
    np.testing.assert_array_equal(bar_column[coloured[-1]], bottom)
    assert len(coloured) >= SIDE - 2 * int(np.ceil(config.font_size_px * 0.6)) - 1


def test_zero_heat_leaves_the_face_untinted_except_the_region_outline():
    config = PanelConfig(tile_px=SIDE)
    face = _face()
    panel = _panel(np.zeros((SIDE, SIDE), np.float32), config=config, face=face)
    overlay = _tile(panel, panel_layout(config), "overlay")
    outline = mask_outline(_square_region(), thickness_px=config.outline_px)
    np.testing.assert_array_equal(overlay[~outline], face[~outline])
    assert (overlay[outline] == config.outline_rgb).all()


def test_the_outline_follows_the_inner_edge_of_the_region():
    config = PanelConfig(tile_px=SIDE, outline_px=2, outline_rgb=(255, 0, 255))
    overlay = _tile(_panel(np.zeros((SIDE, SIDE), np.float32), config=config), panel_layout(config), "overlay")
    is_outline = (overlay == (255, 0, 255)).all(axis=-1)
    expected = np.zeros((SIDE, SIDE), bool)
    expected[16:48, 16:48] = True
    expected[18:46, 18:46] = False  # a 2 px ring just inside the square [16, 48)
    np.testing.assert_array_equal(is_outline, expected)


def test_heat_is_drawn_only_inside_the_face_mask():
    config = PanelConfig(tile_px=SIDE, alpha_threshold=0.0)
    face = _face()
    face_mask = np.zeros((SIDE, SIDE), np.float32)
    face_mask[:, : SIDE // 2] = 1.0
    panel = image_panel(
        face,
        face,
        np.full((SIDE, SIDE), 2.0, np.float32),
        face_mask=face_mask,
        region_mask=np.zeros((SIDE, SIDE), bool),
        vmax=2.0,
        image_name="x",
        variant="v",
        score=None,
        percentile=None,
        config=config,
    )
    overlay = _tile(panel, panel_layout(config), "overlay")
    np.testing.assert_array_equal(overlay[:, SIDE // 2 :], face[:, SIDE // 2 :])
    assert (overlay[:, : SIDE // 2] != face[:, : SIDE // 2]).any(axis=-1).all()


# ------------------------------------------------------------------------- colour scale


def test_one_fixed_scale_keeps_heat_1_and_2_apart():
    config = PanelConfig(tile_px=SIDE, colormap="gray")
    layout = panel_layout(config)
    heats = [np.full((SIDE, SIDE), value, np.float32) for value in (1.0, 2.0)]
    sketch = HeatSketch(relative_accuracy=0.001)
    for heat in heats:
        sketch.add(heat)
    vmax = resolve_vmax(config.model_copy(update={"vmax_percentile": 100.0}), sketch)
    assert vmax == pytest.approx(2.0, rel=1e-3)
    tiles = [_tile(_panel(heat, config=config, vmax=vmax), layout, "heat") for heat in heats]
    # gray colormap: heat/vmax 0.5 → mid grey, 1.0 → white; each map scaled to its own max would give white twice.
    np.testing.assert_allclose(tiles[0][5, 5], [128, 128, 128], atol=1)
    np.testing.assert_array_equal(tiles[1][5, 5], [255, 255, 255])


def test_heat_alpha_curve():
    config = PanelConfig(alpha_max=0.8, alpha_threshold=0.25, alpha_gamma=2.0)
    heat = np.array([[0.0, 0.5, 1.0, 2.5, 4.0, 9.0]], np.float32)
    alpha = heat_alpha(heat, vmax=4.0, config=config)
    # u = heat/4 = 0, .125, .25, .625, 1, 1 → ((u − .25)/.75)² · 0.8
    np.testing.assert_allclose(alpha[0], [0.0, 0.0, 0.0, 0.8 * 0.25, 0.8, 0.8], atol=1e-6)
    assert alpha[0, 0] == 0.0


def test_sketch_quantiles_match_numpy_within_the_relative_accuracy():
    rng = np.random.default_rng(1)
    values = rng.lognormal(mean=3.0, sigma=2.0, size=20_000).astype(np.float32)
    values[:3000] = 0.0
    sketch = HeatSketch(relative_accuracy=0.005)
    for chunk in np.array_split(values, 7):
        sketch.add(chunk)
    assert sketch.count == values.size and sketch.zero_count == 3000
    for q in (0.0, 0.1, 0.15, 0.5, 0.9, 0.99, 0.999, 1.0):
        exact = float(np.quantile(values, q, method="lower"))
        assert sketch.quantile(q) == pytest.approx(exact, rel=0.005, abs=0.0), q


def test_sketches_merge_and_travel_as_json():
    rng = np.random.default_rng(2)
    a_values, b_values = rng.gamma(2.0, 50.0, 5000), rng.gamma(2.0, 500.0, 3000)
    mask = rng.random(5000) > 0.3
    a = HeatSketch().add(a_values, mask)
    b = HeatSketch.from_dict(json.loads(json.dumps(HeatSketch().add(b_values).to_dict())))
    together = HeatSketch().add(np.concatenate([a_values[mask], b_values]))
    merged = a + b
    assert merged.count == together.count == mask.sum() + 3000
    for q in (0.05, 0.5, 0.99):
        assert merged.quantile(q) == together.quantile(q)
    with pytest.raises(ValueError, match="different settings"):
        a.merge(HeatSketch(relative_accuracy=0.01))


@pytest.mark.parametrize(
    ("values", "message"),
    [(np.array([1.0, -0.5]), "≥ 0"), (np.array([np.nan]), "NaN"), (np.array([np.inf]), "infinite")],
)
def test_sketch_rejects_negative_or_non_finite_heat(values, message):
    with pytest.raises(ValueError, match=message):
        HeatSketch().add(values)


def test_resolve_vmax():
    sketch = HeatSketch().add(np.arange(101, dtype=np.float32))
    assert resolve_vmax(PanelConfig(vmax=7.5), sketch) == 7.5
    assert resolve_vmax(PanelConfig(vmax=7.5)) == 7.5
    assert resolve_vmax(PanelConfig(vmax_percentile=90), sketch) == pytest.approx(90.0, rel=0.005)
    assert resolve_vmax(PanelConfig(), HeatSketch().add(np.zeros(10))) == 1.0
    sparse = HeatSketch().add(np.r_[np.zeros(999), 5.0])  # 99th percentile is 0: the maximum is used
    assert resolve_vmax(PanelConfig(), sparse) == pytest.approx(5.0, rel=0.005)
    with pytest.raises(ValueError, match="vmax is not configured"):
        resolve_vmax(PanelConfig())
    with pytest.raises(ValueError, match="empty"):
        HeatSketch().quantile(0.5)


def test_score_percentile_is_a_mid_rank():
    controls = [1.0, 2.0, 3.0, 4.0, np.nan]
    assert score_percentile(3.0, controls) == 62.5
    assert score_percentile(10.0, controls) == 100.0
    assert score_percentile(0.0, controls) == 0.0
    assert np.isnan(score_percentile(np.nan, controls)) and np.isnan(score_percentile(1.0, []))
    column = score_percentile(np.array([3.0, 10.0, np.nan, 2.5]), controls)
    np.testing.assert_array_equal(column, [62.5, 100.0, np.nan, 50.0])


def test_title_names_the_image_variant_score_and_percentile():
    assert panel_title("a/b.jpg", "pse__full_face", 12.345, 96.6, "40 controls") == [
        "a/b.jpg",
        "variant pse__full_face  ·  score 12.3  ·  97th percentile of 40 controls",
    ]
    assert panel_title("x", "v", float("nan"), None, "run")[1] == "variant v  ·  score –"
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 100, 101)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "100th", "101st",
    ]  # fmt: skip


def test_long_names_are_shortened_in_the_middle_and_control_characters_replaced():
    font = load_font(14)
    name = "very/long/folder/" * 10 + "end_of_name.png"
    shown = fit_text(name, font, 200)
    assert font.getlength(shown) <= 200 and shown.startswith("very/") and shown.endswith(".png") and "…" in shown
    assert fit_text("a\nb\x1b", font, 500) == "a�b�"


def test_panel_config_errors_name_the_field():
    with pytest.raises(ValueError, match="unknown matplotlib colormap 'jett'"):
        PanelConfig(colormap="jett")
    with pytest.raises(ValueError, match="alpha_mx"):
        PanelConfig.model_validate({"alpha_mx": 0.5})
    with pytest.raises(ValueError, match="vmax"):
        PanelConfig(vmax=0)


def test_panel_inputs_of_different_sizes_are_rejected():
    with pytest.raises(ValueError, match="differ in size"):
        _panel(np.zeros((SIDE, SIDE + 1), np.float32), config=PanelConfig())


# --------------------------------------------------------------------- original photo

# Source → aligned: rotate by 30°, scale ×2, shift; the 64² crop covers a patch of a 300×400 photo.
_ANGLE = np.deg2rad(30)
_MATRIX = 2.0 * np.array([[np.cos(_ANGLE), np.sin(_ANGLE)], [-np.sin(_ANGLE), np.cos(_ANGLE)]])
MATRIX = np.hstack([_MATRIX, (np.array([32.0, 32.0]) - _MATRIX @ np.array([250.0, 140.0]))[:, None]])


def _disc(side=SIDE, centre=(32.0, 32.0), radius=20.0):
    yy, xx = np.mgrid[:side, :side]
    return ((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 <= radius**2).astype(np.float32)


def test_photo_overlay_touches_only_pixels_inside_the_warped_face_mask():
    photo = np.random.default_rng(3).integers(0, 256, size=(300, 400, 3), dtype=np.uint8)
    config = PanelConfig(alpha_threshold=0.0, alpha_max=1.0)
    drawn = overlay_on_photo(photo, np.full((SIDE, SIDE), 5.0, np.float32), _disc(), MATRIX, vmax=5.0, config=config)
    assert drawn.shape == photo.shape and drawn.dtype == np.uint8
    changed = (drawn != photo).any(axis=-1)
    # The disc of radius 20 aligned px around the crop centre is a disc of radius 10 source px
    # around (250, 140); bilinear warping may reach one more aligned pixel (half a source pixel).
    yy, xx = np.mgrid[:300, :400]
    distance = np.hypot(xx - 250, yy - 140)
    assert not changed[distance > 10.5 + 0.5].any()
    assert changed[distance < 9.5].all()


def test_photo_overlay_bounds_its_size_and_keeps_the_geometry():
    photo = np.zeros((1500, 2000, 3), np.uint8)
    scale_to_big = np.diag([0.2, 0.2, 1.0])  # the crop was aligned from a 5× smaller copy of the photo
    big_matrix = (np.vstack([MATRIX, [0, 0, 1]]) @ scale_to_big)[:2]
    heat = np.zeros((SIDE, SIDE), np.float32)
    heat[30:35, 30:35] = 1.0
    config = PanelConfig(photo_max_side_px=400, alpha_threshold=0.0)
    drawn = overlay_on_photo(photo, heat, np.ones_like(heat), big_matrix, vmax=1.0, config=config)
    assert drawn.shape == (300, 400, 3) and photo_output_size(photo.shape, 400) == (400, 300)
    lit = np.argwhere(drawn.any(axis=-1))
    centre = transform_points(np.array([[32.0, 32.0]]), aligned_to_photo_matrix(big_matrix, photo.shape, (400, 300)))
    np.testing.assert_allclose(lit.mean(axis=0)[::-1], centre[0], atol=1.0)
    np.testing.assert_allclose(centre[0], [250 - 0.4, 140 - 0.4], atol=1e-9)  # pixel-centre convention


def test_photo_overlay_outlines_the_region_and_appends_a_colour_bar():
    photo = np.full((300, 400, 3), 80, np.uint8)
    config = PanelConfig(outline_rgb=(0, 255, 0))
    drawn = overlay_on_photo(
        photo, np.zeros((SIDE, SIDE), np.float32), _disc(), MATRIX, vmax=1.0, config=config, region_mask=_disc() > 0
    )
    outline = (drawn == (0, 255, 0)).all(axis=-1)
    assert outline.any() and not (drawn[~outline] != 80).any()
    yy, xx = np.nonzero(outline)
    np.testing.assert_allclose(np.hypot(xx - 250, yy - 140).max(), 10.0, atol=1.0)
    framed = with_colorbar(drawn, vmax=1.0, config=config)
    assert framed.shape == (300, 400 + config.colorbar_px, 3)


def test_astronaut_panel_with_real_heat(astronaut_aligned):
    from facial_anomaly.heatmaps import heatmap, region_mask

    face, mask, points = astronaut_aligned["rgb"], astronaut_aligned["mask"], astronaut_aligned["landmarks"]
    mirrored = face[:, ::-1].copy()
    heat = heatmap(
        face,
        mirrored,
        kind="pse",
        color_space="ycbcr",
        erosion_size=3,
        erosion_iterations=1,
        channel_reduction="sum",
        kind_options={},
    )
    region = region_mask(points, face.shape, "mouth_nose", margin_iod=0.15)
    config = PanelConfig(tile_px=512)
    vmax = resolve_vmax(config, HeatSketch().add(heat, mask > 0.5))
    panel = image_panel(
        face,
        mirrored,
        heat,
        face_mask=mask,
        region_mask=region,
        vmax=vmax,
        image_name="astronaut",
        variant="v",
        score=1.0,
        percentile=50.0,
        config=config,
    )
    overlay = _tile(panel, panel_layout(config), "overlay")
    untouched = (heat <= config.alpha_threshold * vmax) | (mask == 0)
    untouched &= ~mask_outline(region, thickness_px=config.outline_px)
    np.testing.assert_array_equal(overlay[untouched], face[untouched])
    hot = (heat > vmax) & (mask > 0.5)
    assert hot.sum() > 500 and (overlay[hot] != face[hot]).any(axis=-1).all()
