"""Checks that fail a run in seconds, before any image is touched, with one line naming the
parameter, the value and what is allowed (the typed configs check the stage settings; these
check what only exists at run time: folders and tables the user names)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from .storage.inputs import is_local

# Runtime parameters (kedro run --params k=v) the catalog and hooks read; any other
# top-level name must be a parameter block of conf/.
RUNTIME_PARAMETERS = {
    "input_dir": "folder of photos to read (searched recursively)",
    "output_dir": "root of the layered outputs",
    "models_dir": "folder of fitted models and checkpoints",
    "labels": "labels table (image or image_id; label and/or severity; optional subset)",
    "scores": "scores.csv to evaluate",
    "persons": "persons table (image, person[, age])",
    "template_dir": "folder of cleft-lip photos for lip templates",
    "mlflow_tracking": "true | false",
    "mlflow_tracking_uri": "MLflow store URI",
    "log_face_images": "true | false",
}
LABEL_KEYS = ("image", "image_id")
LABEL_VALUES = ("label", "severity")  # subset alone is a breakdown, not something to evaluate


class RunConfigurationError(ValueError):
    """A run parameter that cannot work; the message is one line naming it."""


def _local(path: str) -> Path | None:
    if not is_local(path):
        return None
    return Path(path[len("file://") :] if path.startswith("file://") else path).expanduser()


def check_input_folder(name: str, value: str) -> None:
    """An existing, listable folder (local), or an existing fsspec URL."""
    local = _local(value)
    if local is None:
        import fsspec

        fs, path = fsspec.core.url_to_fs(value)
        if not fs.exists(path):
            raise RunConfigurationError(f"{name}={value!r}: no such folder")
        return
    if not local.exists():
        raise RunConfigurationError(f"{name}={value!r}: no such folder")
    if not local.is_dir():
        raise RunConfigurationError(f"{name}={value!r}: is a file, not a folder")
    if not os.access(local, os.R_OK | os.X_OK):
        raise RunConfigurationError(f"{name}={value!r}: the folder cannot be read (permission denied)")


def check_output_folder(name: str, value: str, *, input_dir: str | None = None) -> None:
    """A folder that exists or can be created, and can be written; not inside ``input_dir``
    (its outputs would be read as photos by the next run)."""
    local = _local(value)
    if local is None:
        return  # object stores: permissions show at the first write
    if local.exists() and not local.is_dir():
        raise RunConfigurationError(f"{name}={value!r}: is a file, not a folder")
    if input_dir is not None and _local(input_dir) is not None:
        inside = _inside(local, _local(input_dir))
        if inside:
            raise RunConfigurationError(
                f"{name}={value!r} lies inside input_dir={input_dir!r}: its outputs would be read as photos; "
                "choose an output folder outside the input folder"
            )
    try:
        local.mkdir(parents=True, exist_ok=True)
        probe = local / f".write-test-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise RunConfigurationError(f"{name}={value!r}: cannot be written ({error.strerror})") from None


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def check_table_file(name: str, value: str, *, required_any: tuple[tuple[str, ...], ...] = ()) -> list[str]:
    """An existing CSV or Parquet table whose columns include one of each group of
    ``required_any``; returns its columns."""
    local = _local(value)
    if local is not None and not local.is_file():
        raise RunConfigurationError(f"{name}={value!r}: no such file")
    suffix = Path(str(value)).suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise RunConfigurationError(f"{name}={value!r}: expected a .csv or .parquet table")
    columns = _columns(value, suffix)
    for group in required_any:
        if not any(column in columns for column in group):
            raise RunConfigurationError(
                f"{name}={value!r}: needs a column {' or '.join(repr(c) for c in group)}; it has {columns}"
            )
    return columns


def _columns(value: str, suffix: str) -> list[str]:
    import pandas as pd

    try:
        if suffix == ".csv":
            return list(pd.read_csv(value, nrows=0).columns)
        import pyarrow.parquet as pq

        return list(pq.read_schema(value).names)
    except Exception as error:  # an unreadable table: say so in one line
        raise RunConfigurationError(f"cannot read the table {value!r}: {type(error).__name__}: {error}") from None


def check_runtime_names(runtime: dict, known_blocks: set[str]) -> None:
    """Every ``--params`` name is a runtime parameter or a parameter block of conf/."""
    for key in runtime:
        top = str(key).split(".", 1)[0]
        if top in RUNTIME_PARAMETERS or top in known_blocks:
            continue
        import difflib

        close = difflib.get_close_matches(top, [*RUNTIME_PARAMETERS, *known_blocks], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise RunConfigurationError(
            f"unknown parameter {top!r}{hint} Runtime parameters: {', '.join(RUNTIME_PARAMETERS)}"
        )


def check_default_variant(heatmaps, scores) -> None:
    """``scores.default_variant`` is one of the variants ``heatmaps.grid`` computes (with the
    z-scored ones when ``heatmaps.normal_variation`` is on), so a run cannot finish with no
    ``anomaly_score`` for any photo. Both arguments are the blocks' configs or mappings."""
    from .batch.heatmaps import z_grid
    from .config import validated
    from .heatmaps.config import HeatmapsConfig
    from .scoring.config import ScoresConfig
    from .scoring.scores import variant_grid

    heatmaps = validated(HeatmapsConfig, heatmaps, name="heatmaps")
    default = validated(ScoresConfig, scores, name="scores").default_variant
    grid = heatmaps.grid.model_dump()
    names = [variant.name for variant in variant_grid(z_grid(grid) if heatmaps.normal_variation else grid)]
    if default not in names:
        raise RunConfigurationError(
            f"scores.default_variant={default!r} is not a variant of heatmaps.grid; add it to "
            f"heatmaps.grid.variants or choose one of the grid's {len(names)} (e.g. {names[0]!r})"
        )
