"""Smooth landmark-driven deformations of an aligned face, applied with the shared
piecewise-affine warp of :mod:`facial_anomaly.faces.warp`.

A generator says where a few landmarks must go (the *constrained* vertices, e.g. the
upper-lip contour) and which nearby mesh vertices may follow (the *free* vertices);
every other vertex — the face outline, the named still regions, anything farther
away — keeps its place. The free vertices get the harmonic interpolation of the
constrained displacements over the FaceMesh graph (each free vertex at the weighted
mean of its neighbours, weights 1/edge length): a membrane that stretches from the
edited landmarks to the still face.

Interpolated linearly inside the mesh triangles, that field has kinks at the vertices
(visible as straight, angular lip contours), so :class:`FieldBuilder` smooths it with a
small Gaussian, and :func:`warp_with_field` applies it on a fine grid. The smoothing
lets the field reach a few pixels past the moving triangles, but never the face
outline, so the background never moves; every pixel outside the returned edited mask
is an exact copy of the input, and adjacent grid triangles share edges, so there are
no seams or holes. :func:`deform_face` puts it together, with a correction for what
the smoothing takes from the landmarks and a guard against folds.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import cv2
import numpy as np
from scipy import sparse
from scipy.ndimage import map_coordinates
from scipy.sparse.linalg import spsolve

from facial_anomaly.faces.mesh import NUM_MESH_POINTS, face_outline, region_indices, triangulation
from facial_anomaly.faces.warp import TriangleRaster, piecewise_affine_warp, warp_landmarks

from .anatomy import erode, face_mask

# Displacements below this many pixels cannot be seen; dropping them makes the warp end
# exactly instead of fading out forever under the Gaussian smoothing.
_NEGLIGIBLE_MOVE_PX = 0.01


class DeformationFolds(ValueError):
    """The requested landmark moves would turn a triangle inside out (the image would fold)."""


@functools.lru_cache(maxsize=1)
def _mesh_edges() -> np.ndarray:
    """Undirected edges ``(a, b)`` of :func:`triangulation` (the filled openings included)."""
    triangles = triangulation()
    edges = np.vstack([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [0, 2]]])
    return np.unique(np.sort(edges, axis=1), axis=0)


def still_vertices(*region_names: str) -> np.ndarray:
    """Mesh vertices that must never move: the face outline (so the background stays put)
    plus the named FaceMesh regions (:func:`facial_anomaly.faces.mesh.region_indices`)."""
    parts = [face_outline()] + [region_indices(name) for name in region_names]
    indices = np.unique(np.concatenate(parts))
    return indices[indices < NUM_MESH_POINTS]


def vertices_near(points: np.ndarray, centres: np.ndarray, radius_px: float) -> np.ndarray:
    """Indices of mesh vertices within ``radius_px`` of any of the ``centres`` (K, 2)."""
    xy = np.asarray(points, dtype=np.float64)[:NUM_MESH_POINTS, :2]
    centres = np.atleast_2d(np.asarray(centres, dtype=np.float64))[:, :2]
    distance = np.linalg.norm(xy[:, None, :] - centres[None, :, :], axis=2).min(axis=1)
    return np.flatnonzero(distance <= radius_px)


def harmonic_displacement(
    points: np.ndarray,
    constrained: np.ndarray,
    constrained_moves: np.ndarray,
    free: np.ndarray,
) -> np.ndarray:
    """Displacements (468, 2) of all mesh vertices.

    Args:
        points: landmarks (478 or 468, 2|3) in pixels.
        constrained: vertex indices with a prescribed move.
        constrained_moves: (len(constrained), 2) their moves in pixels.
        free: vertex indices that follow by harmonic interpolation; indices that are
            also constrained are treated as constrained. Every other vertex stays.
    """
    xy = np.asarray(points, dtype=np.float64)[:NUM_MESH_POINTS, :2]
    constrained = np.asarray(constrained, dtype=np.int64)
    moves = np.zeros((NUM_MESH_POINTS, 2))
    moves[constrained] = np.asarray(constrained_moves, dtype=np.float64).reshape(len(constrained), 2)
    free = np.setdiff1d(np.asarray(free, dtype=np.int64), constrained)
    if len(free) == 0:
        return moves
    edges = _mesh_edges()
    lengths = np.linalg.norm(xy[edges[:, 0]] - xy[edges[:, 1]], axis=1)
    weights = 1.0 / np.maximum(lengths, 1e-3)
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    adjacency = sparse.csr_matrix((np.concatenate([weights, weights]), (rows, cols)), shape=(NUM_MESH_POINTS,) * 2)
    laplacian = sparse.diags(np.asarray(adjacency.sum(axis=1)).ravel()) - adjacency
    # Dirichlet problem: free vertices solve L_ff d_f = -L_fk d_k, where k = every other
    # vertex (constrained moves, zero for the still ones).
    known = np.setdiff1d(np.arange(NUM_MESH_POINTS), free)
    lhs = laplacian[free][:, free].tocsc()
    rhs = -(laplacian[free][:, known] @ moves[known])
    moves[free] = np.column_stack([spsolve(lhs, rhs[:, axis]) for axis in range(2)])
    return moves


def smooth_bump(u: np.ndarray) -> np.ndarray:
    """Wendland's C² bump ``(1 − u)⁴ (4u + 1)`` for ``u = |distance| / radius`` < 1, else 0.

    1 at the centre, flat there and at the rim, so moves built from it have no kink and
    end exactly (the warp then leaves everything beyond the radius untouched).
    """
    u = np.clip(np.abs(np.asarray(u, dtype=np.float64)), 0.0, 1.0)
    return (1.0 - u) ** 4 * (4.0 * u + 1.0)


def _signed_areas(xy: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    corners = xy[triangles]
    return 0.5 * np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])


def _grid(box: tuple[int, int, int, int], step: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer grid points covering ``box = (top, left, bottom, right)`` (edges included)
    and its triangles (two per cell)."""
    top, left, bottom, right = box
    ys = np.unique(np.append(np.arange(top, bottom, step), bottom))
    xs = np.unique(np.append(np.arange(left, right, step), right))
    gy, gx = np.meshgrid(ys, xs, indexing="ij")
    points = np.column_stack([gx.ravel(), gy.ravel()]).astype(np.float64)
    index = np.arange(len(points)).reshape(len(ys), len(xs))
    a, b = index[:-1, :-1].ravel(), index[:-1, 1:].ravel()
    c, d = index[1:, :-1].ravel(), index[1:, 1:].ravel()
    return points, np.vstack([np.column_stack([a, b, d]), np.column_stack([a, d, c])])


class FieldBuilder:
    """Dense forward displacement fields (H×W×2 float32, pixels) of mesh-vertex moves on
    one face: built for repeated calls with different moves (the rasterised triangles
    and the face weight are kept).

    The mesh interpolates the moves linearly inside its triangles, which leaves kinks at
    the vertices (angular lip contours once warped); a Gaussian of ``smoothing_px``
    removes them. The result is confined to the face (it fades to exactly zero before
    the outline, so the background never moves) and anything below 1/100 px is set to
    exactly zero, so the warp ends.
    """

    def __init__(self, landmarks: np.ndarray, shape, *, smoothing_px: float):
        self.landmarks = np.asarray(landmarks, dtype=np.float64)
        self.shape = tuple(shape[:2])
        self.smoothing_px = float(smoothing_px)
        self._raster_key = None
        self._raster = None
        self._inside = None

    def _inside_weight(self) -> np.ndarray:
        if self._inside is None:
            # OpenCV truncates the Gaussian at 4 sigma: eroding by more keeps the outline at 0.
            inside = erode(face_mask(self.landmarks, self.shape), 4 * self.smoothing_px + 1).astype(np.float32)
            self._inside = cv2.GaussianBlur(inside, (0, 0), self.smoothing_px)
        return self._inside

    def __call__(self, moves: np.ndarray) -> np.ndarray:
        source = self.landmarks[:NUM_MESH_POINTS, :2]
        triangles = triangulation()
        moving = np.any(moves[triangles] != 0.0, axis=(1, 2))
        field = np.zeros((*self.shape, 2), dtype=np.float32)
        if not moving.any():
            return field
        if self._raster_key != moving.tobytes():
            self._raster_key, self._raster = (
                moving.tobytes(),
                TriangleRaster.build(source, triangles[moving], self.shape),
            )
        # Each pixel of a moving triangle → where the mesh sends it; the work is done on
        # the box the smoothing can reach.
        pixels = self._raster.pixels
        reach = int(np.ceil(4 * self.smoothing_px)) + 1
        rows, cols = np.divmod(pixels, self.shape[1])
        top, bottom = max(0, rows.min() - reach), min(self.shape[0], rows.max() + reach + 1)
        left, right = max(0, cols.min() - reach), min(self.shape[1], cols.max() + reach + 1)
        map_x, map_y = self._raster.source_maps(source + moves)
        box = (slice(top, bottom), slice(left, right))
        ys, xs = np.mgrid[box].astype(np.float32)
        local = np.dstack([map_x[box] - xs, map_y[box] - ys])
        if self.smoothing_px > 0:
            local = cv2.GaussianBlur(local, (0, 0), self.smoothing_px) * self._inside_weight()[box][..., None]
        local[np.abs(local).max(axis=2) < _NEGLIGIBLE_MOVE_PX] = 0.0
        field[box] = local
        return field


def displacement_field(landmarks: np.ndarray, moves: np.ndarray, shape, *, smoothing_px: float) -> np.ndarray:
    """The smoothed dense displacement of mesh-vertex ``moves`` (468, 2); see :class:`FieldBuilder`."""
    return FieldBuilder(landmarks, shape, smoothing_px=smoothing_px)(moves)


def _sample(field: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear samples (N, 2) of an H×W×2 field at (N, 2) pixel positions."""
    coordinates = [points[:, 1], points[:, 0]]
    return np.column_stack([map_coordinates(field[..., axis], coordinates, order=1) for axis in range(2)])


def warp_with_field(
    face: np.ndarray, landmarks: np.ndarray, field: np.ndarray, *, grid_step_px: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Warp a face by a forward displacement field (:func:`displacement_field`), applied
    with :func:`~facial_anomaly.faces.warp.piecewise_affine_warp` on a grid of
    ``grid_step_px`` covering the field's support.

    Returns:
        ``(image, new_landmarks, edited_mask)``: the warped face, the landmarks moved by
        the same warp (z kept), and the pixels resampled (all others are exact copies).

    Raises:
        DeformationFolds: when a grid triangle would flip (the image would fold).
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    shape = face.shape[:2]
    support = np.abs(field).max(axis=2) > 0
    if not support.any():
        return face.copy(), landmarks.copy(), np.zeros(shape, dtype=bool)
    step = max(1, int(round(grid_step_px)))
    ys, xs = np.flatnonzero(support.any(axis=1)), np.flatnonzero(support.any(axis=0))
    # The grid's border lies outside the support, so its edge cells do not move.
    box = (
        max(0, ys[0] - step),
        max(0, xs[0] - step),
        min(shape[0] - 1, ys[-1] + step),
        min(shape[1] - 1, xs[-1] + step),
    )
    grid_source, grid_triangles = _grid(box, step)
    grid_moves = field[grid_source[:, 1].astype(int), grid_source[:, 0].astype(int)]
    grid_target = grid_source + grid_moves
    grid_moving = np.any(grid_moves[grid_triangles] != 0.0, axis=(1, 2))
    flipped = np.sign(_signed_areas(grid_source, grid_triangles[grid_moving])) != np.sign(
        _signed_areas(grid_target, grid_triangles[grid_moving])
    )
    if flipped.any():
        raise DeformationFolds(
            f"the deformation folds the image ({int(flipped.sum())} grid triangles flip); "
            "reduce the magnitude or let the move fade over a larger radius"
        )
    image = piecewise_affine_warp(face, grid_source, grid_target, grid_triangles)
    edited = TriangleRaster.build(grid_target, grid_triangles[grid_moving], shape).coverage()
    # Only points in moving cells move (the others are left in place by warp_landmarks).
    new_landmarks = landmarks.copy()
    top, left, bottom, right = box
    near = (
        (landmarks[:, 0] >= left) & (landmarks[:, 0] <= right) & (landmarks[:, 1] >= top) & (landmarks[:, 1] <= bottom)
    )
    new_landmarks[near] = warp_landmarks(landmarks[near], grid_source, grid_target, grid_triangles[grid_moving])
    return image, new_landmarks, edited


class WarpedFace(NamedTuple):
    """A deformed face: image, landmarks, the resampled pixels, the factor by which
    the compression guard of :func:`deform_face` scaled the requested moves (1 = none), and
    the forward displacement field that was applied (H×W×2, pixels)."""

    image: np.ndarray
    landmarks: np.ndarray
    edited_mask: np.ndarray
    move_scale: float
    field: np.ndarray | None = None


def _fitted_field(landmarks, constrained, wanted, free, shape, warp: dict, iod: float) -> np.ndarray:
    """The smoothed displacement field whose moves at the ``constrained`` landmarks are
    ``wanted``: smoothing takes some of a move away from its landmark, so the moves asked
    of the mesh are corrected ``correction_iterations`` times by what is still missing
    at the moving landmarks (a Richardson iteration); held landmarks are not corrected."""
    moving = np.any(wanted != 0.0, axis=1)
    points = np.asarray(landmarks, dtype=np.float64)[constrained, :2]
    build = FieldBuilder(landmarks, shape, smoothing_px=warp["smoothing_iod"] * iod)
    asked = wanted.copy()
    for iteration in range(int(warp["correction_iterations"]) + 1):
        field = build(harmonic_displacement(landmarks, constrained, asked, free))
        if iteration < warp["correction_iterations"]:
            asked[moving] += wanted[moving] - _sample(field, points)[moving]
    return field


def smallest_area_ratio(field: np.ndarray) -> float:
    """Smallest local area ratio of the map x → x + field (its Jacobian determinant):
    1 = no change, < 1 compressed, ≤ 0 folded."""
    d_dy_x, d_dx_x = np.gradient(field[..., 0])
    d_dy_y, d_dx_y = np.gradient(field[..., 1])
    return float(((1.0 + d_dx_x) * (1.0 + d_dy_y) - d_dx_y * d_dy_x).min())


def fitted_displacement(
    landmarks: np.ndarray,
    shape: tuple[int, ...],
    constrained: np.ndarray,
    constrained_moves: np.ndarray,
    free: np.ndarray,
    warp: dict,
    iod: float,
) -> tuple[np.ndarray, float]:
    """The smooth forward displacement field (H×W×2, pixels) of :func:`deform_face`, with
    its compression guard applied, and the factor the guard scaled the moves by (1 = none);
    the image itself is not warped (see :func:`deform_face` for the arguments)."""
    constrained = np.asarray(constrained, dtype=np.int64)
    wanted = np.asarray(constrained_moves, dtype=np.float64).reshape(len(constrained), 2)
    field = _fitted_field(landmarks, constrained, wanted, free, shape, warp, iod)
    compression = 1.0 - smallest_area_ratio(field)
    scale = 1.0
    if compression > 0:
        ratio = compression / (1.0 - warp["min_area_ratio"])
        scale = float((1.0 + ratio ** warp["knee_power"]) ** (-1.0 / warp["knee_power"]))
        if scale < 1.0 - 1e-3:  # a smaller change is not worth a second fit
            field = _fitted_field(landmarks, constrained, scale * wanted, free, shape, warp, iod)
    return field, scale


def deform_face(
    face: np.ndarray,
    landmarks: np.ndarray,
    constrained: np.ndarray,
    constrained_moves: np.ndarray,
    free: np.ndarray,
    warp: dict,
    iod: float,
) -> WarpedFace:
    """Warp a face so the ``constrained`` landmarks move by ``constrained_moves`` (pixels)
    and the ``free`` vertices follow (:func:`harmonic_displacement`), smoothly.

    Compression guard: skin squeezed between a moved landmark and a still one (a lip
    border raised towards a nose that stays) must not fold, nor shrink to a smear. When
    the smallest local area ratio ``1 − c`` of the warp falls low, all moves are scaled by
    ``(1 + (c / (1 − min_area_ratio))^p)^(−1/p)`` (``p = knee_power``): ≈ 1 while ``c`` is
    well below ``1 − min_area_ratio``, and the compression then approaches that limit
    without reaching it. The scaled compression grows with ``c``, so severities keep
    their order.

    ``warp`` is a family's ``warp`` block: ``smoothing_iod``, ``grid_step_iod`` (IOD,
    converted with ``iod`` pixels), ``correction_iterations``, ``min_area_ratio``,
    ``knee_power``.
    """
    field, scale = fitted_displacement(landmarks, face.shape, constrained, constrained_moves, free, warp, iod)
    image, new_landmarks, edited = warp_with_field(face, landmarks, field, grid_step_px=warp["grid_step_iod"] * iod)
    return WarpedFace(image, new_landmarks, edited, scale, field)
