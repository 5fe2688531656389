"""Single-core cost of the scoring contract per stage and step, and its scale-out figures.

    taskset -c 0 python benchmarks/throughput.py [--photos DIR] [--images 120] [--env full_grid] [--models-dir DIR]
    python benchmarks/throughput.py --executors [--images 120] [--memory-images 120 480]

Photos: ``--photos`` (default ``$FACIAL_ANOMALY_SHARED_DATA/faces``, i.e.
``../shared/data/faces``), ``--images`` of them spread over every sub-folder, linked (never
copied) into ``--work`` (default ``/tmp/throughput_cache/bench``), where every output goes.

Profile (default): the ``score_photos`` pipeline (preprocess → normalize → heatmaps → scores
→ report, the project's ``conf/base``, tracking off; with ``--models-dir``, the fitted models
there are used as a scoring run finds them in ``models_dir``: the fitted-model columns and
the fused default) through Kedro's ``SequentialRunner``
with ``executor.kind=serial``, in this process, after a warm-up run on 3 other photos (so
imports and MediaPipe's graphs are built before the clock starts). The library functions
that do each step are wrapped with a clock that books *exclusive* time to
(stage, step): a step's time never includes a nested step's. Prints per stage and step the
CPU and wall milliseconds per image and the share of the total CPU time, and images/s
excluding start-up (the workers' set-up is shown as its own row). CPU time
(``time.process_time``, every thread of the process) is the single-core cost; wall time on
a shared machine also includes waiting for the core.

Executors (``--executors``): the per-image stages of the same pipeline with ``serial``,
``processes`` (2 workers) and ``dask`` (LocalCluster, 2 workers), each in a fresh output
folder: wall time of each per-image stage, speed-up over serial, whether ``scores.csv`` is
identical to serial's; peak RSS per worker process for each ``--memory-images``; and the
Dask path's per-task overhead (tasks/s of trivial work on 1 and 2 workers).
"""

from __future__ import annotations

import argparse
import collections
import functools
import importlib
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shared_data import PROJECT_ROOT, photo_folder, shared_faces_folder

WORK = Path("/tmp/throughput_cache/bench")
PROPOSED_CATALOG = False  # --proposed-catalog
PIPELINE = "score_photos"
MODELS_DIR: Path | None = None  # --models-dir

# (module, attribute, step): the functions whose time is booked to a step. A class method is
# named "module:Class.method". A step may be a function of the call's (args, kwargs).
STEPS = [
    ("facial_anomaly.batch.preprocess", "read_input", "read photo file"),
    ("facial_anomaly.faces.preprocess", "decode_image", "decode photo"),
    ("facial_anomaly.faces.io", "decode_image", "decode photo"),
    ("facial_anomaly.faces.preprocess", "detect_faces", "detect face"),
    ("facial_anomaly.faces.preprocess", "detect_landmarks", "FaceMesh landmarks"),
    ("facial_anomaly.faces.preprocess", "alignment_from_landmarks", "align + mirrored padding"),
    ("facial_anomaly.faces.preprocess", "warp_with_mirrored_background", "align + mirrored padding"),
    ("facial_anomaly.faces.preprocess", "foreground_mask", "selfie segmentation"),
    ("facial_anomaly.batch.preprocess", "pack_face_and_mask", "PNG encode"),
    ("facial_anomaly.storage.artifacts", "encode_png", "PNG encode"),
    ("facial_anomaly.batch.preprocess", "encode_png", "PNG encode"),
    ("facial_anomaly.batch.normalize", "encode_png", "PNG encode"),
    ("facial_anomaly.storage.artifacts", "decode_png", "PNG decode"),
    ("facial_anomaly.batch.inputs", "decode_png", "PNG decode"),
    ("facial_anomaly.batch.inputs", "png_provenance", "provenance records"),
    ("facial_anomaly.storage.artifacts:ArtifactFolder.intact_png_provenance", None, "reuse check"),
    ("facial_anomaly.storage.artifacts:ArtifactFolder.npz_provenance", None, "reuse check"),
    ("facial_anomaly.storage.artifacts:ArtifactFolder.read", None, "file read"),
    ("facial_anomaly.storage.artifacts:ArtifactFolder.write", None, "file write"),
    ("facial_anomaly.normalizers.symmetry:SymmetryNormalizer.normalize", None, "normalize (symmetry)"),
    ("facial_anomaly.scoring.scores", "region_mask", "region masks"),
    ("facial_anomaly.batch.gallery", "region_mask", "region masks"),
    (
        "facial_anomaly.batch.heatmaps",
        "score_variants",
        lambda args, kwargs: f"variant grid ({kwargs.get('statistic', '?')})",
    ),
    ("facial_anomaly.batch.heatmaps", "heatmap", "saved map"),
    ("facial_anomaly.batch.heatmaps", "heat_sketch", "heat sketch (colour scale)"),
    ("facial_anomaly.batch.inputs", "unpack_face_and_mask", "unpack aligned face"),
    ("facial_anomaly.batch.inputs", "transform_points", "unpack aligned face"),
    ("facial_anomaly.batch.heatmaps", "encode_npz", "NPZ encode"),
    ("facial_anomaly.batch.gallery", "decode_npz", "NPZ decode"),
    ("facial_anomaly.batch.gallery", "image_panel", "panels"),
    ("facial_anomaly.batch.gallery", "encode_thumbnail", "thumbnails (JPEG)"),
    ("facial_anomaly.batch.gallery", "overlay_on_photo", "photo overlays"),
    ("facial_anomaly.pipelines.normalize.nodes", "comparison_sheet", "comparison sheets"),
    ("facial_anomaly.pipelines.scores.nodes", "build_scores_table", "table assembly"),
    ("facial_anomaly.batch.preprocess", "preprocess_tables", "table assembly"),
    ("facial_anomaly.evaluation.html_report", "render_html_report", "HTML report"),
    ("facial_anomaly.parallel.executor", "_state_for", "worker set-up"),
    ("facial_anomaly.batch.gallery", "run_vmax", "colour scale (sketches)"),
    ("facial_anomaly.batch.gallery", "_reusable_thumbnail", "thumbnail reuse check"),
    ("hashlib", "sha1", "SHA-1 of photos and ids"),
    ("facial_anomaly.features.backbone:FeatureExtractor.features_of_inputs", None, "backbone forward passes"),
    ("facial_anomaly.scoring.normal_variation:NormalVariationMaps.zscore", None, "z-score against normal variation"),
    ("facial_anomaly.supervised.scorer:SupervisedScorer.score", None, "supervised scorer"),
    ("facial_anomaly.scoring.padim:PadimScorer.score_map", None, "PaDiM map (besides the backbone)"),
    ("facial_anomaly.scoring.columns", "shape_residual_score", "shape residual"),
]
SETUP_STEP = "worker set-up"


class StepClock:
    """Exclusive CPU and wall seconds per (stage, step); the stage is the running Kedro node."""

    def __init__(self) -> None:
        self.stage = "outside nodes"
        self.stack: list[list[float]] = []  # per open step: [child CPU, child wall]
        self.cpu: collections.Counter = collections.Counter()
        self.wall: collections.Counter = collections.Counter()
        self.calls: collections.Counter = collections.Counter()
        self.patches: list[tuple[object, str, object]] = []
        self.missing: list[str] = []

    def begin(self) -> tuple[float, float]:
        self.stack.append([0.0, 0.0])
        return time.process_time(), time.perf_counter()

    def end(self, step: str, started: tuple[float, float]) -> None:
        cpu, wall = time.process_time() - started[0], time.perf_counter() - started[1]
        child_cpu, child_wall = self.stack.pop()
        key = (self.stage, step)
        self.cpu[key] += cpu - child_cpu
        self.wall[key] += wall - child_wall
        self.calls[key] += 1
        if self.stack:
            self.stack[-1][0] += cpu
            self.stack[-1][1] += wall

    def wrap(self, target: str, attribute: str | None, step) -> None:
        module_name, _, qualified = target.partition(":")
        try:
            owner = importlib.import_module(module_name)
            if qualified:
                class_name, attribute = qualified.split(".")
                owner = getattr(owner, class_name)
            original = getattr(owner, attribute)
        except (ImportError, AttributeError):
            self.missing.append(f"{target}{'.' + attribute if attribute else ''}")
            return
        clock = self

        @functools.wraps(original)
        def timed(*args, **kwargs):
            name = step(args, kwargs) if callable(step) else step
            started = clock.begin()
            try:
                return original(*args, **kwargs)
            finally:
                clock.end(name, started)

        setattr(owner, attribute, timed)
        self.patches.append((owner, attribute, original))

    def install(self) -> None:
        for target, attribute, step in STEPS:
            self.wrap(target, attribute, step)

    def remove(self) -> None:
        for owner, attribute, original in reversed(self.patches):
            setattr(owner, attribute, original)
        self.patches.clear()


class NodeClock:
    """Kedro hooks: each node's CPU and wall seconds (loading its inputs, running, saving its
    outputs), dataset loads and saves booked as steps of the node."""

    def __init__(self, steps: StepClock) -> None:
        self.steps = steps
        self.open: dict[str, tuple[float, float]] = {}
        self.order: list[str] = []

    def _dataset(self, node, kind: str, before: bool) -> None:
        self.steps.stage = node.name
        if node.name not in self.order:
            self.order.append(node.name)
        if before:
            self.open[kind] = self.steps.begin()
        else:
            self.steps.end(kind, self.open.pop(kind))

    def hooks(self):
        from kedro.framework.hooks import hook_impl

        clock = self

        class Hooks:
            @hook_impl
            def before_dataset_loaded(self, dataset_name, node):
                clock._dataset(node, "dataset load", True)

            @hook_impl
            def after_dataset_loaded(self, dataset_name, data, node):
                clock._dataset(node, "dataset load", False)

            @hook_impl
            def before_node_run(self, node, catalog, inputs, is_async, run_id):
                clock.steps.stage = node.name
                if node.name not in clock.order:
                    clock.order.append(node.name)
                clock.open["node"] = clock.steps.begin()

            @hook_impl
            def after_node_run(self, node, catalog, inputs, outputs, is_async, run_id):
                clock.steps.end("(node, not in a step)", clock.open.pop("node"))

            @hook_impl
            def before_dataset_saved(self, dataset_name, data, node):
                clock._dataset(node, "dataset save", True)

            @hook_impl
            def after_dataset_saved(self, dataset_name, data, node):
                clock._dataset(node, "dataset save", False)

        return Hooks()


# --------------------------------------------------------------------------- running the pipeline


def project_catalog(input_dir: Path, output_dir: Path, params: dict):
    """The project's catalog and typed parameters for one run, as ``kedro run --params`` makes them."""
    from kedro.config import OmegaConfigLoader
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project
    from kedro.io import DataCatalog
    from kedro.validation.parameter_validator import ParameterValidator

    from facial_anomaly.hooks import untracked_pipelines
    from facial_anomaly.settings import CONFIG_LOADER_ARGS

    bootstrap_project(PROJECT_ROOT)
    runtime = {"input_dir": str(input_dir), "output_dir": str(output_dir), "mlflow_tracking": False}
    if MODELS_DIR is not None:  # --models-dir: the contract with every model fitted there
        runtime["models_dir"] = str(MODELS_DIR)
    for dotted, value in params.items():
        node = runtime
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    loader = OmegaConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"),
        base_env="base",
        default_run_env="local",
        env=os.environ.get("THROUGHPUT_ENV") or None,
        runtime_params=runtime,
        custom_resolvers={"fa.untracked_pipelines": untracked_pipelines},
        merge_strategy=CONFIG_LOADER_ARGS["merge_strategy"],  # as settings.py gives kedro run
    )
    catalog_config = loader["catalog"]
    if PROPOSED_CATALOG:  # the report's workers also get the thumbnails folder (see benchmarks/rerun.py)
        catalog_config["run_artifacts"]["paths"]["thumbnails"] = str(output_dir / "08_reporting" / "thumbnails")
    catalog = DataCatalog.from_config(catalog_config)
    pipelines.set_requested([PIPELINE])  # as `kedro run --pipelines score_photos`: only its modules are imported
    pipeline = pipelines[PIPELINE]
    parameters = ParameterValidator({PIPELINE: pipeline}).validate_raw_params(loader["parameters"])

    def flat(values: dict, prefix: str = "") -> dict:
        result = {}
        for key, value in values.items():
            result[f"{prefix}{key}"] = value
            if isinstance(value, dict):
                result.update(flat(value, f"{prefix}{key}."))
        return result

    for name, value in flat(parameters).items():
        catalog[f"params:{name}"] = value
    return pipeline, catalog


def artifact_compression(level: int) -> None:
    """Make the catalog's artifact folders write at zlib ``level`` (what a ``compression``
    setting of those catalog entries would do; the catalog has none yet)."""
    import dataclasses

    from facial_anomaly.datasets import folders

    for name in ("ArtifactFolderDataset", "ArtifactFoldersDataset"):
        dataset = getattr(folders, name)
        original = getattr(dataset, "_original_load", dataset.load)
        dataset._original_load = original

        def load(self, original=original):
            loaded = original(self)
            if dataclasses.is_dataclass(loaded) and hasattr(loaded, "compression"):
                return dataclasses.replace(loaded, compression=level)
            return dataclasses.replace(
                loaded, **{field.name: dataclasses.replace(getattr(loaded, field.name), compression=level)
                           for field in dataclasses.fields(loaded) if getattr(loaded, field.name) is not None}
            )  # fmt: skip

        dataset.load = load


def run_contract(input_dir: Path, output_dir: Path, params: dict, hooks=(), fresh: bool = True) -> None:
    """The contract pipeline over ``input_dir`` into ``output_dir`` (emptied first when
    ``fresh``), without MLflow."""
    from kedro.framework.hooks import manager as hook_managers
    from kedro.runner import SequentialRunner

    if fresh:
        shutil.rmtree(output_dir, ignore_errors=True)
    pipeline, catalog = project_catalog(input_dir, output_dir, params)
    quiet_logs()  # after bootstrap_project, which applies conf/logging.yml
    hook_manager = hook_managers._create_hook_manager()
    for hook in hooks:
        hook_manager.register(hook)
    SequentialRunner().run(pipeline, catalog, hook_manager=hook_manager)


def quiet_logs() -> None:
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in (
        "kedro",
        "facial_anomaly",
        "distributed",
        "distributed.nanny",
        "distributed.scheduler",
        "distributed.core",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ start-up chatter


# --------------------------------------------------------------------------- profile


def profile(photos: Path, images: int, work: Path, executor: str = "serial", rerun: bool = False) -> None:
    import cv2

    cv2.setNumThreads(1)
    folder = photo_folder(photos, images, work / f"photos_{images}")
    warm = photo_folder(photos, 3, work / "photos_warm")
    params = {"executor.kind": executor}
    where = "one process" if executor == "serial" else "the driver process only (workers not clocked)"
    print(f"photos: {images} from {photos} (linked in {folder}); {where}, executor {executor}")
    print(f"CPU affinity: {sorted(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}")
    started = time.perf_counter(), time.process_time()
    run_contract(warm, work / "out_warm", params)
    print(
        f"warm-up on 3 photos (imports, MediaPipe graphs): {time.perf_counter() - started[0]:.1f} s wall, "
        f"{time.process_time() - started[1]:.1f} s CPU"
    )
    output = work / ("out_rerun" if rerun else "out_profile")
    if rerun:  # the first run, not clocked; the clocked run below finds everything done
        run_contract(folder, output, params)
        print("clocked: a rerun with nothing new")
    steps = StepClock()
    nodes = NodeClock(steps)
    steps.install()
    if steps.missing:
        print("not found (left out of the table):", ", ".join(steps.missing))
    started = time.perf_counter(), time.process_time()
    try:
        run_contract(folder, output, params, hooks=[nodes.hooks()], fresh=not rerun)
    finally:
        steps.remove()
    wall, cpu = time.perf_counter() - started[0], time.process_time() - started[1]
    print_profile(steps, nodes.order, images, wall, cpu)
    from facial_anomaly.storage import memory

    kept = memory.stats()
    print(
        f"decoded artifacts kept in memory (serial): {kept['entries']} entries, {kept['used'] / 2**20:.0f} MB "
        f"of {kept['budget'] / 2**20:.0f} MB; {kept['hits']} reads served from memory, {kept['misses']} from disk"
    )


def print_profile(steps: StepClock, order: list[str], images: int, wall: float, cpu: float) -> None:
    total_cpu = sum(steps.cpu.values())
    stage_cpu = collections.Counter()
    stage_wall = collections.Counter()
    for (stage, _), seconds in steps.cpu.items():
        stage_cpu[stage] += seconds
    for (stage, _), seconds in steps.wall.items():
        stage_wall[stage] += seconds
    per = 1000.0 / images
    print(f"\n{'stage / step':<46} {'CPU ms/img':>10} {'wall ms/img':>11} {'share':>6} {'calls':>6}")
    stages = [stage for stage in order if stage in stage_cpu] + [s for s in stage_cpu if s not in order]
    for stage in stages:
        print(f"{stage:<46} {stage_cpu[stage] * per:>10.1f} {stage_wall[stage] * per:>11.1f} "
              f"{100 * stage_cpu[stage] / total_cpu:>5.1f}%")  # fmt: skip
        rows = sorted(((step, s) for (st, step), s in steps.cpu.items() if st == stage), key=lambda r: -r[1])
        for step, seconds in rows:
            key = (stage, step)
            print(f"  {step:<44} {seconds * per:>10.1f} {steps.wall[key] * per:>11.1f} "
                  f"{100 * seconds / total_cpu:>5.1f}% {steps.calls[key]:>6}")  # fmt: skip
    by_step = collections.Counter()
    for (_, step), seconds in steps.cpu.items():
        by_step[step] += seconds
    print(f"\n{'step, all stages':<46} {'CPU ms/img':>10} {'share':>6}")
    for step, seconds in by_step.most_common():
        print(f"  {step:<44} {seconds * per:>10.1f} {100 * seconds / total_cpu:>5.1f}%")
    setup_cpu = by_step[SETUP_STEP]
    setup_wall = sum(seconds for (_, step), seconds in steps.wall.items() if step == SETUP_STEP)
    print(
        f"\nrun of {images} images: {wall:.1f} s wall, {cpu:.1f} s CPU "
        f"(clocked in nodes: {total_cpu:.1f} s CPU); worker set-up {setup_cpu:.2f} s CPU / {setup_wall:.2f} s wall"
    )
    print(
        f"images/s excluding start-up: {images / (cpu - setup_cpu):.2f} per CPU second, "
        f"{images / (wall - setup_wall):.2f} per wall second"
    )


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=None, help="folder of photos (default: the shared faces)")
    parser.add_argument("--images", type=int, default=120, help="photos per run (default 120)")
    parser.add_argument("--work", type=Path, default=WORK, help=f"where links and outputs go (default {WORK})")
    parser.add_argument("--executors", action="store_true", help="scale-out figures instead of the profile")
    parser.add_argument(
        "--memory-images", type=int, nargs="*", default=[120, 480], help="run sizes for the peak-RSS figures"
    )
    parser.add_argument("--workers", type=int, default=2, help="workers of processes and dask (default 2)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each executor (the fastest is shown)")
    parser.add_argument(
        "--executor", default="serial", help="executor.kind of the profile (default serial; others clock the driver)"
    )
    parser.add_argument(
        "--compression", type=int, default=None, help="zlib level of the per-image artifacts (default: the catalog's)"
    )
    parser.add_argument("--rerun", action="store_true", help="profile a rerun with nothing new instead")
    parser.add_argument("--env", default=None, help="Kedro environment of conf/ laid over base (e.g. full_grid)")
    parser.add_argument(
        "--proposed-catalog", action="store_true", help="run_artifacts also names the thumbnails folder (reuse)"
    )
    parser.add_argument(
        "--models-dir", type=Path, default=None, help="models_dir of the runs (fitted models; default: none fitted)"
    )
    parser.add_argument("--one-run", nargs=2, metavar=("KIND", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    photos = args.photos or shared_faces_folder()
    quiet_logs()
    if args.env:
        os.environ["THROUGHPUT_ENV"] = args.env  # for the --one-run processes too
    if args.models_dir is not None:
        global MODELS_DIR
        MODELS_DIR = args.models_dir.resolve()
    if args.proposed_catalog:
        global PROPOSED_CATALOG
        PROPOSED_CATALOG = True
    if args.compression is not None:
        artifact_compression(args.compression)
        os.environ["THROUGHPUT_COMPRESSION"] = str(args.compression)  # for the --one-run processes
    if args.one_run:  # one contract run of --executors, in a process of its own
        from _scale_out import one_run

        kind, workers = args.one_run[0], int(args.one_run[1])
        one_run(photos, args.images, args.work, kind, workers, args.work / f"out_{kind}_{workers}_{args.images}")
    elif args.executors:
        from _scale_out import scale_out

        scale_out(photos, args.images, args.work, args.memory_images, args.workers, args.repeats)
    else:
        profile(photos, args.images, args.work, args.executor, args.rerun)


if __name__ == "__main__":
    main()
