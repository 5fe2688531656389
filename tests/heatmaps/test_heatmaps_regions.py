import numpy as np
import pytest

from facial_anomaly.faces.landmarks import eye_centers
from facial_anomaly.faces.mesh import region_indices
from facial_anomaly.heatmaps import REGIONS, region_mask

PARAMS = {
    "mouth_nose": {"margin_iod": 0.15},
    "face_without_eyes": {"eye_margin_iod": 0.15},
    "full_face": {},
    "lower_face": {"below_eyes_iod": 0.3},
}
IRIS_CENTRES = (468, 473)  # refine_landmarks iris centres (MediaPipe topology)
NOSE_TIP = 1


@pytest.fixture(scope="module")
def face(astronaut_aligned):
    landmarks = astronaut_aligned["landmarks"]
    shape = astronaut_aligned["rgb"].shape
    masks = {region: region_mask(landmarks, shape, region, **PARAMS[region]) for region in REGIONS}
    return landmarks, masks


def _at(mask, points):
    """Mask values at (N, 2) pixel points."""
    xy = np.round(np.asarray(points)[:, :2]).astype(int)
    return mask[xy[:, 1], xy[:, 0]]


def test_masks_are_boolean_images(face):
    _, masks = face
    for mask in masks.values():
        assert mask.dtype == bool and mask.shape == (512, 512) and mask.any()


def test_every_mask_lies_inside_the_face_hull(face):
    landmarks, masks = face
    assert not (masks["mouth_nose"] & ~masks["full_face"]).any()
    assert not (masks["face_without_eyes"] & ~masks["full_face"]).any()
    # The face oval hull is the hull of the whole mesh: no landmark lies outside it
    # (1 px tolerance for rasterisation).
    grown = np.zeros_like(masks["full_face"])
    grown[1:-1, 1:-1] = np.logical_or.reduce(
        [masks["full_face"][1 + dy : 511 + dy, 1 + dx : 511 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    )
    assert _at(grown, landmarks).all()


def test_mouth_nose_contains_mouth_nose_and_philtrum_but_not_eyes(face):
    landmarks, masks = face
    mouth_nose = masks["mouth_nose"]
    assert _at(mouth_nose, landmarks[region_indices("lips")]).all()
    assert _at(mouth_nose, landmarks[region_indices("nose")]).all()
    philtrum = (landmarks[NOSE_TIP, :2] + landmarks[0, :2]) / 2  # between nose tip and upper-lip top
    assert _at(mouth_nose, philtrum[None]).all()
    assert not _at(mouth_nose, np.array(eye_centers(landmarks))).any()


def test_face_without_eyes_excludes_eyes_and_keeps_nose_and_mouth(face):
    landmarks, masks = face
    without_eyes = masks["face_without_eyes"]
    assert not _at(without_eyes, np.array(eye_centers(landmarks))).any()
    assert not _at(without_eyes, landmarks[list(IRIS_CENTRES)]).any()
    assert not _at(without_eyes, landmarks[region_indices("image_left_eyebrow")]).any()
    assert _at(without_eyes, landmarks[[NOSE_TIP, 0, 17]]).all()
    assert without_eyes.sum() < masks["full_face"].sum()


def test_margins_grow_the_masks(astronaut_aligned):
    landmarks, shape = astronaut_aligned["landmarks"], (512, 512)
    tight = region_mask(landmarks, shape, "mouth_nose", margin_iod=0.0)
    loose = region_mask(landmarks, shape, "mouth_nose", margin_iod=0.2)
    assert not (tight & ~loose).any() and loose.sum() > tight.sum()
    small_holes = region_mask(landmarks, shape, "face_without_eyes", eye_margin_iod=0.0)
    big_holes = region_mask(landmarks, shape, "face_without_eyes", eye_margin_iod=0.2)
    assert not (big_holes & ~small_holes).any() and big_holes.sum() < small_holes.sum()


def test_unknown_region_lists_the_valid_ones(astronaut_aligned):
    with pytest.raises(ValueError, match=r"unknown region 'cheeks'.*mouth_nose.*face_without_eyes.*full_face"):
        region_mask(astronaut_aligned["landmarks"], (512, 512), "cheeks")


def test_bad_parameters_are_rejected(astronaut_aligned):
    landmarks = astronaut_aligned["landmarks"]
    with pytest.raises(ValueError, match="margin_iod"):
        region_mask(landmarks, (512, 512), "mouth_nose", margin_iod=-0.1)
    with pytest.raises(TypeError):
        region_mask(landmarks, (512, 512), "full_face", margin_iod=0.1)
    with pytest.raises(ValueError, match="landmarks"):
        region_mask(landmarks[:468], (512, 512), "full_face")


def test_lower_face_is_the_oval_below_a_line_under_the_eyes(astronaut_aligned):
    from facial_anomaly.faces.landmarks import eye_centers
    from facial_anomaly.faces.mesh import mirrored_landmarks
    from facial_anomaly.heatmaps import full_face_mask, lower_face_mask

    face, landmarks = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    mask = lower_face_mask(landmarks, face.shape, below_eyes_iod=0.3)
    left, right = eye_centers(landmarks)
    line = (left[1] + right[1]) / 2 + 0.3 * np.hypot(*(right - left))  # eyes level in the aligned face
    rows = np.flatnonzero(mask.any(axis=1))
    assert rows[0] == pytest.approx(line, abs=1.0)
    np.testing.assert_array_equal(mask[int(line) + 1 :], full_face_mask(landmarks, face.shape)[int(line) + 1 :])
    assert region_mask(landmarks, face.shape, "lower_face", below_eyes_iod=0.3).sum() == mask.sum()
    flipped = lower_face_mask(mirrored_landmarks(landmarks, face.shape[1]), face.shape, below_eyes_iod=0.3)
    assert (flipped ^ mask[:, ::-1]).sum() < 0.01 * mask.sum()
