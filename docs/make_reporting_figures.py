"""Figures of docs/reporting.md, made only from scikit-image's astronaut (public domain).

    .venv/bin/python docs/make_reporting_figures.py [--report /tmp/facial_anomaly_docs/report.html]

A miniature run of the reporting chain, with the library functions the pipelines use:
the embedded demo sample (the astronaut and its photometric/geometric variants = normal
controls, plus files that are rejected with a reason), synthetic anomalies of the
astronaut (palsy-like droop, acne-like lesions, LT-v1 lip; severities 1–4), the
symmetry normalizer, 16 PSE/SSIM scoring variants, one colour scale from a heat sketch,
panels, the heat on the original photo, a comparison sheet, and the HTML report, which
is opened in headless Chromium for the screenshots (skipped when no Chromium is
installed). Writes ``docs/images/reporting_*.jpg``; the report itself goes to ``--report``
(outside the repository).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images"
FAMILIES = ("palsy", "acne", "lip_lt_v1")
DEFAULT_VARIANT = "pse_ycbcr_eroded__mouth_nose"
GRID = {"kinds": ["pse", "ssim"], "color_spaces": ["rgb", "ycbcr"], "erosion": [False, True]}
REGIONS = ["mouth_nose", "face_without_eyes"]
PANEL_EXAMPLE = "synthetic/palsy_s4.png"


def parameters(stage: str) -> dict:
    return yaml.safe_load((ROOT / "conf/base" / f"parameters_{stage}.yml").read_text())


def save_jpeg(path: Path, rgb: np.ndarray, *, width: int | None = None, quality: int = 85) -> None:
    if width is not None and rgb.shape[1] > width:
        rgb = cv2.resize(rgb, (width, round(rgb.shape[0] * width / rgb.shape[1])), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} kB)")


def load_inputs() -> tuple[dict, list[dict], np.ndarray]:
    """Aligned demo faces (``image`` → rgb, mask, landmarks, matrix), rejected rows, astronaut photo."""
    from skimage import data

    from facial_anomaly.faces import locate_face, render_aligned_face
    from facial_anomaly.faces.config import PreprocessConfig
    from facial_anomaly.sample import embedded_sample_files

    preprocess = parameters("preprocess")
    config = dict(PreprocessConfig.model_validate(preprocess["preprocess"]))
    sample = yaml.safe_load((ROOT / "conf/base/parameters.yml").read_text())["embedded_sample"]
    faces, rejected = {}, []
    for name, payload in sorted(embedded_sample_files(sample).items()):
        geometry, rgb = locate_face(payload, config)
        if not geometry.ok:
            rejected.append({"image": name, "status": geometry.status, "detail": geometry.detail})
            continue
        crop, mask = render_aligned_face(rgb, geometry, config)
        faces[name] = {"rgb": crop, "mask": mask, "landmarks": geometry.aligned_landmarks(), "matrix": geometry.matrix}
    return faces, rejected, data.astronaut()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", type=Path, default=Path("/tmp/facial_anomaly_docs/report.html"))
    args = parser.parse_args(argv)

    from facial_anomaly.evaluation import (
        HtmlReportConfig,
        encode_thumbnail,
        evaluate,
        figure_png,
        render_html_report,
        roc_figure,
        score_histogram_figure,
        severity_scatter_figure,
    )
    from facial_anomaly.heatmaps import (
        HeatSketch,
        PanelConfig,
        heatmap,
        image_panel,
        overlay_on_photo,
        region_mask,
        resolve_vmax,
        score_percentile,
        with_colorbar,
    )
    from facial_anomaly.normalizers import build_normalizer
    from facial_anomaly.normalizers.sheets import SheetConfig, comparison_sheet
    from facial_anomaly.scoring import score_variants
    from facial_anomaly.synthesis import generate

    faces, rejected, photo = load_inputs()
    astronaut = faces["demo_astronaut.png"]
    labels = [{"image_id": name, "label": 0, "severity": 0.0} for name in faces]
    synthesize = parameters("synthesize")["synthesize"]
    for family in FAMILIES:
        for severity in (1, 2, 3, 4):
            synthetic = generate(
                family,
                astronaut["rgb"],
                astronaut["landmarks"],
                severity=severity,
                side="left",
                rng=7,
                params=synthesize[family],
            )
            name = f"synthetic/{family}_s{severity}.png"
            faces[name] = {**astronaut, "rgb": synthetic.image, "landmarks": synthetic.landmarks}
            labels.append({"image_id": name, "label": 1, "severity": float(severity)})
    labels = pd.DataFrame(labels)

    normalizer = build_normalizer("symmetry", parameters("normalize")["normalize"]["normalizers"])
    heat_params = parameters("heatmaps")["heatmaps"]
    region_params = parameters("scores")["scores"]["regions"]
    heat_settings = {k: heat_params[k] for k in ("erosion_size", "erosion_iterations", "channel_reduction")}
    rows, sketch = [], HeatSketch()
    for name, face in faces.items():
        face["normalized"] = normalizer.normalize(face["rgb"], face["landmarks"]).image
        face["heat"] = heatmap(
            face["rgb"], face["normalized"], kind="pse", color_space="ycbcr", kind_options={}, **heat_settings
        )
        face["region"] = region_mask(face["landmarks"], face["rgb"].shape, "mouth_nose", **region_params["mouth_nose"])
        sketch.add(face["heat"], face["mask"] > 0.5)
        scores = score_variants(
            face["rgb"],
            face["normalized"],
            face["landmarks"],
            grid={**GRID, "regions": REGIONS},
            statistic="anomaly_score",
            kind_options=heat_params["kind_options"],
            region_params=region_params,
            **heat_settings,
        )
        rows.append({"image_id": name, "image": name, "status": "ok", **scores})
    scores = pd.DataFrame(rows)

    evaluation_options = {
        "label_column": "label",
        "severity_column": "severity",
        "subset_column": None,
        "subset_controls": "within",
        "specificity": 0.95,
        "n_boot": 200,
        "ci_level": 0.95,
        "seed": 0,
    }
    comparison = []
    for variant in scores.columns[3:]:
        overall = evaluate(scores, labels, score_column=variant, **evaluation_options)["overall"]
        classification = overall["classification"] or {}
        comparison.append(
            {
                "variant": variant,
                "n": overall["n"],
                "auc": classification.get("roc_auc", np.nan),
                "eer": classification.get("eer", np.nan),
                "spearman": (overall["correlation"] or {}).get("spearman", {}).get("estimate", np.nan),
            }
        )
    comparison = pd.DataFrame(comparison).sort_values("auc", ascending=False, kind="stable")

    default = scores[["image_id", DEFAULT_VARIANT]].merge(labels, on="image_id")
    plots = {
        "roc.png": figure_png(roc_figure(default["label"], default[DEFAULT_VARIANT], title=DEFAULT_VARIANT), dpi=80),
        "histogram.png": figure_png(
            score_histogram_figure(default[DEFAULT_VARIANT], default["label"], bins=12, title=DEFAULT_VARIANT), dpi=80
        ),
        "severity.png": figure_png(
            severity_scatter_figure(
                default[DEFAULT_VARIANT], default["severity"], title=DEFAULT_VARIANT, severity_label="severity"
            ),
            dpi=80,
        ),
    }

    config = PanelConfig()
    vmax = resolve_vmax(config, sketch)
    controls = default.loc[default["label"] == 0, DEFAULT_VARIANT].to_numpy()
    report_config = HtmlReportConfig(title="facial_anomaly run report — astronaut example")
    gallery, thumbnails, panels = [], {}, {}
    for record in default.to_dict("records"):
        name, score = record["image_id"], record[DEFAULT_VARIANT]
        face = faces[name]
        percentile = score_percentile(score, controls)
        panels[name] = image_panel(
            face["rgb"],
            face["normalized"],
            face["heat"],
            face_mask=face["mask"],
            region_mask=face["region"],
            vmax=vmax,
            image_name=name,
            variant=DEFAULT_VARIANT,
            score=score,
            percentile=percentile,
            reference=f"{len(controls)} controls",
            config=config,
        )
        thumbnails[name] = encode_thumbnail(
            panels[name], width_px=report_config.thumbnail_width_px, jpeg_quality=report_config.jpeg_quality
        )
        gallery.append(
            {"image_id": name, "score": score, "percentile": percentile, "status": "ok", "label": int(record["label"])}
        )

    OUT.mkdir(parents=True, exist_ok=True)
    print(f"vmax ({config.vmax_percentile}th percentile of the heat in the face masks) = {vmax:.1f}")
    save_jpeg(OUT / "reporting_panel.jpg", panels[PANEL_EXAMPLE])

    on_photo = overlay_on_photo(
        photo,
        astronaut["heat"],
        astronaut["mask"],
        astronaut["matrix"],
        vmax=vmax,
        config=config,
        region_mask=astronaut["region"],
    )
    save_jpeg(OUT / "reporting_photo.jpg", with_colorbar(on_photo[:300, 60:460], vmax=vmax, config=config))

    sheet_faces = [
        "demo_astronaut.png",
        "synthetic/palsy_s3.png",
        "synthetic/acne_s3.png",
        "synthetic/lip_lt_v1_s4.png",
    ]
    sheet = comparison_sheet(
        [(faces[n]["rgb"][200:470, 110:402], faces[n]["normalized"][200:470, 110:402]) for n in sheet_faces],
        image_ids=sheet_faces,
        config=SheetConfig(tile_px=220),
    )
    save_jpeg(OUT / "reporting_sheet.jpg", sheet)

    page = render_html_report(
        parameters={
            "input_dir": "data/01_raw/embedded_sample (+ synthetic anomalies)",
            "normalizer": "symmetry",
            "default_variant": DEFAULT_VARIANT,
            "panel": config.model_dump(mode="json"),
        },
        comparison=comparison,
        plots=plots,
        gallery=pd.DataFrame(gallery),
        thumbnails=thumbnails,
        rejected=pd.DataFrame(rejected),
        config=report_config,
        subtitle="Made by docs/make_reporting_figures.py from scikit-image's astronaut only.",
    )
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(page, encoding="utf-8")
    print(f"wrote {args.report} ({len(page.encode()) // 1024} kB, {len(gallery)} panels, {len(rejected)} rejected)")
    print(comparison.to_string(index=False, float_format=lambda v: f"{v:.3f}"))

    from facial_anomaly.browser import HeadlessChromium, find_chromium

    if find_chromium() is None:
        print("no Chromium installed: report screenshots skipped (apt-get install chromium)")
        return
    with HeadlessChromium(window_px=(1280, 860)) as browser:
        for anchor in ("", "#gallery"):
            tab = browser.open(args.report.resolve().as_uri() + anchor)
            shot = args.report.parent / f"screenshot{anchor.replace('#', '_')}.png"
            tab.screenshot(shot)
            status = tab.image_status()
            print(
                f"{anchor or 'top'}: {status['decoded']}/{status['total']} images decoded, errors: {tab.collect().errors}"
            )
            rgb = cv2.cvtColor(cv2.imread(str(shot)), cv2.COLOR_BGR2RGB)
            save_jpeg(OUT / f"reporting_report{anchor.replace('#', '_')}.jpg", rgb, width=960, quality=80)


if __name__ == "__main__":
    main()
