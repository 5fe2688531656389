"""Supervised anomaly scoring. Kedro-free.

**The supervised scorer** (trained on fresh synthetic anomalies of normal faces; see
``docs/supervised.md``)::

    trained = train_scorer(faces, landmarks, splits, synth_params=..., config=preset("cpu"))
    scorer = load_scorer(trained.checkpoint)
    probabilities, severities = scorer.score_batch(faces, landmarks)

* :mod:`.crops` — the face canvas at 64 px per eye distance, the lower-face and full-face
  views, per-view standardisation;
* :mod:`.fresh` — fresh anomalies at working resolution (realistic families and generic
  warps, patches and lines), :mod:`.capture` — harmless capture changes;
* :mod:`.networks` — the small plain CNN, the ImageNet EfficientNet-Lite0 trunk; the face
  alone, stacked with its difference from its mirror partner, or Siamese; severity and
  per-cell heads;
* :mod:`.trainer` — :func:`train_scorer` (``trainer.train``) on the library's one
  training loop, :func:`preset`, :func:`configure`; :mod:`.scorer` —
  :class:`SupervisedScorer`, :func:`load_scorer`, checkpoints; :mod:`.cam` — Grad-CAM
  (:func:`grad_cam` takes the scorer too); :mod:`.assess` — the evaluation table
  (synthetic test AUC per family, severity ρ, nuisance FPR, real photos); :mod:`.fused` —
  the fused default score's dev rows and fit.

**The pair models** (MobileNetV2 branches on cached (original, normalized) pairs, the
previous design, still wired into the ``train_supervised`` pipeline):

Rosero et al. 2024 train a two-branch MobileNetV2 on (original, normalized) pairs of
control faces with and without synthetic lip deformations. Here:

* models behind one :class:`Scorer` interface, ``score(original, normalized, landmarks=None)
  -> (probability, severity)``: :mod:`.siamese` (shared-weight branches on both faces),
  :mod:`.single_branch` (the original only; the paper's baseline), :mod:`.self_comparison`
  (the face against its own mirror image), :mod:`.texture` (the lower face at ≥ 256 px,
  for lesions and scars); built from a config dict by :func:`build_model`;
* :mod:`.data` — training pairs from normal aligned faces: synthetic families and local
  anomalies (:mod:`.anomalies`), harmless changes on both classes (:mod:`.nuisance`), the
  normalized partner, person-disjoint splits, tensors cached at the model size;
* :mod:`.training` — :func:`train` (Adam, BCE + ordinal severity loss, early stopping on
  dev AUC, per-epoch callback); :mod:`.checkpoint` — safe state-dict checkpoints;
* :mod:`.cam` — Grad-CAM heatmaps; :mod:`.fusion` — combining with unsupervised scores;
  :mod:`.paper_eval` — accuracy over seeds and the two-proportion z-test.

Parameters: ``conf/base/parameters_train_supervised.yml``.
"""

from .anomalies import LOCAL_KINDS, anomaly_kinds, lower_face_mask, make_anomaly
from .base import (
    SEVERITY_LEVELS,
    ModelConfig,
    Scorer,
    SupervisedModel,
    architectures,
    build_model,
    normalized_config,
    parse_config,
)
from .cam import grad_cam
from .capture import CaptureConfig
from .checkpoint import load_model, model_to_bytes, save_model
from .crops import CropConfig
from .data import NormalFace, Pair, PairSet, build_pair_set, make_pair, pairs_to_set, split_faces
from .fresh import FAMILIES, GENERIC_FAMILIES, REALISTIC_FAMILIES, AnomalyConfig
from .fusion import Fusion, fit_fusion
from .networks import NetworkConfig
from .nuisance import NUISANCES, apply_nuisances
from .paper_eval import accuracy_by_subset, compare_models, two_proportion_z_test
from .scorer import ScorerConfig, SupervisedScorer, load_scorer, save_scorer, scorer_to_bytes
from .trainer import SupervisedConfig, TrainedScorer, TrainingConfig, configure, preset
from .trainer import train as train_scorer
from .training import EpochReport, TrainingResult, auc_by_family, train
from .views import VIEWS, ViewSpec, mirror_face, prepare_views

__all__ = [
    "AnomalyConfig",
    "CaptureConfig",
    "CropConfig",
    "FAMILIES",
    "GENERIC_FAMILIES",
    "NetworkConfig",
    "REALISTIC_FAMILIES",
    "ScorerConfig",
    "SupervisedConfig",
    "SupervisedScorer",
    "TrainedScorer",
    "TrainingConfig",
    "configure",
    "load_scorer",
    "preset",
    "save_scorer",
    "scorer_to_bytes",
    "train_scorer",
    "EpochReport",
    "Fusion",
    "LOCAL_KINDS",
    "ModelConfig",
    "NUISANCES",
    "NormalFace",
    "Pair",
    "PairSet",
    "SEVERITY_LEVELS",
    "Scorer",
    "SupervisedModel",
    "TrainingResult",
    "VIEWS",
    "ViewSpec",
    "accuracy_by_subset",
    "anomaly_kinds",
    "apply_nuisances",
    "architectures",
    "auc_by_family",
    "build_model",
    "build_pair_set",
    "compare_models",
    "fit_fusion",
    "grad_cam",
    "load_model",
    "lower_face_mask",
    "make_anomaly",
    "make_pair",
    "mirror_face",
    "model_to_bytes",
    "normalized_config",
    "pairs_to_set",
    "parse_config",
    "prepare_views",
    "save_model",
    "split_faces",
    "train",
    "two_proportion_z_test",
]
