"""fit_fusion on a labelled scores table, then the scores stage using the fused score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from facial_anomaly.faces.io import image_id_from_path
from facial_anomaly.pipelines.fit_fusion import create_pipeline
from facial_anomaly.pipelines.scores.nodes import assemble_scores, choose_fusion
from facial_anomaly.scoring.config import FitFusionConfig, ScoresConfig

COLUMNS = ["mirror.pse_ycbcr_eroded__mouth_nose", "symmetry.pse_ycbcr_eroded__mouth_nose"]


def _scores(n: int = 40, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A scores table where the first column separates the labels and the second is noise."""
    rng = np.random.default_rng(seed)
    label = np.arange(n) % 2
    images = [f"img{i}.png" for i in range(n)]
    table = pd.DataFrame(
        {
            "image_id": [image_id_from_path(image) for image in images],
            "image": images,
            "status": "ok",
            "detail": "",
            "anomaly_score": 0.0,
            COLUMNS[0]: label * 1.0 + rng.normal(0, 0.3, n),
            COLUMNS[1]: rng.normal(0, 1, n),
        }
    )
    return table, pd.DataFrame({"image": table["image"], "label": label})


def _fit(scores, labels, **settings) -> tuple[dict, dict]:
    catalog = DataCatalog(
        {
            "scores": MemoryDataset(scores),
            "labels": MemoryDataset(labels),
            "params:fit_fusion": MemoryDataset(FitFusionConfig(**settings)),
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    return catalog.load("score_fusion"), catalog.load("fit_fusion_summary")


def test_fusion_weights_the_informative_column_and_records_its_data():
    scores, labels = _scores()
    fusion, summary = _fit(scores, labels)
    weights = summary["weights"]
    assert set(weights) == set(COLUMNS) and weights[COLUMNS[0]] > 0 and weights[COLUMNS[0]] >= weights[COLUMNS[1]]
    assert summary["rows"] == 40 and summary["fit_auc.fused"] >= summary[f"fit_auc.{COLUMNS[1]}"]
    assert fusion["provenance"]["kind"] == "score_fusion" and fusion["provenance"]["training_data"]
    again, _ = _fit(scores, labels)
    same = {key: value for key, value in again.items() if key != "provenance"}
    assert same == {key: value for key, value in fusion.items() if key != "provenance"}  # deterministic
    assert again["provenance"]["training_data"] == fusion["provenance"]["training_data"]
    _, other = _fit(scores, labels.assign(label=1 - labels["label"]))
    assert other["weights"] != weights


def test_named_columns_and_clear_errors():
    scores, labels = _scores()
    _, summary = _fit(scores, labels, columns=[COLUMNS[0]])
    assert list(summary["weights"]) == [COLUMNS[0]]
    with pytest.raises(Exception, match=r"fit_fusion.columns: \['nope.pse_base__mouth_nose'\]"):
        _fit(scores, labels, columns=["nope.pse_base__mouth_nose"])
    with pytest.raises(Exception, match="at least 5 scored rows labelled 0 and 1"):
        _fit(scores, labels.head(6))
    with pytest.raises(Exception, match="fit_fusion.label_column"):
        _fit(scores, labels.rename(columns={"label": "y"}))


def _reports(scores: pd.DataFrame):
    preprocess = scores[["image_id", "image", "status", "detail"]]
    normalize = pd.DataFrame(
        {"image_id": scores["image_id"], "normalizer": "mirror", "status": "ok", "detail": "", "model_score": np.nan}
    )
    variant = COLUMNS[0].split(".", 1)[1]
    heatmaps = pd.DataFrame(
        {
            "image_id": scores["image_id"],
            "normalizer": "mirror",
            "status": "ok",
            "detail": "",
            variant: scores[COLUMNS[0]],
        }
    )
    sym = heatmaps.assign(normalizer="symmetry", **{variant: scores[COLUMNS[1]]})
    normalize = pd.concat([normalize, normalize.assign(normalizer="symmetry")], ignore_index=True)
    return preprocess, normalize, pd.concat([heatmaps, sym], ignore_index=True)


def _assemble(preprocess, normalize, heatmaps, fusion, config):
    """The scores stage's last two nodes, with no fitted model columns."""
    chosen = choose_fusion(fusion, None, {}, {}, config)
    return assemble_scores(preprocess, normalize, heatmaps, pd.DataFrame(columns=["image_id"]), chosen, config)


def test_the_scores_stage_uses_a_fitted_fusion_and_falls_back_without_its_columns():
    from facial_anomaly.supervised.fusion import Fusion

    scores, labels = _scores()
    fusion, _ = _fit(scores, labels)
    preprocess, normalize, heatmaps = _reports(scores)
    config = ScoresConfig(default_variant=COLUMNS[0].split(".", 1)[1])
    table, summary = _assemble(preprocess, normalize, heatmaps, fusion, config)
    assert summary["anomaly_score_source"] == "score_fusion" and summary["fusion_columns"] == COLUMNS
    expected = Fusion.from_dict(fusion).fuse(table)
    assert np.allclose(table["anomaly_score"], expected)
    assert np.allclose(table["unsupervised_score"], scores[COLUMNS[0]])
    # Switched off, or a run without the symmetry normalizer: the default variant, and the summary says why.
    off, summary = _assemble(preprocess, normalize, heatmaps, fusion, config.model_copy(update={"use_fusion": False}))
    assert summary["anomaly_score_source"] == "unsupervised"
    mirror_only = heatmaps[heatmaps["normalizer"] == "mirror"]
    table, summary = _assemble(preprocess, normalize[normalize["normalizer"] == "mirror"], mirror_only, fusion, config)
    assert summary["anomaly_score_source"] == "unsupervised" and "symmetry" in summary["fusion_unavailable"]
    assert np.allclose(table["anomaly_score"], off["anomaly_score"])


def test_labels_with_severities_fit_the_graded_fusion():
    scores, labels = _scores(60)
    grades = np.where(labels["label"] == 1, 2 + np.arange(60) % 3, 0)
    _, binary = _fit(scores, labels)
    fusion, summary = _fit(scores, labels.assign(severity=grades))
    assert binary["target"] == "label" and "fit_severity_spearman.fused" not in binary
    assert summary["target"] == "severity" and fusion["provenance"]["params"]["target"] == "severity"
    assert np.isfinite(summary["fit_severity_spearman.fused"])
    _, plain = _fit(scores, labels.assign(severity=grades), severity_column="")
    assert plain["target"] == "label" and plain["weights"] == binary["weights"]
    ungraded = labels.assign(severity=np.where(np.arange(60) == 1, np.nan, grades))  # row 1 is anomalous
    with pytest.raises(Exception, match=r"fit_fusion.severity_column: 1 anomalous rows have no severity"):
        _fit(scores, ungraded)


def test_a_fusion_with_the_tail_maximum_is_fitted_and_applied_by_the_scores_stage():
    from facial_anomaly.supervised.fusion import Fusion

    scores, labels = _scores()
    fusion, summary = _fit(scores, labels, tail_max_of=[COLUMNS[0]])
    assert fusion["features"] == [*COLUMNS, "max_tail_z"] and fusion["tail_max_of"] == [COLUMNS[0]]
    assert set(summary["weights"]) == {*COLUMNS, "max_tail_z"}
    preprocess, normalize, heatmaps = _reports(scores)
    config = ScoresConfig(default_variant=COLUMNS[0].split(".", 1)[1])
    table, summary = _assemble(preprocess, normalize, heatmaps, fusion, config)
    assert summary["anomaly_score_source"] == "score_fusion" and summary["fusion_columns"] == COLUMNS
    assert np.allclose(table["anomaly_score"], Fusion.from_dict(fusion).fuse(table))
    with pytest.raises(Exception, match=r"fit_fusion.tail_max_of: \['nope.pse_base__mouth_nose'\]"):
        _fit(scores, labels, tail_max_of=["nope.pse_base__mouth_nose"])
