"""What every synthetic-anomaly generator shares: its result type and argument checks.

A generator takes an aligned face (H×W×3 uint8 RGB) with its 478 landmarks (aligned
pixels), a severity (0 = untouched control, 1..4 = mild → very severe), a side where
the anomaly is one-sided, a random generator and its family's parameter block of
``conf/base/parameters_synthesize.yml``. Magnitudes in those blocks are in units of
the inter-ocular distance (IOD: the distance between the eye centres, as used by the
alignment), so they mean the same on any crop size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facial_anomaly.faces.landmarks import eye_centers, validate_landmarks

SEVERITIES = (0, 1, 2, 3, 4)
SIDES = ("left", "right")  # image sides: "left" is the left of the picture (the subject's right)
NORMAL_LABEL = "normal"


@dataclass
class SyntheticFace:
    """A generated face.

    ``image``: H×W×3 uint8 RGB; ``landmarks``: (478, 3) where the input's landmarks moved
    to; ``edited_mask``: H×W bool, True on every pixel that may differ from the input
    (every other pixel is an exact copy); ``metadata``: JSON-serialisable facts about the
    edit (``family``, ``severity``, ``side``, ``label`` and family-specific magnitudes).
    """

    image: np.ndarray
    landmarks: np.ndarray
    edited_mask: np.ndarray
    metadata: dict = field(default_factory=dict)


def check_face(face: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Validate an aligned face and its landmarks; return the landmarks as float64.

    Raises:
        ValueError: when the image is not H×W×3 uint8 or the landmarks are not (478, 2|3) finite.
    """
    if not isinstance(face, np.ndarray) or face.dtype != np.uint8 or face.ndim != 3 or face.shape[2] != 3:
        raise ValueError(
            f"face must be an H×W×3 uint8 RGB array, got {getattr(face, 'dtype', type(face))} "
            f"{getattr(face, 'shape', '')}"
        )
    return validate_landmarks(landmarks)


def check_severity(severity: int) -> int:
    if isinstance(severity, bool) or int(severity) != severity or int(severity) not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    return int(severity)


def as_rng(rng: np.random.Generator | int) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a generator (used as is) or an integer seed."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}")


def resolve_side(side: str | None, rng: np.random.Generator) -> str:
    """The requested image side, or a random one when ``side`` is None.

    Raises:
        ValueError: for anything but None, "left" or "right".
    """
    if side is None:
        return SIDES[int(rng.integers(len(SIDES)))]
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES} (image sides) or None, got {side!r}")
    return side


def inter_ocular_distance(landmarks: np.ndarray) -> float:
    """Distance in pixels between the eye centres (the alignment's eye distance)."""
    left, right = eye_centers(landmarks)
    return float(np.hypot(*(right - left)))


def per_severity(values, severity: int, name: str) -> float:
    """The entry of a "one value per severity 1..4" parameter list for ``severity`` ≥ 1.

    Raises:
        ValueError: naming the parameter when the list does not hold four values.
    """
    values = list(values)
    if len(values) != len(SEVERITIES) - 1:
        raise ValueError(f"parameter {name!r} must list one value per severity 1..4, got {values!r}")
    return values[severity - 1]


def moves_metadata(landmarks: np.ndarray, new_landmarks: np.ndarray, requested: dict, iod: float) -> dict:
    """Metadata of key landmark moves, ``{"requested_moves_iod": {index: [dx, dy]},
    "moves_iod": {...}}`` in IOD: what the generator asked for and what the warp did."""

    def as_iod(move):
        return [round(float(value) / iod, 5) for value in move]

    return {
        "requested_moves_iod": {str(int(i)): as_iod(move) for i, move in requested.items()},
        "moves_iod": {str(int(i)): as_iod(new_landmarks[i, :2] - landmarks[i, :2]) for i in requested},
    }


def untouched(face: np.ndarray, landmarks: np.ndarray, metadata: dict) -> SyntheticFace:
    """The severity-0 control: a byte-identical copy with an empty edited mask."""
    return SyntheticFace(
        image=face.copy(),
        landmarks=np.array(landmarks, dtype=np.float64, copy=True),
        edited_mask=np.zeros(face.shape[:2], dtype=bool),
        metadata={**metadata, "label": NORMAL_LABEL},
    )
