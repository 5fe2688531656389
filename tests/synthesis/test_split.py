"""Person-disjoint splits and the labels table."""

from __future__ import annotations

import pandas as pd
import pytest

from facial_anomaly.faces.io import image_id_from_path
from facial_anomaly.synthesis.split import LABEL_COLUMNS, build_labels_table, split_by_person, subset_from_age

FRACTIONS = {"train": 0.6, "dev": 0.2, "test": 0.2}


def _images(persons: int, per_person: int) -> list[tuple[str, str]]:
    return [(f"faces/p{p:03d}_{i}.jpg", f"person_{p:03d}") for p in range(persons) for i in range(per_person)]


def test_no_person_is_in_two_splits():
    images = _images(37, 3)
    assignment = split_by_person([person for _, person in images], FRACTIONS, seed=7)
    table = pd.DataFrame(images, columns=["image", "person"]).assign(split=lambda t: t["person"].map(assignment))
    assert (table.groupby("person")["split"].nunique() == 1).all()
    assert set(table["split"]) == set(FRACTIONS)


def test_split_sizes_follow_the_fractions_exactly():
    assignment = split_by_person([f"p{i}" for i in range(37)], FRACTIONS, seed=1)
    sizes = pd.Series(assignment).value_counts()
    assert sizes.sum() == 37
    assert dict(sizes) == {"train": 22, "dev": 8, "test": 7}  # 22.2, 7.4, 7.4 by largest remainder


def test_split_is_deterministic_and_independent_of_input_order():
    persons = [f"p{i}" for i in range(50)]
    first = split_by_person(persons, FRACTIONS, seed=3)
    assert split_by_person(list(reversed(persons)) + persons, FRACTIONS, seed=3) == first
    assert split_by_person(persons, FRACTIONS, seed=4) != first


@pytest.mark.parametrize("fractions", [{"train": 0.7, "test": 0.2}, {"train": 1.2, "test": -0.2}, {}])
def test_bad_fractions_are_refused(fractions):
    with pytest.raises(ValueError, match="fractions"):
        split_by_person(["a", "b"], fractions, seed=0)


def test_subset_from_age():
    assert subset_from_age(5, 17) == "child"
    assert subset_from_age(17, 17) == "child"
    assert subset_from_age(18, 17) == "adult"
    assert subset_from_age(None, 17) is None
    assert subset_from_age(float("nan"), 17) is None


def test_labels_table_has_the_contract_columns_and_derived_labels():
    records = [
        {
            "image": "faces/a.jpg",
            "source_image": "faces/a.jpg",
            "person": "a",
            "split": "train",
            "family": None,
            "severity": 0,
            "side": None,
            "subset": "adult",
        },
        {
            "image": "synthetic/palsy/s2/a.png",
            "source_image": "faces/a.jpg",
            "person": "a",
            "split": "train",
            "family": "palsy",
            "severity": 2,
            "side": "left",
            "subset": "adult",
        },
        {
            "image": "synthetic/lip_lt_v1/s0/a.png",
            "source_image": "faces/a.jpg",
            "person": "a",
            "split": "train",
            "family": "lip_lt_v1",
            "severity": 0,
            "side": "right",
        },
        {
            "image": "synthetic/acne/s4/b.png",
            "source_image": "faces/b.jpg",
            "person": "b",
            "split": "test",
            "family": "acne",
            "severity": 4,
            "side": None,
            "subset": "child",
            "status": "ok",
        },
    ]
    table = build_labels_table(records)
    assert list(table.columns) == LABEL_COLUMNS
    assert table["label"].tolist() == ["normal", "facial_palsy", "normal", "acne"]
    assert table["image_id"].tolist() == [image_id_from_path(record["image"]) for record in records]
    assert table["severity"].dtype == "int64"
    assert table["subset"].tolist()[:2] == ["adult", "adult"] and pd.isna(table["subset"][2])
    assert (table["status"] == "ok").all()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"severity": 7}, "severity must be one of"),
        ({"side": "top"}, "side must be one of"),
        ({"subset": "teen"}, "subset must be one of"),
        ({"family": None}, "needs its family"),
    ],
)
def test_labels_table_refuses_bad_records(change, match):
    record = {
        "image": "x.png",
        "source_image": "faces/a.jpg",
        "person": "a",
        "split": "dev",
        "family": "palsy",
        "severity": 1,
        "side": "left",
        **change,
    }
    with pytest.raises(ValueError, match=match):
        build_labels_table([record])
