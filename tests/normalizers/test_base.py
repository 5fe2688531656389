"""Normalizer interface: registry, input validation, state files, factory."""

from __future__ import annotations

import numpy as np
import pytest

from facial_anomaly.normalizers import (
    InpaintNormalizer,
    NormalizedFace,
    ShapeModelNormalizer,
    SymmetryNormalizer,
    available,
    build_normalizer,
    create,
    load_state,
    save_state,
)

# The CPU normalizers of this package (others, e.g. stylegan2, register themselves too).
CPU_NORMALIZERS = ("appearance_model", "inpaint", "shape_model", "symmetry")


def test_registry_lists_and_creates(normalizer_params):
    assert set(CPU_NORMALIZERS) <= set(available())
    normalizer = create("symmetry", **normalizer_params["symmetry"])
    assert isinstance(normalizer, SymmetryNormalizer)
    assert normalizer.fit([], []) is normalizer  # nothing to learn


def test_unknown_name_lists_available():
    with pytest.raises(KeyError, match="available: .*symmetry"):
        create("stylegan9")


@pytest.fixture(scope="module")
def every_normalizer(normalizer_params, shape_model, appearance_model):
    return [
        build_normalizer(name, normalizer_params, shape_model=shape_model, appearance_model=appearance_model)
        for name in CPU_NORMALIZERS
    ]


def test_factory_builds_every_normalizer(every_normalizer):
    assert [n.name for n in every_normalizer] == list(CPU_NORMALIZERS)
    inpaint = every_normalizer[1]
    assert isinstance(inpaint, InpaintNormalizer) and inpaint.reference is inpaint.appearance


def test_factory_needs_models(normalizer_params):
    with pytest.raises(ValueError, match="needs a fitted shape_model"):
        build_normalizer("shape_model", normalizer_params)


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda lm: np.where(np.arange(len(lm))[:, None] == 5, np.nan, lm), "NaN"),
        (lambda lm: lm[:468], "shape"),
        (lambda lm: lm[:, :1], "shape"),
        (lambda lm: lm.ravel(), "shape"),
    ],
)
def test_bad_landmarks_give_a_clear_error(every_normalizer, astronaut_aligned, corrupt, message):
    landmarks = corrupt(astronaut_aligned["landmarks"].copy())
    for normalizer in every_normalizer:
        with pytest.raises(ValueError, match=message):
            normalizer.normalize(astronaut_aligned["rgb"], landmarks)


def test_bad_image_and_mask_give_a_clear_error(every_normalizer, astronaut_aligned):
    rgb, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    for normalizer in every_normalizer:
        with pytest.raises(ValueError, match="uint8 RGB"):
            normalizer.normalize(rgb.astype(np.float32), landmarks)
        with pytest.raises(ValueError, match="mask shape"):
            normalizer.normalize(rgb, landmarks, mask=np.zeros((10, 10)))


def test_outputs_have_the_documented_types(every_normalizer, astronaut_aligned):
    rgb, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    for normalizer in every_normalizer:
        out = normalizer.normalize(rgb, landmarks)
        assert isinstance(out, NormalizedFace)
        assert out.image.shape == rgb.shape and out.image.dtype == np.uint8
        if out.confidence is not None:
            assert out.confidence.shape == rgb.shape[:2] and out.confidence.dtype == np.float32
            assert out.confidence.min() >= 0.0 and out.confidence.max() <= 1.0
        # Deterministic.
        np.testing.assert_array_equal(normalizer.normalize(rgb, landmarks).image, out.image)


def test_unfitted_model_normalizer_says_so(normalizer_params, astronaut_aligned):
    normalizer = ShapeModelNormalizer(**normalizer_params["shape_model"])
    with pytest.raises(ValueError, match="not fitted"):
        normalizer.normalize(astronaut_aligned["rgb"], astronaut_aligned["landmarks"])
    with pytest.raises(ValueError, match="model_params"):
        normalizer.fit(None, [astronaut_aligned["landmarks"]])


def test_state_round_trip_without_pickle(tmp_path):
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, 2], dtype=np.int64)}
    metadata = {"kind": "x", "sizes": [1, 2], "nested": {"ok": True}}
    path = tmp_path / "models" / "state.npz"
    save_state(path, arrays, metadata)
    loaded, loaded_metadata = load_state(path)
    assert loaded_metadata == metadata
    for key in arrays:
        np.testing.assert_array_equal(loaded[key], arrays[key])
        assert loaded[key].dtype == arrays[key].dtype
    with pytest.raises(ValueError, match="pickle"):
        save_state(tmp_path / "bad.npz", {"o": np.array([{}], dtype=object)}, {})
