"""Held-out measurements (supervised/evaluation.py) and the unsupervised pair features
(supervised/features.py) that the fusion is fitted on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from facial_anomaly.normalizers import build_normalizer
from facial_anomaly.normalizers.config import NormalizeConfig
from facial_anomaly.supervised import NUISANCES, NormalFace
from facial_anomaly.supervised.evaluation import detection_metrics, nuisance_check_pairs, nuisance_false_positives
from facial_anomaly.supervised.features import (
    fusion_features,
    supervised_columns,
)


def test_detection_metrics_on_a_known_ranking():
    table = pd.DataFrame(
        {
            "label": [0, 0, 0, 1, 1, 1, 1],
            "family": ["normal"] * 3 + ["acne", "acne", "palsy", "palsy"],
            "severity": [0, 0, 0, 1, 3, 2, 4],
        }
    )
    scores = np.array([0.1, 0.2, 0.6, 0.5, 0.9, 0.7, 0.8])
    metrics = detection_metrics(scores, table, severities=np.array([0, 0, 0, 1.0, 3.0, 2.0, 4.0]))
    assert metrics["auc"] == pytest.approx(11 / 12)  # the 0.6 normal beats one of the 12 (normal, anomaly) pairs
    assert metrics["auc_by_family"] == {"acne": pytest.approx(5 / 6), "palsy": pytest.approx(1.0)}
    assert metrics["severity_spearman"] == pytest.approx(1.0)
    flat = detection_metrics(scores, table, severities=np.zeros(7))
    assert np.isnan(flat["severity_spearman"])  # constant estimate: undefined, not 0


def test_nuisance_false_positives_threshold_and_rates():
    table = pd.DataFrame({"nuisances": [""] * 20 + ["jpeg"] * 4 + ["blur"] * 4})
    unchanged = np.linspace(0.0, 1.0, 20)
    scores = np.concatenate([unchanged, [2.0, 2.0, 0.1, 0.1], [0.0] * 4])
    check = nuisance_false_positives(scores, table, specificity=0.95)
    # The 19th of 20 sorted unchanged scores: exactly 1 of 20 (5 %) lies above it. np.quantile's
    # interpolated 0.95 would lie between the 19th and 20th.
    assert check["threshold"] == pytest.approx(unchanged[18])
    assert check["fpr_by_nuisance"] == {"blur": 0.0, "jpeg": 0.5}
    assert check["fpr"] == pytest.approx(2 / 8) and check["unchanged"] == 20 and check["variants"] == 8
    with pytest.raises(ValueError, match="specificity"):
        nuisance_false_positives(scores, table, specificity=1.0)
    with pytest.raises(ValueError, match="unchanged faces and nuisance variants"):
        nuisance_false_positives(scores[:20], table.iloc[:20], specificity=0.95)


@pytest.fixture(scope="module")
def symmetry():
    return build_normalizer("symmetry", NormalizeConfig())


def test_nuisance_check_has_the_unchanged_face_and_each_nuisance_alone(astronaut_aligned, symmetry, supervised_params):
    face = NormalFace(astronaut_aligned["rgb"], astronaut_aligned["landmarks"], "p", "astronaut")
    params = supervised_params["data"]["nuisance"]
    pairs = nuisance_check_pairs([face], normalizer=symmetry, params=params, seed=3)
    assert [pair.record["nuisances"] for pair in pairs] == ["", *NUISANCES]
    assert all(pair.record["label"] == 0 and pair.record["family"] == "normal" for pair in pairs)
    np.testing.assert_array_equal(pairs[0].original, face.image)
    assert all(not np.array_equal(pair.original, face.image) for pair in pairs[1:])
    again = nuisance_check_pairs([face], normalizer=symmetry, params=params, seed=3)
    assert all(np.array_equal(a.original, b.original) for a, b in zip(pairs, again))  # deterministic


def test_feature_column_names():
    assert supervised_columns("siamese") == ("supervised.siamese.probability", "supervised.siamese.severity")
    assert fusion_features(["siamese"], "symmetry", ["pse_base__mouth_nose"]) == [
        "supervised.siamese.probability",
        "symmetry.pse_base__mouth_nose",
    ]


def test_nuisance_threshold_keeps_the_specificity_on_the_unchanged_faces():
    # 93 unchanged faces: an interpolated 95 % quantile leaves 5 of them (5.4 %) above the
    # threshold, so a perfectly invariant score would read FPR 5.4 %; the threshold leaves 4.
    unchanged = np.random.default_rng(0).normal(size=93)
    table = pd.DataFrame({"nuisances": [""] * 93 + ["jpeg"] * 93})
    check = nuisance_false_positives(np.r_[unchanged, unchanged], table, specificity=0.95)
    assert (unchanged > check["threshold"]).sum() == 4
    assert check["fpr"] == pytest.approx(4 / 93) and check["fpr"] <= 0.05
