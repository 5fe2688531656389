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

# Public names are imported on first use (PEP 562): the settings in :mod:`.presets` are read
# when pipelines are registered, and must not import torch through the models.
from ...lazy import lazy_exports

_EXPORTS = {
    "AutoencoderConfig": "autoencoder",
    "AutoencoderNormalizer": "normalizer",
    "ConvAutoencoder": "autoencoder",
    "CropSpec": "data",
    "EpochReport": "training",
    "Ganomaly": "ganomaly",
    "GanomalyConfig": "ganomaly",
    "GanomalyNormalizer": "normalizer",
    "LossWeights": "ganomaly",
    "PasteSpec": "data",
    "ReconstructionModel": "base",
    "ReconstructionNormalizer": "normalizer",
    "TrainingResult": "training",
    "TrainingState": "checkpoint",
    "architectures": "base",
    "build_model": "base",
    "crop_face": "data",
    "faces_to_tensor": "data",
    "load_model": "checkpoint",
    "load_training_state": "checkpoint",
    "model_from_bytes": "checkpoint",
    "model_to_bytes": "checkpoint",
    "normalized_config": "base",
    "paste_reconstruction": "data",
    "reconstruction_grid": "training",
    "save_model": "checkpoint",
    "save_training_state": "checkpoint",
    "tensor_to_images": "data",
    "train": "training",
    "training_state_to_bytes": "checkpoint",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
