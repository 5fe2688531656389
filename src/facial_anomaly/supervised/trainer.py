"""Training of the supervised scorer on fresh synthetic anomalies (:mod:`.fresh`), on the
library's one training loop (:func:`facial_anomaly.training.fit`).

Every step draws ``faces_per_batch`` training faces and makes each of them twice — clean
and with an anomaly — so every batch is balanced and the network compares like with like;
every sample gets its own capture changes. Loss: binary cross-entropy of the anomaly logit
(with ``anomaly_target: graded`` also ``grade_weight`` × the cumulative-link BCE of that same
logit against (severity ≥ k), k = 2..4, with learned increasing cut-points: the one score
is then trained to order anomalies by grade as well as to detect them; clean samples are
grade 0, so P(severity ≥ 1) = sigmoid(logit) stays the probability); plus
``severity_weight`` × the ordinal BCE of the severity logits against (severity ≥ k) and
``dense_weight`` × the per-cell BCE, when the network has those heads. The per-cell target (``dense_target``) is "≥ ``dense_threshold`` of the cell's pixels changed"
(``binary``) or the share of the cell's pixels changed ÷ ``dense_saturation``, at most 1
(``share``: a soft target, so the sum of the cells' outputs estimates how much of the face
changed). AdamW (``lr``, ``weight_decay``), a linear
warm-up over ``warmup_steps`` then a cosine decay to ``final_lr_factor`` × ``lr`` at
``steps``. Every ``eval_every`` steps the network scores a fixed, person-disjoint dev set
(made once from the dev faces with ``data_seed``: ``dev_clean_per_face`` clean samples and
``dev_anomalous_per_face`` anomalous ones per face, the families and severities taken in
turn); the best state is the one with the highest dev AUC averaged over the last
``smoothing`` evaluations. There is no early stopping: networks on these anomalies sit at
chance for hundreds of steps before they learn.

Determinism: step ``k`` of round ``r`` draws everything from
``numpy.random.default_rng([round_seed(r), k])``, where the round seed comes from the
loop's per-round generator (:mod:`facial_anomaly.training.loop`), so batches do not depend
on ``workers`` (processes that make the batches ahead of the network); on the CPU the same
seed, faces and thread count give bit-identical weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from pydantic import Field, ValidationError
from scipy.stats import spearmanr
from sklearn.metrics import log_loss, roc_auc_score
from torch import nn

from ..config import Config, describe_validation_error
from ..parallel.ordered import OrderedWorkers, worker_job
from ..training import MetricHistory, RoundReport, Selection, TrainingResult, fit, warmup_cosine
from .capture import CaptureConfig
from .crops import CropConfig
from .fresh import AnomalyConfig, PreparedFace, Sample, make_sample, prepare_faces, sample_views
from .networks import SEVERITY_LEVELS, NetworkConfig
from .scorer import ScorerConfig, SupervisedScorer, build_network, scorer_to_bytes, scorer_with_state

SPLITS = ("train", "dev", "test")


class TrainingConfig(Config):
    """How the scorer is trained (see the module docstring)."""

    steps: int = Field(1800, ge=1, description="optimisation steps")
    faces_per_batch: int = Field(16, ge=1, description="faces per step; each is used clean and anomalous")
    lr: float = Field(2e-3, gt=0, description="AdamW peak learning rate")
    weight_decay: float = Field(1e-4, ge=0, description="AdamW weight decay")
    warmup_steps: int = Field(100, ge=0, description="linear warm-up, steps")
    final_lr_factor: float = Field(0.02, ge=0, le=1, description="learning rate at the last step, × lr")
    eval_every: int = Field(50, ge=1, description="steps between dev evaluations")
    smoothing: int = Field(5, ge=1, description="dev AUC averaged over this many evaluations to pick the best")
    severity_weight: float = Field(0.5, ge=0, description="weight of the ordinal severity loss (severity head only)")
    anomaly_target: Literal["binary", "graded"] = Field(
        "binary",
        description="the anomaly logit's target: anomalous or not (binary), or also the grade through "
        "cumulative-link cut-points (graded)",
    )
    grade_weight: float = Field(0.5, ge=0, description="anomaly_target graded: weight of the grade loss")
    dense_weight: float = Field(1.0, ge=0, description="weight of the per-cell loss (dense head only)")
    dense_threshold: float = Field(0.02, gt=0, lt=1, description="a cell is 'changed' from this share of its pixels")
    dense_target: Literal["binary", "share"] = Field(
        "binary", description="per-cell target: binary (≥ dense_threshold changed) or the changed share (soft)"
    )
    dense_saturation: float = Field(
        0.1, gt=0, le=1, description="dense_target share: the share of changed pixels that counts as fully changed"
    )
    dev_clean_per_face: int = Field(2, ge=1, description="clean dev samples per dev face")
    dev_anomalous_per_face: int = Field(2, ge=1, description="anomalous dev samples per dev face")
    seed: int = Field(0, description="seeds the network and every training batch")
    data_seed: int = Field(1, description="seeds the fixed dev set")
    device: str = Field("auto", description="auto (cuda when present) | cpu | cuda | cuda:N")
    workers: int = Field(0, ge=0, description="processes making batches ahead of the network (0: in this process)")
    eval_batch_size: int = Field(64, ge=1, description="samples per forward pass when evaluating")
    precision: Literal["float32", "bfloat16", "auto"] = Field(
        "float32",
        description="arithmetic of the training steps' forward pass: float32, bfloat16 autocast (weights, "
        "optimiser and dev evaluation stay float32) or auto (bfloat16 where the device computes it natively)",
    )
    memory_format: Literal["channels_last", "contiguous"] = Field(
        "channels_last",
        description="the network's layout while training: channels_last (the layout oneDNN and cuDNN convolve "
        "fastest) or contiguous (the layout of trainings before 2026-12; the same arithmetic, another rounding)",
    )


class SupervisedConfig(Config):
    """All settings of the supervised scorer: what a checkpoint keeps (``scorer``) and how it
    is trained (``anomalies``, ``capture``, ``training``). Presets: :func:`preset`."""

    scorer: ScorerConfig = ScorerConfig()
    anomalies: AnomalyConfig = AnomalyConfig()
    capture: CaptureConfig = CaptureConfig()
    training: TrainingConfig = TrainingConfig()


def preset(name: str) -> SupervisedConfig:
    """A named preset: ``cpu`` (the default: a 6-layer plain CNN on both views, stacked with
    the face's difference from its mirror partner, 1800 steps, two batch workers), ``gpu``
    (EfficientNet-Lite0 cut after 8 blocks, fine-tuned, 6000 steps of 32 faces) or
    ``smoke_test`` (a tiny single-branch network at 16 px per IOD, a few steps: seconds; its
    scores mean nothing)."""
    if name == "cpu":
        # Two processes make the batches while the network trains (the weights do not depend
        # on it): 1500 steps took 988 s through Kedro instead of 1132 s on two cores, which
        # leaves room for the 1800 steps (docs/supervised.md, "More steps").
        return SupervisedConfig(training=TrainingConfig(workers=2))
    if name == "gpu":
        return SupervisedConfig(
            scorer=ScorerConfig(network=NetworkConfig(backbone="efficientnet_lite0", efficientnet_blocks=8)),
            training=TrainingConfig(steps=6000, faces_per_batch=32, lr=1e-3, warmup_steps=300, workers=4),
        )
    if name == "smoke_test":
        return SupervisedConfig(
            scorer=ScorerConfig(
                crops=CropConfig(pixels_per_iod=16.0, full_face_size=32),
                network=NetworkConfig(channels=(8, 8, 16, 16), strides=(2, 2, 1, 2), comparison="single"),
            ),
            training=TrainingConfig(
                steps=4, faces_per_batch=2, warmup_steps=1, eval_every=2, smoothing=1, eval_batch_size=16
            ),
        )
    raise ValueError(f"unknown preset {name!r}; available: ['cpu', 'gpu', 'smoke_test']")


def _merged(base: dict, overrides: Mapping, where: str) -> dict:
    out = dict(base)
    for key, value in overrides.items():
        if key not in out:
            raise ValueError(f"{where}{key}: unknown setting; known: {sorted(out)}")
        if isinstance(out[key], dict) and isinstance(value, Mapping) and key != "families":
            out[key] = _merged(out[key], value, f"{where}{key}.")
        else:
            out[key] = value
    return out


def configure(parameters: Mapping | None = None, *, preset_name: str = "cpu") -> SupervisedConfig:
    """The settings of a run: the preset ``preset_name`` with ``parameters`` (a nested
    mapping of just the values to change, e.g. the YAML block ``{"training": {"steps":
    3000}, "scorer": {"network": {"comparison": "stacked"}}}``) laid over it.
    ``anomalies.families`` is replaced as a whole (so a family can be left out).

    Raises:
        ValueError: an unknown key (named with its path) or an invalid value.
    """
    base = preset(preset_name).model_dump(mode="python")
    try:
        return SupervisedConfig.model_validate(_merged(base, dict(parameters or {}), ""))
    except ValidationError as error:
        raise ValueError(describe_validation_error(error)) from None


# ---------------------------------------------------------------------------- fixed sets


@dataclass
class SampleSet:
    """Samples as model inputs: ``faces`` (and ``partners``) ``uint8`` (N, V, 3, S, S),
    ``masks`` float32 (N, V, S, S) and ``table`` (one row per sample: ``face``, ``label``,
    ``severity``, ``family``, ``families``, ``capture``)."""

    faces: torch.Tensor
    partners: torch.Tensor | None
    masks: torch.Tensor
    table: pd.DataFrame

    def __len__(self) -> int:
        return len(self.table)

    @property
    def labels(self) -> np.ndarray:
        return self.table["label"].to_numpy(dtype=np.int64)


def samples_to_set(samples: Sequence[Sample], names: Sequence[str], scorer: ScorerConfig) -> SampleSet:
    """Samples (and the names of their faces) → a :class:`SampleSet` of ``scorer``'s views."""
    faces, partners, masks = sample_views(samples, scorer.network.views, scorer.crops)
    table = pd.DataFrame(
        {
            "face": list(names),
            "label": [s.label for s in samples],
            "severity": [s.severity for s in samples],
            "family": [s.family for s in samples],
            "families": ["+".join(s.families) for s in samples],
            "capture": ["+".join(s.capture) for s in samples],
        }
    )
    return SampleSet(
        torch.from_numpy(faces),
        None if partners is None else torch.from_numpy(partners),
        torch.from_numpy(masks),
        table,
    )


def fixed_samples(
    faces: Sequence[PreparedFace],
    *,
    seed: int,
    clean_per_face: int,
    anomalous_per_face: int,
    synth_params: Mapping,
    anomalies: AnomalyConfig,
    capture: CaptureConfig,
    partner: str | None,
    partner_from: str = "input",
    families: Sequence[str] | None = None,
    first_face: int = 0,
) -> tuple[list[Sample], list[str]]:
    """A fixed set: per face ``clean_per_face`` clean samples and ``anomalous_per_face``
    anomalous ones, the families (default: the active ones this face supports) and the
    severities (``anomalies.severities``) taken in turn over the whole set; Siamese partners
    (``partner``) made from the sample itself, as at scoring time (``partner_from``). Sample
    ``v`` of face ``i`` draws from ``default_rng([seed, i, v])``. The faces are numbered from
    ``first_face``: the set of faces[a:b] with ``first_face=a`` is that part of the whole
    set's, so parts can be made in separate processes."""
    active = list(families) if families is not None else list(anomalies.active_families())
    samples, names, turn = [], [], int(first_face) * anomalous_per_face
    for i, face in enumerate(faces, start=int(first_face)):
        usable = [f for f in active if f not in ("lip", "palsy") or f in face.fields]
        for v in range(clean_per_face + anomalous_per_face):
            rng = np.random.default_rng([int(seed), i, v])
            anomalous = v >= clean_per_face
            family = severity = None
            if anomalous:
                family = usable[turn % len(usable)]
                severity = anomalies.severities[(turn // len(usable)) % len(anomalies.severities)]
                turn += 1
            samples.append(
                make_sample(
                    face,
                    rng,
                    anomalous=anomalous,
                    synth_params=synth_params,
                    anomalies=anomalies,
                    capture=capture,
                    partner=partner,
                    partner_from=partner_from,
                    family=family,
                    severity=severity,
                )
            )
            names.append(face.name)
    return samples, names


# ---------------------------------------------------------------------------- metrics


def auc_by_family(scores: np.ndarray, table: pd.DataFrame) -> dict[str, float]:
    """ROC AUC of each anomaly family's samples against all clean ones (families without
    samples, or no clean sample: left out)."""
    labels, families = table["label"].to_numpy(), table["family"].to_numpy(dtype=object)
    normal = labels == 0
    out = {}
    if not normal.any():
        return out
    for family in sorted(set(families[labels == 1].tolist())):
        chosen = normal | ((labels == 1) & (families == family))
        out[family] = float(roc_auc_score(labels[chosen], scores[chosen]))
    return out


def dense_targets(share: torch.Tensor, training: TrainingConfig) -> torch.Tensor:
    """Per-cell targets in [0, 1] from the share of each cell's pixels changed (same shape)."""
    if training.dense_target == "binary":
        return (share >= training.dense_threshold).float()
    return (share / training.dense_saturation).clamp(0.0, 1.0)


def severity_spearman(severity_output: np.ndarray, table: pd.DataFrame) -> float:
    """Spearman ρ of a severity output against the true grade over the anomalous samples (NaN when undefined)."""
    anomalous = table["label"].to_numpy() == 1
    truth = table["severity"].to_numpy(dtype=np.float64)[anomalous]
    estimate = np.asarray(severity_output, dtype=np.float64)[anomalous]
    if anomalous.sum() < 3 or np.ptp(truth) == 0 or np.ptp(estimate) == 0 or not np.isfinite(estimate).all():
        return float("nan")
    return float(spearmanr(estimate, truth).statistic)


def detection_metrics(probabilities: np.ndarray, severities: np.ndarray, table: pd.DataFrame, prefix: str) -> dict:
    """``<prefix>auc``, ``<prefix>bce``, ``<prefix>auc.<family>``, ``<prefix>severity_rho``
    over all anomalous samples and ``<prefix>severity_rho.<family>`` within each family (of
    the severity head when there is one, else of the probability)."""
    labels = table["label"].to_numpy()
    metrics = {
        f"{prefix}auc": float(roc_auc_score(labels, probabilities)),
        f"{prefix}bce": float(log_loss(labels, np.clip(probabilities, 1e-7, 1 - 1e-7), labels=[0, 1])),
    }
    metrics.update({f"{prefix}auc.{family}": value for family, value in auc_by_family(probabilities, table).items()})
    ranked = severities if np.isfinite(severities).all() else probabilities
    metrics[f"{prefix}severity_rho"] = severity_spearman(ranked, table)
    families = table["family"].to_numpy(dtype=object)
    for family in sorted(set(families[labels == 1].tolist())):
        chosen = families == family
        metrics[f"{prefix}severity_rho.{family}"] = severity_spearman(ranked[chosen], table[chosen])
    return metrics


# ---------------------------------------------------------------------------- the task


def _worker_batch(key: tuple[int, int]) -> dict:
    return make_batch(key, **worker_job())


def make_batch(
    key: tuple[int, int],
    *,
    faces: Sequence[PreparedFace],
    faces_per_batch: int,
    synth_params: Mapping,
    anomalies: AnomalyConfig,
    capture: CaptureConfig,
    scorer: ScorerConfig,
) -> dict:
    """The training batch of ``key`` = (round seed, step in round): numpy arrays ``faces``,
    ``partners`` (or None), ``masks``, ``labels``, ``severities`` (clean, anomalous, clean, ...)."""
    rng = np.random.default_rng(list(key))
    chosen = rng.choice(len(faces), size=min(faces_per_batch, len(faces)), replace=False)
    partner = scorer.partner_kind
    samples = []
    for index in chosen:
        for anomalous in (False, True):
            samples.append(
                make_sample(
                    faces[int(index)],
                    rng,
                    anomalous=anomalous,
                    synth_params=synth_params,
                    anomalies=anomalies,
                    capture=capture,
                    partner=partner,
                )
            )
    views, partners, masks = sample_views(samples, scorer.network.views, scorer.crops)
    return {
        "faces": views,
        "partners": partners,
        "masks": masks,
        "labels": np.array([s.label for s in samples], dtype=np.float32),
        "severities": np.array([s.severity for s in samples], dtype=np.int64),
    }


def graded_bce(logits: torch.Tensor, severities: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """The grade loss of ``anomaly_target: graded``: mean BCE of P(grade ≥ k) =
    sigmoid(logit − cut_k) against (severity ≥ k) for k = 2..4, with the cut-points
    ``cut = cumsum(softplus(steps))`` (increasing and > 0, so P(grade ≥ 1) = sigmoid(logit)
    stays the largest).

    Args:
        logits: (N,) anomaly logits; severities: (N,) integer grades, 0 for clean samples;
            steps: (3,) unconstrained cut-point steps.
    """
    cuts = torch.cumsum(F.softplus(steps), dim=0)
    grades = torch.arange(2, SEVERITY_LEVELS + 1, device=logits.device)
    targets = (severities[:, None] >= grades[None]).to(logits.dtype)
    return F.binary_cross_entropy_with_logits(logits[:, None] - cuts[None], targets)


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively: a CUDA GPU that supports it, or a CPU
    with AVX512-BF16 or AMX (elsewhere bfloat16 is emulated and slower than float32)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)
    return False


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of the training steps for ``TrainingConfig.precision`` on
    ``device`` (None: float32)."""
    if precision == "bfloat16" or (precision == "auto" and native_bfloat16(device)):
        return torch.bfloat16
    if precision in ("float32", "auto"):
        return None
    raise ValueError(f"training.precision must be 'float32', 'bfloat16' or 'auto', got {precision!r}")


class ScorerTask:
    """The scorer's part of the training loop (:class:`facial_anomaly.training.TrainingTask`).

    The network is kept channels-last (``training.memory_format``), the layout oneDNN and
    cuDNN convolve fastest: on an AVX2 CPU the preset trained in 1065 s instead of 1377 s
    (docs/supervised.md, "Another machine"); ``contiguous`` reproduces earlier trainings,
    which differ only by rounding. With ``training.precision`` bfloat16 the forward pass
    runs under autocast: a network step takes about half its float32 time on a CPU with
    AVX512-BF16 ("Faster steps"); the losses, the weights and AdamW stay float32."""

    def __init__(self, config: SupervisedConfig, faces, dev: SampleSet | None, synth_params, device, pool=None):
        self.config, self.dev, self.device, self.pool = config, dev, device, pool
        self.autocast = autocast_dtype(config.training.precision, torch.device(device))
        self.model = build_network(config.scorer, pretrained=True).to(device)
        if config.training.memory_format == "channels_last":
            self.model = self.model.to(memory_format=torch.channels_last)
        training = config.training
        groups = [{"params": list(self.model.parameters())}]
        # The cut-points of the graded target live in training only: a scoring run needs just
        # sigmoid(logit). Softplus steps keep them increasing; they start one logit apart.
        self.grade_steps = None
        if training.anomaly_target == "graded":
            one = math.log(math.expm1(1.0))  # softplus(one) = 1
            self.grade_steps = nn.Parameter(torch.full((SEVERITY_LEVELS - 1,), one, device=device))
            groups.append({"params": [self.grade_steps], "weight_decay": 0.0})
        self.optimizers = {"model": torch.optim.AdamW(groups, lr=training.lr, weight_decay=training.weight_decay)}
        self.job = {
            "faces": faces,
            "faces_per_batch": training.faces_per_batch,
            "synth_params": synth_params,
            "anomalies": config.anomalies,
            "capture": config.capture,
            "scorer": config.scorer,
        }
        self.generation_seconds = 0.0

    def steps_in_round(self, round_index: int) -> int:
        training = self.config.training
        return max(0, min(training.eval_every, training.steps - round_index * training.eval_every))

    def batches(self, round_index: int, generator: torch.Generator) -> Iterator[dict]:
        round_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        keys = [(round_seed, k) for k in range(self.steps_in_round(round_index))]
        made = (
            self.pool.imap(_worker_batch, keys) if self.pool is not None else (make_batch(k, **self.job) for k in keys)
        )
        while True:
            started = time.perf_counter()
            arrays = next(made, None)
            self.generation_seconds += time.perf_counter() - started
            if arrays is None:
                return
            yield {
                name: None if value is None else torch.from_numpy(value).to(self.device)
                for name, value in arrays.items()
            }

    def train_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        training = self.config.training
        scope = torch.autocast(self.device.type, dtype=self.autocast) if self.autocast else contextlib.nullcontext()
        with scope:
            out = self.model(batch["faces"], batch["partners"])
        out = {name: None if value is None else value.float() for name, value in out.items()}
        labels = batch["labels"]
        losses = {"anomaly_bce": F.binary_cross_entropy_with_logits(out["logit"], labels)}
        total = losses["anomaly_bce"]
        if self.grade_steps is not None:
            losses["grade_bce"] = graded_bce(out["logit"], batch["severities"], self.grade_steps)
            total = total + training.grade_weight * losses["grade_bce"]
        if out["severity_logits"] is not None:
            grades = torch.arange(1, SEVERITY_LEVELS + 1, device=labels.device)
            targets = (batch["severities"][:, None] >= grades[None]).float()
            losses["severity_bce"] = F.binary_cross_entropy_with_logits(out["severity_logits"], targets)
            total = total + training.severity_weight * losses["severity_bce"]
        if out["cells"] is not None:
            stride = self.config.scorer.network.stride
            n, v, size, _ = batch["masks"].shape
            share = F.avg_pool2d(batch["masks"].reshape(n * v, 1, size, size), stride).reshape(out["cells"].shape)
            losses["cell_bce"] = F.binary_cross_entropy_with_logits(out["cells"], dense_targets(share, training))
            total = total + training.dense_weight * losses["cell_bce"]
        optimizer = self.optimizers["model"]
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        return {"loss": total.detach(), **{name: value.detach() for name, value in losses.items()}}

    def evaluate(self) -> dict:
        if self.dev is None:
            return {"dev_auc": None}
        scorer = SupervisedScorer(self.config.scorer, self.model)
        probabilities, severities = scorer.score_inputs(
            self.dev.faces, self.dev.partners, batch_size=self.config.training.eval_batch_size
        )
        self.model.eval()
        return detection_metrics(probabilities, severities, self.dev.table, "dev_")


# ---------------------------------------------------------------------------- train()


@dataclass
class TrainedScorer:
    """What :func:`train` returns: the ``scorer`` (best state, eval mode), its
    ``checkpoint`` bytes, the ``history`` table (one row per evaluation: ``step``,
    ``epoch`` (= evaluation number), ``train_loss``, ``train_anomaly_bce``, ...,
    ``dev_auc``, ``dev_auc.<family>``, ``dev_bce``, ``dev_severity_rho``, ``selection``
    (smoothed dev AUC), ``round_seconds``), the loop's ``result``, ``seconds`` (wall
    time of preparing the faces, of the dev set, of training, of which making batches) and
    the ``precision`` the steps ran in (``float32`` or ``bfloat16``, ``auto`` resolved)."""

    scorer: SupervisedScorer
    checkpoint: bytes
    history: pd.DataFrame
    result: TrainingResult
    seconds: dict[str, float]
    precision: str = "float32"


def _check_splits(splits: Sequence[str], persons: Sequence[str] | None) -> None:
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise ValueError(f"split values must be {list(SPLITS)}, got {unknown}")
    if persons is None:
        return
    seen: dict[str, str] = {}
    for person, split in zip(persons, splits):
        if seen.setdefault(str(person), split) != split:
            raise ValueError(f"person {person!r} is in the {seen[str(person)]} and the {split} split; split by person")


def training_fingerprint(names: Sequence[str], faces: Sequence[np.ndarray]) -> str:
    """SHA-1 (12 hex) of the training faces (names and pixels, in order): the checkpoint's provenance."""
    digest = hashlib.sha1()
    for name, face in zip(names, faces):
        digest.update(str(name).encode())
        digest.update(np.ascontiguousarray(face).tobytes())
    return digest.hexdigest()[:12]


def train(
    faces: Sequence[np.ndarray],
    landmarks: Sequence[np.ndarray],
    splits: Sequence[str],
    *,
    synth_params: Mapping,
    config: SupervisedConfig | None = None,
    persons: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    prepare_workers: int = 1,
    prepared: Mapping[str, Sequence[PreparedFace]] | None = None,
    on_round_end: Callable[[RoundReport], None] | None = None,
    log_metrics: Callable[..., None] | None = None,
) -> TrainedScorer:
    """Train the supervised scorer on normal faces.

    Args:
        faces: aligned normal faces (H×W×3 uint8 RGB); landmarks: their (478, 3) landmarks.
        splits: per face ``train``, ``dev`` or ``test`` (test faces are not used here).
        synth_params: the ``synthesize`` parameter block (``lip_lt_v1``, ``palsy``, ``acne``).
        config: settings (default: the ``cpu`` preset).
        persons: per face its person; when given, a person in two splits is an error.
        names: per face a name (image id) for the history and the provenance.
        prepare_workers: processes preparing the faces (the result does not depend on it).
        prepared: the ``train`` and ``dev`` faces already prepared (:func:`~.fresh.prepare_faces`
            with this config's crops), in split order, to skip preparing them again when
            several scorers are trained on the same faces.
        on_round_end: called after every evaluation with the loop's
            :class:`~facial_anomaly.training.RoundReport`.
        log_metrics: ``log(metrics, step=...)`` after every evaluation (e.g. ``mlflow.log_metrics``).

    Raises:
        ValueError: mismatched lengths, unknown split names, a person in two splits, or no
            training face.
    """
    config = config or SupervisedConfig()
    if not len(faces) == len(landmarks) == len(splits):
        raise ValueError(f"need one landmark array and split per face: {len(faces)}, {len(landmarks)}, {len(splits)}")
    _check_splits(splits, persons)
    names = [str(n) for n in names] if names is not None else [str(i) for i in range(len(faces))]
    chosen = {split: [i for i, s in enumerate(splits) if s == split] for split in ("train", "dev")}
    if not chosen["train"]:
        raise ValueError("no training faces (split 'train')")
    training = config.training
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    prepared = (
        dict(prepared)
        if prepared is not None
        else {
            split: prepare_faces(
                [faces[i] for i in index],
                [landmarks[i] for i in index],
                synth_params=synth_params,
                crops=config.scorer.crops,
                anomalies=config.anomalies,
                names=[names[i] for i in index],
                workers=prepare_workers,
            )
            for split, index in chosen.items()
        }
    )
    for split, index in chosen.items():
        if len(prepared.get(split, ())) != len(index):
            raise ValueError(
                f"prepared[{split!r}] has {len(prepared.get(split, ()))} faces, the split has {len(index)}"
            )
    seconds["prepare"] = time.perf_counter() - started
    started = time.perf_counter()
    dev = None
    if prepared["dev"]:
        samples, sample_names = fixed_samples(
            prepared["dev"],
            seed=training.data_seed,
            clean_per_face=training.dev_clean_per_face,
            anomalous_per_face=training.dev_anomalous_per_face,
            synth_params=synth_params,
            anomalies=config.anomalies,
            capture=config.capture,
            partner=config.scorer.partner_kind,
        )
        dev = samples_to_set(samples, sample_names, config.scorer)
    seconds["dev_set"] = time.perf_counter() - started
    history = MetricHistory(log=log_metrics, then=[on_round_end] if on_round_end is not None else [])
    rounds = math.ceil(training.steps / training.eval_every)
    holder: dict = {}

    def make_task(device):
        holder["task"] = ScorerTask(config, prepared["train"], dev, synth_params, device, holder.get("pool"))
        return holder["task"]

    started = time.perf_counter()
    pool = None
    if training.workers > 0:
        job = {
            "faces": prepared["train"],
            "faces_per_batch": training.faces_per_batch,
            "synth_params": dict(synth_params),
            "anomalies": config.anomalies,
            "capture": config.capture,
            "scorer": config.scorer,
        }
        pool = OrderedWorkers(training.workers, job=job, task="making training batches")
        holder["pool"] = pool
    try:
        result = fit(
            make_task,
            model_config=config.scorer.model_dump(mode="json"),
            rounds=rounds,
            seed=training.seed,
            device=training.device,
            selection=Selection(metric="dev_auc" if dev is not None else None, smoothing=training.smoothing),
            progress_key="step",
            schedule=warmup_cosine(
                training.steps, min(training.warmup_steps, training.steps - 1), training.final_lr_factor
            ),
            on_round_end=history,
            model_factory=lambda cfg, state, source, device: scorer_with_state(cfg, state, source, device),
            training_data=training_fingerprint(
                [names[i] for i in chosen["train"]], [faces[i] for i in chosen["train"]]
            ),
        )
    finally:
        if pool is not None:
            pool.close()
    seconds["train"] = time.perf_counter() - started
    seconds["batches"] = holder["task"].generation_seconds
    scorer = result.best_model(device=holder["task"].device)
    scorer.training_data = result.state.training_data
    return TrainedScorer(
        scorer=scorer,
        checkpoint=scorer_to_bytes(scorer),
        history=history.table(),
        result=result,
        seconds=seconds,
        precision="float32" if holder["task"].autocast is None else "bfloat16",
    )
