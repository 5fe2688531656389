"""Score nodes: the scores table (one row per input file) from the stage reports, the scoring
contract's CSV, and a per-variant summary logged as nested MLflow runs."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from facial_anomaly.batch.gallery import GalleryFolders
from facial_anomaly.heatmaps.config import HeatmapsConfig
from facial_anomaly.parallel import ExecutorConfig
from facial_anomaly.scoring.config import ScoresConfig
from facial_anomaly.scoring.table import NOT_SCORED, SCORE_COLUMN, UNSUPERVISED_COLUMN, build_scores_table
from facial_anomaly.storage.models import ModelStore

logger = logging.getLogger(__name__)


def score_fitted_models(
    normalize_report: pd.DataFrame,
    run_artifacts: GalleryFolders,
    models: ModelStore,
    scores: ScoresConfig,
    heatmaps: HeatmapsConfig,
    executor: ExecutorConfig,
) -> tuple[pd.DataFrame, dict]:
    """(per scored face, the columns of the fitted models found in ``models_dir`` — the
    supervised scorer unless ``scores.use_supervised`` is false, and ``scores.model_columns``
    whose model ``fit_normal_models`` saved —, a summary naming each model used by its SHA-1)."""
    from facial_anomaly.batch.fitted_models import FittedModels, score_faces
    from facial_anomaly.parallel import JobStats
    from facial_anomaly.scoring.columns import parse_column

    found = {name: models.latest(name) for name in ("supervised_scorer", "padim", "shape_model")}
    if not scores.use_supervised:
        found["supervised_scorer"] = None
    needs = {"padim": "padim", "shape_residual": "shape_model"}
    columns = tuple(c for c in scores.model_columns if found[needs[parse_column(c)[0]]] is not None)
    skipped = [c for c in scores.model_columns if c not in columns]
    if found["padim"] is not None and not any(parse_column(c)[0] == "padim" for c in columns):
        found["padim"] = None  # fitted but no column asks for it: not loaded
    partner_shape = bool(scores.supervised_partner_shape and found["supervised_scorer"] and found["shape_model"])
    if (
        not partner_shape
        and found["shape_model"] is not None
        and not any(parse_column(c)[0] == "shape_residual" for c in columns)
    ):
        found["shape_model"] = None
    fitted = FittedModels(
        supervised_scorer=found["supervised_scorer"].data if found["supervised_scorer"] else None,
        padim=found["padim"].data if found["padim"] else None,
        shape_model=found["shape_model"].data if found["shape_model"] else None,
        device=scores.device,
        partner_shape=partner_shape,
    )
    summary = {
        "models": {name: {"path": model.path, "sha1": model.sha1} for name, model in found.items() if model},
        "columns": list(columns),
        "columns_without_model": skipped,
    }
    if found["supervised_scorer"]:
        summary["supervised_checkpoint_sha1"] = found["supervised_scorer"].sha1
        summary["supervised_partner_shape"] = partner_shape
    if not any(found.values()):
        return pd.DataFrame(columns=["image_id"]), {**summary, "scored": 0}
    stats = JobStats()
    table = score_faces(
        normalize_report, run_artifacts.aligned, fitted, columns, region_params=heatmaps.regions.model_dump(),
        output=run_artifacts.fitted_models, executor=executor, stats=stats,
    )  # fmt: skip
    # the severity is NaN by design when the scorer has no severity head
    values = table.drop(columns=["image_id", "fitted_models_detail", "reused", "supervised.severity"], errors="ignore")
    summary["scored"] = int(values.notna().all(axis=1).sum())
    summary["failed"] = int(len(table) - summary["scored"])
    summary["reused"] = int(table["reused"].sum())
    summary["seconds"] = round(stats.seconds, 3)
    return table.drop(columns=["reused"]), summary


def choose_fusion(
    score_fusion: dict | None,
    supervised_fusion: dict | None,
    model_scores_summary: dict,
    heatmaps_summary: dict,
    scores: ScoresConfig,
) -> dict:
    """The fitted fusion this run applies, as ``{"source", "record"}``, or ``{}`` (Kedro saves
    no None): the one
    ``fit_fusion`` fitted (on the user's labelled photos), else the one ``train_supervised``
    refitted with its scorer — only when this run scored with that same scorer and the same
    fitted models (the SHA-1s of the checkpoint and of each model in the fusion's provenance)."""
    if not scores.use_fusion:
        return {}
    if score_fusion:
        return {"source": "score_fusion", "record": score_fusion}
    if supervised_fusion:
        provenance = supervised_fusion.get("provenance") or {}
        run_models = {name: model["sha1"] for name, model in (model_scores_summary.get("models") or {}).items()}
        if heatmaps_summary.get("normal_variation"):
            run_models["normal_variation"] = heatmaps_summary["normal_variation"]["sha1"]
        wanted = {"supervised_scorer": provenance.get("supervised_checkpoint_sha1")}
        wanted.update(provenance.get("fitted_models_sha1") or {})
        different = {name: sha1 for name, sha1 in wanted.items() if run_models.get(name) != sha1}
        # the scorer's partner on the normal shape or on the measured landmarks, as when fitted
        fitted_partner = bool(provenance.get("supervised_partner_shape", False))
        if fitted_partner != bool(model_scores_summary.get("supervised_partner_shape", False)):
            different["supervised_partner_shape"] = fitted_partner
            run_models["supervised_partner_shape"] = not fitted_partner
        if not different and model_scores_summary.get("supervised_checkpoint_sha1"):
            return {"source": "supervised_fusion", "record": supervised_fusion}
        logger.warning(
            "the supervised fusion is not used: it was fitted with %s, this run used %s",
            different,
            {name: run_models.get(name, "none") for name in different},
        )
    return {}


def assemble_scores(
    preprocess_report: pd.DataFrame,
    normalize_report: pd.DataFrame,
    heatmaps_report: pd.DataFrame,
    model_scores: pd.DataFrame,
    fusion: dict,
    scores: ScoresConfig,
) -> tuple[pd.DataFrame, dict]:
    """One row per input file: status and detail (the first reason it dropped out), the pose,
    ``anomaly_score``, ``normality_index``, a column per variant and the fitted models' columns
    (:func:`score_fitted_models`); the summary counts files and says which score ``anomaly_score`` is.

    ``anomaly_score`` is the fused score of ``fusion`` (:func:`choose_fusion`) when this run
    computes every column it fuses, else the default variant of the first normalizer;
    ``unsupervised_score`` always holds the latter."""
    normalizers = list(dict.fromkeys(normalize_report["normalizer"])) or ["symmetry"]
    table, summary = build_scores_table(
        preprocess_report,
        normalize_report,
        heatmaps_report,
        normalizers=normalizers,
        default_variant=scores.default_variant,
    )
    table.insert(table.columns.get_loc(SCORE_COLUMN) + 1, UNSUPERVISED_COLUMN, table[SCORE_COLUMN])
    if len(model_scores):
        extra = model_scores.drop(columns=["fitted_models_detail"]).set_index("image_id")
        for column in extra.columns:
            table[column] = table["image_id"].map(extra[column]).astype(float)
    summary["anomaly_score_source"] = "unsupervised"
    if fusion:
        _apply_fusion(table, summary, fusion["record"], fusion["source"])
    summary["settings"] = scores.model_dump(mode="json")
    if summary["files"] and not summary["scored"]:
        logger.warning("no file could be scored: see the status and detail columns of scores.csv")
    return table, summary


def export_scores_csv(scores: pd.DataFrame) -> pd.DataFrame:
    """The scoring contract's CSV: ``image`` (path relative to input_dir), ``status``,
    ``anomaly_score``, then every other column."""
    first = ["image", "status", SCORE_COLUMN]
    return scores[first + [column for column in scores.columns if column not in first]]


def _apply_fusion(table: pd.DataFrame, summary: dict, record: dict, source: str) -> None:
    """Replace ``anomaly_score`` by the fused score where every fused column has a value;
    a fusion this run cannot apply is reported in the summary and left unused."""
    from facial_anomaly.provenance import ModelMismatch
    from facial_anomaly.scoring.fusion import score_fusion_from_record

    try:
        fusion = score_fusion_from_record(record, source=f"{source}.json", features=list(table.columns))
    except (ModelMismatch, ValueError) as error:
        logger.warning("the fitted score fusion is not used: %s", error)
        summary["fusion_unavailable"] = str(error)
        return
    rows = table[fusion.columns].notna().all(axis=1).to_numpy()
    fused = np.full(len(table), np.nan)
    if rows.any():
        fused[rows] = fusion.fuse(table.loc[rows])
    table[SCORE_COLUMN] = fused
    missing = (table["status"] == "ok") & ~rows
    table.loc[missing, "status"] = NOT_SCORED
    table.loc[missing, "detail"] = "a column of the fused score has no value"
    summary["anomaly_score_source"] = source
    summary["fusion_columns"] = list(fusion.columns)
    summary["fusion_training_data"] = str((fusion.provenance or {}).get("training_data", ""))
    summary["scored"] = int(np.isfinite(fused).sum())
