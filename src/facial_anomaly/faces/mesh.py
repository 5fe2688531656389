"""Topology of the MediaPipe FaceMesh: triangles, boundary loops, left–right pairs, regions.

Everything here is derived from the mesh MediaPipe ships, never typed by hand:

* :func:`triangulation` — the faces of ``FACEMESH_TESSELATION`` (an edge list) recovered
  as its 3-cycles, plus the eye and mouth openings filled so that a piecewise-affine
  warp over the triangles covers the whole face without holes. The 468 mesh points are
  covered; the iris points 468–477 lie inside the eye triangles and are not vertices.
* :func:`mirror_pairs` — each landmark's left–right counterpart. The installed
  MediaPipe wheel does not bundle the canonical face model, so the pairs are measured
  once: FaceMesh runs on scikit-image's astronaut and on its horizontal mirror image;
  mirrored back, landmark ``i`` of the mirror image lands where landmark ``pair(i)``
  is on the original, and a Hungarian matching of the two point sets (with a symmetric
  cost, so the result is an involution) gives the pairs. Because both landmark sets
  come from the same photo, the head pose does not matter. The result is checked
  (involution, mesh edges map to mesh edges) and cached.

"Image-left" means the left side of the picture (the subject's right); MediaPipe's
``LEFT``/``RIGHT`` names are the subject's, so they are renamed here.
"""

from __future__ import annotations

import functools
import itertools
from collections import Counter, defaultdict

import numpy as np

from .landmarks import IMAGE_LEFT_EYE_CORNERS, IMAGE_RIGHT_EYE_CORNERS, NUM_LANDMARKS

NUM_MESH_POINTS = 468  # FaceMesh vertices; 468–477 are the iris points of refine_landmarks=True

# Inner-lip corners of the FaceMesh topology (fixed by the model): where the zig-zag
# triangulation of the mouth opening starts, so its triangles run across the opening.
MOUTH_INNER_CORNERS = (78, 308)
_HOLE_START_CORNERS = (IMAGE_LEFT_EYE_CORNERS[0], IMAGE_RIGHT_EYE_CORNERS[0], MOUTH_INNER_CORNERS[0])

# FaceMesh settings used only to measure the mirror pairs on the bundled astronaut photo:
# single passes (mirror-consistent landmarks need the pairs themselves).
_PAIRING_LANDMARK_CONFIG = {"crop_margin": 0.5, "crop_max_side": 768, "min_confidence": 0.5, "mirror_consistent": False}
# A handful of quad diagonals in the tessellation are not mirror-symmetric (6 of 1322
# edges in mediapipe 0.10.21); more than this fraction of unmatched edges means the
# measured pairs are wrong.
_MAX_UNMATCHED_EDGE_FRACTION = 0.01


@functools.lru_cache(maxsize=1)
def mesh_edges() -> frozenset[tuple[int, int]]:
    """Undirected edges ``(a, b)``, ``a < b``, of ``FACEMESH_TESSELATION``."""
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    return frozenset(tuple(sorted(edge)) for edge in FACEMESH_TESSELATION)


def _edges_of(triangle) -> list[tuple[int, int]]:
    return [tuple(sorted(pair)) for pair in itertools.combinations(triangle, 2)]


@functools.lru_cache(maxsize=1)
def surface_triangles() -> np.ndarray:
    """The tessellation's triangles, ``(852, 3)`` int, without the eye/mouth openings.

    The edge list only implies its faces: every face is a 3-cycle, but a 3-cycle whose
    three edges each border two other 3-cycles encloses other faces (a separating
    triangle) and is not a face itself.
    """
    neighbours = defaultdict(set)
    for a, b in mesh_edges():
        neighbours[a].add(b)
        neighbours[b].add(a)
    cycles = sorted({tuple(sorted((a, b, c))) for a, b in mesh_edges() for c in neighbours[a] & neighbours[b]})
    uses = Counter(edge for cycle in cycles for edge in _edges_of(cycle))
    faces = [cycle for cycle in cycles if not all(uses[edge] > 2 for edge in _edges_of(cycle))]
    face_uses = Counter(edge for face in faces for edge in _edges_of(face))
    if max(face_uses.values()) > 2:
        raise RuntimeError("FACEMESH_TESSELATION is not a manifold surface after removing separating triangles")
    return np.array(faces, dtype=np.int64)


@functools.lru_cache(maxsize=1)
def boundary_loops() -> tuple[np.ndarray, ...]:
    """Closed boundary loops of the surface, longest first: the face outline, then the
    openings (mouth, eyes). Each is an ordered array of landmark indices."""
    uses = Counter(edge for face in surface_triangles() for edge in _edges_of(face))
    neighbours = defaultdict(list)
    for (a, b), count in sorted(uses.items()):
        if count == 1:
            neighbours[a].append(b)
            neighbours[b].append(a)
    loops, visited = [], set()
    for start in sorted(neighbours):
        if start in visited:
            continue
        loop, previous, current = [start], None, start
        visited.add(start)
        while True:
            following = [n for n in neighbours[current] if n != previous and n not in visited]
            if not following:
                break
            previous, current = current, following[0]
            loop.append(current)
            visited.add(current)
        loops.append(np.array(loop, dtype=np.int64))
    return tuple(sorted(loops, key=len, reverse=True))


def face_outline() -> np.ndarray:
    """Ordered landmark indices of the outer boundary of the mesh (the face oval)."""
    return boundary_loops()[0]


@functools.lru_cache(maxsize=1)
def triangulation() -> np.ndarray:
    """FaceMesh triangles covering the whole face, ``(T, 3)`` int: the tessellation plus
    the eye and mouth openings filled, so a piecewise warp leaves no hole there."""
    fills = [triangle for loop in boundary_loops()[1:] for triangle in _strip_fill(loop)]
    return np.vstack([surface_triangles(), np.array(fills, dtype=np.int64)])


def _strip_fill(loop: np.ndarray) -> list[tuple[int, int, int]]:
    """Triangulate a convex opening as a strip between its two sides: starting at a
    corner, alternately step along one side and the other, so each triangle spans the
    opening (eyelid to eyelid, lip to lip) instead of fanning out from one vertex."""
    starts = [i for i, index in enumerate(loop) if index in _HOLE_START_CORNERS]
    ring = [int(v) for v in (np.roll(loop, -starts[0]) if starts else loop)]
    low, high = 1, len(ring) - 1
    triangles = [(ring[0], ring[low], ring[high])]
    step_low = True
    while high - low > 1:
        if step_low:
            triangles.append((ring[low], ring[low + 1], ring[high]))
            low += 1
        else:
            triangles.append((ring[low], ring[high - 1], ring[high]))
            high -= 1
        step_low = not step_low
    return triangles


@functools.lru_cache(maxsize=1)
def _pairing_landmarks() -> tuple[np.ndarray, np.ndarray]:
    """FaceMesh landmarks of the astronaut and of its mirror image mapped back (x → W − x)."""
    from skimage import data

    from .landmarks import detect_landmarks

    rgb = data.astronaut()
    width = rgb.shape[1]
    original = detect_landmarks(rgb, None, _PAIRING_LANDMARK_CONFIG)
    mirrored = detect_landmarks(np.ascontiguousarray(rgb[:, ::-1]), None, _PAIRING_LANDMARK_CONFIG)
    mirrored[:, 0] = width - mirrored[:, 0]
    return original, mirrored


@functools.lru_cache(maxsize=1)
def mirror_pairs() -> np.ndarray:
    """``(478,)`` int: index of each landmark's left–right counterpart (midline points map
    to themselves). An involution: ``pairs[pairs] == arange(478)``. See the module docstring."""
    from scipy.optimize import linear_sum_assignment

    original, mirrored = _pairing_landmarks()
    # cost[i, j]: how far the mirror of landmark i is from landmark j; symmetrised so the
    # optimal matching pairs i with j exactly when it pairs j with i.
    cost = np.linalg.norm(mirrored[:, None, :2] - original[None, :, :2], axis=2)
    _, pairs = linear_sum_assignment(cost + cost.T)
    pairs = pairs.astype(np.int64)
    if not np.array_equal(pairs[pairs], np.arange(NUM_LANDMARKS)):
        raise RuntimeError("measured FaceMesh mirror pairs are not an involution")
    edges = mesh_edges()
    unmatched = sum(tuple(sorted((pairs[a], pairs[b]))) not in edges for a, b in edges)
    if unmatched > _MAX_UNMATCHED_EDGE_FRACTION * len(edges):
        raise RuntimeError(f"measured FaceMesh mirror pairs map {unmatched} mesh edges to non-edges")
    pairs.setflags(write=False)
    return pairs


def mirrored_landmarks(landmarks: np.ndarray, width: int) -> np.ndarray:
    """The landmarks of the horizontally mirrored image: reflected about the middle column
    (``x ↦ width − 1 − x``; pixel centres at integer coordinates) and relabelled, so row
    ``i`` is still landmark ``i``. An involution; z is unchanged.

    With ``np.ascontiguousarray(image[:, ::-1])`` it gives the mirror-image face for a
    step that is not mirror-equivariant by construction (a CNN), to score both and average.

    Args:
        landmarks: (478, 2|3) pixels of an image ``width`` pixels wide.
    """
    mirrored = np.asarray(landmarks, dtype=np.float64)[mirror_pairs()].copy()
    mirrored[:, 0] = width - 1 - mirrored[:, 0]
    return mirrored


def midline_indices() -> np.ndarray:
    """Landmarks on the facial midline (their own mirror counterpart), sorted."""
    pairs = mirror_pairs()
    return np.flatnonzero(pairs == np.arange(len(pairs)))


def _mediapipe_regions() -> dict[str, frozenset]:
    from mediapipe.python.solutions import face_mesh_connections as fmc

    # MediaPipe names sides from the subject's point of view: its LEFT is image-right.
    return {
        "face_oval": fmc.FACEMESH_FACE_OVAL,
        "lips": fmc.FACEMESH_LIPS,
        "nose": fmc.FACEMESH_NOSE,
        "image_left_eye": fmc.FACEMESH_RIGHT_EYE,
        "image_right_eye": fmc.FACEMESH_LEFT_EYE,
        "image_left_eyebrow": fmc.FACEMESH_RIGHT_EYEBROW,
        "image_right_eyebrow": fmc.FACEMESH_LEFT_EYEBROW,
        "image_left_iris": fmc.FACEMESH_RIGHT_IRIS,
        "image_right_iris": fmc.FACEMESH_LEFT_IRIS,
    }


def region_names() -> tuple[str, ...]:
    """Names accepted by :func:`region_indices`."""
    return tuple(sorted(_mediapipe_regions()))


@functools.cache
def region_indices(name: str) -> np.ndarray:
    """Sorted landmark indices of a named FaceMesh region (MediaPipe's contour sets).

    Raises:
        KeyError: naming the unknown region and the available ones.
    """
    regions = _mediapipe_regions()
    if name not in regions:
        raise KeyError(f"unknown face region {name!r}; available: {sorted(regions)}")
    indices = np.array(sorted({index for edge in regions[name] for index in edge}), dtype=np.int64)
    indices.setflags(write=False)
    return indices
