"""Rosero et al. 2024 evaluation helpers: accuracy over seeds and the two-proportion z-test."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from facial_anomaly.supervised import accuracy_by_subset, compare_models, two_proportion_z_test


def test_two_proportion_z_test_matches_the_formula():
    # p̂_a = 0.9, p̂_b = 0.7, pooled 0.8: SE = sqrt(0.8·0.2·(2/50)) = 0.08, z = 2.5.
    z, p = two_proportion_z_test(45, 50, 35, 50)
    assert z == pytest.approx(2.5)
    assert p == pytest.approx(0.5 * math.erfc(2.5 / math.sqrt(2)))
    z_reverse, p_reverse = two_proportion_z_test(35, 50, 45, 50)
    assert z_reverse == pytest.approx(-2.5) and p_reverse == pytest.approx(1 - p)  # one-tailed: H1 is a > b
    assert two_proportion_z_test(10, 10, 10, 10) == (0.0, 0.5)
    with pytest.raises(ValueError):
        two_proportion_z_test(11, 10, 5, 10)


@pytest.fixture(scope="module")
def predictions() -> pd.DataFrame:
    """Two models, two seeds, subsets cleft (4 images) and acne (2 images)."""
    rows = []
    correct = {
        ("siamese", 0): [1, 1, 1, 1, 1, 0],
        ("siamese", 1): [1, 1, 1, 0, 1, 1],
        ("single_branch", 0): [1, 0, 1, 0, 0, 1],
        ("single_branch", 1): [0, 0, 1, 1, 1, 0],
    }
    for (model, seed), hits in correct.items():
        for index, hit in enumerate(hits):
            label = index % 2
            rows.append(
                {
                    "model": model,
                    "seed": seed,
                    "subset": "cleft" if index < 4 else "acne",
                    "label": label,
                    "predicted": label if hit else 1 - label,
                }
            )
    return pd.DataFrame(rows)


def test_accuracy_by_subset_is_mean_and_sd_over_seeds(predictions):
    table = accuracy_by_subset(predictions).set_index(["model", "subset"])
    assert table.loc[("siamese", "cleft"), "accuracy_mean"] == pytest.approx((1.0 + 0.75) / 2)
    assert table.loc[("siamese", "cleft"), "accuracy_std"] == pytest.approx(pd.Series([1.0, 0.75]).std())
    assert table.loc[("siamese", "all"), "accuracy_mean"] == pytest.approx(5 / 6)
    assert table.loc[("single_branch", "acne"), "images"] == 2 and table.loc[("single_branch", "acne"), "seeds"] == 2


def test_compare_models_pools_seeds(predictions):
    result = compare_models(predictions, "siamese", "single_branch")
    assert (result["n_a"], result["n_b"]) == (12, 12)
    assert result["accuracy_a"] == pytest.approx(10 / 12) and result["accuracy_b"] == pytest.approx(6 / 12)
    z, p = two_proportion_z_test(10, 12, 6, 12)
    assert (result["z"], result["p_value"]) == (pytest.approx(z), pytest.approx(p))
    assert compare_models(predictions, "siamese", "single_branch", subset="acne")["n_a"] == 4
    with pytest.raises(ValueError, match="no predictions of model 'texture'"):
        compare_models(predictions, "siamese", "texture")
