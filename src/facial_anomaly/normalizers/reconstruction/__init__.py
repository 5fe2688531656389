"""Reconstruction normalizers trained on normal faces only: GANomaly (Akcay et
al. 2018, as used by Wang et al. for facial palsy) and a convolutional autoencoder
baseline. Kedro-free.

* :mod:`.data` — aligned face ↔ (N, 3, S, S) tensor in [-1, 1]; pasting a reconstruction
  back into the full-size face;
* :mod:`.ganomaly`, :mod:`.autoencoder` — the models (:func:`build_model` from a config dict);
* :mod:`.training` — :func:`train` with validation AUC, early stopping, callbacks, resume;
* :mod:`.checkpoint` — safe ``torch.load(weights_only=True)`` checkpoints, files or bytes;
* :mod:`.normalizer` — the ``"ganomaly"`` and ``"autoencoder"`` normalizers.

Parameters: ``conf/base/parameters_train_reconstruction.yml``.
"""

from .autoencoder import AutoencoderConfig, ConvAutoencoder
from .base import ReconstructionModel, architectures, build_model, normalized_config
from .checkpoint import (
    TrainingState,
    load_model,
    load_training_state,
    model_from_bytes,
    model_to_bytes,
    save_model,
    save_training_state,
    training_state_to_bytes,
)
from .data import CropSpec, PasteSpec, crop_face, faces_to_tensor, paste_reconstruction, tensor_to_images
from .ganomaly import Ganomaly, GanomalyConfig, LossWeights
from .normalizer import AutoencoderNormalizer, GanomalyNormalizer, ReconstructionNormalizer
from .training import EpochReport, TrainingResult, reconstruction_grid, train

__all__ = [
    "AutoencoderConfig",
    "AutoencoderNormalizer",
    "ConvAutoencoder",
    "CropSpec",
    "EpochReport",
    "Ganomaly",
    "GanomalyConfig",
    "GanomalyNormalizer",
    "LossWeights",
    "PasteSpec",
    "ReconstructionModel",
    "ReconstructionNormalizer",
    "TrainingResult",
    "TrainingState",
    "architectures",
    "build_model",
    "crop_face",
    "faces_to_tensor",
    "load_model",
    "load_training_state",
    "model_from_bytes",
    "model_to_bytes",
    "normalized_config",
    "paste_reconstruction",
    "reconstruction_grid",
    "save_model",
    "save_training_state",
    "tensor_to_images",
    "train",
    "training_state_to_bytes",
]
