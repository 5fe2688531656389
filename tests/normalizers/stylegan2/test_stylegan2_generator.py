"""The plain-PyTorch StyleGAN2 generator: shapes, determinism, batching, and agreement
with an independent forward pass written against rosinality's parameter names."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from facial_anomaly.normalizers.stylegan2 import GeneratorConfig, StyleGAN2Generator, to_rosinality
from facial_anomaly.normalizers.stylegan2.generator import upfirdn2d


def test_config_f_shapes():
    config = GeneratorConfig(1024, 512, 8, 0.01, 32768, 512)
    assert [config.channels(r) for r in (4, 64, 128, 256, 512, 1024)] == [512, 512, 256, 128, 64, 32]
    assert (config.num_layers, config.num_ws) == (17, 18)
    with torch.device("meta"):
        generator = StyleGAN2Generator(config)
    # 30.37 M parameters, as rosinality's config-f g_ema (NVIDIA reports 30.0 M without the const/noise).
    assert sum(p.numel() for p in generator.parameters()) == 30_370_060


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="power of two"):
        GeneratorConfig(48, 32, 2, 0.01, 256, 32)
    with pytest.raises(ValueError, match="missing keys \\['channel_max'\\]"):
        GeneratorConfig.from_dict(
            {
                "resolution": 32,
                "latent_dim": 32,
                "mapping_layers": 2,
                "mapping_lr_multiplier": 0.01,
                "channel_base": 256,
            }
        )


def test_forward_shapes_and_stored_noise_is_deterministic(tiny_generator, tiny_config):
    z = torch.randn(3, tiny_config.latent_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = tiny_generator(z), tiny_generator(z)
        fresh = tiny_generator(z, tiny_generator.make_noise(3, torch.Generator().manual_seed(2)))
    assert a.shape == (3, 3, 32, 32) and torch.isfinite(a).all()
    assert torch.equal(a, b)
    assert not torch.allclose(a, fresh)  # the noise inputs matter
    assert tiny_generator.noise_shapes() == [(1, 1, r, r) for r in (4, 8, 8, 16, 16, 32, 32)]


def test_batch_equals_one_by_one(tiny_generator, tiny_config):
    """Per-sample styles and demodulation must not mix the samples of a batch."""
    ws = torch.randn(3, tiny_config.num_ws, tiny_config.latent_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        batch = tiny_generator.synthesis(ws)
        single = torch.cat([tiny_generator.synthesis(ws[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(batch, single, rtol=1e-5, atol=1e-5)


def test_upfirdn2d_upsamples_a_constant_to_a_constant():
    kernel = torch.tensor([1.0, 3.0, 3.0, 1.0])
    kernel = torch.outer(kernel, kernel) / 64 * 4
    out = upfirdn2d(torch.full((1, 2, 6, 6), 2.0), kernel, up=2, pad=(2, 1))
    assert out.shape == (1, 2, 12, 12)
    torch.testing.assert_close(out[..., 2:-2, 2:-2], torch.full((1, 2, 8, 8), 2.0))


# ---------------------------------------------------------------------------------------
# An independent forward pass over a rosinality ``g_ema`` state dict, written from the
# definitions of rosinality/stylegan2-pytorch's model.py (per-sample loop, reference
# upfirdn2d by padding a 6-D view), used to check names, shapes and scales end to end.


def _ref_upfirdn(x, kernel, up, pad0, pad1):
    b, c, h, w = x.shape
    x = x.reshape(b * c, h, 1, w, 1, 1)
    x = F.pad(x, [0, 0, 0, up - 1, 0, 0, 0, up - 1])
    x = x.reshape(b * c, 1, h * up, w * up)
    x = F.pad(x, [pad0, pad1, pad0, pad1])
    x = F.conv2d(x, torch.flip(kernel, [0, 1])[None, None])
    return x.reshape(b, c, *x.shape[-2:])


def _ref_linear(sd, prefix, x, lr_mul, activate):
    weight, bias = sd[prefix + ".weight"], sd[prefix + ".bias"]
    out = F.linear(x, weight * lr_mul / math.sqrt(weight.shape[1]))
    if activate:
        return F.leaky_relu(out + bias * lr_mul, 0.2) * math.sqrt(2)
    return out + bias * lr_mul


def _ref_modconv(sd, prefix, x, style, demodulate, upsample):
    weight = sd[prefix + ".weight"]  # (1, out, in, k, k)
    _, _, cin, k, _ = weight.shape
    outs = []
    for i in range(x.shape[0]):
        s = _ref_linear(sd, prefix + ".modulation", style[i : i + 1], 1.0, False)  # (1, in)
        wgt = weight[0] / math.sqrt(cin * k * k) * s.view(1, cin, 1, 1)
        if demodulate:
            wgt = wgt / torch.sqrt(wgt.pow(2).sum([1, 2, 3], keepdim=True) + 1e-8)
        if upsample:
            out = F.conv_transpose2d(x[i : i + 1], wgt.transpose(0, 1), stride=2)
            out = _ref_upfirdn(out, sd[prefix + ".blur.kernel"], 1, 1, 1)
        else:
            out = F.conv2d(x[i : i + 1], wgt, padding=k // 2)
        outs.append(out)
    return torch.cat(outs)


def _ref_styled(sd, prefix, x, style, noise, upsample):
    out = _ref_modconv(sd, prefix + ".conv", x, style, True, upsample)
    out = out + sd[prefix + ".noise.weight"] * noise
    return F.leaky_relu(out + sd[prefix + ".activate.bias"].view(1, -1, 1, 1), 0.2) * math.sqrt(2)


def _ref_to_rgb(sd, prefix, x, style, skip):
    out = _ref_modconv(sd, prefix + ".conv", x, style, False, False) + sd[prefix + ".bias"]
    if skip is not None:
        out = out + _ref_upfirdn(skip, sd[prefix + ".upsample.kernel"], 2, 2, 1)
    return out


def _ref_generate(sd, z, n_mlp, lr_mlp):
    x = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
    for i in range(1, n_mlp + 1):
        x = _ref_linear(sd, f"style.{i}", x, lr_mlp, True)
    n_blocks = sum(1 for key in sd if key.startswith("to_rgbs.") and key.endswith(".conv.weight"))
    latent = x[:, None].repeat(1, 2 * (n_blocks + 2) - 2, 1)
    noise = [sd[f"noises.noise_{i}"] for i in range(2 * n_blocks + 1)]
    out = sd["input.input"].repeat(z.shape[0], 1, 1, 1)
    out = _ref_styled(sd, "conv1", out, latent[:, 0], noise[0], False)
    skip = _ref_to_rgb(sd, "to_rgb1", out, latent[:, 1], None)
    i = 1
    for b in range(n_blocks):
        out = _ref_styled(sd, f"convs.{2 * b}", out, latent[:, i], noise[2 * b + 1], True)
        out = _ref_styled(sd, f"convs.{2 * b + 1}", out, latent[:, i + 1], noise[2 * b + 2], False)
        skip = _ref_to_rgb(sd, f"to_rgbs.{b}", out, latent[:, i + 2], skip)
        i += 2
    return skip


def test_matches_reference_forward_on_rosinality_names(tiny_generator, tiny_config):
    public = to_rosinality(tiny_generator)
    z = torch.randn(2, tiny_config.latent_dim, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ours = tiny_generator(z)
        reference = _ref_generate(public, z, tiny_config.mapping_layers, tiny_config.mapping_lr_multiplier)
    assert reference.shape == ours.shape
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-4)
