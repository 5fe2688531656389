"""Fusion of the supervised probability with unsupervised score columns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from facial_anomaly.supervised import Fusion, fit_fusion

FEATURES = ["supervised.siamese", "symmetry.pse_ycbcr_eroded__mouth_nose", "normality_index"]


@pytest.fixture(scope="module")
def dev_table() -> tuple[pd.DataFrame, np.ndarray]:
    """80 dev rows: two informative scores (higher = anomalous) and a normality index (higher = normal)."""
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 40)
    table = pd.DataFrame(
        {
            FEATURES[0]: np.clip(0.3 + 0.4 * labels + rng.normal(0, 0.2, 80), 0, 1),
            FEATURES[1]: 0.01 + 0.02 * labels + rng.normal(0, 0.015, 80),
            FEATURES[2]: 5.0 - 1.5 * labels + rng.normal(0, 1.0, 80),
            "image": [f"img{i}.png" for i in range(80)],
        }
    )
    return table, labels


@pytest.mark.parametrize("method", ["logistic", "rank_logistic", "rank_average"])
def test_fusion_round_trips_through_json(method, dev_table, tmp_path):
    table, labels = dev_table
    fusion = fit_fusion(table, labels, features=FEATURES, method=method, C=1.0, max_iter=1000)
    path = fusion.save(tmp_path / "fusion.json")
    text = path.read_text()
    assert json.loads(text)["features"] == FEATURES  # plain JSON: no pickle anywhere
    restored = Fusion.load(path)
    assert restored == fusion
    np.testing.assert_array_equal(restored.fuse(table), fusion.fuse(table))
    scores = fusion.fuse(table)
    assert scores.shape == (80,) and ((scores >= 0) & (scores <= 1)).all()
    assert scores[labels == 1].mean() > scores[labels == 0].mean()


@pytest.mark.parametrize("method", ["logistic", "rank_logistic", "rank_average"])
def test_fused_score_is_monotone_in_each_positive_weight_input(method, dev_table):
    table, labels = dev_table
    fusion = fit_fusion(table, labels, features=FEATURES, method=method, C=1.0, max_iter=1000)
    weights = dict(zip(FEATURES, fusion.coefficients))
    assert weights[FEATURES[0]] > 0 and weights[FEATURES[2]] < 0  # the normality index enters reversed
    rows = table.sample(10, random_state=1).reset_index(drop=True)
    for feature in (name for name in FEATURES if weights[name] > 0):
        low, high = table[feature].quantile(0.2), table[feature].quantile(0.8)
        sweep = np.linspace(low, high, 25)
        for _, row in rows.iterrows():
            grid = pd.DataFrame([row] * len(sweep))
            grid[feature] = sweep
            fused = fusion.fuse(grid)
            assert (np.diff(fused) >= 0).all() and fused[-1] > fused[0], feature


def test_fusion_handles_missing_values_and_columns(dev_table, tmp_path):
    table, labels = dev_table
    fusion = fit_fusion(table, labels, features=FEATURES, method="logistic", C=1.0, max_iter=1000)
    rejected = table.head(3).copy()
    rejected.loc[1, FEATURES[1]] = np.nan
    fused = fusion.fuse(rejected)
    assert np.isnan(fused[1]) and np.isfinite(fused[[0, 2]]).all()
    with pytest.raises(KeyError, match="normality_index"):
        fusion.fuse(table.drop(columns=["normality_index"]))
    with pytest.raises(ValueError, match="both labels"):
        fit_fusion(table, np.zeros(80, dtype=int), features=FEATURES, method="logistic", C=1.0, max_iter=100)
    with pytest.raises(ValueError, match="method must be one of"):
        fit_fusion(table, labels, features=FEATURES, method="stacking", C=1.0, max_iter=100)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="is not a facial_anomaly.supervised.fusion"):
        Fusion.load(bad)
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Fusion.load(bad)
    with pytest.raises(FileNotFoundError, match="absent.json"):
        Fusion.load(tmp_path / "absent.json")


def test_provenance_round_trips_and_old_files_still_load(dev_table, tmp_path):
    table, labels = dev_table
    fusion = fit_fusion(table, labels, features=FEATURES, method="logistic", C=1.0, max_iter=1000)
    fusion.provenance = {"normalizer": "symmetry", "checkpoint_sha1": {"siamese": "ab" * 20}}
    restored = Fusion.load(fusion.save(tmp_path / "fusion.json"))
    assert restored.provenance == fusion.provenance
    without = {key: value for key, value in fusion.to_dict().items() if key != "provenance"}
    assert Fusion.from_dict(without).provenance == {}
    with pytest.raises(ValueError, match="missing fields \\['coefficients'\\]"):
        Fusion.from_dict({key: value for key, value in without.items() if key != "coefficients"})


def test_rank_logistic_is_not_driven_by_a_few_extreme_values():
    """A heavy-tailed informative score plus an extreme outlier among the normals: on
    Gaussian ranks the fusion keeps the score's ranking; on raw values it loses part of it."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 200)
    score = np.exp(rng.normal(0.0, 1.0, 400) + 0.6 * labels)  # log-normal, higher for anomalies
    score[:3] = 1e4  # three normal faces with a huge asymmetry
    noise = rng.normal(0.0, 1.0, 400)
    table = pd.DataFrame({"unsupervised": score, "noise": noise})
    alone = roc_auc_score(labels, score)
    ranked = fit_fusion(table, labels, features=["unsupervised", "noise"], method="rank_logistic", C=1.0, max_iter=1000)
    raw = fit_fusion(table, labels, features=["unsupervised", "noise"], method="logistic", C=1.0, max_iter=1000)
    assert roc_auc_score(labels, ranked.fuse(table)) >= alone - 0.02
    assert roc_auc_score(labels, raw.fuse(table)) < alone - 0.05


@pytest.mark.parametrize("method", ["logistic", "rank_logistic"])
def test_nonnegative_fusion_drops_inputs_that_would_get_a_negative_weight(method):
    """Two correlated scores (two regions of one heatmap): unconstrained, the weaker one gets
    a negative weight; with nonnegative it is dropped and the fused score rises with both."""
    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1], 300)
    shared = rng.normal(0.0, 1.0, 600)
    table = pd.DataFrame(
        {
            "mouth": shared + 1.0 * labels + rng.normal(0, 0.3, 600),
            "face": shared + 0.2 * labels + rng.normal(0, 0.3, 600),
        }
    )
    free = fit_fusion(table, labels, features=["mouth", "face"], method=method, C=1.0, max_iter=1000)
    assert free.coefficients[1] < 0
    constrained = fit_fusion(
        table, labels, features=["mouth", "face"], method=method, C=1.0, max_iter=1000, nonnegative=True
    )
    assert constrained.coefficients[0] > 0 and constrained.coefficients[1] == 0.0
    higher = table.assign(face=table["face"] + 5.0)
    assert (constrained.fuse(higher) >= constrained.fuse(table) - 1e-12).all()


def _graded_rows(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """300 rows, 100 normal and 200 anomalous of grades 2–4: ``detector`` separates the
    classes well but says nothing about the grade; ``ruler`` separates them less well but
    grows with the grade."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], [100, 200])
    grades = np.where(labels == 1, rng.integers(2, 5, 300), 0).astype(float)
    table = pd.DataFrame(
        {
            "detector": 1.5 * labels + rng.normal(0, 1, 300),
            "ruler": 0.5 * grades + rng.normal(0, 1, 300),
        }
    )
    return table, labels, grades


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def test_graded_fusion_weights_the_column_that_grows_with_severity():
    table, labels, grades = _graded_rows()
    settings = {"features": ["detector", "ruler"], "method": "rank_logistic", "C": 1.0, "max_iter": 1000}
    binary = fit_fusion(table, labels, nonnegative=True, **settings)
    graded = fit_fusion(table, labels, nonnegative=True, grades=grades, **settings)
    ratio = dict(zip(["detector", "ruler"], np.divide(graded.coefficients, binary.coefficients)))
    assert ratio["ruler"] > 1.3 * ratio["detector"]  # the grade moves weight to the ruler
    anomalous = labels == 1
    test, test_labels, test_grades = _graded_rows(seed=1)
    rho = {name: _spearman(f.fuse(test)[test_labels == 1], test_grades[test_labels == 1])
           for name, f in (("binary", binary), ("graded", graded))}  # fmt: skip
    assert rho["graded"] > rho["binary"] + 0.03
    from sklearn.metrics import roc_auc_score

    auc = {name: roc_auc_score(test_labels, f.fuse(test)) for name, f in (("binary", binary), ("graded", graded))}
    assert auc["graded"] > auc["binary"] - 0.03  # detection is kept
    # the score is still P(anomalous): higher on anomalous rows, in (0, 1), JSON round trip
    scores = graded.fuse(table)
    assert ((scores > 0) & (scores < 1)).all() and scores[anomalous].mean() > scores[~anomalous].mean() + 0.2
    assert Fusion.from_dict(json.loads(json.dumps(graded.to_dict()))) == graded


def test_graded_fusion_with_one_grade_is_the_binary_fit():
    table, labels, _ = _graded_rows()
    settings = {"features": ["detector", "ruler"], "method": "rank_logistic", "C": 1.0, "max_iter": 1000}
    binary = fit_fusion(table, labels, **settings)
    graded = fit_fusion(table, labels, grades=np.where(labels == 1, 3.0, 0.0), **settings)
    # the same model; only the intercept's (near-zero) penalty differs
    np.testing.assert_allclose(graded.coefficients, binary.coefficients, rtol=0.02)
    np.testing.assert_allclose(graded.fuse(table), binary.fuse(table), atol=0.01)


def test_graded_fusion_errors_name_the_problem():
    table, labels, grades = _graded_rows()
    settings = {"features": ["detector", "ruler"], "C": 1.0, "max_iter": 1000}
    with pytest.raises(ValueError, match="grades need a logistic method"):
        fit_fusion(table, labels, method="rank_average", grades=grades, **settings)
    with pytest.raises(ValueError, match="one grade per row"):
        fit_fusion(table, labels, method="rank_logistic", grades=grades[:-1], **settings)
    missing = grades.copy()
    missing[150] = np.nan
    with pytest.raises(ValueError, match="> 0 on every anomalous row"):
        fit_fusion(table, labels, method="rank_logistic", grades=missing, **settings)
    # a normal row's grade is ignored (taken as 0)
    normal_graded = grades.copy()
    normal_graded[0] = np.nan
    assert fit_fusion(table, labels, method="rank_logistic", grades=normal_graded, **settings).coefficients == (
        fit_fusion(table, labels, method="rank_logistic", grades=grades, **settings).coefficients
    )


def _specialist_rows(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """400 normal and 400 anomalous rows of 8 kinds: a ``generalist`` score fairly good on
    every kind, four weak ``noise`` columns, and a ``specialist`` that is near-perfect on
    kind 0 only (as the shape residual on palsy) and noise elsewhere."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1], 400)
    kind = np.where(labels == 1, np.arange(800) % 8, -1)
    table = pd.DataFrame(
        {
            "generalist": labels * 1.0 + rng.normal(0, 1.0, 800),
            **{f"noise{i}": labels * 0.2 + rng.normal(0, 1.0, 800) for i in range(4)},
            "specialist": (kind == 0) * 5.0 + rng.normal(0, 1.0, 800),
        }
    )
    return table, labels, kind


def test_tail_maximum_keeps_a_specialist_input():
    from sklearn.metrics import roc_auc_score

    table, labels, _ = _specialist_rows()
    features = ["generalist", "noise0", "noise1", "noise2", "noise3", "specialist"]
    settings = {"features": features, "method": "rank_logistic", "C": 1.0, "max_iter": 1000, "nonnegative": True}
    plain = fit_fusion(table, labels, **settings)
    tail = fit_fusion(table, labels, tail_max_of=["generalist", "specialist"], **settings)
    assert tail.features == [*features, "max_tail_z"] and tail.columns == features
    normal = table[labels == 0]
    np.testing.assert_allclose(tail.tail_centre, normal[["generalist", "specialist"]].median().to_numpy())
    mad = (normal[["generalist", "specialist"]] - normal[["generalist", "specialist"]].median()).abs().median()
    np.testing.assert_allclose(tail.tail_spread, 1.4826 * mad.to_numpy())
    test, test_labels, kind = _specialist_rows(seed=1)
    own = (test_labels == 0) | (kind == 0)
    auc = {name: roc_auc_score(test_labels[own], f.fuse(test)[own]) for name, f in (("plain", plain), ("tail", tail))}
    overall = {name: roc_auc_score(test_labels, f.fuse(test)) for name, f in (("plain", plain), ("tail", tail))}
    assert auc["tail"] > auc["plain"] + 0.04  # 0.909 against 0.845 (the specialist alone: 1.0)
    assert overall["tail"] > overall["plain"] - 0.01  # the other kinds are not given up for it
    restored = Fusion.from_dict(json.loads(json.dumps(tail.to_dict())))
    np.testing.assert_array_equal(restored.fuse(test), tail.fuse(test))
    with pytest.raises(KeyError, match="specialist"):
        tail.fuse(test.drop(columns="specialist"))


def test_tail_maximum_errors_name_the_problem():
    table, labels, _ = _specialist_rows()
    settings = {"features": ["generalist", "noise0"], "C": 1.0, "max_iter": 1000}
    with pytest.raises(ValueError, match="tail_max_of"):
        fit_fusion(table, labels, method="rank_average", tail_max_of=["noise0"], **settings)
    with pytest.raises(ValueError, match="tail_max_of"):
        fit_fusion(table, labels, method="rank_logistic", tail_max_of=["specialist"], **settings)
    fitted = fit_fusion(table, labels, method="logistic", tail_max_of=["noise0"], **settings).to_dict()
    with pytest.raises(ValueError, match="max_tail_z"):
        Fusion.from_dict({**fitted, "tail_spread": []})
    from facial_anomaly.scoring.fusion import ScoreFusionConfig
    from facial_anomaly.supervised.run_config import TrainSupervisedConfig

    with pytest.raises(ValueError, match="tail_max_of"):
        ScoreFusionConfig(features=("a", "b"), tail_max_of=("c",))
    with pytest.raises(ValueError, match="fusion_tail_max_of"):
        TrainSupervisedConfig(fusion_tail_max_of=("not a column",))
    # a valid column that is not fused is ignored, so the default survives a shorter fused list
    assert TrainSupervisedConfig(fused_columns=("padim__lower_face__topk",)).fusion_tail_max_of
