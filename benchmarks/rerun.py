"""Start-up, first run and a rerun with nothing new, as a user runs them: ``kedro`` commands.

    python benchmarks/rerun.py [--photos DIR] [--images 120] [--executor serial] [--repeats 3]

Photos: as ``benchmarks/throughput.py`` (``--images`` of ``$FACIAL_ANOMALY_SHARED_DATA/faces``
linked into ``--work``). Each command is a new process, MLflow tracking off unless
``--mlflow`` (then a fresh sqlite store under ``--work``). Prints:

* ``kedro registry list``: wall seconds (best and median of ``--repeats``);
* ``kedro run --pipelines score_photos`` on 3 photos: seconds until the first node starts
  (the run's start-up: interpreter, Kedro, the project's settings, hooks, catalog and
  parameter checks);
* the contract on ``--images`` photos into a fresh output folder (first run), then the same
  command again (nothing new): total seconds, seconds after the first node started, and the
  rerun's share of the first run — target ≤ 5 % (plus start-up).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared_data import PROJECT_ROOT, photo_folder, shared_faces_folder

WORK = Path("/tmp/throughput_cache/rerun")
KEDRO = [sys.executable, "-m", "kedro"]
FIRST_NODE = "Running node:"


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DO_NOT_TRACK", "1")
    env.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT / "src"), env.get("PYTHONPATH", "")]))
    env["COLUMNS"] = "200"  # one log record per line
    return env


def timed_command(arguments: list[str]) -> tuple[float, float | None, str]:
    """(total seconds, seconds until the first node started or None, output) of a command
    run from the project folder; raises when it fails."""
    started = time.perf_counter()
    first_node = None
    lines = []
    with subprocess.Popen(
        arguments, cwd=PROJECT_ROOT, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        for line in process.stdout:
            lines.append(line)
            if first_node is None and FIRST_NODE in line:
                first_node = time.perf_counter() - started
    total = time.perf_counter() - started
    output = "".join(lines)
    if process.returncode:
        raise RuntimeError(f"{' '.join(arguments)} failed ({process.returncode}):\n{output[-3000:]}")
    return total, first_node, output


def contract(folder: Path, output: Path, executor: str, mlflow: Path | None, conf: Path | None = None) -> list[str]:
    params = [f"input_dir={folder}", f"output_dir={output}", f"executor.kind={executor}"]
    params.append(f"mlflow_tracking_uri=sqlite:///{mlflow}" if mlflow else "mlflow_tracking=false")
    command = [*KEDRO, "run", "--pipelines", "score_photos", "--params", ",".join(params)]
    return command + ([f"--conf-source={conf}"] if conf else [])


# The catalog change that lets the report reuse its thumbnails (proposed, not in conf/ yet):
# the report's workers get the thumbnails folder with the other artifact folders.
_ARTIFACTS_LINE = "    heatmaps: ${_out}/04_feature/heatmaps\n"
_THUMBNAILS_LINE = "    thumbnails: ${_out}/08_reporting/thumbnails\n"


def proposed_conf(work: Path) -> Path:
    """A copy of ``conf/`` whose ``run_artifacts`` entry also names the thumbnails folder."""
    target = work / "conf_proposed"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(PROJECT_ROOT / "conf", target)
    catalog = target / "base" / "catalog.yml"
    text = catalog.read_text()
    start = text.index("run_artifacts:")
    position = text.index(_ARTIFACTS_LINE, start) + len(_ARTIFACTS_LINE)
    catalog.write_text(text[:position] + _THUMBNAILS_LINE + text[position:])
    return target


def first_and_rerun(folder: Path, output: Path, executor: str, store: Path | None, conf: Path | None, label: str):
    shutil.rmtree(output, ignore_errors=True)
    first_total, first_start, _ = timed_command(contract(folder, output, executor, store, conf))
    rerun_total, rerun_start, _ = timed_command(contract(folder, output, executor, store, conf))
    first_work, rerun_work = first_total - first_start, rerun_total - rerun_start
    print(f"\n{label}")
    print(f"{'run':<28}{'total s':>9}{'start-up s':>12}{'after start-up s':>18}")
    print(f"{'first run':<28}{first_total:>9.1f}{first_start:>12.1f}{first_work:>18.1f}")
    print(f"{'rerun, nothing new':<28}{rerun_total:>9.1f}{rerun_start:>12.1f}{rerun_work:>18.1f}")
    print(f"rerun after start-up / first run after start-up: {100 * rerun_work / first_work:.1f} % (target ≤ 5 %)")
    summary = json.loads((output / "08_reporting" / "run_summary.json").read_text())
    reused = {stage: (summary.get(stage) or {}).get("reused") for stage in ("preprocess", "normalize", "heatmaps")}
    seconds = {stage: (summary.get(stage) or {}).get("seconds") for stage in ("preprocess", "normalize", "heatmaps",
                                                                             "report")}  # fmt: skip
    print(f"rerun: images reused per stage {reused}; stage seconds {seconds}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=None, help="folder of photos (default: the shared faces)")
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--executor", default="serial", help="executor.kind of the runs (default serial)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each start-up command")
    parser.add_argument("--mlflow", action="store_true", help="track the runs in a fresh sqlite MLflow store")
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument(
        "--proposed-catalog",
        action="store_true",
        help="also run with a copy of conf/ whose run_artifacts names the thumbnails folder",
    )
    args = parser.parse_args()
    photos = args.photos or shared_faces_folder()
    folder = photo_folder(photos, args.images, args.work / f"photos_{args.images}")
    small = photo_folder(photos, 3, args.work / "photos_3")
    store = args.work / "mlflow.db" if args.mlflow else None
    if store is not None and store.exists():
        store.unlink()
    print(f"{args.images} photos from {photos}; executor {args.executor}; MLflow {'on' if store else 'off'}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")  # fmt: skip

    registry = [timed_command([*KEDRO, "registry", "list"])[0] for _ in range(args.repeats)]
    print(f"kedro registry list: best {min(registry):.1f} s, median {statistics.median(registry):.1f} s")
    to_first = []
    for repeat in range(args.repeats):
        output = args.work / f"out_small_{repeat}"
        shutil.rmtree(output, ignore_errors=True)
        to_first.append(timed_command(contract(small, output, "serial", store))[1])
    print(f"kedro run to its first node: best {min(to_first):.1f} s, median {statistics.median(to_first):.1f} s")

    first_and_rerun(folder, args.work / f"out_{args.images}", args.executor, store, None, "with conf/ as it is")
    if args.proposed_catalog:
        conf = proposed_conf(args.work)
        label = "with run_artifacts.paths.thumbnails in the catalog (the report reuses its thumbnails)"
        first_and_rerun(folder, args.work / f"out_{args.images}_proposed", args.executor, store, conf, label)


if __name__ == "__main__":
    main()
