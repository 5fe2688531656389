"""Normalizers: an aligned face → the same face with the anomaly removed.

CPU normalizers that need no downloaded weights: ``symmetry``, ``mirror``,
``shape_model``, ``appearance_model`` and ``inpaint``. Create one by name with :func:`create` and the
parameters of ``conf/base/parameters_normalize.yml``; model-based ones take a fitted
model (``ShapeModel.load(path)``, ``AppearanceModel.load(path)``).
"""

from .appearance_model import AppearanceModel, AppearanceModelNormalizer, FaceFrame, TextureFit
from .base import NormalizedFace, Normalizer, available, create, load_state, register, save_state, validate_face
from .factory import build_normalizer
from .geometry import AnchoredWarp, Midline, fit_midline, landmark_asymmetry, symmetric_landmarks
from .inpaint import InpaintNormalizer
from .mirror import MirrorConfig, MirrorNormalizer
from .shape_model import ShapeFit, ShapeModel, ShapeModelNormalizer
from .symmetry import SymmetryNormalizer

__all__ = [
    "AnchoredWarp",
    "AppearanceModel",
    "AppearanceModelNormalizer",
    "FaceFrame",
    "InpaintNormalizer",
    "Midline",
    "MirrorConfig",
    "MirrorNormalizer",
    "NormalizedFace",
    "Normalizer",
    "ShapeFit",
    "ShapeModel",
    "ShapeModelNormalizer",
    "SymmetryNormalizer",
    "TextureFit",
    "available",
    "build_normalizer",
    "create",
    "fit_midline",
    "landmark_asymmetry",
    "load_state",
    "register",
    "save_state",
    "symmetric_landmarks",
    "validate_face",
]
