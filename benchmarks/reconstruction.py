"""Train the default CPU reconstruction models on real normal faces and time them.

    taskset -c 0,1 .venv/bin/python benchmarks/reconstruction.py [--preset cpu_64] [--train-faces 300]
        [--dev-faces 60] [--models ganomaly autoencoder] [--threads 2]

Data: the normal photos of ../shared/data/faces (MANIFEST.csv) are preprocessed at run
time (``locate_face`` + ``render_aligned_face``, the project's default 512 px preset,
configured as in tests/conftest.py) and split by person (``person_id=`` in the manifest
notes; UTKFace crops have none and count as one person each) with
``facial_anomaly.synthesis.split.split_by_person`` into train and dev persons. Up to
``--train-faces`` train faces train the models; the dev split holds up to
``--dev-faces`` normal faces (label 0) plus, for each, one synthetic anomaly per family
of ``--families`` (label 1) made with ``facial_anomaly.synthesis.generate`` at
``--severity`` with the parameters of conf/base/parameters_synthesize.yml. Aligned and
synthetic faces are cached as .npz under ``--cache`` (default in /tmp); nothing derived
from the photos is written into the repository.

Prints per model: training time (target ≤ 10 min on 2 cores for the CPU preset), epochs
run, best validation AUC (and per family), seconds per image to score and to normalize
a 512 px aligned face, the fraction of synthetic faces scoring above their own source
face ("paired wins"), and the final training L1 error; writes a reconstruction grid of
dev faces to the cache folder.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))  # the shared helpers beside this script
from _shared_data import cached_arrays, load_yaml, normal_photos_by_person  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("FACIAL_ANOMALY_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
DEFAULT_CACHE = Path("/tmp") / f"facial_anomaly_reconstruction_bench_{os.getuid()}"
TRAIN_TARGET_S = 600.0
SPLIT = {"train": 0.75, "dev": 0.25}
SPLIT_SEED = 20240605


def aligned_faces(photos: list[Path], config: dict, cache: Path, limit: int) -> list[dict]:
    """Aligned faces {rgb (512×512×3 uint8), landmarks (478×3), name} of the first ``limit``
    photos that preprocess ok (rejections are cached as empty arrays)."""
    from facial_anomaly.faces import locate_face, render_aligned_face
    from facial_anomaly.faces.config import config_fingerprint

    folder = cache / f"aligned_{config_fingerprint(config)}"
    faces = []
    for photo in photos:
        if len(faces) >= limit:
            break

        def make(photo=photo) -> dict:
            geometry, rgb = locate_face(photo.read_bytes(), config)
            if not geometry.ok:
                return {"rgb": np.zeros((0, 0, 3), np.uint8), "landmarks": np.zeros((0, 3))}
            crop, _ = render_aligned_face(rgb, geometry, config)
            return {"rgb": crop, "landmarks": geometry.aligned_landmarks()}

        key = hashlib.sha1(str(photo).encode()).hexdigest()[:16]
        arrays = cached_arrays(folder / f"{key}.npz", make)
        if arrays["rgb"].size:
            faces.append({**arrays, "name": photo.name})
    return faces


def dev_set(faces: list[dict], families: list[str], severity: int, synth: dict, cache: Path) -> tuple[list, list, list]:
    """Dev images, labels (0 normal, 1 synthetic) and group names ("normal" or the family)."""
    from facial_anomaly.synthesis import generate

    images, labels, groups = [], [], []
    for index, face in enumerate(faces):
        images.append(face["rgb"])
        labels.append(0)
        groups.append("normal")
        for family in families:
            key = hashlib.sha1(f"{face['name']}|{family}|{severity}|{SPLIT_SEED + index}".encode()).hexdigest()[:16]
            made = cached_arrays(
                cache / "synthetic" / f"{key}.npz",
                lambda family=family: {
                    "rgb": generate(
                        family,
                        face["rgb"],
                        face["landmarks"],
                        severity=severity,
                        rng=SPLIT_SEED + index,
                        params=synth[family],
                    ).image
                },
            )
            images.append(made["rgb"])
            labels.append(1)
            groups.append(family)
    return images, labels, groups


def auc_by_group(scores: np.ndarray, labels: list[int], groups: list[str]) -> dict[str, float]:
    """Per family: ROC AUC of its synthetic faces against all normal dev faces."""
    from sklearn.metrics import roc_auc_score

    groups_array, normal = np.asarray(groups), np.asarray(labels) == 0
    out = {}
    for group in sorted(set(groups) - {"normal"}):
        chosen = normal | (groups_array == group)
        out[group] = float(roc_auc_score(np.asarray(labels)[chosen], scores[chosen]))
    return out


def paired_wins(scores: np.ndarray, labels: list[int]) -> float:
    """Fraction of synthetic faces scoring higher than the normal face they were made
    from (dev_set lists each normal face followed by its synthetic versions): whether
    the model reacts to the anomaly at all, without the spread between persons."""
    wins, source = [], None
    for score, label in zip(scores, labels):
        if label == 0:
            source = score
        else:
            wins.append(score > source)
    return float(np.mean(wins))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument(
        "--preset", default=None, help="entry of train_reconstruction.presets (default: the YAML's preset)"
    )
    parser.add_argument("--models", nargs="+", default=None, help="default: the YAML's models")
    parser.add_argument("--train-faces", type=int, default=300)
    parser.add_argument("--dev-faces", type=int, default=60)
    parser.add_argument("--families", nargs="+", default=["palsy", "acne", "lip_lt_v1"])
    parser.add_argument("--severity", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    parser.add_argument("--batch-size", type=int, default=None, help="override the preset's batch size")
    parser.add_argument("--prepare-only", action="store_true", help="only preprocess and synthesise (fills the cache)")
    args = parser.parse_args()
    if not (args.data / "MANIFEST.csv").exists():
        print(f"shared face data not found at {args.data}", file=sys.stderr)
        return 1
    if PROJECT_ROOT in args.cache.resolve().parents:
        print("the cache must live outside the repository", file=sys.stderr)
        return 1

    import cv2
    import torch

    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)

    from facial_anomaly.faces.config import PreprocessConfig
    from facial_anomaly.normalizers import create
    from facial_anomaly.normalizers.reconstruction import reconstruction_grid, train
    from facial_anomaly.synthesis.split import split_by_person

    preprocess = load_yaml("parameters_preprocess.yml")
    config = dict(PreprocessConfig.model_validate(preprocess["preprocess"]))
    from facial_anomaly.normalizers.reconstruction.presets import TrainReconstructionConfig

    params = TrainReconstructionConfig()
    from facial_anomaly.synthesis.config import SynthesizeConfig

    synth = SynthesizeConfig.model_validate(load_yaml("parameters_synthesize.yml")["synthesize"]).parameters()
    preset_name = args.preset or params.preset
    preset = {
        name: TrainReconstructionConfig(preset=preset_name).model_preset(name).model_dump() for name in params.models
    }

    persons = normal_photos_by_person(args.data)
    split = split_by_person(persons, SPLIT, seed=SPLIT_SEED)
    photos = {
        name: [photo for person in sorted(persons) if split[person] == name for photo in persons[person]]
        for name in SPLIT
    }

    start = time.perf_counter()
    train_faces = aligned_faces(photos["train"], config, args.cache, args.train_faces)
    dev_faces = aligned_faces(photos["dev"], config, args.cache, args.dev_faces)
    dev_images, dev_labels, dev_groups = dev_set(dev_faces, args.families, args.severity, synth, args.cache)
    print(
        f"data: {len(train_faces)} train faces, {len(dev_faces)} dev faces + {len(dev_images) - len(dev_faces)} synthetic "
        f"({', '.join(args.families)}, severity {args.severity}); persons {sum(v == 'train' for v in split.values())} train / "
        f"{sum(v == 'dev' for v in split.values())} dev; prepared in {time.perf_counter() - start:.0f} s "
        f"(cache {args.cache}; not part of the timings)"
    )
    print(
        f"preset {preset_name}, device {params['device']}, torch threads {torch.get_num_threads()}, "
        f"CPUs {sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}"
    )

    if args.prepare_only:
        return 0
    summary = []
    for name in args.models or params["models"]:
        block = preset[name]
        training = dict(block["training"])
        if args.epochs is not None:
            training["epochs"] = args.epochs
        if args.batch_size is not None:
            training["batch_size"] = args.batch_size
        print(f"\n== {name}: {block['model']}\n   training {training}")

        def report(epoch_report) -> None:
            losses = " ".join(f"{key}={value:.4f}" for key, value in epoch_report.losses.items())
            print(
                f"   epoch {epoch_report.epoch:2d}/{epoch_report.epochs}  {losses}  val_auc={epoch_report.val_auc:.3f}"
                f"{' *' if epoch_report.is_best else ''}  {epoch_report.seconds:.1f} s",
                flush=True,
            )

        start = time.perf_counter()
        result = train(
            block["model"],
            [f["rgb"] for f in train_faces],
            dev_images,
            dev_labels,
            device=params["device"],
            on_epoch_end=report,
            **training,
        )
        seconds = time.perf_counter() - start

        normalizer = create(name, model=result.best_model(), device=params["device"], **params["normalizer"])
        normalizer.anomaly_scores(dev_images[:2])  # warm-up
        start = time.perf_counter()
        scores = normalizer.anomaly_scores(dev_images)
        score_s = (time.perf_counter() - start) / len(dev_images)
        sample = dev_faces[: min(10, len(dev_faces))]
        start = time.perf_counter()
        for face in sample:
            normalizer.normalize(face["rgb"], face["landmarks"])
        normalize_s = (time.perf_counter() - start) / len(sample)
        families = auc_by_group(scores, dev_labels, dev_groups)
        grid_path = args.cache / f"grid_{name}.png"
        grid = reconstruction_grid(
            normalizer.model, dev_images[: 4 * (1 + len(args.families))], 4 * (1 + len(args.families))
        )
        cv2.imwrite(str(grid_path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
        line = (
            f"{name}: trained {seconds:.0f} s ({'OK' if seconds <= TRAIN_TARGET_S else 'SLOW'}, target ≤ {TRAIN_TARGET_S:.0f} s), "
            f"{result.epochs_run} epochs{' (early stop)' if result.stopped_early else ''}, best epoch {result.best_epoch}, "
            f"best val AUC {result.best_auc:.3f} [{', '.join(f'{k} {v:.3f}' for k, v in families.items())}; "
            f"paired wins {paired_wins(scores, dev_labels):.2f}], "
            f"score {score_s * 1000:.1f} ms/image, normalize {normalize_s * 1000:.1f} ms/image (512 px, batch "
            f"{params['normalizer']['batch_size']} / 1), final train L_con {result.history[-1]['con']:.4f}"
        )
        summary.append(line)
        print("   " + line)

    print("\nsummary")
    for line in summary:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
