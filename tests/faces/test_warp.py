"""Piecewise-affine warps: identity, local moves, untouched background, no holes or seams."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facial_anomaly.faces.mesh import triangulation
from facial_anomaly.faces.warp import (
    TriangleRaster,
    anchored_points,
    anchored_triangulation,
    piecewise_affine_warp,
    warp_landmarks,
)

RING_SCALE = 1.3
BORDER_STEP_PX = 64.0
NOSE_TIP = 1


@pytest.fixture(scope="module")
def face(astronaut_aligned):
    points = astronaut_aligned["landmarks"]
    anchors = anchored_points(
        points, astronaut_aligned["rgb"].shape, ring_scale=RING_SCALE, border_step_px=BORDER_STEP_PX
    )
    return {
        "rgb": astronaut_aligned["rgb"],
        "points": points,
        "anchors": anchors,
        "triangles": anchored_triangulation(points, anchors),
    }


def _movable_region(face, *configurations) -> np.ndarray:
    """True on the triangles with a landmark corner (anchors never move), in any configuration."""
    n = len(face["points"])
    movable = face["triangles"][(face["triangles"] < n).any(axis=1)]
    mask = np.zeros(face["rgb"].shape[:2], np.uint8)
    for points in configurations:
        every = np.vstack([points[:, :2], face["anchors"]])
        for triangle in every[movable]:
            cv2.fillConvexPoly(mask, np.round(triangle).astype(np.int32), 1)
    return cv2.dilate(mask, np.ones((3, 3), np.uint8)).astype(bool)


def test_identity_warp_is_exact(face):
    out = piecewise_affine_warp(
        face["rgb"], face["points"], face["points"], face["triangles"], border_points=face["anchors"]
    )
    np.testing.assert_array_equal(out, face["rgb"])


def test_full_raster_identity_is_exact(face):
    points = np.vstack([face["points"][:, :2], face["anchors"]])
    raster = TriangleRaster.build(points, face["triangles"], face["rgb"].shape)
    assert raster.coverage().all()  # anchored triangles tile the whole image
    np.testing.assert_array_equal(raster.warp(face["rgb"], points), face["rgb"])


def test_moving_one_point_moves_content_locally(face):
    points = face["points"]
    target = points.copy()
    target[NOSE_TIP, :2] += (6.0, 3.0)
    # The peak of a small bright blob at the nose tip must end up on the moved point.
    height, width = face["rgb"].shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    blob = np.exp(-((xs - points[NOSE_TIP, 0]) ** 2 + (ys - points[NOSE_TIP, 1]) ** 2) / (2 * 1.5**2))
    out = piecewise_affine_warp(blob, points, target, face["triangles"], border_points=face["anchors"])
    peak_y, peak_x = np.unravel_index(np.argmax(out), out.shape)
    np.testing.assert_allclose([peak_x, peak_y], target[NOSE_TIP, :2], atol=1.0)
    changed = (
        np.abs(
            piecewise_affine_warp(face["rgb"], points, target, face["triangles"], border_points=face["anchors"]).astype(
                int
            )
            - face["rgb"]
        ).max(axis=2)
        > 0
    )
    cy, cx = np.nonzero(changed)
    assert changed.any()
    # Only the triangles around the nose tip change.
    assert np.hypot(cx - points[NOSE_TIP, 0], cy - points[NOSE_TIP, 1]).max() < 40


def test_background_outside_the_ring_is_untouched_exactly(face):
    rng = np.random.default_rng(0)
    target = face["points"].copy()
    target[:, :2] += rng.normal(0.0, 2.0, size=(len(target), 2))
    out = piecewise_affine_warp(face["rgb"], face["points"], target, face["triangles"], border_points=face["anchors"])
    outside = ~_movable_region(face, face["points"], target)
    assert outside.mean() > 0.3
    np.testing.assert_array_equal(out[outside], face["rgb"][outside])


def test_no_holes_constant_image_stays_constant(face):
    rng = np.random.default_rng(1)
    target = face["points"].copy()
    target[:, :2] += rng.normal(0.0, 3.0, size=(len(target), 2))
    constant = np.full_like(face["rgb"], 137)
    out = piecewise_affine_warp(constant, face["points"], target, face["triangles"], border_points=face["anchors"])
    assert np.unique(out).tolist() == [137]


def test_no_seams_global_affine_matches_warp_affine(face):
    """With every vertex moved by one affine map, the piecewise warp is that map."""
    height, width = face["rgb"].shape[:2]
    points = np.vstack([face["points"][:, :2], face["anchors"]])
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 3.0, 1.02)  # target → source
    source = points @ matrix[:, :2].T + matrix[:, 2]
    ramp = np.tile(np.linspace(0, 1, width, dtype=np.float32), (height, 1))
    ramp = ramp + ramp.T
    out = piecewise_affine_warp(ramp, source, points, face["triangles"])
    expected = cv2.warpAffine(
        ramp, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT
    )
    inner = (slice(8, height - 8), slice(8, width - 8))
    assert np.abs(out[inner] - expected[inner]).max() < 1e-3


def test_warp_landmarks_follow_the_warp(face):
    points, triangles, anchors = face["points"], face["triangles"], face["anchors"]
    target = points.copy()
    target[NOSE_TIP, :2] += (5.0, -2.0)
    target[468:] = points[468:]  # iris points are not vertices: the warp decides where they go
    moved = warp_landmarks(points, points, target, triangles, border_points=anchors)
    np.testing.assert_allclose(moved[:468], target[:468], atol=1e-6)
    np.testing.assert_allclose(moved[:, 2], points[:, 2])
    np.testing.assert_allclose(
        warp_landmarks(points, points, points, triangles, border_points=anchors), points, atol=1e-9
    )


def test_mesh_only_warp_leaves_pixels_outside_the_face_alone(face):
    rgb, points = face["rgb"], face["points"]
    target = points.copy()
    target[:468, :2] += 1.5
    out = piecewise_affine_warp(rgb, points, target, triangulation())
    face_mask = np.zeros(rgb.shape[:2], np.uint8)
    hull = cv2.convexHull(np.vstack([points[:468, :2], target[:468, :2]]).astype(np.int32))
    cv2.fillConvexPoly(face_mask, hull, 1)
    outside = cv2.dilate(face_mask, np.ones((5, 5), np.uint8)) == 0
    np.testing.assert_array_equal(out[outside], rgb[outside])


def test_bad_inputs_raise(face):
    with pytest.raises(ValueError, match="ring_scale"):
        anchored_points(face["points"], face["rgb"].shape, ring_scale=0.9, border_step_px=BORDER_STEP_PX)
    with pytest.raises(ValueError, match="differ in shape"):
        piecewise_affine_warp(face["rgb"], face["points"], face["points"][:10], face["triangles"])


def test_self_intersecting_outline_falls_back_to_a_full_tiling(face):
    from facial_anomaly.faces.mesh import face_outline

    points = face["points"].copy()
    outline = face_outline()
    # Swap two far-apart outline points: the outline polygon now crosses itself.
    points[[outline[2], outline[20]]] = points[[outline[20], outline[2]]]
    triangles = anchored_triangulation(points, face["anchors"])
    every = np.vstack([points[:, :2], face["anchors"]])
    assert TriangleRaster.build(every, triangles, face["rgb"].shape).coverage().all()
    constant = np.full_like(face["rgb"], 50)
    out = piecewise_affine_warp(constant, points, face["points"], triangles, border_points=face["anchors"])
    assert np.unique(out).tolist() == [50]
