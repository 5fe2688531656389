"""What a person looks at after a run: one panel per image (aligned | normalized | heat with
colour bar | overlay, with name, variant, score and percentile) on one colour scale per run
and normalizer, the heat drawn back on the original photo for the images at both ends of the
score range, and small thumbnails of every panel for the HTML report.

Per image the worker reads the three artifacts it needs (each checked against its
provenance), draws, and returns the thumbnail's bytes (and, for the ends of the score range,
the full-size panel and photo overlay, which the pipeline saves).
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from ..config import Config
from ..evaluation.html_report import HtmlReportConfig, encode_thumbnail
from ..heatmaps.panel import HeatSketch, PanelConfig, image_panel, overlay_on_photo, resolve_vmax, score_percentile
from ..heatmaps.regions import region_mask
from ..parallel import ExecutorConfig, Job, JobStats, run_job
from ..scoring import parse_variant_name
from ..storage.artifacts import (
    ArtifactError,
    ArtifactFolder,
    Provenance,
    decode_npz,
    encode_png,
    png_intact,
    png_provenance,
    stage_key,
)
from . import heatmaps, normalize, preprocess
from .inputs import InputProblem, read_aligned_face, read_checked_npz, read_checked_png

STAGE = "gallery"
CODE_VERSION = 1
STATUS_COLUMNS = ["image_id", "normalizer", "status", "detail", "reused"]
_COMMENT_PREFIX = b"facial_anomaly:"


class ReportConfig(Config):
    """What the report stage draws (``params:report``)."""

    parameter = "report"

    thumbnails: Literal["all", "top_bottom", "none"] = "all"
    """Thumbnail panels in report.html: every scored image, only the ends of the score range, or none."""
    top_bottom: int = Field(default=6, ge=0)
    """Full-size panels and heat on the original photo for this many highest- and lowest-scoring images."""
    vmax_sample: int = Field(default=200, ge=1)
    """Heat maps (at most) the colour scale's percentile is taken from (a fixed sample of the run)."""
    panel: PanelConfig = PanelConfig()
    html: HtmlReportConfig = HtmlReportConfig()


@dataclass(frozen=True)
class GalleryFolders:
    """Where the gallery stage reads and writes (one picklable bundle for the workers).

    ``thumbnails``: where the run's thumbnails are saved (``<normalizer>/<image_id>.jpg``);
    when given, a thumbnail already there that was drawn from the same inputs (its JPEG
    comment carries their key) is reused instead of drawn again. ``gallery`` and
    ``photo_overlays``: where the full-size panels and the heat on the photos are saved
    (``<normalizer>/<image_id>.png``, the key in the PNG's record), reused the same way.
    """

    aligned: ArtifactFolder
    normalized: ArtifactFolder
    heatmaps: ArtifactFolder
    thumbnails: ArtifactFolder | None = None
    gallery: ArtifactFolder | None = None
    photo_overlays: ArtifactFolder | None = None
    fitted_models: ArtifactFolder | None = None  # the fitted models' columns per face (scores stage)


@dataclass(frozen=True)
class GalleryItem:
    variant: str
    image_id: str
    image: str
    normalizer: str
    source_sha1: str
    aligned_key: str
    normalized_key: str
    heat_key: str
    score: float
    percentile: float
    thumbnail: bool
    full_size: bool
    photo_root: str
    source_key: str


@dataclass(frozen=True)
class GallerySpec:
    folders: GalleryFolders
    config: ReportConfig
    variant: str
    region_params: dict
    vmax: dict[str, float]
    reference: str


def _read(folders: GalleryFolders, item: GalleryItem):
    face = read_aligned_face(
        folders.aligned,
        preprocess.aligned_name(item.image_id),
        Provenance(preprocess.STAGE, item.source_sha1, item.aligned_key),
    )
    normalized, _ = read_checked_png(
        folders.normalized,
        normalize.normalized_name(item.normalizer, item.image_id),
        Provenance(f"{normalize.STAGE}:{item.normalizer}", item.source_sha1, item.normalized_key),
        channels=3,
    )
    arrays, _ = read_checked_npz(
        folders.heatmaps,
        heatmaps.heatmap_name(item.normalizer, item.image_id),
        Provenance(f"{heatmaps.STAGE}:{item.normalizer}", item.source_sha1, item.heat_key),
        ("heat",),
    )
    return face, normalized, arrays["heat"]


def thumbnail_name(normalizer: str, image_id: str) -> str:
    """File name of a thumbnail in the thumbnails folder (as the report's dataset saves it)."""
    return f"{normalizer}/{image_id}.jpg"


def thumbnail_key(spec: GallerySpec, item: GalleryItem) -> str:
    """What a thumbnail is drawn from: the three artifacts' keys, the score, its percentile
    and reference, the variant, the run's colour scale and the drawing settings."""
    return stage_key(
        STAGE, CODE_VERSION, item.normalizer, item.image, item.source_sha1, item.aligned_key, item.normalized_key,
        item.heat_key, item.score, item.percentile, spec.reference, spec.variant, spec.vmax[item.normalizer],
        spec.config.panel.model_dump(mode="json"), spec.config.html.model_dump(mode="json"), spec.region_params,
    )  # fmt: skip


def with_jpeg_comment(jpeg: bytes, text: str) -> bytes:
    """``jpeg`` with a comment segment (``COM``) right after its start marker."""
    payload = _COMMENT_PREFIX + text.encode("ascii")
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def jpeg_comment(jpeg: bytes) -> str | None:
    """The text :func:`with_jpeg_comment` put in a whole JPEG (ending with its end marker), else None."""
    if not (jpeg.startswith(b"\xff\xd8\xff\xfe") and jpeg.endswith(b"\xff\xd9")) or len(jpeg) < 6:
        return None
    (length,) = struct.unpack(">H", jpeg[4:6])
    payload = jpeg[6 : 4 + length]
    if not payload.startswith(_COMMENT_PREFIX):
        return None
    return payload[len(_COMMENT_PREFIX) :].decode("ascii", errors="replace")


def figure_name(normalizer: str, image_id: str) -> str:
    """File name of a full-size panel or photo overlay in its folder (as the report's datasets save them)."""
    return f"{normalizer}/{image_id}.png"


def _existing(folder: ArtifactFolder | None, name: str) -> bytes | None:
    if folder is None:
        return None
    try:
        return folder.read(name)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _reusable_thumbnail(spec: GallerySpec, item: GalleryItem, key: str) -> bytes | None:
    existing = _existing(spec.folders.thumbnails, thumbnail_name(item.normalizer, item.image_id))
    return existing if existing is not None and jpeg_comment(existing) == key else None


def _figure_provenance(kind: str, item: GalleryItem, key: str) -> Provenance:
    return Provenance(f"{STAGE}:{kind}", item.source_sha1, key)


def _reusable_figure(folder: ArtifactFolder | None, kind: str, item: GalleryItem, key: str) -> bytes | None:
    existing = _existing(folder, figure_name(item.normalizer, item.image_id))
    if existing is None or not png_intact(existing):
        return None
    stored = png_provenance(existing)
    return existing if stored is not None and _figure_provenance(kind, item, key).matches(stored) else None


def _reused(spec: GallerySpec, item: GalleryItem, key: str) -> dict[str, bytes | None] | None:
    """The image's figures as saved by an earlier run from the same inputs, or None when
    any of those it needs is missing or was drawn from something else."""
    found = {"thumbnail": None, "panel": None, "photo": None}
    if item.thumbnail:
        found["thumbnail"] = _reusable_thumbnail(spec, item, key)
        if found["thumbnail"] is None:
            return None
    if item.full_size:
        found["panel"] = _reusable_figure(spec.folders.gallery, "panel", item, key)
        if found["panel"] is None:
            return None
        if item.photo_root:
            # a photo that could not be drawn on is tried again: it may be readable now
            found["photo"] = _reusable_figure(spec.folders.photo_overlays, "photo", item, key)
            if found["photo"] is None:
                return None
    return found


def _draw(spec: GallerySpec, item: GalleryItem) -> dict[str, Any]:
    row = {"image_id": item.image_id, "normalizer": item.normalizer, "status": "ok", "detail": "", "thumbnail": None,
           "panel": None, "photo": None, "reused": False}  # fmt: skip
    key = thumbnail_key(spec, item) if (item.thumbnail or item.full_size) else ""
    if (item.thumbnail or item.full_size) and (reused := _reused(spec, item, key)) is not None:
        return {**row, **reused, "reused": True}
    try:
        face, normalized, heat = _read(spec.folders, item)
    except InputProblem as problem:
        return {**row, "status": problem.status, "detail": str(problem)}
    region = region_mask(
        face.landmarks, face.rgb.shape, parse_variant_name(spec.variant).region, **spec.region_params[
            parse_variant_name(spec.variant).region
        ]
    )  # fmt: skip
    panel = image_panel(
        face.rgb,
        normalized,
        heat,
        face_mask=face.mask,
        region_mask=region,
        vmax=spec.vmax[item.normalizer],
        image_name=item.image,
        variant=f"{item.normalizer}.{spec.variant}",
        score=item.score,
        percentile=item.percentile,
        reference=spec.reference,
        config=spec.config.panel,
    )
    if item.full_size:
        row["panel"] = encode_png(panel, _figure_provenance("panel", item, key))
        if item.photo_root and (photo := _draw_on_photo(spec, item, face, heat, region)) is not None:
            row["photo"] = encode_png(photo, _figure_provenance("photo", item, key))
    if item.thumbnail:
        jpeg = encode_thumbnail(
            panel, width_px=spec.config.html.thumbnail_width_px, jpeg_quality=spec.config.html.jpeg_quality
        )
        row["thumbnail"] = with_jpeg_comment(jpeg, key)
    return row


def _draw_on_photo(spec: GallerySpec, item: GalleryItem, face, heat, region) -> np.ndarray | None:
    from ..faces.config import DecodeConfig
    from ..faces.io import ImageRejected, decode_image
    from ..storage.inputs import InputFile, read_input

    entry = InputFile(item.image, item.image_id, item.source_key)
    limits = DecodeConfig()
    try:
        data = read_input(item.photo_root, entry, max_bytes=limits.max_bytes)
        if hashlib.sha1(data).hexdigest() != item.source_sha1:
            return None  # the photo changed since the run: never draw on another picture
        photo = decode_image(data, max_pixels=limits.max_pixels, min_side=1).rgb
    except ImageRejected:
        return None  # the photo moved or cannot be read now: its heat is shown on the aligned face only
    return overlay_on_photo(photo, heat, face.mask, face.matrix, vmax=spec.vmax[item.normalizer],
                            config=spec.config.panel, region_mask=region)  # fmt: skip


def _failure(item: GalleryItem, reason: str) -> dict[str, Any]:
    return {"image_id": item.image_id, "normalizer": item.normalizer, "status": "processing_error",
            "detail": reason, "thumbnail": None, "panel": None, "photo": None, "reused": False}  # fmt: skip


def _setup(spec: GallerySpec) -> GallerySpec:
    return spec


def run_vmax(heatmaps_report: pd.DataFrame, folders: GalleryFolders, config: ReportConfig) -> dict[str, float]:
    """Normalizer → the top of the colour scale: ``config.panel.vmax``, or the
    ``vmax_percentile`` of the heat inside the face masks over a fixed sample of the run."""
    result = {}
    ok = heatmaps_report[heatmaps_report["status"] == "ok"]
    for name, rows in ok.groupby("normalizer", sort=False):
        if config.panel.vmax is not None:
            result[name] = float(config.panel.vmax)
            continue
        # A fixed sample: the same images whatever the order of the run.
        order = rows["image_id"].map(lambda image_id: hashlib.sha1(image_id.encode()).hexdigest())
        sample = rows.assign(_order=order).sort_values("_order").head(config.vmax_sample)
        sketch = HeatSketch()
        for row in sample.to_dict("records"):
            try:
                sketch = sketch.merge(_image_sketch(folders, name, row))
            except (FileNotFoundError, ValueError, InputProblem):
                continue
        result[name] = resolve_vmax(config.panel, sketch) if sketch.count else 1.0
    return result


def _image_sketch(folders: GalleryFolders, normalizer: str, row: dict) -> HeatSketch:
    """The sketch of one image's heat inside its face: the one its heat map file carries
    (written by the heatmaps stage), else made from the map and the aligned face's mask."""
    data = folders.heatmaps.read(heatmaps.heatmap_name(normalizer, row["image_id"]))
    arrays, stored = decode_npz(data, names=(heatmaps.SKETCH_MEMBER,))
    expected = Provenance(f"{heatmaps.STAGE}:{normalizer}", row["source_sha1"], row["params_hash"])
    if heatmaps.SKETCH_MEMBER in arrays and expected.matches(stored):
        return HeatSketch.from_dict(json.loads(str(arrays[heatmaps.SKETCH_MEMBER])))
    arrays, _ = decode_npz(data, names=("heat",))
    if "heat" not in arrays:
        raise ArtifactError(f"the heat map file of {row['image_id']} holds no heat map")
    face = read_aligned_face(
        folders.aligned,
        preprocess.aligned_name(row["image_id"]),
        Provenance(preprocess.STAGE, row["source_sha1"], row["aligned_key"]),
    )
    return heatmaps.heat_sketch(arrays["heat"], face.mask)


# The plan's columns, also when no image was scored (an empty plan draws nothing).
PLAN_COLUMNS = [
    "image_id",
    "image",
    "normalizer",
    "source_sha1",
    "aligned_key",
    "normalized_key",
    "heat_key",
    "score",
    "percentile",
    "thumbnail",
    "full_size",
    "photo_root",
    "source_key",
    "variant",
]


def plan_gallery(
    heatmaps_report: pd.DataFrame,
    preprocess_report: pd.DataFrame,
    *,
    variant: str,
    photo_root: str,
    config: ReportConfig,
) -> pd.DataFrame:
    """One row per scored (image, normalizer): its score (the variant), percentile among the
    run's scored images, whether it gets a thumbnail and full-size figures, and the keys its
    artifacts must carry."""
    ok = heatmaps_report[heatmaps_report["status"] == "ok"]
    rows = []
    sources = preprocess_report.set_index("image_id")["source_key"] if "source_key" in preprocess_report else None
    for name, part in ok.groupby("normalizer", sort=False):
        values = (
            pd.to_numeric(part[variant], errors="coerce") if variant in part else pd.Series(np.nan, index=part.index)
        )
        percentiles = score_percentile(values.to_numpy(float), values.to_numpy(float))
        order = np.argsort(-values.to_numpy(float), kind="stable")
        ends = set(order[: config.top_bottom]) | set(order[::-1][: config.top_bottom]) if config.top_bottom else set()
        for position, (row, value, percentile) in enumerate(zip(part.to_dict("records"), values, percentiles)):
            rows.append(
                {
                    "image_id": row["image_id"],
                    "image": row["image"],
                    "normalizer": name,
                    "source_sha1": row["source_sha1"],
                    "aligned_key": row["aligned_key"],
                    "normalized_key": row["normalized_key"],
                    "heat_key": row["params_hash"],
                    "score": float(value),
                    "percentile": float(percentile),
                    "thumbnail": config.thumbnails == "all" or (config.thumbnails == "top_bottom" and position in ends),
                    "full_size": position in ends,
                    "photo_root": photo_root,
                    "source_key": str(sources.get(row["image_id"], "")) if sources is not None else "",
                    "variant": variant,
                }
            )
    return pd.DataFrame(rows, columns=PLAN_COLUMNS)


def draw_gallery(
    plan: pd.DataFrame,
    heatmaps_report: pd.DataFrame,
    folders: GalleryFolders,
    config: ReportConfig,
    *,
    region_params: dict,
    executor: ExecutorConfig | None = None,
    stats: JobStats | None = None,
) -> tuple[dict[str, bytes], dict[str, np.ndarray], dict[str, np.ndarray], dict[str, float], pd.DataFrame]:
    """(thumbnails ``<normalizer>/<image_id>`` → JPEG bytes, full-size panels and heat on the
    original photos of the ends of the score range (same keys → PNG bytes whose record
    carries the key they were drawn from), vmax per normalizer, one status row per drawn image)."""
    vmax = run_vmax(heatmaps_report, folders, config)
    items = [GalleryItem(**row) for row in plan.to_dict("records") if row["thumbnail"] or row["full_size"]]
    reference = f"all {int(plan['score'].notna().sum() / max(plan['normalizer'].nunique(), 1))} scored images"
    variant = str(plan["variant"].iloc[0]) if len(plan) else ""
    spec = GallerySpec(folders, config, variant, region_params, vmax, reference)
    thumbnails, panels, photos, rows = {}, {}, {}, []
    for result in run_job(Job(STAGE, _setup, _draw, _failure, spec), items, executor, stats):
        key = f"{result['normalizer']}/{result['image_id']}"
        for name, collected in (("thumbnail", thumbnails), ("panel", panels), ("photo", photos)):
            if result.get(name) is not None:
                collected[key] = result[name]
        rows.append({column: result[column] for column in STATUS_COLUMNS})
    return thumbnails, panels, photos, vmax, pd.DataFrame(rows, columns=STATUS_COLUMNS)
