"""The evaluation of Rosero et al. 2024: accuracy per subset as mean ± s.d. over training
seeds, and a one-tailed two-proportion z-test of the Siamese against the single-branch
accuracy.

Input of both: a long table with one row per (model, seed, test image): ``model``,
``seed``, ``subset`` (e.g. ``lip_lt_v1``, ``real_cleft``, ``adult``), ``label`` (0/1) and
``predicted`` (0/1, e.g. probability ≥ 0.5).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import norm

ALL_SUBSETS = "all"
PREDICTION_COLUMNS = ("model", "seed", "subset", "label", "predicted")


def _check(table: pd.DataFrame) -> pd.DataFrame:
    missing = [column for column in PREDICTION_COLUMNS if column not in table.columns]
    if missing:
        raise KeyError(f"prediction table lacks columns {missing}")
    table = table.copy()
    table["correct"] = table["label"].astype(int) == table["predicted"].astype(int)
    return table


def accuracy_by_subset(predictions: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per model and subset (plus subset ``all``), over seeds.

    Returns:
        One row per (model, subset): ``accuracy_mean`` and ``accuracy_std`` (sample
        standard deviation over the seeds, ddof = 1; NaN with one seed) of the per-seed
        accuracies, ``seeds``, ``images`` (test rows per seed, mean).
    """
    table = _check(predictions)
    rows = []
    for model, by_model in table.groupby("model", sort=True):
        for subset, part in [(ALL_SUBSETS, by_model), *by_model.groupby("subset", sort=True)]:
            per_seed = part.groupby("seed")["correct"].agg(["mean", "size"])
            rows.append(
                {
                    "model": model,
                    "subset": subset,
                    "accuracy_mean": float(per_seed["mean"].mean()),
                    "accuracy_std": float(per_seed["mean"].std(ddof=1)) if len(per_seed) > 1 else math.nan,
                    "seeds": int(len(per_seed)),
                    "images": float(per_seed["size"].mean()),
                }
            )
    return pd.DataFrame(rows, columns=["model", "subset", "accuracy_mean", "accuracy_std", "seeds", "images"])


def two_proportion_z_test(successes_a: int, total_a: int, successes_b: int, total_b: int) -> tuple[float, float]:
    """One-tailed pooled two-proportion z-test of H1: p_a > p_b.

    ``z = (p̂_a − p̂_b) / sqrt(p̂ (1 − p̂) (1/n_a + 1/n_b))`` with the pooled p̂ =
    (s_a + s_b) / (n_a + n_b); p-value = P(Z ≥ z). Returns ``(z, p)``; when p̂ is 0 or 1
    (no variance), ``z`` is 0 and ``p`` 0.5 if the proportions are equal.

    Raises:
        ValueError: totals < 1 or successes outside 0..total.
    """
    if total_a < 1 or total_b < 1 or not 0 <= successes_a <= total_a or not 0 <= successes_b <= total_b:
        raise ValueError(f"need 0 ≤ successes ≤ total, total ≥ 1; got {successes_a}/{total_a}, {successes_b}/{total_b}")
    p_a, p_b = successes_a / total_a, successes_b / total_b
    pooled = (successes_a + successes_b) / (total_a + total_b)
    variance = pooled * (1.0 - pooled) * (1.0 / total_a + 1.0 / total_b)
    if variance == 0.0:
        z = 0.0 if p_a == p_b else math.copysign(math.inf, p_a - p_b)
    else:
        z = (p_a - p_b) / math.sqrt(variance)
    return float(z), float(norm.sf(z))


def compare_models(predictions: pd.DataFrame, model_a: str, model_b: str, subset: str = ALL_SUBSETS) -> dict:
    """The z-test of ``model_a`` (e.g. ``siamese``) > ``model_b`` (``single_branch``) on
    the correct predictions pooled over seeds, in one subset (``all`` = every row).

    Returns:
        ``{"subset", "accuracy_a", "accuracy_b", "n_a", "n_b", "z", "p_value"}``.

    Raises:
        ValueError: a model without rows in that subset.
    """
    table = _check(predictions)
    if subset != ALL_SUBSETS:
        table = table[table["subset"] == subset]
    counts = {}
    for model in (model_a, model_b):
        correct = table.loc[table["model"] == model, "correct"].to_numpy()
        if correct.size == 0:
            raise ValueError(f"no predictions of model {model!r} in subset {subset!r}")
        counts[model] = (int(np.sum(correct)), int(correct.size))
    z, p = two_proportion_z_test(*counts[model_a], *counts[model_b])
    return {
        "subset": subset,
        "accuracy_a": counts[model_a][0] / counts[model_a][1],
        "accuracy_b": counts[model_b][0] / counts[model_b][1],
        "n_a": counts[model_a][1],
        "n_b": counts[model_b][1],
        "z": z,
        "p_value": p,
    }
