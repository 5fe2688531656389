"""The scoring contract with every fitted model, end to end through Kedro, on real photos:

    .venv/bin/python benchmarks/contract_fitted.py --supervised-work /tmp/sup_bench [--work /tmp/...]

``--supervised-work`` is the ``--work`` folder of ``benchmarks/supervised_pipeline.py`` (a
finished ``train_supervised`` run on ../shared/data/faces: its person split and its
``models/`` with the scorer and the fusion refitted with it). Then:

1. ``kedro run --pipelines fit_normal_models`` on the **train** persons' photos only (shape
   and appearance models, PaDiM, normal-variation maps) into a copy of those models: wall time.
1b. The fused default refitted with those models, as a ``train_supervised`` run that finds
   them in ``models_dir`` does: ``kedro run --pipelines train_supervised --nodes
   index_supervised_faces,evaluate_supervised_scorer`` on a hard-linked copy of the training
   run's outputs (its split, aligned faces and landmarks; the scorer is not retrained), so the
   fusion also fuses the normal models' columns (``--keep-fusion``: skip, keep the pipeline's).
2. ``kedro run`` (the contract, serial, one process) on the **test** persons' normal photos
   (never seen by any fit) plus the real cleft-lip and acne photos of ../shared/data/anomalies,
   with the pose check relaxed for every photo (the ACNE04 close-ups are oblique): wall time,
   images/s after start-up, which score became ``anomaly_score``.
3. From ``scores.csv``: AUC of real cleft vs the test normals and of real acne vs the test
   normals for ``anomaly_score`` and each kind of column (the default variant, its z-scored
   form, PaDiM, the shape residual, the supervised probability).

Everything derived from the photos stays under ``--work`` (default in /tmp), never in the
repository.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
from _shared_data import PHOTO_SUFFIXES, work_folder  # noqa: E402
from rerun import KEDRO, timed_command  # noqa: E402  (the rerun benchmark's command runner)

DEFAULT_DATA = Path(os.environ.get("FACIAL_ANOMALY_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
DEFAULT_WORK = Path("/tmp") / f"facial_anomaly_contract_fitted_{os.getuid()}"
REAL_SETS = {"real_cleft": "anomalies/cleft_lip_roshan_thomas/original", "real_acne": "anomalies/acne04v2_samples"}
RELAXED_POSE = {
    "preprocess.pose.max_yaw_degrees": 90,
    "preprocess.pose.max_pitch_degrees": 90,
    "preprocess.pose.min_visible_fraction": 0.0,
}


def kedro(pipeline: str | None, params: dict, log: Path, nodes: str | None = None) -> tuple[float, float]:
    """(wall seconds, seconds until the first node started) of a ``kedro run``, its output in ``log``."""
    argument = ",".join(f"{key}={value}" for key, value in params.items())
    command = [*KEDRO, "run", "--params", argument, *(["--pipelines", pipeline] if pipeline else [])]
    command += ["--nodes", nodes] if nodes else []
    seconds, first, output = timed_command(command)
    log.write_text(output)
    return seconds, first or 0.0


def link_photos(paths: list[Path], folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for path in paths:
        target = folder / path.name
        if target.exists():
            target = folder / f"{path.parent.name}__{path.name}"
        target.symlink_to(path)


def auc(labels: np.ndarray, scores: np.ndarray) -> tuple[float, int]:
    from sklearn.metrics import roc_auc_score

    keep = np.isfinite(scores)
    if len(set(labels[keep])) < 2:
        return float("nan"), int(keep.sum())
    return float(roc_auc_score(labels[keep], scores[keep])), int(keep.sum())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--supervised-work", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument(
        "--skip-fit",
        action="store_true",
        help="reuse the normal models fitted in --work (the fusion is still refitted)",
    )
    parser.add_argument("--keep-fusion", action="store_true", help="do not refit the fusion with the fitted models")
    args = parser.parse_args()
    work = work_folder(args.data, args.work)
    splits = sorted((args.supervised_work / "train/05_model_input/supervised_split.parquet").glob("*/*.parquet"))
    split = pd.read_parquet(splits[-1])
    faces = args.data / "faces"
    train = [faces / image for image in split.loc[split["split"] == "train", "image"]]
    sets = {"normal": [faces / image for image in split.loc[split["split"] == "test", "image"]]}
    for subset, folder in REAL_SETS.items():
        sets[subset] = sorted(p for p in (args.data / folder).iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    common = {"mlflow_tracking": "false", "executor.kind": "serial"}
    models = work / "models"

    if not args.skip_fit:
        shutil.rmtree(models, ignore_errors=True)
        shutil.copytree(args.supervised_work / "models", models)
        link_photos(train, work / "train_photos")
        seconds, _ = kedro(
            "fit_normal_models",
            {"input_dir": work / "train_photos", "output_dir": work / "fit_out", "models_dir": models, **common},
            work / "fit.log",
        )
        summaries = {
            name: json.loads((work / "fit_out/08_reporting" / f"{name}_summary.json").read_text())
            for name in ("shape_model", "padim_model", "normal_variation_model")
        }
        print(f"fit_normal_models on {len(train)} train photos: {seconds:.0f} s wall; {summaries}")
    if not args.keep_fusion:
        refit_out = work / "refit_out"
        shutil.rmtree(refit_out, ignore_errors=True)
        shutil.copytree(args.supervised_work / "train", refit_out, copy_function=os.link)
        seconds, _ = kedro(
            "train_supervised",
            {"output_dir": refit_out, "models_dir": models, "persons": args.supervised_work / "persons.csv",
             **common},
            work / "refit.log",
            nodes="index_supervised_faces,evaluate_supervised_scorer",
        )  # fmt: skip
        fusion = json.loads(sorted(models.glob("supervised_fusion.json/*/supervised_fusion.json"))[-1].read_text())
        weights = dict(zip(fusion["features"], np.round(fusion["coefficients"], 3).tolist()))
        print(f"fusion refitted with the fitted models: {seconds:.0f} s wall; weights {weights}")

    test = work / "test_photos"
    shutil.rmtree(test, ignore_errors=True)
    for subset, paths in sets.items():
        link_photos(paths, test / subset)
    output = work / "score_out"
    shutil.rmtree(output, ignore_errors=True)
    photos = sum(len(paths) for paths in sets.values())
    seconds, startup = kedro(
        None, {"input_dir": test, "output_dir": output, "models_dir": models, **common, **RELAXED_POSE},
        work / "score.log",
    )  # fmt: skip
    summary = json.loads((output / "08_reporting/scores_summary.json").read_text())
    fitted = json.loads((output / "08_reporting/model_scores_summary.json").read_text())
    print(
        f"contract on {photos} photos (serial, one process): {seconds:.0f} s wall, {startup:.1f} s start-up, "
        f"{photos / (seconds - startup):.2f} images/s after start-up; anomaly_score = "
        f"{summary['anomaly_score_source']} of {summary.get('fusion_columns')}; fitted-model columns "
        f"{fitted['columns']} in {fitted.get('seconds')} s"
    )

    scores = pd.read_csv(output / "scores.csv").copy()  # one block: columns are added below
    scores["subset"] = scores["image"].str.split("/").str[0]
    ok = scores[scores["status"] == "ok"]
    print(
        f"scored per subset: {ok['subset'].value_counts().to_dict()} (of {scores['subset'].value_counts().to_dict()})"
    )
    default = (
        f"mirror.{json.loads((output / '08_reporting/scores_summary.json').read_text())['settings']['default_variant']}"
    )
    columns = {
        "anomaly_score": "anomaly_score",
        "default variant (unsupervised_score)": "unsupervised_score",
        "its z-scored form": default.replace("__topk", "__ztopk").replace("__mean", "__zmean"),
        "PaDiM": "padim__lower_face__topk",
        "shape residual": "shape_residual__lips__mean",
        "supervised probability": "supervised.probability",
    }
    print("\n| score | column | real cleft vs test normals | real acne vs test normals |")
    print("|---|---|---|---|")
    for label, column in columns.items():
        if column not in ok:
            print(f"| {label} | `{column}` | not computed | not computed |")
            continue
        cells = []
        for subset in REAL_SETS:
            part = ok[ok["subset"].isin(["normal", subset])]
            value, n = auc((part["subset"] == subset).to_numpy(int), part[column].to_numpy(float))
            cells.append(f"{value:.3f} (n = {n})")
        print(f"| {label} | `{column}` | {cells[0]} | {cells[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
