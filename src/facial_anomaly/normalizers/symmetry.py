"""Symmetry normalizer: the face warped to the mirror-symmetric version of its own shape.

The facial plane of symmetry is fitted through the FaceMesh midline landmarks in 3-D
(FaceMesh depth), so a turned head keeps its pose; every landmark is averaged with the
mirror image of its left–right counterpart, giving the closest symmetric configuration, and the face is warped piecewise-affinely onto it (the
background anchored). Asymmetry of shape — a drooping mouth corner in facial palsy, the
displaced lip and nose of a cleft — is removed; identity, expression and texture are
kept. Optionally the texture is blended with its own mirror image (``texture_blend``:
0 keeps the texture, 0.5 makes it symmetric), which also evens out one-sided marks.

The symmetric configuration is the average of a shape and its relabelled reflection,
the "object symmetry" construction of Klingenberg, Barluenga & Meyer (2002, Evolution
56: 1909–1920) for shape analysis of symmetric structures.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import NormalizedFace, Normalizer, register, to_uint8, validate_face
from .geometry import AnchoredWarp, face_region_mask, fit_midline, symmetric_landmarks


@register
class SymmetryNormalizer(Normalizer):
    """See the module docstring.

    Args:
        texture_blend: weight of the mirrored texture inside the face, in [0, 0.5].
        blend_feather_px: softness of the face-region edge of that blend.
        ring_scale, border_step_px: background anchors of the warp (:class:`AnchoredWarp`).
    """

    name = "symmetry"

    def __init__(self, *, texture_blend: float, blend_feather_px: float, ring_scale: float, border_step_px: float):
        if not 0.0 <= texture_blend <= 0.5:
            raise ValueError(f"texture_blend must be in [0, 0.5], got {texture_blend}")
        self.texture_blend = float(texture_blend)
        self.blend_feather_px = float(blend_feather_px)
        self.warp = AnchoredWarp(ring_scale=float(ring_scale), border_step_px=float(border_step_px))

    def normalize(self, face: np.ndarray, landmarks: np.ndarray, mask: np.ndarray | None = None) -> NormalizedFace:
        landmarks = validate_face(face, landmarks, mask)
        target = symmetric_landmarks(landmarks)
        image, moved = self.warp.warp_face(face, landmarks, target)
        if self.texture_blend > 0.0:
            image = self._blend_mirrored_texture(image, moved)
        return NormalizedFace(image=image, landmarks=moved)

    def _blend_mirrored_texture(self, image: np.ndarray, symmetric: np.ndarray) -> np.ndarray:
        # The warped face is symmetric about the midline of its (symmetric) landmarks, so
        # its mirror image about that line in the picture lines up with it feature for
        # feature (exactly for a frontal face; approximately when the head is turned).
        height, width = image.shape[:2]
        matrix = fit_midline(symmetric[:, :2]).reflection_matrix()
        mirrored = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        weight = (
            self.texture_blend * face_region_mask(symmetric, image.shape, feather_px=self.blend_feather_px)[..., None]
        )
        return to_uint8(image * (1.0 - weight) + mirrored * weight)
