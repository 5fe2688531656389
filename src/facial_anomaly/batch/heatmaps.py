"""Heatmaps and variant scores of a run: per image and normalizer, one pass over the (aligned,
normalized) pair computes every variant of the grid (Hayajneh et al. 2022, Table 1), the
paper's normality index S for the PSE variants, and the saved heat map — an ``.npz`` whose
provenance record carries the scores, so a rerun with nothing new reads them back without
decoding a single face. Beside the map (``heat``) the file holds ``heat_sketch``: the
:class:`~facial_anomaly.heatmaps.HeatSketch` of the heat inside the face mask (JSON), from
which the report takes the run's colour scale without decoding any face or map."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..heatmaps import HeatSketch, heatmap
from ..heatmaps.config import HeatmapsConfig
from ..parallel import ExecutorConfig, Job, JobStats, run_job
from ..scoring import score_variants, variant_grid
from ..scoring.scores import grid_region_masks, parse_variant_name
from ..storage.artifacts import ArtifactFolder, Provenance, encode_npz, stage_key
from . import normalize, preprocess
from .faults import exit_if_requested
from .inputs import InputProblem, read_aligned_face, read_checked_png

STAGE = "heatmaps"
CODE_VERSION = 1
NORMALITY_PREFIX = "normality_index:"
SKETCH_MEMBER = "heat_sketch"
FILE_COLUMNS = [
    "image_id", "image", "normalizer", "status", "detail", "reused", "source_sha1", "params_hash", "aligned_key",
    "normalized_key",
]  # fmt: skip


def heatmap_name(normalizer: str, image_id: str) -> str:
    return f"{normalizer}/{image_id}.npz"


def settings_key(config: HeatmapsConfig, grid: dict) -> str:
    """The part of the heatmaps' key this stage decides (the normalized face's key is added per image)."""
    return stage_key(STAGE, CODE_VERSION, {**config.model_dump(mode="json", exclude={"grid"}), "grid": grid})


@dataclass(frozen=True)
class HeatmapsSpec:
    config: HeatmapsConfig
    grid: dict
    aligned: ArtifactFolder
    normalized: ArtifactFolder
    heatmaps: ArtifactFolder
    key: str
    normal_variation: bytes | None = None  # the fitted maps' .npz (z-scored summaries), or None


def z_grid(grid: dict) -> dict:
    """``grid`` with the z-scored counterpart of each of its summaries (``topk`` → ``ztopk``)
    and of each of its named ``variants`` added."""
    summaries = list(grid.get("summaries", ["mean"]))
    named = list(grid.get("variants", ()))
    z_named = [variant._replace(summary=f"z{variant.summary}").name for variant in map(parse_variant_name, named)]
    return {
        **grid,
        "summaries": summaries + [f"z{summary}" for summary in summaries if not summary.startswith("z")],
        "variants": named + [name for name in z_named if name not in named],
    }


def load_normal_variation(data: bytes):
    """A :class:`~facial_anomaly.scoring.normal_variation.NormalVariation` from its file's bytes."""
    from .fitted_models import load_normal_model

    return load_normal_model("normal_variation", data)


@dataclass(frozen=True)
class HeatmapsItem:
    image_id: str
    image: str
    source_sha1: str
    aligned_key: str
    normalizers: tuple[str, ...]
    normalized_keys: tuple[str, ...]


class _State:
    """The worker's spec and normal-variation maps, loaded when the first face is computed:
    a rerun that reuses every heat map does not load (and check) them."""

    def __init__(self, spec: HeatmapsSpec) -> None:
        self.spec = spec
        self._maps = None
        self._checked: set[str] = set()  # normalizers whose maps cover the grid

    @property
    def normal_variation(self):
        if self.spec.normal_variation is None:
            return None
        if self._maps is None:
            from ..parallel.executor import SetupFailed

            try:
                self._maps = load_normal_variation(self.spec.normal_variation)
            except Exception as error:  # a broken model file fails every image alike: stop the run
                message = f"the normal-variation maps cannot be loaded: {type(error).__name__}: {error}"
                raise SetupFailed(message) from error
        return self._maps

    def z_maps(self, normalizer: str):
        """The fitted maps of ``normalizer`` (None when it has none).

        Raises:
            SetupFailed: they lack a map of the grid (fitted for another ``heatmaps.grid``):
                every face would fail alike, so the run stops with the fix.
        """
        maps = self.normal_variation
        if maps is None or normalizer not in maps.maps:
            return None
        fitted = maps.for_normalizer(normalizer)
        if normalizer in self._checked:
            return fitted
        missing = sorted({variant.map_name for variant in variant_grid(self.spec.grid)} - set(fitted.names))
        if missing:
            from ..parallel.executor import SetupFailed

            raise SetupFailed(
                f"heatmaps.grid: the normal-variation maps of normalizer {normalizer!r} were fitted for another "
                f"grid and lack {missing}; rerun `kedro run --pipelines fit_normal_models` with this grid "
                "or set heatmaps.normal_variation=false"
            )
        self._checked.add(normalizer)
        return fitted


def _setup(spec: HeatmapsSpec) -> _State:
    return _State(spec)


def _pse_grid(grid: dict) -> dict | None:
    if "pse" not in grid["kinds"]:
        return None
    named = [parse_variant_name(name) for name in grid.get("variants", ())]
    pse = [variant.name for variant in named if variant.kind == "pse" and variant.summary == "mean"]
    return {**grid, "kinds": ["pse"], "summaries": ["mean"], "variants": pse}


def _pair_scores(spec: HeatmapsSpec, original, normalized, landmarks, z_maps=None) -> dict[str, Any]:
    options = spec.config.scoring_options()
    # Both statistics score the same regions of the same face: their masks are made once
    options["region_masks"] = grid_region_masks(
        landmarks, original.shape, spec.grid["regions"], options["region_params"]
    )
    options["shared_maps"] = {}  # and the normality index reuses the first pass's PSE maps
    grid = spec.grid if z_maps is None else z_grid(spec.grid)
    scores = score_variants(
        original, normalized, landmarks, grid=grid, statistic=spec.config.statistic, normal_variation=z_maps,
        **options,
    )  # fmt: skip
    record: dict[str, Any] = {"scores": scores}
    pse = _pse_grid(spec.grid)
    if pse is not None:
        normality = score_variants(original, normalized, landmarks, grid=pse, statistic="normality_index", **options)
        record["normality_index"] = {
            name: (value if math.isfinite(value) else None) for name, value in normality.items()
        }
    return record


def _heatmaps_one(state: _State, item: HeatmapsItem) -> list[dict[str, Any]]:
    spec = state.spec
    base = {
        "image_id": item.image_id,
        "image": item.image,
        "source_sha1": item.source_sha1,
        "detail": "",
        "aligned_key": item.aligned_key,
    }
    rows, face = [], None
    for name, normalized_key in zip(item.normalizers, item.normalized_keys):
        key = stage_key(spec.key, normalized_key)
        row = {**base, "normalizer": name, "status": "ok", "reused": False, "params_hash": key,
               "normalized_key": normalized_key}  # fmt: skip
        target = Provenance(f"{STAGE}:{name}", item.source_sha1, key)
        output = heatmap_name(name, item.image_id)
        stored = spec.heatmaps.npz_provenance(output)
        if target.matches(stored):
            rows.append({**row, **stored.record, "reused": True})
            continue
        try:
            if face is None:
                expected = Provenance(preprocess.STAGE, item.source_sha1, item.aligned_key)
                face = read_aligned_face(spec.aligned, preprocess.aligned_name(item.image_id), expected)
            expected = Provenance(f"{normalize.STAGE}:{name}", item.source_sha1, normalized_key)
            normalized, _ = read_checked_png(
                spec.normalized, normalize.normalized_name(name, item.image_id), expected, channels=3
            )
            z_maps = state.z_maps(name)
            record = _pair_scores(spec, face.rgb, normalized, face.landmarks, z_maps)
            heat = heatmap(face.rgb, normalized, **spec.config.map_settings())
            provenance = Provenance(target.stage, item.source_sha1, target.key, record)
            sketch = json.dumps(heat_sketch(heat, face.mask).to_dict(), separators=(",", ":"))
            spec.heatmaps.write(
                output,
                encode_npz(
                    {"heat": heat, SKETCH_MEMBER: np.array(sketch)}, provenance, compression=spec.heatmaps.compression
                ),
                decoded=(provenance, {"heat": heat}),
            )
            rows.append({**row, **record})
        except InputProblem as problem:
            rows.append({**row, "status": problem.status, "detail": str(problem)})
    return rows


def heat_sketch(heat: np.ndarray, face_mask: np.ndarray) -> HeatSketch:
    """The sketch of a heat map's values inside the face (mask > 0.5): what the report merges
    over the run for its colour scale (:func:`facial_anomaly.batch.gallery.run_vmax`)."""
    return HeatSketch().add(heat, face_mask > 0.5)


def _failure(item: HeatmapsItem, reason: str) -> list[dict[str, Any]]:
    return [
        {"image_id": item.image_id, "image": item.image, "source_sha1": item.source_sha1, "normalizer": name,
         "status": preprocess.PROCESSING_ERROR, "detail": reason, "reused": False}
        for name in item.normalizers
    ]  # fmt: skip


def compute_heatmaps(
    normalize_report: pd.DataFrame,
    aligned: ArtifactFolder,
    normalized: ArtifactFolder,
    heatmaps: ArtifactFolder,
    config: HeatmapsConfig,
    grid: dict,
    executor: ExecutorConfig | None = None,
    stats: JobStats | None = None,
    normal_variation: bytes | None = None,
) -> pd.DataFrame:
    """One row per (input file, normalizer): status, and for ``ok`` rows one column per
    variant of ``grid`` (the score) and ``normality_index:<variant>`` for the PSE variants;
    rows that were not ``ok`` upstream are passed on with their reason. The normalize
    report's ``aligned_key`` and ``params_hash`` are the aligned and normalized faces' keys.

    ``normal_variation``: the ``.npz`` bytes of fitted normal-variation maps; the normalizers
    they cover also get the z-scored summaries (:func:`z_grid`), and their SHA-1 is part of
    every heat map's key."""
    key = settings_key(config, grid)
    if normal_variation is not None:
        key = stage_key(key, hashlib.sha1(normal_variation).hexdigest())
    spec = HeatmapsSpec(config, grid, aligned, normalized, heatmaps, key, normal_variation)
    ok = normalize_report[normalize_report["status"] == "ok"]
    items = [
        HeatmapsItem(
            image_id,
            group["image"].iloc[0],
            group["source_sha1"].iloc[0],
            group["aligned_key"].iloc[0],
            tuple(group["normalizer"]),
            tuple(group["params_hash"]),
        )
        for image_id, group in ok.groupby("image_id", sort=False)
    ]
    computed: dict[tuple[str, str], dict] = {}
    job = Job(STAGE, _setup, _heatmaps_one, _failure, spec, gpu="lpips" in grid["kinds"])
    for done, rows in enumerate(run_job(job, items, executor, stats), start=1):
        for row in rows:
            computed[(row["image_id"], row["normalizer"])] = row
        exit_if_requested(STAGE, done)
    table = []
    for record in normalize_report[["image_id", "image", "normalizer", "status", "detail", "source_sha1"]].to_dict(
        "records"
    ):
        row = computed.get((record["image_id"], record["normalizer"]))
        table.append(_flatten(row) if row is not None else {**record, "reused": False})
    # Columns in grid order, whether a row was computed now or read back from its file.
    names = [variant.name for variant in variant_grid(z_grid(grid) if normal_variation is not None else grid)]
    pse = [f"{NORMALITY_PREFIX}{name}" for name in names if name.startswith("pse_")]
    return pd.DataFrame(table).reindex(columns=[*FILE_COLUMNS, *names, *pse])


def _flatten(row: dict[str, Any]) -> dict[str, Any]:
    flat = {key: value for key, value in row.items() if key not in ("scores", "normality_index")}
    flat.update(row.get("scores") or {})
    for name, value in (row.get("normality_index") or {}).items():
        flat[f"{NORMALITY_PREFIX}{name}"] = math.inf if value is None else value
    return flat
