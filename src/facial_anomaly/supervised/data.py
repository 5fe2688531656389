"""Training pairs for the supervised models, built from normal aligned faces.

For every normal face, ``variants_per_face.clean`` pairs of the face itself (label 0,
severity 0, family ``normal``) and ``variants_per_face.anomalous`` pairs of the same face
with an anomaly (label 1, severity 1..4, family = the anomaly kind: a
:mod:`facial_anomaly.synthesis` family or a local kind of :mod:`.anomalies`), drawn with
the ``kinds`` weights and uniformly among ``severities``. Then, for both classes alike,
random harmless changes (:mod:`.nuisance`), and last the normalized partner, made by the
given normalizer from the changed image and its landmarks — what the pipeline would do
with such a photo. A pair is therefore ``(original, normalized, landmarks)`` plus labels.

Determinism: pair ``v`` of a face draws everything from
``numpy.random.default_rng([seed, crc32(face name), v])``, so a pair does not depend on
which other faces are in the set, on their order, or on the number of worker processes.
An anomaly whose warp would fold the image (``DeformationFolds``) is replaced by another
kind drawn from the same stream (counted in the table's ``redraws``).

Splits are by person (:func:`split_faces`, via
:func:`facial_anomaly.synthesis.split_by_person`): no person, and no synthetic face made
from a person's photo, is in two splits.

:class:`PairSet` keeps each pair only as the views the models need (:mod:`.views`),
``uint8`` tensors at the model input size in memory, so training never touches 512 px
images again: (N, 3, S, S) per view, e.g. 48 KB per view and pair at 128 px.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..normalizers.base import Normalizer
from ..parallel.ordered import OrderedWorkers, worker_job
from ..synthesis import split_by_person
from ..synthesis.deform import DeformationFolds
from .anomalies import anomaly_kinds, make_anomaly
from .nuisance import apply_nuisances
from .views import ViewSpec, prepare_views

NORMAL_FAMILY = "normal"
TABLE_COLUMNS = ["face", "person", "variant", "label", "severity", "family", "side", "nuisances", "redraws"]
_MAX_REDRAWS = 8


@dataclass(frozen=True)
class NormalFace:
    """A normal aligned face: ``image`` H×W×3 uint8 RGB, ``landmarks`` (478, 3) in its
    pixels, ``person`` (split key), ``name`` (unique; seeds its pairs)."""

    image: np.ndarray
    landmarks: np.ndarray
    person: str
    name: str


@dataclass
class Pair:
    """One training pair: ``original`` and ``normalized`` (H×W×3 uint8 RGB), the original's
    ``landmarks`` (478, 3), and its row of the pair table (``label`` 0/1, ``severity``
    0..4, ``family``, ``side``, ``nuisances``, ...)."""

    original: np.ndarray
    normalized: np.ndarray
    landmarks: np.ndarray
    record: dict


def split_faces(faces: Sequence[NormalFace], fractions: Mapping[str, float], seed: int) -> dict[str, list[NormalFace]]:
    """Faces grouped by split, persons kept together (split name → faces, input order)."""
    assignment = split_by_person([face.person for face in faces], fractions, seed)
    return {name: [face for face in faces if assignment[str(face.person)] == name] for name in fractions}


def pair_rng(seed: int, face_name: str, variant: int) -> np.random.Generator:
    """The random stream of pair ``variant`` of the face named ``face_name``."""
    return np.random.default_rng([int(seed), zlib.crc32(face_name.encode("utf-8")), int(variant)])


def _kind_table(kinds: Mapping[str, float]) -> tuple[list[str], np.ndarray]:
    names = list(kinds)
    unknown = sorted(set(names) - set(anomaly_kinds()))
    weights = np.array([float(kinds[name]) for name in names])
    if unknown or not names or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(
            f"anomalies.kinds must map kinds of {list(anomaly_kinds())} to weights ≥ 0 (not all 0); got {dict(kinds)}"
        )
    return names, weights / weights.sum()


def make_pair(
    face: NormalFace, variant: int, *, normalizer: Normalizer, params: Mapping, synth_params: Mapping, seed: int
) -> Pair:
    """Pair ``variant`` of ``face``: variants ``0 .. clean-1`` are clean, the next
    ``anomalous`` ones anomalous (see the module docstring; ``params``: the ``data`` block)."""
    counts = params["variants_per_face"]
    if not 0 <= variant < int(counts["clean"]) + int(counts["anomalous"]):
        raise ValueError(f"variant {variant} outside 0..{int(counts['clean']) + int(counts['anomalous']) - 1}")
    rng = pair_rng(seed, face.name, variant)
    image, landmarks = face.image, np.asarray(face.landmarks, dtype=np.float64)
    record = {
        "face": face.name,
        "person": str(face.person),
        "variant": int(variant),
        "label": 0,
        "severity": 0,
        "family": NORMAL_FAMILY,
        "side": None,
        "redraws": 0,
    }
    if variant >= int(counts["clean"]):
        anomalies = params["anomalies"]
        names, weights = _kind_table(anomalies["kinds"])
        severities = [int(value) for value in anomalies["severities"]]
        for attempt in range(_MAX_REDRAWS):
            kind = names[int(rng.choice(len(names), p=weights))]
            severity = severities[int(rng.integers(len(severities)))]
            try:
                made = make_anomaly(
                    kind,
                    image,
                    landmarks,
                    severity=severity,
                    rng=rng,
                    synth_params=synth_params,
                    local_params=anomalies,
                )
                break
            except DeformationFolds:
                continue
        else:
            raise RuntimeError(f"{face.name}: {_MAX_REDRAWS} anomalies in a row folded the image")
        image, landmarks = made.image, made.landmarks
        record.update(label=1, severity=severity, family=kind, side=made.metadata.get("side"), redraws=attempt)
    image, landmarks, applied = apply_nuisances(image, landmarks, rng, params["nuisance"])
    record["nuisances"] = "+".join(applied)
    normalized = normalizer.normalize(image, landmarks).image
    return Pair(original=image, normalized=normalized, landmarks=landmarks, record=record)


@dataclass
class PairSet:
    """Pairs as cached model inputs.

    ``views``: view spec → ``uint8`` tensor (N, 3, S, S) (CPU); ``table``: one row per pair
    (:data:`TABLE_COLUMNS`: ``face``, ``person``, ``variant``, ``label`` 0/1, ``severity``
    0..4, ``family`` (``normal`` for label 0), ``side``, ``nuisances`` ("+"-joined names,
    "" for none), ``redraws``).
    """

    views: dict[ViewSpec, torch.Tensor]
    table: pd.DataFrame

    def __len__(self) -> int:
        return len(self.table)

    @property
    def labels(self) -> np.ndarray:
        """(N,) int64, 0 = normal, 1 = anomalous."""
        return self.table["label"].to_numpy(dtype=np.int64)

    @property
    def severities(self) -> np.ndarray:
        """(N,) int64 in 0..4."""
        return self.table["severity"].to_numpy(dtype=np.int64)

    @property
    def families(self) -> np.ndarray:
        """(N,) str: ``normal`` or the anomaly kind."""
        return self.table["family"].to_numpy(dtype=object)

    def inputs(self, specs: Sequence[ViewSpec]) -> torch.Tensor:
        """The model input of every pair: the views of ``specs`` stacked, ``uint8`` (N, 3·V, S, S).

        Raises:
            KeyError: naming a view this set was not built with.
        """
        missing = [spec.key for spec in specs if spec not in self.views]
        if missing:
            raise KeyError(f"views {missing} were not built; available: {[spec.key for spec in self.views]}")
        return torch.cat([self.views[spec] for spec in specs], dim=1)

    def select(self, mask: np.ndarray) -> "PairSet":
        """The pairs where the boolean (N,) ``mask`` is True."""
        index = torch.from_numpy(np.flatnonzero(np.asarray(mask, dtype=bool)))
        return PairSet(
            {spec: tensor[index] for spec, tensor in self.views.items()},
            self.table.iloc[index.numpy()].reset_index(drop=True),
        )

    @staticmethod
    def concat(sets: Sequence["PairSet"]) -> "PairSet":
        """The pairs of all ``sets`` (built with the same views), in order."""
        specs = list(sets[0].views)
        if any(list(other.views) != specs for other in sets):
            raise ValueError("pair sets built with different views cannot be concatenated")
        views = {spec: torch.cat([other.views[spec] for other in sets]) for spec in specs}
        return PairSet(views, pd.concat([other.table for other in sets], ignore_index=True))


ExtraColumns = Callable[[Pair], Mapping[str, float]]


def pairs_to_set(
    pairs: Iterable[Pair], specs: Sequence[ViewSpec], extra_columns: ExtraColumns | None = None
) -> PairSet:
    """Cache pairs as the views ``specs`` (distinct specs, any sizes).

    ``extra_columns(pair) -> {column: value}`` adds measurements of the full-resolution pair
    to its table row before the images are dropped (e.g. the unsupervised scores that a
    fusion combines with the supervised probability); every pair must give the same columns.
    """
    specs = list(dict.fromkeys(specs))
    arrays: dict[ViewSpec, list[np.ndarray]] = {spec: [] for spec in specs}
    records = []
    for pair in pairs:
        for spec in specs:
            arrays[spec].append(prepare_views([spec], pair.original, pair.normalized, pair.landmarks))
        record = dict(pair.record)
        if extra_columns is not None:
            extra = dict(extra_columns(pair))
            clash = sorted(set(extra) & set(TABLE_COLUMNS))
            if clash:
                raise ValueError(f"extra_columns may not replace the pair table's own columns {clash}")
            record.update(extra)
        records.append(record)
    if not records:
        raise ValueError("no pairs given")
    extra_names = [name for name in records[0] if name not in TABLE_COLUMNS]
    table = pd.DataFrame(records, columns=TABLE_COLUMNS + extra_names)
    return PairSet({spec: torch.from_numpy(np.stack(arrays[spec])) for spec in specs}, table)


def _face_pairs(job: Mapping, face: NormalFace) -> PairSet:
    counts = job["params"]["variants_per_face"]
    pairs = (
        make_pair(
            face,
            variant,
            normalizer=job["normalizer"],
            params=job["params"],
            synth_params=job["synth_params"],
            seed=job["seed"],
        )
        for variant in range(int(counts["clean"]) + int(counts["anomalous"]))
    )
    return pairs_to_set(pairs, job["specs"], job.get("extra_columns"))


def _worker_face_pairs(face: NormalFace) -> PairSet:
    return _face_pairs(worker_job(), face)


def build_pair_set(
    faces: Sequence[NormalFace],
    *,
    normalizer: Normalizer,
    specs: Sequence[ViewSpec],
    params: Mapping,
    synth_params: Mapping,
    seed: int,
    workers: int,
    extra_columns: ExtraColumns | None = None,
) -> PairSet:
    """All pairs of ``faces`` (face by face, variants in order), cached as the views ``specs``.

    Args:
        faces: normal aligned faces (unique names).
        normalizer: makes the normalized partner (e.g. ``build_normalizer("symmetry", ...)``).
        specs: the views to keep (the union of the models' ``view_specs``).
        params: the ``train_supervised.data`` block (``variants_per_face``, ``anomalies``, ``nuisance``).
        synth_params: the ``synthesize`` block (``lip_lt_v2`` needs ``templates`` if used).
        seed: the data seed (see the module docstring).
        workers: processes (1 = in this process; more start fresh "spawn" processes, which
            receive the normalizer and parameters once and one face per task; the caller's
            main module must be import-safe). The result does not depend on it.
        extra_columns: optional per-pair measurements added to the table (see
            :func:`pairs_to_set`; must be picklable when ``workers`` > 1, e.g. a
            ``functools.partial`` of a module-level function).

    Raises:
        ValueError: no faces, duplicate face names, or bad parameters.
    """
    if not faces:
        raise ValueError("no faces given")
    names = [face.name for face in faces]
    if len(set(names)) != len(names):
        raise ValueError("face names must be unique (they seed the pairs)")
    _kind_table(params["anomalies"]["kinds"])  # fail early on bad kinds
    job = {
        "normalizer": normalizer,
        "specs": list(specs),
        "params": params,
        "synth_params": synth_params,
        "seed": int(seed),
        "extra_columns": extra_columns,
    }
    if workers <= 1:
        return PairSet.concat([_face_pairs(job, face) for face in faces])
    # Spawned, not forked: a forked child of a process whose OpenMP / OpenCV thread pools have run deadlocks.
    with OrderedWorkers(int(workers), job=job, task="building training pairs") as pool:
        return PairSet.concat(pool.map(_worker_face_pairs, faces))
