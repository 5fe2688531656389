"""Mask-then-fill normalizer (Hayajneh et al. 2025): find the anomalous pixels, then
fill them from the rest of the face.

1. *Mask.* An initial anomaly map is the colour residual between the face and a
   reference normalizer's output (by default the appearance model's robust
   reconstruction), smoothed; pixels inside the face whose residual exceeds a robust
   threshold (median + k·σ_MAD of the face's residuals, at least a floor) are flagged,
   specks are removed by a morphological opening and the mask is dilated to include the
   anomaly's margin. A known region (``mask`` argument) replaces the detection.
2. *Fill.* The masked pixels are filled by OpenCV inpainting (``telea``: Telea 2004,
   ``ns``: Navier–Stokes, Bertalmio et al. 2001) — the baseline — or by the appearance
   model's robust reconstruction of the masked pixels from the unmasked ones
   (``appearance``: the masked pixels get weight 0 in the texture fit), the better option.
3. *Second phase.* The mask is re-estimated from the residual between the face and the
   first fill (a cleaner reference than the initial one) and the face is filled again;
   ``phases`` sets how many rounds run (the method uses two).

Only pixels inside the face outline are ever changed.

``confidence`` is 1 − the (feathered) fill mask: filled pixels are invented.
"""

from __future__ import annotations

import cv2
import numpy as np

from .appearance_model import AppearanceModelNormalizer, FaceFrame, TextureFit
from .base import NormalizedFace, Normalizer, register, to_uint8, validate_face
from .geometry import face_region_mask
from .statistics import MAD_TO_SIGMA

FILL_METHODS = ("telea", "ns", "appearance")
_OPENCV_INPAINT_FLAGS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


def _disc(radius_px: float) -> np.ndarray:
    size = 2 * int(round(radius_px)) + 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


@register
class InpaintNormalizer(Normalizer):
    """See the module docstring.

    Args:
        reference: normalizer whose output gives the initial anomaly map (e.g. an
            :class:`AppearanceModelNormalizer` or the symmetry normalizer).
        fill: ``telea``, ``ns`` or ``appearance``.
        appearance: the fitted appearance normalizer used by ``fill="appearance"``.
        fill_iterations: reweighting rounds of the appearance fill's texture fit (it
            starts from the reference fit's weights when the reference is the appearance
            model, so fewer rounds than the reference's suffice).
        phases: mask-then-fill rounds (≥ 1).
        residual_blur_px: Gaussian sigma smoothing the residual map.
        threshold_sigma: k of the threshold median + k·σ_MAD over the face.
        min_threshold: threshold floor (RGB distance in [0, 1] units, max √3).
        opening_px: radius of the opening that removes specks from the mask (0 = none).
        dilation_px: radius by which the mask grows.
        face_margin_px: the mask is kept this far inside the face outline.
        feather_px: softness of the fill mask's edge.
        inpaint_radius_px: neighbourhood of ``cv2.inpaint``.
    """

    name = "inpaint"

    def __init__(
        self,
        *,
        reference: Normalizer,
        fill: str,
        appearance: AppearanceModelNormalizer | None,
        fill_iterations: int,
        phases: int,
        residual_blur_px: float,
        threshold_sigma: float,
        min_threshold: float,
        opening_px: float,
        dilation_px: float,
        face_margin_px: float,
        feather_px: float,
        inpaint_radius_px: float,
    ):
        if fill not in FILL_METHODS:
            raise ValueError(f"unknown fill method {fill!r}; available: {list(FILL_METHODS)}")
        if fill == "appearance" and appearance is None:
            raise ValueError("fill='appearance' needs a fitted appearance normalizer")
        if phases < 1:
            raise ValueError(f"phases must be ≥ 1, got {phases}")
        self.reference = reference
        self.fill = fill
        self.appearance = appearance
        self.fill_iterations = int(fill_iterations)
        self.phases = int(phases)
        self.residual_blur_px = float(residual_blur_px)
        self.threshold_sigma = float(threshold_sigma)
        self.min_threshold = float(min_threshold)
        self.opening_px = float(opening_px)
        self.dilation_px = float(dilation_px)
        self.face_margin_px = float(face_margin_px)
        self.feather_px = float(feather_px)
        self.inpaint_radius_px = float(inpaint_radius_px)

    # --- mask ----------------------------------------------------------------------

    def residual_map(self, face: np.ndarray, reference_image: np.ndarray) -> np.ndarray:
        """H×W float32: smoothed RGB distance (in [0, 1] units) between two images."""
        difference = (face.astype(np.float32) - reference_image.astype(np.float32)) / 255.0
        residual = np.sqrt((difference**2).sum(axis=2))
        if self.residual_blur_px > 0:
            residual = cv2.GaussianBlur(residual, (0, 0), self.residual_blur_px)
        return residual

    def face_area(self, within_face: np.ndarray) -> np.ndarray:
        """Boolean H×W: where anomalies are looked for — the face (``within_face``, inside
        its outline) shrunk by ``face_margin_px``."""
        if self.face_margin_px <= 0:
            return within_face
        return cv2.erode(within_face.astype(np.uint8), _disc(self.face_margin_px)).astype(bool)

    def anomaly_mask(self, residual: np.ndarray, face_area: np.ndarray) -> np.ndarray:
        """Boolean H×W mask of anomalous pixels from a residual map (see module docstring)."""
        values = residual[face_area]
        if values.size == 0:
            return np.zeros_like(face_area)
        median = float(np.median(values))
        sigma = MAD_TO_SIGMA * float(np.median(np.abs(values - median)))
        threshold = max(self.min_threshold, median + self.threshold_sigma * sigma)
        mask = ((residual > threshold) & face_area).astype(np.uint8)
        if self.opening_px > 0:
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _disc(self.opening_px))
        if self.dilation_px > 0:
            mask = cv2.dilate(mask, _disc(self.dilation_px))
        return mask.astype(bool) & face_area

    # --- fill ----------------------------------------------------------------------

    def fill_masked(
        self,
        face: np.ndarray,
        mask: np.ndarray,
        window: tuple[slice, slice],
        within_face: np.ndarray,
        frame: FaceFrame | None,
        start: TextureFit | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(image, weight)``: ``face`` with the pixels under ``mask`` (a bool array of the
        ``window`` of the face) filled, and the feathered float32 weight of the fill over
        the window (0 = original pixel); the feather stops at the face outline
        (``within_face``, same window). ``frame`` / ``start`` are the appearance model's
        view of the face and an earlier texture fit to start from (``fill="appearance"``)."""
        weight = mask.astype(np.float32)
        image = face.copy()
        if not mask.any():
            return image, weight
        if self.feather_px > 0:
            # Feather outwards only (every masked pixel is fully replaced), and never
            # beyond the face outline.
            feathered = np.clip(2.0 * cv2.GaussianBlur(weight, (0, 0), self.feather_px), 0.0, 1.0)
            weight = np.maximum(weight, feathered * within_face)
        patch = face[window].astype(np.float32)
        if self.fill == "appearance":
            full_mask = np.zeros(face.shape[:2], np.float32)
            full_mask[window] = mask
            texture = self.appearance.fit_texture(frame, full_mask, start=start, iterations=self.fill_iterations)
            inside = frame.inside_mask()[window][..., None]
            filled = np.where(inside, texture.reconstruction_image()[window], patch)
        else:
            filled = self._opencv_inpaint(face[window], mask).astype(np.float32)
        image[window] = to_uint8(patch * (1.0 - weight[..., None]) + filled * weight[..., None])
        return image, weight

    def _opencv_inpaint(self, patch: np.ndarray, mask: np.ndarray) -> np.ndarray:
        # Inpaint only the masked bounding box (plus a margin for the neighbourhood).
        ys, xs = np.nonzero(mask)
        margin = int(np.ceil(self.inpaint_radius_px + 2 * self.feather_px)) + 2
        y0, y1 = max(ys.min() - margin, 0), min(ys.max() + margin + 1, mask.shape[0])
        x0, x1 = max(xs.min() - margin, 0), min(xs.max() + margin + 1, mask.shape[1])
        out = patch.copy()
        box = np.ascontiguousarray(patch[y0:y1, x0:x1])
        out[y0:y1, x0:x1] = cv2.inpaint(
            box, mask[y0:y1, x0:x1].astype(np.uint8), self.inpaint_radius_px, _OPENCV_INPAINT_FLAGS[self.fill]
        )
        return out

    # --- both ----------------------------------------------------------------------

    def _window(self, area: np.ndarray) -> tuple[slice, slice]:
        """The face area's bounding box grown by the reach of the blur and the feather."""
        margin = int(np.ceil(3.0 * max(self.residual_blur_px, self.feather_px))) + 2
        ys, xs = np.nonzero(area)
        if ys.size == 0:
            return slice(0, 0), slice(0, 0)
        height, width = area.shape
        return (
            slice(max(ys.min() - margin, 0), min(ys.max() + margin + 1, height)),
            slice(max(xs.min() - margin, 0), min(xs.max() + margin + 1, width)),
        )

    def _reference(self, face, landmarks, frame) -> tuple[np.ndarray, TextureFit | None]:
        """The reference normalizer's output (and its texture fit when it is the appearance model)."""
        if self.reference is self.appearance:
            texture = self.appearance.fit_texture(frame)
            return self.appearance.render(face, landmarks, texture).image, texture
        return self.reference.normalize(face, landmarks).image, None

    def normalize(self, face: np.ndarray, landmarks: np.ndarray, mask: np.ndarray | None = None) -> NormalizedFace:
        landmarks = validate_face(face, landmarks, mask)
        within_face = face_region_mask(landmarks, face.shape, feather_px=0.0) > 0.5
        area = self.face_area(within_face)
        window = self._window(area)
        area_window = area[window]
        frame = self.appearance.frame(face, landmarks) if self.appearance is not None else None
        known = None if mask is None else (np.asarray(mask)[window] > 0.5) & area_window
        start = None
        if known is not None:
            current = known
        else:
            reference_image, start = self._reference(face, landmarks, frame)
            current = self.anomaly_mask(self.residual_map(face[window], reference_image[window]), area_window)
        image, weight = self.fill_masked(face, current, window, within_face[window], frame, start)
        for _ in range(self.phases - 1):
            current = self.anomaly_mask(self.residual_map(face[window], image[window]), area_window)
            if known is not None:
                current &= known
            image, weight = self.fill_masked(face, current, window, within_face[window], frame, start)
        confidence = np.ones(face.shape[:2], np.float32)
        confidence[window] = 1.0 - weight
        return NormalizedFace(image=image, confidence=confidence)
