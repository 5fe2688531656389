"""Mirror normalizer: each side of the face compared with the other side of the same face.

The "normalized" face is the face's own mirror image — reflected about the fitted
facial midline (:func:`~facial_anomaly.normalizers.geometry.fit_midline`, the line in
the picture through the FaceMesh midline landmarks) — warped piecewise-affinely over
the FaceMesh triangulation onto the face's own landmark configuration: the pixel at
landmark ``i`` of the result comes from landmark ``pair(i)`` of the face
(:func:`~facial_anomaly.faces.mesh.mirror_pairs`), and every triangle of the mesh is
filled from its mirror partner. A difference map between the face and this image is a
map of left–right differences in the face's own frame: a one-sided mark (a scar, an
acne lesion, a cleft) appears at its place and at the mirrored place, while anything
both sides share (skin tone, lighting that is symmetric, identity) cancels. No model is
fitted and nothing is learned from other people.

The idea of comparing a face with its own mirror image for facial asymmetry goes back to
the chimeric-face and mirror-difference methods of anthropometry; for anomaly maps it
is the self-comparison used with deep features by Hayajneh et al. (2025).

Implementation: one resampling. For a target pixel in mesh triangle ``t`` (corners at
``L[t]``) the source position is the same barycentric position in the triangle
``L[pairs[t]]``; a reflection is affine, so this equals reflecting the image and then
warping the reflected landmarks onto ``L``, without interpolating twice. Outside the
face, anchors (a ring around the face outline and points on the image border, as in
:class:`~facial_anomaly.normalizers.geometry.AnchoredWarp`) are mapped to their
reflections about the midline, so the surroundings are the plain mirror image and the
warp is continuous across the face outline.

Equivariance: for the mirrored face (``x ↦ W − 1 − x``) with the mirrored, relabelled
landmarks, the fitted midline is mirrored, every triangle maps to its mirror partner,
and the result is the mirror image of this one (up to the rasterisation of triangle
edges and the handful of quad diagonals of the FaceMesh tessellation that are not
mirror-symmetric), so scores do not depend on which way the photo faces.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from ..config import Config
from ..faces.mesh import mirror_pairs
from ..faces.warp import TriangleRaster, anchored_points, anchored_triangulation
from .base import NormalizedFace, Normalizer, register, validate_face
from .geometry import fit_midline


class MirrorConfig(Config):
    """Settings of the ``mirror`` normalizer (the ``normalize.normalizers.mirror`` block)."""

    ring_scale: float = Field(
        1.35, gt=1.0, description="ring of anchors: the face outline scaled by this about its centre (> 1)"
    )
    border_step_px: float = Field(64.0, gt=0.0, description="spacing of the anchors along the image border (px)")


@register
class MirrorNormalizer(Normalizer):
    """See the module docstring.

    Args:
        ring_scale, border_step_px: the anchors outside the face (:class:`MirrorConfig`).
    """

    name = "mirror"

    def __init__(self, *, ring_scale: float = 1.35, border_step_px: float = 64.0):
        self.config = MirrorConfig(ring_scale=ring_scale, border_step_px=border_step_px)

    def source_maps(self, landmarks: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """``cv2.remap`` maps (two H×W float32 arrays, face pixels) giving, for every pixel
        of the result, where in the face it is read: the mirror-partner position."""
        landmarks = np.asarray(landmarks, dtype=np.float64)[:, :2]
        midline = fit_midline(landmarks)
        anchors = anchored_points(
            landmarks, shape, ring_scale=self.config.ring_scale, border_step_px=self.config.border_step_px
        )
        triangles = anchored_triangulation(landmarks, anchors)
        target = np.vstack([landmarks, anchors])
        # Inside the face each landmark reads from its counterpart; anchors read from their
        # reflection about the midline (the plain mirror image around the face).
        source = np.vstack([landmarks[mirror_pairs()], midline.reflect(anchors)])
        raster = TriangleRaster.build(target, triangles, shape)
        return raster.source_maps(source)

    def normalize(self, face: np.ndarray, landmarks: np.ndarray, mask: np.ndarray | None = None) -> NormalizedFace:
        """The face's mirror image on its own landmarks (H×W×3 uint8, same size).

        ``mask`` is ignored: the comparison is with the other side, which is observed.
        """
        landmarks = validate_face(face, landmarks, mask)
        map_x, map_y = self.source_maps(landmarks, face.shape)
        image = cv2.remap(face, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        return NormalizedFace(image=image)
