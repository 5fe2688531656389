"""Train the default CPU supervised models on real normal faces and evaluate them.

    taskset -c 0,1 .venv/bin/python benchmarks/supervised.py [--faces N] [--preset cpu]
        [--models siamese single_branch] [--threads 2] [--workers 2] [--prepare-only]

Data: normal photos of ../shared/data/faces (MANIFEST.csv), all of them or persons drawn at
random (seeded) until ``--faces`` photos; preprocessed at run time (``locate_face`` +
``render_aligned_face``, the default 512 px preset, configured as in tests/conftest.py)
and split by person (``person_id=`` in the manifest notes; UTKFace crops have none and
count as one person each) with ``facial_anomaly.supervised.split_faces`` into train / dev /
test. Pairs are built with ``build_pair_set`` and the YAML's ``data`` block
(conf/base/parameters_train_supervised.yml; anomalies and harmless changes on both classes,
normalized partner from the YAML's normalizer). lip_lt_v2 is never used: its templates
come from the real cleft photos evaluated below. Aligned faces and pair tensors are cached
under ``--cache`` (default in /tmp); nothing derived from the photos enters the repository.

Reports per model: training time and epochs; dev AUC per family (best epoch); test AUC
(all and per family) on test pairs made like the training pairs; Spearman ρ of the
severity output against the true grade on test anomalies; the false-positive rate on
nuisance variants of the normal test faces (each nuisance alone) at the threshold giving
95 % specificity on the unchanged normal test faces; and the AUC of the 7 real cleft-lip
photos (anomalies/cleft_lip_roshan_thomas/original) and of the 7 acne photos
(anomalies/acne04v2_samples) against those held-out real normal test photos.
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

# Shared CPUs: OpenMP threads that spin while waiting slow each other (and everyone) down
# ~4× when other processes run; passive waiting costs nothing on an idle machine. Must be
# set before torch starts its thread pool.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))  # the shared helpers beside this script
from _shared_data import cached_arrays, load_yaml, manifest_normals  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("FACIAL_ANOMALY_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
DEFAULT_CACHE = Path("/tmp") / f"facial_anomaly_supervised_bench_{os.getuid()}"
TRAIN_TARGET_S = 600.0  # per model (≤ 20 min for the default pair of models)
SPECIFICITY = 0.95
REAL_SETS = {"real_cleft": "anomalies/cleft_lip_roshan_thomas/original", "real_acne": "anomalies/acne04v2_samples"}
NUISANCE_STREAM = 1000  # pair_rng variant offset of the nuisance-only test variants (never a training variant)


def normal_photos(data: Path, count: int, seed: int) -> list[tuple[str, str]]:
    """(path relative to ``data``, person) of normal face photos: whole persons in a seeded
    random order until ``count`` photos."""
    persons: dict[str, list[str]] = {}
    for row in manifest_normals(data):
        persons.setdefault(row["person"], []).append(row["path"])
    chosen: list[tuple[str, str]] = []
    for index in np.random.default_rng(seed).permutation(len(persons)):
        person = sorted(persons)[index]
        chosen += [(path, person) for path in persons[person]]
        if len(chosen) >= count:
            break
    return chosen


def aligned(data: Path, relative: str, config: dict, cache: Path) -> dict | None:
    """{rgb, landmarks} of a photo preprocessed with ``config`` (cached), or None if rejected."""
    from facial_anomaly.faces import config_fingerprint, locate_face, render_aligned_face

    def make() -> dict:
        geometry, rgb = locate_face((data / relative).read_bytes(), config)
        if not geometry.ok:
            return {"rgb": np.zeros((0, 0, 3), np.uint8), "landmarks": np.zeros((0, 3))}
        crop, _ = render_aligned_face(rgb, geometry, config)
        return {"rgb": crop, "landmarks": geometry.aligned_landmarks()}

    key = hashlib.sha1(f"{relative}|{config_fingerprint(config)}".encode()).hexdigest()[:16]
    arrays = cached_arrays(cache / "aligned" / f"{key}.npz", make)
    return arrays if arrays["rgb"].size else None


def cached_pair_set(path: Path, make, specs):
    """A PairSet cached as .npz (views) + .csv (table) under ``path``."""
    import pandas as pd
    import torch

    from facial_anomaly.supervised import PairSet

    table_path = path.with_suffix(".csv")
    if path.exists() and table_path.exists():
        with np.load(path, allow_pickle=False) as archive:
            views = {spec: torch.from_numpy(archive[spec.key]) for spec in specs}
        table = pd.read_csv(
            table_path, keep_default_na=False, dtype={"face": str, "person": str, "side": str, "nuisances": str}
        )
        table["side"] = table["side"].replace("", None)
        return PairSet(views, table)
    pairs = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path.with_suffix(".tmp.npz"), **{spec.key: tensor.numpy() for spec, tensor in pairs.views.items()})
    path.with_suffix(".tmp.npz").replace(path)
    pairs.table.to_csv(table_path, index=False)
    return pairs


def digest(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def auc(labels, scores) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument(
        "--faces",
        type=int,
        default=None,
        help="normal photos to use (whole persons; default: all of them — from scratch, a few "
        "hundred faces are the least the models need)",
    )
    parser.add_argument("--preset", default=None, help="entry of train_supervised.presets (default: the YAML's)")
    parser.add_argument("--models", nargs="+", default=None, help="default: the YAML's models")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="processes building pairs")
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    parser.add_argument("--prepare-only", action="store_true", help="only preprocess and build pairs (fills the cache)")
    args = parser.parse_args()
    if not (args.data / "MANIFEST.csv").exists():
        print(f"shared face data not found at {args.data}", file=sys.stderr)
        return 1
    if PROJECT_ROOT in args.cache.resolve().parents or args.cache.resolve() == PROJECT_ROOT:
        print("the cache must live outside the repository", file=sys.stderr)
        return 1

    import cv2
    import torch
    from scipy.stats import spearmanr

    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)

    from facial_anomaly.faces import resolve_config
    from facial_anomaly.normalizers import build_normalizer
    from facial_anomaly.supervised import (
        NUISANCES,
        NormalFace,
        Pair,
        apply_nuisances,
        auc_by_family,
        build_model,
        build_pair_set,
        pairs_to_set,
        split_faces,
        train,
    )
    from facial_anomaly.supervised.data import pair_rng

    preprocess = load_yaml("parameters_preprocess.yml")
    config = resolve_config(preprocess["preprocess"], preprocess["alignment_presets"])
    params = load_yaml("parameters_train_supervised.yml")["train_supervised"]
    synth = load_yaml("parameters_synthesize.yml")["synthesize"]
    normalize = load_yaml("parameters_normalize.yml")["normalize"]
    preset_name = args.preset or params["preset"]
    preset = params["presets"][preset_name]
    model_names = args.models or params["models"]
    if "lip_lt_v2" in params["data"]["anomalies"]["kinds"]:
        print(
            "lip_lt_v2 templates come from the evaluated cleft photos: remove it from data.anomalies.kinds",
            file=sys.stderr,
        )
        return 1
    normalizer = build_normalizer(params["normalizer"], normalize["normalizers"])
    specs = list(
        dict.fromkeys(
            spec
            for name in model_names
            for spec in build_model(preset[name]["model"], load_backbone_weights=False).view_specs
        )
    )
    seed = int(params["seed"])

    # ---------------------------------------------------------------- data
    started = time.perf_counter()
    faces = []
    for relative, person in normal_photos(args.data, args.faces if args.faces is not None else sys.maxsize, seed):
        face = aligned(args.data, relative, config, args.cache)
        if face is not None:
            faces.append(NormalFace(face["rgb"], face["landmarks"], person, relative))
    splits = split_faces(faces, params["split"]["fractions"], seed)
    pair_sets = {}
    for split, members in splits.items():
        key = digest(
            params["data"]["variants_per_face"],
            params["data"]["anomalies"],
            params["data"]["nuisance"],
            synth,
            params["normalizer"],
            normalize["normalizers"][params["normalizer"]],
            [f.name for f in members],
            [s.key for s in specs],
            seed,
        )
        pair_sets[split] = cached_pair_set(
            args.cache / "pairs" / f"{split}_{key}.npz",
            lambda members=members: build_pair_set(
                members,
                normalizer=normalizer,
                specs=specs,
                params=params["data"],
                synth_params=synth,
                seed=seed,
                workers=args.workers,
            ),
            specs,
        )

    def plain_pair(face: NormalFace, image, landmarks, record: dict) -> Pair:
        return Pair(
            image,
            normalizer.normalize(image, landmarks).image,
            landmarks,
            {"face": face.name, "person": face.person, "variant": -1, "side": None, "redraws": 0, **record},
        )

    def extra_sets():
        clean, variants = [], []
        for face in splits["test"]:
            clean.append(
                plain_pair(
                    face, face.image, face.landmarks, {"label": 0, "severity": 0, "family": "normal", "nuisances": ""}
                )
            )
            for k, name in enumerate(NUISANCES):
                image, landmarks, _ = apply_nuisances(
                    face.image,
                    face.landmarks,
                    pair_rng(seed, face.name, NUISANCE_STREAM + k),
                    params["data"]["nuisance"],
                    only=[name],
                )
                variants.append(
                    plain_pair(
                        face, image, landmarks, {"label": 0, "severity": 0, "family": "normal", "nuisances": name}
                    )
                )
        real = []
        for subset, folder in REAL_SETS.items():
            for photo in sorted((args.data / folder).glob("*")):
                if photo.suffix.lower() not in (".jpg", ".jpeg", ".png"):
                    continue
                face = aligned(args.data, str(photo.relative_to(args.data)), config, args.cache)
                if face is None:
                    print(f"  {photo.name}: rejected by preprocessing")
                    continue
                item = NormalFace(face["rgb"], face["landmarks"], photo.name, str(photo.relative_to(args.data)))
                real.append(
                    plain_pair(
                        item, item.image, item.landmarks, {"label": 1, "severity": 0, "family": subset, "nuisances": ""}
                    )
                )
        return pairs_to_set(clean + variants + real, specs)

    key = digest(
        params["data"]["nuisance"],
        params["normalizer"],
        [f.name for f in splits["test"]],
        [s.key for s in specs],
        seed,
        REAL_SETS,
    )
    extra = cached_pair_set(args.cache / "pairs" / f"extra_{key}.npz", extra_sets, specs)
    table = extra.table
    clean_mask = (table["family"] == "normal").to_numpy() & (table["nuisances"] == "").to_numpy()
    variant_mask = (table["family"] == "normal").to_numpy() & (table["nuisances"] != "").to_numpy()
    prepared = time.perf_counter() - started
    counts = {split: f"{len(splits[split])} faces / {len(pair_sets[split])} pairs" for split in splits}
    families = sorted(set(pair_sets["train"].families) - {"normal"})
    print(
        f"data: {counts}; persons {len({f.person for f in faces})}; anomaly kinds {families}; "
        f"extra: {int(clean_mask.sum())} clean test normals, {int(variant_mask.sum())} nuisance variants, "
        f"{int((table['family'] == 'real_cleft').sum())} real cleft, {int((table['family'] == 'real_acne').sum())} real acne; "
        f"prepared in {prepared:.0f} s (cache {args.cache})"
    )
    print(
        f"preset {preset_name}, device {params['device']}, torch threads {torch.get_num_threads()} "
        f"(OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}), "
        f"CPUs {sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}",
        flush=True,
    )
    if args.prepare_only:
        return 0

    # ---------------------------------------------------------------- train and evaluate
    summary = []
    for name in model_names:
        block = preset[name]
        training = dict(block["training"])
        if args.epochs is not None:
            training["epochs"] = args.epochs
        print(f"\n== {name}: {block['model']}\n   training {training}", flush=True)

        def report(epoch) -> None:
            by_family = " ".join(f"{k}={v:.2f}" for k, v in epoch.dev_auc_by_family.items())
            print(
                f"   epoch {epoch.epoch:2d}/{epoch.epochs} loss={epoch.losses['loss']:.3f} (bce {epoch.losses['anomaly_bce']:.3f}, "
                f"severity {epoch.losses['severity_bce']:.3f}) dev_auc={epoch.dev_auc:.3f}{' *' if epoch.is_best else ''} "
                f"[{by_family}] {epoch.seconds:.0f} s",
                flush=True,
            )

        start = time.perf_counter()
        result = train(
            block["model"],
            pair_sets["train"],
            pair_sets["dev"],
            device=params["device"],
            on_epoch_end=report,
            **training,
        )
        seconds = time.perf_counter() - start
        model = result.best_model()
        batch = training["batch_size"]
        test = pair_sets["test"]
        probability, severity = model.predict(test.inputs(model.view_specs), batch_size=batch)
        test_auc = auc(test.labels, probability)
        test_families = auc_by_family(probability, test.labels, test.families)
        anomalous = test.labels == 1
        rho = float(spearmanr(severity[anomalous], test.severities[anomalous]).statistic)
        scores, _ = model.predict(extra.inputs(model.view_specs), batch_size=batch)
        threshold = float(np.quantile(scores[clean_mask], SPECIFICITY))
        fpr = {
            kind: float(np.mean(scores[variant_mask & (table["nuisances"] == kind).to_numpy()] > threshold))
            for kind in NUISANCES
        }
        fpr_all = float(np.mean(scores[variant_mask] > threshold))
        real = {}
        for subset in REAL_SETS:
            chosen = clean_mask | (table["family"] == subset).to_numpy()
            real[subset] = auc((table["family"][chosen] == subset).astype(int), scores[chosen])
        best = result.history[result.best_epoch - 1]
        lines = [
            f"{name}: trained {seconds:.0f} s ({'OK' if seconds <= TRAIN_TARGET_S else 'SLOW'}, target ≤ {TRAIN_TARGET_S:.0f} s), "
            f"{result.epochs_run} epochs{' (early stop)' if result.stopped_early else ''}, best epoch {result.best_epoch}",
            f"  dev AUC {result.best_auc:.3f} [{', '.join(f'{k} {v:.3f}' for k, v in best['dev_auc_by_family'].items())}]",
            f"  test AUC {test_auc:.3f} [{', '.join(f'{k} {v:.3f}' for k, v in test_families.items())}]; "
            f"severity Spearman ρ on test anomalies {rho:.3f}",
            f"  FPR on nuisance variants of normal test faces at {SPECIFICITY:.0%} specificity (threshold {threshold:.3f} "
            f"from {int(clean_mask.sum())} unchanged test normals): all {fpr_all:.3f} "
            f"[{', '.join(f'{k} {v:.2f}' for k, v in fpr.items())}]",
            f"  real photos vs {int(clean_mask.sum())} held-out real normals: cleft AUC {real['real_cleft']:.3f}, "
            f"acne AUC {real['real_acne']:.3f}",
        ]
        summary += lines
        print("\n".join("   " + line for line in lines), flush=True)

    print(f"\nsummary (data prepared in {prepared:.0f} s)")
    for line in summary:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
