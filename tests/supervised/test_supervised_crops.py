"""The scorer's canvas and views: geometry from the landmarks, exact windows, the mirror
line on the canvas's centre, per-view standardisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facial_anomaly.faces.landmarks import eye_centers
from facial_anomaly.supervised.crops import CropConfig, cut_view, face_canvas, standardise, views_tensor


@pytest.fixture(scope="module")
def canvas(astronaut_aligned):
    return face_canvas(astronaut_aligned["rgb"], astronaut_aligned["landmarks"], CropConfig())


def test_canvas_puts_the_eyes_where_the_config_says(canvas):
    config = CropConfig()
    assert canvas.image.shape == (208, 208, 3) and config.canvas_shape == (208, 208)
    left, right = eye_centers(canvas.landmarks)
    assert canvas.iod == pytest.approx(64.0, abs=1e-6)
    assert (left + right) / 2 == pytest.approx([103.5, 64.0], abs=1e-6)  # midline on the centre line (W − 1) / 2
    assert left[1] == pytest.approx(right[1], abs=1e-6)


def test_landmarks_and_pixels_move_together(astronaut_aligned):
    face = np.zeros_like(astronaut_aligned["rgb"])
    landmarks = astronaut_aligned["landmarks"]
    x, y = np.round(landmarks[13, :2]).astype(int)  # upper lip centre
    face[y - 6 : y + 7, x - 6 : x + 7] = 255
    made = face_canvas(face, landmarks, CropConfig())
    ys, xs = np.nonzero(made.image[..., 0] > 100)
    square_centre = made.matrix @ np.array([x, y, 1.0])
    assert [xs.mean(), ys.mean()] == pytest.approx(square_centre, abs=0.6)


def test_views_are_a_window_and_a_resize(canvas):
    config = CropConfig()
    lower = cut_view(canvas.image, "lower", config)
    rows, columns = config.lower_window
    assert lower.shape == (128, 128, 3) and (rows.start, columns.start) == (80, 40)
    assert np.array_equal(lower, canvas.image[80:208, 40:168])
    assert cut_view(canvas.image, "full", config).shape == (128, 128, 3)
    stacked = views_tensor([canvas.image, canvas.image], ["lower", "full"], config)
    assert stacked.shape == (2, 6, 128, 128) and stacked.dtype == torch.uint8
    with pytest.raises(ValueError, match="inside full_face_box"):
        CropConfig(lower_face_box=(-2.0, 1.0, 0.25, 2.25))


def test_standardise_removes_mean_and_spread_per_view():
    rng = np.random.default_rng(0)
    views = torch.from_numpy(rng.integers(0, 256, size=(2, 6, 16, 16), dtype=np.uint8))
    out = standardise(views)
    grouped = out.reshape(2, 2, 3, 16, 16)
    assert torch.allclose(grouped.mean(dim=(3, 4)), torch.zeros(2, 2, 3), atol=1e-5)
    assert torch.allclose(grouped.pow(2).mean(dim=(2, 3, 4)), torch.ones(2, 2), atol=1e-4)
    brighter = standardise((views.float() * 0.5 + 60).round().to(torch.uint8))
    assert torch.allclose(brighter, out, atol=0.03)  # light and contrast do not change what the network sees
    assert torch.equal(standardise(torch.full((1, 3, 8, 8), 7, dtype=torch.uint8)), torch.zeros(1, 3, 8, 8))


def test_standardise_leaves_float_inputs_alone_and_differentiable():
    """Bytes are standardised in place in their own float copy; a float input is neither
    changed nor cut from the autograd graph, and gives the bytes' result."""
    rng = np.random.default_rng(1)
    views = torch.from_numpy(rng.integers(0, 256, size=(3, 6, 12, 12), dtype=np.uint8))
    floats = (views.float() / 255.0).requires_grad_(True)
    kept = floats.detach().clone()
    out = standardise(floats)
    assert torch.equal(out.detach(), standardise(views)) and torch.equal(floats.detach(), kept)
    (out * torch.linspace(0, 1, 12)).sum().backward()  # a plain sum of a mean-free output has no gradient
    assert floats.grad is not None and floats.grad.abs().sum() > 0
