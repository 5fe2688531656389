import numpy as np
import pytest

from facial_anomaly.faces import transform_points
from facial_anomaly.heatmaps import overlay_heatmap, overlay_on_original, warp_to_original

NOSE_TIP = 1


def _blob(shape, centre_xy, sigma):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.exp(-((xx - centre_xy[0]) ** 2 + (yy - centre_xy[1]) ** 2) / (2 * sigma**2)).astype(np.float32)


def test_overlay_is_uint8_rgb_and_alpha_zero_keeps_the_face(astronaut_aligned):
    face = astronaut_aligned["rgb"]
    heat = _blob(face.shape[:2], (256, 300), 20)
    coloured = overlay_heatmap(face, heat, colormap="jet", alpha=0.5, vmax=None)
    assert coloured.dtype == np.uint8 and coloured.shape == face.shape
    assert not np.array_equal(coloured, face)
    np.testing.assert_array_equal(overlay_heatmap(face, heat, colormap="jet", alpha=0.0, vmax=None), face)


def test_overlay_colours_follow_the_colormap_and_vmax():
    face = np.zeros((1, 3, 3), np.uint8)
    heat = np.array([[0.0, 1.0, 4.0]], np.float32)
    out = overlay_heatmap(face, heat, colormap="gray", alpha=1.0, vmax=2.0)
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 255])  # heat/vmax clipped to [0, 1]


@pytest.mark.parametrize("kwargs", [{"alpha": 1.5, "vmax": None}, {"alpha": 0.5, "vmax": 0.0}])
def test_bad_overlay_settings_are_rejected(kwargs):
    with pytest.raises(ValueError):
        overlay_heatmap(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.float32), colormap="jet", **kwargs)


def test_heat_at_an_aligned_point_lands_at_its_source_point(astronaut_rgb, astronaut_aligned):
    geometry = astronaut_aligned["geometry"]
    aligned_nose = astronaut_aligned["landmarks"][NOSE_TIP, :2]
    heat = _blob((512, 512), aligned_nose, 6)
    back = warp_to_original(heat, geometry.matrix, astronaut_rgb.shape)
    peak_yx = np.unravel_index(np.argmax(back), back.shape)
    # The inverse alignment matrix maps the aligned point back onto the source landmark.
    source = transform_points(aligned_nose[None], np.linalg.inv(np.vstack([geometry.matrix, [0, 0, 1]]))[:2])[0]
    np.testing.assert_allclose(source, geometry.landmarks[NOSE_TIP, :2], atol=1e-6)
    assert np.hypot(peak_yx[1] - source[0], peak_yx[0] - source[1]) <= 1.0

    drawn = overlay_on_original(astronaut_rgb, heat, geometry.matrix, colormap="jet", alpha=0.6, vmax=None)
    assert drawn.shape == astronaut_rgb.shape and drawn.dtype == np.uint8
    x, y = np.round(source).astype(int)
    assert not np.array_equal(drawn[y, x], astronaut_rgb[y, x])


def test_only_the_part_of_the_photo_the_crop_came_from_is_coloured():
    photo = np.full((100, 200, 3), 90, np.uint8)
    shrink_and_shift = np.array([[2.0, 0.0, -20.0], [0.0, 2.0, -40.0]])  # source → 2× zoomed crop
    heat = np.ones((60, 60), np.float32)
    drawn = overlay_on_original(photo, heat, shrink_and_shift, colormap="jet", alpha=1.0, vmax=1.0)
    # The 60×60 crop covers source x ∈ [10, 40), y ∈ [20, 50).
    np.testing.assert_array_equal(drawn[:15], photo[:15])
    np.testing.assert_array_equal(drawn[:, 45:], photo[:, 45:])
    assert not np.array_equal(drawn[30, 25], photo[30, 25])
