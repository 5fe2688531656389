"""Grad-CAM heatmaps of a supervised model's anomaly output (Selvaraju et al. 2017).

For each tapped activation map A (N=1, C, h, w) of the model's branches (the output of
the first ``tap`` MobileNetV2 modules; :meth:`~.base.SupervisedModel.forward_with_maps`),
the channel weights are the spatial means of ∂(anomaly logit)/∂A, and the map is
``ReLU(Σ_c weight_c · A_c)``. Each map is interpolated (bilinear) onto its view's crop box
in the aligned face and the maps of all views are summed (the Siamese model gives one for
the original and one for the normalized branch; both lie in the aligned face's pixels;
a map of a mirrored view is reflected back about the midline).

The result is an H×W ``float32`` heatmap ≥ 0 of the input face's size (0 outside the
crop box), larger = more evidence for "anomalous" — the project's heatmap convention, so
it can be drawn like any other kind::

    heat = grad_cam(model, face, normalized, landmarks, tap=params["cam"]["tap"])
    picture = overlay_heatmap(face, heat, colormap="jet", alpha=0.5, vmax=None)

Placement: cell j of a map of stride s (input size / map size) is put at the centre of
its receptive field, input pixel s·j — where MobileNetV2's padded stride-2 convolutions
centre it (checked numerically) — not at the centre of the s×s block it summarises, which
would shift the heatmap by (s − 1)/2 input pixels down and to the right (21 aligned px at
stride 8 for a 64 px input of a 384 px crop). Beyond the outermost cell centres the
border cells' values are repeated up to the crop box.

A finer ``tap`` (fewer modules, e.g. 14 = stride 16 instead of 19 = stride 32) gives a
sharper but noisier map. Values are not normalized: they are comparable between faces
scored by the same model.

The supervised scorer (:class:`~.scorer.SupervisedScorer`) goes through the same function
(``normalized`` and ``tap`` are ignored: its partner is made from the face, and the map is
its encoder's last map): :func:`scorer_grad_cam` computes the Grad-CAM of each view's map,
places each cell at its receptive-field centre in the view, the view on the canvas and the
canvas back on the aligned face (the inverse of the canvas's similarity transform).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..normalizers.geometry import fit_midline
from .base import SupervisedModel
from .scorer import SupervisedScorer


def grad_cam(
    model: SupervisedModel | SupervisedScorer,
    original: np.ndarray,
    normalized: np.ndarray | None,
    landmarks: np.ndarray | None,
    *,
    tap: int,
) -> np.ndarray:
    """The Grad-CAM heatmap of one pair (see the module docstring).

    Args:
        model: a trained model (run on its device, in eval mode; its mode is restored).
        original: aligned face H×W×3 uint8 RGB; normalized: its partner (or None when
            the model does not use it); landmarks: (478, 2|3) of the original (or None
            when the model does not use them).
        tap: MobileNetV2 modules before the tapped map, 1..``feature_blocks``.

    Returns:
        H×W float32 ≥ 0.
    """
    if isinstance(model, SupervisedScorer):
        if landmarks is None:
            raise ValueError("the supervised scorer places its views by the face's landmarks: pass `landmarks`")
        return scorer_grad_cam(model, original, landmarks)
    height, width = original.shape[:2]
    device = next(model.parameters()).device
    inputs = torch.from_numpy(model.prepare(original, normalized, landmarks))[None].to(device).float().div_(255.0)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            inputs.requires_grad_(True)
            anomaly_logit, _, maps = model.forward_with_maps(inputs, tap)
            gradients = torch.autograd.grad(anomaly_logit.sum(), [activation for activation, _ in maps])
    finally:
        model.train(was_training)
    heat = np.zeros((height, width), dtype=np.float32)
    for (activation, view_index), gradient in zip(maps, gradients):
        weights = gradient.mean(dim=(2, 3), keepdim=True)
        cam = torch.relu((weights * activation).sum(dim=1))[0].detach().float().cpu().numpy()
        spec = model.view_specs[view_index]
        layer = _place_on_face(cam, spec.crop.box(height, width), spec.image_size, (height, width))
        if spec.view == "mirrored":
            matrix = fit_midline(np.asarray(landmarks, dtype=np.float64)[:, :2]).reflection_matrix()
            layer = cv2.warpAffine(
                layer, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
            )
        heat += layer
    return np.maximum(heat, 0.0, out=heat)


def _place_on_face(cam: np.ndarray, box: tuple[int, int, int], image_size: int, shape: tuple[int, int]) -> np.ndarray:
    """An (h, w) map of a view of ``image_size`` px cut from ``box`` = (x0, y0, side) →
    H×W float32, the map interpolated over the box (cell centres at their receptive-field
    centres, see the module docstring), 0 outside it."""
    x0, y0, side = box
    scale = side / image_size  # aligned pixels per input pixel
    rows, columns = cam.shape
    # cv2 coordinates are pixel centres: input pixel p lies at x0 + (p + 0.5)·scale − 0.5.
    matrix = np.array(
        [
            [image_size / columns * scale, 0.0, x0 + 0.5 * scale - 0.5],
            [0.0, image_size / rows * scale, y0 + 0.5 * scale - 0.5],
        ]
    )
    layer = cv2.warpAffine(
        cam.astype(np.float32), matrix, (shape[1], shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    inside = np.zeros(shape, dtype=np.float32)
    inside[y0 : y0 + side, x0 : x0 + side] = 1.0
    return layer * inside


def scorer_grad_cam(scorer: SupervisedScorer, face: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The Grad-CAM heatmap of the supervised scorer's anomaly logit on one aligned face
    (see the module docstring): H×W float32 ≥ 0, the face's size, 0 outside the canvas."""
    height, width = face.shape[:2]
    crops, network = scorer.config.crops, scorer.network
    (canvas,) = scorer.canvases([face], [landmarks])
    # the partner as scoring makes it (on the face's normal shape when the scorer has a shape model)
    points = scorer.partner_landmarks([canvas], [landmarks]) or [canvas.landmarks]
    faces, partners = scorer.inputs([canvas.image], landmarks=points)
    device = scorer.device
    was_training = network.training
    network.eval()
    try:
        with torch.enable_grad():
            out = network(faces.to(device), None if partners is None else partners.to(device))
            (gradient,) = torch.autograd.grad(out["logit"].sum(), [out["maps"]])
    finally:
        network.train(was_training)
    maps = out["maps"][0].detach()  # (V, C, h, w)
    weights = gradient[0].mean(dim=(2, 3), keepdim=True)
    cams = torch.relu((weights * maps).sum(dim=1)).float().cpu().numpy()  # (V, h, w)
    canvas_height, canvas_width = canvas.image.shape[:2]
    on_canvas = np.zeros((canvas_height, canvas_width), dtype=np.float32)
    stride = network.config.stride
    for view, cam in zip(network.config.views, cams):
        size = crops.view_size(view)
        # cell j at input pixel stride·j (the receptive-field centre of a padded stride-2 stack)
        matrix = np.array([[stride, 0.0, 0.0], [0.0, stride, 0.0]])
        layer = cv2.warpAffine(cam, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if view == "lower":
            rows, columns = crops.lower_window
            on_canvas[rows, columns] += layer
        else:
            on_canvas += cv2.resize(layer, (canvas_width, canvas_height), interpolation=cv2.INTER_LINEAR)
    heat = cv2.warpAffine(
        on_canvas,
        canvas.matrix,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
    )
    return np.maximum(heat, 0.0, out=heat)
