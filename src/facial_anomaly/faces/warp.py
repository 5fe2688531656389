"""Piecewise-affine image warps over a triangulation (the warp of Cootes et al.'s AAMs).

Each triangle of the target configuration is mapped back to the same triangle of the
source configuration by an affine transform; content at ``source_points`` moves to
``target_points``. The warp is computed as a dense backward map (every target pixel gets
source coordinates from the barycentric coordinates of the target triangle it lies in)
and sampled with ``cv2.remap``. Adjacent triangles share their edge, so their affine
maps agree on it: no seams, and since rasterisation of triangles sharing an edge covers
every pixel on it, no holes.

Pixels outside all triangles, and pixels inside triangles whose three corners do not
move, are copied untouched. To move the face while the background stays exactly put,
anchor it: :func:`anchored_points` gives fixed points on a ring around the face and on
the image border, :func:`anchored_triangulation` joins them to the FaceMesh triangles,
and the warp functions take them as ``border_points`` (mapped to themselves).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .mesh import NUM_MESH_POINTS, face_outline, triangulation

# Sub-pixel precision of triangle vertices for cv2.fillConvexPoly (fixed-point bits).
_RASTER_SHIFT_BITS = 8
# Corner displacement (pixels) below which a triangle counts as not moving.
_STILL_EPSILON_PX = 1e-6
# Twice the area (px²) below which a triangle is treated as degenerate (no inverse).
_DEGENERATE_AREA_PX2 = 1e-6
# Relative area mismatch up to which the triangles outside the face count as tiling the
# band between the face outline and the anchors (float rounding only).
_TILING_TOLERANCE = 1e-6
# Barycentric weight down to which a point counts as inside a triangle (rounding).
_INSIDE_TOLERANCE = 1e-9


def _as_xy(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] < 2:
        raise ValueError(f"points must be (N, 2) or (N, 3), got {points.shape}")
    return points[:, :2]


def _with_border(points: np.ndarray, border_points: np.ndarray | None) -> np.ndarray:
    xy = _as_xy(points)
    return xy if border_points is None else np.vstack([xy, _as_xy(border_points)])


def _barycentric_matrices(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Per triangle, the 3×3 matrix taking ``(x, y, 1)`` to barycentric coordinates: the
    inverse of ``[[x0, x1, x2], [y0, y1, y2], [1, 1, 1]]`` written out (adjugate over
    determinant). Degenerate triangles get the pseudo-inverse (a least-squares answer)."""
    corners = points[triangles]  # (T, 3, 2)
    x0, x1, x2 = corners[:, 0, 0], corners[:, 1, 0], corners[:, 2, 0]
    y0, y1, y2 = corners[:, 0, 1], corners[:, 1, 1], corners[:, 2, 1]
    adjugate = np.stack(
        [
            np.stack([y1 - y2, x2 - x1, x1 * y2 - x2 * y1], axis=1),
            np.stack([y2 - y0, x0 - x2, x2 * y0 - x0 * y2], axis=1),
            np.stack([y0 - y1, x1 - x0, x0 * y1 - x1 * y0], axis=1),
        ],
        axis=1,
    )
    determinant = x0 * (y1 - y2) + x1 * (y2 - y0) + x2 * (y0 - y1)
    degenerate = np.abs(determinant) < _DEGENERATE_AREA_PX2
    matrices = adjugate / np.where(degenerate, 1.0, determinant)[:, None, None]
    if degenerate.any():
        homogeneous = np.concatenate(
            [corners[degenerate].transpose(0, 2, 1), np.ones((int(degenerate.sum()), 1, 3))], axis=1
        )
        matrices[degenerate] = np.linalg.pinv(homogeneous)
    return matrices


@dataclass(frozen=True)
class TriangleRaster:
    """Which triangle of a fixed (target) configuration covers each pixel; reusable for
    every warp onto that configuration (e.g. every face onto a model's mean shape).

    ``pixels`` are flat indices into an image of ``shape`` (a window at ``origin`` of the
    points' frame) covered by a triangle,
    ``owner`` the triangle covering each, ``barycentric`` the per-triangle matrices
    taking ``(x, y, 1)`` of the target configuration to barycentric coordinates.
    """

    shape: tuple[int, int]
    triangles: np.ndarray
    barycentric: np.ndarray
    pixels: np.ndarray
    owner: np.ndarray
    origin: tuple[int, int] = (0, 0)

    @classmethod
    def build(
        cls,
        target_points: np.ndarray,
        triangles: np.ndarray,
        shape: tuple[int, ...],
        *,
        origin: tuple[int, int] = (0, 0),
    ) -> "TriangleRaster":
        """Rasterise ``triangles`` placed at ``target_points`` (N, 2) on an image of ``shape``
        whose pixel (0, 0) is pixel ``origin`` = (x0, y0) of the frame the points are in
        (a window of a larger image)."""
        height, width = int(shape[0]), int(shape[1])
        points = _as_xy(target_points) - np.asarray(origin, dtype=np.float64)
        triangles = np.asarray(triangles, dtype=np.int64)
        labels = np.full((height, width), -1, dtype=np.int32)
        fixed = np.round(points[triangles] * (1 << _RASTER_SHIFT_BITS)).astype(np.int32)
        # Thin triangles first: their pixels then go to a proper neighbour where both cover them.
        for index in np.argsort(_triangle_areas(points, triangles), kind="stable"):
            cv2.fillConvexPoly(labels, fixed[index], int(index), lineType=cv2.LINE_8, shift=_RASTER_SHIFT_BITS)
        flat = labels.ravel()
        pixels = np.flatnonzero(flat >= 0)
        matrices = _barycentric_matrices(points, triangles)
        return cls((height, width), triangles, matrices, pixels, flat[pixels], (int(origin[0]), int(origin[1])))

    def source_maps(self, source_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``cv2.remap`` maps (float32, this raster's shape) sending each covered pixel to
        the same barycentric position among ``source_points``; uncovered pixels map to
        their own position in the frame (pixel + origin)."""
        height, width = self.shape
        source = _as_xy(source_points)
        # Per triangle, the affine map raster (x, y, 1) → source (x, y): (T, 2, 3).
        affine = np.einsum("tkd,tkj->tdj", source[self.triangles], self.barycentric).astype(np.float32)
        ys, xs = self.pixel_coordinates()
        map_y, map_x = np.indices((height, width), dtype=np.float32)
        map_x += self.origin[0]
        map_y += self.origin[1]
        for map_, row in ((map_x, affine[:, 0]), (map_y, affine[:, 1])):
            a, b, c = (np.take(np.ascontiguousarray(row[:, j]), self.owner) for j in range(3))
            map_.ravel()[self.pixels] = a * xs + b * ys + c
        return map_x, map_y

    def pixel_coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column (float32) of each covered pixel."""
        rows, cols = np.divmod(self.pixels, self.shape[1])
        return rows.astype(np.float32), cols.astype(np.float32)

    def coverage(self) -> np.ndarray:
        """Boolean H×W map of the pixels covered by a triangle."""
        covered = np.zeros(self.shape[0] * self.shape[1], dtype=bool)
        covered[self.pixels] = True
        return covered.reshape(self.shape)

    def warp(
        self, image: np.ndarray, source_points: np.ndarray, *, border_mode: int = cv2.BORDER_REFLECT
    ) -> np.ndarray:
        """Sample ``image`` (any size; ``source_points`` in its pixels) onto this raster's
        configuration and shape. Pixels outside the raster's triangles keep their own
        position, so when ``image`` has the raster's shape they are exact copies
        (remap samples integer positions exactly)."""
        map_x, map_y = self.source_maps(source_points)
        return cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=border_mode)


def piecewise_affine_warp(
    image: np.ndarray,
    source_points: np.ndarray,
    target_points: np.ndarray,
    triangles: np.ndarray,
    *,
    border_points: np.ndarray | None = None,
) -> np.ndarray:
    """Warp ``image`` so that its content at ``source_points`` moves to ``target_points``.

    Args:
        image: H×W (×C) image of any dtype cv2.remap accepts (uint8 RGB, float32 ...).
        source_points, target_points: (N, 2) or (N, 3) pixel coordinates (z is ignored).
        triangles: (T, 3) vertex indices into the points, with ``border_points``
            numbered after them (N, N+1, ...).
        border_points: optional (K, 2) fixed points (e.g. :func:`anchored_points`),
            appended to both configurations and mapped to themselves.

    Returns:
        The warped image, same shape and dtype. Only triangles that move are resampled;
        every other pixel is an exact copy of ``image``.
    """
    source = _with_border(source_points, border_points)
    target = _with_border(target_points, border_points)
    if source.shape != target.shape:
        raise ValueError(f"source and target points differ in shape: {source.shape} vs {target.shape}")
    triangles = np.asarray(triangles, dtype=np.int64)
    moving = triangles[np.abs(source[triangles] - target[triangles]).max(axis=(1, 2)) > _STILL_EPSILON_PX]
    out = image.copy()
    if len(moving) == 0:
        return out
    # Resample only the window the moving triangles cover (plus a pixel of rounding).
    height, width = image.shape[:2]
    corners = target[moving].reshape(-1, 2)
    x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int) - 1, 0, None)
    x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 2, (width, height))
    raster = TriangleRaster.build(target, moving, (y1 - y0, x1 - x0), origin=(x0, y0))
    out[y0:y1, x0:x1] = raster.warp(image, source)
    return out


def warp_landmarks(
    points: np.ndarray,
    source_points: np.ndarray,
    target_points: np.ndarray,
    triangles: np.ndarray,
    *,
    border_points: np.ndarray | None = None,
) -> np.ndarray:
    """Move arbitrary points (e.g. all 478 landmarks, iris included) with the same warp.

    Each point is expressed in barycentric coordinates of the source triangle that
    contains it (or, outside all triangles, is left where it is) and placed at the same
    coordinates in the target triangle. A z column is kept unchanged.
    """
    points = np.asarray(points, dtype=np.float64)
    source = _with_border(source_points, border_points)
    target = _with_border(target_points, border_points)
    triangles = np.asarray(triangles, dtype=np.int64)
    xy = _as_xy(points)
    homogeneous = np.hstack([xy, np.ones((len(xy), 1))])
    weights = np.einsum("tij,pj->pti", _barycentric_matrices(source, triangles), homogeneous)  # (P, T, 3)
    # The containing triangle has all weights ≥ 0; pick the one whose smallest weight is
    # largest (robust on shared edges and against rounding).
    worst = weights.min(axis=2)
    best = worst.argmax(axis=1)
    inside = worst[np.arange(len(xy)), best] >= -_INSIDE_TOLERANCE
    chosen = weights[np.arange(len(xy)), best]  # (P, 3)
    moved = np.einsum("pk,pkd->pd", chosen, target[triangles[best]])
    out = points.copy()
    out[inside, :2] = moved[inside]
    return out


def anchored_points(
    points: np.ndarray, shape: tuple[int, ...], *, ring_scale: float, border_step_px: float
) -> np.ndarray:
    """Fixed anchor points for warping a face while the background stays put.

    A ring of points around the face (the FaceMesh face outline scaled by ``ring_scale``
    about its centroid; points outside the image are dropped) and points along the image
    border every ``border_step_px`` (corners included).

    Args:
        points: the face's landmarks (478 or 468, ×2|3) in pixels of an image of ``shape``.
        shape: the image shape (H, W, ...).
        ring_scale: > 1; how far the ring lies outside the face outline. The band between
            outline and ring absorbs the movement of the outline.
        border_step_px: spacing of the anchors along the image border.

    Returns:
        (K, 2) float64 anchors, to be used as ``border_points``.
    """
    if ring_scale <= 1.0:
        raise ValueError(f"ring_scale must be > 1 (outside the face), got {ring_scale}")
    height, width = int(shape[0]), int(shape[1])
    outline = _as_xy(points)[face_outline()]
    centre = outline.mean(axis=0)
    ring = centre + ring_scale * (outline - centre)
    margin = border_step_px / 2.0
    inside = (
        (ring[:, 0] > margin)
        & (ring[:, 0] < width - 1 - margin)
        & (ring[:, 1] > margin)
        & (ring[:, 1] < height - 1 - margin)
    )
    xs = np.linspace(0, width - 1, max(2, int(np.ceil((width - 1) / border_step_px)) + 1))
    ys = np.linspace(0, height - 1, max(2, int(np.ceil((height - 1) / border_step_px)) + 1))[1:-1]
    border = np.vstack(
        [
            np.column_stack([xs, np.zeros_like(xs)]),
            np.column_stack([xs, np.full_like(xs, height - 1)]),
            np.column_stack([np.zeros_like(ys), ys]),
            np.column_stack([np.full_like(ys, width - 1), ys]),
        ]
    )
    return np.vstack([ring[inside], border])


def anchored_triangulation(points: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Triangles covering the whole image: the FaceMesh :func:`~.mesh.triangulation` inside
    the face and a Delaunay triangulation of the face outline and the ``anchors`` outside it.

    Vertex indices refer to ``points`` (478 or 468 landmarks) followed by the anchors,
    as expected by the warp functions with ``border_points=anchors``. Compute it on one
    configuration (e.g. the source) and use it for both.

    The 2-D projection of the mesh may fold slightly where the head is turned (the far
    side of the nose, a cheek); the warp tolerates that. If the outside part does not
    tile the space between the outline and the anchors (a self-intersecting outline, an
    anchor inside the face), the whole image falls back to a Delaunay triangulation of
    the 468 mesh points and the anchors, which always tiles it.
    """
    from scipy.spatial import Delaunay

    xy = _as_xy(points)
    anchors = _as_xy(anchors)
    outline = face_outline()
    outline_polygon = xy[outline].astype(np.float32)
    outer_points = np.vstack([xy[outline], anchors])
    delaunay = Delaunay(outer_points).simplices
    centroids = outer_points[delaunay].mean(axis=1)
    contour = outline_polygon.reshape(-1, 1, 2)
    outside = np.array([cv2.pointPolygonTest(contour, (float(x), float(y)), False) < 0 for x, y in centroids])
    exterior = delaunay[outside]
    covered = _triangle_areas(outer_points, exterior).sum() + abs(cv2.contourArea(outline_polygon))
    if abs(covered - _hull_area(outer_points)) <= _TILING_TOLERANCE * covered:
        index_map = np.concatenate([outline, len(xy) + np.arange(len(anchors))])
        return np.vstack([triangulation(), index_map[exterior]])
    mesh_points = np.arange(NUM_MESH_POINTS)
    index_map = np.concatenate([mesh_points, len(xy) + np.arange(len(anchors))])
    return index_map[Delaunay(np.vstack([xy[mesh_points], anchors])).simplices]


def _triangle_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    corners = points[triangles]
    return 0.5 * np.abs(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]))


def _hull_area(points: np.ndarray) -> float:
    from scipy.spatial import ConvexHull

    return float(ConvexHull(points).volume)
