"""The supervised scorer end to end through Kedro, on the shared real photos:

    taskset -c 0,1 .venv/bin/python benchmarks/supervised_pipeline.py [--work /tmp/...] [--params "k=v,..."]

1. ``kedro run --pipeline train_supervised`` on every normal photo of ../shared/data/faces
   (persons and ages from MANIFEST.csv; photos without a person id count as their own
   person) with the default parameters (the CPU preset): wall time against the ≤ 20 min
   budget, and the pipeline's own held-out evaluation (synthetic test pairs per anomaly
   family, severity ρ, false-positive rate on nuisance variants of normal test faces) for
   each model, each fused unsupervised variant and the fusion.
2. ``kedro run --pipeline score`` on the held-out normal test photos (the persons the
   training never saw) plus the real cleft-lip and acne photos in ../shared/data/anomalies:
   AUC of every score column — each part and the fused ``anomaly_score`` — for real cleft
   vs those normals and real acne vs those normals.

Everything derived from the photos (aligned faces, pairs, checkpoints, scores) stays under
``--work`` (default in /tmp), never in the repository.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))  # the shared helpers beside this script
from _shared_data import PHOTO_SUFFIXES, load_yaml, manifest_normals  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("FACIAL_ANOMALY_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
DEFAULT_WORK = Path("/tmp") / f"facial_anomaly_supervised_pipeline_{os.getuid()}"
BUDGET_S = 20 * 60  # the CPU budget for the default configuration
REAL_SETS = {"real_cleft": "anomalies/cleft_lip_roshan_thomas/original", "real_acne": "anomalies/acne04v2_samples"}


def persons_table(data: Path) -> pd.DataFrame:
    """image (relative to data/faces), person, age of every normal photo in the manifest."""
    rows = manifest_normals(data)
    return pd.DataFrame(
        {
            "image": [row["path"].removeprefix("faces/") for row in rows],
            "person": [row["person"] for row in rows],
            "age": [row["age"] for row in rows],
        }
    )


def kedro(pipeline: str, params: dict, log: Path) -> float:
    """``kedro run --pipeline <pipeline> --params ...``; returns the wall time in seconds."""
    argument = ",".join(f"{key}={value}" for key, value in params.items())
    started = time.perf_counter()
    with log.open("w") as stream:
        result = subprocess.run(
            [str(PROJECT_ROOT / ".venv/bin/kedro"), "run", "--pipeline", pipeline, "--params", argument],
            cwd=PROJECT_ROOT,
            stdout=stream,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
        )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"kedro run --pipeline {pipeline} failed (exit {result.returncode}); see {log}")
    return seconds


def latest(folder: Path, name: str) -> Path:
    """The newest version of a versioned dataset file."""
    return sorted(folder.glob(f"*/{name}"))[-1]


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    keep = np.isfinite(scores)
    return float(roc_auc_score(labels[keep], scores[keep])) if len(set(labels[keep])) == 2 else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument(
        "--params", default="", help="extra kedro --params for train_supervised, e.g. train_supervised.seeds=[0]"
    )
    parser.add_argument("--skip-training", action="store_true", help="reuse the models already in --work")
    args = parser.parse_args()
    if not (args.data / "MANIFEST.csv").exists():
        print(f"shared face data not found at {args.data}", file=sys.stderr)
        return 1
    work = args.work.resolve()
    if PROJECT_ROOT in work.parents or work == PROJECT_ROOT:
        print("--work must live outside the repository", file=sys.stderr)
        return 1
    work.mkdir(parents=True, exist_ok=True)
    persons = persons_table(args.data)
    persons.to_csv(work / "persons.csv", index=False)
    common = {"models_dir": work / "models", "mlflow_tracking_uri": f"sqlite:///{work / 'mlflow.db'}"}

    # ------------------------------------------------------------------ 1. training
    train_out = work / "train"
    if not args.skip_training:
        extra = dict(item.split("=", 1) for item in args.params.split(",") if item)
        seconds = kedro(
            "train_supervised",
            {
                "input_dir": args.data / "faces",
                "persons": work / "persons.csv",
                "output_dir": train_out,
                **common,
                **extra,
            },
            work / "train.log",
        )
        print(
            f"train_supervised: {seconds:.0f} s wall on {len(persons)} photos of {persons['person'].nunique()} persons "
            f"({'OK' if seconds <= BUDGET_S else 'OVER'} the {BUDGET_S // 60} min budget); log {work / 'train.log'}"
        )
    summary = pd.read_json(train_out.parent / "models" / "supervised_summary.json", typ="series")
    for name, entry in summary.items():
        if isinstance(entry, dict):
            print(
                f"  {name}: kept seed {entry['kept_seed']}, dev AUC {entry['dev_auc']:.3f} (by seed "
                f"{ {k: round(v, 3) for k, v in entry['dev_auc_by_seed'].items()} }), {entry['epochs_run']} epochs, "
                f"{entry['seconds']:.0f} s for all seeds, {entry['train_pairs']} train / {entry['dev_pairs']} dev pairs"
            )
    print("\nsynthetic held-out evaluation (the pipeline's supervised_report.md):\n")
    print((train_out / "08_reporting" / "supervised_report.md").read_text())

    # ------------------------------------------------------------------ 2. real photos
    pairs = pd.read_parquet(
        latest(train_out / "05_model_input" / "supervised_pairs.parquet", "supervised_pairs.parquet")
    )
    geometry = pd.read_parquet(train_out / "02_intermediate" / "face_geometry.parquet")
    test_faces = set(pairs.loc[pairs["split"] == "test", "face"])
    test_images = geometry.loc[geometry["image_id"].isin(test_faces), "image"].tolist()
    score_in = work / "score_input"
    shutil.rmtree(score_in, ignore_errors=True)
    labels = []
    for image in test_images:
        target = score_in / "normal" / image
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(args.data / "faces" / image, target)
        labels.append({"image": f"normal/{image}", "set": "normal"})
    for subset, folder in REAL_SETS.items():
        for photo in sorted((args.data / folder).iterdir()):
            if photo.suffix.lower() in PHOTO_SUFFIXES:
                (score_in / subset).mkdir(parents=True, exist_ok=True)
                shutil.copy(photo, score_in / subset / photo.name)
                labels.append({"image": f"{subset}/{photo.name}", "set": subset})
    labels = pd.DataFrame(labels)
    seconds = kedro("score", {"input_dir": score_in, "output_dir": work / "score", **common}, work / "score.log")
    scores = pd.read_csv(work / "score" / "scores.csv").merge(labels, on="image")
    ok = scores[scores["status"] == "ok"]
    print(
        f"score: {seconds:.0f} s wall for {len(scores)} photos ({len(ok)} ok: "
        f"{ {s: int((ok['set'] == s).sum()) for s in ['normal', *REAL_SETS]} })"
    )
    columns = ["anomaly_score", "unsupervised_score"] + [
        c for c in ok.columns if c.startswith("supervised.") and c.endswith("probability")
    ]
    columns += [c for c in ok.columns if re.fullmatch(r"symmetry\.pse_ycbcr_eroded__(mouth_nose|face_without_eyes)", c)]
    rows = []
    for column in columns:
        row = {"score": column}
        for subset in REAL_SETS:
            chosen = ok[ok["set"].isin(["normal", subset])]
            row[f"AUC {subset} vs held-out normals"] = auc(
                (chosen["set"] == subset).to_numpy(int), chosen[column].to_numpy(float)
            )
        rows.append(row)
    table = pd.DataFrame(rows)
    print(
        f"\nreal photos (anomaly_score = {'fused' if 'fused' in (work / 'score' / '07_model_output' / 'scores_summary.json').read_text() else 'unsupervised'}):"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    seed_accuracy(work, ok)
    return 0


def seed_accuracy(work: Path, ok: pd.DataFrame) -> None:
    """The paper's accuracy (probability ≥ paper_eval.threshold) on the real photos, mean ±
    s.d. over the training seeds (every seed's checkpoint scores the faces the score run
    aligned and normalized), and the one-tailed z-test of paper_eval.compare per set."""
    from facial_anomaly.datasets import PngArrayDataset
    from facial_anomaly.faces.background import unpack_face_and_mask
    from facial_anomaly.faces.tables import landmarks_by_image
    from facial_anomaly.supervised import accuracy_by_subset, compare_models, load_model

    params = load_yaml("parameters_train_supervised.yml")["train_supervised"]
    out = work / "score"
    points = landmarks_by_image(pd.read_parquet(out / "02_intermediate" / "landmarks.parquet"))
    faces = []
    for row in ok.to_dict("records"):
        aligned, _ = unpack_face_and_mask(
            PngArrayDataset(
                filepath=str(out / "02_intermediate" / "aligned" / f"{row['image_id']}.png"), mode="rgba"
            ).load()
        )
        partner = out / "03_primary" / "normalized" / params["normalizer"] / f"{row['image_id']}.png"
        faces.append((row, aligned, PngArrayDataset(filepath=str(partner), mode="rgb").load(), points[row["image_id"]]))
    rows = []
    for folder in sorted((work / "models" / "supervised_seeds").iterdir()):
        model_name, seed = re.fullmatch(r"(.+)\.seed(\d+)\.pt", folder.name).groups()
        model = load_model(sorted(folder.glob("*/*.pt"))[-1])
        probability, _ = model.score_batch(
            [f[1] for f in faces], [f[2] for f in faces], [f[3] for f in faces], batch_size=int(params["batch_size"])
        )
        rows += [
            {
                "model": model_name,
                "seed": int(seed),
                "subset": f[0]["set"],
                "label": int(f[0]["set"] != "normal"),
                "predicted": int(p >= params["paper_eval"]["threshold"]),
            }
            for f, p in zip(faces, probability)
        ]
    predictions = pd.DataFrame(rows)
    accuracy = accuracy_by_subset(predictions)
    print(f"\naccuracy on real photos (probability ≥ {params['paper_eval']['threshold']}), mean ± s.d. over seeds:")
    print(accuracy.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    first, second = params["paper_eval"]["compare"]
    if {first, second} <= set(predictions["model"]):
        # On an anomaly-only subset a model that calls everything anomalous wins; "all"
        # (the held-out normals with both real sets) is the comparison that means something.
        for subset in (*REAL_SETS, "all"):
            test = compare_models(predictions, first, second, subset=subset)
            print(
                f"z-test {first} > {second} on {subset} (seeds pooled): accuracy {test['accuracy_a']:.3f} vs "
                f"{test['accuracy_b']:.3f}, z = {test['z']:.2f}, p = {test['p_value']:.3g}"
            )


if __name__ == "__main__":
    sys.exit(main())
