"""Fixtures for the normalizer tests: the project's normalize/fit parameters, a
shape-symmetric astronaut, a small reference set of generated variants of it (smooth
warps, shifts, colour gains), models fitted on that set, and faces with synthetic
anomalies. The astronaut's own mouth is markedly asymmetric (≈ 5 px between the
corners), so the "normal" face of these tests is her shape made symmetric."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from facial_anomaly.faces import detect_landmarks
from facial_anomaly.faces.mesh import NUM_MESH_POINTS
from facial_anomaly.normalizers import AnchoredWarp, AppearanceModel, ShapeModel, symmetric_landmarks

CONF_BASE = Path(__file__).resolve().parents[2] / "conf" / "base"
REFERENCE_SET_SIZE = 24
MOUTH_CORNER = 61  # image-left mouth corner (FaceMesh topology); its mirror partner is 291
CHEEK = 50  # a FaceMesh point on the image-left cheek


def _parameters(stage: str) -> dict:
    with open(CONF_BASE / f"parameters_{stage}.yml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="session")
def normalizer_params():
    """The normalizers' default settings (defaults live in code)."""
    from facial_anomaly.normalizers.config import NormalizeConfig

    return NormalizeConfig()


@pytest.fixture(scope="session")
def model_params() -> dict:
    return _parameters("fit_normal_models")["fit_normal_models"]


@pytest.fixture(scope="session")
def anchored_warp(normalizer_params) -> AnchoredWarp:
    params = normalizer_params["symmetry"]
    return AnchoredWarp(ring_scale=params["ring_scale"], border_step_px=params["border_step_px"])


def smooth_displacement(landmarks: np.ndarray, centre: np.ndarray, shift, sigma_px: float) -> np.ndarray:
    """Landmarks with the mesh points near ``centre`` moved by ``shift`` (Gaussian falloff)."""
    moved = np.array(landmarks, dtype=np.float64)
    distance = np.linalg.norm(moved[:NUM_MESH_POINTS, :2] - centre, axis=1)
    moved[:NUM_MESH_POINTS, :2] += np.exp(-(distance**2) / (2 * sigma_px**2))[:, None] * np.asarray(shift, float)
    return moved


def _variant_landmarks(landmarks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible other face: small rotation, scale and shift plus smooth local changes."""
    centre = landmarks[:NUM_MESH_POINTS, :2].mean(axis=0)
    angle = np.radians(rng.normal(0.0, 1.5))
    scale = 1.0 + rng.normal(0.0, 0.02)
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = np.array(landmarks, dtype=np.float64)
    moved[:, :2] = (landmarks[:, :2] - centre) @ rotation.T + centre + rng.normal(0.0, 3.0, 2)
    for _ in range(4):
        bump_centre = landmarks[rng.integers(0, NUM_MESH_POINTS), :2]
        moved = smooth_displacement(moved, bump_centre, rng.normal(0.0, 2.5, 2), sigma_px=40.0)
    return moved


@pytest.fixture(scope="session")
def symmetric_astronaut(astronaut_aligned, anchored_warp) -> dict:
    """The aligned astronaut warped to the symmetric version of her landmarks."""
    landmarks = astronaut_aligned["landmarks"]
    rgb, moved = anchored_warp.warp_face(astronaut_aligned["rgb"], landmarks, symmetric_landmarks(landmarks))
    return {"rgb": rgb, "landmarks": moved}


@pytest.fixture(scope="session")
def reference_set(symmetric_astronaut, anchored_warp) -> dict:
    """Generated "normal" faces: the symmetric astronaut warped to varied shapes, with colour gains."""
    rng = np.random.default_rng(7)
    rgb, landmarks = symmetric_astronaut["rgb"], symmetric_astronaut["landmarks"]
    faces, shapes = [], []
    for _ in range(REFERENCE_SET_SIZE):
        target = _variant_landmarks(landmarks, rng)
        warped, moved = anchored_warp.warp_face(rgb, landmarks, target)
        gain = 1.0 + rng.normal(0.0, 0.05, 3)
        faces.append(np.clip(warped * gain, 0, 255).astype(np.uint8))
        shapes.append(moved)
    return {"faces": faces, "landmarks": shapes}


@pytest.fixture(scope="session")
def shape_model(reference_set, model_params) -> ShapeModel:
    return ShapeModel.fit(reference_set["landmarks"], **model_params["shape_model"])


@pytest.fixture(scope="session")
def appearance_model(reference_set, model_params) -> AppearanceModel:
    return AppearanceModel.fit(reference_set["faces"], reference_set["landmarks"], **model_params["appearance_model"])


@pytest.fixture(scope="session")
def detect(preprocess_config):
    """FaceMesh landmarks of an aligned face, measured again (as the pipeline would)."""

    def run(rgb: np.ndarray) -> np.ndarray:
        return detect_landmarks(rgb, None, preprocess_config["landmarks"])

    return run


@pytest.fixture(scope="session")
def mouth_corners() -> list[int]:
    """The drooping mouth corner and its mirror partner."""
    from facial_anomaly.faces.mesh import mirror_pairs

    return [MOUTH_CORNER, int(mirror_pairs()[MOUTH_CORNER])]


@pytest.fixture(scope="session")
def drooping_face(symmetric_astronaut, anchored_warp) -> dict:
    """The symmetric astronaut with its image-left mouth corner pulled down and out (as in facial palsy)."""
    rgb, landmarks = symmetric_astronaut["rgb"], symmetric_astronaut["landmarks"]
    target = smooth_displacement(landmarks, landmarks[MOUTH_CORNER, :2], (-3.0, 12.0), sigma_px=14.0)
    image, moved = anchored_warp.warp_face(rgb, landmarks, target)
    return {"rgb": image, "landmarks": moved}


@pytest.fixture(scope="session")
def blemished_face(symmetric_astronaut) -> dict:
    """The symmetric astronaut with a dark red disc painted on the image-left cheek; ``disc`` marks it."""
    rgb, landmarks = symmetric_astronaut["rgb"], symmetric_astronaut["landmarks"]
    centre = tuple(int(v) for v in np.round(landmarks[CHEEK, :2]))
    image = rgb.copy()
    cv2.circle(image, centre, 12, (110, 30, 35), -1, lineType=cv2.LINE_AA)
    disc = np.zeros(rgb.shape[:2], np.uint8)
    cv2.circle(disc, centre, 12, 1, -1)
    return {"rgb": image, "landmarks": landmarks, "disc": disc.astype(bool), "clean": rgb}
