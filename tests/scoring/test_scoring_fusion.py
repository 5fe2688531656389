import json

import numpy as np
import pandas as pd
import pytest

from facial_anomaly.provenance import ModelMismatch
from facial_anomaly.scoring.fusion import ScoreFusionConfig, fit_score_fusion, load_score_fusion
from facial_anomaly.supervised.fusion import Fusion


@pytest.fixture(scope="module")
def dev_table():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 200)
    table = pd.DataFrame(
        {
            "deep": rng.normal(size=400) + 1.5 * labels,  # informative
            "padim": rng.lognormal(size=400) * (1 + labels),  # informative, heavy-tailed
            "noise": rng.normal(size=400) - 0.3 * labels,  # slightly "more normal" when anomalous
        }
    )
    return table, labels


def test_non_negative_rank_logistic_with_provenance(dev_table, tmp_path):
    table, labels = dev_table
    fusion = fit_score_fusion(table, labels, ScoreFusionConfig(features=("deep", "padim", "noise")), training_data="d1")
    weights = dict(zip(fusion.features, fusion.coefficients))
    assert fusion.method == "rank_logistic"
    assert weights["deep"] > 0 and weights["padim"] > 0 and weights["noise"] == 0.0
    fused = fusion.fuse(table)
    assert fused[labels == 1].mean() > fused[labels == 0].mean() + 0.3
    assert fusion.provenance["kind"] == "score_fusion" and fusion.provenance["training_data"] == "d1"
    path = fusion.save(tmp_path / "fusion.json")
    loaded = load_score_fusion(path, features=["deep", "padim", "noise", "other"])
    np.testing.assert_allclose(loaded.fuse(table), fused)
    with pytest.raises(ModelMismatch, match=r"fuses columns \['padim'\]"):
        load_score_fusion(path, features=["deep", "noise"])


def test_a_fusion_without_or_with_foreign_provenance_is_refused(dev_table, tmp_path):
    table, labels = dev_table
    plain = Fusion.from_dict(
        {**fit_score_fusion(table, labels, ScoreFusionConfig(features=("deep",))).to_dict(), "provenance": {}}
    )
    plain.save(tmp_path / "old.json")
    with pytest.raises(ModelMismatch, match="old.json: no provenance record"):
        load_score_fusion(tmp_path / "old.json")
    data = json.loads((tmp_path / "old.json").read_text())
    data["provenance"] = {"kind": "padim", "schema_version": 1}
    (tmp_path / "foreign.json").write_text(json.dumps(data))
    with pytest.raises(ModelMismatch, match="holds a 'padim' model, not a 'score_fusion'"):
        load_score_fusion(tmp_path / "foreign.json")
