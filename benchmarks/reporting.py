"""Cost and size of the reporting figures: panels, the heat sketch, heat on large photos, the
HTML report of many images and its load in headless Chromium — on one core.

    .venv/bin/python benchmarks/reporting.py [--images 1000] [--repeats 30] [--no-browser]

Inputs are made from scikit-image's astronaut only (preprocessed with
conf/base/parameters_preprocess.yml, as tests/conftest.py does); its "normalized" face is
the symmetry normalizer's output, so the heat is real. The n gallery images are panels of
that face with the heat multiplied by a different factor per image (distinct pictures, the
same size and JPEG content as real panels). Large photos are the astronaut resized.
Prints CPU milliseconds per call (``time.process_time``; wall time on a shared machine
includes waiting for the core), sizes in kB/MB, and ratios measured within the run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import yaml
from skimage import data

from facial_anomaly.evaluation import HtmlReportConfig, encode_thumbnail, expected_image_count, render_html_report
from facial_anomaly.faces import PreprocessConfig, locate_face, render_aligned_face
from facial_anomaly.heatmaps import (
    HeatSketch,
    PanelConfig,
    heatmap,
    image_panel,
    overlay_on_original,
    overlay_on_photo,
    region_mask,
    resolve_vmax,
)
from facial_anomaly.normalizers import build_normalizer

CONF = Path(__file__).resolve().parents[1] / "conf" / "base"


def load(stage: str) -> dict:
    return yaml.safe_load((CONF / f"parameters_{stage}.yml").read_text(encoding="utf-8"))


def cpu_ms(function, repeats: int) -> float:
    """Median CPU milliseconds of ``function()`` over ``repeats`` calls (after one warm-up)."""
    function()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        function()
        times.append(time.process_time() - start)
    return 1000.0 * float(np.median(times))


def astronaut_inputs() -> dict:
    config = PreprocessConfig()
    photo = data.astronaut()
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    geometry, rgb = locate_face(encoded.tobytes(), config)
    face, mask = render_aligned_face(rgb, geometry, config)
    landmarks = geometry.aligned_landmarks()
    normalized = build_normalizer("symmetry", load("normalize")["normalize"]["normalizers"]).normalize(face, landmarks)
    heat_params = load("heatmaps")["heatmaps"]
    heat = heatmap(
        face,
        normalized.image,
        kind="pse",
        color_space="ycbcr",
        erosion_size=heat_params["erosion_size"],
        erosion_iterations=heat_params["erosion_iterations"],
        channel_reduction=heat_params["channel_reduction"],
        kind_options={},
    )
    region = region_mask(landmarks, face.shape, "mouth_nose", **load("scores")["scores"]["regions"]["mouth_nose"])
    return {
        "photo": photo,
        "face": face,
        "mask": mask,
        "normalized": normalized.image,
        "heat": heat,
        "region": region,
        "matrix": geometry.matrix,
    }


def panel_of(inputs: dict, heat: np.ndarray, vmax: float, name: str, config: PanelConfig) -> np.ndarray:
    return image_panel(
        inputs["face"],
        inputs["normalized"],
        heat,
        face_mask=inputs["mask"],
        region_mask=inputs["region"],
        vmax=vmax,
        image_name=name,
        variant="pse_ycbcr_eroded__mouth_nose",
        score=float(heat[inputs["region"]].mean()),
        percentile=50.0,
        reference="40 controls",
        config=config,
    )


def bench_panels(inputs: dict, repeats: int) -> None:
    config = PanelConfig()
    vmax = resolve_vmax(config, HeatSketch().add(inputs["heat"], inputs["mask"] > 0.5))
    panel = panel_of(inputs, inputs["heat"], vmax, "folder/photo.jpg", config)
    print("\n## Panels (512² aligned face → 4 tiles of 256 px)")
    print(f"panel size: {panel.shape[1]}×{panel.shape[0]} px")
    print(f"image_panel: {cpu_ms(lambda: panel_of(inputs, inputs['heat'], vmax, 'x', config), repeats):.1f} ms")
    print("\n| thumbnail width px | JPEG quality | kB | encode ms | 1000 images, MB (base64) |")
    print("|---|---|---|---|---|")
    for width, quality in ((640, 80), (640, 70), (480, 75), (480, 60)):
        size_kb = len(encode_thumbnail(panel, width_px=width, jpeg_quality=quality)) / 1024
        ms = cpu_ms(lambda w=width, q=quality: encode_thumbnail(panel, width_px=w, jpeg_quality=q), repeats)
        print(f"| {width} | {quality} | {size_kb:.1f} | {ms:.1f} | {1000 * size_kb * 4 / 3 / 1024:.1f} |")


def bench_sketch(inputs: dict, repeats: int) -> None:
    rng = np.random.default_rng(0)
    heat, inside = inputs["heat"], inputs["mask"] > 0.5
    maps = [heat * rng.lognormal(0.0, 0.7) + rng.exponential(2.0, heat.shape).astype(np.float32) for _ in range(200)]
    print("\n## Heat sketch (relative accuracy 0.005) over 200 maps of 512², inside the face mask")
    print(f"HeatSketch.add of one map: {cpu_ms(lambda: HeatSketch().add(heat, inside), repeats):.1f} ms")
    print(f"np.percentile of one map (for scale): {cpu_ms(lambda: np.percentile(heat[inside], 99), repeats):.1f} ms")
    shards = [HeatSketch() for _ in range(4)]
    for index, heat_map in enumerate(maps):
        shards[index % 4].add(heat_map, inside)
    merged = shards[0] + shards[1] + shards[2] + shards[3]
    everything = np.concatenate([heat_map[inside] for heat_map in maps])
    state_kb = len(str(merged.to_dict())) / 1024
    print(f"values: {everything.size:,}; merged state as JSON: {state_kb:.1f} kB")
    print("\n| percentile | exact | sketch (4 shards merged) | relative error |")
    print("|---|---|---|---|")
    for q in (50.0, 90.0, 99.0, 99.9):
        exact = float(np.percentile(everything, q, method="lower"))
        approx = merged.quantile(q / 100)
        print(f"| {q} | {exact:.3f} | {approx:.3f} | {abs(approx - exact) / exact:.5f} |")


def bench_photos(inputs: dict, repeats: int) -> None:
    config = PanelConfig()
    print("\n## Heat on the original photo")
    print(
        "| photo px | overlay_on_photo (≤ 1600 px) ms | output px | overlay_on_original (full size, old) ms | ratio |"
    )
    print("|---|---|---|---|---|")
    for width, height in ((512, 512), (4000, 3000), (6000, 4000)):
        photo = cv2.resize(inputs["photo"], (width, height), interpolation=cv2.INTER_LINEAR)
        to_small = np.diag([512 / width, 512 / height, 1.0])
        matrix = (np.vstack([inputs["matrix"], [0, 0, 1]]) @ to_small)[:2]
        new = cpu_ms(
            lambda p=photo, m=matrix: overlay_on_photo(p, inputs["heat"], inputs["mask"], m, vmax=200.0, config=config),
            max(3, repeats // 5),
        )
        old = cpu_ms(
            lambda p=photo, m=matrix: overlay_on_original(p, inputs["heat"], m, colormap="jet", alpha=0.45, vmax=None),
            max(3, repeats // 5),
        )
        out = overlay_on_photo(photo, inputs["heat"], inputs["mask"], matrix, vmax=200.0, config=config)
        print(f"| {width}×{height} | {new:.0f} | {out.shape[1]}×{out.shape[0]} | {old:.0f} | {old / new:.1f} |")


def bench_report(inputs: dict, n_images: int, browser: bool) -> None:
    config, report_config = PanelConfig(), HtmlReportConfig()
    vmax = resolve_vmax(config, HeatSketch().add(inputs["heat"], inputs["mask"] > 0.5))
    rng = np.random.default_rng(1)
    gains = rng.lognormal(0.0, 0.5, n_images)
    thumbnails, rows = {}, []
    start = time.process_time()
    for index, gain in enumerate(gains):
        name = f"folder {index // 100}/photo_{index:04d}.jpg"
        panel = panel_of(inputs, inputs["heat"] * np.float32(gain), vmax, name, config)
        thumbnails[name] = encode_thumbnail(
            panel, width_px=report_config.thumbnail_width_px, jpeg_quality=report_config.jpeg_quality
        )
        rows.append({"image_id": name, "score": float(gain), "status": "ok", "percentile": 50.0})
    panels_s = time.process_time() - start
    gallery = pd.DataFrame(rows)
    rejected = pd.DataFrame({"image": ["x.txt"], "status": ["unsupported_format"], "detail": ["not an image"]})
    start = time.process_time()
    page = render_html_report(
        parameters={"input_dir": "folder"},
        comparison=None,
        plots={},
        gallery=gallery,
        thumbnails=thumbnails,
        rejected=rejected,
        config=report_config,
    )
    render_s = time.process_time() - start
    size_mb = len(page.encode()) / 2**20
    print(f"\n## HTML report of {n_images} images (thumbnails {report_config.thumbnail_width_px} px, "
          f"JPEG {report_config.jpeg_quality})")  # fmt: skip
    print(f"panels + thumbnails: {panels_s:.1f} s CPU ({1000 * panels_s / n_images:.1f} ms per image)")
    print(
        f"render_html_report: {render_s:.2f} s CPU; report.html: {size_mb:.1f} MB ({1024 * size_mb / n_images:.1f} kB per image)"
    )
    if not browser:
        return
    from facial_anomaly.browser import HeadlessChromium, find_chromium

    if find_chromium() is None:
        print("no Chromium installed: browser load not measured (apt-get install chromium)")
        return
    with tempfile.TemporaryDirectory(prefix="reporting_bench_") as folder, HeadlessChromium() as chromium:
        path = Path(folder) / "report.html"
        path.write_text(page, encoding="utf-8")
        start = time.perf_counter()
        tab = chromium.open(path.as_uri())
        load_s = time.perf_counter() - start
        start = time.perf_counter()
        status = tab.image_status()
        decode_s = time.perf_counter() - start
        errors = tab.collect().errors
        expected = expected_image_count({}, gallery, thumbnails)
        print(f"Chromium: load event after {load_s:.1f} s wall; all {status['decoded']}/{status['total']} images "
              f"decoded (expected {expected}) after {decode_s:.1f} s more; console errors: {len(errors)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000, help="gallery size of the HTML report")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per measurement")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium load")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    inputs = astronaut_inputs()
    bench_panels(inputs, args.repeats)
    bench_sketch(inputs, args.repeats)
    bench_photos(inputs, args.repeats)
    bench_report(inputs, args.images, not args.no_browser)


if __name__ == "__main__":
    main()
