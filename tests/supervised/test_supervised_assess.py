"""The scorer's evaluation: false positives of harmless changes at a fixed specificity,
real-photo AUC, and the whole evaluation on a tiny trained_scorer scorer; batches do not depend
on which process makes them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from facial_anomaly.supervised.assess import evaluate, nuisance_false_positives, real_auc


def test_nuisance_false_positives_use_the_unchanged_faces_threshold():
    table = pd.DataFrame({"capture": [""] * 20 + ["jpeg"] * 4 + ["light"] * 4})
    unchanged = np.linspace(0.0, 1.0, 20)
    scores = np.r_[unchanged, [0.5, 0.2, 0.3, 1.5], [2.0, 3.0, 0.1, 0.2]]
    check = nuisance_false_positives(scores, table, specificity=0.9)
    assert check["threshold"] == pytest.approx(unchanged[17])  # 2 of 20 unchanged faces lie above it
    assert check["fpr_by_change"] == {"jpeg": 0.25, "light": 0.5} and check["fpr"] == pytest.approx(3 / 8)
    with pytest.raises(ValueError, match="specificity"):
        nuisance_false_positives(scores, table, specificity=1.0)
    with pytest.raises(ValueError, match="unchanged faces and changed ones"):
        nuisance_false_positives(unchanged, table.iloc[:20], specificity=0.9)


def test_real_auc_ranks_anomalous_photos_against_normal_ones():
    assert real_auc(np.array([0.9, 0.8]), np.array([0.1, 0.85, 0.2])) == pytest.approx(5 / 6)


def test_evaluation_of_a_trained_scorer(trained_scorer, scorer_task):
    from scorer_helpers import TINY

    from facial_anomaly.supervised.fresh import prepare_faces

    prepared = prepare_faces(
        scorer_task["faces"][8:],
        scorer_task["landmarks"][8:],
        synth_params=scorer_task["synth"],
        crops=TINY.scorer.crops,
        anomalies=TINY.anomalies,
        names=["a", "b", "c", "d"],
    )
    result = evaluate(
        trained_scorer["out"].scorer,
        prepared,
        config=TINY,
        synth_params=scorer_task["synth"],
        seed=123,
        real={"painted": ([scorer_task["faces"][0]], [scorer_task["landmarks"][0]])},
        real_normals=(scorer_task["faces"][8:], scorer_task["landmarks"][8:]),
        anomalous_per_face=4,
    )
    metrics = result.metrics
    # 24 samples of a scorer trained 80 steps on one face: 0.80 here (0.82 scored one-sided).
    assert metrics["test_auc"] > 0.75 and "test_auc.patch" in metrics and np.isfinite(metrics["test_severity_rho"])
    assert 0.0 <= metrics["nuisance_fpr"] <= 1.0 and {"nuisance_fpr.jpeg", "nuisance_fpr.geometry"} <= set(metrics)
    assert 0.0 <= metrics["real_auc.painted"] <= 1.0
    assert len(result.scores["test"]) == 4 * 6 and len(result.scores["nuisance"]) == 4 * 7


def test_batches_do_not_depend_on_the_process_that_makes_them(scorer_task):
    from scorer_helpers import TINY

    from facial_anomaly.supervised import trainer
    from facial_anomaly.supervised.fresh import prepare_faces

    faces = prepare_faces(
        scorer_task["faces"][:4],
        scorer_task["landmarks"][:4],
        synth_params=scorer_task["synth"],
        crops=TINY.scorer.crops,
        anomalies=TINY.anomalies,
    )
    here = trainer.ScorerTask(TINY, faces, None, scorer_task["synth"], torch.device("cpu"))

    class InProcessPool:  # what a worker does, without starting one
        def imap(self, function, keys):
            return map(function, keys)

    from facial_anomaly.parallel import worker_job

    worker_job().update(here.job)  # as OrderedWorkers(job=...) installs it in each process
    try:
        pooled = trainer.ScorerTask(TINY, faces, None, scorer_task["synth"], torch.device("cpu"), pool=InProcessPool())
        first = list(here.batches(0, torch.Generator().manual_seed(4)))
        second = list(pooled.batches(0, torch.Generator().manual_seed(4)))
    finally:
        worker_job().clear()
    assert len(first) == TINY.training.eval_every
    assert all(
        torch.equal(a["faces"], b["faces"]) and torch.equal(a["labels"], b["labels"]) for a, b in zip(first, second)
    )
    assert first[0]["labels"].tolist() == [0.0, 1.0] * min(TINY.training.faces_per_batch, len(faces))
