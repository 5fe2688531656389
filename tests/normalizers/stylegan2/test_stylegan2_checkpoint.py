"""Checkpoints: own format round trip, rosinality format names and conversion (library and
CLI), and clear errors for missing, unsafe, malformed or wrong-architecture files."""

from __future__ import annotations

import argparse
import os
import pickle
import warnings

import pytest
import torch

from facial_anomaly.normalizers.stylegan2 import (
    GeneratorConfig,
    StyleGAN2Generator,
    from_nvidia,
    from_rosinality,
    load_generator,
    read_checkpoint,
    save_generator,
    to_nvidia,
    to_rosinality,
)
from facial_anomaly.normalizers.stylegan2.checkpoint import FORMAT_NAME
from facial_anomaly.normalizers.stylegan2.convert import main as convert_main


def _images(generator: StyleGAN2Generator) -> torch.Tensor:
    z = torch.randn(2, generator.config.latent_dim, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        return generator(z)


def test_own_format_round_trip_gives_identical_images(tiny_generator, tmp_path):
    path = save_generator(tiny_generator, tmp_path / "g.pt", source="test")
    data = torch.load(path, weights_only=True)
    assert data["format"] == FORMAT_NAME and data["config"] == tiny_generator.config.to_dict()
    loaded = load_generator(path, "cpu")
    assert torch.equal(_images(loaded), _images(tiny_generator))
    for key, value in tiny_generator.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_rosinality_names_and_shapes(tiny_generator):
    public = to_rosinality(tiny_generator)
    # 32 px: conv1 + 3 blocks of 2 convs, to_rgb1 + 3 to_rgbs, 7 noises, 2 mapping layers.
    expected = {
        "style.1.weight": (32, 32),
        "style.2.bias": (32,),
        "input.input": (1, 32, 4, 4),
        "conv1.conv.weight": (1, 32, 32, 3, 3),
        "conv1.conv.modulation.weight": (32, 32),
        "conv1.conv.modulation.bias": (32,),
        "conv1.noise.weight": (1,),
        "conv1.activate.bias": (32,),
        "to_rgb1.conv.weight": (1, 3, 32, 1, 1),
        "to_rgb1.conv.modulation.bias": (32,),
        "to_rgb1.bias": (1, 3, 1, 1),
        "convs.0.conv.weight": (1, 32, 32, 3, 3),
        "convs.0.conv.blur.kernel": (4, 4),
        "convs.3.conv.weight": (1, 16, 16, 3, 3),
        "convs.5.activate.bias": (8,),
        "to_rgbs.2.conv.weight": (1, 3, 8, 1, 1),
        "to_rgbs.2.upsample.kernel": (4, 4),
        "noises.noise_0": (1, 1, 4, 4),
        "noises.noise_6": (1, 1, 32, 32),
    }
    for key, shape in expected.items():
        assert tuple(public[key].shape) == shape, key
    per_conv = 5  # weight, modulation weight/bias, noise weight, activate bias
    per_rgb = 4  # weight, modulation weight/bias, bias
    count = 2 * 2 + 1 + 7 * per_conv + 4 * per_rgb + 7 + 3 + 3  # + blur and upsample kernels
    assert len(public) == count
    torch.testing.assert_close(public["convs.0.conv.blur.kernel"].sum(), torch.tensor(4.0))


def test_rosinality_conversion_infers_the_config(tiny_generator):
    config, state = from_rosinality(to_rosinality(tiny_generator), "test")
    assert config == tiny_generator.config
    assert state.keys() == tiny_generator.state_dict().keys()


def test_converter_cli_round_trips_a_rosinality_checkpoint(tiny_generator, tmp_path, capsys):
    source = tmp_path / "550000.pt"
    torch.save(
        {
            "g_ema": to_rosinality(tiny_generator),
            "latent_avg": torch.zeros(32),
            "args": argparse.Namespace(size=32, channel_multiplier=2),  # as rosinality's train.py
        },
        source,
    )
    assert read_checkpoint(source, "cpu")[2] == "rosinality"
    assert torch.equal(_images(load_generator(source, "cpu")), _images(tiny_generator))

    destination = tmp_path / "out" / "tiny.pt"
    assert convert_main([str(source), str(destination)]) == 0
    assert "wrote" in capsys.readouterr().out
    converted = load_generator(destination, "cpu")
    assert converted.config == tiny_generator.config
    assert torch.equal(_images(converted), _images(tiny_generator))
    # ... and back to the public format, tensor for tensor.
    again = to_rosinality(converted)
    original = to_rosinality(tiny_generator)
    assert again.keys() == original.keys()
    assert all(torch.equal(again[key], original[key]) for key in original)


def test_nvidia_names_and_shapes(tiny_generator):
    public = to_nvidia(tiny_generator)
    expected = {
        "mapping.fc0.weight": (32, 32),
        "mapping.fc1.bias": (32,),
        "synthesis.b4.const": (32, 4, 4),
        "synthesis.b4.resample_filter": (4, 4),
        "synthesis.b4.conv1.weight": (32, 32, 3, 3),
        "synthesis.b4.conv1.noise_const": (4, 4),
        "synthesis.b4.conv1.noise_strength": (),
        "synthesis.b4.conv1.resample_filter": (4, 4),
        "synthesis.b4.torgb.weight": (3, 32, 1, 1),
        "synthesis.b4.torgb.affine.bias": (32,),
        "synthesis.b8.conv0.weight": (32, 32, 3, 3),
        "synthesis.b16.conv0.weight": (16, 32, 3, 3),
        "synthesis.b16.conv0.affine.weight": (32, 32),
        "synthesis.b32.conv1.noise_const": (32, 32),
        "synthesis.b32.conv1.bias": (8,),
        "synthesis.b32.torgb.bias": (3,),
    }
    for key, shape in expected.items():
        assert tuple(public[key].shape) == shape, key
    # per block: 1 filter + conv0/conv1 × (weight, bias, noise_const, noise_strength, 2 affine, filter) + torgb × 4
    assert len(public) == 2 * 2 + 1 + (1 + 7 + 4) + 3 * (1 + 2 * 7 + 4)
    # The same tensor under both public names (e.g. the upsampling conv of the 16 px block).
    assert torch.equal(public["synthesis.b16.conv0.weight"], to_rosinality(tiny_generator)["convs.2.conv.weight"][0])
    assert torch.equal(public["synthesis.b16.conv0.noise_const"], to_rosinality(tiny_generator)["noises.noise_3"][0, 0])


def test_nvidia_state_dict_with_w_avg_loads(tiny_generator, tmp_path):
    config, state = from_nvidia({**to_nvidia(tiny_generator), "mapping.w_avg": torch.zeros(32)}, "test")
    assert config == tiny_generator.config and state.keys() == tiny_generator.state_dict().keys()
    for container in (True, False):
        path = tmp_path / f"nvidia_{container}.pt"
        state_dict = to_nvidia(tiny_generator)
        torch.save({"G_ema": state_dict} if container else state_dict, path)
        assert read_checkpoint(path, "cpu")[2] == "nvidia"
        assert torch.equal(_images(load_generator(path, "cpu")), _images(tiny_generator))


def test_conditional_nvidia_generator_is_refused(tiny_generator):
    public = {**to_nvidia(tiny_generator), "mapping.embed.weight": torch.zeros(32, 10)}
    with pytest.raises(ValueError, match=r"1 unexpected keys \[mapping.embed.weight\]"):
        from_nvidia(public, "conditional.pt")


def test_bare_rosinality_state_dict_loads(tiny_generator, tmp_path):
    path = tmp_path / "g_ema.pt"
    torch.save(to_rosinality(tiny_generator), path)
    assert torch.equal(_images(load_generator(path, "cpu")), _images(tiny_generator))


def test_missing_file_names_the_file_and_where_to_get_weights(tmp_path):
    path = tmp_path / "nowhere" / "stylegan2-ffhq-config-f.pt"
    with pytest.raises(FileNotFoundError, match="stylegan2-ffhq-config-f.pt") as error:
        load_generator(path, "cpu")
    assert str(path) in str(error.value) and "parameters_stylegan2.yml" in str(error.value)


def test_garbage_file_is_a_value_error(tmp_path):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ValueError, match="not a tensor-only torch checkpoint"):
        load_generator(path, "cpu")


class _Payload:
    """Unpickling this would create a directory: the loader must refuse it instead."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (os.makedirs, (self.target,))


def test_pickle_with_code_is_refused_and_not_executed(tmp_path):
    path = tmp_path / "network.pkl"
    marker = tmp_path / "executed"
    with open(path, "wb") as handle:
        pickle.dump({"G_ema": _Payload(str(marker))}, handle)
    with pytest.raises(ValueError, match="NVIDIA .pkl"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol")  # torch's notice
        load_generator(path, "cpu")
    assert not marker.exists()


def test_unknown_layout_lists_its_keys(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, path)
    with pytest.raises(ValueError, match=r"unrecognised checkpoint \(top-level keys \[model\]\)"):
        load_generator(path, "cpu")


def test_wrong_architecture_lists_missing_unexpected_and_mismatched(tiny_generator, tmp_path):
    state = {key: value.clone() for key, value in tiny_generator.state_dict().items()}
    del state["synthesis.layers.3.bias"]
    state["synthesis.extra"] = torch.zeros(1)
    state["synthesis.const"] = torch.zeros(1, 31, 4, 4)
    path = tmp_path / "bad.pt"
    torch.save(
        {
            "format": FORMAT_NAME,
            "version": 1,
            "config": tiny_generator.config.to_dict(),
            "state_dict": state,
            "source": "x",
        },
        path,
    )
    with pytest.raises(ValueError) as error:
        load_generator(path, "cpu")
    message = str(error.value)
    assert "1 missing keys [synthesis.layers.3.bias]" in message
    assert "1 unexpected keys [synthesis.extra]" in message
    assert "synthesis.const: expected (1, 32, 4, 4), found (1, 31, 4, 4)" in message


def test_rosinality_shape_mismatch_is_reported_by_the_cli(tiny_generator, tmp_path, capsys):
    public = to_rosinality(tiny_generator)
    public["convs.1.conv.modulation.weight"] = torch.zeros(31, 32)
    del public["noises.noise_3"]
    source = tmp_path / "bad.pt"
    torch.save({"g_ema": public}, source)
    assert convert_main([str(source), str(tmp_path / "out.pt")]) == 1
    err = capsys.readouterr().err
    assert "noises.noise_3" in err and "convs.1.conv.modulation.weight: expected (32, 32), found (31, 32)" in err
    assert not (tmp_path / "out.pt").exists()


def test_rosinality_with_an_unexpected_channel_layout_is_refused(tmp_path):
    # 16 channels at 4 px but 32 at 8 px: no min(base // res, max) rule gives that.
    public = to_rosinality(StyleGAN2Generator(GeneratorConfig(8, 8, 1, 0.01, 256, 32)))
    public["conv1.conv.weight"] = torch.zeros(1, 16, 16, 3, 3)
    with pytest.raises(ValueError, match="channel widths"):
        from_rosinality(public, "odd.pt")
