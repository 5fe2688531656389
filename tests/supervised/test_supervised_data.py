"""Training pairs: local anomalies, harmless changes, pair recipes, person splits, cached views."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from supervised_helpers import tiny_config

from facial_anomaly.faces.landmarks import eye_centers
from facial_anomaly.normalizers import build_normalizer
from facial_anomaly.normalizers.config import NormalizeConfig
from facial_anomaly.normalizers.geometry import face_region_mask
from facial_anomaly.supervised import (
    LOCAL_KINDS,
    NUISANCES,
    NormalFace,
    PairSet,
    anomaly_kinds,
    apply_nuisances,
    build_model,
    build_pair_set,
    lower_face_mask,
    make_anomaly,
    make_pair,
    split_faces,
)
from facial_anomaly.synthesis.base import inter_ocular_distance


@pytest.fixture(scope="module")
def face(astronaut_aligned):
    return astronaut_aligned["rgb"], astronaut_aligned["landmarks"]


@pytest.fixture(scope="module")
def symmetry():
    return build_normalizer("symmetry", NormalizeConfig())


@pytest.fixture(scope="module")
def local_params(supervised_params):
    """The YAML's data block with only the local kinds (fast) and one pair of each class."""
    data = dict(supervised_params["data"])
    data["anomalies"] = {**data["anomalies"], "kinds": dict.fromkeys(LOCAL_KINDS, 1.0)}
    data["variants_per_face"] = {"clean": 1, "anomalous": 1}
    return data


def test_anomaly_kinds_are_the_synthesis_families_and_the_local_kinds():
    assert anomaly_kinds() == ("lip_lt_v1", "lip_lt_v2", "palsy", "acne", "local_warp", "lesions", "scars")


@pytest.mark.parametrize("kind", LOCAL_KINDS)
def test_local_anomalies_stay_on_the_lower_face_and_grow_with_severity(kind, face, supervised_params):
    image, landmarks = face
    params = supervised_params["data"]["anomalies"]
    iod = inter_ocular_distance(landmarks)
    eye_y = np.mean([centre[1] for centre in eye_centers(landmarks)])
    # A spot's soft edge reaches a little beyond its centre, a warp bump (σ ≤ 0.2 IOD) up to ~3 σ.
    reach = int((0.7 if kind == "local_warp" else 0.2) * iod)
    near_face = cv2.dilate(
        (face_region_mask(landmarks, image.shape, feather_px=0) > 0.5).astype(np.uint8),
        np.ones((reach, reach), np.uint8),
    )
    change = {}
    for severity in (1, 4):
        total = 0.0
        for seed in range(3):
            made = make_anomaly(
                kind,
                image,
                landmarks,
                severity=severity,
                rng=np.random.default_rng(seed),
                synth_params={},
                local_params=params,
            )
            assert made.metadata["family"] == kind and made.metadata["severity"] == severity
            edited = made.edited_mask
            assert edited.any()
            np.testing.assert_array_equal(made.image[~edited], image[~edited])  # untouched elsewhere
            rows = np.nonzero(edited.any(axis=1))[0]
            assert rows.min() > eye_y + params["lower_face"]["start_below_eyes_iod"] * iod - reach
            assert near_face[edited].all()
            total += np.abs(made.image.astype(float) - image).sum()
        change[severity] = total
    assert change[4] > change[1]


def test_lower_face_mask_excludes_the_eyes_and_the_mouth_opening(face, supervised_params):
    image, landmarks = face
    mask = lower_face_mask(landmarks, image.shape, supervised_params["data"]["anomalies"]["lower_face"])
    assert mask.dtype == bool and mask.any()
    left, right = eye_centers(landmarks)
    assert not mask[int(left[1]), int(left[0])] and not mask[int(right[1]), int(right[0])]
    mouth_centre = landmarks[[13, 14], :2].mean(axis=0)  # inner-lip midpoints (FaceMesh)
    assert not mask[int(mouth_centre[1]), int(mouth_centre[0])]


def test_make_anomaly_dispatches_and_rejects(face, supervised_params, synth_block):
    image, landmarks = face
    params = supervised_params["data"]["anomalies"]
    made = make_anomaly(
        "acne",
        image,
        landmarks,
        severity=2,
        rng=np.random.default_rng(0),
        synth_params=synth_block,
        local_params=params,
    )
    assert made.metadata["family"] == "acne" and made.edited_mask.any()
    with pytest.raises(KeyError, match="unknown anomaly kind 'freckles'"):
        make_anomaly(
            "freckles",
            image,
            landmarks,
            severity=2,
            rng=np.random.default_rng(0),
            synth_params=synth_block,
            local_params=params,
        )
    with pytest.raises(ValueError, match="severity in 1..4"):
        make_anomaly(
            "scars",
            image,
            landmarks,
            severity=0,
            rng=np.random.default_rng(0),
            synth_params=synth_block,
            local_params=params,
        )


def test_mirror_nuisance_is_an_involution_and_relabels_landmarks(face, supervised_params):
    image, landmarks = face
    params = supervised_params["data"]["nuisance"]
    once, moved, applied = apply_nuisances(image, landmarks, np.random.default_rng(0), params, only=["mirror"])
    assert applied == ("mirror",)
    np.testing.assert_array_equal(once, image[:, ::-1])
    left, right = eye_centers(moved)
    assert left[0] < right[0]  # still image-left then image-right after relabelling
    twice, back, _ = apply_nuisances(once, moved, np.random.default_rng(0), params, only=["mirror"])
    np.testing.assert_array_equal(twice, image)
    np.testing.assert_allclose(back, landmarks)


def test_rotate_shift_moves_landmarks_with_the_image(face, supervised_params):
    image, landmarks = face
    marked = image.copy()
    nose = landmarks[1, :2]  # FaceMesh nose tip
    cv2.circle(marked, (int(round(nose[0])), int(round(nose[1]))), 3, (0, 255, 0), -1)
    params = {**supervised_params["data"]["nuisance"], "rotation_deg": 10.0, "shift_iod": 0.1}
    changed, moved, _ = apply_nuisances(marked, landmarks, np.random.default_rng(4), params, only=["rotate_shift"])
    green = (changed[..., 1] > 200) & (changed[..., 0] < 80) & (changed[..., 2] < 80)
    ys, xs = np.nonzero(green)
    assert np.hypot(xs.mean() - moved[1, 0], ys.mean() - moved[1, 1]) < 1.5
    assert np.hypot(*(moved[1, :2] - nose)) > 3.0


def test_nuisances_are_deterministic_and_checked(face, supervised_params):
    image, landmarks = face
    params = supervised_params["data"]["nuisance"]
    first = apply_nuisances(image, landmarks, np.random.default_rng(5), params)
    second = apply_nuisances(image, landmarks, np.random.default_rng(5), params)
    np.testing.assert_array_equal(first[0], second[0])
    assert first[2] == second[2] and set(first[2]) <= set(NUISANCES)
    for name in NUISANCES:
        changed, _, applied = apply_nuisances(image, landmarks, np.random.default_rng(1), params, only=[name])
        assert applied == (name,) and changed.shape == image.shape and changed.dtype == np.uint8
        assert not np.array_equal(changed, image), name
    with pytest.raises(ValueError, match="unknown \\['sepia'\\]"):
        apply_nuisances(image, landmarks, np.random.default_rng(0), params, only=["sepia"])


def test_pairs_have_labels_and_depend_only_on_seed_face_and_variant(face, symmetry, local_params):
    image, landmarks = face
    astronaut = NormalFace(image, landmarks, "astronaut", "astronaut.png")
    clean = make_pair(astronaut, 0, normalizer=symmetry, params=local_params, synth_params={}, seed=11)
    anomalous = make_pair(astronaut, 1, normalizer=symmetry, params=local_params, synth_params={}, seed=11)
    assert (clean.record["label"], clean.record["severity"], clean.record["family"]) == (0, 0, "normal")
    assert (
        anomalous.record["label"] == 1
        and 1 <= anomalous.record["severity"] <= 4
        and anomalous.record["family"] in LOCAL_KINDS
    )
    assert clean.normalized.shape == image.shape
    again = make_pair(astronaut, 1, normalizer=symmetry, params=local_params, synth_params={}, seed=11)
    np.testing.assert_array_equal(again.original, anomalous.original)
    np.testing.assert_array_equal(again.normalized, anomalous.normalized)
    other = make_pair(astronaut, 1, normalizer=symmetry, params=local_params, synth_params={}, seed=12)
    assert not np.array_equal(other.original, anomalous.original)
    with pytest.raises(ValueError, match="variant 2 outside 0..1"):
        make_pair(astronaut, 2, normalizer=symmetry, params=local_params, synth_params={}, seed=11)


def test_pair_sets_cache_views_and_do_not_depend_on_other_faces(face, symmetry, local_params):
    image, landmarks = face
    specs = build_model(tiny_config("siamese"), load_backbone_weights=False).view_specs
    astronaut = NormalFace(image, landmarks, "a", "astronaut.png")
    flipped = NormalFace(
        np.ascontiguousarray(image[:, ::-1]),
        apply_nuisances(image, landmarks, np.random.default_rng(0), local_params["nuisance"], only=["mirror"])[1],
        "b",
        "flipped.png",
    )
    alone = build_pair_set(
        [astronaut], normalizer=symmetry, specs=specs, params=local_params, synth_params={}, seed=3, workers=1
    )
    both = build_pair_set(
        [flipped, astronaut], normalizer=symmetry, specs=specs, params=local_params, synth_params={}, seed=3, workers=1
    )
    assert len(alone) == 2 and len(both) == 4
    in_processes = build_pair_set(
        [flipped, astronaut], normalizer=symmetry, specs=specs, params=local_params, synth_params={}, seed=3, workers=2
    )
    torch.testing.assert_close(in_processes.inputs(specs), both.inputs(specs), rtol=0, atol=0)
    inputs = both.inputs(specs)
    assert inputs.dtype == torch.uint8 and inputs.shape == (4, 6, 64, 64)
    torch.testing.assert_close(
        both.select(both.table["face"].to_numpy() == "astronaut.png").inputs(specs), alone.inputs(specs)
    )
    assert list(both.labels) == [0, 1, 0, 1] and list(both.families[[0, 2]]) == ["normal", "normal"]
    with pytest.raises(KeyError, match="were not built"):
        both.inputs(build_model(tiny_config("texture"), load_backbone_weights=False).view_specs)
    with pytest.raises(ValueError, match="unique"):
        build_pair_set(
            [astronaut, astronaut],
            normalizer=symmetry,
            specs=specs,
            params=local_params,
            synth_params={},
            seed=3,
            workers=1,
        )
    with pytest.raises(ValueError, match="different views"):
        PairSet.concat([alone, PairSet({specs[0]: alone.views[specs[0]]}, alone.table)])


def test_split_faces_keeps_each_person_in_one_split(face):
    image, landmarks = face
    faces = [NormalFace(image, landmarks, f"person{index // 2}", f"photo{index}") for index in range(20)]
    splits = split_faces(faces, {"train": 0.6, "dev": 0.2, "test": 0.2}, seed=1)
    assert sum(len(members) for members in splits.values()) == 20
    persons = {name: {member.person for member in members} for name, members in splits.items()}
    assert (
        not (persons["train"] & persons["dev"])
        and not (persons["train"] & persons["test"])
        and not (persons["dev"] & persons["test"])
    )
    assert [len(p) for p in persons.values()] == [6, 2, 2]
