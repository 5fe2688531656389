"""Throughput of heatmaps + scores over the Table-1 grid without LPIPS, on one core.

    .venv/bin/python benchmarks/score.py [--images 60]

The face is scikit-image's astronaut preprocessed with conf/base/parameters_preprocess.yml
(as tests/conftest.py builds it); the "normalized" face is a slightly perturbed copy
(a painted disk at the mouth plus ±4 grey levels of noise). Settings come from
parameters_heatmaps.yml and parameters_scores.yml. Prints images/s of
``score_variants`` (per CPU second of this single-threaded process, and per wall-clock
second, which on a shared machine includes waiting for the core) and the speed-up over
scoring each variant separately on the full frame.

With ``--end-to-end FOLDER`` it also times ``kedro run --pipelines score`` (preprocess →
normalize (symmetry) → heatmaps → scores, tracking off) over the photos in FOLDER, pinned
to one core, and prints images/s of the whole contract.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml
from skimage import data

from facial_anomaly.faces import PreprocessConfig, locate_face, render_aligned_face
from facial_anomaly.heatmaps import heatmap, region_mask
from facial_anomaly.scoring import anomaly_score, score_variants, variant_grid

CONF = Path(__file__).resolve().parents[1] / "conf" / "base"
TARGET_IMAGES_PER_SECOND = 20.0


def load(stage: str) -> dict:
    return yaml.safe_load((CONF / f"parameters_{stage}.yml").read_text(encoding="utf-8"))


def aligned_astronaut() -> tuple[np.ndarray, np.ndarray]:
    config = PreprocessConfig()
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    assert ok
    geometry, rgb = locate_face(encoded.tobytes(), config)
    assert geometry.ok, geometry.detail
    crop, _ = render_aligned_face(rgb, geometry, config)
    return crop, geometry.aligned_landmarks()


def perturbed(face: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    copy = face.copy()
    mouth = tuple(int(v) for v in np.round(landmarks[[13, 14], :2].mean(axis=0)))
    cv2.circle(copy, mouth, 12, (190, 60, 70), thickness=-1)
    noise = np.random.default_rng(0).integers(-4, 5, face.shape)
    return np.clip(copy.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def images_per_second(score_one, images: int) -> tuple[float, float]:
    """``(wall-clock, CPU-time)`` images/s. The machine is shared: CPU time of this
    single-threaded process is what one free core would give; wall time includes waiting."""
    score_one()  # warm-up (imports, caches)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(images):
        score_one()
    return images / (time.perf_counter() - wall), images / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60, help="images timed for score_variants")
    parser.add_argument("--end-to-end", metavar="FOLDER", help="also time `kedro run --pipelines score` on FOLDER")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)

    heatmaps, scores = load("heatmaps")["heatmaps"], load("scores")["scores"]
    grid = {**scores["grid"], "kinds": [kind for kind in scores["grid"]["kinds"] if kind != "lpips"]}
    settings = {key: heatmaps[key] for key in ("erosion_size", "erosion_iterations", "channel_reduction")}
    settings["kind_options"] = heatmaps["kind_options"]
    face, landmarks = aligned_astronaut()
    normalized = perturbed(face, landmarks)
    variants = variant_grid(grid)

    def grid_at_once():
        return score_variants(
            face,
            normalized,
            landmarks,
            grid=grid,
            statistic=scores["statistic"],
            region_params=scores["regions"],
            **settings,
        )

    def one_variant_at_a_time():
        # What a caller would do without score_variants: each variant from scratch, full frame.
        for variant in variants:
            iterations = settings["erosion_iterations"] if variant.eroded else 0
            heat = heatmap(
                face,
                normalized,
                kind=variant.kind,
                color_space=variant.color_space,
                erosion_size=settings["erosion_size"],
                erosion_iterations=iterations,
                channel_reduction=settings["channel_reduction"],
                kind_options=settings["kind_options"],
            )
            anomaly_score(heat, region_mask(landmarks, face.shape, variant.region, **scores["regions"][variant.region]))

    fast_wall, fast_cpu = images_per_second(grid_at_once, args.images)
    naive_wall, naive_cpu = images_per_second(one_variant_at_a_time, max(3, args.images // 10))
    print(
        f"face {face.shape[1]}×{face.shape[0]} px, {len(variants)} variants "
        f"(kinds {grid['kinds']} × {grid['color_spaces']} × erosion {grid['erosion']} × {grid['regions']}), "
        f"statistic {scores['statistic']}, 1 thread"
    )
    for name, wall, cpu in (("score_variants", fast_wall, fast_cpu), ("one variant at a time", naive_wall, naive_cpu)):
        print(f"{name:22s} {cpu:6.1f} images/s CPU time ({1000 / cpu:5.1f} ms/image), {wall:6.1f} images/s wall clock")
    verdict = "met" if fast_cpu >= TARGET_IMAGES_PER_SECOND else "NOT met"
    print(
        f"target ≥ {TARGET_IMAGES_PER_SECOND:.0f} images/s (CPU time): {verdict}; "
        f"speed-up of the shared grid: ×{fast_cpu / naive_cpu:.1f}"
    )
    if args.end_to_end:
        end_to_end(Path(args.end_to_end))


def end_to_end(folder: Path) -> None:
    """Wall time of the scoring contract on one core, in a new process (start-up included)."""
    import os
    import subprocess
    import sys
    import tempfile

    from facial_anomaly.faces import is_supported

    images = sum(1 for p in folder.rglob("*") if p.is_file() and is_supported(p.name))
    core = str(sorted(os.sched_getaffinity(0))[0])
    kedro = str(Path(sys.executable).with_name("kedro"))
    with tempfile.TemporaryDirectory() as out:
        params = f"input_dir={folder},output_dir={out},mlflow_tracking=false"
        start = time.perf_counter()
        subprocess.run(
            ["taskset", "-c", core, kedro, "run", "--pipelines", "score_photos", "--params", params],
            cwd=CONF.parents[1],
            check=True,
            capture_output=True,
        )
        seconds = time.perf_counter() - start
    print(
        f"kedro run --pipelines score on {images} images of {folder}: {seconds:.1f} s, "
        f"{images / seconds:.2f} images/s end to end (1 core, start-up included)"
    )


if __name__ == "__main__":
    main()
