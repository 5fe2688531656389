"""Person-disjoint train/dev/test splits of the normal faces, and the ground-truth labels table.

A person's photos (and every synthetic face made from them) must stay in one split,
or a model could recognise the person instead of the anomaly. Faces without a known
person id should be given their image id as person (each its own person).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from facial_anomaly.faces.io import image_id_from_path

from .base import NORMAL_LABEL, SEVERITIES, SIDES
from .registry import family_label

LABEL_COLUMNS = [
    "image_id",
    "image",
    "source_image",
    "person",
    "split",
    "family",
    "severity",
    "label",
    "side",
    "subset",
    "status",
]
SUBSETS = ("adult", "child")


def split_by_person(persons: Iterable[str], fractions: Mapping[str, float], seed: int) -> dict[str, str]:
    """Assign every distinct person to one split.

    Persons are sorted, shuffled with ``seed`` and cut into consecutive groups whose
    sizes are the fractions of the number of persons, rounded by largest remainder (so
    they add up exactly). The result depends only on the set of persons, the fractions
    and the seed, not on the order or repetition of ``persons``.

    Args:
        persons: person ids (repeats allowed: one per image).
        fractions: split name → fraction of persons, e.g. ``{"train": 0.6, "dev": 0.2,
            "test": 0.2}``; non-negative and summing to 1.
        seed: the shuffle's seed.

    Returns:
        person → split name.

    Raises:
        ValueError: when the fractions are negative, empty or do not sum to 1.
    """
    if not fractions or any(value < 0 for value in fractions.values()):
        raise ValueError(f"split fractions must be non-negative and not empty, got {dict(fractions)}")
    total = float(sum(fractions.values()))
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {dict(fractions)} (sum {total})")
    unique = sorted({str(person) for person in persons})
    names = list(fractions)
    exact = np.array([fractions[name] * len(unique) for name in names])
    counts = np.floor(exact).astype(int)
    # Largest remainder; ties go to the split listed first.
    for index in sorted(range(len(names)), key=lambda i: (-(exact[i] - counts[i]), i))[: len(unique) - counts.sum()]:
        counts[index] += 1
    order = np.random.default_rng(seed).permutation(len(unique))
    assignment = np.repeat(names, counts)
    return {unique[position]: str(assignment[rank]) for rank, position in enumerate(order)}


def subset_from_age(age, child_max_age: int) -> str | None:
    """``child`` up to ``child_max_age`` years, ``adult`` above, None when the age is unknown."""
    if age is None or pd.isna(age):
        return None
    return SUBSETS[1] if float(age) <= child_max_age else SUBSETS[0]


def build_labels_table(records: Iterable[Mapping]) -> pd.DataFrame:
    """The labels table, one row per image (normal or synthetic).

    Each record needs ``image`` (path relative to the data root), ``source_image`` (the
    normal face it was made from; itself for a normal face), ``person``, ``split``,
    ``family`` (None for an untouched normal photo), ``severity`` (0..4) and ``side``
    ("left"/"right"/None); ``subset`` ("adult"/"child"/None) and ``status`` (default
    ``ok``) are optional. ``label`` is derived: ``normal`` for severity 0, else the
    family's label (:func:`~.registry.family_label`); ``image_id`` is derived from
    ``image`` (:func:`~facial_anomaly.faces.io.image_id_from_path`).

    Raises:
        ValueError: naming the image when a severity, side or subset is invalid, or a
            synthetic image (severity > 0) has no family. KeyError: for an unknown family.
    """
    rows = []
    for record in records:
        image, family, severity = record["image"], record.get("family"), int(record["severity"])
        side, subset = record.get("side"), record.get("subset")
        if severity not in SEVERITIES:
            raise ValueError(f"{image}: severity must be one of {SEVERITIES}, got {severity}")
        if side is not None and side not in SIDES:
            raise ValueError(f"{image}: side must be one of {SIDES} or None, got {side!r}")
        if subset is not None and subset not in SUBSETS:
            raise ValueError(f"{image}: subset must be one of {SUBSETS} or None, got {subset!r}")
        if severity > 0 and family is None:
            raise ValueError(f"{image}: a synthetic image (severity {severity}) needs its family")
        label = NORMAL_LABEL if severity == 0 else family_label(family)
        rows.append(
            {
                "image_id": image_id_from_path(image),
                "image": image,
                "source_image": record["source_image"],
                "person": record["person"],
                "split": record["split"],
                "family": family,
                "severity": severity,
                "label": label,
                "side": side,
                "subset": subset,
                "status": record.get("status", "ok"),
            }
        )
    table = pd.DataFrame(rows, columns=LABEL_COLUMNS)
    return table.astype({"severity": "int64"})
