import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from facial_anomaly.heatmaps import (
    HEATMAP_KINDS,
    HeatmapKindUnavailable,
    LpipsUnavailable,
    channel_ranges,
    ensure_kind_available,
    heatmap,
    load_lpips,
    lpips_backbone_file,
    lpips_map,
    pse_map,
    reduce_channels,
    ssim_map,
    to_color_space,
)
from facial_anomaly.heatmaps import maps as maps_module

KIND_OPTIONS = {
    "ssim": {"win_size": 7},
    "lpips": {"net": "alex", "device": "cpu", "pretrained_backbone": False},
    "deep": {"backbone": {"crop": "full_face", "input_size": 128, "device": "cpu"}},
}


@pytest.fixture(scope="module")
def face_pair(astronaut_rgb):
    """A 128×128 face crop and a noisy copy of it."""
    face = astronaut_rgb[40:168, 160:288]
    noise = np.random.default_rng(0).integers(-20, 21, face.shape)
    return face, np.clip(face.astype(int) + noise, 0, 255).astype(np.uint8)


@pytest.fixture
def fresh_lpips_cache():
    maps_module._build_lpips.cache_clear()
    yield
    maps_module._build_lpips.cache_clear()


def test_pse_is_the_squared_difference_per_channel():
    a = np.array([[[10, 20, 30], [0, 0, 0]]], dtype=np.uint8)
    b = np.array([[[13, 16, 30], [255, 0, 1]]], dtype=np.uint8)
    pse = pse_map(a, b, color_space="rgb")
    assert pse.dtype == np.float32 and pse.shape == (1, 2, 3)
    np.testing.assert_array_equal(pse, [[[9, 16, 0], [65025, 0, 1]]])


def test_pse_in_ycbcr_compares_converted_images(face_pair):
    a, b = face_pair
    expected = (to_color_space(a, "ycbcr") - to_color_space(b, "ycbcr")) ** 2
    np.testing.assert_allclose(pse_map(a, b, color_space="ycbcr"), expected, rtol=1e-6)


@pytest.mark.parametrize("space", ["rgb", "ycbcr"])
def test_ssim_dissimilarity_equals_scikit_image(face_pair, space):
    a, b = face_pair
    ours = ssim_map(a, b, color_space=space, win_size=7)
    assert ours.dtype == np.float32 and ours.shape == a.shape
    x, y = to_color_space(a, space).astype(np.float64), to_color_space(b, space).astype(np.float64)
    low, high = channel_ranges(space)
    for channel in range(3):
        _, similarity = structural_similarity(
            x[..., channel], y[..., channel], win_size=7, data_range=float(high[channel] - low[channel]), full=True
        )
        # float32 arithmetic: scikit-image itself differs by ~1e-4 between float32 and float64.
        np.testing.assert_allclose(ours[..., channel], (1 - similarity) / 2, atol=2e-4)


def test_ssim_of_identical_images_is_zero_and_range_is_unit(face_pair):
    a, b = face_pair
    assert ssim_map(a, a, color_space="rgb", win_size=7).max() < 1e-5
    different = ssim_map(a, b, color_space="ycbcr", win_size=7)
    assert different.min() >= 0 and different.max() <= 1 and different.mean() > 0.01


def test_ssim_rejects_even_windows(face_pair):
    with pytest.raises(ValueError, match="win_size"):
        ssim_map(*face_pair, color_space="rgb", win_size=6)


def test_reduce_channels_sum_and_mean():
    stack = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    np.testing.assert_array_equal(reduce_channels(stack, reduction="sum"), [[3, 12], [21, 30]])
    np.testing.assert_array_equal(reduce_channels(stack, reduction="mean"), [[1, 4], [7, 10]])
    with pytest.raises(ValueError, match="'sum', 'mean'"):
        reduce_channels(stack, reduction="max")


def test_heatmap_chains_map_erosion_and_reduction(face_pair):
    a, b = face_pair
    common = dict(color_space="ycbcr", channel_reduction="sum", kind_options=KIND_OPTIONS)
    plain = heatmap(a, b, kind="pse", erosion_size=3, erosion_iterations=0, **common)
    np.testing.assert_allclose(plain, pse_map(a, b, color_space="ycbcr").sum(axis=2), rtol=1e-6)
    eroded = heatmap(a, b, kind="pse", erosion_size=3, erosion_iterations=1, **common)
    assert eroded.shape == a.shape[:2] and eroded.dtype == np.float32
    assert (eroded >= 0).all() and eroded.sum() < plain.sum()


@pytest.mark.parametrize("kind", HEATMAP_KINDS)
def test_every_kind_gives_a_non_negative_map_and_zero_for_identical_images(face_pair, kind, fresh_lpips_cache):
    a, b = face_pair
    common = dict(
        kind=kind,
        color_space="ycbcr",
        erosion_size=3,
        erosion_iterations=1,
        channel_reduction="mean",
        kind_options=KIND_OPTIONS,
    )
    different = heatmap(a, b, **common)
    assert different.shape == (128, 128) and different.dtype == np.float32
    assert different.min() >= 0 and different.max() > 0
    assert heatmap(a, a, **common).max() < 1e-5


def test_unknown_kind_is_a_clear_error(face_pair):
    with pytest.raises(ValueError, match=r"unknown heatmap kind 'mse'.*'pse', 'ssim', 'lpips'"):
        heatmap(
            *face_pair,
            kind="mse",
            color_space="rgb",
            erosion_size=3,
            erosion_iterations=1,
            channel_reduction="sum",
            kind_options=KIND_OPTIONS,
        )


def test_mismatched_shapes_are_rejected(face_pair):
    a, _ = face_pair
    with pytest.raises(ValueError, match="differ in shape"):
        pse_map(a, a[:-1], color_space="rgb")


def test_lpips_spatial_map_with_a_random_backbone(face_pair, fresh_lpips_cache):
    a, b = face_pair
    distance = lpips_map(a, b, color_space="rgb", net="alex", device="auto", pretrained_backbone=False)
    assert distance.shape == (128, 128, 1) and distance.dtype == np.float32
    assert distance.min() >= 0 and distance.mean() > 0
    model = load_lpips("alex", device="cpu", pretrained_backbone=False)
    assert model is load_lpips("alex", device="cpu", pretrained_backbone=False)  # built once


def test_missing_lpips_weights_raise_before_any_download(tmp_path, monkeypatch, face_pair, fresh_lpips_cache):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    expected_folder = tmp_path / "hub" / "checkpoints"
    assert lpips_backbone_file("alex") == expected_folder / "alexnet-owt-7be5be79.pth"
    with pytest.raises(LpipsUnavailable) as raised:
        load_lpips("alex", device="cpu")
    assert "alexnet-owt-7be5be79.pth" in str(raised.value) and str(expected_folder) in str(raised.value)
    with pytest.raises(HeatmapKindUnavailable):
        ensure_kind_available("lpips", kind_options={"lpips": {**KIND_OPTIONS["lpips"], "pretrained_backbone": True}})
    with pytest.raises(LpipsUnavailable):
        lpips_map(*face_pair, color_space="rgb", net="vgg", device="cpu", pretrained_backbone=True)


def test_lpips_loads_a_backbone_that_is_on_disk_without_downloading(tmp_path, monkeypatch, fresh_lpips_cache):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("download attempted"))
    weights = lpips_backbone_file("alex")
    weights.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), weights)
    ensure_kind_available("lpips", kind_options={"lpips": {"net": "alex", "pretrained_backbone": True}})
    model = load_lpips("alex", device="cpu", pretrained_backbone=True)
    saved = torch.load(weights)["features.0.weight"]
    torch.testing.assert_close(model.net.slice1[0].weight, saved)


def test_unknown_lpips_net_is_rejected():
    with pytest.raises(ValueError, match="unknown LPIPS net"):
        load_lpips("resnet", device="cpu", pretrained_backbone=False)
