"""Project hooks: the embedded demo sample, and logging to MLflow from any stage.

MLflow logging is declared in the catalog, not coded in nodes: a dataset whose
``metadata`` has ``mlflow: metrics`` is logged as metrics when saved, one with
``mlflow: artifact`` as a file (tables → CSV, dicts → JSON, figures and images → PNG,
dicts of images or figures → a folder of PNGs, fitted models → their own ``.npz``), and
a table with ``mlflow: nested_runs`` as one nested run per row (``run_name``,
``param.*``, ``metric.*`` columns), a table with ``mlflow: metric_history`` as one
metric per column logged at every ``step``. A list (``[artifact, metrics]``) does several.
Every node's wall time is logged as ``seconds.<node>``; nodes tagged ``gpu`` also log
the torch device they ran on. Nothing is logged when no MLflow run is active (tracking
switched off), so the same catalog works with and without tracking.
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

    if isinstance(data, dict) and data and all(_is_image(v) or hasattr(v, "savefig") for v in data.values()):
        target = folder / name
        target.mkdir()
        for key, value in data.items():
            path = target / f"{str(key).replace('/', '__')}.png"
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
        path = folder / f"{name}.md"
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


class MlflowTrackingHook:
    """Logs catalog-declared metrics/artifacts and node timings to the active MLflow run."""

    def __init__(self) -> None:
        self._mlflow_kind: dict[str, str] = {}
        self._node_started: dict[str, float] = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        # kedro-mlflow's hook is one object per process and keeps the previous run's id;
        # a later session in the same process (a notebook, the tests) with tracking off
        # would try to reopen that run in whatever store is now configured. Forget it.
        from kedro_mlflow.framework.hooks import mlflow_hook

        mlflow_hook.run_id = None

    @hook_impl
    def after_catalog_created(self, catalog, conf_catalog: dict[str, Any], **_: Any) -> None:
        self._mlflow_kind = {
            name: config["metadata"]["mlflow"]
            for name, config in (conf_catalog or {}).items()
            if isinstance(config, dict) and isinstance(config.get("metadata"), dict) and "mlflow" in config["metadata"]
        }

    @staticmethod
    def _active_run():
        import mlflow

        return mlflow.active_run()

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
        kinds = self._mlflow_kind.get(dataset_name)
        if kinds is None or self._active_run() is None:
            return
        for kind in [kinds] if isinstance(kinds, str) else kinds:
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
                "unknown mlflow metadata %r on dataset %s (use metrics, artifact or nested_runs)", kind, dataset_name
            )


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
