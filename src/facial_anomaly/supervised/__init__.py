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

# Public names are imported on first use (PEP 562): importing one light module of the
# package (a config) must not import torch through its neighbours (seconds of start-up).
from ..lazy import lazy_exports

_EXPORTS = {
    "AnomalyConfig": "fresh",
    "CaptureConfig": "capture",
    "CropConfig": "crops",
    "EpochReport": "training",
    "FAMILIES": "fresh",
    "Fusion": "fusion",
    "GENERIC_FAMILIES": "fresh",
    "LOCAL_KINDS": "anomalies",
    "ModelConfig": "base",
    "NUISANCES": "nuisance",
    "NetworkConfig": "networks",
    "NormalFace": "data",
    "Pair": "data",
    "PairSet": "data",
    "REALISTIC_FAMILIES": "fresh",
    "SEVERITY_LEVELS": "base",
    "Scorer": "base",
    "ScorerConfig": "scorer",
    "SupervisedConfig": "trainer",
    "SupervisedModel": "base",
    "SupervisedScorer": "scorer",
    "TrainedScorer": "trainer",
    "TrainingConfig": "trainer",
    "TrainingResult": "training",
    "VIEWS": "views",
    "ViewSpec": "views",
    "accuracy_by_subset": "paper_eval",
    "anomaly_kinds": "anomalies",
    "apply_nuisances": "nuisance",
    "architectures": "base",
    "auc_by_family": "training",
    "build_model": "base",
    "build_pair_set": "data",
    "compare_models": "paper_eval",
    "configure": "trainer",
    "fit_fusion": "fusion",
    "grad_cam": "cam",
    "load_model": "checkpoint",
    "load_scorer": "scorer",
    "lower_face_mask": "anomalies",
    "make_anomaly": "anomalies",
    "make_pair": "data",
    "mirror_face": "views",
    "model_to_bytes": "checkpoint",
    "normalized_config": "base",
    "pairs_to_set": "data",
    "parse_config": "base",
    "prepare_views": "views",
    "preset": "trainer",
    "save_model": "checkpoint",
    "save_scorer": "scorer",
    "scorer_to_bytes": "scorer",
    "split_faces": "data",
    "train": "training",
    "two_proportion_z_test": "paper_eval",
}
_lazy_getattr, __dir__ = lazy_exports(__name__, _EXPORTS)


def __getattr__(name: str) -> object:
    if name == "train_scorer":  # the scorer's trainer, beside the pair models' ``train``
        from .trainer import train

        return train
    return _lazy_getattr(name)


__all__ = [*sorted(_EXPORTS), "train_scorer"]
