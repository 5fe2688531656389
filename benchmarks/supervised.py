"""Benchmark of the supervised scorer: train on real normal faces, evaluate on held-out people.

    .venv/bin/python benchmarks/supervised.py [--parts pixels ceiling speed main lofo heads siamese]
        [--preset cpu] [--steps N] [--seed N] [--threads 2] [--workers N] [--no-mirror-average]
        [--figure docs/figures/supervised_learning_curves.png]

Data: the detection bench set (benchmarks/_bench_set.py, built at run time from
../shared/data): the normal photos aligned with the default preprocess settings, split by
person into train / dev / test (60 / 20 / 20 %, seed 20240605), the test faces' photo-level
nuisance variants and synthetic anomalies made by the synthesis generators at 512 px, and
the real anomaly photos (7 cleft lips, 7 acne photos). The bench set, prepared faces and
trained checkpoints are cached under ``--cache`` (default in /tmp, never in the
repository); a finished training is reused when its settings and data are the same.

Parts (each prints a table):

* ``pixels``: pixels changed by more than 8 grey levels on the 128 px lower-face view and
  on the 128 px full-face view, per family and severity (median over the test faces);
* ``ceiling``: severity ρ of each synthetic test anomaly's true extent (its change mask),
  over all families and within each — the most a score measuring how much changed can reach;
* ``speed``: ms per fresh training sample and per batch, and seconds per training step of
  the preset's network (same batch), both on this process's threads;
* ``main``: the preset trained on all families: dev AUC per step (learning curve), and on
  the test people — a synthetic test set made by the generator with another seed (test AUC,
  per family, severity ρ over all families and within each), the false-positive rate of
  the capture changes and of the bench set's photo-level nuisance variants at 95 %
  specificity, the bench set's anomalies made
  by other code (the synthesis generators at 512 px, severities 1-4), and the real cleft
  and acne photos against the held-out normal photos, and the median relative difference
  between a test face's score and its mirrored photo's (``--no-mirror-average`` adds the
  same rows scored without the scorer's mirror average);
* ``lofo``: leave-one-family-out — trained without one realistic family, tested on it;
* ``heads``: the preset with each optional head switched the other way (+ severity head,
  − the per-cell dense head);
* ``single``: the single-branch baseline (the face alone; Rosero et al. 2024's baseline);
* ``siamese``: the Siamese comparison with the mirror partner (same encoder, 2× its cost);
* ``fused``: the preset's scorer fused with unsupervised score columns that need no fitted
  model (:data:`FUSED_COLUMNS`, mirror-normalizer PSE) by the default score fusion, fitted
  on full-resolution dev rows (each dev face clean and with 2 fresh anomalies) and measured
  on full-resolution test rows, the photo nuisance variants and the real photos against
  every input alone, and each one's severity ρ over all families and within each;
* ``curves``: no training: adds every finished training of the preset found in the cache
  (all families, the heads, leave-one-family-out) to ``--figure``;
* ``fused_models``: the same with :data:`MODEL_COLUMNS` added — the default variant, z-scored
  variants, PaDiM and the shape residual, their models fitted on the train persons as
  ``fit_normal_models`` fits them (:func:`fit_bench_models`);
* ``landmark_sources``: the scorer alone on the full-resolution test rows, its canvas and
  mirror partner from the source face's landmarks or from FaceMesh's measurement of the row,
  sharper robust fits of the partner's normal shape, and test-time jitter of the landmarks
  (:func:`part_landmark_sources`).

``--figure`` draws every run's dev AUC per step (learning curves).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import sys
import time
from pathlib import Path

import numpy as np

from facial_anomaly.evaluation.metrics import threshold_at_specificity

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
from _shared_data import load_yaml  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("FACIAL_ANOMALY_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
DEFAULT_CACHE = Path("/tmp") / f"facial_anomaly_supervised_bench_{os.getuid()}"
REAL_SETS = {"cleft": "real_cleft", "acne": "real_acne"}  # our name → the bench set's family
SPLIT_SEED = 20240605
FRACTIONS = {"train": 0.6, "dev": 0.2, "test": 0.2}
TEST_SEED = 777_000  # the synthetic test set's generator seed (training and dev use 0 and 1)
FUSION_DEV_SEED, FUSION_TEST_SEED = 555_000, 556_000
FUSED_COLUMNS = ("mirror.pse_ycbcr_eroded__mouth_nose", "mirror.pse_ycbcr_eroded__face_without_eyes__topk")
HEATMAP_SETTINGS = {
    "erosion_size": 3,
    "erosion_iterations": 1,
    "channel_reduction": "sum",
    "kind_options": {"ssim": {"win_size": 7}, "deep": {}},
}
REGIONS = {
    "mouth_nose": {"margin_iod": 0.15},
    "face_without_eyes": {"eye_margin_iod": 0.15},
    "full_face": {},
    "lower_face": {"below_eyes_iod": 0.3},
}
# ``fused_models``: the columns of the models fit_normal_models fits, fitted here on the train persons.
MODEL_COLUMNS = (
    "mirror.deep_base__lower_face__topk",
    "mirror.deep_base__lower_face__ztopk",
    "mirror.ssim_ycbcr_lcn_eroded__lower_face__ztopk",
    "padim__lower_face__topk",
    "shape_residual__lips__mean",
)
# the tail maximum of the fused default (conf/base train_supervised.fusion_tail_max_of)
TAIL_MAX_OF = ("supervised.probability", "shape_residual__lips__mean")


def digest(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_faces(data: Path, cache: Path, workers: int) -> dict:
    """The detection bench set (benchmarks/_bench_set.py): aligned normal faces with persons
    and person-disjoint splits, the test faces' synthetic anomalies made by the synthesis
    generators at 512 px and their photo-level nuisance variants, and the real photos."""
    from _bench_set import build_bench_set

    bench = build_bench_set(data, cache / "bench", anomaly_splits=("test",), nuisance_splits=("test",), workers=workers)
    normals = {"faces": [], "landmarks": [], "persons": [], "names": [], "splits": []}
    for item in bench.select(label=0, nuisance="", split=tuple(FRACTIONS)):
        loaded = item.load()
        normals["faces"].append(loaded.image)
        normals["landmarks"].append(loaded.landmarks)
        normals["persons"].append(item.person)
        normals["names"].append(item.source)
        normals["splits"].append(item.split)
    real = {}
    for name, family in REAL_SETS.items():
        loaded = [item.load() for item in bench.select(split="real", family=family)]
        real[name] = ([x.image for x in loaded], [x.landmarks for x in loaded])
    real["acne_relaxed_pose"] = relaxed_pose_photos(data, "anomalies/acne04v2_samples", cache)
    return {
        "normals": normals,
        "real": real,
        "bench_anomalies": bench.select(split="test", label=1),
        "bench_nuisances": bench.select(split="test", label=0, nuisance=tuple(n for n in bench_nuisances(bench) if n)),
        "bench_clean_test": bench.select(split="test", label=0, nuisance=""),
        "bench_anomalies_real": bench.select(split="real"),
    }


def relaxed_pose_photos(data: Path, folder: str, cache: Path) -> tuple[list, list]:
    """Aligned faces and landmarks of the photos in ``folder`` preprocessed as the bench set
    does but with the pose check relaxed (|yaw|, |pitch| up to 90°, any visible fraction):
    the ACNE04 close-ups are oblique, and the default pose check rejects 6 of the 7."""
    from _bench_set import measure_landmarks, preprocess_config

    from facial_anomaly.faces import locate_face, render_aligned_face

    config = preprocess_config()
    config["pose"] = {**config.get("pose", {}), "max_yaw_degrees": 90.0, "max_pitch_degrees": 90.0}
    config["pose"]["min_visible_fraction"] = 0.0
    faces, landmarks = [], []
    for photo in sorted((data / folder).glob("*.jpg")):
        path = cache / "relaxed_pose" / f"{digest(str(photo.relative_to(data)), config)}.npz"
        if not path.exists():
            geometry, rgb = locate_face(photo.read_bytes(), config)
            if not geometry.ok:
                print(f"  {photo.name}: rejected even with the pose check relaxed ({geometry.status})")
                continue
            crop, _ = render_aligned_face(rgb, geometry, config)
            points = measure_landmarks(crop, config, fallback=geometry.aligned_landmarks())
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path.with_suffix(".tmp.npz"), image=crop, landmarks=points)
            path.with_suffix(".tmp.npz").replace(path)
        with np.load(path, allow_pickle=False) as archive:
            faces.append(archive["image"])
            landmarks.append(archive["landmarks"])
    return faces, landmarks


def bench_nuisances(bench) -> list[str]:
    return sorted({item.nuisance for item in bench.items})


def score_items(scorer, items, batch: int = 32):
    """Probabilities of bench items, loaded ``batch`` at a time."""
    out = []
    for start in range(0, len(items), batch):
        loaded = [item.load() for item in items[start : start + batch]]
        probability, _ = scorer.score_batch([x.image for x in loaded], [x.landmarks for x in loaded])
        out.append(probability)
    return np.concatenate(out) if out else np.zeros(0)


def prepared_faces(normals: dict, config, synth: dict, cache: Path, workers: int) -> dict:
    """Split → prepared faces (cached per crop settings and synthesis parameters)."""
    from facial_anomaly.supervised.fresh import AnomalyConfig, prepare_faces

    key = digest(config.scorer.crops.model_dump(mode="json"), synth["lip_lt_v1"], synth["palsy"], normals["names"])
    path = cache / "prepared" / f"{key}.pkl"
    if path.exists():
        with open(path, "rb") as handle:
            return pickle.load(handle)  # our own cache file, written below by this script
    started = time.perf_counter()
    out = {}
    for split in FRACTIONS:
        index = [i for i, s in enumerate(normals["splits"]) if s == split]
        out[split] = prepare_faces(
            [normals["faces"][i] for i in index],
            [normals["landmarks"][i] for i in index],
            synth_params=synth,
            crops=config.scorer.crops,
            anomalies=AnomalyConfig(),  # every warp family prepared; a run's weights choose what is drawn
            names=[normals["names"][i] for i in index],
            workers=workers,
        )
    print(f"prepared {len(normals['names'])} faces in {time.perf_counter() - started:.0f} s", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".tmp"), "wb") as handle:
        pickle.dump(out, handle)
    path.with_suffix(".tmp").replace(path)
    return out


# ---------------------------------------------------------------------------- parts


def part_pixels(prepared: dict, synth: dict) -> None:
    from facial_anomaly.supervised.crops import CropConfig, cut_view
    from facial_anomaly.supervised.fresh import FAMILIES, AnomalyConfig, changed_pixels, draw_anomaly

    crops, config = CropConfig(), AnomalyConfig()
    faces = prepared["test"][:40]
    print("\nPixels changed by > 8 grey levels (median over 40 test faces; lower-face view / full-face view, 128 px):")
    print("| family | severity 1 | severity 2 | severity 3 | severity 4 |")
    print("|---|---|---|---|---|")
    for family in FAMILIES:
        cells = []
        for severity in (1, 2, 3, 4):
            counts = []
            for i, face in enumerate(faces):
                if family in ("lip", "palsy") and family not in face.fields:
                    continue
                rng = np.random.default_rng([severity, i])
                image = draw_anomaly(face, face.canvas.image, family, severity, rng, synth_params=synth, config=config)
                counts.append(
                    [
                        changed_pixels(cut_view(face.canvas.image, v, crops), cut_view(image, v, crops), 8.0).sum()
                        for v in ("lower", "full")
                    ]
                )
            lower, full = np.median(np.array(counts), axis=0)
            cells.append(f"{lower:.0f} / {full:.0f}")
        print(f"| {family} | " + " | ".join(cells) + " |")


def part_ceiling(prepared: dict, synth: dict, config) -> None:
    """Severity ρ of the true extent of each test anomaly (its change mask, known to the
    generator): what a score measuring only how much of the face changed could reach."""
    from facial_anomaly.supervised.assess import synthetic_test_set
    from facial_anomaly.supervised.trainer import severity_spearman

    test = synthetic_test_set(prepared["test"], seed=TEST_SEED, config=config, synth_params=synth)
    masks = test.masks.numpy()
    table = test.table
    anomalous = table["label"].to_numpy() == 1
    families = table["family"].to_numpy(dtype=object)
    measures = {
        "changed area, both views": (masks > 0).sum(axis=(1, 2, 3)),
        "change mass, both views": masks.sum(axis=(1, 2, 3)),
    }
    names = sorted(set(families[anomalous]))
    print("\nSeverity ρ of the true extent of the synthetic test anomalies (the ceiling of a visibility measure):")
    print("| measure | all | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for label, values in measures.items():
        cells = [severity_spearman(values, table)]
        cells += [severity_spearman(values[families == family], table[families == family]) for family in names]
        print(f"| {label} | " + " | ".join(f"{value:.2f}" for value in cells) + " |")


def part_speed(prepared: dict, synth: dict, config) -> None:
    import torch

    from facial_anomaly.supervised.fresh import make_sample
    from facial_anomaly.supervised.networks import AnomalyNet
    from facial_anomaly.supervised.trainer import make_batch

    faces = prepared["train"]
    rng = np.random.default_rng(0)
    started, count = time.perf_counter(), 0
    for i in range(200):
        make_sample(
            faces[i % len(faces)],
            rng,
            anomalous=bool(i % 2),
            synth_params=synth,
            anomalies=config.anomalies,
            capture=config.capture,
            partner=config.scorer.partner_kind,
        )
        count += 1
    per_sample = (time.perf_counter() - started) / count
    job = {
        "faces": faces,
        "faces_per_batch": config.training.faces_per_batch,
        "synth_params": synth,
        "anomalies": config.anomalies,
        "capture": config.capture,
        "scorer": config.scorer,
    }
    started = time.perf_counter()
    batches = [make_batch((1, k), **job) for k in range(10)]
    per_batch = (time.perf_counter() - started) / 10
    network = AnomalyNet(config.scorer.network)
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-3)
    tensors = [{k: None if v is None else torch.from_numpy(v) for k, v in b.items()} for b in batches]
    times = []
    for batch in tensors:
        started = time.perf_counter()
        out = network(batch["faces"], batch["partners"])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out["logit"], batch["labels"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    step = float(np.median(times[1:]))
    samples = 2 * config.training.faces_per_batch
    print(f"\nSpeed ({torch.get_num_threads()} torch threads, load {os.getloadavg()[0]:.1f}):")
    print("| what | time |")
    print("|---|---|")
    print(f"| fresh sample (anomaly + capture changes) | {per_sample * 1e3:.1f} ms |")
    print(
        f"| batch of {samples} samples with views | {per_batch * 1e3:.0f} ms ({per_batch / samples * 1e3:.1f} ms/sample) |"
    )
    print(f"| network step on that batch | {step * 1e3:.0f} ms |")
    print(f"| generation / network | {per_batch / step:.2f} |")


# Settings added after runs were cached, at the values that train as before: left out of the
# cache key, so those runs stay valid.
NEUTRAL_LATER_SETTINGS = {
    ("anomalies", "landmark_follow"): [0.0, 0.0],
    ("training", "precision"): "float32",
    ("training", "anomaly_target"): "binary",
    ("training", "grade_weight"): 0.5,
}


def run_folder(name: str, config, data: dict, synth: dict, cache: Path) -> Path:
    """Where the training ``name`` of ``config`` on the bench set's faces is cached."""
    normals = data["normals"]
    settings = config.model_dump(mode="json")
    for (block, key), neutral in NEUTRAL_LATER_SETTINGS.items():
        if settings[block].get(key) == neutral:
            del settings[block][key]
    key = digest(settings, normals["names"], normals["splits"], synth["acne"], SPLIT_SEED)
    return cache / "runs" / f"{name}-{key}"


def head_variants(config) -> dict:
    """The preset with each optional head switched the other way (the CPU preset has the
    per-cell head and no severity head: "+ severity head", "− dense head") and, with the
    per-cell head, its other target ("share-target dense head")."""
    network = config.scorer.network
    variants = {}
    for head in ("severity", "dense"):
        field = f"{head}_head"
        label = f"{'−' if getattr(network, field) else '+'} {head} head"
        update = {field: not getattr(network, field)}
        variants[label] = config.model_copy(
            update={"scorer": config.scorer.model_copy(update={"network": network.model_copy(update=update)})}
        )
    if network.dense_head:  # the per-cell head trained on the share of each cell changed, not on "changed"
        other = "binary" if config.training.dense_target == "share" else "share"
        variants[f"{other}-target dense head"] = config.model_copy(
            update={"training": config.training.model_copy(update={"dense_target": other})}
        )
    return variants


def without_family(config, family: str):
    """The preset trained without one anomaly family (leave-one-family-out)."""
    return config.model_copy(update={"anomalies": config.anomalies.without(family)})


def cache_name(label: str) -> str:
    return label.replace(" ", "").replace("+", "with_").replace("−", "without_")


def train_cached(name: str, config, data: dict, prepared: dict, synth: dict, cache: Path) -> dict:
    """Train (or reuse) a scorer; returns {"checkpoint", "history", "seconds", "config"}."""
    import pandas as pd

    from facial_anomaly.supervised.trainer import train

    normals = data["normals"]
    folder = run_folder(name, config, data, synth, cache)
    if (folder / "done.json").exists():
        print(f"{name}: reusing {folder}", flush=True)
        return {
            "checkpoint": (folder / "scorer.pt").read_bytes(),
            "history": pd.read_csv(folder / "history.csv"),
            "seconds": json.loads((folder / "done.json").read_text())["seconds"],
            "config": config,
        }
    print(f"{name}: training {config.training.steps} steps", flush=True)

    def show(report) -> None:
        families = {k[8:]: round(v, 2) for k, v in report.evaluation.items() if k.startswith("dev_auc.")}
        print(
            f"  {name} step {report.step}: loss {report.losses['loss']:.3f} dev AUC "
            f"{report.evaluation['dev_auc']:.3f} (smoothed {report.selection:.3f}) {report.seconds:.0f} s {families}",
            flush=True,
        )

    index = [i for i, s in enumerate(normals["splits"]) if s in ("train", "dev")]
    trained = train(
        [normals["faces"][i] for i in index],
        [normals["landmarks"][i] for i in index],
        [normals["splits"][i] for i in index],
        synth_params=synth,
        config=config,
        persons=[normals["persons"][i] for i in index],
        names=[normals["names"][i] for i in index],
        prepared={"train": prepared["train"], "dev": prepared["dev"]},
        on_round_end=show,
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scorer.pt").write_bytes(trained.checkpoint)
    trained.history.to_csv(folder / "history.csv", index=False)
    (folder / "done.json").write_text(json.dumps({"seconds": trained.seconds}))
    print(f"{name}: {trained.seconds}", flush=True)
    return {"checkpoint": trained.checkpoint, "history": trained.history, "seconds": trained.seconds, "config": config}


def evaluate_run(run: dict, data: dict, prepared: dict, synth: dict, *, real: bool = True, mirror_average: bool = True):
    """The scorer's evaluation (facial_anomaly.supervised.assess) plus the bench set's parts:
    its photo-level nuisance variants (FPR at 95 % specificity of the clean test faces; the
    median relative difference between a clean test face and its mirrored photo, landmarks
    detected again) and its synthetic anomalies made by the synthesis generators at 512 px
    (AUC per family)."""
    from sklearn.metrics import roc_auc_score

    from facial_anomaly.supervised.assess import evaluate
    from facial_anomaly.supervised.scorer import load_scorer

    normals = data["normals"]
    test = [i for i, s in enumerate(normals["splits"]) if s == "test"]
    scorer = load_scorer(run["checkpoint"], "cpu", mirror_average=mirror_average)
    evaluation = evaluate(
        scorer,
        prepared["test"],
        config=run["config"],
        synth_params=synth,
        seed=TEST_SEED,
        real=data["real"] if real else None,
        real_normals=([normals["faces"][i] for i in test], [normals["landmarks"][i] for i in test]) if real else None,
    )
    if real:
        clean = score_items(scorer, data["bench_clean_test"])
        threshold = threshold_at_specificity(clean, 0.95)
        variants = data["bench_nuisances"]
        variant_scores = score_items(scorer, variants)
        evaluation.metrics["photo_nuisance_fpr"] = float((variant_scores > threshold).mean())
        for name in sorted({item.nuisance for item in variants}):
            chosen = np.array([item.nuisance == name for item in variants])
            evaluation.metrics[f"photo_nuisance_fpr.{name}"] = float((variant_scores[chosen] > threshold).mean())
        clean_by_source = dict(zip((item.source for item in data["bench_clean_test"]), clean))
        pairs = np.array(
            [
                (clean_by_source[item.source], score)
                for item, score in zip(variants, variant_scores)
                if item.nuisance == "mirror" and item.source in clean_by_source
            ]
        )
        if len(pairs):
            from _bench_set import mirror_relative_difference

            evaluation.metrics["mirror_rel"] = mirror_relative_difference(pairs[:, 0], pairs[:, 1])
        anomalies = data["bench_anomalies"]
        anomaly_scores = score_items(scorer, anomalies)
        labels = np.r_[np.zeros(len(clean)), np.ones(len(anomalies))]
        evaluation.metrics["other_code_auc"] = float(roc_auc_score(labels, np.r_[clean, anomaly_scores]))
        for family in sorted({item.family for item in anomalies}):
            chosen = np.array([item.family == family for item in anomalies])
            evaluation.metrics[f"other_code_auc.{family}"] = float(
                roc_auc_score(np.r_[np.zeros(len(clean)), np.ones(chosen.sum())], np.r_[clean, anomaly_scores[chosen]])
            )
    return evaluation


def print_main_table(rows: dict) -> None:
    from facial_anomaly.supervised.fresh import FAMILIES

    columns = [
        ("test AUC", "test_auc", 3),
        *[(family, f"test_auc.{family}", 3) for family in FAMILIES],
        ("severity ρ", "test_severity_rho", 2),
        *[(f"ρ {family}", f"test_severity_rho.{family}", 2) for family in FAMILIES],
        ("capture FPR", "nuisance_fpr", 3),
        ("photo nuisance FPR", "photo_nuisance_fpr", 3),
        ("other-code AUC", "other_code_auc", 3),
        ("real cleft", "real_auc.cleft", 3),
        ("real acne", "real_auc.acne", 3),
        ("real acne, pose check relaxed", "real_auc.acne_relaxed_pose", 3),
        ("face vs mirror Δ", "mirror_rel", 3),
    ]
    print("\n| run | " + " | ".join(name for name, _, _ in columns) + " | train s |")
    print("|---|" + "---|" * (len(columns) + 1))
    for name, (metrics, seconds) in rows.items():
        cells = [f"{metrics.get(key, float('nan')):.{digits}f}" for _, key, digits in columns]
        print(f"| {name} | " + " | ".join(cells) + f" | {seconds.get('train', float('nan')):.0f} |")
    print("\nPer-change false-positive rates and other-code AUC per family:")
    for name, (metrics, _) in rows.items():
        details = {
            k: round(v, 3)
            for k, v in metrics.items()
            if k.split(".")[0] in ("nuisance_fpr", "photo_nuisance_fpr", "other_code_auc") and "." in k
        }
        print(f"  {name}: {details}")


def fit_bench_models(data: dict, cache: Path) -> dict:
    """The shape model, PaDiM and the mirror normal-variation maps of MODEL_COLUMNS, fitted on
    the train persons' aligned faces as ``fit_normal_models`` fits them (cached)."""
    from facial_anomaly.normalizers import ShapeModel
    from facial_anomaly.normalizers.mirror import MirrorNormalizer
    from facial_anomaly.scoring import PadimConfig, PadimScorer, variant_maps
    from facial_anomaly.scoring.normal_variation import (
        NormalVariation,
        NormalVariationConfig,
        NormalVariationFitter,
    )

    normals = data["normals"]
    index = [i for i, s in enumerate(normals["splits"]) if s == "train"]
    folder = cache / "fused_models" / digest([normals["names"][i] for i in index], 1)
    folder.mkdir(parents=True, exist_ok=True)
    faces = [normals["faces"][i][..., :3] for i in index]
    points = [normals["landmarks"][i] for i in index]
    started = time.perf_counter()
    if not (folder / "shape_model.npz").exists():
        params = load_yaml("parameters_fit_normal_models.yml")["fit_normal_models"]["shape_model"]
        ShapeModel.fit(points, **params).save(folder / "shape_model.npz")
    if not (folder / "padim.npz").exists():
        PadimScorer.fit(faces, points, PadimConfig()).save(folder / "padim.npz")
    if not (folder / "normal_variation.npz").exists():
        grid = {"kinds": ["deep", "ssim"], "color_spaces": ["rgb", "ycbcr"], "erosion": [False, True],
                "lcn": [False, True], "regions": ["lower_face"]}  # fmt: skip
        fitter = NormalVariationFitter(NormalVariationConfig())
        mirror = MirrorNormalizer()
        for face, landmarks in zip(faces, points):
            normalized = mirror.normalize(face, landmarks).image
            fitter.add("mirror", variant_maps(face, normalized, landmarks, grid=grid, **HEATMAP_SETTINGS))
        fitter.finish().save(folder / "normal_variation.npz")
    print(f"  models of {len(index)} train faces: {time.perf_counter() - started:.0f} s ({folder})", flush=True)
    return {
        "shape_model": ShapeModel.load(folder / "shape_model.npz"),
        "padim": PadimScorer.load(folder / "padim.npz"),
        "normal_variation": NormalVariation.load(folder / "normal_variation.npz"),
    }


def part_fused(
    run: dict,
    data: dict,
    synth: dict,
    columns=None,
    models=None,
    test_anomalies: int = 2,
    measure_landmarks: bool = False,
    save_tables: Path | None = None,
    partner_shape: bool = True,
) -> None:
    """The fused default score against its inputs (see the module docstring); ``columns``
    (default FUSED_COLUMNS) with the fitted ``models`` they need; ``test_anomalies`` per
    test face. Two fusions: the default graded one (fitted to the drawn severities) and the
    one fitted to the 0/1 label only."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from facial_anomaly.normalizers.mirror import MirrorNormalizer
    from facial_anomaly.supervised.fused import (
        PROBABILITY_COLUMN,
        columns_scorer,
        fit_default_fusion,
        full_resolution_samples,
        score_table,
    )
    from facial_anomaly.supervised.scorer import load_scorer

    started = time.perf_counter()
    shape_model = (models or {}).get("shape_model") if partner_shape else None
    scorer = load_scorer(run["checkpoint"], "cpu", partner_shape=shape_model)
    print(f"  scorer's mirror partner on {'the normal shape' if shape_model else 'the measured landmarks'}")
    columns = tuple(columns or FUSED_COLUMNS)
    unsupervised = columns_scorer(
        columns,
        normalizers={"mirror": MirrorNormalizer()},
        heatmap_settings=HEATMAP_SETTINGS,
        region_params=REGIONS,
        **(models or {}),
    )
    normals = data["normals"]
    tables = {}
    for split, seed in (("dev", FUSION_DEV_SEED), ("test", FUSION_TEST_SEED)):
        index = [i for i, s in enumerate(normals["splits"]) if s == split]
        samples, names, points = full_resolution_samples(
            [normals["faces"][i] for i in index],
            [normals["landmarks"][i] for i in index],
            [normals["names"][i] for i in index],
            seed=seed,
            config=run["config"],
            synth_params=synth,
            anomalous_per_face=test_anomalies if split == "test" else 2,
            measure_landmarks=measure_landmarks,
        )
        tables[split] = score_table(scorer, samples, names, points, unsupervised=unsupervised)
        if save_tables is not None:
            save_tables.mkdir(parents=True, exist_ok=True)
            tables[split].to_csv(save_tables / f"fusion_{split}.csv", index=False)
    fusion = fit_default_fusion(tables["dev"], unsupervised_columns=columns, checkpoint=run["checkpoint"])
    binary = fit_default_fusion(
        tables["dev"], unsupervised_columns=columns, checkpoint=run["checkpoint"], target="label"
    )
    tail_max = fit_default_fusion(
        tables["dev"], unsupervised_columns=columns, checkpoint=run["checkpoint"], tail_max_of=TAIL_MAX_OF
    )

    def rows_of(items) -> pd.DataFrame:
        out = []
        for item in items:
            loaded = item.load()
            probability, severity = scorer.score_batch([loaded.image], [loaded.landmarks])
            out.append(
                {
                    PROBABILITY_COLUMN: float(probability[0]),
                    **unsupervised(loaded.image, loaded.landmarks),
                    "family": item.family,
                    "nuisance": item.nuisance,
                }
            )
        return pd.DataFrame(out)

    clean = rows_of(data["bench_clean_test"])
    variants = rows_of(data["bench_nuisances"])
    real = rows_of(
        [item for name in REAL_SETS.values() for item in data["bench_anomalies_real"] if item.family == name]
    )
    relaxed = []
    for image, points in zip(*data["real"]["acne_relaxed_pose"]):
        probability, _ = scorer.score_batch([image], [points])
        relaxed.append({PROBABILITY_COLUMN: float(probability[0]), **unsupervised(image, points), "family": "relaxed"})
    real = pd.concat([real, pd.DataFrame(relaxed)], ignore_index=True)
    inputs = [PROBABILITY_COLUMN, *columns]
    fused = {"fused, fitted to the 0/1 label": binary, "fused": fusion}
    if TAIL_MAX_OF[1] in columns:
        fused["fused with the tail maximum"] = tail_max
    print(
        f"\nFused default score (graded weights {dict(zip(fusion.features, np.round(fusion.coefficients, 3)))}; "
        f"0/1 weights {dict(zip(binary.features, np.round(binary.coefficients, 3)))}; "
        f"with the tail maximum {dict(zip(tail_max.features, np.round(tail_max.coefficients, 3)))}; "
        f"{time.perf_counter() - started:.0f} s; {int((tables['test']['label'] == 1).sum())} anomalous and "
        f"{int((tables['test']['label'] == 0).sum())} clean test rows):"
    )
    print(
        "| score | test AUC | "
        + " | ".join(sorted(set(tables["test"]["family"]) - {"normal"}))
        + " | photo nuisance FPR | real cleft | real acne | real acne, pose check relaxed |"
    )
    print("|---|---|" + "---|" * (len(set(tables["test"]["family"])) - 1) + "---|---|---|---|")
    for name in [*inputs, *fused]:

        def values(table):
            return fused[name].fuse(table) if name in fused else table[name].to_numpy(dtype=float)

        test = tables["test"]
        scores = values(test)
        cells = [f"{roc_auc_score(test['label'], scores):.3f}"]
        normal = test["label"].to_numpy() == 0
        for family in sorted(set(test["family"]) - {"normal"}):
            chosen = normal | (test["family"] == family).to_numpy()
            cells.append(f"{roc_auc_score(test['label'][chosen], scores[chosen]):.3f}")
        threshold = threshold_at_specificity(values(clean), 0.95)
        cells.append(f"{(values(variants) > threshold).mean():.3f}")
        for family in [*REAL_SETS.values(), "relaxed"]:
            chosen = (real["family"] == family).to_numpy()
            anomalous = values(real)[chosen]
            labels = np.r_[np.zeros(len(clean)), np.ones(len(anomalous))]
            cells.append(f"{roc_auc_score(labels, np.r_[values(clean), anomalous]):.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print_severity_table(tables["test"], [*inputs, *fused], fused)
    for name in ("fused", "fused with the tail maximum"):
        if name in fused:
            print(f"\n{name}:")
            print_fused_against_best_input(
                tables["test"],
                fused[name].fuse(tables["test"]),
                {name: tables["test"][name].to_numpy(float) for name in inputs},
            )


def part_landmark_sources(run: dict, data: dict, synth: dict, models: dict, test_anomalies: int) -> None:
    """Where the scorer's probability loses on measured landmarks: the full-resolution test
    rows of ``fused_models`` (``test_anomalies`` per test face) scored with the canvas (crop)
    and the mirror partner's normal shape taken from the source face's landmarks or from
    FaceMesh's measurement of the row, with the partner on sharper robust shape fits
    (Tukey c 3 and 2 instead of 4.685: more points count as outliers and go to the fit), and
    averaged over six test-time jitters of the measured landmarks (±2 px shifts, ×0.97 and
    ×1.03 about the eye midpoint, aligned-face pixels). AUC and severity ρ, all families and
    within each."""
    import pandas as pd

    from facial_anomaly.faces.alignment import transform_points
    from facial_anomaly.faces.landmarks import eye_centers
    from facial_anomaly.scoring.shape_residual import ShapeResidualConfig, normal_shape_landmarks
    from facial_anomaly.supervised.fused import full_resolution_samples, measured_landmarks
    from facial_anomaly.supervised.scorer import load_scorer
    from facial_anomaly.supervised.trainer import detection_metrics

    started = time.perf_counter()
    scorer = load_scorer(run["checkpoint"], "cpu")
    shape = models["shape_model"]
    normals = data["normals"]
    index = [i for i, s in enumerate(normals["splits"]) if s == "test"]
    samples, _, source = full_resolution_samples(
        [normals["faces"][i] for i in index],
        [normals["landmarks"][i] for i in index],
        [normals["names"][i] for i in index],
        seed=FUSION_TEST_SEED,
        config=run["config"],
        synth_params=synth,
        anomalous_per_face=test_anomalies,
    )
    measured = measured_landmarks(samples, source)
    table = pd.DataFrame(
        {"label": [s.label for s in samples], "severity": [s.severity for s in samples],
         "family": [s.family for s in samples]}
    )  # fmt: skip
    images = [sample.image for sample in samples]

    def probability(crop_points, partner_shapes, batch: int = 32) -> np.ndarray:
        out = []
        for start in range(0, len(images), batch):
            chunk = slice(start, start + batch)
            canvases = scorer.canvases(images[chunk], crop_points[chunk])
            targets = [transform_points(p, c.matrix) for c, p in zip(canvases, partner_shapes[chunk])]
            out.append(scorer.score_canvases(canvases, batch_size=batch, partner_landmarks=targets)[0])
        return np.concatenate(out)

    def jittered(points, dx, dy, factor):
        centre = 0.5 * np.add(*eye_centers(points))
        moved = np.asarray(points, dtype=np.float64).copy()
        moved[:, :2] = (moved[:, :2] - centre) * factor + centre + (dx, dy)
        return moved

    def fitted(points_list, config=None):
        return [normal_shape_landmarks(p, shape, config) for p in points_list]

    on_source, on_measured = fitted(source), fitted(measured)
    rows = {
        "crop source, partner fitted to source": probability(source, on_source),
        "crop measured, partner fitted to measured (default)": probability(measured, on_measured),
        "crop source, partner fitted to measured": probability(source, on_measured),
        "crop measured, partner fitted to source": probability(measured, on_source),
    }
    for tuning in (3.0, 2.0):
        rows[f"default, partner fit Tukey c {tuning:g}"] = probability(
            measured, fitted(measured, ShapeResidualConfig(robust_tuning=tuning))
        )
    jitters = [(2, 0, 1.0), (-2, 0, 1.0), (0, 2, 1.0), (0, -2, 1.0), (0, 0, 1.03), (0, 0, 0.97)]
    scores = [rows["crop measured, partner fitted to measured (default)"]]
    for dx, dy, factor in jitters:
        moved = [jittered(p, dx, dy, factor) for p in measured]
        scores.append(probability(moved, fitted(moved)))
    rows["default, mean over itself and 6 jitters"] = np.mean(scores, axis=0)
    families = sorted(set(table["family"]) - {"normal"})
    print(
        f"\nScorer probability on the full-resolution test rows by landmark source ({len(table)} rows, "
        f"{time.perf_counter() - started:.0f} s); AUC, then severity ρ:"
    )
    print(
        "| rows scored with | AUC | "
        + " | ".join(families)
        + " | ρ all | "
        + " | ".join(f"ρ {f}" for f in families)
        + " |"
    )
    print("|---|" + "---|" * (2 * len(families) + 2))
    for name, values in rows.items():
        metrics = detection_metrics(values, np.full(len(values), np.nan), table, "")
        cells = [f"{metrics['auc']:.3f}", *(f"{metrics[f'auc.{f}']:.3f}" for f in families)]
        cells += [f"{metrics['severity_rho']:+.2f}", *(f"{metrics[f'severity_rho.{f}']:+.2f}" for f in families)]
        print(f"| {name} | " + " | ".join(cells) + " |")


def print_severity_table(test, names, fused: dict) -> None:
    """Spearman ρ of each score against the drawn severity over the anomalous test rows, all
    families and within each (the synthetic test rows of part_fused); for the fused scores
    also the 95 % percentile-bootstrap interval of each ρ (facial_anomaly.evaluation)."""
    from facial_anomaly.evaluation.metrics import bootstrap_correlation
    from facial_anomaly.supervised.trainer import severity_spearman

    families = sorted(set(test["family"]) - {"normal"})
    print("\nSeverity Spearman ρ over the anomalous test rows:")
    print("| score | all | " + " | ".join(families) + " |")
    print("|---|---|" + "---|" * len(families))
    anomalous = (test["label"] == 1).to_numpy()
    for name in names:
        scores = fused[name].fuse(test) if name in fused else test[name].to_numpy(dtype=float)
        cells = [f"{severity_spearman(scores, test):+.2f}"]
        for family in families:
            chosen = (test["family"] == family).to_numpy()
            cells.append(f"{severity_spearman(scores[chosen], test[chosen]):+.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
        if name in fused:
            intervals = []
            for family in ["all", *families]:
                chosen = anomalous if family == "all" else (test["family"] == family).to_numpy()
                ci = bootstrap_correlation(
                    scores[chosen], test["severity"].to_numpy(float)[chosen],
                    method="spearman", n_boot=2000, ci_level=0.95, seed=0,
                )  # fmt: skip
                intervals.append(f"[{ci['ci_low']:+.2f}, {ci['ci_high']:+.2f}]")
            print(f"| {name}, 95 % interval | " + " | ".join(intervals) + " |")


def print_fused_against_best_input(test, fused_scores, inputs: dict, boots: int = 2000) -> None:
    """Test AUC, overall and per family, of the fused score minus that of the best input on
    that line, with a 95 % interval from a paired bootstrap over the test faces (a face's
    clean and anomalous rows are drawn together; every score sees the same draw)."""
    from sklearn.metrics import roc_auc_score

    faces = test["face"].to_numpy()
    names = np.unique(faces)
    rows_of = {name: np.flatnonzero(faces == name) for name in names}
    labels = test["label"].to_numpy()
    families = test["family"].to_numpy()
    lines = ["all", *sorted(set(families) - {"normal"})]
    rng = np.random.default_rng(0)
    draws = [np.concatenate([rows_of[n] for n in rng.choice(names, len(names))]) for _ in range(boots)]

    def auc(scores, line, rows):
        chosen = rows if line == "all" else rows[(labels[rows] == 0) | (families[rows] == line)]
        return roc_auc_score(labels[chosen], scores[chosen])

    everything = np.arange(len(test))
    print("Fused AUC − the best input's AUC on each line (paired bootstrap over the test faces):")
    print("| line | best input | its AUC | fused − best | 95 % interval |")
    print("|---|---|---|---|---|")
    for line in lines:
        full = {name: auc(scores, line, everything) for name, scores in inputs.items()}
        best = max(full, key=full.get)
        gap = auc(fused_scores, line, everything) - full[best]
        sampled = [auc(fused_scores, line, rows) - auc(inputs[best], line, rows) for rows in draws]
        low, high = np.percentile(sampled, [2.5, 97.5])
        print(f"| {line} | {best} | {full[best]:.3f} | {gap:+.3f} | [{low:+.3f}, {high:+.3f}] |")


def draw_curves(histories: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4), dpi=120)
    for name, history in histories.items():
        axis.plot(history["step"], history["dev_auc"], label=name, linewidth=1.2)
    axis.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
    axis.set_xlabel("training step")
    axis.set_ylabel("dev AUC (synthetic, person-disjoint)")
    axis.set_title("Supervised scorer: learning curves")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    print(f"\nlearning curves: {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--parts", nargs="+", default=["pixels", "speed", "main"])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    parser.add_argument("--seed", type=int, default=None, help="override the preset's training seed")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument(
        "--faces-per-batch", type=int, default=None, help="override the preset's faces per training step"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="processes making training batches (default: the preset's)"
    )
    parser.add_argument(
        "--precision",
        choices=["float32", "bfloat16", "auto"],
        default=None,
        help="arithmetic of the training steps (default: the preset's)",
    )
    parser.add_argument(
        "--memory-format",
        choices=["channels_last", "contiguous"],
        default=None,
        help="the network's layout while training (default: the preset's)",
    )
    parser.add_argument(
        "--anomaly-target",
        choices=["binary", "graded"],
        default=None,
        help="the anomaly logit's training target (default: the preset's)",
    )
    parser.add_argument(
        "--channels",
        type=int,
        nargs="+",
        default=None,
        help="small_cnn: output channels per conv (default: the preset's)",
    )
    parser.add_argument("--prepare-workers", type=int, default=2)
    parser.add_argument(
        "--lofo", nargs="+", default=None, help="families held out in turn (default: the realistic ones)"
    )
    parser.add_argument("--figure", type=Path, default=None)
    parser.add_argument(
        "--fusion-test-anomalies", type=int, default=2, help="anomalies per test face in fused/fused_models (default 2)"
    )
    parser.add_argument(
        "--measure-landmarks",
        action="store_true",
        help="fused_models: FaceMesh measures every full-resolution row (default: the source face's landmarks)",
    )
    parser.add_argument(
        "--no-partner-shape",
        action="store_true",
        help="fused_models: the scorer's mirror partner on the measured landmarks, not on the shape model's fit",
    )
    parser.add_argument(
        "--save-tables", type=Path, default=None, help="fused/fused_models: write the dev and test rows here as CSV"
    )
    parser.add_argument(
        "--landmark-follow",
        type=float,
        nargs=2,
        default=None,
        metavar=("LOW", "HIGH"),
        help="override the preset's anomalies.landmark_follow (the share of each warp the partner's landmarks follow)",
    )
    parser.add_argument(
        "--no-mirror-average", action="store_true", help="also evaluate each run scoring the inputs only as given"
    )
    args = parser.parse_args()
    if not (args.data / "MANIFEST.csv").exists():
        print(f"shared face data not found at {args.data}", file=sys.stderr)
        return 1
    if PROJECT_ROOT in args.cache.resolve().parents or args.cache.resolve() == PROJECT_ROOT:
        print("the cache must live outside the repository", file=sys.stderr)
        return 1

    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(args.threads)
    from facial_anomaly.supervised.fresh import REALISTIC_FAMILIES
    from facial_anomaly.supervised.trainer import preset
    from facial_anomaly.synthesis.config import SynthesizeConfig

    synth = SynthesizeConfig.model_validate(load_yaml("parameters_synthesize.yml")["synthesize"]).parameters()
    config = preset(args.preset)
    training = {} if args.workers is None else {"workers": args.workers}
    if args.steps is not None:
        training["steps"] = args.steps
    if args.seed is not None:
        training["seed"] = args.seed
    if args.faces_per_batch is not None:
        training["faces_per_batch"] = args.faces_per_batch
    if args.precision is not None:
        training["precision"] = args.precision
    if args.anomaly_target is not None:
        training["anomaly_target"] = args.anomaly_target
    if args.memory_format is not None:
        training["memory_format"] = args.memory_format
    config = config.model_copy(update={"training": config.training.model_copy(update=training)})
    if args.channels is not None:
        network = config.scorer.network.model_validate(
            {**config.scorer.network.model_dump(), "channels": tuple(args.channels)}
        )
        config = config.model_copy(update={"scorer": config.scorer.model_copy(update={"network": network})})
    if args.landmark_follow is not None:
        anomalies = config.anomalies.model_validate(
            {**config.anomalies.model_dump(), "landmark_follow": tuple(args.landmark_follow)}
        )
        config = config.model_copy(update={"anomalies": anomalies})
    data = load_faces(args.data, args.cache, args.prepare_workers)
    counts = {split: data["normals"]["splits"].count(split) for split in FRACTIONS}
    print(
        f"{len(data['normals']['names'])} normal faces ({len(set(data['normals']['persons']))} persons): {counts}; "
        f"real: { {k: len(v[0]) for k, v in data['real'].items()} }",
        flush=True,
    )
    prepared = prepared_faces(data["normals"], config, synth, args.cache, args.prepare_workers)
    if "pixels" in args.parts:
        part_pixels(prepared, synth)
    if "speed" in args.parts:
        part_speed(prepared, synth, config)
    if "ceiling" in args.parts:
        part_ceiling(prepared, synth, config)

    runs, rows = {}, {}
    if "main" in args.parts:
        runs["all families"] = train_cached("main", config, data, prepared, synth, args.cache)
    if "heads" in args.parts:
        for name, variant in head_variants(config).items():
            runs[name] = train_cached(cache_name(name), variant, data, prepared, synth, args.cache)
    if "single" in args.parts:
        network = config.scorer.network.model_copy(update={"comparison": "single"})
        variant = config.model_copy(update={"scorer": config.scorer.model_copy(update={"network": network})})
        runs["single branch"] = train_cached("single", variant, data, prepared, synth, args.cache)
    if "siamese" in args.parts:
        network = config.scorer.network.model_copy(update={"comparison": "siamese"})
        variant = config.model_copy(update={"scorer": config.scorer.model_copy(update={"network": network})})
        runs["siamese (mirror partner)"] = train_cached("siamese", variant, data, prepared, synth, args.cache)
    for name, run in runs.items():
        for mirror_average in (True, False) if args.no_mirror_average else (True,):
            label = name if mirror_average else f"{name}, not mirror-averaged"
            evaluation = evaluate_run(run, data, prepared, synth, mirror_average=mirror_average)
            rows[label] = (evaluation.metrics, run["seconds"])
            print(f"{label}: {json.dumps({k: round(v, 4) for k, v in evaluation.metrics.items()})}", flush=True)
    if rows:
        print_main_table(rows)

    if "lofo" in args.parts:
        held = args.lofo or list(REALISTIC_FAMILIES)
        print("\nLeave-one-family-out (trained without the family, AUC of that family's test samples vs clean ones):")
        lofo_rows = []
        for family in held:
            variant = without_family(config, family)
            run = train_cached(f"without_{family}", variant, data, prepared, synth, args.cache)
            runs[f"without {family}"] = run
            # the test set of the full config, so the held-out family is in it
            evaluation = evaluate_run({**run, "config": config}, data, prepared, synth, real=False)
            lofo_rows.append((family, evaluation.metrics.get(f"test_auc.{family}", float("nan")), evaluation.metrics))
        print("| held-out family | its test AUC | test AUC (all families) |")
        print("|---|---|---|")
        for family, value, metrics in lofo_rows:
            print(f"| {family} | {value:.3f} | {metrics['test_auc']:.3f} |")

    if "fused" in args.parts:
        part_fused(
            runs.get("all families") or train_cached("main", config, data, prepared, synth, args.cache),
            data,
            synth,
            test_anomalies=args.fusion_test_anomalies,
            save_tables=args.save_tables,
        )
    if "fused_models" in args.parts:
        part_fused(
            runs.get("all families") or train_cached("main", config, data, prepared, synth, args.cache),
            data,
            synth,
            columns=(*FUSED_COLUMNS, *MODEL_COLUMNS),
            models=fit_bench_models(data, args.cache),
            test_anomalies=args.fusion_test_anomalies,
            measure_landmarks=args.measure_landmarks,
            save_tables=args.save_tables,
            partner_shape=not args.no_partner_shape,
        )

    if "landmark_sources" in args.parts:
        part_landmark_sources(
            runs.get("all families") or train_cached("main", config, data, prepared, synth, args.cache),
            data,
            synth,
            models=fit_bench_models(data, args.cache),
            test_anomalies=args.fusion_test_anomalies,
        )

    if "curves" in args.parts:
        # Every finished training of this preset found in the cache, none trained or evaluated.
        import pandas as pd

        from facial_anomaly.supervised.fresh import REALISTIC_FAMILIES

        candidates = {"all families": ("main", config)}
        candidates.update({name: (cache_name(name), variant) for name, variant in head_variants(config).items()})
        for family in args.lofo or REALISTIC_FAMILIES:
            variant = without_family(config, family)
            candidates[f"without {family}"] = (f"without_{family}", variant)
        for label, (name, variant) in candidates.items():
            folder = run_folder(name, variant, data, synth, args.cache)
            if label not in runs and (folder / "done.json").exists():
                runs[label] = {"history": pd.read_csv(folder / "history.csv")}
    if args.figure is not None and runs:
        draw_curves({name: run["history"] for name, run in runs.items()}, args.figure)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
