"""Node of ``fit_fusion``: the non-negative ``rank_logistic`` fusion of a scoring run's score
columns, fitted on the labelled rows of that run (e.g. the dev split of the synthesize stage
scored by the contract), with a provenance record naming the rows and columns. The scores
stage of later runs then uses it as ``anomaly_score``."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from facial_anomaly.provenance import training_data_fingerprint
from facial_anomaly.scoring.config import FitFusionConfig
from facial_anomaly.scoring.table import keyed_by_image_id, variant_columns

logger = logging.getLogger(__name__)


def fit_score_fusion_node(scores: pd.DataFrame, labels: pd.DataFrame, fit_fusion: FitFusionConfig) -> tuple[dict, dict]:
    """(the fusion as JSON with provenance, a summary: rows, columns, weights, dev AUC of the
    fusion and of each column).

    Raises:
        ValueError: no label column, too few rows of a class, or named columns that the
            scores table lacks or that have no value on a labelled row.
    """
    from sklearn.metrics import roc_auc_score

    from facial_anomaly.scoring.fusion import ScoreFusionConfig, fit_score_fusion

    labels = keyed_by_image_id(labels, "labels")
    if fit_fusion.label_column not in labels:
        raise ValueError(
            f"fit_fusion.label_column: the labels table has no {fit_fusion.label_column!r} column "
            f"(has {list(labels.columns)})"
        )
    graded = bool(fit_fusion.severity_column) and fit_fusion.severity_column in labels
    wanted = ["image_id", fit_fusion.label_column, *([fit_fusion.severity_column] if graded else [])]
    table = scores[scores["status"] == "ok"].merge(labels[wanted], on="image_id", how="inner")
    table = table[table[fit_fusion.label_column].isin([0, 1])]
    counts = table[fit_fusion.label_column].value_counts().to_dict()
    if min(counts.get(0, 0), counts.get(1, 0)) < fit_fusion.min_per_class:
        raise ValueError(
            f"fit_fusion needs at least {fit_fusion.min_per_class} scored rows labelled 0 and 1; "
            f"the labels match {counts.get(0, 0)} normal and {counts.get(1, 0)} anomalous scored rows"
        )
    available = [column for column in variant_columns(scores) if table[column].notna().all()]
    columns = list(fit_fusion.columns) or available
    missing = [column for column in columns if column not in available]
    if missing:
        raise ValueError(
            f"fit_fusion.columns: {missing} are not score columns with a value on every labelled row; "
            f"available: {available}"
        )
    outside = [column for column in fit_fusion.tail_max_of if column not in columns]
    if outside:
        raise ValueError(f"fit_fusion.tail_max_of: {outside} are not among the fused columns {columns}")
    label = table[fit_fusion.label_column].astype(int).to_numpy()
    targets = pd.Series(label, index=table.index).astype(str)
    grades = None
    if graded:
        grades = pd.to_numeric(table[fit_fusion.severity_column], errors="coerce").to_numpy(float)
        ungraded = (label == 1) & ~(grades > 0)
        if ungraded.any():
            raise ValueError(
                f"fit_fusion.severity_column: {int(ungraded.sum())} anomalous rows have no severity > 0 in "
                f"{fit_fusion.severity_column!r} (e.g. {table['image_id'][ungraded].iloc[0]}); "
                "grade them all, or set it to '' to fit the 0/1 label only"
            )
        # the fingerprint names what was fitted: label and grade
        targets = targets + "/" + pd.Series(np.nan_to_num(grades), index=table.index).map("{:g}".format)
    rows = sorted(zip(table["image_id"].astype(str), targets))
    fusion = fit_score_fusion(
        table,
        label,
        ScoreFusionConfig(features=tuple(columns), C=fit_fusion.C, tail_max_of=fit_fusion.tail_max_of),
        grades=grades,
        training_data=training_data_fingerprint(rows),
    )
    fused = fusion.fuse(table)
    summary = {
        "rows": int(len(table)),
        "normal_rows": int(counts.get(0, 0)),
        "anomalous_rows": int(counts.get(1, 0)),
        "columns": len(columns),
        "target": "severity" if graded else "label",
        "weights": {name: round(float(w), 4) for name, w in zip(fusion.features, fusion.coefficients)},
        "fit_auc.fused": float(roc_auc_score(label, fused)),
        **{f"fit_auc.{column}": float(roc_auc_score(label, table[column].to_numpy(float))) for column in columns},
    }
    if graded:
        from scipy.stats import spearmanr

        anomalous = label == 1
        summary["fit_severity_spearman.fused"] = float(spearmanr(fused[anomalous], grades[anomalous]).statistic)
    logger.info(
        "fit_fusion: %d rows, fused AUC %.3f on them (best column %.3f); weights %s",
        len(table),
        summary["fit_auc.fused"],
        max(summary[f"fit_auc.{column}"] for column in columns),
        {k: v for k, v in summary["weights"].items() if v > 0},
    )
    if not np.isfinite(fused).all():
        raise ValueError("the fitted fusion gives non-finite scores on its own rows")
    return fusion.to_dict(), summary
