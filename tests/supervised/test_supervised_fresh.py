"""Fresh anomalies at working resolution: the prepared warps reproduce the synthesis
generators, every family is visible from severity 2 and grows with severity, negatives
carry no anomaly, samples are deterministic, capture changes hit face and partner alike."""

from __future__ import annotations

import numpy as np
import pytest

from facial_anomaly.supervised.capture import CaptureConfig, apply_capture, strongest
from facial_anomaly.supervised.crops import CropConfig, cut_view
from facial_anomaly.supervised.fresh import (
    FAMILIES,
    AnomalyConfig,
    changed_pixels,
    draw_anomaly,
    make_sample,
    move_points,
    prepare_face,
    warp_image,
)
from facial_anomaly.synthesis import generate

NO_CAPTURE = CaptureConfig(
    flip_probability=0,
    geometry_probability=0,
    light_probability=0,
    colour_probability=0,
    blur_probability=0,
    noise_probability=0,
    jpeg_probability=0,
)


@pytest.fixture(scope="module")
def prepared(astronaut_aligned, synth_block):
    return prepare_face(
        astronaut_aligned["rgb"],
        astronaut_aligned["landmarks"],
        synth_params=synth_block,
        crops=CropConfig(),
        anomalies=AnomalyConfig(),
        name="astronaut",
    )


def test_prepared_warps_reproduce_the_synthesis_generators(prepared, synth_block):
    assert set(prepared.fields) == {"lip", "palsy"}
    canvas = prepared.canvas
    made = generate(
        "lip_lt_v1", canvas.image, canvas.landmarks, severity=4, side="left", rng=0, params=synth_block["lip_lt_v1"]
    )
    patch = prepared.fields["lip"]
    ours = warp_image(canvas.image, patch.box, patch.field)
    top, left, bottom, right = patch.box
    difference = np.abs(ours.astype(int) - made.image.astype(int))[top:bottom, left:right]
    moved = changed_pixels(canvas.image, made.image, 8.0)
    assert moved.sum() > 100  # the warp does change the lip
    assert np.median(difference[moved[top:bottom, left:right]]) <= 3  # the same warp, up to interpolation


def visible(prepared, family, severity, synth_block, draws=4) -> float:
    crops = CropConfig()
    counts = []
    for seed in range(draws):
        image = draw_anomaly(
            prepared,
            prepared.canvas.image,
            family,
            severity,
            np.random.default_rng(seed),
            synth_params=synth_block,
            config=AnomalyConfig(),
        )
        counts.append(
            changed_pixels(cut_view(prepared.canvas.image, "full", crops), cut_view(image, "full", crops), 8.0).sum()
        )
    return float(np.mean(counts))


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_is_visible_from_severity_2_and_grows_with_severity(prepared, synth_block, family):
    mild, severe = visible(prepared, family, 2, synth_block), visible(prepared, family, 4, synth_block)
    assert mild >= 15, f"{family} severity 2 changes {mild} px of the full-face view"
    assert severe > mild


def test_negatives_are_clean_and_samples_are_deterministic(prepared, synth_block):
    config = AnomalyConfig(null_warp_probability=1.0)
    negative = make_sample(
        prepared,
        np.random.default_rng(3),
        anomalous=False,
        synth_params=synth_block,
        anomalies=config,
        capture=NO_CAPTURE,
    )
    assert negative.label == 0 and negative.severity == 0 and negative.family == "normal"
    assert negative.change.max() == 0
    difference = np.abs(negative.image.astype(int) - prepared.canvas.image.astype(int))
    assert 0 < difference.max() <= 40 and changed_pixels(prepared.canvas.image, negative.image, 8.0).sum() < 60
    kwargs = dict(
        anomalous=True, synth_params=synth_block, anomalies=AnomalyConfig(), capture=CaptureConfig(), partner=True
    )
    first = make_sample(prepared, np.random.default_rng(7), **kwargs)
    again = make_sample(prepared, np.random.default_rng(7), **kwargs)
    assert first.label == 1 and first.severity in (2, 3, 4) and first.family in FAMILIES
    assert np.array_equal(first.image, again.image) and np.array_equal(first.partner, again.partner)
    assert first.change.sum() > 0


def test_forced_family_and_second_anomalies(prepared, synth_block):
    config = AnomalyConfig(second_anomaly_probability=1.0)
    sample = make_sample(
        prepared,
        np.random.default_rng(0),
        anomalous=True,
        synth_params=synth_block,
        anomalies=config,
        capture=NO_CAPTURE,
        family="patch",
        severity=3,
    )
    assert sample.family == "patch" and len(sample.families) == 2 and sample.severity >= 3
    assert "lip" not in AnomalyConfig().without("lip").active_families()
    with pytest.raises(ValueError, match="unknown family"):
        AnomalyConfig().without("freckles")


def test_partner_is_the_mirror_of_the_clean_face_under_the_same_capture(prepared, synth_block):
    contrast_only = NO_CAPTURE.model_copy(
        update={"light_probability": 1.0, "brightness": 0.0, "contrast": (1.3, 1.3), "gamma": (1.0, 1.0)}
    )
    kwargs = dict(synth_params=synth_block, anomalies=AnomalyConfig(), partner="flip", family="scars", severity=4)
    plain = make_sample(prepared, np.random.default_rng(11), anomalous=True, capture=NO_CAPTURE, **kwargs)
    assert np.array_equal(plain.partner, prepared.canvas.image[:, ::-1])  # made from the clean face
    assert changed_pixels(plain.image, prepared.canvas.image, 8.0).sum() > 0
    from_input = make_sample(
        prepared, np.random.default_rng(11), anomalous=True, capture=NO_CAPTURE, partner_from="input", **kwargs
    )
    assert np.array_equal(from_input.partner, from_input.image[:, ::-1])  # as at scoring time
    lit = make_sample(prepared, np.random.default_rng(11), anomalous=True, capture=contrast_only, **kwargs)
    expected = apply_capture(prepared.canvas.image, strongest(contrast_only, "light", np.random.default_rng(0)))
    assert lit.capture == ("light",)
    assert np.abs(lit.partner[:, ::-1].astype(int) - expected.astype(int)).max() <= 1
    mirrored = make_sample(
        prepared, np.random.default_rng(11), anomalous=True, capture=NO_CAPTURE, **{**kwargs, "partner": "mirror"}
    )
    assert np.array_equal(mirrored.partner, prepared.mirror)
    # the mirror partner puts each side over the other: the eyes' surroundings swap sides
    assert np.abs(prepared.mirror.astype(int) - prepared.canvas.image[:, ::-1].astype(int)).mean() < 20


def test_strongest_capture_changes_are_applied_alone(prepared):
    rng = np.random.default_rng(0)
    image = prepared.canvas.image
    jpeg = strongest(CaptureConfig(), "jpeg", rng)
    assert jpeg.applied() == ("jpeg",) and jpeg.quality == 25
    assert not np.array_equal(apply_capture(image, jpeg), image)
    flipped = apply_capture(image, strongest(CaptureConfig(), "flip", rng))
    assert np.array_equal(flipped, image[:, ::-1])


def test_light_and_colour_by_table_equal_the_arithmetic_per_pixel(prepared):
    from dataclasses import replace

    image = prepared.canvas.image
    light = strongest(CaptureConfig(), "light", np.random.default_rng(3))
    draw = replace(light, colour=True, gains=(1.1, 0.95, 0.9))
    values = image.astype(np.float32)
    mean = float(values.mean())
    values = (values - mean) * draw.contrast + mean * (1.0 + draw.brightness)
    values = 255.0 * np.power(np.clip(values, 0.0, 255.0) / 255.0, draw.gamma) * np.float32([1.1, 0.95, 0.9])
    expected = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    changed = apply_capture(image, draw)
    assert np.abs(changed.astype(int) - expected.astype(int)).max() <= 1
    assert (changed != expected).mean() < 1e-3  # equal but for the rounding of the mean
    assert not np.array_equal(changed, image)


def test_noise_is_drawn_from_its_seed_with_the_drawn_spread():
    image = np.full((200, 200, 3), 128, np.uint8)
    draw = strongest(CaptureConfig(), "noise", np.random.default_rng(4))
    noisy = apply_capture(image, draw)
    assert np.array_equal(noisy, apply_capture(image, draw))  # the seed travels with the draw
    spread = (noisy.astype(float) - 128).std()
    assert abs(spread - draw.noise_sigma) < 0.1 * draw.noise_sigma


def test_points_move_with_the_geometry_of_a_capture_change():
    from dataclasses import replace

    from facial_anomaly.supervised.capture import apply_to_points

    rng = np.random.default_rng(0)
    image = np.zeros((101, 61, 3), np.uint8)
    image[70, 45] = 255  # one bright pixel, followed through the change
    draw = replace(strongest(CaptureConfig(), "geometry", rng), angle_deg=90.0, shift=(2.0, -3.0))
    moved = apply_to_points(np.array([[45.0, 70.0, 7.0]]), draw, image.shape)
    # 90° counter-clockwise about the centre (30, 50): (45, 70) → (30 + 20, 50 − 15), then the shift.
    np.testing.assert_allclose(moved, [[52.0, 32.0, 7.0]], atol=1e-9)
    changed = apply_capture(image, draw)
    assert changed[32, 52, 0] == 255  # (row, column) = (y, x) of the moved point
    flipped = apply_to_points(np.array([[45.0, 70.0]]), strongest(CaptureConfig(), "flip", rng), image.shape)
    np.testing.assert_allclose(flipped, [[15.0, 70.0]])


def test_the_nuisance_check_makes_partners_with_the_landmarks_where_the_face_is(prepared):
    from facial_anomaly.supervised.assess import nuisance_set
    from facial_anomaly.supervised.capture import apply_to_points
    from facial_anomaly.supervised.crops import partner_image
    from facial_anomaly.supervised.trainer import preset

    config = preset("cpu")
    checked = nuisance_set([prepared], seed=5, config=config, changes=["geometry"])
    draw = strongest(config.capture, "geometry", np.random.default_rng([5, 0]))
    image = apply_capture(prepared.canvas.image, draw)
    expected = partner_image(image, apply_to_points(prepared.canvas.landmarks, draw, image.shape), "mirror")
    crops = config.scorer.crops
    np.testing.assert_array_equal(checked.partners[1, 0].numpy().transpose(1, 2, 0), cut_view(expected, "lower", crops))
    stale = partner_image(image, prepared.canvas.landmarks, "mirror")
    assert not np.array_equal(cut_view(stale, "lower", crops), cut_view(expected, "lower", crops))


def test_move_points_carries_points_as_warp_image_moves_content():
    field = np.zeros((40, 50, 2), np.float32)
    field[..., 0], field[..., 1] = 3.0, -2.0  # a uniform shift inside the box
    box = (10, 20, 50, 70)
    points = np.array([[30.0, 25.0, 7.0], [5.0, 5.0, 1.0]])  # inside, outside (third column kept)
    moved = move_points(points, [(box, field)])
    assert np.allclose(moved, [[33.0, 23.0, 7.0], [5.0, 5.0, 1.0]])
    assert np.allclose(move_points(points, [(box, field)], follow=0.5)[0], [31.5, 24.0, 7.0])
    # a smooth bump: the moved point is where warp_image takes the bright dot
    ys, xs = np.mgrid[0:80, 0:80].astype(np.float32)
    bump = np.exp(-((xs - 40) ** 2 + (ys - 40) ** 2) / (2 * 12.0**2))[..., None] * np.array([4.0, 2.5], np.float32)
    image = np.zeros((80, 80, 3), np.uint8)
    image[36:39, 34:37] = 255  # a 3×3 dot centred on (35, 37)
    warped = warp_image(image, (0, 0, 80, 80), bump.astype(np.float32))
    weights = warped[..., 0].astype(float)
    centre = np.array([(weights * xs).sum(), (weights * ys).sum()]) / weights.sum()
    expected = move_points(np.array([[35.0, 37.0]]), [((0, 0, 80, 80), bump.astype(np.float32))])[0]
    assert np.linalg.norm(centre - expected) < 0.3
    assert np.linalg.norm(expected - [35.0, 37.0]) > 4.0


def test_partner_landmarks_follow_the_warp(prepared, synth_block):
    """With ``landmark_follow`` the mirror partner is carried along with a warp, as a
    measured landmark set would carry it at scoring time: the face–partner difference
    around a palsy droop shrinks, the sample itself is unchanged, painted anomalies and
    partners made from the input follow the same rule."""
    kwargs = dict(anomalous=True, synth_params=synth_block, capture=NO_CAPTURE, partner="mirror", severity=4)

    def sample(follow, family="palsy", **extra):
        config = AnomalyConfig(landmark_follow=(follow, follow), second_anomaly_probability=0.0)
        return make_sample(prepared, np.random.default_rng(5), anomalies=config, family=family, **kwargs, **extra)

    still, carried = sample(0.0), sample(1.0)
    assert carried.motions and np.array_equal(still.image, carried.image)
    assert np.array_equal(still.partner, prepared.mirror)
    top, left, bottom, right = prepared.fields["palsy"].box
    moved = changed_pixels(prepared.canvas.image, carried.image, 8.0)
    at_rest = prepared.canvas.image.astype(int) - prepared.mirror.astype(int)

    def gap(s):  # how far the warp moves the face–partner difference, where it changed the face
        return np.abs(s.image.astype(int) - s.partner.astype(int) - at_rest)[moved].mean()

    assert moved.sum() > 50 and gap(carried) < 0.7 * gap(still)
    outside = np.ones(prepared.canvas.image.shape[:2], bool)
    outside[top:bottom, left:right] = False
    assert np.array_equal(carried.partner[outside], still.partner[outside])
    painted = sample(1.0, family="patch")
    assert not painted.motions and np.array_equal(painted.partner, prepared.mirror)
    from_input = sample(1.0, partner_from="input")
    assert gap(from_input) < gap(sample(0.0, partner_from="input"))
    with pytest.raises(ValueError, match="landmark_follow"):
        AnomalyConfig(landmark_follow=(0.8, 0.2))
