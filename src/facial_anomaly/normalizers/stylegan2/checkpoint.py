"""Safe loading, saving and conversion of StyleGAN2 generator checkpoints.

Formats read (all through ``torch.load(..., weights_only=True)``: tensors, dicts, lists
and numbers only, never arbitrary code):

- **this project's own format** (written by :func:`save_generator` and the converter CLI
  ``python -m facial_anomaly.normalizers.stylegan2.convert SRC DST``)::

      {"format": "facial_anomaly.stylegan2.generator", "version": 1,
       "config": {GeneratorConfig fields}, "state_dict": {name: tensor}, "source": str}

- **rosinality/stylegan2-pytorch** checkpoints: the converted official weights
  (``stylegan2-ffhq-config-f.pt`` = ``{"g_ema": state_dict, "latent_avg": tensor}``), the
  training checkpoints (``550000.pt`` = ``{"g", "d", "g_ema", "g_optim", "d_optim", "args",
  "ada_aug_p"}``; ``args`` is an ``argparse.Namespace``, the one extra class allowed), or a
  bare ``g_ema`` state dict. Only ``g_ema`` is used (``latent_avg`` is not: Algorithm 1
  computes its own mean W). Names such as ``style.1.weight``, ``conv1.conv.weight``,
  ``convs.N.conv.modulation.weight``, ``noises.noise_N`` and ``to_rgbs.N.*`` are mapped to
  the names listed in :mod:`.generator`.

- **NVlabs/stylegan2-ada-pytorch** generator state dicts saved with ``torch.save`` (bare,
  or as ``{"G_ema": state_dict}``): ``mapping.fc0.weight``, ``synthesis.b4.const``,
  ``synthesis.b8.conv0.affine.weight``, ``synthesis.b1024.torgb.weight``, … (``mapping.w_avg``
  is dropped). The official weights need no TensorFlow this way, with that repository::

      import torch, dnnlib, legacy
      with dnnlib.util.open_url("stylegan2-ffhq-config-f.pkl") as f:
          G = legacy.load_network_pkl(f)["G_ema"]
      torch.save(G.state_dict(), "stylegan2-ffhq-config-f.nvidia.pt")

  Converted TF config-f networks have ``conv_clamp=None``, as assumed here; networks
  trained with stylegan2-ada-pytorch (``conv_clamp=256``) are read too, but their rare
  activations beyond ±256 are not clamped.

For both public formats resolution, latent size, mapping depth and channel widths are read
from the tensor shapes; the mapping learning-rate multiplier, which no file stores, is the
0.01 that both implementations always use.

Not read: ``.pkl`` files (the official TensorFlow ``stylegan2-ffhq-config-f.pkl`` and
stylegan2-ada-pytorch pickles). Unpickling them imports or even executes the code stored in
them, so they cannot be opened safely; export the state dict as above, or use rosinality's
``convert_weight.py --repo <official stylegan2 repo> stylegan2-ffhq-config-f.pkl`` (needs
TensorFlow 1.x), which writes the ``.pt`` file above.

Where to get FFHQ config-f weights (1024 px, the generator of Hayajneh et al. 2022): the
README of rosinality/stylegan2-pytorch links the converted ``stylegan2-ffhq-config-f.pt``;
or take NVIDIA's official ``stylegan2-ffhq-config-f.pkl`` (NVlabs/stylegan2 README) and
export it as described above. Put the file at the ``checkpoint`` path of
``conf/base/parameters_stylegan2.yml`` (``data/06_models/stylegan2/stylegan2-ffhq-config-f.pt``);
it is read as is, or can be converted once to this project's format with the CLI.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from .generator import FIR_TAPS, GeneratorConfig, StyleGAN2Generator, fir_filter

FORMAT_NAME = "facial_anomaly.stylegan2.generator"
FORMAT_VERSION = 1
DEFAULT_CHECKPOINT_HINT = "data/06_models/stylegan2/stylegan2-ffhq-config-f.pt"

_MAX_LISTED = 12


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    return f"[{shown}{f', … and {len(items) - _MAX_LISTED} more' if len(items) > _MAX_LISTED else ''}]"


def check_state_dict(expected: Mapping[str, tuple[int, ...]], given: Mapping, source: str) -> None:
    """Raise a ``ValueError`` naming every missing key, unexpected key and shape mismatch.

    Args:
        expected: name → shape that the architecture needs.
        given: name → tensor as read from a file.
        source: what ``given`` is, for the message (e.g. the file name).
    """
    missing = [key for key in expected if key not in given]
    unexpected = [key for key in given if key not in expected]
    mismatched = []
    for key, shape in expected.items():
        if key not in given:
            continue
        value = given[key]
        if not isinstance(value, torch.Tensor):
            mismatched.append(f"{key}: expected a tensor {tuple(shape)}, found {type(value).__name__}")
        elif tuple(value.shape) != tuple(shape):
            mismatched.append(f"{key}: expected {tuple(shape)}, found {tuple(value.shape)}")
    if missing or unexpected or mismatched:
        raise ValueError(
            f"{source} does not match the expected StyleGAN2 generator: "
            f"{len(missing)} missing keys {_listed(missing)}; "
            f"{len(unexpected)} unexpected keys {_listed(unexpected)}; "
            f"{len(mismatched)} shape mismatches {_listed(mismatched)}"
        )


def _own_shapes(config: GeneratorConfig) -> dict[str, tuple[int, ...]]:
    """name → shape of this project's state dict for ``config`` (built on the meta device)."""
    with torch.device("meta"):
        generator = StyleGAN2Generator(config)
    return {key: tuple(value.shape) for key, value in generator.state_dict().items()}


def generator_from_state_dict(config: GeneratorConfig, state_dict: Mapping, source: str) -> StyleGAN2Generator:
    """A generator of ``config`` holding ``state_dict`` (this project's names), on the CPU.

    Raises:
        ValueError: listing missing/unexpected keys and shape mismatches.
    """
    generator = StyleGAN2Generator(config)
    check_state_dict({k: tuple(v.shape) for k, v in generator.state_dict().items()}, state_dict, source)
    generator.load_state_dict(state_dict, strict=True)
    return generator.eval()


# --------------------------------------------------------------------------- public formats


@dataclass(frozen=True)
class _PublicFormat:
    """How a public implementation names and shapes the tensors of this project's generator."""

    label: str
    mapping_lr_multiplier: float
    name: Callable[[str], str]  # own name → public name
    shape: Callable[[str, tuple[int, ...]], tuple[int, ...]]  # own name, own shape → public shape
    fixed_buffers: Callable[[GeneratorConfig], dict[str, torch.Tensor]]  # checked, then dropped
    ignored: Callable[[GeneratorConfig], dict[str, tuple[int, ...]]]  # allowed when present, dropped
    probe: Callable[[Mapping, str], tuple[int, int, dict[int, int]]]  # → latent_dim, mapping layers, widths


def _dim(state_dict: Mapping, key: str, axis: int, source: str) -> int:
    value = state_dict.get(key)
    if not isinstance(value, torch.Tensor) or value.ndim <= axis:
        raise ValueError(f"{source}: {key} must be a tensor with more than {axis} dimensions, found {value!r:.80}")
    return int(value.shape[axis])


def _count(state_dict: Mapping, pattern: str, start: int) -> int:
    """How many consecutive ``pattern.format(start), pattern.format(start + 1), …`` keys exist."""
    count = 0
    while pattern.format(start + count) in state_dict:
        count += 1
    return count


def _require(state_dict: Mapping, keys: list[str], fmt: str, source: str) -> None:
    absent = [key for key in keys if key not in state_dict]
    if absent:
        raise ValueError(
            f"{source} is not a {fmt} generator: missing keys {absent} "
            f"(found e.g. {_listed(sorted(map(str, state_dict))[:_MAX_LISTED])})"
        )


# rosinality/stylegan2-pytorch (model.py: Generator; "g_ema" of its checkpoints).
_ROSINALITY_LAYER_SUFFIX = {
    "conv.weight": "conv.weight",
    "conv.affine.weight": "conv.modulation.weight",
    "conv.affine.bias": "conv.modulation.bias",
    "noise_strength": "noise.weight",
    "bias": "activate.bias",
}
_ROSINALITY_TO_RGB_SUFFIX = {
    "conv.weight": "conv.weight",
    "conv.affine.weight": "conv.modulation.weight",
    "conv.affine.bias": "conv.modulation.bias",
    "bias": "bias",
}


def _rosinality_name(own: str) -> str:
    parts = own.split(".")
    if parts[0] == "mapping":  # mapping.layers.{i}.{weight,bias}; style.0 is the PixelNorm
        return f"style.{int(parts[2]) + 1}.{parts[3]}"
    if own == "synthesis.const":
        return "input.input"
    kind, index, suffix = parts[1], int(parts[2]), ".".join(parts[3:])
    if kind == "layers":
        if suffix == "noise_const":
            return f"noises.noise_{index}"
        prefix = "conv1" if index == 0 else f"convs.{index - 1}"
        return f"{prefix}.{_ROSINALITY_LAYER_SUFFIX[suffix]}"
    prefix = "to_rgb1" if index == 0 else f"to_rgbs.{index - 1}"
    return f"{prefix}.{_ROSINALITY_TO_RGB_SUFFIX[suffix]}"


def _rosinality_shape(own: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Modulated weights are (1, C_out, C_in, k, k), noise strengths (1,), toRGB biases (1, 3, 1, 1)."""
    if own.endswith(".conv.weight"):
        return (1, *shape)
    if own.endswith(".noise_strength"):
        return (1,)
    if own.startswith("synthesis.to_rgbs.") and own.count(".") == 3 and own.endswith(".bias"):
        return (1, shape[0], 1, 1)
    return shape


def _rosinality_fir_buffers(config: GeneratorConfig) -> dict[str, torch.Tensor]:
    kernel = fir_filter(FIR_TAPS, gain=4.0)  # make_kernel([1, 3, 3, 1]) × factor²
    blocks = config.log2_resolution - 2
    buffers = {f"convs.{2 * b}.conv.blur.kernel": kernel for b in range(blocks)}
    buffers.update({f"to_rgbs.{b}.upsample.kernel": kernel for b in range(blocks)})
    return buffers


def _rosinality_probe(state_dict: Mapping, source: str) -> tuple[int, int, dict[int, int]]:
    _require(
        state_dict,
        ["style.1.weight", "conv1.conv.weight", "to_rgb1.conv.weight"],
        "rosinality/stylegan2-pytorch",
        source,
    )
    blocks = _count(state_dict, "to_rgbs.{}.conv.weight", 0)
    widths = {4: _dim(state_dict, "conv1.conv.weight", 1, source)}
    widths.update({8 * 2**b: _dim(state_dict, f"convs.{2 * b}.conv.weight", 1, source) for b in range(blocks)})
    return _dim(state_dict, "style.1.weight", 1, source), _count(state_dict, "style.{}.weight", 1), widths


ROSINALITY = _PublicFormat(
    label="rosinality",
    # Generator(lr_mlp=0.01) default; its train.py never changes it and the file does not store it.
    mapping_lr_multiplier=0.01,
    name=_rosinality_name,
    shape=_rosinality_shape,
    fixed_buffers=_rosinality_fir_buffers,
    ignored=lambda config: {},
    probe=_rosinality_probe,
)


# NVlabs/stylegan2-ada-pytorch (training/networks.py: Generator.state_dict()).
_NVIDIA_LAYER_SUFFIX = {
    "conv.weight": "weight",
    "conv.affine.weight": "affine.weight",
    "conv.affine.bias": "affine.bias",
    "noise_strength": "noise_strength",
    "noise_const": "noise_const",
    "bias": "bias",
}


def _nvidia_name(own: str) -> str:
    parts = own.split(".")
    if parts[0] == "mapping":
        return f"mapping.fc{parts[2]}.{parts[3]}"
    if own == "synthesis.const":
        return "synthesis.b4.const"
    kind, index, suffix = parts[1], int(parts[2]), ".".join(parts[3:])
    if kind == "layers":
        res = 2 ** ((index + 5) // 2)
        conv = "conv1" if index == 0 or index % 2 == 0 else "conv0"
        return f"synthesis.b{res}.{conv}.{_NVIDIA_LAYER_SUFFIX[suffix]}"
    return f"synthesis.b{4 * 2**index}.torgb.{_NVIDIA_LAYER_SUFFIX[suffix]}"


def _nvidia_shape(own: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The constant is (C, 4, 4) and noise maps (r, r)."""
    if own == "synthesis.const":
        return shape[1:]
    if own.endswith(".noise_const"):
        return shape[2:]
    return shape


def _nvidia_fir_buffers(config: GeneratorConfig) -> dict[str, torch.Tensor]:
    kernel = fir_filter(FIR_TAPS, gain=1.0)  # upfirdn2d.setup_filter([1, 3, 3, 1])
    buffers = {}
    for log2_res in range(2, config.log2_resolution + 1):
        res = 2**log2_res
        for module in ("", ".conv1") if res == 4 else ("", ".conv0", ".conv1"):
            buffers[f"synthesis.b{res}{module}.resample_filter"] = kernel
    return buffers


def _nvidia_probe(state_dict: Mapping, source: str) -> tuple[int, int, dict[int, int]]:
    _require(
        state_dict,
        ["mapping.fc0.weight", "synthesis.b4.conv1.weight", "synthesis.b4.torgb.weight"],
        "stylegan2-ada-pytorch",
        source,
    )
    widths = {4: _dim(state_dict, "synthesis.b4.conv1.weight", 0, source)}
    res = 8
    while f"synthesis.b{res}.conv1.weight" in state_dict:
        widths[res] = _dim(state_dict, f"synthesis.b{res}.conv1.weight", 0, source)
        res *= 2
    return _dim(state_dict, "mapping.fc0.weight", 1, source), _count(state_dict, "mapping.fc{}.weight", 0), widths


NVIDIA = _PublicFormat(
    label="nvidia",
    # MappingNetwork(lr_multiplier=0.01) default, also what legacy.py uses for the TF pickles.
    mapping_lr_multiplier=0.01,
    name=_nvidia_name,
    shape=_nvidia_shape,
    fixed_buffers=_nvidia_fir_buffers,
    ignored=lambda config: {"mapping.w_avg": (config.latent_dim,)},
    probe=_nvidia_probe,
)


def _public_config(fmt: _PublicFormat, state_dict: Mapping, source: str) -> GeneratorConfig:
    """Resolution, latent size, mapping depth and channel widths read from tensor shapes."""
    latent_dim, mapping_layers, widths = fmt.probe(state_dict, source)
    resolution = max(widths)
    config = GeneratorConfig(
        resolution=resolution,
        latent_dim=latent_dim,
        mapping_layers=mapping_layers,
        mapping_lr_multiplier=fmt.mapping_lr_multiplier,
        channel_base=widths[resolution] * resolution,
        channel_max=widths[4],
    )
    derived = {res: config.channels(res) for res in widths}
    if derived != widths:
        raise ValueError(
            f"{source}: channel widths {widths} do not follow min(channel_base // res, channel_max) "
            f"for any channel_base/channel_max (closest: {derived})"
        )
    return config


def _from_public(
    fmt: _PublicFormat, state_dict: Mapping, source: str
) -> tuple[GeneratorConfig, dict[str, torch.Tensor]]:
    config = _public_config(fmt, state_dict, source)
    own_shapes = _own_shapes(config)
    names = {own: fmt.name(own) for own in own_shapes}
    fixed = fmt.fixed_buffers(config)
    expected = {names[own]: fmt.shape(own, shape) for own, shape in own_shapes.items()}
    expected.update({key: tuple(value.shape) for key, value in fixed.items()})
    expected.update({key: shape for key, shape in fmt.ignored(config).items() if key in state_dict})
    check_state_dict(expected, state_dict, source)
    for key, kernel in fixed.items():
        if not torch.allclose(state_dict[key].float().cpu(), kernel, atol=1e-6):
            raise ValueError(
                f"{source}: {key} is not the StyleGAN2 [1, 3, 3, 1] filter; other filters are not supported"
            )
    return config, {own: state_dict[names[own]].reshape(shape).clone() for own, shape in own_shapes.items()}


def _to_public(fmt: _PublicFormat, generator: StyleGAN2Generator) -> dict[str, torch.Tensor]:
    out = {
        fmt.name(key): value.detach().cpu().reshape(fmt.shape(key, tuple(value.shape))).clone()
        for key, value in generator.state_dict().items()
    }
    out.update({key: value.clone() for key, value in fmt.fixed_buffers(generator.config).items()})
    return out


def from_rosinality(state_dict: Mapping, source: str) -> tuple[GeneratorConfig, dict[str, torch.Tensor]]:
    """Convert a rosinality ``g_ema`` state dict to (config, this project's state dict).

    Raises:
        ValueError: when keys are missing or unexpected, shapes do not fit, or the fixed
            resampling filters differ from [1, 3, 3, 1].
    """
    return _from_public(ROSINALITY, state_dict, source)


def to_rosinality(generator: StyleGAN2Generator) -> dict[str, torch.Tensor]:
    """This generator's weights under rosinality ``g_ema`` names and shapes (CPU tensors),
    including the fixed filter buffers, i.e. exactly the keys of a rosinality checkpoint."""
    return _to_public(ROSINALITY, generator)


def from_nvidia(state_dict: Mapping, source: str) -> tuple[GeneratorConfig, dict[str, torch.Tensor]]:
    """Convert a stylegan2-ada-pytorch ``G_ema.state_dict()`` to (config, this project's state dict)
    (``mapping.w_avg`` is accepted and dropped). Raises ``ValueError`` like :func:`from_rosinality`."""
    return _from_public(NVIDIA, state_dict, source)


def to_nvidia(generator: StyleGAN2Generator) -> dict[str, torch.Tensor]:
    """This generator's weights as a stylegan2-ada-pytorch ``Generator.state_dict()``
    (without ``mapping.w_avg``), CPU tensors."""
    return _to_public(NVIDIA, generator)


# --------------------------------------------------------------------------- files


def safe_torch_load(path: str | Path, map_location: str | torch.device) -> object:
    """``torch.load(weights_only=True)`` with clear errors.

    Raises:
        FileNotFoundError: naming the file and where the weights come from.
        ValueError: when the file is not a tensor-only torch checkpoint (e.g. a ``.pkl``
            that would need code to unpickle, or a truncated file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"StyleGAN2 checkpoint {path} does not exist. Put FFHQ config-f weights there "
            f"(e.g. rosinality's stylegan2-ffhq-config-f.pt; see the docstring of {__name__}) "
            f"or set 'checkpoint' in conf/base/parameters_stylegan2.yml (default {DEFAULT_CHECKPOINT_HINT})."
        )
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, KeyError, RuntimeError, EOFError, ...
        raise ValueError(
            f"{path} is not a tensor-only torch checkpoint that can be loaded safely "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}). "
            "NVIDIA .pkl files must be converted to rosinality's .pt format first (see this module's docstring)."
        ) from error


def read_checkpoint(
    path: str | Path, map_location: str | torch.device
) -> tuple[GeneratorConfig, dict[str, torch.Tensor], str]:
    """Read any supported checkpoint as (config, this project's state dict, format name).

    Format names: ``"facial_anomaly"`` (own format), ``"rosinality"`` or ``"nvidia"``.

    Raises:
        FileNotFoundError, ValueError: see :func:`safe_torch_load` and :func:`check_state_dict`.
    """
    path = Path(path)
    data = safe_torch_load(path, map_location)
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds a {type(data).__name__}, not a checkpoint dict")
    if data.get("format") == FORMAT_NAME:
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"{path}: format version {data.get('version')!r} is not supported (expected {FORMAT_VERSION})"
            )
        if not isinstance(data.get("config"), dict) or not isinstance(data.get("state_dict"), dict):
            raise ValueError(f"{path}: own-format checkpoint without a 'config' and 'state_dict' dict")
        return GeneratorConfig.from_dict(data["config"]), data["state_dict"], "facial_anomaly"
    for fmt, container, marker in ((ROSINALITY, "g_ema", "style.1.weight"), (NVIDIA, "G_ema", "mapping.fc0.weight")):
        if container in data:
            if not isinstance(data[container], dict):
                raise ValueError(f"{path}: {container!r} is a {type(data[container]).__name__}, not a state dict")
            return (*_from_public(fmt, data[container], f"{path} [{container}]"), fmt.label)
        if marker in data:
            return (*_from_public(fmt, data, str(path)), fmt.label)
    raise ValueError(
        f"{path}: unrecognised checkpoint (top-level keys {_listed(sorted(map(str, data)))}); expected this "
        f"project's format ('format': {FORMAT_NAME!r}), a rosinality checkpoint ('g_ema' or its keys) or a "
        "stylegan2-ada-pytorch generator state dict ('G_ema' or its keys)"
    )


def load_generator(path: str | Path, device: str | torch.device) -> StyleGAN2Generator:
    """Load a generator from any supported checkpoint onto ``device``, in eval mode.

    Raises:
        FileNotFoundError: the file does not exist (the message says where to get weights).
        ValueError: the file is not a safe checkpoint, its format is unknown, or it does
            not fit the architecture (listing missing/unexpected keys and shape mismatches).
    """
    config, state_dict, _ = read_checkpoint(path, map_location="cpu")
    return generator_from_state_dict(config, state_dict, str(path)).to(device)


def save_generator(generator: StyleGAN2Generator, path: str | Path, source: str) -> Path:
    """Write ``generator`` in this project's format (CPU tensors + config dict); returns the path.

    Args:
        source: free text saying where the weights came from (kept in the file).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "config": generator.config.to_dict(),
            "state_dict": {key: value.detach().cpu().contiguous() for key, value in generator.state_dict().items()},
            "source": source,
        },
        path,
    )
    return path


def convert_checkpoint(source: str | Path, destination: str | Path) -> GeneratorConfig:
    """Read any supported checkpoint and write it in this project's format; returns its config."""
    config, state_dict, format_name = read_checkpoint(source, map_location="cpu")
    generator = generator_from_state_dict(config, state_dict, str(source))
    save_generator(generator, destination, source=f"{format_name}: {Path(source).name}")
    return config
