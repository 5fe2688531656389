"""Score nodes: every variant of the grid for every normalized face, the scoring contract's
CSV, and a per-variant summary logged as nested MLflow runs."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from facial_anomaly.heatmaps import HeatmapKindUnavailable, ensure_kind_available
from facial_anomaly.scoring import parse_variant_name, score_variants, single_variant_grid, variant_grid
from facial_anomaly.supervised.features import SUPERVISED_PREFIX, supervised_columns
from facial_anomaly.supervised.fusion import Fusion

from .._normalized import iter_pairs
from .._supervised import iter_supervised_batches, load_trained_models
from ..normalize.nodes import selected_normalizers

logger = logging.getLogger(__name__)

SCORE_COLUMN = "anomaly_score"
NORMALITY_COLUMN = "normality_index"
FILE_COLUMNS = ["image_id", "image", "status", "detail"]
MODEL_SCORE = "model_score"
UNSUPERVISED_COLUMN = "unsupervised_score"  # the unsupervised default, kept when anomaly_score is fused


def variant_columns(scores_table: pd.DataFrame) -> list[str]:
    """The ``<normalizer>.<variant>`` columns of a scores table (unsupervised variants,
    models' own scores, supervised probabilities and severities)."""
    return [
        c for c in scores_table.columns if c not in (*FILE_COLUMNS, SCORE_COLUMN, NORMALITY_COLUMN, UNSUPERVISED_COLUMN)
    ]


def variant_column(normalizer: str, variant: str) -> str:
    """Name of a score column: ``<normalizer>.<variant>``."""
    return f"{normalizer}.{variant}"


def available_grid(scores: dict, heatmaps: dict) -> tuple[dict, dict[str, str]]:
    """The scoring grid without the heatmap kinds that cannot run here, and why they cannot."""
    grid = dict(scores["grid"])
    unavailable = {}
    for kind in list(grid["kinds"]):
        try:
            ensure_kind_available(kind, kind_options=heatmaps["kind_options"])
        except HeatmapKindUnavailable as error:
            unavailable[kind] = str(error)
            logger.warning("heatmap kind %r left out of the scoring grid: %s", kind, error)
    grid["kinds"] = [kind for kind in grid["kinds"] if kind not in unavailable]
    return grid, unavailable


def score_faces(
    aligned_faces: dict[str, Callable],
    normalized_faces: dict[str, Callable],
    normalize_report: pd.DataFrame,
    landmarks: pd.DataFrame,
    normalize: dict,
    heatmaps: dict,
    scores: dict,
) -> tuple[pd.DataFrame, dict]:
    """One row per input file: ``image_id, image, status, detail``, ``anomaly_score`` (the
    default variant of the first normalizer; higher = more anomalous), the paper's
    ``normality_index`` S of that variant (higher = more normal), and a column
    ``<normalizer>.<variant>`` per computed variant. Rejected files keep their status."""
    grid, unavailable = available_grid(scores, heatmaps)
    default_normalizer = selected_normalizers(normalize)[0]
    default_variant = scores["default_variant"]
    options = {
        "erosion_size": heatmaps["erosion_size"],
        "erosion_iterations": heatmaps["erosion_iterations"],
        "channel_reduction": heatmaps["channel_reduction"],
        "kind_options": heatmaps["kind_options"],
        "region_params": scores["regions"],
    }
    values: dict[str, dict[str, float]] = {}
    for normalizer, image_id, original, normalized, points in iter_pairs(
        aligned_faces, normalized_faces, normalize_report, landmarks
    ):
        row = values.setdefault(image_id, {})
        variants = score_variants(original, normalized, points, grid=grid, statistic=scores["statistic"], **options)
        row.update({variant_column(normalizer, name): value for name, value in variants.items()})
        if normalizer == default_normalizer and parse_variant_name(default_variant).kind not in unavailable:
            (row[NORMALITY_COLUMN],) = score_variants(
                original,
                normalized,
                points,
                grid=single_variant_grid(default_variant),
                statistic="normality_index",
                **options,
            ).values()

    # The normalizers' own scores (GANomaly's A(x)...) join the table as <normalizer>.model_score.
    if "model_score" in normalize_report:
        for record in normalize_report.dropna(subset=["model_score"]).to_dict("records"):
            values.setdefault(record["image_id"], {})[f"{record['normalizer']}.{MODEL_SCORE}"] = record["model_score"]
    files = normalize_report[normalize_report["normalizer"] == default_normalizer]
    table = files[FILE_COLUMNS].reset_index(drop=True)
    table = table.join(pd.DataFrame([values.get(image_id, {}) for image_id in table["image_id"]]))
    default_column = variant_column(default_normalizer, default_variant)
    table.insert(4, SCORE_COLUMN, table.get(default_column, np.nan))
    if NORMALITY_COLUMN not in table:
        table[NORMALITY_COLUMN] = np.nan
    missing = (table["status"] == "ok") & table[SCORE_COLUMN].isna()
    table.loc[missing, "status"] = "not_scored"
    summary = {
        "files": int(len(table)),
        "scored": int(table[SCORE_COLUMN].notna().sum()),
        "default_normalizer": default_normalizer,
        "default_variant": default_variant,
        "variants": len(variant_grid(grid)) * len(selected_normalizers(normalize)),
        "unavailable_kinds": unavailable,
    }
    return table, summary


def export_scores_csv(scores_table: pd.DataFrame) -> pd.DataFrame:
    """The scoring contract's CSV: ``image`` (path relative to input_dir), ``status``,
    ``anomaly_score``, then every other column."""
    first = ["image", "status", SCORE_COLUMN]
    return scores_table[first + [column for column in scores_table.columns if column not in first]]


def summarize_variants(scores_table: pd.DataFrame) -> pd.DataFrame:
    """One row per score column: its variant's parameters and the distribution of the score
    over scored faces (logged as one nested MLflow run each)."""
    rows = []
    for column in variant_columns(scores_table):
        normalizer, variant_name = column.split(".", 1)
        if variant_name == MODEL_SCORE or normalizer == SUPERVISED_PREFIX:
            continue
        variant = parse_variant_name(variant_name)
        values = pd.to_numeric(scores_table[column], errors="coerce").dropna()
        rows.append(
            {
                "run_name": column,
                "param.normalizer": normalizer,
                "param.kind": variant.kind,
                "param.color_space": variant.color_space,
                "param.eroded": variant.eroded,
                "param.region": variant.region,
                "metric.scored": len(values),
                "metric.mean": float(values.mean()) if len(values) else np.nan,
                "metric.std": float(values.std()) if len(values) > 1 else np.nan,
                "metric.median": float(values.median()) if len(values) else np.nan,
            }
        )
    return pd.DataFrame(rows)


def score_supervised(
    aligned_faces: dict[str, Callable],
    normalized_faces: dict[str, Callable],
    normalize_report: pd.DataFrame,
    landmarks: pd.DataFrame,
    supervised_checkpoints: dict[str, Callable],
    train_supervised: dict,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """``image_id`` plus ``supervised.<model>.probability`` / ``.severity`` for every trained
    supervised model (latest checkpoint) and every face the normalize stage handled, and the
    SHA-1 of each checkpoint used (model → hex digest; what the fusion is checked against).
    A model that compares with the normalized face (Siamese) scores the faces whose
    ``train_supervised.normalizer`` output exists; without any checkpoint both are empty.
    Faces are loaded one batch at a time, so memory stays flat."""
    models = load_trained_models(supervised_checkpoints, train_supervised)
    table = pd.DataFrame({"image_id": pd.Series(dtype=str)})
    normalizer, batch_size = train_supervised["normalizer"], int(train_supervised["batch_size"])
    for name, trained in models.items():
        image_ids, probability, severity = [], [np.zeros(0)], [np.zeros(0)]
        for ids, originals, partners, points in iter_supervised_batches(
            aligned_faces,
            normalized_faces,
            normalize_report,
            landmarks,
            normalizer,
            with_normalized=trained.needs_normalized,
            batch_size=batch_size,
        ):
            scored = trained.model.score_batch(originals, partners, points, batch_size=batch_size)
            image_ids += ids
            probability.append(scored[0])
            severity.append(scored[1])
        if not image_ids and trained.needs_normalized:
            logger.warning(
                "supervised model %s compares with %s-normalized faces, and this run made none: add %s to "
                "normalize.normalizer to score with it",
                name,
                normalizer,
                normalizer,
            )
        probability_column, severity_column = supervised_columns(name)
        part = pd.DataFrame(
            {
                "image_id": image_ids,
                probability_column: np.concatenate(probability),
                severity_column: np.concatenate(severity),
            }
        )
        table = table.merge(part, on="image_id", how="outer")
    return table, {name: trained.sha1 for name, trained in models.items()}


def _fusion_problem(
    fusion: Fusion, table: pd.DataFrame, checkpoints_sha1: dict[str, str], scores: dict, train_supervised: dict
) -> str:
    """Why the fitted fusion cannot score this table ("" when it can)."""
    provenance = fusion.provenance
    if (
        provenance.get("normalizer") != train_supervised["normalizer"]
        or provenance.get("statistic") != scores["statistic"]
    ):
        return (
            f"the fusion was fitted with normalizer {provenance.get('normalizer')!r} and statistic {provenance.get('statistic')!r}, "
            f"this run uses {train_supervised['normalizer']!r} and {scores['statistic']!r}"
        )
    fitted = provenance.get("checkpoint_sha1", {})
    changed = sorted(name for name, sha1 in fitted.items() if checkpoints_sha1.get(name) != sha1)
    if changed:
        return f"the checkpoints of {changed} are not the ones the fusion was fitted with (rerun train_supervised)"
    missing = [column for column in fusion.features if column not in table]
    if missing:
        return f"this run has no columns {missing} (add {train_supervised['normalizer']} to normalize.normalizer)"
    return ""


def fuse_scores(
    unsupervised_scores: pd.DataFrame,
    unsupervised_summary: dict,
    supervised_scores: pd.DataFrame,
    supervised_fusion: dict | None,
    supervised_checkpoint_sha1: dict[str, str],
    train_supervised: dict,
    scores: dict,
) -> tuple[pd.DataFrame, dict]:
    """The scores table with the supervised columns joined and ``anomaly_score`` set to the
    fused score when a fusion has been fitted (``train_supervised``) for the checkpoints and
    score columns of this run; otherwise it stays the unsupervised default (the summary's
    ``anomaly_score_source`` says which, and ``fusion_unavailable`` why not). The
    unsupervised default is always kept as ``unsupervised_score``."""
    table = (
        unsupervised_scores.merge(supervised_scores, on="image_id", how="left")
        if len(supervised_scores.columns) > 1
        else unsupervised_scores.copy()
    )
    table.insert(table.columns.get_loc(SCORE_COLUMN) + 1, UNSUPERVISED_COLUMN, table[SCORE_COLUMN])
    summary = {
        **unsupervised_summary,
        "anomaly_score_source": "unsupervised",
        "supervised_models": list(supervised_checkpoint_sha1),
    }
    if supervised_fusion is not None:
        fusion = Fusion.from_dict(supervised_fusion, "supervised_fusion")
        problem = _fusion_problem(fusion, table, supervised_checkpoint_sha1, scores, train_supervised)
        if problem:
            logger.warning("anomaly_score stays the unsupervised default: %s", problem)
            summary["fusion_unavailable"] = problem
        else:
            ok = table["status"] == "ok"
            table.loc[ok, SCORE_COLUMN] = fusion.fuse(table[ok])
            summary.update(anomaly_score_source="fused", fusion_method=fusion.method, fusion_features=fusion.features)
    elif summary["supervised_models"]:
        summary["fusion_unavailable"] = "no fusion fitted (run train_supervised)"
    missing = (table["status"] == "ok") & table[SCORE_COLUMN].isna()
    table.loc[missing, "status"] = "not_scored"
    summary["scored"] = int(table[SCORE_COLUMN].notna().sum())
    return table, summary
