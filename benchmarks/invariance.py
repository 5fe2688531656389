"""Invariance of the scores to harmless changes of a photo, on normal faces.

    .venv/bin/python benchmarks/invariance.py [--data ../shared/data] [--faces 0] [--normalizers symmetry,mirror,shape_model]
        [--cache /tmp/facial_anomaly_invariance_cache] [--calibrate]

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
changed / clean score; then a summary line per normalizer × variant with the worst
change. ``--calibrate`` also prints the median ratio of full to luma-only heat on the
clean colour faces per kind × colour space × lcn: the defaults of
``PixelComparison.greyscale_scale``. ``--demo`` prints only the astronaut under every
change (and mirrored) scored with the default variant, with the new steps off and on;
``--new-steps-off`` runs the whole benchmark in the state before the fixes
(single-pass FaceMesh on colour, images compared as they are).

Aligned faces are cached as .npz under ``--cache`` (outside the repository), keyed by
photo, change, the preprocess fingerprint and the source of ``facial_anomaly.faces``.
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

from facial_anomaly.evaluation.metrics import threshold_at_specificity  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))  # the shared helpers beside this script
from _shared_data import cached_arrays, load_yaml, manifest_normals, project_settings  # noqa: E402

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


def _faces_code() -> str:
    """SHA-1 of the faces package's source, so a cached face is remade when the code changes."""
    import facial_anomaly.faces

    folder = Path(facial_anomaly.faces.__file__).parent
    digest = hashlib.sha1()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def aligned_face(path: Path, change: str, config: dict, cache: Path) -> dict:
    """``rgb`` (512×512×3 uint8) and ``landmarks`` (478×3) of a changed photo, or empty arrays."""
    from facial_anomaly.faces import locate_face, render_aligned_face
    from facial_anomaly.faces.config import config_fingerprint

    key = hashlib.sha1(f"{path}|{change}|{config_fingerprint(config)}|{_faces_code()}".encode()).hexdigest()[:20]

    def make() -> dict:
        geometry, rgb = locate_face(changed_bytes(path.read_bytes(), change), config)
        if not geometry.ok:
            return {"rgb": np.zeros((0, 0, 3), np.uint8), "landmarks": np.zeros((0, 3)), "status": geometry.status}
        crop, _ = render_aligned_face(rgb, geometry, config)
        return {"rgb": crop, "landmarks": geometry.aligned_landmarks(), "status": geometry.status}

    return cached_arrays(cache / f"{key}.npz", make)


def demo(config: dict, normalize: dict, options: dict) -> None:
    """The astronaut under every change and mirrored, scored with the default variant
    (symmetry normalizer, pse_ycbcr_eroded__mouth_nose) with the new steps off and on."""
    from skimage import data

    from facial_anomaly.faces import locate_face, render_aligned_face
    from facial_anomaly.heatmaps.compare import PixelComparison
    from facial_anomaly.normalizers import build_normalizer
    from facial_anomaly.scoring import score_variants, single_variant_grid

    original = io.BytesIO()
    from PIL import Image

    Image.fromarray(data.astronaut()).save(original, format="PNG")
    photo = original.getvalue()
    mirrored = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(data.astronaut()[:, ::-1])).save(mirrored, format="PNG")
    versions = {"clean": photo, "mirrored": mirrored.getvalue()}
    versions.update({change: changed_bytes(photo, change) for change in CHANGES})
    off_landmarks = {"mirror_consistent": False, "measure_on_luma": False}
    settings = {
        "new steps off": ({**config, "landmarks": {**config["landmarks"], **off_landmarks}}, PixelComparison.plain()),
        "defaults": (config, None),
    }
    normalizer = build_normalizer("symmetry", normalize)
    grid = single_variant_grid("pse_ycbcr_eroded__mouth_nose")
    print("\n=== the astronaut, symmetry normalizer, pse_ycbcr_eroded__mouth_nose")
    print(f"{'version':12s} " + " ".join(f"{name:>14s}" for name in settings))
    for version, payload in versions.items():
        cells = []
        for preprocess, comparison in settings.values():
            geometry, rgb = locate_face(payload, preprocess)
            crop, _ = render_aligned_face(rgb, geometry, preprocess)
            points = geometry.aligned_landmarks()
            normalized = normalizer.normalize(crop, points).image
            (value,) = score_variants(
                crop, normalized, points, grid=grid, statistic="anomaly_score", comparison=comparison, **options
            ).values()
            cells.append(f"{value:14.3f}")
        print(f"{version:12s} " + " ".join(cells))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--faces", type=int, default=0, help="0 = every normal photo")
    parser.add_argument("--normalizers", default="symmetry,mirror,shape_model")
    parser.add_argument("--changes", default=",".join(CHANGES))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/facial_anomaly_invariance_cache"))
    parser.add_argument("--variants", default="", help="comma-separated variant names to print (default: all)")
    parser.add_argument("--calibrate", action="store_true", help="also print the greyscale_scale calibration")
    parser.add_argument("--demo", action="store_true", help="only the astronaut table (no shared data needed)")
    parser.add_argument(
        "--new-steps-off",
        action="store_true",
        help="single-pass colour FaceMesh and PixelComparison.plain(): the state before the fixes",
    )
    args = parser.parse_args()
    if not args.demo and not (args.data / "MANIFEST.csv").exists():
        sys.exit(f"no MANIFEST.csv in {args.data}")
    pin_to_one_core()
    from facial_anomaly.faces.config import PreprocessConfig
    from facial_anomaly.heatmaps.compare import PixelComparison, scale_key
    from facial_anomaly.normalizers import ShapeModel, build_normalizer
    from facial_anomaly.scoring import parse_variant_name, score_variants

    parameters = load_yaml("parameters_preprocess.yml")
    config = dict(PreprocessConfig.model_validate(parameters["preprocess"]))
    comparison = None
    if args.new_steps_off:
        # The state before: single-pass FaceMesh on colour, images compared as they are.
        config = {**config, "landmarks": {**config["landmarks"], "mirror_consistent": False, "measure_on_luma": False}}
        comparison = PixelComparison.plain()
    settings = project_settings()
    normalize, fit_params, options = settings["normalize"], settings["shape_model"], settings["scoring"]
    if args.demo:
        demo(config, normalize, options)
        return
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
    calibration: dict[str, list[float]] = {}
    summary = []
    for name in args.normalizers.split(","):
        normalizer = build_normalizer(name, normalize, shape_model=shape_model)
        scores: dict[str, dict[str, list[float]]] = {}
        start = time.perf_counter()
        for path in evaluated:
            for change in ["clean", *changes]:
                face = faces[path][change]
                normalized = normalizer.normalize(face["rgb"], face["landmarks"]).image
                values = score_variants(
                    face["rgb"],
                    normalized,
                    face["landmarks"],
                    grid=GRID,
                    statistic="anomaly_score",
                    comparison=comparison,
                    **options,
                )
                for variant, value in values.items():
                    scores.setdefault(variant, {}).setdefault(change, []).append(value)
                if args.calibrate and change == "clean":
                    luma_only = score_variants(
                        face["rgb"],
                        normalized,
                        face["landmarks"],
                        grid=GRID,
                        statistic="anomaly_score",
                        comparison=PixelComparison(chroma_threshold=1e9, greyscale_scale={}),
                        **options,
                    )
                    for variant, value in luma_only.items():
                        v = parse_variant_name(variant)
                        key = scale_key(v.kind, v.color_space, v.lcn)
                        calibration.setdefault(key, []).append(values[variant] / max(value, 1e-12))
        print(
            f"\n=== normalizer {name}: {len(evaluated)} faces × {1 + len(changes)} versions in {time.perf_counter() - start:.0f} s"
        )
        print("Spearman ρ / FPR at the clean 95 % threshold (%) / median ratio changed ÷ clean, per change")
        print(f"{'variant':40s} " + " ".join(f"{change:>16s}" for change in changes) + "   worst ρ  worst FPR")
        for variant, by_change in scores.items():
            if wanted and variant not in wanted:
                continue
            clean = np.asarray(by_change["clean"])
            threshold = threshold_at_specificity(clean, 0.95)
            cells, rhos, fprs = [], [], []
            for change in changes:
                changed = np.asarray(by_change[change])
                rho = spearman(clean, changed)
                fpr = float(np.mean(changed > threshold))
                ratio = float(np.median(changed / np.maximum(clean, 1e-12)))
                rhos.append(rho)
                fprs.append(fpr)
                cells.append(f"{rho:5.2f}/{100 * fpr:4.1f}/{ratio:4.2f}")
            meets = min(rhos) >= SPEARMAN_TARGET and max(fprs) <= FPR_TARGET
            summary.append((name, variant, min(rhos), max(fprs), meets))
            print(
                f"{variant:40s} "
                + " ".join(f"{cell:>16s}" for cell in cells)
                + f"   {min(rhos):7.3f}  {100 * max(fprs):8.1f}%"
            )
    print(
        f"\n=== summary: worst over the {len(changes)} changes (targets: ρ ≥ {SPEARMAN_TARGET}, FPR ≤ {100 * FPR_TARGET}%)"
    )
    for name, variant, rho, fpr, meets in summary:
        print(f"{name:12s} {variant:40s} ρ {rho:.3f}  FPR {100 * fpr:4.1f}%  {'meets both' if meets else 'MISSES'}")
    print(f"{sum(m for *_, m in summary)} of {len(summary)} normalizer × variant combinations meet both targets")
    if calibration:
        print(
            "\n=== greyscale calibration: median full / luma-only heat on the clean faces (PixelComparison.greyscale_scale)"
        )
        for key, ratios in calibration.items():
            print(
                f"  {key:16s} {np.median(ratios):.3f}  (IQR {np.percentile(ratios, 25):.3f}–{np.percentile(ratios, 75):.3f}, n {len(ratios)})"
            )


if __name__ == "__main__":
    main()
