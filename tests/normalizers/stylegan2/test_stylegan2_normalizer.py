"""The registered "stylegan2" normalizer: uint8 in/out at the face's size, presets, devices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facial_anomaly.normalizers import base
from facial_anomaly.normalizers.stylegan2 import (
    AdaptationConfig,
    InversionConfig,
    StyleGAN2Normalizer,
    build_lpips,
    resolve_preset,
)


def _faces(sizes: list[int]) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for size in sizes]


def _landmarks(size: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.uniform(0, size, (478, 3))


def _smoke(stylegan2_parameters) -> dict:
    return resolve_preset({"preset": "smoke_test"}, stylegan2_parameters["stylegan2_presets"])


def test_smoke_preset_normalizes_faces_of_any_size(stylegan2_parameters):
    normalizer = base.create("stylegan2", **_smoke(stylegan2_parameters))  # registered by name
    assert isinstance(normalizer, StyleGAN2Normalizer) and isinstance(normalizer, base.Normalizer)
    assert normalizer.device == torch.device("cpu") and normalizer.generator.resolution == 32
    faces = _faces([48, 64, 40])
    mask = np.zeros((64, 64), np.float32)
    mask[20:40, 20:40] = 1.0
    results = normalizer.normalize_batch(faces, [None, mask, None])  # batch_size 2: two batches
    assert len(results) == 3
    for face, result in zip(faces, results):
        assert result.image.dtype == np.uint8 and result.image.shape == face.shape
        assert sorted(result.snapshots) == [0, 2, 4]
        assert all(image.shape == face.shape for image in result.snapshots.values())
        assert result.w.shape == (normalizer.generator.num_ws, 32) and np.isfinite(result.inversion_loss)
    np.testing.assert_array_equal(results[0].image, results[0].snapshots[2])  # output_step = 2
    assert results[0].region_heat is None and results[0].reconstruction_step is None
    assert results[1].region_heat.shape == (5,) and results[1].region_heat.dtype == np.float32

    single = normalizer.normalize(faces[1], _landmarks(64), mask)
    assert isinstance(single, base.NormalizedFace) and single.image.shape == (64, 64, 3)
    with pytest.raises(ValueError, match="mask shape"):
        normalizer.normalize(faces[1], _landmarks(64), np.zeros((10, 10)))


def test_missing_checkpoint_is_reported(stylegan2_parameters, tmp_path):
    preset = {**_smoke(stylegan2_parameters), "random_generator": None, "checkpoint": str(tmp_path / "none.pt")}
    with pytest.raises(FileNotFoundError, match="none.pt"):
        StyleGAN2Normalizer(**preset)
    with pytest.raises(ValueError, match="exactly one of"):
        StyleGAN2Normalizer(**{**preset, "checkpoint": None})


def test_pretrained_lpips_without_backbone_names_file_and_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"vgg16-397923af\.pth in .*hub/checkpoints"):
        build_lpips("vgg", pretrained_backbone=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_runs_on_cuda(tiny_generator, stylegan2_parameters):
    """Every tensor must follow the chosen device (a stray CPU tensor raises here)."""
    smoke = _smoke(stylegan2_parameters)
    normalizer = StyleGAN2Normalizer.from_modules(
        tiny_generator,
        build_lpips("alex", pretrained_backbone=False),
        inversion=InversionConfig.from_dict(smoke["inversion"]),
        adaptation=AdaptationConfig.from_dict(smoke["adaptation"]),
        batch_size=2,
        device="cuda",
    )
    assert normalizer.generator.device.type == "cuda"
    mask = np.ones((48, 48), np.float32)
    result = normalizer.normalize_batch(_faces([48]), [mask])[0]
    assert result.image.shape == (48, 48, 3) and result.image.dtype == np.uint8
    assert result.region_heat.shape == (5,)
