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
  the names listed in :mod:`.generator`; resolution, latent size and channel widths are
  read from the tensor shapes.

Not read: NVIDIA's ``.pkl`` files (the official TensorFlow ``stylegan2-ffhq-config-f.pkl``
and stylegan2-ada-pytorch pickles). Unpickling them imports or even executes the code
stored in them, so they cannot be opened safely; convert them first with the tools of
their ecosystem, e.g. rosinality's ``convert_weight.py --repo <official stylegan2 repo>
stylegan2-ffhq-config-f.pkl`` (needs TensorFlow 1.x), which writes the ``.pt`` file above.

Where to get FFHQ config-f weights (1024 px, the generator of Hayajneh et al. 2022):
the README of rosinality/stylegan2-pytorch links the converted
``stylegan2-ffhq-config-f.pt`` (≈ 360 MB); or convert NVIDIA's official
``stylegan2-ffhq-config-f.pkl`` from the NVlabs/stylegan2 README as described above. Put
the file at the ``checkpoint`` path of ``conf/base/parameters_stylegan2.yml``
(``data/06_models/stylegan2/stylegan2-ffhq-config-f.pt``); it is read as is, or can be
converted once to this project's format with the CLI.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

import torch

from .generator import FIR_TAPS, GeneratorConfig, StyleGAN2Generator, fir_filter

FORMAT_NAME = "facial_anomaly.stylegan2.generator"
FORMAT_VERSION = 1
DEFAULT_CHECKPOINT_HINT = "data/06_models/stylegan2/stylegan2-ffhq-config-f.pt"

# rosinality's Generator(lr_mlp=0.01) default; its train.py never changes it, so every
# checkpoint of that format was trained with it (the value is not stored in the file).
ROSINALITY_MAPPING_LR_MULTIPLIER = 0.01

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


# --------------------------------------------------------------------------- rosinality


def _rosinality_name(own: str) -> str:
    """rosinality/stylegan2-pytorch ``g_ema`` name of one of this project's parameter names."""
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
    """rosinality keeps modulated weights as (1, C_out, C_in, k, k), noise strengths as
    (1,) and toRGB biases as (1, 3, 1, 1); every other tensor has the same shape."""
    if own.endswith(".conv.weight"):
        return (1, *shape)
    if own.endswith(".noise_strength"):
        return (1,)
    if own.startswith("synthesis.to_rgbs.") and own.count(".") == 3 and own.endswith(".bias"):
        return (1, shape[0], 1, 1)
    return shape


def _rosinality_fir_buffers(config: GeneratorConfig) -> dict[str, torch.Tensor]:
    """The fixed [1, 3, 3, 1] filter buffers a rosinality state dict also holds."""
    kernel = fir_filter(FIR_TAPS, gain=4.0)
    blocks = config.log2_resolution - 2
    buffers = {f"convs.{2 * b}.conv.blur.kernel": kernel for b in range(blocks)}
    buffers.update({f"to_rgbs.{b}.upsample.kernel": kernel for b in range(blocks)})
    return buffers


def _dim(state_dict: Mapping, key: str, axis: int, source: str) -> int:
    value = state_dict.get(key)
    if not isinstance(value, torch.Tensor) or value.ndim <= axis:
        raise ValueError(f"{source}: {key} must be a tensor with more than {axis} dimensions, found {value!r:.80}")
    return int(value.shape[axis])


def _rosinality_config(state_dict: Mapping, source: str) -> GeneratorConfig:
    """Read resolution, latent size, mapping depth and channel widths from tensor shapes."""
    needed = ["style.1.weight", "conv1.conv.weight", "to_rgb1.conv.weight"]
    absent = [key for key in needed if key not in state_dict]
    if absent:
        raise ValueError(
            f"{source} is not a rosinality/stylegan2-pytorch generator: missing keys {absent} "
            f"(found e.g. {_listed(sorted(map(str, state_dict))[:_MAX_LISTED])})"
        )
    mapping_layers = 0
    while f"style.{mapping_layers + 1}.weight" in state_dict:
        mapping_layers += 1
    blocks = 0
    while f"to_rgbs.{blocks}.conv.weight" in state_dict:
        blocks += 1
    resolution = 4 * 2**blocks
    widths = {4: _dim(state_dict, "conv1.conv.weight", 1, source)}
    for b in range(blocks):
        widths[8 * 2**b] = _dim(state_dict, f"convs.{2 * b}.conv.weight", 1, source)
    channel_max = widths[4]
    channel_base = widths[resolution] * resolution
    config = GeneratorConfig(
        resolution=resolution,
        latent_dim=_dim(state_dict, "style.1.weight", 1, source),
        mapping_layers=mapping_layers,
        mapping_lr_multiplier=ROSINALITY_MAPPING_LR_MULTIPLIER,
        channel_base=channel_base,
        channel_max=channel_max,
    )
    derived = {res: config.channels(res) for res in widths}
    if derived != widths:
        raise ValueError(
            f"{source}: channel widths {widths} do not follow min(channel_base // res, channel_max) "
            f"for any channel_base/channel_max (closest: {derived})"
        )
    return config


def from_rosinality(state_dict: Mapping, source: str) -> tuple[GeneratorConfig, dict[str, torch.Tensor]]:
    """Convert a rosinality ``g_ema`` state dict to (config, this project's state dict).

    Raises:
        ValueError: when keys are missing or unexpected, shapes do not fit, or the fixed
            resampling filters differ from [1, 3, 3, 1].
    """
    config = _rosinality_config(state_dict, source)
    own_shapes = _own_shapes(config)
    names = {own: _rosinality_name(own) for own in own_shapes}
    fir_buffers = _rosinality_fir_buffers(config)
    expected = {names[own]: _rosinality_shape(own, shape) for own, shape in own_shapes.items()}
    expected.update({key: tuple(value.shape) for key, value in fir_buffers.items()})
    check_state_dict(expected, state_dict, source)
    for key, kernel in fir_buffers.items():
        if not torch.allclose(state_dict[key].float().cpu(), kernel, atol=1e-6):
            raise ValueError(f"{source}: {key} is not the StyleGAN2 [1, 3, 3, 1] filter; other filters are not supported")
    own = {key: state_dict[names[key]].reshape(shape).clone() for key, shape in own_shapes.items()}
    return config, own


def to_rosinality(generator: StyleGAN2Generator) -> dict[str, torch.Tensor]:
    """This generator's weights under rosinality ``g_ema`` names and shapes (CPU tensors),
    including the fixed filter buffers, i.e. exactly the keys of a rosinality checkpoint."""
    out = {
        _rosinality_name(key): value.detach().cpu().reshape(_rosinality_shape(key, tuple(value.shape))).clone()
        for key, value in generator.state_dict().items()
    }
    out.update({key: value.clone() for key, value in _rosinality_fir_buffers(generator.config).items()})
    return out


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


def read_checkpoint(path: str | Path, map_location: str | torch.device) -> tuple[GeneratorConfig, dict[str, torch.Tensor], str]:
    """Read any supported checkpoint as (config, this project's state dict, format name).

    Format names: ``"facial_anomaly"`` (own format) or ``"rosinality"``.

    Raises:
        FileNotFoundError, ValueError: see :func:`safe_torch_load` and :func:`check_state_dict`.
    """
    path = Path(path)
    data = safe_torch_load(path, map_location)
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds a {type(data).__name__}, not a checkpoint dict")
    if data.get("format") == FORMAT_NAME:
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"{path}: format version {data.get('version')!r} is not supported (expected {FORMAT_VERSION})")
        if not isinstance(data.get("config"), dict) or not isinstance(data.get("state_dict"), dict):
            raise ValueError(f"{path}: own-format checkpoint without a 'config' and 'state_dict' dict")
        return GeneratorConfig.from_dict(data["config"]), data["state_dict"], "facial_anomaly"
    if "g_ema" in data:
        if not isinstance(data["g_ema"], dict):
            raise ValueError(f"{path}: 'g_ema' is a {type(data['g_ema']).__name__}, not a state dict")
        return (*from_rosinality(data["g_ema"], f"{path} [g_ema]"), "rosinality")
    if "style.1.weight" in data:
        return (*from_rosinality(data, str(path)), "rosinality")
    raise ValueError(
        f"{path}: unrecognised checkpoint (top-level keys {_listed(sorted(map(str, data)))}); expected this "
        f"project's format ('format': {FORMAT_NAME!r}), a rosinality checkpoint with 'g_ema', or a bare "
        "rosinality g_ema state dict"
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
