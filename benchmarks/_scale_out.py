"""The ``--executors`` part of ``benchmarks/throughput.py``: the contract's per-image stages on
``serial``, ``processes`` and ``dask`` (LocalCluster), CPU and peak memory of every process,
and the executors' per-task overhead on trivial work.

Each contract run is a process of its own (``throughput.py --one-run``: a warm-up on 3 photos
with the same executor, so the fork server or the cluster and the first imports are up, then
the measured run), so the driver's peak memory and CPU time are that run's. Job functions
here are module-level so worker processes import them by name (this folder is put on their
``PYTHONPATH``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

STAGE_SUMMARIES = {
    "preprocess": "preprocess_summary.json",
    "normalize": "normalize_summary.json",
    "heatmaps": "heatmaps_summary.json",
    "report": "report_summary.json",
}
WORKER_MINIMUM_BYTES = 150 * 2**20  # fork servers, resource trackers and nannies stay below


# --------------------------------------------------------------------------- trivial jobs


def trivial_setup(spec):
    return spec


def trivial_run(state, item):
    return item


def trivial_fail(item, reason):
    return None


# --------------------------------------------------------------------------- processes


class ProcessMonitor:
    """Peak resident memory (``VmHWM``) and CPU seconds (user + system) of every process
    descended from this one, sampled every ``period`` seconds while running (the last
    sample of a process that ended since is kept)."""

    def __init__(self, period: float = 0.1) -> None:
        import psutil

        self.me = psutil.Process()
        self.period = period
        self.seen: dict[int, dict] = {}
        self.own_cpu = 0.0  # this monitor's CPU seconds, to leave out of the driver's
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self.stop.is_set():
            started = time.thread_time()
            self.sample()
            self.own_cpu += time.thread_time() - started
            self.stop.wait(self.period)

    def sample(self) -> None:
        import psutil

        for child in self.me.children(recursive=True):
            try:
                with open(f"/proc/{child.pid}/status") as handle:
                    fields = dict(line.split(":", 1) for line in handle if ":" in line)
                peak = int(fields["VmHWM"].split()[0]) * 1024
                times = child.cpu_times()
            except (OSError, KeyError, psutil.Error):
                continue
            record = self.seen.setdefault(child.pid, {"peak": 0, "cpu": 0.0})
            record["peak"] = max(record["peak"], peak)
            record["cpu"] = max(record["cpu"], times.user + times.system)

    def __enter__(self) -> ProcessMonitor:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.sample()
        self.stop.set()
        self.thread.join()

    def workers(self) -> list[dict]:
        """The processes that did work (large enough to hold a stage's libraries)."""
        return [record for record in self.seen.values() if record["peak"] >= WORKER_MINIMUM_BYTES]


def stage_seconds(output: Path) -> dict[str, float]:
    return {
        stage: float(json.loads((output / "08_reporting" / name).read_text())["seconds"])
        for stage, name in STAGE_SUMMARIES.items()
    }


def one_run(photos: Path, images: int, work: Path, kind: str, workers: int, output: Path) -> None:
    """Body of ``throughput.py --one-run``: warm up, run the contract once, print one JSON line."""
    import resource

    from _shared_data import photo_folder
    from throughput import run_contract

    from facial_anomaly.parallel import shutdown

    folder = photo_folder(photos, images, work / f"photos_{images}")
    warm = photo_folder(photos, 3, work / "photos_warm")
    params = {"executor.kind": kind, "executor.workers": workers}
    try:
        run_contract(warm, output.with_name(output.name + "_warm"), params)
        with ProcessMonitor() as monitor:
            load = os.getloadavg()[0]
            started, cpu = time.perf_counter(), time.process_time()
            run_contract(folder, output, params)
            wall, driver_cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        shutdown()
    workers_seen = monitor.workers()
    print(
        json.dumps(
            {
                "stages": stage_seconds(output),
                "wall": wall,
                "driver_cpu": driver_cpu - monitor.own_cpu,
                "driver_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "worker_cpu": sum(record["cpu"] for record in workers_seen),
                "worker_peaks": sorted((record["peak"] for record in workers_seen), reverse=True),
                "load": load,
            }
        )
    )


def run_in_process(photos: Path, images: int, work: Path, kind: str, workers: int) -> dict:
    output = work / f"out_{kind}_{workers}_{images}"
    command = [sys.executable, str(Path(__file__).with_name("throughput.py")), "--one-run", kind, str(workers),
               "--photos", str(photos), "--images", str(images), "--work", str(work)]  # fmt: skip
    if "THROUGHPUT_COMPRESSION" in os.environ:
        command += ["--compression", os.environ["THROUGHPUT_COMPRESSION"]]
    result = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    record = json.loads(result.stdout.strip().splitlines()[-1])
    record["output"] = output
    return record


# --------------------------------------------------------------------------- tables


def executor_table(photos: Path, images: int, work: Path, workers: int, repeats: int) -> None:
    """Each configuration ``repeats`` times, interleaved; the fastest run of each is shown
    (on a shared machine the least disturbed one)."""
    configs = {"serial": ("serial", 1), f"processes ({workers})": ("processes", workers),
               f"dask LocalCluster ({workers})": ("dask", workers)}  # fmt: skip
    results: dict[str, dict] = {}
    for repeat in range(repeats):
        for name, (kind, count) in configs.items():
            record = run_in_process(photos, images, work, kind, count)
            total = sum(record["stages"].values())
            print(f"  run {repeat + 1}, {name}: {total:.1f} s, load {record['load']:.1f}", flush=True)
            if name not in results or total < sum(results[name]["stages"].values()):
                results[name] = record
    serial = results["serial"]
    serial_stages, serial_cpu = sum(serial["stages"].values()), serial["driver_cpu"] + serial["worker_cpu"]
    print(f"\nper-image stages on {images} photos, wall seconds on this shared {os.cpu_count()}-core machine")
    print(f"{'executor':<26}" + "".join(f"{stage:>11}" for stage in STAGE_SUMMARIES)
          + f"{'total':>8}{'images/s':>10}{'speed-up':>10}{'load':>6}{'scores.csv = serial':>21}")  # fmt: skip
    for name, record in results.items():
        total = sum(record["stages"].values())
        same = (serial["output"] / "scores.csv").read_bytes() == (record["output"] / "scores.csv").read_bytes()
        print(f"{name:<26}" + "".join(f"{record['stages'][stage]:>11.1f}" for stage in STAGE_SUMMARIES)
              + f"{total:>8.1f}{images / total:>10.2f}{serial_stages / total:>9.2f}x{record['load']:>6.1f}"
              + f"{str(same):>21}")  # fmt: skip
    print("\nCPU seconds of the whole run (driver + workers), and the speed-up to expect with a core per worker:")
    print("(driver CPU + worker CPU / workers) against serial CPU; work spread evenly by the chunked queue")
    print(
        f"{'executor':<26}{'driver CPU':>11}{'worker CPU':>11}{'total CPU':>10}{'vs serial':>10}{'idle speed-up':>15}"
    )
    for name, record in results.items():
        count = configs[name][1]
        total_cpu = record["driver_cpu"] + record["worker_cpu"]
        critical = record["driver_cpu"] + (record["worker_cpu"] / count if record["worker_cpu"] else 0.0)
        print(f"{name:<26}{record['driver_cpu']:>11.1f}{record['worker_cpu']:>11.1f}{total_cpu:>10.1f}"
              f"{total_cpu / serial_cpu:>9.2f}x{serial_cpu / critical:>14.2f}x")  # fmt: skip


def memory_table(photos: Path, sizes: list[int], work: Path, workers: int) -> None:
    print(f"\npeak resident memory (VmHWM) per worker process and of the driver, {workers} workers")
    print(f"{'executor':<14}{'photos':>8}{'workers':>9}{'largest MB':>12}{'median MB':>11}{'driver MB':>11}")
    for kind in ("processes", "dask"):
        for size in sizes:
            record = run_in_process(photos, size, work, kind, workers)
            peaks = record["worker_peaks"]
            middle = peaks[len(peaks) // 2] / 2**20 if peaks else float("nan")
            print(f"{kind:<14}{size:>8}{len(peaks):>9}{(peaks[0] / 2**20 if peaks else float('nan')):>12.0f}"
                  f"{middle:>11.0f}{record['driver_peak'] / 2**20:>11.0f}", flush=True)  # fmt: skip


def overhead_table(workers_list: list[int], tasks: int) -> None:
    """Cold start (pool or cluster, first tasks), then the cost of each further task:
    (time of ``tasks`` tasks − time of 10 tasks) / (``tasks`` − 10), so start-up cancels."""
    from facial_anomaly.parallel import ExecutorConfig, Job, run_job, shutdown

    job = Job("trivial", trivial_setup, trivial_run, trivial_fail, spec=None)

    def timed(config, count: int) -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        assert list(run_job(job, range(count), config)) == list(range(count))
        return time.perf_counter() - started, time.process_time() - cpu

    print(f"\nper-task overhead on trivial work (one item per task: chunk_size 1; {tasks} tasks)")
    print(f"{'executor':<14}{'workers':>8}{'cold start s':>14}{'ms/task':>9}{'tasks/s':>9}{'driver CPU ms/task':>20}")
    for kind in ("processes", "dask"):
        for workers in workers_list:
            config = ExecutorConfig(kind=kind, workers=workers, chunk_size=1, progress_seconds=1e9)
            cold = timed(config, 3)[0]
            small, large = timed(config, 10), timed(config, tasks)
            per_task = (large[0] - small[0]) / (tasks - 10)
            cpu = (large[1] - small[1]) / (tasks - 10)
            print(f"{kind:<14}{workers:>8}{cold:>14.2f}{1000 * per_task:>9.2f}{1 / per_task:>9.0f}{1000 * cpu:>20.2f}")
            shutdown()


def scale_out(photos: Path, images: int, work: Path, memory_sizes: list[int], workers: int, repeats: int) -> None:
    benchmarks = str(Path(__file__).resolve().parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [benchmarks, os.environ.get("PYTHONPATH", "")]))
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start")
    overhead_table([1, workers], 2000)
    executor_table(photos, images, work, workers, repeats)
    if memory_sizes:
        memory_table(photos, memory_sizes, work, workers)
