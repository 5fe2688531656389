"""The supervised models: outputs, the Scorer interface, configs, views and backbone weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from supervised_helpers import tiny_config

from facial_anomaly.normalizers.reconstruction import CropSpec
from facial_anomaly.supervised import (
    Scorer,
    architectures,
    build_model,
    mirror_face,
    normalized_config,
    parse_config,
    prepare_views,
)
from facial_anomaly.supervised.views import ViewSpec


def test_architectures_are_registered():
    assert architectures() == ("self_comparison", "siamese", "single_branch", "texture")


@pytest.mark.parametrize(
    "architecture, channels", [("siamese", 6), ("single_branch", 3), ("self_comparison", 6), ("texture", 3)]
)
def test_each_model_scores_pairs_in_range(architecture, channels, astronaut_aligned):
    model = build_model(tiny_config(architecture), load_backbone_weights=False).eval()
    assert isinstance(model, Scorer)
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    darker = (face * 0.8).astype(np.uint8)
    prepared = model.prepare(face, darker, landmarks)
    size = model.config.image_size
    assert prepared.shape == (channels, size, size) and prepared.dtype == np.uint8
    anomaly_logit, severity_logits = model(torch.from_numpy(np.stack([prepared, prepared])))
    assert anomaly_logit.shape == (2,) and severity_logits.shape == (2, 4)
    probabilities, severities = model.score_batch([face, darker], [darker, face], [landmarks, landmarks], batch_size=1)
    assert probabilities.shape == severities.shape == (2,)
    assert ((probabilities > 0) & (probabilities < 1)).all() and ((severities >= 0) & (severities <= 4)).all()
    single = model.score(face, darker, landmarks)
    assert single == pytest.approx((probabilities[0], severities[0]), abs=1e-6)


def test_missing_inputs_are_named(astronaut_aligned):
    face = astronaut_aligned["rgb"]
    with pytest.raises(ValueError, match="pass the face's `landmarks`"):
        build_model(tiny_config("self_comparison"), load_backbone_weights=False).score(face, None, None)
    with pytest.raises(ValueError, match="pass `normalized`"):
        build_model(tiny_config("siamese"), load_backbone_weights=False).score(face, None, None)
    single = build_model(tiny_config("single_branch"), load_backbone_weights=False).eval()
    assert 0 < single.score(face, None)[0] < 1  # the baseline needs neither


def test_views_crop_the_same_box_and_mirror_about_the_midline(astronaut_aligned):
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    crop = CropSpec(center_x=0.5, center_y=0.5, size=0.5)
    specs = [ViewSpec(view, crop, 64) for view in ("original", "normalized", "mirrored")]
    stacked = prepare_views(specs, face, face, landmarks)
    assert stacked.shape == (9, 64, 64)
    np.testing.assert_array_equal(stacked[:3], stacked[3:6])
    mirrored = mirror_face(face, landmarks)
    # The aligned face is nearly frontal: its mirror image is close to a horizontal flip,
    # and mirroring twice gives the face back (away from the reflected borders).
    twice = mirror_face(mirrored, landmarks)
    assert np.abs(twice[128:384, 128:384].astype(int) - face[128:384, 128:384]).mean() < 3.0
    assert np.abs(mirrored[128:384, 128:384].astype(int) - face[128:384, 383:127:-1]).mean() < 25.0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"architecture": "resnet"}, "unknown supervised architecture"),
        ({"depth": 3}, "unknown keys \\['depth'\\]"),
        ({"combine": None}, "siamese combine must be one of"),
        ({"pooling": "median"}, "pooling must be one of"),
        ({"feature_blocks": 20}, "feature_blocks must be in 1..19"),
        ({"width_mult": 0}, "width_mult must be a positive"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"crop": {"center_x": 0.5, "center_y": 0.5, "size": 1.5}}, "crop size must be in"),
    ],
)
def test_bad_configs_are_rejected_with_the_key_named(change, message):
    with pytest.raises(ValueError, match=message):
        build_model({**tiny_config("siamese"), **change}, load_backbone_weights=False)


def test_texture_works_at_256_px_or_more_and_configs_normalize():
    with pytest.raises(ValueError, match="≥ 256 px"):
        build_model(tiny_config("texture", image_size=128), load_backbone_weights=False)
    config = tiny_config("siamese")
    assert normalized_config(config) == config
    cls, parsed = parse_config(config)
    assert cls.architecture == "siamese" and parsed.extra == {"combine": "concat_difference"}


def _torchvision_weights(tmp_path, width_mult: float):
    torch.manual_seed(0)
    network = torchvision.models.mobilenet_v2(weights=None, width_mult=width_mult)
    path = tmp_path / f"mobilenet_v2_{width_mult}.pth"
    torch.save(network.state_dict(), path)
    return network, path


def test_backbone_weights_load_from_a_torchvision_state_dict(tmp_path):
    network, path = _torchvision_weights(tmp_path, 0.25)
    siamese = build_model(tiny_config("siamese", backbone_weights=str(path)), load_backbone_weights=True)
    for key, value in siamese.encoder.features.state_dict().items():
        assert torch.equal(value, network.features.state_dict()[key]), key
    # Six input channels: the RGB kernel repeated over both channel groups, halved.
    mirror = build_model(tiny_config("self_comparison", backbone_weights=str(path)), load_backbone_weights=True)
    rgb = network.features[0][0].weight
    assert torch.equal(mirror.encoder.features[0][0].weight, torch.cat([rgb, rgb], dim=1) / 2)
    # Not read again when the weights come from elsewhere (a checkpoint).
    build_model(tiny_config("siamese", backbone_weights=str(tmp_path / "gone.pth")), load_backbone_weights=False)


def test_backbone_weight_errors_name_the_file_and_the_mismatch(tmp_path):
    missing = tmp_path / "missing_weights.pth"
    with pytest.raises(FileNotFoundError, match="missing_weights.pth"):
        build_model(tiny_config("siamese", backbone_weights=str(missing)), load_backbone_weights=True)
    _, wider = _torchvision_weights(tmp_path, 0.5)
    with pytest.raises(ValueError, match="width_mult 0.25.*shape mismatches"):
        build_model(tiny_config("siamese", backbone_weights=str(wider)), load_backbone_weights=True)
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(wider.read_bytes()[:1000])
    with pytest.raises(ValueError, match="not a readable tensor-only torch state dict"):
        build_model(tiny_config("siamese", backbone_weights=str(corrupt)), load_backbone_weights=True)


@pytest.mark.parametrize("architecture", ["siamese", "single_branch", "self_comparison", "texture"])
def test_grad_cam_of_every_model_covers_only_its_crop_box(architecture, astronaut_aligned):
    from facial_anomaly.supervised import grad_cam

    model = build_model(tiny_config(architecture), load_backbone_weights=False)
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    heat = grad_cam(model, face, (face * 0.9).astype(np.uint8), landmarks, tap=3)
    assert heat.shape == face.shape[:2] and heat.dtype == np.float32 and heat.min() >= 0.0
    x0, y0, side = model.view_specs[0].crop.box(*face.shape[:2])
    outside = np.ones(face.shape[:2], dtype=bool)
    outside[y0 : y0 + side, x0 : x0 + side] = False
    assert not heat[outside].any()
    assert model.training  # the caller's mode is restored


def test_local_contrast_ignores_light_and_keeps_a_spot():
    from facial_anomaly.supervised.backbone import local_contrast

    rng = np.random.default_rng(0)
    face = torch.from_numpy(rng.uniform(0.3, 0.6, size=(1, 3, 64, 64)).astype(np.float32))
    settings = {"sigma": 0.05, "floor": 0.01}
    plain = local_contrast(face, **settings)
    # A gain and an offset of the light (kept inside [0, 1]) leave the normalised view as it was.
    relit = local_contrast(0.8 * face + 0.1, **settings)
    torch.testing.assert_close(relit, plain, atol=1e-4, rtol=1e-3)
    flat = local_contrast(torch.full((1, 3, 64, 64), 0.5), **settings)
    assert flat.abs().max() < 1e-5  # nothing to see on a flat image: no noise blown up
    spotted = face.clone()
    spotted[:, 0, 30:33, 30:33] -= 0.2
    difference = (local_contrast(spotted, **settings) - plain).abs().sum(dim=1)[0]
    y, x = np.unravel_index(int(difference.argmax()), difference.shape)
    assert 29 <= y <= 33 and 29 <= x <= 33


@pytest.mark.parametrize("architecture", ["siamese", "single_branch", "self_comparison", "texture"])
def test_local_contrast_models_score_and_keep_the_key(architecture, astronaut_aligned):
    config = tiny_config(architecture, local_contrast={"sigma": 0.03, "floor": 0.04})
    assert normalized_config(config) == config
    model = build_model(config, load_backbone_weights=False).eval()
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    probabilities, severities = model.score_batch([face], [(face * 0.9).astype(np.uint8)], [landmarks], batch_size=1)
    assert 0 < probabilities[0] < 1 and 0 <= severities[0] <= 4
    # Without the key (older configs and checkpoints): the ImageNet-standardized input, same canonical form.
    assert "local_contrast" not in normalized_config({**tiny_config(architecture), "local_contrast": None})


@pytest.mark.parametrize("value", [{"sigma": 0.0, "floor": 0.04}, {"sigma": 0.03}, 0.03, {"sigma": 0.03, "floor": 0.0}])
def test_bad_local_contrast_is_rejected(value):
    with pytest.raises(ValueError, match="local_contrast"):
        build_model(tiny_config("single_branch", local_contrast=value), load_backbone_weights=False)


def test_map_difference_siamese_sees_a_local_change_and_taps_both_views(astronaut_aligned):
    from facial_anomaly.supervised import grad_cam

    model = build_model(tiny_config("siamese", combine="concat_map_difference"), load_backbone_weights=False).eval()
    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    inputs = torch.from_numpy(np.stack([model.prepare(face, face, landmarks)])).float() / 255
    embedding, maps = model.embed(inputs, None)
    size = model.encoder.embedding_size
    assert embedding.shape == (1, 3 * size) and maps == []
    assert torch.all(embedding[:, 2 * size :] == 0)  # identical views: no difference anywhere
    _, tapped = model.embed(inputs, 3)
    assert [index for _, index in tapped] == [0, 1]
    heat = grad_cam(model, face, (face * 0.9).astype(np.uint8), landmarks, tap=3)
    assert heat.shape == face.shape[:2]
