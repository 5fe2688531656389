"""One entry point for every synthetic-anomaly family: :func:`generate` and :func:`families`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .acne import acne_lesions
from .base import SyntheticFace, as_rng, check_face, check_severity, resolve_side, untouched
from .lip import lip_shape_transfer, parametric_lip_deformation
from .palsy import facial_palsy


@dataclass(frozen=True)
class Family:
    """A generator and what it needs: ``one_sided`` families get a resolved ``side``."""

    name: str
    label: str
    one_sided: bool
    function: Callable[..., SyntheticFace]


_FAMILIES = {
    family.name: family
    for family in (
        Family("lip_lt_v1", "cleft_lip", True, parametric_lip_deformation),
        Family("lip_lt_v2", "cleft_lip", True, lip_shape_transfer),
        Family("palsy", "facial_palsy", True, facial_palsy),
        Family("acne", "acne", False, acne_lesions),
    )
}


def families() -> tuple[str, ...]:
    """Names accepted by :func:`generate`."""
    return tuple(_FAMILIES)


def family_label(family: str) -> str:
    """The ground-truth label of a family's anomalies (``cleft_lip``, ``facial_palsy``, ``acne``)."""
    return _family(family).label


def _family(name: str) -> Family:
    if name not in _FAMILIES:
        raise KeyError(f"unknown synthetic-anomaly family {name!r}; available: {list(_FAMILIES)}")
    return _FAMILIES[name]


def generate(
    family: str,
    face: np.ndarray,
    landmarks: np.ndarray,
    *,
    severity: int,
    side: str | None = None,
    rng: np.random.Generator | int,
    params: dict,
) -> SyntheticFace:
    """Apply one synthetic anomaly to an aligned face.

    Args:
        family: one of :func:`families`.
        face: aligned face, H×W×3 uint8 RGB.
        landmarks: its (478, 3) FaceMesh landmarks in aligned pixels.
        severity: 0 (untouched control, byte-identical copy) or 1..4 (mild → very severe).
        side: image side ("left"/"right") of a one-sided anomaly; None draws it from ``rng``.
            Ignored (recorded as None) for families that are not one-sided (acne).
        rng: a ``numpy.random.Generator`` (advanced by the call) or an int seed.
        params: the family's block of ``parameters_synthesize.yml`` (``synthesize.<family>``);
            ``lip_lt_v2`` also needs ``templates`` (see :mod:`.lip`).

    Returns:
        :class:`SyntheticFace`; ``metadata`` always holds ``family``, ``severity``, ``side``
        and ``label`` (``normal`` for severity 0).

    Raises:
        KeyError: for an unknown family. ValueError: for bad inputs or parameters.
    """
    spec = _family(family)
    landmarks = check_face(face, landmarks)
    severity = check_severity(severity)
    rng = as_rng(rng)
    side = resolve_side(side, rng) if spec.one_sided else None
    metadata = {"family": family, "severity": severity, "side": side}
    if severity == 0:
        return untouched(face, landmarks, metadata)
    result = spec.function(face, landmarks, severity=severity, side=side, rng=rng, params=params)
    result.metadata = {**metadata, "label": spec.label, **result.metadata}
    return result
