"""Report nodes: which images to draw, the drawings (per-image work in
:mod:`facial_anomaly.batch.gallery`), one summary of the run, and the self-contained report.html."""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from facial_anomaly.batch.gallery import GalleryFolders, ReportConfig, draw_gallery, plan_gallery
from facial_anomaly.heatmaps.config import HeatmapsConfig
from facial_anomaly.parallel import ExecutorConfig, JobStats
from facial_anomaly.scoring.config import ScoresConfig
from facial_anomaly.scoring.table import SCORE_COLUMN

logger = logging.getLogger(__name__)


def plan_report(
    heatmaps_report: pd.DataFrame,
    preprocess_report: pd.DataFrame,
    preprocess_summary: dict,
    scores: ScoresConfig,
    report: ReportConfig,
) -> pd.DataFrame:
    """One row per scored (image, normalizer) with its score, percentile and what to draw."""
    return plan_gallery(
        heatmaps_report,
        preprocess_report,
        variant=scores.default_variant,
        photo_root=str(preprocess_summary.get("input_root") or ""),
        config=report,
    )


def draw_report_figures(
    gallery_plan: pd.DataFrame,
    heatmaps_report: pd.DataFrame,
    run_artifacts: GalleryFolders,
    heatmaps: HeatmapsConfig,
    report: ReportConfig,
    executor: ExecutorConfig,
) -> tuple[dict[str, bytes], dict[str, bytes], dict[str, bytes], dict[str, Any]]:
    """(thumbnails for report.html, full-size panels and heat on the photos of the highest- and
    lowest-scoring images — one colour scale per run and normalizer, PNG bytes — and a summary)."""
    stats = JobStats()
    thumbnails, panels, photos, vmax, status = draw_gallery(
        gallery_plan,
        heatmaps_report,
        run_artifacts,
        report,
        region_params=heatmaps.regions.model_dump(),
        executor=executor,
        stats=stats,
    )
    summary = {
        "vmax": vmax,
        "thumbnails": len(thumbnails),
        "panels": len(panels),
        "photo_overlays": len(photos),
        "reused": int(status["reused"].sum()),
        "failed": {str(k): int(v) for k, v in status.loc[status["status"] != "ok", "status"].value_counts().items()},
        "seconds": round(stats.seconds, 3),
    }
    # Keys name the files: <normalizer>__<rank-ordered image id>
    return (
        {f"{key}.jpg": data for key, data in thumbnails.items()},
        panels,
        photos,
        summary,
    )


def summarize_run(
    preprocess_summary: dict,
    normalize_summary: dict,
    heatmaps_summary: dict,
    scores_summary: dict,
    report_summary: dict,
) -> dict[str, Any]:
    """One dictionary of the run: every stage's counts, timings and settings."""
    return {
        "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "preprocess": preprocess_summary,
        "normalize": normalize_summary,
        "heatmaps": heatmaps_summary,
        "scores": scores_summary,
        "report": report_summary,
    }


def write_report(
    scores: pd.DataFrame,
    report_thumbnails: dict[str, Callable[[], bytes]],
    variant_comparison: pd.DataFrame,
    evaluation_plots: dict[str, Callable[[], bytes]],
    run_summary: dict,
    report: ReportConfig,
) -> str:
    """The self-contained ``report.html``: the run's settings, the variant comparison, the
    evaluation plots, every scored image sorted by score (thumbnail panel, score, status,
    percentile) and the files that were not scored, with their reasons."""
    from facial_anomaly.evaluation.html_report import render_html_report

    default = (run_summary.get("scores") or {}).get("default_normalizer", "")
    thumbnails = {
        key.split("/", 1)[1].removesuffix(".jpg"): load()
        for key, load in report_thumbnails.items()
        if key.split("/", 1)[0] == default
    }
    ok = scores["status"] == "ok"
    gallery = scores.loc[ok, ["image_id", "image", "status", SCORE_COLUMN]].rename(columns={SCORE_COLUMN: "score"})
    from facial_anomaly.heatmaps.panel import score_percentile

    gallery["percentile"] = score_percentile(gallery["score"].to_numpy(float), gallery["score"].to_numpy(float))
    rejected = scores.loc[~ok, ["image", "status", "detail"]]
    settings = {
        stage: (run_summary.get(stage) or {}).get("settings", {})
        for stage in ("preprocess", "normalize", "heatmaps", "scores")
    }
    executor = (run_summary.get("preprocess") or {}).get("executor")
    subtitle = f"{len(scores)} files, {int(ok.sum())} scored; executor {executor}; {run_summary.get('finished', '')}"
    return render_html_report(
        parameters=settings,
        comparison=variant_comparison if len(variant_comparison) else None,
        plots={name: load() for name, load in sorted(evaluation_plots.items())},
        gallery=gallery,
        thumbnails=thumbnails,
        rejected=rejected,
        config=report.html,
        subtitle=subtitle,
    )
