"""The normalizers on real photos from ../shared/data (skipped when absent): models fitted
on some persons, applied to held-out persons — a child and a smiling adult included."""

from __future__ import annotations

import csv
import re

import cv2
import numpy as np
import pytest

from facial_anomaly.faces import locate_face, render_aligned_face
from facial_anomaly.faces.warp import anchored_points, anchored_triangulation
from facial_anomaly.normalizers import AppearanceModel, ShapeModel, build_normalizer, landmark_asymmetry
from facial_anomaly.normalizers.geometry import face_region_mask

pytestmark = pytest.mark.shared_data

FIT_PERSONS = 30
CPU_NORMALIZERS = ("symmetry", "shape_model", "appearance_model", "inpaint")


def _aligned(path, config) -> dict | None:
    geometry, rgb = locate_face(path.read_bytes(), config)
    if not geometry.ok:
        return None
    crop, _ = render_aligned_face(rgb, geometry, config)
    return {"rgb": crop, "landmarks": geometry.aligned_landmarks(), "path": path}


@pytest.fixture(scope="module")
def real_faces(shared_data, preprocess_config) -> dict:
    """Fit faces (London neutral, first persons) and held-out faces of other persons:
    a smiling London face and a UTKFace child (age ≤ 10)."""
    with open(shared_data / "MANIFEST.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    london = [r for r in rows if r["path"].startswith("faces/london_neutral/")]
    fit_persons = {re.search(r"person_id=([^;]+)", r["notes"]).group(1) for r in london[:FIT_PERSONS]}
    fit = [f for r in london[:FIT_PERSONS] if (f := _aligned(shared_data / r["path"], preprocess_config))]
    smiling = next(
        f
        for r in rows
        if r["path"].startswith("faces/london_smiling/")
        and re.search(r"person_id=([^;]+)", r["notes"]).group(1) not in fit_persons
        and (f := _aligned(shared_data / r["path"], preprocess_config))
    )
    child = next(
        f
        for r in rows
        if r["path"].startswith("faces/utkface/")
        and int(re.search(r"age=(\d+)", r["notes"]).group(1)) <= 10
        and (f := _aligned(shared_data / r["path"], preprocess_config))
    )
    return {"fit": fit, "held_out": {"smiling": smiling, "child": child}}


@pytest.fixture(scope="module")
def normalizers(real_faces, normalizer_params, model_params) -> dict:
    fit = real_faces["fit"]
    shape_model = ShapeModel.fit([f["landmarks"] for f in fit], **model_params["shape_model"])
    appearance_model = AppearanceModel.fit(
        [f["rgb"] for f in fit], [f["landmarks"] for f in fit], **model_params["appearance_model"]
    )
    return {
        name: build_normalizer(name, normalizer_params, shape_model=shape_model, appearance_model=appearance_model)
        for name in CPU_NORMALIZERS
    }


def _region_that_may_change(normalizer, landmarks, out, shape) -> np.ndarray:
    """Shape normalizers: the triangles with a landmark corner (before or after the warp);
    texture normalizers: the face."""
    if out.landmarks is None:
        return face_region_mask(landmarks, shape, feather_px=0) > 0
    anchors = anchored_points(
        landmarks, shape, ring_scale=normalizer.warp.ring_scale, border_step_px=normalizer.warp.border_step_px
    )
    triangles = anchored_triangulation(landmarks, anchors)
    movable = triangles[(triangles < len(landmarks)).any(axis=1)]
    region = np.zeros(shape[:2], np.uint8)
    for points in (landmarks, out.landmarks):
        for triangle in np.vstack([points[:, :2], anchors])[movable]:
            cv2.fillConvexPoly(region, np.round(triangle).astype(np.int32), 1)
    return cv2.dilate(region, np.ones((3, 3), np.uint8)).astype(bool)


@pytest.mark.parametrize("who", ["smiling", "child"])
@pytest.mark.parametrize("name", CPU_NORMALIZERS)
def test_held_out_normal_face_changes_little(real_faces, normalizers, who, name):
    face = real_faces["held_out"][who]
    rgb, landmarks = face["rgb"], face["landmarks"]
    out = normalizers[name].normalize(rgb, landmarks)
    assert out.image.shape == rgb.shape and out.image.dtype == np.uint8
    inside = face_region_mask(landmarks, rgb.shape, feather_px=0) > 0.5
    change = np.abs(out.image.astype(float) - rgb)
    assert change[inside].mean() < 12.0, f"{name} changed the {who} face by {change[inside].mean():.1f} grey levels"
    outside = ~_region_that_may_change(normalizers[name], landmarks, out, rgb.shape)
    assert outside.mean() > 0.1
    np.testing.assert_array_equal(out.image[outside], rgb[outside])


@pytest.mark.parametrize("who", ["smiling", "child"])
def test_symmetry_output_is_symmetric(real_faces, normalizers, who):
    face = real_faces["held_out"][who]
    out = normalizers["symmetry"].normalize(face["rgb"], face["landmarks"])
    assert landmark_asymmetry(out.landmarks) < 1e-6 < landmark_asymmetry(face["landmarks"])
