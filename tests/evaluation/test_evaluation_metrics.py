import json

import numpy as np
import pandas as pd
import pytest

from facial_anomaly.evaluation import (
    bootstrap_correlation,
    classification_metrics,
    equal_error_rate,
    evaluate,
    threshold_at_specificity,
)

LABELS = np.array([0, 0, 0, 1, 1, 1])
OPTIONS = dict(specificity=0.95, n_boot=200, ci_level=0.95, seed=7)


def test_perfectly_separated_and_reversed_scores():
    scores = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    separated = classification_metrics(LABELS, scores, specificity=1.0)
    assert separated["roc_auc"] == 1.0 and separated["eer"] == 0.0
    assert separated["threshold"] == 3.0 and separated["accuracy"] == 1.0 and separated["f1"] == 1.0
    reversed_ = classification_metrics(LABELS, -scores, specificity=1.0)
    assert reversed_["roc_auc"] == 0.0 and reversed_["eer"] == 1.0
    assert reversed_["recall"] == 0.0 and reversed_["precision"] == 0.0  # nothing predicted anomalous


def test_eer_interpolates_the_roc_crossing():
    # ROC points (0,0) (0,.5) (.5,.5) (.5,1) (1,1): FPR = FNR = 0.5 at threshold 3.
    assert equal_error_rate([0, 0, 1, 1], [1.0, 3.0, 2.0, 4.0]) == (0.5, 3.0)
    # Crossing between points: FNR − FPR goes from 1/3 to −1/3 → EER halfway, 1/3.
    eer, _ = equal_error_rate([0, 0, 0, 1, 1, 1], [1, 2, 4, 3, 5, 6])
    assert eer == pytest.approx(1 / 3)


def test_threshold_at_specificity_on_controls():
    controls = np.arange(1.0, 21.0)  # 20 controls
    assert threshold_at_specificity(controls, 0.95) == 19.0  # 19/20 ≤ t
    assert threshold_at_specificity(controls, 0.96) == 20.0
    assert threshold_at_specificity(controls, 0.5) == 10.0
    assert threshold_at_specificity(controls, 1.0) == 20.0
    with pytest.raises(ValueError):
        threshold_at_specificity(controls, 0.0)
    with pytest.raises(ValueError):
        threshold_at_specificity([], 0.9)


def test_operating_point_metrics_are_exact():
    labels = np.array([0] * 10 + [1] * 4)
    scores = np.array(list(range(10)) + [5.5, 9.5, 20.0, 30.0], dtype=float)
    result = classification_metrics(labels, scores, specificity=0.9)
    # Threshold 8 (9 of 10 controls ≤ 8): control 9 and anomalies 9.5, 20, 30 are flagged.
    assert result["threshold"] == 8.0 and result["specificity"] == 0.9
    assert result["recall"] == 0.75 and result["precision"] == 0.75
    assert result["accuracy"] == pytest.approx(12 / 14) and result["f1"] == pytest.approx(0.75)
    # AUC = P(anomaly > control): 5.5 beats 6 of 10 controls, the others beat all 10.
    assert result["roc_auc"] == pytest.approx((6 + 10 + 10 + 10) / 40)


def test_single_class_is_an_error_for_the_direct_call():
    with pytest.raises(ValueError, match="both"):
        classification_metrics([1, 1], [0.2, 0.3], specificity=0.9)


def test_correlation_intervals_contain_the_estimate_and_are_seeded():
    rng = np.random.default_rng(0)
    severity = rng.random(60)
    scores = severity + rng.normal(0, 0.3, 60)
    for method in ("pearson", "spearman"):
        first = bootstrap_correlation(scores, severity, method=method, n_boot=300, ci_level=0.95, seed=1)
        assert first["ci_low"] <= first["estimate"] <= first["ci_high"]
        assert 0.3 < first["estimate"] < 0.95 and first["n_boot_valid"] == 300
        assert first == bootstrap_correlation(scores, severity, method=method, n_boot=300, ci_level=0.95, seed=1)
        other = bootstrap_correlation(scores, severity, method=method, n_boot=300, ci_level=0.95, seed=2)
        assert (other["ci_low"], other["ci_high"]) != (first["ci_low"], first["ci_high"])
    expected = np.corrcoef(scores, severity)[0, 1]
    result = bootstrap_correlation(scores, severity, method="pearson", n_boot=10, ci_level=0.9, seed=0)
    assert result["estimate"] == pytest.approx(expected)


def test_perfect_monotone_relation():
    x = np.arange(10.0)
    spearman = bootstrap_correlation(np.exp(x), x, method="spearman", n_boot=50, ci_level=0.95, seed=0)
    assert spearman["estimate"] == pytest.approx(1.0) and spearman["ci_low"] == pytest.approx(1.0)
    pearson = bootstrap_correlation(2 * x + 1, x, method="pearson", n_boot=50, ci_level=0.95, seed=0)
    assert pearson["estimate"] == pytest.approx(1.0)


def test_constant_input_gives_none_with_a_reason():
    result = bootstrap_correlation(np.ones(5), np.arange(5.0), method="pearson", n_boot=10, ci_level=0.95, seed=0)
    assert result["estimate"] is None and "constant" in result["reason"]


def _tables():
    scores = pd.DataFrame(
        {
            "image_id": [f"img{i}" for i in range(12)],
            "status": ["ok"] * 10 + ["no_face", "ok"],
            "pse_ycbcr_eroded__mouth_nose": [0.1, 0.2, 0.3, 0.9, 1.0, 1.1, 0.8, 1.5, 2.0, 2.5, 0.5, np.nan],
        }
    )
    labels = pd.DataFrame(
        {
            "image_id": [f"img{i}" for i in range(12)] + ["unscored"],
            "is_anomalous": [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1],
            "severity": [0, 0, 0, 1, 2, 3, np.nan, 2, 3, 4, 0, 1, 1],
            "subset": ["lip"] * 6 + ["palsy"] * 4 + ["lip", "lip", "lip"],
        }
    )
    return scores, labels


def test_evaluate_breaks_down_by_subset_and_survives_one_class_subsets():
    scores, labels = _tables()
    result = evaluate(
        scores,
        labels,
        score_column="pse_ycbcr_eroded__mouth_nose",
        label_column="is_anomalous",
        subset_controls="within",
        severity_column="severity",
        subset_column="subset",
        **OPTIONS,
    )
    json.dumps(result, allow_nan=False)  # JSON-able, no NaN
    assert result["n_joined"] == 12
    assert result["excluded"] == {"status_not_ok": 1, "score_missing_or_not_finite": 1, "label_missing": 0}
    overall = result["overall"]
    assert (overall["n"], overall["n_normal"], overall["n_anomalous"]) == (10, 3, 7)
    assert overall["classification"]["roc_auc"] == 1.0
    assert overall["correlation"]["spearman"]["n"] == 9  # one anomalous row has no severity
    lip, palsy = result["subsets"]["lip"], result["subsets"]["palsy"]
    assert lip["classification"]["roc_auc"] == 1.0
    assert palsy["classification"] is None and "only anomalous" in palsy["unavailable"]["classification"]
    assert palsy["correlation"]["pearson"]["estimate"] == pytest.approx(
        np.corrcoef([0.8, 1.5, 2.0, 2.5][1:], [2, 3, 4])[0, 1]
    )


def test_evaluate_without_severity_or_subsets():
    scores, labels = _tables()
    result = evaluate(
        scores,
        labels,
        score_column="pse_ycbcr_eroded__mouth_nose",
        label_column="is_anomalous",
        subset_controls="within",
        severity_column=None,
        subset_column=None,
        **OPTIONS,
    )
    assert result["subsets"] == {} and result["overall"]["correlation"] is None
    assert "severity" in result["overall"]["unavailable"]["correlation"]


def test_evaluate_names_missing_columns():
    scores, labels = _tables()
    with pytest.raises(KeyError, match="rating"):
        evaluate(
            scores,
            labels,
            score_column="pse_ycbcr_eroded__mouth_nose",
            label_column="is_anomalous",
            subset_controls="within",
            severity_column="rating",
            subset_column=None,
            **OPTIONS,
        )


def test_each_anomaly_subset_can_be_compared_with_all_normal_controls():
    import pandas as pd

    from facial_anomaly.evaluation import evaluate

    scores = pd.DataFrame({"image_id": list("abcdef"), "score": [0.1, 0.2, 0.3, 0.9, 0.8, 0.05]})
    labels = pd.DataFrame(
        {"image_id": list("abcdef"), "label": [0, 0, 0, 1, 1, 1], "subset": ["normal"] * 3 + ["cleft", "acne", "acne"]}
    )
    options = dict(
        score_column="score",
        label_column="label",
        severity_column=None,
        subset_column="subset",
        specificity=0.95,
        n_boot=10,
        ci_level=0.95,
        seed=0,
    )
    within = evaluate(scores, labels, subset_controls="within", **options)
    assert within["subsets"]["cleft"]["classification"] is None  # no controls inside the subset
    against_all = evaluate(scores, labels, subset_controls="all_normals", **options)
    assert against_all["subsets"]["cleft"]["classification"]["roc_auc"] == 1.0
    assert against_all["subsets"]["acne"]["n"] == 5
    assert against_all["subsets"]["acne"]["classification"]["roc_auc"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="subset_controls"):
        evaluate(scores, labels, subset_controls="some", **options)


def test_condition_names_are_labels_with_normal_as_control():
    import pandas as pd

    from facial_anomaly.evaluation import evaluate

    scores = pd.DataFrame({"image_id": list("abcd"), "score": [0.1, 0.2, 0.9, 0.8]})
    labels = pd.DataFrame({"image_id": list("abcd"), "label": ["normal", "normal", "cleft_lip", "acne"]})
    result = evaluate(
        scores,
        labels,
        score_column="score",
        label_column="label",
        severity_column=None,
        subset_column=None,
        subset_controls="within",
        specificity=0.95,
        n_boot=10,
        ci_level=0.95,
        seed=0,
    )
    assert result["overall"]["n_anomalous"] == 2 and result["overall"]["classification"]["roc_auc"] == 1.0


def test_markdown_table_rounds_reals_and_marks_missing_values():
    import numpy as np
    import pandas as pd

    from facial_anomaly.evaluation import markdown_table

    text = markdown_table(pd.DataFrame({"name": ["a"], "n": [3], "auc": [0.91234], "rho": [np.nan]}), decimals=2)
    assert text.splitlines() == ["| name | n | auc | rho |", "|---|---|---|---|", "| a | 3 | 0.91 | – |"]
