"""Invariance of the scores to harmless changes of a photo, on normal faces.

    .venv/bin/python benchmarks/invariance.py [--data ../shared/data] [--faces 0] [--normalizers symmetry,mirror,shape_model]
        [--cache /tmp/invariance_cache]

Every normal photo of ``<data>/faces`` (MANIFEST.csv; ``--faces N`` takes every k-th
for N of them) is read at run time and re-encoded in seven harmless ways: greyscale
(8-bit "L" PNG), palette PNG (256 adaptive colours, Floyd–Steinberg dithering), 16-bit
RGB PNG, JPEG quality 30 (4:2:0), brightness ×1.2 and ×0.8 (PIL ImageEnhance), a 5°
rotation (bicubic, canvas expanded, grey corners) and a mild blur (Gaussian σ = 1 px).
Each version goes through the library chain (``locate_face`` → ``render_aligned_face``
→ normalizer → ``score_variants``) with the project's parameters. The shape model is
fitted on the clean faces of half of the persons (hash order) and every normalizer is
evaluated on the other half, so no face is scored by a model fitted on it.

Printed, per normalizer × scoring variant × change: Spearman's ρ between the clean
and the changed faces' scores (target ≥ 0.8), the changed faces' false-positive rate
at the clean faces' 95 %-specificity threshold (target ≤ 7.5 %), and the median ratio
changed / clean score. A summary line per normalizer × variant gives the worst change.

Aligned faces are cached as .npz under ``--cache`` (outside the repository), keyed by
photo, change and the preprocess fingerprint.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))  # the shared helpers beside this script
from _shared_data import cached_arrays, load_yaml, manifest_normals  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("FACIAL_ANOMALY_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
CHANGES = ("greyscale", "palette", "16bit", "jpeg30", "bright120", "dark80", "rotate5", "blur1")
GRID = {
    "kinds": ["pse", "ssim"],
    "color_spaces": ["rgb", "ycbcr"],
    "erosion": [True],
    "regions": ["mouth_nose", "face_without_eyes"],
    "lcn": [False, True],
}
SPEARMAN_TARGET, FPR_TARGET = 0.8, 0.075


def pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import cv2

    cv2.setNumThreads(1)
    import torch

    torch.set_num_threads(1)


def changed_bytes(data: bytes, change: str) -> bytes:
    """The photo's bytes after a harmless change (see the module docstring)."""
    import cv2
    from PIL import Image, ImageEnhance, ImageFilter, ImageOps

    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    buffer = io.BytesIO()
    if change == "clean":
        return data
    if change == "greyscale":
        image.convert("L").save(buffer, format="PNG")
    elif change == "palette":
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(
            buffer, format="PNG"
        )
    elif change == "16bit":
        rgb16 = np.asarray(image, dtype=np.uint16) * 257
        ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR))
        assert ok
        return encoded.tobytes()
    elif change == "jpeg30":
        image.save(buffer, format="JPEG", quality=30)
    elif change in ("bright120", "dark80"):
        ImageEnhance.Brightness(image).enhance(1.2 if change == "bright120" else 0.8).save(buffer, format="PNG")
    elif change == "rotate5":
        image.rotate(5, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(128, 128, 128)).save(
            buffer, format="PNG"
        )
    elif change == "blur1":
        image.filter(ImageFilter.GaussianBlur(radius=1.0)).save(buffer, format="PNG")
    else:
        raise ValueError(f"unknown change {change!r}")
    return buffer.getvalue()


def aligned_face(path: Path, change: str, config: dict, cache: Path) -> dict:
    """``rgb`` (512×512×3 uint8) and ``landmarks`` (478×3) of a changed photo, or empty arrays."""
    from facial_anomaly.faces import config_fingerprint, locate_face, render_aligned_face

    key = hashlib.sha1(f"{path}|{change}|{config_fingerprint(config)}".encode()).hexdigest()[:20]

    def make() -> dict:
        geometry, rgb = locate_face(changed_bytes(path.read_bytes(), change), config)
        if not geometry.ok:
            return {"rgb": np.zeros((0, 0, 3), np.uint8), "landmarks": np.zeros((0, 3)), "status": geometry.status}
        crop, _ = render_aligned_face(rgb, geometry, config)
        return {"rgb": crop, "landmarks": geometry.aligned_landmarks(), "status": geometry.status}

    return cached_arrays(cache / f"{key}.npz", make)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--faces", type=int, default=0, help="0 = every normal photo")
    parser.add_argument("--normalizers", default="symmetry,mirror,shape_model")
    parser.add_argument("--changes", default=",".join(CHANGES))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/invariance_cache"))
    parser.add_argument("--variants", default="", help="comma-separated variant names to print (default: all)")
    args = parser.parse_args()
    if not (args.data / "MANIFEST.csv").exists():
        sys.exit(f"no MANIFEST.csv in {args.data}")
    pin_to_one_core()
    from facial_anomaly.faces import resolve_config
    from facial_anomaly.normalizers import ShapeModel, build_normalizer
    from facial_anomaly.scoring import score_variants

    parameters = load_yaml("parameters_preprocess.yml")
    config = resolve_config(parameters["preprocess"], parameters["alignment_presets"])
    normalize = load_yaml("parameters_normalize.yml")["normalize"]["normalizers"]
    fit_params = load_yaml("parameters_fit_normal_models.yml")["fit_normal_models"]["shape_model"]
    heatmaps = load_yaml("parameters_heatmaps.yml")["heatmaps"]
    options = {
        "erosion_size": heatmaps["erosion_size"],
        "erosion_iterations": heatmaps["erosion_iterations"],
        "channel_reduction": heatmaps["channel_reduction"],
        "kind_options": heatmaps["kind_options"],
        "region_params": load_yaml("parameters_scores.yml")["scores"]["regions"],
    }
    changes = args.changes.split(",")
    rows = manifest_normals(args.data)
    if args.faces:
        rows = rows[:: max(1, len(rows) // args.faces)][: args.faces]
    persons = sorted({row["person"] for row in rows}, key=lambda p: hashlib.sha1(p.encode()).hexdigest())
    fit_persons = set(persons[: len(persons) // 2])

    start = time.perf_counter()
    faces: dict[str, dict[str, dict]] = {}
    for row in rows:
        versions = {
            change: aligned_face(args.data / row["path"], change, config, args.cache) for change in ["clean", *changes]
        }
        faces[row["path"]] = versions
    print(f"preprocessed {len(rows)} photos × {1 + len(changes)} versions in {time.perf_counter() - start:.0f} s")
    for change in ["clean", *changes]:
        failed = [path for path, versions in faces.items() if versions[change]["rgb"].size == 0]
        if failed:
            statuses: dict[str, int] = {}
            for path in failed:
                status = str(faces[path][change]["status"])
                statuses[status] = statuses.get(status, 0) + 1
            print(f"  {change}: {len(failed)} not ok {statuses}")

    fit_shapes = [
        versions["clean"]["landmarks"]
        for row in rows
        if row["person"] in fit_persons and (versions := faces[row["path"]])["clean"]["rgb"].size
    ]
    shape_model = ShapeModel.fit(fit_shapes, **fit_params)
    evaluated = [
        row["path"]
        for row in rows
        if row["person"] not in fit_persons and all(faces[row["path"]][c]["rgb"].size for c in ["clean", *changes])
    ]
    print(f"evaluated on {len(evaluated)} held-out faces ok in every version; shape model fitted on {len(fit_shapes)}")

    wanted = set(filter(None, args.variants.split(",")))
    for name in args.normalizers.split(","):
        normalizer = build_normalizer(name, normalize, shape_model=shape_model)
        scores: dict[str, dict[str, list[float]]] = {}
        start = time.perf_counter()
        for path in evaluated:
            for change in ["clean", *changes]:
                face = faces[path][change]
                normalized = normalizer.normalize(face["rgb"], face["landmarks"]).image
                values = score_variants(
                    face["rgb"], normalized, face["landmarks"], grid=GRID, statistic="anomaly_score", **options
                )
                for variant, value in values.items():
                    scores.setdefault(variant, {}).setdefault(change, []).append(value)
        print(f"\n=== normalizer {name} ({time.perf_counter() - start:.0f} s)")
        print(f"{'variant':38s} {'change':10s} {'spearman':>8s} {'FPR@95':>7s} {'ratio':>6s}")
        for variant, by_change in scores.items():
            if wanted and variant not in wanted:
                continue
            clean = np.asarray(by_change["clean"])
            threshold = np.percentile(clean, 95)
            worst_rho, worst_fpr = 1.0, 0.0
            for change in changes:
                changed = np.asarray(by_change[change])
                rho = spearman(clean, changed)
                fpr = float(np.mean(changed > threshold))
                ratio = float(np.median(changed / np.maximum(clean, 1e-12)))
                worst_rho, worst_fpr = min(worst_rho, rho), max(worst_fpr, fpr)
                flag = "" if rho >= SPEARMAN_TARGET and fpr <= FPR_TARGET else "  <-- misses"
                print(f"{variant:38s} {change:10s} {rho:8.3f} {100 * fpr:6.1f}% {ratio:6.2f}{flag}")
            verdict = "meets both targets" if worst_rho >= SPEARMAN_TARGET and worst_fpr <= FPR_TARGET else "MISSES"
            print(f"{variant:38s} {'WORST':10s} {worst_rho:8.3f} {100 * worst_fpr:6.1f}%         {verdict}")


if __name__ == "__main__":
    main()
