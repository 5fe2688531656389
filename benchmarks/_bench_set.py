"""The detection bench set: real normal faces, person-disjoint splits, synthetic anomalies,
harmless variants and real anomaly photos — built at run time from ../shared/data and
cached under /tmp (nothing derived from the photos enters the repository).

    .venv/bin/python benchmarks/_bench_set.py [--data DIR] [--cache DIR] [--workers 1]

builds (or loads) the set and prints its composition.

What it holds (:func:`build_bench_set` → :class:`BenchSet` of :class:`BenchItem`):

* **Normal faces**: the normal photos of ``faces/`` in MANIFEST.csv, split by person
  (``person_id=`` of the notes; UTKFace crops have none and count as one person each)
  into train / dev / test (:data:`SPLIT_FRACTIONS`, ``facial_anomaly.synthesis.split_by_person``,
  seed :data:`SEED`). Each photo is preprocessed as the pipeline does (``locate_face`` +
  ``render_aligned_face``, the default 512 px preset of conf/base/parameters_preprocess.yml).
* **Synthetic anomalies** (``label`` 1) on every dev and test face: one per family of
  :data:`FAMILIES` — the graded families of ``facial_anomaly.synthesis`` and the local kinds
  of ``facial_anomaly.supervised.anomalies`` (lip_lt_v2 is left out: its templates come from
  the real cleft photos evaluated here) — at severity ``1 + (i + j) mod 4`` for face i and
  family j, so severities are balanced over faces and families; parameters from
  parameters_synthesize.yml (``synthesize``) and parameters_train_supervised.yml
  (``train_supervised.data.anomalies``); random draws from ``[SEED, crc32(photo), j]``.
* **Nuisance variants** (``label`` 0, ``nuisance`` set) of every clean dev and test face,
  made on the *photo* and preprocessed again, as a user's file would be (:data:`NUISANCES`):
  greyscale PNG, palette PNG (256 colours, PIL's default quantiser), 16-bit PNG, JPEG
  quality 30, brightness ×1.2 and ×0.8, rotation by 5°, a mild Gaussian blur (σ = 0.01 IOD
  of the photo ≈ 1.4 px on the aligned crop) and the mirror image.
* **Real anomaly photos** (``split`` ``real``, ``label`` 1): the cleft-lip photos
  (``anomalies/cleft_lip_roshan_thomas/original``, family ``real_cleft``) and the acne photos
  (``anomalies/acne04v2_samples``, family ``real_acne``, severity = ACNE04 level + 1), to be
  compared with the held-out normal test faces. The acne photos are oblique views (yaw
  beyond the preprocessing's 30° pose check) with annotation circles drawn on them: they are
  preprocessed with the pose check relaxed (:data:`REAL_PHOTO_POSE`), and any score that
  separates them may be seeing the pose or the circles as much as the acne.

Landmarks: every item's landmarks are measured the same way, by
``facial_anomaly.faces.detect_landmarks`` on its aligned crop with the preprocess
configuration (mirror-consistent: FaceMesh on the crop and on its mirror image, averaged).
Where FaceMesh finds no face in the crop (3 of the oblique acne photos) the preprocessing's
landmarks, carried into the crop, stand in. A synthetic
anomaly is painted with the clean face's landmarks and then measured again like any photo,
so no score sees the generator's ground-truth landmark moves.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import re
import sys
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
from _shared_data import load_yaml, manifest_normals  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("FACIAL_ANOMALY_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
DEFAULT_CACHE = Path("/tmp") / "facial_anomaly_bench_cache"
SEED = 20240605
SPLIT_FRACTIONS = {"train": 0.6, "dev": 0.2, "test": 0.2}
FAMILIES = ("lip_lt_v1", "palsy", "acne", "local_warp", "lesions", "scars")
SEVERITIES = (1, 2, 3, 4)
NUISANCES = ("greyscale", "palette", "png16", "jpeg_q30", "brighter", "darker", "rotate_5", "blur", "mirror")
REAL_SETS = {"real_cleft": "anomalies/cleft_lip_roshan_thomas/original", "real_acne": "anomalies/acne04v2_samples"}
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
_MAX_REDRAWS = 8
_BLUR_SIGMA_IOD = 0.01
_ROTATION_DEG = 5.0
_BRIGHTNESS = {"brighter": 1.2, "darker": 0.8}
_FORMAT_VERSION = 2  # bump when the way items are made changes
# The real anomaly photos are measured whatever their pose (see the module docstring).
REAL_PHOTO_POSE = {"max_yaw_degrees": 180.0, "max_pitch_degrees": 180.0, "min_visible_fraction": 0.0}


@dataclass(frozen=True)
class BenchImage:
    """One loaded item: ``image`` H×W×3 uint8 RGB aligned face; ``landmarks`` (478, 3) its
    landmarks in crop pixels (see the module docstring)."""

    image: np.ndarray
    landmarks: np.ndarray


@dataclass(frozen=True)
class BenchItem:
    """One bench image (its pixels stay in the cache until :meth:`load`).

    ``key``: unique id; ``split``: train | dev | test | real; ``person``; ``source``: the
    photo's path relative to the data root; ``label``: 0 normal, 1 anomalous; ``family``:
    ``normal``, a synthetic family, ``real_cleft`` or ``real_acne``; ``severity``: 0..4
    (0 = none or unknown); ``nuisance``: "" or a name of :data:`NUISANCES`; ``path``: the
    cached .npz.
    """

    key: str
    split: str
    person: str
    source: str
    label: int
    family: str
    severity: int
    nuisance: str
    path: str

    def load(self) -> BenchImage:
        with np.load(self.path, allow_pickle=False) as archive:
            return BenchImage(archive["image"], archive["landmarks"])


@dataclass
class BenchSet:
    """Every item, in a fixed order (normal faces by split and path; then the anomalies,
    nuisance variants and real photos), and the photos preprocessing rejected."""

    items: list[BenchItem]
    rejected: list[str] = field(default_factory=list)

    def select(self, **conditions) -> list[BenchItem]:
        """Items whose fields equal the given values; a tuple/list/set value means "any of"."""

        def matches(item: BenchItem) -> bool:
            for name, wanted in conditions.items():
                value = getattr(item, name)
                if isinstance(wanted, (tuple, list, set, frozenset)):
                    if value not in wanted:
                        return False
                elif value != wanted:
                    return False
            return True

        return [item for item in self.items if matches(item)]

    def table(self):
        """A pandas DataFrame, one row per item (no pixels)."""
        import pandas as pd

        return pd.DataFrame([asdict(item) for item in self.items])

    def summary(self) -> str:
        counts = Counter((item.split, item.family if not item.nuisance else "nuisance") for item in self.items)
        persons = {split: len({i.person for i in self.items if i.split == split}) for split in ("train", "dev", "test")}
        lines = [f"persons per split: {persons}; rejected photos: {len(self.rejected)}"]
        for split in ("train", "dev", "test", "real"):
            parts = [f"{family} {count}" for (s, family), count in sorted(counts.items()) if s == split]
            lines.append(f"  {split}: {', '.join(parts)}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- helpers


def mirror_relative_difference(face_scores, mirror_scores) -> float:
    """Median over faces of |s(face) − s(mirrored photo)| / mean(|s(face)|, |s(mirrored photo)|):
    how far a score moves when the photo is mirrored (its ``mirror`` nuisance variant)."""
    a, b = np.asarray(face_scores, dtype=float), np.asarray(mirror_scores, dtype=float)
    return float(np.median(np.abs(a - b) / np.maximum((np.abs(a) + np.abs(b)) / 2, 1e-12)))


def _digest(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _code_fingerprint() -> str:
    """SHA-1 of the generator and preprocessing sources: a cached item is remade when they change."""
    root = PROJECT_ROOT / "src" / "facial_anomaly"
    files = sorted((root / "synthesis").glob("*.py")) + [
        root / "supervised" / "anomalies.py",
        *(root / "faces" / name for name in ("preprocess.py", "landmarks.py", "background.py", "alignment.py")),
        *(root / "faces" / name for name in ("detection.py", "mesh.py", "io.py", "pose.py")),
    ]
    digest = hashlib.sha1()
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def preprocess_config() -> dict:
    """The default preprocess configuration (conf/base/parameters_preprocess.yml)."""
    from facial_anomaly.faces.config import PreprocessConfig

    parameters = load_yaml("parameters_preprocess.yml")
    return dict(PreprocessConfig.model_validate(parameters["preprocess"]))


def anomaly_parameters() -> tuple[dict, dict]:
    """``(synthesize parameters of conf/base, local anomaly kinds of the pair models)``.

    The local kinds (local_warp, lesions, scars magnitudes) are the pair models' settings,
    which live beside their tests since ``train_supervised`` trains the new scorer."""
    import yaml

    from facial_anomaly.synthesis.config import SynthesizeConfig

    synth = SynthesizeConfig.model_validate(load_yaml("parameters_synthesize.yml")["synthesize"]).parameters()
    pair_models = PROJECT_ROOT / "tests" / "supervised" / "pair_models_parameters.yml"
    local = yaml.safe_load(pair_models.read_text())["train_supervised"]["data"]["anomalies"]
    return synth, local


def measure_landmarks(image: np.ndarray, config: dict, fallback: np.ndarray | None = None) -> np.ndarray:
    """(478, 3) landmarks of an aligned crop in its pixels, measured by FaceMesh with the
    preprocess configuration's ``landmarks`` block; ``fallback`` (the preprocessing's
    landmarks carried into the crop) when FaceMesh finds no face in the crop.

    Raises:
        facial_anomaly.faces.landmarks.LandmarksNotFound: no measurement and no fallback.
    """
    from facial_anomaly.faces import detect_landmarks
    from facial_anomaly.faces.landmarks import LandmarksNotFound

    try:
        return detect_landmarks(image, None, config["landmarks"])
    except LandmarksNotFound:
        if fallback is None:
            raise
        return np.asarray(fallback, dtype=np.float64)


def _save(path: Path, image: np.ndarray, landmarks: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own per process: two builders sharing a cache never write one file.
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez_compressed(temporary, image=image, landmarks=landmarks)
    temporary.replace(path)


def _encode_png(rgb: np.ndarray) -> bytes:
    import cv2

    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("OpenCV could not encode a PNG")
    return encoded.tobytes()


def nuisance_file(photo: bytes, name: str, *, eye_distance_px: float) -> bytes:
    """The bytes of a harmless variant ``name`` (:data:`NUISANCES`) of a photo file.

    Args:
        photo: the original file's bytes.
        name: which variant.
        eye_distance_px: the face's eye distance in the photo (scales the blur).
    """
    import cv2
    from PIL import Image

    from facial_anomaly.faces import decode_image

    rgb = decode_image(photo, max_pixels=10**9, min_side=1).rgb
    if name == "greyscale":
        buffer = io.BytesIO()
        Image.fromarray(rgb).convert("L").save(buffer, format="PNG")
        return buffer.getvalue()
    if name == "palette":
        buffer = io.BytesIO()
        Image.fromarray(rgb).quantize(colors=256).save(buffer, format="PNG")
        return buffer.getvalue()
    if name == "png16":
        ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)
        return encoded.tobytes()
    if name == "jpeg_q30":
        ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 30])
        return encoded.tobytes()
    if name in _BRIGHTNESS:
        return _encode_png(np.clip(np.rint(rgb.astype(np.float32) * _BRIGHTNESS[name]), 0, 255).astype(np.uint8))
    if name == "rotate_5":
        height, width = rgb.shape[:2]
        matrix = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), _ROTATION_DEG, 1.0)
        rotated = cv2.warpAffine(
            rgb, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        )
        return _encode_png(rotated)
    if name == "blur":
        return _encode_png(cv2.GaussianBlur(rgb, (0, 0), _BLUR_SIGMA_IOD * eye_distance_px))
    if name == "mirror":
        return _encode_png(np.ascontiguousarray(rgb[:, ::-1]))
    raise ValueError(f"unknown nuisance {name!r}; valid: {list(NUISANCES)}")


def _preprocessed(photo: bytes, config: dict):
    """``(aligned crop, eye distance in the photo, landmarks in the crop)`` or None when
    preprocessing rejects the photo."""
    from facial_anomaly.faces import locate_face, render_aligned_face

    geometry, rgb = locate_face(photo, config)
    if not geometry.ok:
        return None
    crop, _ = render_aligned_face(rgb, geometry, config)
    return crop, float(geometry.eye_distance_source_px), geometry.aligned_landmarks()


# --------------------------------------------------------------------------- items


@dataclass(frozen=True)
class _Job:
    """Everything needed to make one cached item (picklable for worker processes)."""

    kind: str  # photo | real | nuisance | anomaly
    path: str
    source: str
    data: str
    nuisance: str = ""
    family: str = ""
    severity: int = 0
    stream: int = 0
    base: str = ""  # the clean item's cache path (anomalies)


_CONTEXT: dict = {}


def _context() -> dict:
    if not _CONTEXT:
        import cv2

        cv2.setNumThreads(1)
        synth, local = anomaly_parameters()
        _CONTEXT.update(config=preprocess_config(), synth=synth, local=local)
    return _CONTEXT


def _make(job: _Job) -> bool:
    """Make the cached item of ``job`` if absent; False when the photo is rejected."""
    from facial_anomaly.faces.landmarks import LandmarksNotFound

    path = Path(job.path)
    if path.exists():
        return True
    marker = path.with_suffix(".rejected")
    if marker.exists():
        return False
    context = _context()
    config = context["config"]
    try:
        fallback = None
        if job.kind == "anomaly":
            image = _anomalous(job, context)
        else:
            photo = (Path(job.data) / job.source).read_bytes()
            if job.kind == "real":
                config = {**config, "pose": {**config.get("pose", {}), **REAL_PHOTO_POSE}}
            done = _preprocessed(photo, config)
            if done is not None and job.kind == "nuisance":
                done = _preprocessed(nuisance_file(photo, job.nuisance, eye_distance_px=done[1]), config)
            if done is None:
                raise LandmarksNotFound("preprocessing rejected the photo")
            image, _, fallback = done
        landmarks = measure_landmarks(image, config, fallback)
    except LandmarksNotFound:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("rejected\n")
        return False
    _save(path, image, landmarks)
    return True


def _anomalous(job: _Job, context: dict) -> np.ndarray:
    from facial_anomaly.supervised import make_anomaly
    from facial_anomaly.synthesis import DeformationFolds

    clean = BenchItem("", "", "", "", 0, "", 0, "", job.base).load()
    rng = np.random.default_rng([SEED, zlib.crc32(job.source.encode("utf-8")), job.stream])
    for _ in range(_MAX_REDRAWS):
        try:
            made = make_anomaly(
                job.family,
                clean.image,
                clean.landmarks,
                severity=job.severity,
                rng=rng,
                synth_params=context["synth"],
                local_params=context["local"],
            )
            return made.image
        except DeformationFolds:
            continue
    raise RuntimeError(f"{job.source}: {_MAX_REDRAWS} {job.family} anomalies in a row folded the image")


def _run(jobs: Sequence[_Job], workers: int) -> list[bool]:
    todo = [job for job in jobs if not Path(job.path).exists() and not Path(job.path).with_suffix(".rejected").exists()]
    if todo:
        print(f"  making {len(todo)} of {len(jobs)} items ({workers} process(es))", flush=True)
    if workers <= 1 or len(todo) < 2:
        return [_make(job) for job in jobs]
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(int(workers)) as pool:
        pool.map(_make, todo, chunksize=4)
    return [_make(job) for job in jobs]


def _acne_severity(severity_field: str) -> int:
    match = re.search(r"level(\d)", severity_field or "")
    return int(match.group(1)) + 1 if match else 0


def _real_photos(data: Path) -> list[tuple[str, str, int]]:
    """(family, path relative to ``data``, severity) of the real anomaly photos."""
    severities = {}
    with open(data / "MANIFEST.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            severities[row["path"]] = _acne_severity(row["severity"])
    photos = []
    for family, folder in REAL_SETS.items():
        for photo in sorted((data / folder).glob("*")):
            if photo.suffix.lower() in PHOTO_SUFFIXES:
                relative = str(photo.relative_to(data))
                photos.append((family, relative, severities.get(relative, 0) if family == "real_acne" else 0))
    return photos


def build_bench_set(
    data: Path = DEFAULT_DATA,
    cache: Path = DEFAULT_CACHE,
    *,
    families: Sequence[str] = FAMILIES,
    nuisances: Sequence[str] = NUISANCES,
    anomaly_splits: Sequence[str] = ("dev", "test"),
    nuisance_splits: Sequence[str] = ("dev", "test"),
    real: bool = True,
    workers: int = 1,
) -> BenchSet:
    """Build (or load from ``cache``) the bench set described in the module docstring.

    Args:
        data: the shared data root (MANIFEST.csv, faces/, anomalies/).
        cache: where aligned faces and variants are kept (must be outside the repository).
        families, nuisances: which anomalies and variants to make.
        anomaly_splits, nuisance_splits: the splits that get them.
        real: include the real anomaly photos.
        workers: processes making missing items ("spawn"; the result does not depend on it).

    Raises:
        FileNotFoundError: no MANIFEST.csv under ``data``.
        ValueError: a cache inside the repository, or unknown families / nuisances.
    """
    data, cache = Path(data), Path(cache)
    if not (data / "MANIFEST.csv").exists():
        raise FileNotFoundError(f"shared face data not found: {data / 'MANIFEST.csv'}")
    if cache.resolve() == PROJECT_ROOT or PROJECT_ROOT in cache.resolve().parents:
        raise ValueError(f"the cache {cache} must live outside the repository")
    unknown = sorted(set(families) - set(FAMILIES)) + sorted(set(nuisances) - set(NUISANCES))
    if unknown:
        raise ValueError(f"unknown families or nuisances {unknown}; valid: {list(FAMILIES)}, {list(NUISANCES)}")
    from facial_anomaly.faces.config import config_fingerprint
    from facial_anomaly.synthesis import split_by_person

    config = preprocess_config()
    synth, local = anomaly_parameters()
    version = _digest(_FORMAT_VERSION, config_fingerprint(config), _code_fingerprint())
    anomaly_version = _digest(version, synth, local, SEED)
    rows = sorted(manifest_normals(data), key=lambda row: row["path"])
    assignment = split_by_person([row["person"] for row in rows], SPLIT_FRACTIONS, SEED)

    def cached(*parts) -> str:
        return str(cache / "items" / f"{_digest(*parts)}.npz")

    clean_jobs = [_Job("photo", cached(version, row["path"]), row["path"], str(data)) for row in rows]
    made = _run(clean_jobs, workers)
    rejected = [row["path"] for row, ok in zip(rows, made) if not ok]
    items: list[BenchItem] = []
    clean_by_split: dict[str, list[tuple[dict, _Job]]] = {split: [] for split in SPLIT_FRACTIONS}
    for row, job, ok in zip(rows, clean_jobs, made):
        if not ok:
            continue
        split = assignment[str(row["person"])]
        clean_by_split[split].append((row, job))
        items.append(
            BenchItem(f"{split}/{row['path']}", split, str(row["person"]), row["path"], 0, "normal", 0, "", job.path)
        )
    order = {split: index for index, split in enumerate(SPLIT_FRACTIONS)}
    items.sort(key=lambda item: (order[item.split], item.source))

    anomaly_jobs, anomaly_items = [], []
    for split in anomaly_splits:
        for i, (row, job) in enumerate(clean_by_split[split]):
            for j, family in enumerate(families):
                stream = FAMILIES.index(family)
                severity = SEVERITIES[(i + stream) % len(SEVERITIES)]
                path = cached(anomaly_version, row["path"], family, severity)
                anomaly_jobs.append(
                    _Job(
                        "anomaly",
                        path,
                        row["path"],
                        str(data),
                        family=family,
                        severity=severity,
                        stream=stream,
                        base=job.path,
                    )
                )
                anomaly_items.append(
                    BenchItem(
                        f"{split}/{row['path']}#{family}",
                        split,
                        str(row["person"]),
                        row["path"],
                        1,
                        family,
                        severity,
                        "",
                        path,
                    )
                )
    nuisance_jobs, nuisance_items = [], []
    for split in nuisance_splits:
        for row, _ in clean_by_split[split]:
            for name in nuisances:
                path = cached(version, row["path"], "nuisance", name)
                nuisance_jobs.append(_Job("nuisance", path, row["path"], str(data), nuisance=name))
                nuisance_items.append(
                    BenchItem(
                        f"{split}/{row['path']}~{name}",
                        split,
                        str(row["person"]),
                        row["path"],
                        0,
                        "normal",
                        0,
                        name,
                        path,
                    )
                )
    real_jobs, real_items = [], []
    if real:
        for family, relative, severity in _real_photos(data):
            path = cached(version, relative, REAL_PHOTO_POSE)
            real_jobs.append(_Job("real", path, relative, str(data)))
            real_items.append(BenchItem(f"real/{relative}", "real", relative, relative, 1, family, severity, "", path))
    for jobs, new_items in ((anomaly_jobs, anomaly_items), (nuisance_jobs, nuisance_items), (real_jobs, real_items)):
        for item, ok in zip(new_items, _run(jobs, workers)):
            if ok:
                items.append(item)
            else:
                rejected.append(item.key)
    return BenchSet(items, rejected)


def iter_loaded(items: Iterable[BenchItem]) -> Iterator[tuple[BenchItem, BenchImage]]:
    """``(item, loaded image)`` one at a time (only one face in memory)."""
    for item in items:
        yield item, item.load()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    bench = build_bench_set(args.data, args.cache, workers=args.workers)
    print(bench.summary())
    if bench.rejected:
        print("rejected:", ", ".join(bench.rejected[:20]), "..." if len(bench.rejected) > 20 else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
