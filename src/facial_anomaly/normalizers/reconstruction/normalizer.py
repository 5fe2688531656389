"""Normalizers backed by a reconstruction model: ``"ganomaly"`` (:class:`GanomalyNormalizer`)
and ``"autoencoder"`` (:class:`AutoencoderNormalizer`).

The normalized face is the model's reconstruction of the crop box pasted back into a
copy of the aligned face (:func:`~.data.paste_reconstruction`): same size as the input,
identical outside the box. :meth:`ReconstructionNormalizer.anomaly_score` gives the
model's own score A(x) (GANomaly: latent L1 distance; autoencoder: reconstruction L1).

Construct with exactly one of

* ``checkpoint=path`` (see :mod:`.checkpoint`; model or training checkpoint),
* ``model=`` a trained :class:`~.base.ReconstructionModel` (e.g. ``TrainingResult.best_model()``),
* ``model_config=`` + ``training=`` (the blocks of ``parameters_train_reconstruction.yml``)
  and then call :meth:`fit` on normal faces,

plus ``device`` (``auto``/``cpu``/``cuda``), ``batch_size`` (faces per forward pass) and
``paste`` (``{feather, detail_transfer}``, :class:`~.data.PasteSpec`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np

from ...devices import resolve_device
from ..base import NormalizedFace, Normalizer, register, validate_face, validate_training_landmarks
from .base import ReconstructionModel, map_batches, model_inputs, normalized_config
from .checkpoint import load_model, save_model
from .data import PasteSpec, check_face_image, paste_reconstruction, tensor_to_images
from .training import TrainingResult, train

TRAINING_KEYS = ("epochs", "batch_size", "lr", "betas", "seed", "patience", "min_epochs")


class ReconstructionNormalizer(Normalizer):
    """Shared implementation; subclasses fix ``name`` and the model ``architecture``."""

    architecture: ClassVar[str]

    def __init__(
        self,
        *,
        device: str,
        batch_size: int,
        paste: Mapping,
        checkpoint: str | None = None,
        model: ReconstructionModel | None = None,
        model_config: Mapping | None = None,
        training: Mapping | None = None,
    ):
        given = [
            name
            for name, value in (("checkpoint", checkpoint), ("model", model), ("model_config", model_config))
            if value is not None
        ]
        if len(given) != 1:
            raise ValueError(
                f"{self.name}: give exactly one of checkpoint, model, model_config (got {given or 'none'})"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        self.device = resolve_device(device)
        self.batch_size = int(batch_size)
        self.paste = PasteSpec.from_dict(paste)
        self.training_result: TrainingResult | None = None
        self.model_config: dict | None = None
        self.training: dict | None = None
        self.model: ReconstructionModel | None = None
        if model_config is not None:
            self.model_config = normalized_config(model_config)
            self._check_architecture(self.model_config["architecture"], "model_config")
            if training is None or set(training) != set(TRAINING_KEYS):
                raise ValueError(
                    f"{self.name}: training needs exactly the keys {list(TRAINING_KEYS)}, got {sorted(training or {})}"
                )
            self.training = dict(training)
        else:
            if training is not None:
                raise ValueError(f"{self.name}: training parameters only go with model_config (a model to fit)")
            self._use(
                load_model(checkpoint, self.device) if checkpoint is not None else model, str(checkpoint or "model")
            )

    def _check_architecture(self, architecture: str, source: str) -> None:
        if architecture != self.architecture:
            raise ValueError(
                f"{source} holds a {architecture!r} model; the {self.name!r} normalizer needs {self.architecture!r}"
            )

    def _use(self, model: ReconstructionModel, source: str) -> None:
        if not isinstance(model, ReconstructionModel):
            raise ValueError(f"{source} is a {type(model).__name__}, not a ReconstructionModel")
        self._check_architecture(model.architecture, source)
        self.model = model.to(self.device).eval()

    def _trained(self) -> ReconstructionModel:
        if self.model is None:
            raise RuntimeError(f"the {self.name!r} normalizer has no trained model: call fit() or give a checkpoint")
        return self.model

    def fit(self, faces: Sequence[np.ndarray], landmarks: Sequence[np.ndarray]) -> "ReconstructionNormalizer":
        """Train ``model_config`` with the ``training`` parameters on normal aligned faces
        (no validation data here: all epochs run and the last one is kept; use
        :func:`~.training.train` for early stopping on a labelled dev set)."""
        if self.model_config is None:
            raise RuntimeError(f"{self.name}: fit() needs model_config and training parameters at construction")
        if len(validate_training_landmarks(landmarks)) != len(faces):
            raise ValueError(f"{len(faces)} faces but {len(landmarks)} landmark arrays")
        for face in faces:
            check_face_image(face)
        self.training_result = train(
            self.model_config, list(faces), None, None, device=str(self.device), **self.training
        )
        self._use(self.training_result.best_model(self.device), "trained model")
        return self

    def save(self, path: str) -> None:
        """Write the trained model as a checkpoint (see :mod:`.checkpoint`)."""
        save_model(self._trained(), path)

    def normalize(self, face: np.ndarray, landmarks: np.ndarray, mask: np.ndarray | None = None) -> NormalizedFace:
        """The reconstruction pasted into a copy of ``face`` (H×W×3 uint8). ``mask`` is
        checked but not used: these models cannot be told which pixels to distrust."""
        validate_face(face, landmarks, mask)
        return self.normalize_batch([face])[0]

    def normalize_batch(self, faces: Sequence[np.ndarray]) -> list[NormalizedFace]:
        """:meth:`normalize` for several aligned faces (H×W×3 uint8; no landmark checks),
        ``batch_size`` at a time."""
        model = self._trained()
        reconstructions = tensor_to_images(
            map_batches(model.reconstruct, model_inputs(model, faces), self.batch_size, self.device)
        )
        return [
            NormalizedFace(image=paste_reconstruction(face, image, model.crop, self.paste))
            for face, image in zip(faces, reconstructions)
        ]

    def anomaly_scores(self, faces: Sequence[np.ndarray]) -> np.ndarray:
        """(N,) float64 anomaly scores A(x) of aligned faces (H×W×3 uint8): ≥ 0, finite,
        larger = more anomalous; comparable only between faces scored by the same model."""
        model = self._trained()
        return (
            map_batches(model.anomaly_score, model_inputs(model, faces), self.batch_size, self.device).double().numpy()
        )

    def anomaly_score(self, face: np.ndarray) -> float:
        """A(x) of one aligned face (see :meth:`anomaly_scores`)."""
        return float(self.anomaly_scores([face])[0])


@register
class GanomalyNormalizer(ReconstructionNormalizer):
    """GANomaly reconstruction (Akcay et al. 2018; Wang et al. for facial palsy)."""

    name = "ganomaly"
    architecture = "ganomaly"


@register
class AutoencoderNormalizer(ReconstructionNormalizer):
    """Convolutional-autoencoder reconstruction (baseline)."""

    name = "autoencoder"
    architecture = "autoencoder"
