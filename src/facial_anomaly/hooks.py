"""Project hooks: the embedded demo sample, and logging to MLflow from any stage.

MLflow logging is declared in the catalog, not coded in nodes: a dataset whose
``metadata`` has ``mlflow: metrics`` is logged as metrics when saved, one with
``mlflow: artifact`` as a file (tables → CSV, dicts → JSON, figures and images → PNG,
dicts of images or figures → a folder of PNGs, fitted models → their own ``.npz``), and
a table with ``mlflow: nested_runs`` as one nested run per row (``run_name``,
``param.*``, ``metric.*`` columns), a table with ``mlflow: metric_history`` as one
metric per column logged at every ``step``. A list (``[artifact, metrics]``) does several.
``mlflow: face_images`` is an artifact made of face images, logged only while the parameter
``log_face_images`` is true. Every node's wall time is logged as ``seconds.<node>``; nodes
tagged ``gpu`` also log the torch device they ran on. Nothing is logged when no MLflow run is
active (tracking switched off), so the same catalog works with and without tracking.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import tempfile
import time
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

_TRUE_WORDS = {"1", "true", "yes", "on"}
GPU_TAG = "gpu"
FACE_IMAGES = "face_images"  # an artifact made of face images: logged unless log_face_images is false
_METRICS_PER_BATCH = 1000  # MLflow's log_batch limit


def untracked_pipelines(tracking: Any) -> list[str]:
    """Config resolver for ``mlflow.yml``: every pipeline name when tracking is switched off.

    ``kedro run --params mlflow_tracking=false`` makes kedro-mlflow skip the MLflow run
    for whatever pipeline is run.
    """
    if str(tracking).strip().lower() in _TRUE_WORDS:
        return []
    import pkgutil

    import facial_anomaly.pipelines as stages

    # Listed from the package folders, not the pipeline registry: this runs while the
    # configuration loads, possibly in the middle of the registry's own loading.
    return sorted({module.name for module in pkgutil.iter_modules(stages.__path__) if module.ispkg} | {"__default__"})


def _flat_numbers(data: Any, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested dict as ``a.b.c`` → float (NaN and non-numbers skipped)."""
    flat: dict[str, float] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            flat.update(_flat_numbers(value, f"{prefix}{key}."))
    elif isinstance(data, numbers.Real) and not isinstance(data, bool) and math.isfinite(data):
        flat[prefix.rstrip(".")] = float(data)
    return flat


def _is_image(value: Any) -> bool:
    import numpy as np

    return isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim in (2, 3)


def _is_file(value: Any) -> bool:
    return isinstance(value, bytes) or (callable(value) and not hasattr(value, "savefig"))


def _write_image(image, path: Path) -> Path:
    import cv2

    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(path), image)
    return path


def _write_artifact(data: Any, folder: Path, name: str) -> Path | None:
    """Serialise a saved dataset's data to a file (or a folder of files) MLflow can store;
    None for types it does not know."""
    import pandas as pd

    if (
        isinstance(data, dict)
        and data
        and all(_is_image(v) or hasattr(v, "savefig") or _is_file(v) for v in data.values())
    ):
        target = folder / name
        target.mkdir()
        for key, value in data.items():
            value = value() if callable(value) and not hasattr(value, "savefig") else value
            stem = str(key).replace("/", "__")
            if isinstance(value, bytes):  # an encoded file (PNG, JPEG): keep its name and bytes
                (target / stem).write_bytes(value)
                continue
            path = target / (stem if stem.endswith(".png") else f"{stem}.png")
            if hasattr(value, "savefig"):
                value.savefig(path, dpi=100)
            else:
                _write_image(value, path)
        return target
    if isinstance(data, pd.DataFrame):
        path = folder / f"{name}.csv"
        data.to_csv(path, index=False)
    elif isinstance(data, (dict, list)):
        path = folder / f"{name}.json"
        path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    elif isinstance(data, str):
        path = folder / (
            f"{name.removesuffix('_html')}.html" if data.lstrip().startswith("<!DOCTYPE") else f"{name}.md"
        )
        path.write_text(data, encoding="utf-8")
    elif hasattr(data, "savefig"):
        path = folder / f"{name}.png"
        data.savefig(path, dpi=100)
    elif _is_image(data):
        path = _write_image(data, folder / f"{name}.png")
    elif callable(getattr(data, "save", None)):  # fitted models save themselves (.npz, no pickle)
        path = folder / f"{name}.npz"
        data.save(path)
    else:
        return None
    return path


def log_nested_runs(table: Any, *, parent: str) -> None:
    """One nested MLflow run per table row: ``run_name``, ``param.*`` columns as parameters,
    finite ``metric.*`` columns as metrics (e.g. one run per scoring variant)."""
    import mlflow
    import pandas as pd

    if not isinstance(table, pd.DataFrame):
        logger.warning("nested_runs needs a table; %s is a %s", parent, type(table).__name__)
        return
    for row in table.to_dict("records"):
        with mlflow.start_run(run_name=str(row.get("run_name", parent)), nested=True):
            mlflow.set_tag("facial_anomaly.table", parent)
            mlflow.log_params({key[len("param.") :]: value for key, value in row.items() if key.startswith("param.")})
            metrics = _flat_numbers(
                {key[len("metric.") :]: value for key, value in row.items() if key.startswith("metric.")}
            )
            if metrics:
                mlflow.log_metrics(metrics)


def log_metric_history(table: Any, *, prefix: str) -> None:
    """A table with a ``step`` column as metric histories: every other numeric column is one
    metric ``<prefix>.<column>`` logged at each step (loss curves, per-epoch validation)."""
    import mlflow
    from mlflow.entities import Metric

    if not hasattr(table, "columns") or "step" not in table.columns:
        logger.warning("metric_history needs a table with a 'step' column; %s has none", prefix)
        return
    now = int(time.time() * 1000)
    metrics = [
        Metric(f"{prefix}.{column}", float(value), now, int(step))
        for column in table.columns
        if column != "step"
        for step, value in zip(table["step"], table[column])
        if isinstance(value, numbers.Real) and math.isfinite(value)
    ]
    client = mlflow.MlflowClient()
    run_id = mlflow.active_run().info.run_id
    for start in range(0, len(metrics), _METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + _METRICS_PER_BATCH])


def _tracking_on(value: Any) -> bool:
    return str(value).strip().lower() in _TRUE_WORDS


def _run_parameters(context) -> dict[str, Any]:
    """The run's parameters as plain values (conf/ merged with --params), without Kedro's
    typed validation (which a hook reading ``context.params`` would run for every pipeline)."""
    try:
        return dict(context.config_loader["parameters"])
    except Exception:  # no parameters at all: defaults apply
        return {}


def _configured_blocks(context) -> set[str]:
    """Top-level parameter names of conf/ alone (the run's loader also holds every --params name)."""
    loader = context.config_loader
    try:
        plain = type(loader)(
            conf_source=loader.conf_source,
            env=loader.env,
            base_env=loader.base_env,
            default_run_env=loader.default_run_env,
            config_patterns=loader.config_patterns,
            runtime_params={},
        )
        return set(plain["parameters"])
    except Exception:  # a loader of another kind: fall back to the merged view
        return set(_run_parameters(context))


class ProjectMlflowHook:
    """kedro-mlflow's hook, imported only when a run tracks (mlflow takes seconds to import),
    with the typed parameter objects logged as flattened values like plain dicts.

    Registered in ``settings.py`` in place of the plugin's own entry point
    (``DISABLE_HOOKS_FOR_PLUGINS``), so ``kedro run --params mlflow_tracking=false`` and
    commands that run nothing never import mlflow.
    """

    def __init__(self) -> None:
        self._hook = None

    @hook_impl
    def after_context_created(self, context) -> None:
        self._hook = None
        if not _tracking_on(_run_parameters(context).get("mlflow_tracking", True)):
            return
        from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook

        self._hook = MlflowHook()
        self._hook.after_context_created(context)

    @hook_impl
    def after_catalog_created(self, catalog, conf_catalog, conf_creds, parameters, save_version, load_versions) -> None:
        if self._hook is not None:
            self._hook.after_catalog_created(
                catalog=catalog,
                conf_catalog=conf_catalog,
                conf_creds=conf_creds,
                parameters=parameters,
                save_version=save_version,
                load_versions=load_versions,
            )

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        if self._hook is not None:
            self._hook.before_pipeline_run(run_params=run_params, pipeline=pipeline, catalog=catalog)

    @hook_impl
    def before_node_run(self, node, catalog, inputs: dict[str, Any], is_async: bool) -> None:
        if self._hook is None:
            return
        from .config import Config, as_plain

        plain = {key: as_plain(value) if isinstance(value, Config) else value for key, value in inputs.items()}
        self._hook.before_node_run(node=node, catalog=catalog, inputs=plain, is_async=is_async)

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        if self._hook is not None:
            self._hook.after_pipeline_run(run_params=run_params, pipeline=pipeline, catalog=catalog)

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline, catalog) -> None:
        if self._hook is not None:
            self._hook.on_pipeline_error(error=error, run_params=run_params, pipeline=pipeline, catalog=catalog)


# Tags that say which process a run belongs to, so a run whose process was killed can be
# marked failed by the next run on the same host.
PID_TAG = "facial_anomaly.pid"
HOST_TAG = "facial_anomaly.host"
_EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
_MODEL_TRAINING_KIND = "custom_model_development"  # MLflow 3's UI then opens on the runs, not the GenAI pages


def _process_alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def close_abandoned_runs(experiment_id: str, *, current_run_id: str) -> list[str]:
    """Mark FAILED the runs of this host still RUNNING whose process is gone (killed with
    ``kill -9``, out of memory...); returns their ids."""
    import socket

    import mlflow

    client = mlflow.MlflowClient()
    host = socket.gethostname()
    closed = []
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=500):
        tags = run.data.tags
        if run.info.run_id == current_run_id or tags.get(HOST_TAG) != host or not tags.get(PID_TAG, "").isdigit():
            continue
        if _process_alive(int(tags[PID_TAG])):
            continue
        client.set_tag(run.info.run_id, "facial_anomaly.ended", "its process was gone when the next run started")
        client.set_terminated(run.info.run_id, status="FAILED")
        closed.append(run.info.run_id)
    if closed:
        logger.warning("marked %d MLflow run(s) FAILED whose process had died: %s", len(closed), closed)
    return closed


def run_name(pipeline_names: Any, input_dir: str | None) -> str:
    """``<pipelines> · <input folder>``: what a run did, readable in the MLflow run list."""
    pipelines = "+".join(pipeline_names or ["__default__"])
    folder = Path(str(input_dir).rstrip("/")).name if input_dir else "data/01_raw"
    return f"{pipelines} · {folder}"


# Parameters worth a plain column in the MLflow run list, when the run uses them.
_PLAIN_PARAMETERS = (
    ("input_dir", None),
    ("output_dir", None),
    ("models_dir", None),
    ("normalizer", ("normalize", "normalizer")),
    ("default_variant", ("scores", "default_variant")),
)


class MlflowTrackingHook:
    """Logs catalog-declared metrics/artifacts and node timings to the active MLflow run,
    names the run, logs the plain run parameters and closes runs whose process died."""

    def __init__(self) -> None:
        self._mlflow_kind: dict[str, Any] = {}
        self._node_started: dict[str, float] = {}
        self._log_face_images = True
        self._parameters: dict[str, Any] = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        self._parameters = _run_parameters(context)
        self._log_face_images = _tracking_on(self._parameters.get("log_face_images", True))

    @hook_impl
    def after_catalog_created(self, catalog, conf_catalog: dict[str, Any], **_: Any) -> None:
        self._mlflow_kind = {
            name: config["metadata"]["mlflow"]
            for name, config in (conf_catalog or {}).items()
            if isinstance(config, dict) and isinstance(config.get("metadata"), dict) and "mlflow" in config["metadata"]
        }
        # Dataset factories: their metadata applies to every name they match.
        self._patterns = {name: kinds for name, kinds in self._mlflow_kind.items() if "{" in name and "}" in name}

    def _kinds(self, dataset_name: str):
        if dataset_name in self._mlflow_kind:
            return self._mlflow_kind[dataset_name]
        from parse import parse

        for pattern, kinds in getattr(self, "_patterns", {}).items():
            if parse(pattern, dataset_name) is not None:
                return kinds
        return None

    @staticmethod
    def _active_run():
        import sys

        if "mlflow" not in sys.modules:  # never imported: nothing can be active
            return None
        import mlflow

        return mlflow.active_run()

    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        run = self._active_run()
        if run is None:
            return
        import os
        import socket

        import mlflow

        runtime = run_params.get("runtime_params") or {}
        mlflow.set_tags(
            {
                "mlflow.runName": run_name(run_params.get("pipeline_names"), runtime.get("input_dir")),
                PID_TAG: str(os.getpid()),
                HOST_TAG: socket.gethostname(),
            }
        )
        plain = {}
        for name, path in _PLAIN_PARAMETERS:
            if path is None:
                value = runtime.get(name)
            else:
                block = self._parameters.get(path[0])
                value = block.get(path[1]) if isinstance(block, dict) else None
            if value is not None:
                plain[name] = value
        if plain:
            mlflow.log_params(plain)
        client = mlflow.MlflowClient()
        experiment_id = run.info.experiment_id
        experiment = client.get_experiment(experiment_id)
        if experiment.tags.get(_EXPERIMENT_KIND_TAG) != _MODEL_TRAINING_KIND:
            client.set_experiment_tag(experiment_id, _EXPERIMENT_KIND_TAG, _MODEL_TRAINING_KIND)
        close_abandoned_runs(experiment_id, current_run_id=run.info.run_id)

    @hook_impl
    def before_node_run(self, node, **_: Any) -> None:
        self._node_started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node, **_: Any) -> None:
        started = self._node_started.pop(node.name, None)
        if started is None or self._active_run() is None:
            return
        import mlflow

        mlflow.log_metric(f"seconds.{node.name}", time.perf_counter() - started)
        if GPU_TAG in node.tags:
            from facial_anomaly.devices import resolve_device

            mlflow.set_tag(f"device.{node.name}", str(resolve_device("auto")))

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, **_: Any) -> None:
        kinds = self._kinds(dataset_name)
        if kinds is None or self._active_run() is None:
            return
        for kind in [kinds] if isinstance(kinds, str) else kinds:
            if kind == FACE_IMAGES:
                if not self._log_face_images:
                    continue
                kind = "artifact"
            self._log(kind, dataset_name, data)

    @staticmethod
    def _log(kind: str, dataset_name: str, data: Any) -> None:
        import mlflow

        if kind == "nested_runs":
            log_nested_runs(data, parent=dataset_name)
        elif kind == "metric_history":
            log_metric_history(data, prefix=dataset_name)
        elif kind == "metrics":
            metrics = _flat_numbers(data)
            if metrics:
                mlflow.log_metrics({f"{dataset_name}.{key}": value for key, value in metrics.items()})
        elif kind == "artifact":
            with tempfile.TemporaryDirectory() as folder:
                path = _write_artifact(data, Path(folder), dataset_name)
                if path is None:
                    logger.warning("cannot log %s (%s) to MLflow as an artifact", dataset_name, type(data).__name__)
                    return
                if path.is_dir():
                    mlflow.log_artifacts(str(path), artifact_path=f"reports/{dataset_name}")
                else:
                    mlflow.log_artifact(str(path), artifact_path="reports")
        else:
            logger.warning(
                "unknown mlflow metadata %r on dataset %s (use metrics, artifact, face_images, nested_runs or "
                "metric_history)",
                kind,
                dataset_name,
            )


class RunGuardHook:
    """Before the first node: checks the run's folders and tables (one-line errors naming the
    parameter) and locks the output folder for the whole run; afterwards releases the lock and
    closes the executor's Dask clients."""

    def __init__(self) -> None:
        self._locks: list = []
        self._project_path: Path | None = None
        self._blocks: set[str] = set()

    @hook_impl
    def after_context_created(self, context) -> None:
        self._project_path = Path(context.project_path)
        self._blocks = _configured_blocks(context)

    def _resolve(self, value: str) -> str:
        if "://" in value or self._project_path is None or Path(value).is_absolute():
            return value
        return str(self._project_path / value)

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        from .pipeline_registry import DEPRECATED_ALIASES
        from .run_checks import (
            LABEL_KEYS,
            LABEL_VALUES,
            check_default_variant,
            check_input_folder,
            check_output_folder,
            check_runtime_names,
            check_table_file,
        )
        from .storage.lock import OutputLock

        for name in run_params.get("pipeline_names") or []:
            if name in DEPRECATED_ALIASES:
                logger.warning("pipeline %r is deprecated and will be removed: use %r", name, DEPRECATED_ALIASES[name])
        runtime = run_params.get("runtime_params") or {}
        check_runtime_names(runtime, self._blocks)
        datasets = pipeline.datasets()
        input_dir = self._resolve(runtime.get("input_dir", "data/01_raw")) if "photos" in datasets else None
        # The embedded sample goes into the default folder: check it only when the user named one.
        if input_dir is not None and runtime.get("input_dir"):
            check_input_folder("input_dir", input_dir)
        if "template_photos" in datasets and runtime.get("template_dir"):
            check_input_folder("template_dir", self._resolve(runtime["template_dir"]))
        if "labels" in datasets:
            check_table_file(
                "labels",
                self._resolve(runtime.get("labels", "data/01_raw/labels.csv")),
                required_any=(LABEL_KEYS, LABEL_VALUES),
            )
        if "scores_for_evaluation" in datasets and runtime.get("scores"):
            check_table_file("scores", self._resolve(runtime["scores"]), required_any=(LABEL_KEYS,))
        if "synthesis_persons" in datasets and runtime.get("persons"):
            check_table_file("persons", self._resolve(runtime["persons"]), required_any=(("image",), ("person",)))
        if "heatmaps_report" in datasets and "params:scores" in datasets:
            check_default_variant(catalog.load("params:heatmaps"), catalog.load("params:scores"))
        output_dir = self._resolve(runtime.get("output_dir", "data"))
        check_output_folder("output_dir", output_dir, input_dir=input_dir)
        if "://" not in output_dir:
            lock = OutputLock(
                output_dir,
                description=f"kedro run --pipelines {'+'.join(run_params.get('pipeline_names') or ['__default__'])}",
            )
            lock.acquire()
            self._locks.append(lock)

    def _finish(self) -> None:
        from .parallel import shutdown

        shutdown()
        while self._locks:
            self._locks.pop().release()

    @hook_impl
    def after_pipeline_run(self, **_: Any) -> None:
        self._finish()

    @hook_impl
    def on_pipeline_error(self, **_: Any) -> None:
        self._finish()


class EmbeddedSampleHook:
    """Fills an empty default input folder with the embedded demo sample before a run.

    A fresh clone has an empty ``data/01_raw``; so that ``kedro run`` works at once, the
    demo photos (made from images scikit-image ships) are written into
    ``data/01_raw/embedded_sample/``. A folder the user names with ``input_dir`` is never
    touched.
    """

    def __init__(self) -> None:
        self._project_path: Path | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        self._project_path = Path(context.project_path)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        if "photos" not in pipeline.datasets() or self._project_path is None:
            return
        runtime = run_params.get("runtime_params") or run_params.get("extra_params") or {}
        if runtime.get("input_dir"):
            return
        from facial_anomaly.sample import DEFAULT_RAW_FOLDER, SUBFOLDER, write_embedded_sample

        raw_folder = self._project_path / DEFAULT_RAW_FOLDER
        if raw_folder.exists() and any(
            path.is_file() and not path.name.startswith(".") for path in raw_folder.rglob("*")
        ):
            return
        written = write_embedded_sample(raw_folder / SUBFOLDER)
        logger.warning(
            "%s is empty: wrote the embedded demo sample (%d files made from scikit-image's "
            "images) there. Point the pipeline at your photos with --params input_dir=FOLDER.",
            raw_folder,
            len(written),
        )
