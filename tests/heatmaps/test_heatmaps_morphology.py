import numpy as np
import pytest

from facial_anomaly.heatmaps import erode, erosion_reach


def test_exact_values_on_a_tiny_array():
    values = np.array(
        [
            [5, 5, 5, 5],
            [5, 9, 9, 5],
            [5, 9, 9, 1],
        ],
        dtype=np.float32,
    )
    # 3×3 minimum; pixels outside the array do not count (OpenCV pads erosion with +inf).
    expected = np.array(
        [
            [5, 5, 5, 5],
            [5, 5, 1, 1],
            [5, 5, 1, 1],
        ],
        dtype=np.float32,
    )
    np.testing.assert_array_equal(erode(values, size=3, iterations=1), expected)


def test_isolated_blob_shrinks_and_keeps_its_peak():
    yy, xx = np.mgrid[:41, :41]
    blob = ((yy - 20) ** 2 + (xx - 20) ** 2 <= 8**2).astype(np.float32)
    eroded = erode(blob, size=3, iterations=1)
    assert 0 < eroded.sum() < blob.sum()
    assert eroded[20, 20] == 1
    assert (eroded <= blob).all()
    # Two iterations of 3×3 reach two pixels, like one 5×5 erosion.
    np.testing.assert_array_equal(erode(blob, size=3, iterations=2), erode(blob, size=5, iterations=1))


def test_blob_smaller_than_the_kernel_disappears():
    spot = np.zeros((9, 9), np.float32)
    spot[4:6, 4:6] = 7.0  # 2×2 spot, 3×3 kernel
    assert erode(spot, size=3, iterations=1).max() == 0


def test_every_channel_is_eroded_on_its_own():
    rng = np.random.default_rng(1)
    stack = rng.random((12, 10, 3)).astype(np.float32)
    eroded = erode(stack, size=3, iterations=1)
    for channel in range(3):
        np.testing.assert_array_equal(eroded[..., channel], erode(stack[..., channel], size=3, iterations=1))


def test_single_channel_maps_keep_their_shape():
    assert erode(np.ones((6, 7, 1), np.float32), size=3, iterations=1).shape == (6, 7, 1)


def test_zero_iterations_is_an_unchanged_copy():
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = erode(values, size=3, iterations=0)
    np.testing.assert_array_equal(out, values)
    assert out is not values


@pytest.mark.parametrize("size, iterations", [(2, 1), (0, 1), (3, -1), (2.5, 1)])
def test_bad_kernel_settings_are_rejected(size, iterations):
    with pytest.raises(ValueError):
        erode(np.zeros((4, 4), np.float32), size=size, iterations=iterations)


def test_erosion_reach():
    assert erosion_reach(size=3, iterations=1) == 1
    assert erosion_reach(size=5, iterations=3) == 6
