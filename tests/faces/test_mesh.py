"""FaceMesh topology: triangles, boundary loops, mirror pairs, regions."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import cv2
import numpy as np
import pytest

from facial_anomaly.faces import mesh
from facial_anomaly.faces.landmarks import IMAGE_LEFT_EYE_CORNERS, IMAGE_RIGHT_EYE_CORNERS, NUM_LANDMARKS


def _triangle_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    corners = points[triangles, :2]
    return 0.5 * np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])


def test_triangulation_is_a_valid_surface_over_the_468_mesh_points():
    triangles = mesh.triangulation()
    assert triangles.shape == (898, 3)
    assert triangles.dtype.kind == "i"
    assert set(np.unique(triangles)) == set(range(mesh.NUM_MESH_POINTS))
    assert all(len(set(t)) == 3 for t in triangles.tolist())
    assert len({tuple(sorted(t)) for t in triangles.tolist()}) == len(triangles)
    uses = Counter(tuple(sorted(e)) for t in triangles.tolist() for e in combinations(t, 2))
    assert max(uses.values()) == 2
    # The only edges with one triangle are the face outline: the openings are filled.
    boundary = {e for e, n in uses.items() if n == 1}
    outline = mesh.face_outline().tolist()
    assert boundary == {tuple(sorted(p)) for p in zip(outline, outline[1:] + outline[:1])}


def test_boundary_loops_are_outline_mouth_and_eyes():
    loops = mesh.boundary_loops()
    assert [len(loop) for loop in loops] == [36, 20, 16, 16]
    assert set(IMAGE_LEFT_EYE_CORNERS) <= set(loops[2].tolist()) | set(loops[3].tolist())
    assert set(mesh.MOUTH_INNER_CORNERS) <= set(loops[1].tolist())


def test_triangles_tile_the_face_of_the_astronaut(astronaut_aligned):
    points = astronaut_aligned["landmarks"]
    areas = _triangle_areas(points, mesh.triangulation())
    outline = points[mesh.face_outline(), :2].astype(np.float32)
    # No overlaps and no gaps: the unsigned areas add up to the outline's area.
    assert np.abs(areas).sum() == pytest.approx(cv2.contourArea(outline), rel=0.02)


def test_mirror_pairs_is_an_involution_with_known_pairs():
    pairs = mesh.mirror_pairs()
    assert pairs.shape == (NUM_LANDMARKS,)
    np.testing.assert_array_equal(pairs[pairs], np.arange(NUM_LANDMARKS))
    # Eye corners and irises swap sides; nose tip (1) and chin (152) are on the midline.
    assert pairs[IMAGE_LEFT_EYE_CORNERS[0]] == IMAGE_RIGHT_EYE_CORNERS[1]
    assert pairs[IMAGE_LEFT_EYE_CORNERS[1]] == IMAGE_RIGHT_EYE_CORNERS[0]
    assert pairs[468] == 473
    assert {1, 152} <= set(mesh.midline_indices().tolist())
    assert 10 <= len(mesh.midline_indices()) <= 40
    assert (len(pairs) - len(mesh.midline_indices())) % 2 == 0


def test_mirror_pairs_map_mesh_edges_to_mesh_edges():
    pairs = mesh.mirror_pairs()
    edges = mesh.mesh_edges()
    mapped = sum(tuple(sorted((pairs[a], pairs[b]))) in edges for a, b in edges)
    assert mapped >= 0.99 * len(edges)


def test_symmetric_points_are_mirror_images_on_the_astronaut(astronaut_aligned):
    points = astronaut_aligned["landmarks"][:, :2]
    pairs = mesh.mirror_pairs()
    midline_x = np.median(points[mesh.midline_indices(), 0])
    mirrored = points[pairs].copy()
    mirrored[:, 0] = 2 * midline_x - mirrored[:, 0]
    error = np.linalg.norm(points - mirrored, axis=1)
    # Eye distance is 140 px in the aligned crop; the astronaut is slightly turned.
    assert np.median(error) < 6.0
    # A wrong pairing would put points on the other side (errors ≫ 20 px).
    assert np.percentile(error, 95) < 20.0


def test_region_indices():
    lips = mesh.region_indices("lips")
    assert {61, 291, 0, 17} <= set(lips.tolist())
    assert set(mesh.region_indices("image_left_eye").tolist()) >= set(IMAGE_LEFT_EYE_CORNERS)
    assert "nose" in mesh.region_names()
    with pytest.raises(KeyError, match="available"):
        mesh.region_indices("ear")
