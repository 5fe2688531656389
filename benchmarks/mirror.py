"""Mirror-consistent landmarks, mirror invariance of the scores, and the pose check, on real photos.

    .venv/bin/python benchmarks/mirror.py [--data ../shared/data] [--faces 120] [--sections landmarks,scores,pose]

Normal photos of ``<data>/faces`` (MANIFEST.csv) are read at run time; nothing derived
from them is written anywhere. Pinned to one CPU core. Sections:

* ``landmarks`` — for ``--faces`` photos (every 4th of the manifest's normal photos, so
  all five collections appear), each photo and its mirror image are located from their
  own bytes with single-pass FaceMesh (``mirror_consistent: false``) and with the
  default mirror-consistent landmarks; prints the distance between the landmarks of
  the photo and the mirror image's landmarks mapped back (median, 90th percentile,
  in source pixels and in % of the eye distance), the same on the aligned crop when
  FaceMesh is rerun on it (the issue's measurement), and ``locate_face`` milliseconds.
* ``scores`` — the same photos and mirror images, aligned, normalized (symmetry, mirror,
  shape_model fitted on the other half of the persons) and scored (pse/ssim × ycbcr ×
  eroded × mouth_nose/face_without_eyes × with/without lcn): per normalizer and
  landmark mode, the median and 95th percentile of |s − s_mirror| / max(s, s_mirror)
  and the share of (face, variant) pairs within 2 %.
* ``pose`` — every normal photo through ``locate_face``: statuses, quantiles of yaw,
  pitch, roll (after the orientation correction) and visible fraction, the share kept
  by the default limits; and the synthetic astronaut cases (turned by 90/180/270°,
  rolled, turned and nodded by a 3-D landmark warp, cut by the photo border) with and
  without ``auto_rotate``.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import hashlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))  # the shared helpers beside this script
from _shared_data import load_yaml, manifest_normals, project_settings  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("FACIAL_ANOMALY_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
GRID = {
    "kinds": ["pse", "ssim"],
    "color_spaces": ["ycbcr"],
    "erosion": [True],
    "regions": ["mouth_nose", "face_without_eyes"],
    "lcn": [False, True],
}


def pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import cv2

    cv2.setNumThreads(1)
    import torch

    torch.set_num_threads(1)


def preprocess_config(**overrides) -> dict:
    from facial_anomaly.faces.config import PreprocessConfig

    parameters = load_yaml("parameters_preprocess.yml")
    config = dict(PreprocessConfig.model_validate(parameters["preprocess"]))
    for block, values in overrides.items():
        config = {**config, block: {**config.get(block, {}), **values}}
    return config


def png_bytes(rgb: np.ndarray) -> bytes:
    import cv2

    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return encoded.tobytes()


def quantiles(values, qs=(50, 90)) -> str:
    values = np.asarray(values, dtype=np.float64)
    return " ".join(f"p{q} {np.percentile(values, q):6.2f}" for q in qs)


def sample_photos(data: Path, count: int) -> list[dict]:
    rows = manifest_normals(data)
    return rows[:: max(1, len(rows) // count)][:count]


# --------------------------------------------------------------------------- landmarks and scores


def locate_pair(path: Path, config: dict):
    """Geometry, decoded photo, and the same for the mirror image of the photo (from its own bytes)."""
    from facial_anomaly.faces import decode_image, locate_face

    data = path.read_bytes()
    rgb = decode_image(data, **config["decode"]).rgb
    mirrored = np.ascontiguousarray(rgb[:, ::-1])
    start = time.perf_counter()
    geometry, photo = locate_face(png_bytes(rgb), config)
    seconds = time.perf_counter() - start
    mirror_geometry, mirror_photo = locate_face(png_bytes(mirrored), config)
    return (geometry, photo), (mirror_geometry, mirror_photo), seconds


def landmark_disagreement(a: np.ndarray, b_mirrored: np.ndarray, width: int) -> np.ndarray:
    from facial_anomaly.faces.mesh import mirrored_landmarks

    return np.linalg.norm(a[:, :2] - mirrored_landmarks(b_mirrored, width)[:, :2], axis=1)


def run_landmarks_and_scores(data: Path, count: int, sections: set[str]) -> None:
    from facial_anomaly.faces import detect_landmarks, eye_centers, render_aligned_face
    from facial_anomaly.normalizers import ShapeModel, build_normalizer
    from facial_anomaly.scoring import score_variants

    photos = sample_photos(data, count)
    modes = {"single pass": {"mirror_consistent": False}, "mirror-consistent": {"mirror_consistent": True}}
    settings = project_settings()
    normalize, fit_params, options = settings["normalize"], settings["shape_model"], settings["scoring"]
    # Persons in hash order: the first half fits the shape model, the second is scored.
    persons = sorted({row["person"] for row in photos}, key=lambda p: hashlib.sha1(p.encode()).hexdigest())
    fit_persons = set(persons[: len(persons) // 2])
    for mode, landmark_settings in modes.items():
        config = preprocess_config(landmarks=landmark_settings)
        located = []
        seconds = []
        for row in photos:
            pair = locate_pair(data / row["path"], config)
            if pair[0][0].ok and pair[1][0].ok:
                located.append((row, pair))
                seconds.append(pair[2])
        source, source_iod, aligned, aligned_iod = [], [], [], []
        for _, ((geometry, photo), (mirror_geometry, _), _) in located:
            error = landmark_disagreement(geometry.landmarks, mirror_geometry.landmarks, photo.shape[1])
            source.append(np.median(error))
            source_iod.append(100 * np.median(error) / geometry.eye_distance_source_px)
        # The measurement: FaceMesh rerun on the aligned crop and on its mirror image.
        for _, ((geometry, photo), _, _) in located[: min(len(located), 60)]:
            crop, _ = render_aligned_face(photo, geometry, config)
            settings = {**config["landmarks"], **landmark_settings}
            points = detect_landmarks(crop, None, settings)
            flipped = detect_landmarks(np.ascontiguousarray(crop[:, ::-1]), None, settings)
            error = landmark_disagreement(points, flipped, crop.shape[1])
            left, right = eye_centers(points)
            aligned.append(error)
            aligned_iod.append(100 * error / np.hypot(*(right - left)))
        if "landmarks" in sections:
            aligned_all, aligned_iod_all = np.concatenate(aligned), np.concatenate(aligned_iod)
            print(f"\n[landmarks] {mode}: {len(located)} photos and their mirror images located")
            print(f"  photo vs mirror image, per-photo median distance (source px):   {quantiles(source)}")
            print(f"  same in % of the eye distance:                                  {quantiles(source_iod)}")
            print(f"  FaceMesh on the aligned crop vs its mirror, all landmarks (px): {quantiles(aligned_all)}")
            print(f"  same in % of the eye distance:                                  {quantiles(aligned_iod_all)}")
            print(f"  locate_face ms per photo: median {1000 * np.median(seconds):.1f}")
        if "scores" not in sections:
            continue
        shapes = []
        for row, ((geometry, photo), _, _) in located:
            if row["person"] in fit_persons:
                shapes.append(geometry.aligned_landmarks())
        model = ShapeModel.fit(shapes, **fit_params)
        differences: dict[tuple[str, str], list[float]] = {}
        for name in ("symmetry", "mirror", "shape_model"):
            normalizer = build_normalizer(name, normalize, shape_model=model)
            for row, ((geometry, photo), (mirror_geometry, mirror_photo), _) in located:
                if row["person"] in fit_persons:
                    continue
                scored = []
                for g, p in ((geometry, photo), (mirror_geometry, mirror_photo)):
                    crop, _ = render_aligned_face(p, g, config)
                    points = g.aligned_landmarks()
                    normalized = normalizer.normalize(crop, points).image
                    scored.append(
                        score_variants(crop, normalized, points, grid=GRID, statistic="anomaly_score", **options)
                    )
                for variant, value in scored[0].items():
                    other = scored[1][variant]
                    differences.setdefault((name, variant), []).append(abs(value - other) / max(value, other, 1e-12))
        print(f"\n[scores] {mode}: photo vs mirror image, relative score difference on held-out faces")
        print(f"  {'normalizer':12s} {'variant':40s} {'n':>4s} {'median':>8s} {'p95':>8s} {'<=2%':>6s}")
        for (name, variant), values in differences.items():
            values = np.asarray(values)
            print(
                f"  {name:12s} {variant:40s} {len(values):4d} {100 * np.median(values):7.2f}% "
                f"{100 * np.percentile(values, 95):7.2f}% {100 * np.mean(values <= 0.02):5.1f}%"
            )


# --------------------------------------------------------------------------- pose


def synthetic_cases() -> dict[str, np.ndarray]:
    """The astronaut turned, rolled, turned/nodded in 3-D and cut by the photo border."""
    import cv2
    from skimage import data

    from facial_anomaly.faces import detect_faces, detect_landmarks
    from facial_anomaly.faces.mesh import NUM_MESH_POINTS
    from facial_anomaly.normalizers import AnchoredWarp

    config = preprocess_config()
    rgb = data.astronaut()
    landmarks = detect_landmarks(rgb, detect_faces(rgb, config["detection"]).largest, config["landmarks"])
    centre = landmarks[:NUM_MESH_POINTS].mean(axis=0)
    warp = AnchoredWarp(ring_scale=1.35, border_step_px=64.0)

    def turned(degrees: float, axis: str) -> np.ndarray:
        t = np.radians(degrees)
        c, s = np.cos(t), np.sin(t)
        rotation = {"yaw": [[c, 0, s], [0, 1, 0], [-s, 0, c]], "pitch": [[1, 0, 0], [0, c, -s], [0, s, c]]}[axis]
        return warp.warp_face(rgb, landmarks, (landmarks - centre) @ np.asarray(rotation).T + centre)[0]

    def rolled(degrees: float) -> np.ndarray:
        matrix = cv2.getRotationMatrix2D((255.5, 255.5), degrees, 1.0)
        return cv2.warpAffine(rgb, matrix, (512, 512), borderMode=cv2.BORDER_REFLECT)

    cases = {"astronaut": rgb}
    cases.update({f"turned {k * 90} deg": np.ascontiguousarray(np.rot90(rgb, k)) for k in (1, 2, 3)})
    cases.update({f"rolled {d} deg": rolled(d) for d in (20, 60, 150)})
    cases.update({f"yaw warp {d} deg": turned(d, "yaw") for d in (20, 35, 50, 65)})
    cases.update({f"pitch warp {d} deg": turned(d, "pitch") for d in (-40, -25, 25, 40)})
    cases["cut: left 70 % of face"] = np.ascontiguousarray(rgb[:, :246])
    cases["cut: top 50 % of face"] = np.ascontiguousarray(rgb[:140])
    cases["cut: top 70 % of face"] = np.ascontiguousarray(rgb[:172])
    return cases


def run_pose(data: Path) -> None:
    from facial_anomaly.faces import locate_face
    from facial_anomaly.faces.pose import wrap_degrees

    config = preprocess_config()
    rows = manifest_normals(data)
    records = []
    start = time.perf_counter()
    for row in rows:
        geometry, _ = locate_face((data / row["path"]).read_bytes(), config)
        records.append((row, geometry))
    seconds = time.perf_counter() - start
    statuses: dict[str, int] = {}
    for _, geometry in records:
        statuses[geometry.status] = statuses.get(geometry.status, 0) + 1
    measured = [g for _, g in records if np.isfinite(g.yaw_degrees)]
    kept = statuses.get("ok", 0)
    print(f"\n[pose] {len(records)} normal photos of {data / 'faces'}: {statuses}")
    print(
        f"  kept (ok): {kept} = {100 * kept / len(records):.1f} %  ({1000 * seconds / len(records):.0f} ms per photo)"
    )
    print(f"  rotated by the orientation correction: {sum(g.rotated_degrees != 0 for _, g in records)}")
    for name, values in (
        ("|yaw| deg", [abs(g.yaw_degrees) for g in measured]),
        ("|pitch| deg", [abs(g.pitch_degrees) for g in measured]),
        ("pitch deg", [g.pitch_degrees for g in measured]),
        ("|roll| deg", [abs(wrap_degrees(g.roll_degrees - g.rotated_degrees)) for g in measured]),
        ("visible", [g.visible_fraction for g in measured]),
    ):
        print(f"  {name:12s} {quantiles(values, (1, 50, 90, 98, 99, 100))}")
    for row, geometry in records:
        if geometry.status == "pose_out_of_range":
            print(f"  rejected: {row['path']}: {geometry.detail}")
    # What the orientation check costs: the same photos without it.
    timing = rows[:: max(1, len(rows) // 100)][:100]
    for auto_rotate in (False, True):
        timed_config = preprocess_config(pose={"auto_rotate": auto_rotate})
        start = time.perf_counter()
        for row in timing:
            locate_face((data / row["path"]).read_bytes(), timed_config)
        per_photo = 1000 * (time.perf_counter() - start) / len(timing)
        print(f"  locate_face with auto_rotate={auto_rotate}: {per_photo:.0f} ms per photo ({len(timing)} photos)")

    print("\n[pose] synthetic astronaut cases")
    print(
        f"  {'case':24s} {'auto_rotate':>11s}  {'status':18s} {'rot':>4s} {'yaw':>6s} {'pitch':>6s} {'roll':>7s} {'vis':>5s}"
    )
    cases = synthetic_cases()
    for auto_rotate in (True, False):
        case_config = preprocess_config(pose={"auto_rotate": auto_rotate})
        for name, rgb in cases.items():
            geometry, _ = locate_face(png_bytes(rgb), case_config)
            print(
                f"  {name:24s} {auto_rotate!s:>11s}  {geometry.status:18s} {geometry.rotated_degrees:4d} "
                f"{geometry.yaw_degrees:6.1f} {geometry.pitch_degrees:6.1f} {geometry.roll_degrees:7.1f} "
                f"{geometry.visible_fraction:5.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--faces", type=int, default=120, help="photos for the landmarks and scores sections")
    parser.add_argument("--sections", default="landmarks,scores,pose")
    args = parser.parse_args()
    if not (args.data / "MANIFEST.csv").exists():
        sys.exit(f"no MANIFEST.csv in {args.data}")
    pin_to_one_core()
    sections = set(args.sections.split(","))
    if sections & {"landmarks", "scores"}:
        run_landmarks_and_scores(args.data, args.faces, sections)
    if "pose" in sections:
        run_pose(args.data)


if __name__ == "__main__":
    main()
