"""Helpers of the reconstruction-model tests (imported by name; pytest puts this folder
on sys.path): generated "faces" (smooth blobs on gradients with noise, 64×64 uint8 RGB),
a painted defect, and tiny configurations (32 px, 8 base channels) that train in about
a second per epoch."""

from __future__ import annotations

import cv2
import numpy as np

FACE_PX = 64  # side of the generated "aligned faces"
TRAIN_FACES = 96
HELD_OUT_FACES = 16

TINY_CROP = {"center_x": 0.5, "center_y": 0.5, "size": 0.75}
TINY_GANOMALY = {
    "architecture": "ganomaly",
    "image_size": 32,
    "latent_size": 16,
    "base_channels": 8,
    "extra_layers": 0,
    "loss_weights": {"adv": 1.0, "con": 50.0, "enc": 1.0},
    "d_reinit_threshold": 1.0e-5,
    "crop": TINY_CROP,
}
TINY_AUTOENCODER = {
    "architecture": "autoencoder",
    "image_size": 32,
    "latent_size": 16,
    "base_channels": 8,
    "extra_layers": 0,
    "crop": TINY_CROP,
}
TINY_TRAINING = {
    "batch_size": 8,
    "lr": 2.0e-4,
    "betas": [0.5, 0.999],
    "seed": 3,
    "device": "cpu",
    "patience": 100,
    "min_epochs": 1,
}
TRAINED_EPOCHS = 10  # enough for GANomaly's latent score to separate the painted defect (120 steps)
PASTE = {"feather": 0.1, "detail_transfer": False}


def generated_face(rng: np.random.Generator) -> np.ndarray:
    """A smooth "face": a skin-coloured ellipse with two dark "eyes" on a colour
    gradient, slightly shifted/scaled, plus pixel noise. FACE_PX×FACE_PX×3 uint8."""
    y, x = np.mgrid[0:FACE_PX, 0:FACE_PX].astype(np.float32) / FACE_PX
    direction = rng.uniform(-1, 1, 2)
    background = rng.uniform(60, 180, 3) + 50 * (direction[0] * x + direction[1] * y)[..., None]
    cx, cy = 0.5 + rng.normal(0, 0.02, 2)
    rx, ry = 0.22 * (1 + rng.normal(0, 0.05)), 0.3 * (1 + rng.normal(0, 0.05))
    inside = np.clip(1.5 - 1.5 * (((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2), 0, 1)[..., None]
    skin = np.array([205, 150, 120], np.float32) * (1 + rng.normal(0, 0.06))
    image = background * (1 - inside) + skin * inside
    for side in (-1, 1):
        eye = np.exp(-(((x - cx - side * 0.09) ** 2 + (y - cy + 0.06) ** 2) / (2 * 0.025**2)))[..., None]
        image = image * (1 - 0.6 * eye)
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def painted_defect(face: np.ndarray) -> np.ndarray:
    """``face`` with a saturated green disc (radius 6 px) on the image-left "cheek"."""
    image = face.copy()
    cv2.circle(image, (FACE_PX // 2 - 10, FACE_PX // 2 + 8), 6, (40, 220, 40), -1)
    return image
