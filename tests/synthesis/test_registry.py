"""What every family guarantees: untouched controls, determinism, edits confined to the
edited mask and to the face, JSON metadata, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facial_anomaly.synthesis import families, generate
from facial_anomaly.synthesis.anatomy import face_mask

FAMILIES = ("lip_lt_v1", "lip_lt_v2", "palsy", "acne")


def test_families_are_registered():
    assert families() == FAMILIES


@pytest.mark.parametrize("family", FAMILIES)
def test_severity_zero_is_a_byte_identical_control(family, face, family_params):
    rgb, landmarks = face
    result = generate(family, rgb, landmarks, severity=0, side="left", rng=3, params=family_params[family])
    assert result.image.tobytes() == rgb.tobytes()
    assert result.image is not rgb
    np.testing.assert_array_equal(result.landmarks, landmarks)
    assert not result.edited_mask.any()
    assert result.metadata["label"] == "normal" and result.metadata["severity"] == 0


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_gives_identical_bytes(family, face, family_params):
    rgb, landmarks = face
    first = generate(family, rgb, landmarks, severity=3, side=None, rng=11, params=family_params[family])
    again = generate(
        family, rgb, landmarks, severity=3, side=None, rng=np.random.default_rng(11), params=family_params[family]
    )
    assert first.image.tobytes() == again.image.tobytes()
    np.testing.assert_array_equal(first.landmarks, again.landmarks)
    assert first.metadata == again.metadata


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("severity", [1, 4])
def test_only_the_edited_region_of_the_face_changes(family, severity, face, family_params):
    rgb, landmarks = face
    result = generate(family, rgb, landmarks, severity=severity, side="right", rng=5, params=family_params[family])
    changed = np.any(result.image != rgb, axis=2)
    assert changed.any(), "the anomaly changed nothing"
    assert not (changed & ~result.edited_mask).any(), "pixels outside the edited mask changed"
    # The background and the face's edge are never touched.
    assert not (result.edited_mask & ~face_mask(landmarks, rgb.shape)).any()
    assert result.image.dtype == np.uint8 and result.image.shape == rgb.shape
    assert result.landmarks.shape == landmarks.shape and np.isfinite(result.landmarks).all()
    json.dumps(result.metadata)  # table-ready


def test_metadata_names_family_severity_side_and_label(face, family_params):
    rgb, landmarks = face
    expected = {"lip_lt_v1": "cleft_lip", "lip_lt_v2": "cleft_lip", "palsy": "facial_palsy", "acne": "acne"}
    for family, label in expected.items():
        metadata = generate(
            family, rgb, landmarks, severity=2, side="left", rng=0, params=family_params[family]
        ).metadata
        assert (metadata["family"], metadata["severity"], metadata["label"]) == (family, 2, label)
        assert metadata["side"] == (None if family == "acne" else "left")


def test_side_is_drawn_from_the_generator_when_not_given(face, family_params):
    rgb, landmarks = face
    sides = {
        generate("palsy", rgb, landmarks, severity=0, side=None, rng=seed, params=family_params["palsy"]).metadata[
            "side"
        ]
        for seed in range(12)
    }
    assert sides == {"left", "right"}


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"family": "scar"}, KeyError, "unknown synthetic-anomaly family 'scar'"),
        ({"severity": 5}, ValueError, "severity must be one of"),
        ({"severity": 1.5}, ValueError, "severity must be one of"),
        ({"side": "up"}, ValueError, "side must be one of"),
        ({"rng": "seed"}, TypeError, "rng must be"),
    ],
)
def test_bad_arguments_are_refused_clearly(changes, error, match, face, family_params):
    rgb, landmarks = face
    arguments = {"family": "palsy", "severity": 1, "side": "left", "rng": 0, **changes}
    family = arguments.pop("family")
    with pytest.raises(error, match=match):
        generate(family, rgb, landmarks, params=family_params.get(family, {}), **arguments)


def test_bad_faces_are_refused_clearly(face, family_params):
    rgb, landmarks = face
    with pytest.raises(ValueError, match="uint8 RGB"):
        generate("acne", rgb.astype(np.float32), landmarks, severity=1, rng=0, params=family_params["acne"])
    broken = landmarks.copy()
    broken[10, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        generate("acne", rgb, broken, severity=1, rng=0, params=family_params["acne"])
