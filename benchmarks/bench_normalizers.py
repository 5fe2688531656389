"""The normalizer bench: every CPU normalizer on synthetic and real anomalies, one table.

    .venv/bin/python benchmarks/bench_normalizers.py [--normalizers a+b+c] [--utk-sample 40]
    .venv/bin/python benchmarks/bench_normalizers.py --normalizers ganomaly+autoencoder --train-reconstruction

Everything runs through the product's own pipelines in a temporary folder (nothing is
written to the repository; the photos of ../shared/data are only read):

1. ``extract_lip_templates`` on the real cleft photos (LT-v2 templates, landmarks only);
2. ``synthesize`` on normal faces (``faces/london_neutral``, ``faces/canada``, a sample of
   ``faces/utkface``), split by person (ids and ages from MANIFEST.csv);
3. ``fit_normal_models`` on the untouched training controls;
4. ``score`` with every normalizer on: the synthetic **test** split (controls and every
   family), **nuisance variants** of the test controls (rotation, JPEG, blur, brightness,
   downscaling: harmless changes that must not look anomalous), the test people's own
   original photos (real normals), and the real anomaly photos (7 cleft lips, 7 acne);
5. for each normalizer × main variant: AUC per synthetic family (vs untouched controls),
   Spearman ρ(score, severity) per family (controls = 0), the false-positive rate on the
   nuisance variants at the threshold giving 95 % specificity on the untouched controls,
   AUC of real cleft and of real acne vs the real normals, and seconds per image.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter

from facial_anomaly.evaluation.metrics import threshold_at_specificity

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared" / "data"
MAIN_VARIANTS = (
    "pse_ycbcr_eroded__mouth_nose",
    "pse_ycbcr_eroded__face_without_eyes",
    "ssim_ycbcr_eroded__face_without_eyes",
)
NUISANCES = ("rotate", "jpeg", "blur", "bright", "downscale")


def kedro_run(pipeline: str, **params: str) -> float:
    """``kedro run --pipelines <pipeline> --params ...`` in-process (``a.b`` keys nest)."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    nested: dict = {}
    for key, value in params.items():
        head, *rest = key.split(".")
        if rest:
            nested.setdefault(head, {})[rest[0]] = value
        else:
            nested[head] = value
    start = time.perf_counter()
    bootstrap_project(PROJECT_ROOT)
    with KedroSession.create(project_path=PROJECT_ROOT, runtime_params=nested) as session:
        session.run(pipeline_names=[pipeline])
    return time.perf_counter() - start


def manifest_rows() -> list[dict]:
    with open(SHARED / "MANIFEST.csv", newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if row["path"].lower().endswith((".jpg", ".png"))]


def link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source)


def build_normal_set(root: Path, utk_sample: int) -> pd.DataFrame:
    """Symlinks of the normal photos under root/normals and their persons table."""
    rng = np.random.default_rng(0)
    rows = manifest_rows()
    utk = [r["path"] for r in rows if r["path"].startswith("faces/utkface/")]
    keep_utk = set(rng.choice(utk, size=min(utk_sample, len(utk)), replace=False))
    persons = []
    for row in rows:
        path = row["path"]
        if not (path.startswith(("faces/london_neutral/", "faces/canada/")) or path in keep_utk):
            continue
        link(SHARED / path, root / "normals" / path)
        person = re.search(r"person_id=([\w-]+)", row["notes"])
        age = re.search(r"age=(\d+)", row["notes"])
        persons.append(
            {"image": path, "person": person.group(1) if person else path, "age": int(age.group(1)) if age else None}
        )
    return pd.DataFrame(persons)


def nuisance(image: Image.Image, kind: str, rng: np.random.Generator) -> bytes:
    """A harmless change of a normal photo (what a camera or a careless crop does)."""
    buffer = io.BytesIO()
    if kind == "rotate":
        image = image.rotate(float(rng.uniform(-6, 6)), resample=Image.Resampling.BICUBIC, fillcolor=(128, 128, 128))
    elif kind == "jpeg":
        image.save(buffer, format="JPEG", quality=int(rng.integers(25, 45)))
        return buffer.getvalue()
    elif kind == "blur":
        image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(1.0, 2.0))))
    elif kind == "bright":
        image = Image.fromarray(
            np.clip(np.asarray(image, np.float32) * rng.uniform(0.75, 1.3), 0, 255).astype(np.uint8)
        )
    elif kind == "downscale":
        small = image.resize((image.width // 3, image.height // 3), Image.Resampling.BILINEAR)
        image = small.resize(image.size, Image.Resampling.BILINEAR)
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def build_test_set(root: Path, synthetic: Path, labels: pd.DataFrame) -> pd.DataFrame:
    """root/test: the synthetic test split, nuisance variants, real normals, real anomalies."""
    test = root / "test"
    rows = []
    tested = labels[(labels["split"] == "test") & (labels["status"] == "ok")]
    rng = np.random.default_rng(1)
    for row in tested.to_dict("records"):
        link(synthetic / row["image"], test / "synthetic" / row["image"])
        family = row["family"] if isinstance(row["family"], str) else "control"
        rows.append(
            {
                "image": f"synthetic/{row['image']}",
                "label": int(row["severity"] > 0),
                "group": family,
                "severity": row["severity"],
            }
        )
        if row["severity"] == 0:
            kind = NUISANCES[len(rows) % len(NUISANCES)]
            name = f"nuisance/{kind}/{Path(row['image']).stem}.png"
            (test / name).parent.mkdir(parents=True, exist_ok=True)
            (test / name).write_bytes(nuisance(Image.open(synthetic / row["image"]).convert("RGB"), kind, rng))
            rows.append({"image": name, "label": 0, "group": "nuisance", "severity": 0})
    for source in tested["source_image"].drop_duplicates():
        link(SHARED / source, test / "real_normal" / source)
        rows.append({"image": f"real_normal/{source}", "label": 0, "group": "real_normal", "severity": 0})
    for row in manifest_rows():
        path = row["path"]
        if path.startswith("anomalies/cleft_lip_roshan_thomas/original/") or path.startswith(
            "anomalies/acne04v2_samples/"
        ):
            link(SHARED / path, test / "real" / path)
            grade = re.search(r"level(\d)", row["severity"] or "")
            rows.append(
                {
                    "image": f"real/{path}",
                    "label": 1,
                    "group": "real_cleft" if "cleft" in path else "real_acne",
                    "severity": float(grade.group(1)) + 1.0 if grade else np.nan,
                }
            )
    return pd.DataFrame(rows)


def auc(normal: np.ndarray, anomalous: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(normal) == 0 or len(anomalous) == 0:
        return float("nan")
    return float(roc_auc_score(np.r_[np.zeros(len(normal)), np.ones(len(anomalous))], np.r_[normal, anomalous]))


def bench_rows(
    scores: pd.DataFrame, truth: pd.DataFrame, normalizers: list[str], seconds_per_image: float
) -> pd.DataFrame:
    table = truth.merge(scores, on="image", how="left")
    ok = table[table["status"] == "ok"]
    families = sorted(
        g for g in ok["group"].unique() if g not in ("control", "nuisance", "real_normal", "real_cleft", "real_acne")
    )
    out = []
    for normalizer in normalizers:
        for variant in MAIN_VARIANTS:
            column = f"{normalizer}.{variant}"
            if column not in ok:
                continue
            score = lambda group: ok.loc[ok["group"] == group, column].dropna().to_numpy()  # noqa: E731
            controls = score("control")
            row = {"normalizer": normalizer, "variant": variant}
            for family in families:
                row[f"AUC {family}"] = auc(controls, score(family))
                graded = ok[ok["group"].isin([family, "control"])][[column, "severity"]].dropna()
                row[f"ρ {family}"] = (
                    float(graded.corr(method="spearman").iloc[0, 1]) if len(graded) > 2 else float("nan")
                )
            threshold = threshold_at_specificity(controls, 0.95) if len(controls) else np.nan
            row["FPR nuisance @95% spec"] = (
                float((score("nuisance") > threshold).mean()) if len(score("nuisance")) else float("nan")
            )
            row["AUC real cleft"] = auc(score("real_normal"), score("real_cleft"))
            row["AUC real acne"] = auc(score("real_normal"), score("real_acne"))
            acne = ok[ok["group"] == "real_acne"][[column, "severity"]].dropna()
            row["ρ real acne grade"] = float(acne.corr(method="spearman").iloc[0, 1]) if len(acne) > 2 else float("nan")
            row["s/image (all normalizers)"] = seconds_per_image
            out.append(row)
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--normalizers", default="symmetry+shape_model+appearance_model+inpaint")
    parser.add_argument("--utk-sample", type=int, default=40)
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temporary folder)")
    parser.add_argument(
        "--train-reconstruction",
        action="store_true",
        help="also run train_reconstruction (default CPU preset) so ganomaly/autoencoder can be benched",
    )
    args = parser.parse_args()
    if not (SHARED / "MANIFEST.csv").exists():
        sys.exit(f"shared data not found at {SHARED}")
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.keep or scratch)
        root.mkdir(parents=True, exist_ok=True)
        common = {"mlflow_tracking": "false", "models_dir": str(root / "models")}
        kedro_run(
            "extract_lip_templates",
            template_dir=str(SHARED / "anomalies/cleft_lip_roshan_thomas/original"),
            output_dir=str(root / "templates_out"),
            **common,
        )
        persons = build_normal_set(root, args.utk_sample)
        persons.to_csv(root / "persons.csv", index=False)
        synth_seconds = kedro_run(
            "synthesize",
            input_dir=str(root / "normals"),
            output_dir=str(root / "synth"),
            persons=str(root / "persons.csv"),
            **common,
        )
        labels = pd.read_csv(root / "synth/05_model_input/synthetic_labels.csv")
        synthetic = root / "synth/05_model_input/synthetic" / labels["dataset_version"].iloc[0]
        fit_seconds = kedro_run(
            "fit_normal_models", input_dir=str(synthetic / "train/control"), output_dir=str(root / "fit_out"), **common
        )
        if args.train_reconstruction:
            train_seconds = kedro_run("train_reconstruction", output_dir=str(root / "synth"), **common)
            print(
                f"train_reconstruction {train_seconds:.0f} s; {(root / 'models/reconstruction_summary.json').read_text()}"
            )
        truth = build_test_set(root, synthetic, labels)
        score_seconds = kedro_run(
            "score",
            input_dir=str(root / "test"),
            output_dir=str(root / "test_out"),
            **{"normalize.normalizer": args.normalizers},
            **common,
        )
        scores = pd.read_csv(root / "test_out/scores.csv")
    normalizers = args.normalizers.split("+")
    table = bench_rows(scores, truth, normalizers, score_seconds / len(scores))
    counts = truth.groupby("group").size().to_dict()
    print(
        f"{time.strftime('%Y-%m-%d')}: test images {len(truth)} {counts}; rejected {int((scores['status'] != 'ok').sum())}"
    )
    print(
        f"synthesize {synth_seconds:.0f} s, fit_normal_models {fit_seconds:.0f} s, score {score_seconds:.0f} s "
        f"({score_seconds / len(scores):.2f} s/image for {len(normalizers)} normalizers, 2 cores)"
    )
    from facial_anomaly.evaluation import markdown_table

    print(markdown_table(table, decimals=3))


if __name__ == "__main__":
    main()
