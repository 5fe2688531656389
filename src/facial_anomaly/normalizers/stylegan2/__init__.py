"""StyleGAN2 face normalizer (Hayajneh et al. 2022): inversion + generator adaptation.

- :mod:`.generator`: plain-PyTorch StyleGAN2 config-f generator (CPU or GPU).
- :mod:`.checkpoint`: safe loading of rosinality ``.pt`` checkpoints, stylegan2-ada-pytorch
  state dicts and this project's format; ``python -m facial_anomaly.normalizers.stylegan2.convert SRC DST``.
- :mod:`.inversion`: Algorithm 1 (projection into W / W+ with noise regularisation).
- :mod:`.adaptation`: Algorithm 2 (fine-tune the generator, snapshots, reconstruction step).
- :mod:`.normalizer`: :class:`StyleGAN2Normalizer`, the ``"stylegan2"`` normalizer.

Settings: ``conf/base/parameters_stylegan2.yml``.
"""

from .adaptation import AdaptationConfig, AdaptationResult, adapt, reconstruction_step, region_heat
from .checkpoint import (
    check_state_dict,
    convert_checkpoint,
    from_nvidia,
    from_rosinality,
    load_generator,
    read_checkpoint,
    save_generator,
    to_nvidia,
    to_rosinality,
)
from .config import resolve_preset
from .generator import GeneratorConfig, StyleGAN2Generator
from .inversion import InversionConfig, InversionResult, invert, learning_rate, noise_regularization, w_statistics
from .losses import PerceptualConfig, build_lpips, perceptual_distance
from .normalizer import StyleGAN2Normalization, StyleGAN2Normalizer

__all__ = [
    "AdaptationConfig",
    "AdaptationResult",
    "GeneratorConfig",
    "InversionConfig",
    "InversionResult",
    "PerceptualConfig",
    "StyleGAN2Generator",
    "StyleGAN2Normalization",
    "StyleGAN2Normalizer",
    "adapt",
    "build_lpips",
    "check_state_dict",
    "convert_checkpoint",
    "from_nvidia",
    "from_rosinality",
    "invert",
    "learning_rate",
    "load_generator",
    "noise_regularization",
    "perceptual_distance",
    "read_checkpoint",
    "reconstruction_step",
    "region_heat",
    "resolve_preset",
    "save_generator",
    "to_nvidia",
    "to_rosinality",
    "w_statistics",
]
