"""Shared inputs of the reliability tests."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def astronaut_jpeg() -> bytes:
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def other_face_jpeg() -> bytes:
    """A second, different face: the astronaut mirrored and brightened (another "person" for
    the tests that replace photos)."""
    from skimage import data

    image = np.clip(np.asarray(data.astronaut(), dtype=np.float32)[:, ::-1] * 1.2, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
