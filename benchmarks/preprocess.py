"""Preprocess throughput on real photos, and the cost of running it through Kedro.

    .venv/bin/python benchmarks/preprocess.py [FOLDER ...]

FOLDERs default to ../shared/data/faces/{london_neutral,canada}. Pinned to one CPU core.
Prints:
  * images/s of a plain Python loop over the library functions (decode, detect,
    landmarks, align, mirrored padding, segmentation, PNG encode + write), warm — target ≥ 10;
  * the same loop as a new process (cold: interpreter, imports, model loading);
  * wall time of ``kedro run --pipelines preprocess`` over the same images (tracking off,
    fresh output folder) and its ratio to the cold loop — target ≤ 1.3;
  * a second ``kedro run`` that finds everything done and skips it;
  * the share of images that came out ``ok``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import cv2

    cv2.setNumThreads(1)


def load_config() -> dict:

    from facial_anomaly.faces import PreprocessConfig

    return PreprocessConfig()


def plain_loop(files: list[Path], output: Path, config: dict) -> tuple[float, int]:
    import cv2
    import numpy as np

    from facial_anomaly.faces import locate_face, render_aligned_face

    output.mkdir(parents=True, exist_ok=True)
    ok = 0
    start = time.perf_counter()
    for path in files:
        geometry, rgb = locate_face(path.read_bytes(), config)
        if not geometry.ok:
            continue
        crop, mask = render_aligned_face(rgb, geometry, config)
        compression = [cv2.IMWRITE_PNG_COMPRESSION, 1]
        cv2.imwrite(str(output / f"{path.stem}.png"), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), compression)
        cv2.imwrite(str(output / f"{path.stem}_mask.png"), np.round(mask * 255).astype(np.uint8), compression)
        ok += 1
    return time.perf_counter() - start, ok


def timed_subprocess(command: list[str]) -> float:
    """Wall time of a command pinned to one core (cold: includes interpreter, imports, models)."""
    import subprocess

    core = str(sorted(os.sched_getaffinity(0))[0]) if hasattr(os, "sched_getaffinity") else "0"
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    start = time.perf_counter()
    subprocess.run(["taskset", "-c", core, *command], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = PROJECT_ROOT.parent / "shared/data/faces"
    parser.add_argument("folders", nargs="*", default=[str(shared / "london_neutral"), str(shared / "canada")])
    parser.add_argument("--loop-only", metavar="OUT", help=argparse.SUPPRESS)  # the cold loop's subprocess
    args = parser.parse_args()
    pin_to_one_core()
    from facial_anomaly.faces import is_supported

    files = sorted(
        p for folder in map(Path, args.folders) for p in folder.rglob("*") if p.is_file() and is_supported(p.name)
    )
    if not files:
        sys.exit(f"no images found in {args.folders}")
    config = load_config()
    if args.loop_only:
        plain_loop(files, Path(args.loop_only), config)
        return
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        plain_loop(files[:2], scratch / "warmup", config)  # model loading is not throughput
        loop_seconds, ok = plain_loop(files, scratch / "loop", config)
        cold_loop = timed_subprocess([sys.executable, __file__, *args.folders, "--loop-only", str(scratch / "cold")])
        inputs = scratch / "input"  # the same images (temporary links), so Kedro sees exactly this set
        for path in files:
            target = inputs / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
        params = f"input_dir={inputs},output_dir={scratch / 'kedro'},mlflow_tracking=false"
        kedro = str(Path(sys.executable).with_name("kedro"))
        cold_kedro = timed_subprocess([kedro, "run", "--pipelines", "preprocess", "--params", params])
        rerun = timed_subprocess([kedro, "run", "--pipelines", "preprocess", "--params", params])
    n = len(files)
    print(f"images: {n} from {', '.join(args.folders)} (1 core); ok: {ok} ({100.0 * ok / n:.1f}%)")
    print(f"plain loop, warm:      {loop_seconds:7.2f} s  {n / loop_seconds:6.2f} images/s  (target >= 10)")
    print(f"plain loop, cold:      {cold_loop:7.2f} s  {n / cold_loop:6.2f} images/s  (new process: imports + models)")
    print(
        f"kedro run, cold:       {cold_kedro:7.2f} s  {n / cold_kedro:6.2f} images/s  ratio to cold loop {cold_kedro / cold_loop:.2f} (target <= 1.3)"
    )
    print(f"kedro rerun (skips):   {rerun:7.2f} s  ratio to cold loop {rerun / cold_loop:.2f}")


if __name__ == "__main__":
    main()
