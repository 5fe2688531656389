"""Figures for the README, made only from scikit-image's astronaut (public domain).

    .venv/bin/python docs/make_figures.py

For every normalizer: a sheet of original | normalized | |difference|×4 for the astronaut
with three synthetic anomalies (palsy-like droop, acne-like lesions, LT-v1 lip). The
models of the model-based normalizers are fitted on the embedded demo sample (the
astronaut and its photometric/geometric variants), so they only illustrate the mechanics.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images"
ANOMALIES = (("palsy", 3), ("acne", 3), ("lip_lt_v1", 4))


def parameters(stage: str) -> dict:
    return yaml.safe_load((ROOT / "conf/base" / f"parameters_{stage}.yml").read_text())


def aligned_faces() -> list[tuple[np.ndarray, np.ndarray]]:
    from facial_anomaly.faces import locate_face, render_aligned_face
    from facial_anomaly.faces.config import PreprocessConfig
    from facial_anomaly.sample import embedded_sample_files

    p = parameters("preprocess")
    config = dict(PreprocessConfig.model_validate(p["preprocess"]))
    sample = yaml.safe_load((ROOT / "conf/base/parameters.yml").read_text())["embedded_sample"]
    faces = []
    for name, payload in sorted(embedded_sample_files(sample).items()):
        geometry, rgb = locate_face(payload, config)
        if geometry.ok:
            faces.append((render_aligned_face(rgb, geometry, config)[0], geometry.aligned_landmarks()))
    return faces


def main() -> None:
    from facial_anomaly.normalizers import AppearanceModel, ShapeModel, build_normalizer
    from facial_anomaly.normalizers.sheets import comparison_sheet
    from facial_anomaly.synthesis import generate

    faces = aligned_faces()
    face, landmarks = faces[0]
    fit = parameters("fit_normal_models")["fit_normal_models"]
    shape_model = ShapeModel.fit([points for _, points in faces], **fit["shape_model"])
    appearance_model = AppearanceModel.fit(
        [f for f, _ in faces], [points for _, points in faces], **fit["appearance_model"]
    )
    synthesize = parameters("synthesize")["synthesize"]
    anomalous = [
        generate(family, face, landmarks, severity=severity, side="left", rng=7, params=synthesize[family])
        for family, severity in ANOMALIES
    ]
    normalize = parameters("normalize")
    gain = normalize["normalize_sheets"]["difference_gain"]
    OUT.mkdir(parents=True, exist_ok=True)
    for name in ("symmetry", "shape_model", "appearance_model", "inpaint"):
        normalizer = build_normalizer(
            name, normalize["normalize"]["normalizers"], shape_model=shape_model, appearance_model=appearance_model
        )
        pairs = []
        for synthetic in anomalous:
            # The sheet shows the lower face, where the anomalies are.
            normalized = normalizer.normalize(synthetic.image, synthetic.landmarks).image
            pairs.append((synthetic.image[200:470, 110:402], normalized[200:470, 110:402]))
        sheet = comparison_sheet(pairs, difference_gain=gain)
        small = cv2.resize(sheet, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        cv2.imwrite(
            str(OUT / f"normalizer_{name}.jpg"), cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85]
        )
        print(f"wrote {OUT / f'normalizer_{name}.jpg'}")


if __name__ == "__main__":
    main()
