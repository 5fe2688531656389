"""The scorer's networks: shapes and strides, the pretrained EfficientNet-Lite0 trunk, the
comparisons, and the heads."""

from __future__ import annotations

import pytest
import torch

from facial_anomaly.supervised.networks import AnomalyNet, NetworkConfig


def test_small_cnn_has_stride_16_and_mean_max_pooling():
    config = NetworkConfig(comparison="single")
    assert NetworkConfig().comparison == "stacked" and config.stride == 16 and len(config.channels) == 6
    network = AnomalyNet(config).eval()
    faces = torch.randint(0, 256, (3, 2, 3, 128, 128), dtype=torch.uint8)
    out = network(faces)
    assert out["logit"].shape == (3,) and out["maps"].shape == (3, 2, 128, 8, 8)
    assert out["severity_logits"] is None and out["cells"].shape == (3, 2, 8, 8)  # the dense head is on by default
    assert AnomalyNet(config.model_copy(update={"dense_head": False}))(faces)["cells"] is None
    assert network.anomaly.in_features == 2 * 2 * 128  # two views × (mean, max) × channels


def test_efficientnet_trunk_starts_from_the_imagenet_weights():
    from facial_anomaly.features import efficientnet_lite0

    config = NetworkConfig(backbone="efficientnet_lite0", efficientnet_blocks=8, comparison="stacked")
    assert config.stride == 16
    network = AnomalyNet(config)
    reference = efficientnet_lite0("cpu")
    stem = network.encoder.stem[0].weight
    assert stem.shape[1] == 6 and torch.equal(stem[:, :3], reference._conv_stem.weight)
    assert torch.count_nonzero(stem[:, 3:]) == 0  # the difference channels start silent
    assert not next(reference.parameters()).requires_grad  # the shared extractor stays frozen
    faces = torch.randint(0, 256, (2, 2, 3, 64, 64), dtype=torch.uint8)
    out = network(faces, faces)
    assert out["maps"].shape == (2, 2, 80, 4, 4)


@pytest.mark.parametrize("comparison", ["siamese", "stacked"])
def test_comparisons_need_a_partner_and_see_its_difference(comparison):
    torch.manual_seed(0)
    network = AnomalyNet(NetworkConfig(comparison=comparison, dense_head=True, severity_head=True)).eval()
    faces = torch.randint(0, 256, (2, 2, 3, 64, 64), dtype=torch.uint8)
    with pytest.raises(ValueError, match="needs partners"):
        network(faces)
    same = network(faces, faces)
    other = network(faces, torch.flip(faces, dims=[-1]))
    assert not torch.allclose(same["logit"], other["logit"])
    assert same["cells"].shape == (2, 2, 4, 4) and same["severity_logits"].shape == (2, 4)


def test_config_errors_name_the_setting():
    with pytest.raises(ValueError, match="views"):
        NetworkConfig(views=("lower", "cheeks"))
    with pytest.raises(ValueError, match="channels and strides"):
        NetworkConfig(channels=(8, 8), strides=(2,))


def test_frozen_efficientnet_blocks_keep_their_weights_and_statistics():
    config = NetworkConfig(
        backbone="efficientnet_lite0", efficientnet_blocks=6, frozen_blocks=3, views=("lower",), comparison="single"
    )
    network = AnomalyNet(config).train()
    frozen = [network.encoder.stem, *network.encoder.blocks[:3]]
    before = {k: v.clone() for k, v in network.encoder.stem.state_dict().items()}
    optimizer = torch.optim.AdamW([p for p in network.parameters() if p.requires_grad], lr=1e-2)
    faces = torch.randint(0, 256, (4, 1, 3, 64, 64), dtype=torch.uint8)
    loss = network(faces)["logit"].sum()
    loss.backward()
    optimizer.step()
    assert all(not module.training for module in frozen) and network.encoder.blocks[3].training
    assert all(torch.equal(before[k], v) for k, v in network.encoder.stem.state_dict().items())
    assert network.encoder.blocks[3]._project_conv.weight.grad is not None
    with pytest.raises(ValueError, match="frozen_blocks"):
        NetworkConfig(backbone="efficientnet_lite0", efficientnet_blocks=4, frozen_blocks=4)
