"""The scores table of a run: one row per input file, whatever happened to it.

Columns: ``image_id``, ``image``, ``status`` (``ok`` or the first reason the file dropped
out: its preprocess rejection, or a later stage's problem with the default normalizer),
``detail``, ``anomaly_score`` (the default variant of the default normalizer; higher =
more anomalous), ``normality_index`` (the paper's S of that variant when it is a PSE
variant; higher = more normal), the pose and face count of the photo, then one
``<normalizer>.<variant>`` column per computed variant and ``<normalizer>.model_score``
where a normalizer has its own score.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SCORE_COLUMN = "anomaly_score"
NORMALITY_COLUMN = "normality_index"
FILE_COLUMNS = ["image_id", "image", "status", "detail"]
POSE_COLUMNS = ["face_count", "yaw_degrees", "pitch_degrees", "roll_degrees"]
NORMALITY_PREFIX = "normality_index:"
MODEL_SCORE = "model_score"
NOT_SCORED = "not_scored"
UNSUPERVISED_COLUMN = "unsupervised_score"  # the unsupervised default, kept when anomaly_score is fused
_NON_SCORE = {
    "image_id", "image", "normalizer", "status", "detail", "reused", "source_sha1", "params_hash", "aligned_key",
    "normalized_key", MODEL_SCORE,
}  # fmt: skip


def variant_column(normalizer: str, variant: str) -> str:
    """Name of a score column: ``<normalizer>.<variant>``."""
    return f"{normalizer}.{variant}"


def build_scores_table(
    preprocess_report: pd.DataFrame,
    normalize_report: pd.DataFrame,
    heatmaps_report: pd.DataFrame,
    *,
    normalizers: list[str],
    default_variant: str,
) -> tuple[pd.DataFrame, dict]:
    """(scores table, summary) from the three stage reports (see the module docstring)."""
    default = normalizers[0]
    table = preprocess_report.reindex(columns=FILE_COLUMNS + [c for c in POSE_COLUMNS if c in preprocess_report])
    table = table.reset_index(drop=True)
    table["detail"] = table["detail"].fillna("")
    variant_names = [c for c in heatmaps_report.columns if c not in _NON_SCORE and not c.startswith(NORMALITY_PREFIX)]
    for name in normalizers:
        part = heatmaps_report[(heatmaps_report["normalizer"] == name) & (heatmaps_report["status"] == "ok")]
        part = part.set_index("image_id")
        for variant in variant_names:
            table[variant_column(name, variant)] = table["image_id"].map(part[variant]) if variant in part else np.nan
        own = normalize_report[(normalize_report["normalizer"] == name) & normalize_report["model_score"].notna()]
        if len(own):
            table[variant_column(name, MODEL_SCORE)] = table["image_id"].map(own.set_index("image_id")["model_score"])
    default_column = variant_column(default, default_variant)
    table.insert(4, SCORE_COLUMN, table.get(default_column, np.nan))
    normality = f"{NORMALITY_PREFIX}{default_variant}"
    defaults = heatmaps_report[(heatmaps_report["normalizer"] == default) & (heatmaps_report["status"] == "ok")]
    table.insert(
        5,
        NORMALITY_COLUMN,
        table["image_id"].map(defaults.set_index("image_id")[normality]) if normality in defaults else np.nan,
    )
    # A file that was ok upstream but has no default score says why (the first stage that failed it).
    problems = pd.concat(
        [
            normalize_report.loc[(normalize_report["normalizer"] == default) & (normalize_report["status"] != "ok")],
            heatmaps_report.loc[(heatmaps_report["normalizer"] == default) & (heatmaps_report["status"] != "ok")],
        ]
    ).drop_duplicates("image_id")
    problems = problems.set_index("image_id")
    ok = table["status"] == "ok"
    failed = ok & table["image_id"].isin(problems.index)
    table.loc[failed, "status"] = table.loc[failed, "image_id"].map(problems["status"])
    table.loc[failed, "detail"] = table.loc[failed, "image_id"].map(problems["detail"]).fillna("")
    missing = (table["status"] == "ok") & table[SCORE_COLUMN].isna()
    table.loc[missing, "status"] = NOT_SCORED
    summary = {
        "files": int(len(table)),
        "scored": int(table[SCORE_COLUMN].notna().sum()),
        "status": {str(k): int(v) for k, v in table["status"].value_counts().items()},
        "default_normalizer": default,
        "default_variant": default_variant,
        "variants": len(variant_names) * len(normalizers),
    }
    return table, summary


def variant_columns(scores_table: pd.DataFrame) -> list[str]:
    """The ``<normalizer>.<variant>`` score columns of a scores table (every column that is not
    a file, status, pose or summary column)."""
    fixed = {*FILE_COLUMNS, SCORE_COLUMN, NORMALITY_COLUMN, UNSUPERVISED_COLUMN, *POSE_COLUMNS}
    return [column for column in scores_table.columns if column not in fixed]


def keyed_by_image_id(table: pd.DataFrame, what: str) -> pd.DataFrame:
    """``table`` with an ``image_id`` column: kept when present, else derived from its
    ``image`` column (paths relative to the input folder, as the preprocess stage names
    images).

    Raises:
        KeyError: neither column; the message names the ``what`` table and its columns.
    """
    from ..faces import image_id_from_path

    if "image_id" in table:
        return table
    if "image" not in table:
        raise KeyError(
            f"the {what} table needs an 'image' column (path relative to input_dir); has {list(table.columns)}"
        )
    return table.assign(image_id=table["image"].astype(str).map(image_id_from_path))
