"""Mirror normalizer: the face's mirror image on its own landmarks; left–right differences become heat."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facial_anomaly.faces.mesh import mirror_pairs, mirrored_landmarks
from facial_anomaly.heatmaps import heatmap, region_mask
from facial_anomaly.normalizers import MirrorNormalizer, available, build_normalizer, create
from facial_anomaly.scoring import anomaly_score

CHEEK = 50  # a FaceMesh point on the image-left cheek
PSE = {
    "kind": "pse",
    "color_space": "ycbcr",
    "erosion_size": 3,
    "erosion_iterations": 1,
    "channel_reduction": "sum",
    "kind_options": {},
}


@pytest.fixture(scope="module")
def mirror() -> MirrorNormalizer:
    return create("mirror")


@pytest.fixture(scope="module")
def symmetric_face(astronaut_aligned, anchored_warp) -> dict:
    """An exactly mirror-symmetric face: the astronaut warped onto landmarks made symmetric
    about the middle column, then averaged with its own mirror image."""
    rgb, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    width = rgb.shape[1]
    target = (landmarks + mirrored_landmarks(landmarks, width)) / 2.0
    warped, _ = anchored_warp.warp_face(rgb, landmarks, target)
    image = np.rint((warped.astype(np.float64) + warped[:, ::-1]) / 2.0).astype(np.uint8)
    np.testing.assert_array_equal(image, image[:, ::-1])
    return {"rgb": image, "landmarks": target, "face": region_mask(target, image.shape, "full_face")}


def _paint_disc(face: dict, radius: int, darkening: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The face with a darker disc on the image-left cheek; masks of the disc and of its mirror place."""
    image = face["rgb"].astype(np.float64)
    centre = tuple(int(v) for v in np.round(face["landmarks"][CHEEK, :2]))
    partner = tuple(int(v) for v in np.round(face["landmarks"][mirror_pairs()[CHEEK], :2]))
    disc, mirrored_disc = np.zeros(image.shape[:2], np.uint8), np.zeros(image.shape[:2], np.uint8)
    cv2.circle(disc, centre, radius, 1, -1)
    cv2.circle(mirrored_disc, partner, radius, 1, -1)
    image[disc.astype(bool)] *= 1.0 - darkening
    return np.rint(image).astype(np.uint8), disc.astype(bool), mirrored_disc.astype(bool)


def test_mirror_is_registered_and_typed():
    assert "mirror" in available()
    assert isinstance(build_normalizer("mirror", {}), MirrorNormalizer)
    with pytest.raises(ValueError, match="ring_scale"):
        create("mirror", ring_scale=0.9)
    with pytest.raises(TypeError):
        create("mirror", texture_blend=0.5)


def test_symmetric_face_gives_no_heat(mirror, symmetric_face):
    out = mirror.normalize(symmetric_face["rgb"], symmetric_face["landmarks"])
    assert out.image.shape == symmetric_face["rgb"].shape and out.image.dtype == np.uint8
    heat = heatmap(symmetric_face["rgb"], out.image, **PSE)
    # Exactly symmetric: the midline is the middle column and the mirror is read at whole pixels.
    assert anomaly_score(heat, symmetric_face["face"]) < 1e-3


def test_tilted_symmetric_face_gives_little_heat(mirror, symmetric_face, astronaut_aligned):
    # The same face rolled by 4° about the image centre: the mirror is no longer a pixel
    # flip, so only interpolation differs — tiny next to a real face's left–right differences.
    size = symmetric_face["rgb"].shape[1]
    matrix = cv2.getRotationMatrix2D(((size - 1) / 2.0, (size - 1) / 2.0), 4.0, 1.0)
    tilted = cv2.warpAffine(symmetric_face["rgb"], matrix, (size, size), borderMode=cv2.BORDER_REFLECT)
    landmarks = symmetric_face["landmarks"].copy()
    landmarks[:, :2] = landmarks[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    face = region_mask(landmarks, tilted.shape, "full_face")
    tilted_heat = anomaly_score(heatmap(tilted, mirror.normalize(tilted, landmarks).image, **PSE), face)
    real = astronaut_aligned
    real_heat = anomaly_score(
        heatmap(real["rgb"], mirror.normalize(real["rgb"], real["landmarks"]).image, **PSE),
        region_mask(real["landmarks"], real["rgb"].shape, "full_face"),
    )
    assert tilted_heat < 0.05  # (grey levels)²; the astronaut's own left–right heat is ~1200
    assert tilted_heat < 1e-4 * real_heat


def test_one_sided_defect_shows_on_both_sides(mirror, symmetric_face):
    painted, disc, mirrored_disc = _paint_disc(symmetric_face, radius=10, darkening=0.4)
    heat = heatmap(painted, mirror.normalize(painted, symmetric_face["landmarks"]).image, **PSE)
    elsewhere = symmetric_face["face"] & ~disc & ~mirrored_disc
    assert heat[elsewhere].mean() < 0.01
    assert heat[disc].mean() > 1000 and heat[mirrored_disc].mean() > 1000
    # The mirrored copy of the mark is the same size as the mark.
    assert heat[mirrored_disc].mean() == pytest.approx(heat[disc].mean(), rel=0.25)


def test_heat_grows_with_the_severity_of_the_defect(mirror, symmetric_face):
    scores = []
    for darkening in (0.05, 0.1, 0.2, 0.4):
        painted, _, _ = _paint_disc(symmetric_face, radius=10, darkening=darkening)
        heat = heatmap(painted, mirror.normalize(painted, symmetric_face["landmarks"]).image, **PSE)
        scores.append(anomaly_score(heat, symmetric_face["face"]))
    assert scores == sorted(scores) and scores[0] > 0
    # PSE is quadratic in the contrast: 8× the darkening gives far more than 8× the heat.
    assert scores[-1] > 20 * scores[0]


def test_mirror_normalizer_is_mirror_equivariant(mirror, astronaut_aligned):
    rgb, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    out = mirror.normalize(rgb, landmarks).image
    flipped = mirror.normalize(np.ascontiguousarray(rgb[:, ::-1]), mirrored_landmarks(landmarks, rgb.shape[1])).image
    face = region_mask(landmarks, rgb.shape, "full_face")
    difference = np.abs(out.astype(np.float64) - flipped[:, ::-1])
    # Inside the face only edge rasterisation and the few asymmetric mesh diagonals differ.
    assert difference[face].mean() < 0.05
    assert np.percentile(difference[face], 99) <= 1
