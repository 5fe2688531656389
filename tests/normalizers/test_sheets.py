import numpy as np
import pytest

from facial_anomaly.heatmaps.drawing import colorize, load_font, text_strip_height_px
from facial_anomaly.normalizers.sheets import SheetConfig, comparison_sheet, difference_distance

H, W = 40, 50


def _pair(delta=(30, 40, 0)):
    original = np.full((H, W, 3), 100, np.uint8)
    normalized = original.copy()
    normalized[10:20, 10:30] += np.array(delta, np.uint8)
    return original, normalized


def _rows(config):
    """y of the first image row, and the step between rows."""
    font = load_font(config.font_size_px)
    header, label = text_strip_height_px(font, 1), text_strip_height_px(font, 1)
    return header + label, label + H + config.gap_px


def test_sheet_geometry_headers_and_ids():
    config = SheetConfig(gap_px=3, colorbar_px=60)
    sheet = comparison_sheet([_pair(), _pair()], image_ids=["img_a", "img_b"], config=config)
    first_row, step = _rows(config)
    assert sheet.shape == (first_row + step + H, 3 * W + 2 * 3 + 60, 3)
    header = sheet[: first_row - step + H + config.gap_px]
    for column in range(3):  # each column header has text: dark pixels on white
        cell = header[:, column * (W + 3) : column * (W + 3) + W]
        assert (cell.min(axis=-1) < 100).any(), column
    # The id strips differ because the ids differ; the image rows are identical.
    label_a = sheet[first_row - (step - H - config.gap_px) : first_row, : 3 * W]
    label_b = sheet[first_row + step - (step - H - config.gap_px) : first_row + step, : 3 * W]
    assert not np.array_equal(label_a, label_b)
    np.testing.assert_array_equal(sheet[first_row : first_row + H, :W], _pair()[0])
    np.testing.assert_array_equal(sheet[first_row + step : first_row + step + H, W + 3 : 2 * W + 3], _pair()[1])


def test_colormapped_difference_uses_one_stated_scale():
    config = SheetConfig(difference_vmax=100.0, colormap="viridis", gap_px=2)
    sheet = comparison_sheet([_pair()], image_ids=["a"], config=config)
    first_row, _ = _rows(config)
    difference = sheet[first_row : first_row + H, 2 * (W + 2) : 2 * (W + 2) + W]
    np.testing.assert_array_equal(difference[0, 0], colorize(np.array([0.0]), "viridis")[0])
    np.testing.assert_array_equal(difference[15, 15], colorize(np.array([0.5]), "viridis")[0])  # ‖(30,40,0)‖ = 50
    bar = sheet[:, 3 * W + 2 * 2 :]
    assert (np.abs(bar.astype(int) - colorize(np.array([1.0]), "viridis")[0]).sum(axis=-1) == 0).any()
    assert difference_distance(*_pair())[15, 15] == 50.0


def test_the_old_call_amplifies_and_prints_the_gain():
    sheet = comparison_sheet([_pair((3, 4, 0))], difference_gain=4.0)
    config = SheetConfig(difference="amplified", difference_gain=4.0)
    first_row, _ = _rows(config)
    assert sheet.shape[1] == 3 * W + 2 * config.gap_px  # no colour bar: the factor is in the header
    difference = sheet[first_row : first_row + H, 2 * (W + config.gap_px) :]
    np.testing.assert_array_equal(difference[15, 15], [12, 16, 0])
    np.testing.assert_array_equal(difference[0, 0], [0, 0, 0])
    np.testing.assert_array_equal(sheet, comparison_sheet([_pair((3, 4, 0))], config=config, image_ids=["#1"]))


def test_tiles_are_resized_to_tile_px():
    config = SheetConfig(tile_px=25)
    sheet = comparison_sheet([_pair()], config=config)
    assert sheet.shape[1] == 3 * 25 + 2 * config.gap_px + config.colorbar_px


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pairs": []}, "at least one"),
        ({"pairs": [_pair(), (np.zeros((H, W + 1, 3), np.uint8),) * 2]}, "one shape"),
        ({"pairs": [_pair()], "image_ids": ["a", "b"]}, "1 image pairs but 2 image ids"),
        ({"pairs": [_pair()], "config": SheetConfig(), "difference_gain": 2.0}, "not both"),
    ],
)
def test_bad_sheets_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        comparison_sheet(**kwargs)
