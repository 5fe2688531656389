"""Shared fixtures: the project's own parameters, a real aligned face made from an image
that scikit-image ships, and the optional ``../shared/data`` photos (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from project_paths import CONF_BASE, PROJECT_ROOT, SHARED_DATA, load_parameters  # noqa: F401 (re-exported)

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(scope="session")
def preprocess_config():
    """The default preprocessing settings (defaults live in code)."""
    from facial_anomaly.faces.config import PreprocessConfig

    return PreprocessConfig()


@pytest.fixture(scope="session")
def astronaut_rgb() -> np.ndarray:
    """scikit-image's astronaut portrait (512×512 RGB uint8, a frontal adult face)."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def astronaut_aligned(astronaut_rgb, preprocess_config) -> dict:
    """The astronaut preprocessed with the default settings: ``rgb`` (512×512×3 uint8),
    ``landmarks`` (478×3, aligned pixels), ``mask`` (512×512 float32), ``geometry``."""
    import cv2

    from facial_anomaly.faces import locate_face, render_aligned_face

    ok, encoded = cv2.imencode(".png", cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    assert ok
    geometry, rgb = locate_face(encoded.tobytes(), preprocess_config)
    assert geometry.ok, geometry.detail
    crop, mask = render_aligned_face(rgb, geometry, preprocess_config)
    return {"rgb": crop, "landmarks": geometry.aligned_landmarks(), "mask": mask, "geometry": geometry}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of ``../shared/data``; skips the test when the folder is absent."""
    if not (SHARED_DATA / "MANIFEST.csv").exists():
        pytest.skip(f"shared face data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_faces(shared_data) -> Path:
    """``../shared/data/faces`` (real photos of normal faces; never copied into the repo)."""
    return shared_data / "faces"


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium (:class:`facial_anomaly.browser.HeadlessChromium`) shared by the
    session; skips the test when no Chromium is installed."""
    from facial_anomaly.browser import CHROMIUM_ENV, HeadlessChromium, find_chromium

    if find_chromium() is None:
        pytest.skip(f"no Chromium installed (apt-get install chromium, or set ${CHROMIUM_ENV} to its path)")
    with HeadlessChromium(timeout_s=60) as browser:
        yield browser


@pytest.fixture
def sample_input(tmp_path) -> Path:
    """The embedded demo sample written to a temporary raw folder (with a ``.gitkeep``)."""
    from facial_anomaly.sample import write_embedded_sample

    folder = tmp_path / "raw"
    write_embedded_sample(folder)
    (folder / ".gitkeep").write_text("")
    return folder
