"""Detection bench: every unsupervised variant, PaDiM, the shape residual and their fusion on
the person-disjoint bench set of benchmarks/_bench_set.py (real photos, run-time only).

    .venv/bin/python benchmarks/detection.py [--data DIR] [--bench-cache DIR] [--cache DIR]
        [--workers 1] [--markdown FILE]

Models are fitted on the clean **train** faces: the shape model (conf/base
parameters_fit_normal_models.yml), the normal-variation maps of every normalizer × heatmap
(:class:`facial_anomaly.scoring.NormalVariation`) and PaDiM. Every dev, test and real item
is then scored with every variant:

* normalizers ``symmetry``, ``mirror`` (its own mirror image warped onto its landmarks) and
  ``shape_model`` (conf/base parameters_normalize.yml);
* pixel kinds ``pse`` and ``ssim`` in YCbCr, eroded, with and without local contrast
  normalisation (``lcn``), over the regions ``mouth_nose``, ``lower_face`` (the face oval
  0.3 IOD below the eye line and lower) and ``face_without_eyes``; the ``deep`` kind
  (EfficientNet-Lite0 taps 2, 4, 10 of the lower-face crop at 224 px, mirror-averaged) over
  ``mouth_nose`` and ``lower_face``;
* summaries ``mean``, ``topk`` (mean of the top 1 % of the region's pixels), ``zmean``,
  ``ztopk`` (the same on the heat z-scored per location by the normal-variation maps);
* PaDiM (taps 2, 4, 10, stride-8 grid, 100 channels, Ledoit–Wolf) max / top-k over
  ``mouth_nose``, ``lower_face`` and ``full_face``; the shape-model landmark residual (mouth
  and nose top 10 %, lips mean).

The fusion (``rank_logistic``, non-negative) is fitted on the **dev** split — clean dev
faces and their nuisance variants (label 0) against the dev anomalies (label 1) — over the
inputs chosen on dev (the best variant of each normalizer × kind, PaDiM, shape residual);
the default single variant is the best on dev. Everything is reported on the **test** split:
AUC (clean test faces vs anomalies) overall and per family, severity Spearman ρ per family
(anomalies only), the nuisance false-positive rate at the threshold that keeps 95 % of the
clean test faces below it, real cleft / acne AUC against the clean test faces, the
face-vs-mirror difference (each test face against its ``mirror`` variant: median of
|Δ| / mean(|s|) and of the |Δ| in clean-test percentile points), and throughput on one core.

Scores are cached per item under ``--cache`` (in /tmp); nothing derived from the photos is
written to the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from facial_anomaly.evaluation.metrics import threshold_at_specificity

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
from _bench_set import DEFAULT_DATA, FAMILIES, NUISANCES, build_bench_set, mirror_relative_difference  # noqa: E402
from _shared_data import project_settings  # noqa: E402

DEFAULT_BENCH_CACHE = Path("/tmp") / "facial_anomaly_bench_cache"
DEFAULT_CACHE = Path("/tmp") / "facial_anomaly_detection_cache"
NORMALIZERS = ("symmetry", "mirror", "shape_model")
SUMMARIES = ["mean", "topk", "zmean", "ztopk"]
TOP_K_FRACTION = 0.01  # top 1 % of a region's pixels: better than 5 % for every kind on a dev subset
SPECIFICITY = 0.95
REGIONS = {
    "mouth_nose": {"margin_iod": 0.15},
    "face_without_eyes": {"eye_margin_iod": 0.15},
    "full_face": {},
    "lower_face": {"below_eyes_iod": 0.3},
}
PIXEL_GRID = {
    "kinds": ["pse", "ssim"],
    "color_spaces": ["ycbcr"],
    "erosion": [True],
    "lcn": [False, True],
    "regions": ["mouth_nose", "lower_face", "face_without_eyes"],
    "summaries": SUMMARIES,
}
DEEP_GRID = {
    "kinds": ["deep"],
    "color_spaces": ["rgb"],
    "erosion": [False],
    "regions": ["mouth_nose", "lower_face"],
    "summaries": SUMMARIES,
}
HEATMAP_SETTINGS = {
    "erosion_size": 3,
    "erosion_iterations": 1,
    "channel_reduction": "sum",
    "kind_options": {"ssim": {"win_size": 7}, "deep": {}},
}
PADIM_REGIONS = ("mouth_nose", "lower_face", "full_face")
SHAPE_RESIDUALS = {
    "shape_residual__mouth_nose__topk": {},
    "shape_residual__lips__mean": {"landmarks": "lips", "summary": "mean"},
}
_VERSION = 2  # bump when scoring changes


# --------------------------------------------------------------------------- models


class Models:
    """Everything fitted on the train split, plus the normalizers."""

    def __init__(self, normalizers, normal_variation, padim, shape_model):
        self.normalizers = normalizers
        self.normal_variation = normal_variation
        self.padim = padim
        self.shape_model = shape_model


def build_normalizers(shape_model):
    from facial_anomaly.normalizers import build_normalizer

    params = project_settings()["normalize"]
    return {name: build_normalizer(name, params, shape_model=shape_model) for name in NORMALIZERS}


def fit_models(bench, cache: Path, *, max_train: int | None = None) -> Models:
    """Fit (or load from ``cache``) the shape model, normal-variation maps and PaDiM on the
    clean train faces (the first ``max_train`` of them for a smoke run)."""
    from facial_anomaly.normalizers import ShapeModel
    from facial_anomaly.provenance import training_data_fingerprint
    from facial_anomaly.scoring import NormalVariation, NormalVariationFitter, PadimConfig, PadimScorer, variant_maps
    from facial_anomaly.scoring.normal_variation import NormalVariationConfig

    train = bench.select(split="train")[:max_train]
    fingerprint = training_data_fingerprint((item.key, Path(item.path).name) for item in train)
    folder = cache / "models" / f"{fingerprint}_v{_VERSION}"
    folder.mkdir(parents=True, exist_ok=True)

    shape_path = folder / "shape_model.npz"
    if shape_path.exists():
        shape_model = ShapeModel.load(shape_path)
    else:
        shape_model = ShapeModel.fit(
            [item.load().landmarks for item in train],
            **project_settings()["shape_model"],
        )
        shape_model.save(shape_path)
    normalizers = build_normalizers(shape_model)

    padim_path = folder / "padim.npz"
    if padim_path.exists():
        padim = PadimScorer.load(padim_path)
    else:
        started = time.perf_counter()
        loaded = [item.load() for item in train]
        padim = PadimScorer.fit(
            [x.image for x in loaded], [x.landmarks for x in loaded], PadimConfig(), training_data=fingerprint
        )
        del loaded
        padim.save(padim_path)
        print(f"  PaDiM fitted on {len(train)} train faces in {time.perf_counter() - started:.0f} s", flush=True)

    nv_path = folder / "normal_variation.npz"
    if nv_path.exists():
        normal_variation = NormalVariation.load(nv_path)
    else:
        started = time.perf_counter()
        fitter = NormalVariationFitter(NormalVariationConfig())
        for index, item in enumerate(train):
            face = item.load()
            for name, normalizer in normalizers.items():
                normalized = normalizer.normalize(face.image, face.landmarks).image
                maps = {}
                for grid in (PIXEL_GRID, DEEP_GRID):
                    maps.update(variant_maps(face.image, normalized, face.landmarks, grid=grid, **HEATMAP_SETTINGS))
                fitter.add(name, maps)
            if (index + 1) % 50 == 0:
                print(f"  normal-variation maps: {index + 1}/{len(train)} train faces", flush=True)
        normal_variation = fitter.finish(training_data=fingerprint)
        normal_variation.save(nv_path)
        print(f"  normal-variation maps fitted in {time.perf_counter() - started:.0f} s", flush=True)
    return Models(normalizers, normal_variation, padim, shape_model)


# --------------------------------------------------------------------------- scoring


def score_face(
    image: np.ndarray, landmarks: np.ndarray, models: Models, *, normalizers=NORMALIZERS
) -> dict[str, float]:
    """Every score column of one aligned face."""
    from facial_anomaly.heatmaps import region_mask
    from facial_anomaly.scoring import ShapeResidualConfig, score_variants, shape_residual_score, top_k_mean

    scores: dict[str, float] = {}
    for name in normalizers:
        normalized = models.normalizers[name].normalize(image, landmarks).image
        nv = models.normal_variation.for_normalizer(name)
        for grid in (PIXEL_GRID, DEEP_GRID):
            values = score_variants(
                image,
                normalized,
                landmarks,
                grid=grid,
                statistic="anomaly_score",
                region_params=REGIONS,
                normal_variation=nv,
                top_k_fraction=TOP_K_FRACTION,
                **HEATMAP_SETTINGS,
            )
            scores.update({f"{name}.{variant}": value for variant, value in values.items()})
    heat = models.padim.score_map(image, landmarks)
    inside = models.padim.config.backbone.crop_of(landmarks, image.shape).inside(image.shape)
    for region in PADIM_REGIONS:
        values = heat[region_mask(landmarks, image.shape, region, **REGIONS[region]) & inside]
        scores[f"padim__{region}__max"] = float(values.max())
        scores[f"padim__{region}__topk"] = top_k_mean(values, fraction=TOP_K_FRACTION)
    for column, options in SHAPE_RESIDUALS.items():
        scores[column] = shape_residual_score(landmarks, models.shape_model, ShapeResidualConfig(**options))
    return scores


_WORKER: dict = {}


def _worker_init(bench_args, cache, max_train) -> None:
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    bench = build_bench_set(*bench_args)
    _WORKER["models"] = fit_models(bench, cache, max_train=max_train)


def _worker_score(job) -> None:
    path, item = job
    _score_to_file(item, _WORKER["models"], Path(path))


def _score_to_file(item, models: Models, path: Path) -> dict:
    face = item.load()
    scores = score_face(face.image, face.landmarks, models)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(scores))
    temporary.replace(path)
    return scores


def score_items(items, models: Models, cache: Path, *, workers: int, bench_args, max_train=None) -> "pd.DataFrame":  # noqa: F821
    import pandas as pd

    folder = cache / "scores" / f"v{_VERSION}_{_models_digest(models)}"
    folder.mkdir(parents=True, exist_ok=True)

    def path_of(item) -> Path:
        return folder / f"{hashlib.sha1(f'{item.key}|{item.path}'.encode()).hexdigest()[:20]}.json"

    todo = [item for item in items if not path_of(item).exists()]
    if todo:
        print(f"  scoring {len(todo)} of {len(items)} items ({workers} process(es))", flush=True)
        started = time.perf_counter()
        if workers <= 1:
            for index, item in enumerate(todo):
                _score_to_file(item, models, path_of(item))
                if (index + 1) % 100 == 0:
                    rate = (index + 1) / (time.perf_counter() - started)
                    print(f"    {index + 1}/{len(todo)} ({rate:.2f} items/s)", flush=True)
        else:
            import multiprocessing

            context = multiprocessing.get_context("spawn")
            with context.Pool(workers, initializer=_worker_init, initargs=(bench_args, cache, max_train)) as pool:
                for index, _ in enumerate(
                    pool.imap_unordered(_worker_score, [(str(path_of(i)), i) for i in todo], chunksize=4)
                ):
                    if (index + 1) % 100 == 0:
                        print(f"    {index + 1}/{len(todo)}", flush=True)
    rows = []
    for item in items:
        rows.append({**json.loads(path_of(item).read_text()), **_item_columns(item)})
    return pd.DataFrame(rows)


def _item_columns(item) -> dict:
    return {
        "key": item.key,
        "split": item.split,
        "person": item.person,
        "source": item.source,
        "label": item.label,
        "family": item.family,
        "severity": item.severity,
        "nuisance": item.nuisance,
    }


def _models_digest(models: Models) -> str:
    payload = json.dumps(
        [
            models.padim.provenance.get("training_data"),
            models.padim.config.model_dump(mode="json"),
            models.normal_variation.config.model_dump(mode="json"),
            PIXEL_GRID,
            DEEP_GRID,
            HEATMAP_SETTINGS,
            REGIONS,
            TOP_K_FRACTION,
            SHAPE_RESIDUALS,
            PADIM_REGIONS,
        ],
        sort_keys=True,
    )
    return hashlib.sha1(payload.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------- evaluation


def auc(labels, scores) -> float:
    from sklearn.metrics import roc_auc_score

    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    return float(roc_auc_score(labels, scores)) if len(set(labels.tolist())) == 2 else float("nan")


def evaluate(table, column: str) -> dict:
    """Every reported figure of one score column on the test split (see the module docstring)."""
    from scipy.stats import spearmanr

    test = table[table["split"] == "test"]
    clean = test[(test["label"] == 0) & (test["nuisance"] == "")]
    anomalies = test[test["label"] == 1]
    clean_scores = clean[column].to_numpy(float)
    out = {"auc": auc(np.r_[np.zeros(len(clean)), np.ones(len(anomalies))], np.r_[clean_scores, anomalies[column]])}
    for family in FAMILIES:
        chosen = anomalies[anomalies["family"] == family]
        out[f"auc_{family}"] = auc(
            np.r_[np.zeros(len(clean)), np.ones(len(chosen))], np.r_[clean_scores, chosen[column]]
        )
        out[f"rho_{family}"] = float(spearmanr(chosen[column], chosen["severity"]).statistic)
    threshold = threshold_at_specificity(clean_scores, SPECIFICITY)
    nuisance = test[test["nuisance"] != ""]
    out["fpr"] = float(np.mean(nuisance[column].to_numpy(float) > threshold))
    for name in NUISANCES:
        out[f"fpr_{name}"] = float(
            np.mean(nuisance.loc[nuisance["nuisance"] == name, column].to_numpy(float) > threshold)
        )
    real = table[table["split"] == "real"]
    for family in ("real_cleft", "real_acne"):
        chosen = real[real["family"] == family]
        out[f"auc_{family}"] = auc(
            np.r_[np.zeros(len(clean)), np.ones(len(chosen))], np.r_[clean_scores, chosen[column]]
        )
    mirrored = nuisance[nuisance["nuisance"] == "mirror"].set_index("source")[column]
    paired = clean.set_index("source")[column].to_frame("face").join(mirrored.rename("mirror"), how="inner")
    a, b = paired["face"].to_numpy(float), paired["mirror"].to_numpy(float)
    out["mirror_rel"] = mirror_relative_difference(a, b)
    ranks = np.sort(clean_scores)
    percentile = lambda values: np.searchsorted(ranks, values, side="right") / len(ranks) * 100  # noqa: E731
    out["mirror_pct"] = float(np.median(np.abs(percentile(a) - percentile(b))))
    return out


def dev_auc(table, column: str) -> float:
    dev = table[(table["split"] == "dev") & (table["nuisance"] == "")]
    return auc(dev["label"], dev[column])


def dev_fpr(table, column: str) -> float:
    dev = table[table["split"] == "dev"]
    clean = dev.loc[(dev["label"] == 0) & (dev["nuisance"] == ""), column].to_numpy(float)
    threshold = threshold_at_specificity(clean, SPECIFICITY)
    return float(np.mean(dev.loc[dev["nuisance"] != "", column].to_numpy(float) > threshold))


def score_columns(table) -> list[str]:
    return [
        c
        for c in table.columns
        if c not in ("key", "split", "person", "source", "label", "family", "severity", "nuisance")
    ]


def group_of(column: str) -> str:
    """normalizer × kind (× lcn) of a column, e.g. ``mirror.pse_lcn``; ``padim``; ``shape_residual``."""
    if "." not in column:
        return column.split("__")[0]
    normalizer, variant = column.split(".", 1)
    head = variant.split("__")[0]
    kind = head.split("_")[0]
    return f"{normalizer}.{kind}{'_lcn' if '_lcn' in head else ''}"


def choose_fusion_inputs(table) -> list[str]:
    """The best column (dev AUC) of every normalizer × kind group whose best dev AUC beats 0.55."""
    best: dict[str, tuple[float, str]] = {}
    for column in score_columns(table):
        value = dev_auc(table, column)
        group = group_of(column)
        if np.isfinite(value) and value > best.get(group, (-1.0, ""))[0]:
            best[group] = (value, column)
    return [column for value, column in sorted(best.values(), reverse=True) if value > 0.55]


def fit_default_fusion(table, inputs):
    from facial_anomaly.provenance import training_data_fingerprint
    from facial_anomaly.scoring.fusion import ScoreFusionConfig, fit_score_fusion

    dev = table[table["split"] == "dev"]
    fingerprint = training_data_fingerprint(zip(dev["key"], dev["source"]))
    return fit_score_fusion(
        dev, dev["label"].to_numpy(), ScoreFusionConfig(features=tuple(inputs)), training_data=fingerprint
    )


# --------------------------------------------------------------------------- throughput


def backbone_throughput(bench, models: Models, repeats: int) -> list[str]:
    """Images/s of the backbone alone at the taps used, on one core (CPU time of this
    single-threaded process), with and without the mirror average."""
    import torch

    from facial_anomaly.features import feature_extractor

    faces = [item.load() for item in bench.select(split="test", family="normal", nuisance="")[:16]]
    lines = []
    for mirror_average in (True, False):
        backbone = models.padim.config.backbone.model_copy(update={"mirror_average": mirror_average})
        extractor = feature_extractor(backbone)
        crops = np.stack([backbone.crop_of(f.landmarks, f.image.shape).cut(f.image) for f in faces])
        extractor.features_of_inputs(crops[:2])
        cpu = time.process_time()
        for _ in range(repeats):
            extractor.features_of_inputs(crops)
        rate = repeats * len(crops) / (time.process_time() - cpu)
        lines.append(
            f"backbone alone (taps {list(backbone.taps)}, {backbone.input_size} px lower face, batch "
            f"{backbone.batch_size}, mirror_average={mirror_average}, torch threads {torch.get_num_threads()}): "
            f"{rate:.1f} images/s ({1000 / rate:.0f} ms/image)"
        )
    return lines


def contract_throughput(bench, models: Models, columns: list[str], data: Path, photos: int = 8) -> str:
    """Images/s on one core (CPU time) of the whole per-image work of a contract computing
    ``columns``: decode, detect, FaceMesh (mirror-consistent), align, the normalizers the
    columns need, their maps and scores, PaDiM, the shape residual."""
    from facial_anomaly.faces import locate_face, render_aligned_face
    from facial_anomaly.features import clear_feature_cache

    config = sys.modules["_bench_set"].preprocess_config()
    needed = sorted({c.split(".")[0] for c in columns if "." in c} & set(NORMALIZERS))
    sources = [item.source for item in bench.select(split="test", family="normal", nuisance="")[:photos]]

    def one(source: str) -> None:
        clear_feature_cache()
        geometry, rgb = locate_face((data / source).read_bytes(), config)
        crop, _ = render_aligned_face(rgb, geometry, config)
        score_face_subset(crop, geometry.aligned_landmarks(), models, needed, columns)

    one(sources[0])
    cpu = time.process_time()
    for source in sources:
        one(source)
    rate = len(sources) / (time.process_time() - cpu)
    return (
        f"contract end to end, {len(columns)} column(s) (decode + detect + FaceMesh ×2 + align + normalizers "
        f"{needed} + maps + PaDiM/shape residual where used): {rate:.2f} images/s ({1000 / rate:.0f} ms/image), one core"
    )


def score_face_subset(image, landmarks, models: Models, normalizers, columns) -> dict:
    """The columns of a contract only (what a scoring stage computing it runs per image)."""
    from facial_anomaly.scoring import score_columns

    return score_columns(
        image,
        landmarks,
        columns,
        normalizers={name: models.normalizers[name] for name in normalizers},
        heatmap_settings=HEATMAP_SETTINGS,
        region_params=REGIONS,
        normal_variation=models.normal_variation,
        padim=models.padim,
        shape_model=models.shape_model,
        top_k_fraction=TOP_K_FRACTION,
    )


# --------------------------------------------------------------------------- report


def _row(name: str, figures: dict, dev: float) -> str:
    families = " ".join(f"{figures[f'auc_{f}']:.2f}" for f in FAMILIES)
    rhos = " ".join(f"{figures[f'rho_{f}']:+.2f}" for f in FAMILIES)
    return (
        f"| {name} | {dev:.3f} | {figures['auc']:.3f} | {families} | {rhos} | {figures['fpr']:.3f} | "
        f"{figures['auc_real_cleft']:.2f} | {figures['auc_real_acne']:.2f} | {100 * figures['mirror_rel']:.1f} | "
        f"{figures['mirror_pct']:.1f} |"
    )


HEADER = (
    "| score | dev AUC | test AUC | AUC per family (" + ", ".join(FAMILIES) + ") | ρ per family | nuisance FPR | "
    "real cleft | real acne | mirror Δ % | mirror Δ pct-pts |\n|---|---|---|---|---|---|---|---|---|---|"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--bench-cache", type=Path, default=DEFAULT_BENCH_CACHE)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--top", type=int, default=25, help="variants listed in the full table (best dev AUC first)")
    parser.add_argument("--throughput-repeats", type=int, default=3)
    parser.add_argument("--markdown", type=Path, default=None, help="also write the tables to this file")
    parser.add_argument("--max-train", type=int, default=None, help="smoke run: fit on this many train faces")
    parser.add_argument("--max-faces", type=int, default=None, help="smoke run: this many dev / test faces per split")
    args = parser.parse_args()
    for folder in (args.cache, args.bench_cache):
        if PROJECT_ROOT in folder.resolve().parents or folder.resolve() == PROJECT_ROOT:
            print("caches must live outside the repository", file=sys.stderr)
            return 1
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    started = time.perf_counter()
    bench = build_bench_set(args.data, args.bench_cache)
    print(bench.summary(), flush=True)
    models = fit_models(bench, args.cache, max_train=args.max_train)
    items = [item for item in bench.items if item.split != "train"]
    if args.max_faces is not None:
        kept = {
            item.source
            for split in ("dev", "test")
            for item in bench.select(split=split, family="normal", nuisance="")[: args.max_faces]
        }
        items = [item for item in items if item.split == "real" or item.source in kept]
    table = score_items(
        items,
        models,
        args.cache,
        workers=args.workers,
        bench_args=(args.data, args.bench_cache),
        max_train=args.max_train,
    )
    print(
        f"scored {len(table)} items; {len(score_columns(table))} score columns ({time.perf_counter() - started:.0f} s)\n",
        flush=True,
    )

    columns = score_columns(table)
    dev = {column: dev_auc(table, column) for column in columns}
    ranked = sorted(columns, key=lambda c: -dev[c] if np.isfinite(dev[c]) else 1.0)
    default_variant = ranked[0]
    inputs = choose_fusion_inputs(table)
    fusion = fit_default_fusion(table, inputs)
    table["fusion"] = fusion.fuse(table)
    dev["fusion"] = dev_auc(table, "fusion")

    out = []
    out.append("### Best variant of each normalizer × kind, PaDiM, shape residual, fusion (test split)\n")
    out.append(HEADER)
    best_of_group: dict[str, str] = {}
    for column in ranked:
        best_of_group.setdefault(group_of(column), column)
    for column in [*best_of_group.values(), "fusion"]:
        out.append(_row(column, evaluate(table, column), dev[column]))
    out.append(f"\n### The {args.top} variants with the best dev AUC (test split)\n")
    out.append(HEADER)
    for column in ranked[: args.top]:
        out.append(_row(column, evaluate(table, column), dev[column]))
    out.append("\n### Summaries: mean dev / test AUC over every variant with that summary\n")
    out.append("| summary | variants | mean dev AUC | mean test AUC | best test AUC |\n|---|---|---|---|---|")
    for summary in ["mean", *SUMMARIES[1:]]:
        chosen = [
            c
            for c in columns
            if "." in c and (c.split("__")[-1] == summary if summary != "mean" else c.count("__") == 1)
        ]
        tests = [evaluate(table, c)["auc"] for c in chosen]
        out.append(
            f"| {summary} | {len(chosen)} | {np.mean([dev[c] for c in chosen]):.3f} | {np.mean(tests):.3f} | {np.max(tests):.3f} |"
        )
    weights = ", ".join(f"{name} {weight:.2f}" for name, weight in zip(fusion.features, fusion.coefficients))
    out.append(
        f"\nfusion (rank_logistic, non-negative, fitted on {int((table['split'] == 'dev').sum())} dev rows): {weights}"
    )
    fused = evaluate(table, "fusion")
    single = evaluate(table, default_variant)
    out.append(
        f"default single variant (best dev AUC {dev[default_variant]:.3f}): {default_variant} → test AUC {single['auc']:.3f}"
    )
    out.append(
        "nuisance FPR of the fusion per variant: "
        + ", ".join(f"{name} {fused[f'fpr_{name}']:.2f}" for name in NUISANCES)
    )
    print("\n".join(out), flush=True)
    used = [column for column, weight in zip(fusion.features, fusion.coefficients) if weight > 0]
    speed = backbone_throughput(bench, models, args.throughput_repeats)
    speed.append("fusion: " + contract_throughput(bench, models, used, args.data))
    speed.append(
        f"default single variant {default_variant}: " + contract_throughput(bench, models, [default_variant], args.data)
    )
    print("\n" + "\n".join(speed), flush=True)
    if args.markdown:
        args.markdown.write_text("\n".join(out + [""] + speed) + "\n")
    print(f"\ntotal {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
