"""The normalizer interface, its result type, a registry and input checks.

A normalizer turns an aligned face into a "normalized" face — the same person with
the anomaly removed (Hayajneh et al. 2022, 2025) — which later stages compare with the
original. Models that learn from normal faces (``fit``) save their state as plain numpy
arrays plus JSON metadata in an ``.npz`` file (no pickle).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeVar

import numpy as np

from ..faces.landmarks import NUM_LANDMARKS, validate_landmarks


@dataclass
class NormalizedFace:
    """A normalizer's output.

    ``image``: H×W×3 uint8 RGB, same size as the input. ``confidence``: optional H×W
    float32 in [0, 1], how much the normalizer trusts each output pixel (1 = observed or
    well explained, 0 = invented). ``landmarks``: optional (478, 3) landmarks of the
    normalized face when the normalizer moved them (shape normalizers).
    """

    image: np.ndarray
    confidence: np.ndarray | None = None
    landmarks: np.ndarray | None = None


class Normalizer(ABC):
    """Interface of every normalizer (docs/normalizers.md)."""

    name: ClassVar[str]

    def fit(self, faces: Sequence[np.ndarray], landmarks: Sequence[np.ndarray]) -> "Normalizer":
        """Learn from normal faces (aligned RGB crops and their landmarks). Normalizers
        without a model need no fitting and return themselves."""
        return self

    @abstractmethod
    def normalize(self, face: np.ndarray, landmarks: np.ndarray, mask: np.ndarray | None = None) -> NormalizedFace:
        """The normalized version of ``face``.

        Args:
            face: aligned H×W×3 uint8 RGB crop.
            landmarks: its (478, 2|3) landmarks in crop pixels.
            mask: optional H×W map of pixels known or suspected to be anomalous (> 0.5);
                normalizers that fit a model to the pixels do not trust them.
        """


_REGISTRY: dict[str, Callable[..., Normalizer]] = {}
N = TypeVar("N", bound=type)


def register(cls: N) -> N:
    """Class decorator: make a normalizer available to :func:`create` under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"a normalizer named {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


# The built-in normalizers and the module (in this package) that registers each one. A
# module is imported only when its normalizer is created: building ``symmetry`` must not
# import torch, which the reconstruction normalizers need (seconds of start-up per worker).
BUILTIN_MODULES = {
    "appearance_model": "appearance_model",
    "autoencoder": "reconstruction.normalizer",
    "ganomaly": "reconstruction.normalizer",
    "inpaint": "inpaint",
    "mirror": "mirror",
    "shape_model": "shape_model",
    "symmetry": "symmetry",
}


def available() -> tuple[str, ...]:
    """Names of the registered normalizers (the built-in ones whether imported yet or not)."""
    return tuple(sorted(set(_REGISTRY) | set(BUILTIN_MODULES)))


def create(name: str, **params) -> Normalizer:
    """A new normalizer by name, constructed with ``params`` (see ``parameters_normalize.yml``).

    Raises:
        KeyError: naming the unknown normalizer and the available ones.
    """
    if name not in _REGISTRY and name in BUILTIN_MODULES:
        import importlib

        importlib.import_module(f"{__package__}.{BUILTIN_MODULES[name]}")  # registers it
    if name not in _REGISTRY:
        raise KeyError(f"unknown normalizer {name!r}; available: {list(available())}")
    return _REGISTRY[name](**params)


def validate_face(face: np.ndarray, landmarks: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Check a normalizer's inputs; return the landmarks as a float64 (478, 2|3) array.

    Raises:
        ValueError: naming what is wrong (image shape or dtype, landmark shape, NaN, mask shape).
    """
    face = np.asarray(face)
    if face.ndim != 3 or face.shape[2] != 3 or face.dtype != np.uint8:
        raise ValueError(f"face must be an H×W×3 uint8 RGB image, got shape {face.shape} dtype {face.dtype}")
    landmarks = validate_landmarks(landmarks)
    if landmarks.shape[0] != NUM_LANDMARKS:
        raise ValueError(f"landmarks must have {NUM_LANDMARKS} rows, got {landmarks.shape[0]}")
    if mask is not None and np.shape(mask)[:2] != face.shape[:2]:
        raise ValueError(f"mask shape {np.shape(mask)} does not match the face {face.shape[:2]}")
    return landmarks


def validate_training_landmarks(landmarks: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Check the landmark arrays a model is fitted on; return them as float64 arrays.

    Raises:
        ValueError: no faces, or a bad landmark array (shape, NaN).
    """
    checked = [validate_landmarks(points) for points in landmarks]
    if not checked:
        raise ValueError("cannot fit a model on zero faces")
    return checked


def validate_training_set(faces: Sequence[np.ndarray] | None, landmarks: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Check the inputs of ``fit`` (in memory; faces may be None for shape-only models);
    return the landmarks as float64 arrays.

    Raises:
        ValueError: no faces, counts that differ, a bad image or landmark array.
    """
    checked = validate_training_landmarks(landmarks)
    if faces is not None:
        if len(faces) != len(checked):
            raise ValueError(f"{len(faces)} faces but {len(checked)} landmark arrays")
        for face, points in zip(faces, checked):
            validate_face(face, points)
    return checked


# --- model state as plain arrays + JSON metadata ------------------------------------

_METADATA_KEY = "__metadata_json__"


def save_state(path: str | Path, arrays: dict[str, np.ndarray], metadata: dict) -> None:
    """Write numpy arrays and JSON-able metadata to an ``.npz`` file (no pickled objects)."""
    if _METADATA_KEY in arrays:
        raise ValueError(f"array name {_METADATA_KEY!r} is reserved")
    payload = {key: np.asarray(value) for key, value in arrays.items()}
    for key, value in payload.items():
        if value.dtype == object:
            raise ValueError(f"array {key!r} has dtype object, which cannot be saved without pickle")
    payload[_METADATA_KEY] = np.array(json.dumps(metadata, sort_keys=True))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        np.savez(handle, **payload)


def load_state(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Inverse of :func:`save_state`."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files if key != _METADATA_KEY}
        metadata = json.loads(str(archive[_METADATA_KEY]))
    return arrays, metadata


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Round and clip a float image in [0, 255] to uint8."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
