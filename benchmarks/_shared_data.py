"""Helpers shared by the benchmark scripts: the project's parameters, the normal photos of
../shared/data grouped by person, and a cache of arrays outside the repository.

Only file names and numbers are read from MANIFEST.csv here; every photo is processed at
run time and caches live under /tmp, never in the repository.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def load_yaml(name: str) -> dict:
    """A parameters file of conf/base, e.g. ``load_yaml("parameters_preprocess.yml")``."""
    import yaml

    return yaml.safe_load((PROJECT_ROOT / "conf" / "base" / name).read_text())


def project_settings() -> dict:
    """The pipelines' settings from conf/base laid over the typed defaults in code (the YAML
    files name only what users tune, so a key read straight from them may be absent):
    ``normalize`` (a NormalizeConfig for ``build_normalizer``), ``shape_model`` (keyword
    arguments of ``ShapeModel.fit``) and ``scoring`` (keyword arguments of ``score_variants``
    besides the grid: erosion, channel reduction, kind options, region parameters)."""
    from facial_anomaly.heatmaps.config import HeatmapsConfig
    from facial_anomaly.normalizers.config import NormalizeConfig

    return {
        "normalize": NormalizeConfig.model_validate(load_yaml("parameters_normalize.yml")["normalize"]),
        "shape_model": load_yaml("parameters_fit_normal_models.yml")["fit_normal_models"]["shape_model"],
        "scoring": HeatmapsConfig.model_validate(load_yaml("parameters_heatmaps.yml")["heatmaps"]).scoring_options(),
    }


def manifest_normals(data: Path) -> list[dict]:
    """Rows of MANIFEST.csv for normal face photos (``path`` under ``faces/``), each with
    ``person`` (the ``person_id=`` of its notes, else its own path: one photo, one person)
    and ``age`` (``age=`` of the notes, or None)."""
    rows = []
    with open(data / "MANIFEST.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if (
                row["label"] != "normal"
                or not row["path"].startswith("faces/")
                or not row["path"].lower().endswith(PHOTO_SUFFIXES)
            ):
                continue
            person = re.search(r"person_id=([^;]+)", row["notes"])
            age = re.search(r"\bage=(\d+)", row["notes"])
            rows.append(
                {
                    **row,
                    "person": person.group(1).strip() if person else row["path"],
                    "age": int(age.group(1)) if age else None,
                }
            )
    return rows


def normal_photos_by_person(data: Path) -> dict[str, list[Path]]:
    """Normal face photos of the manifest, grouped by person."""
    persons: dict[str, list[Path]] = {}
    for row in manifest_normals(data):
        persons.setdefault(row["person"], []).append(data / row["path"])
    return persons


def shared_faces_folder() -> Path:
    """``$FACIAL_ANOMALY_SHARED_DATA/faces`` (default ``../shared/data/faces`` beside the project)."""
    import os

    root = os.environ.get("FACIAL_ANOMALY_SHARED_DATA") or str(PROJECT_ROOT.parent / "shared" / "data")
    return Path(root) / "faces"


def photo_folder(source: Path, count: int, destination: Path) -> Path:
    """A folder of ``count`` symbolic links to photos under ``source`` (nothing is copied).

    The photos are spread evenly over ``source``'s sorted list (every sub-folder is
    represented); when ``count`` exceeds the photos there are, the list repeats, each repeat
    under its own name (same bytes, another image). Made once per (source, count): an
    existing folder with the same links is kept.
    """
    photos = sorted(path for path in source.rglob("*") if path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        raise FileNotFoundError(f"no photos ({', '.join(PHOTO_SUFFIXES)}) under {source}")
    if count <= len(photos):
        chosen = [photos[index * len(photos) // count] for index in range(count)]
    else:
        chosen = [photos[index % len(photos)] for index in range(count)]
    destination.mkdir(parents=True, exist_ok=True)
    wanted = {}
    for index, photo in enumerate(chosen):
        name = f"{index:05d}_" + str(photo.relative_to(source)).replace("/", "__")
        wanted[name] = photo
    for existing in destination.iterdir():
        if existing.name not in wanted or existing.resolve() != wanted[existing.name].resolve():
            existing.unlink()
    for name, photo in wanted.items():
        link = destination / name
        if not link.is_symlink():
            link.symlink_to(photo)
    return destination


def cached_arrays(path: Path, make) -> dict:
    """The arrays of the .npz ``path``, made with ``make()`` and written there first if
    absent (atomically: a temporary file, then a rename)."""
    if path.exists():
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    arrays = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp.npz")
    np.savez_compressed(temporary, **arrays)
    temporary.replace(path)
    return arrays


def work_folder(data: Path, work: Path) -> Path:
    """``work`` resolved and created, after checking that the shared data is at ``data`` and
    that ``work`` lies outside the repository (nothing derived from the photos goes there).

    Raises:
        SystemExit: (exit 1, the reason on stderr) when either check fails.
    """
    if not (data / "MANIFEST.csv").exists():
        raise SystemExit(f"shared face data not found at {data}")
    work = work.resolve()
    if PROJECT_ROOT in work.parents or work == PROJECT_ROOT:
        raise SystemExit("--work must live outside the repository")
    work.mkdir(parents=True, exist_ok=True)
    return work
