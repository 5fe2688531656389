"""The supervised scorer end to end on a tiny scorer_task: it learns to find strong patches on
variants of the aligned astronaut, its checkpoint round-trips exactly, training is
reproducible, Grad-CAM points at the patch, and bad inputs give clear errors."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pandas as pd
import pytest
import torch
from scorer_helpers import TINY

from facial_anomaly.provenance import ModelMismatch
from facial_anomaly.supervised import grad_cam
from facial_anomaly.supervised.scorer import FORMAT, load_scorer, save_scorer
from facial_anomaly.supervised.trainer import preset, train


def test_it_learns_and_keeps_the_best_smoothed_round(trained_scorer):
    out = trained_scorer["out"]
    history = out.history
    assert list(history["step"]) == [20, 40, 60, 80] and list(history["epoch"]) == [1, 2, 3, 4]
    assert history["dev_auc"].iloc[-1] >= 0.85 and history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert {"dev_auc.patch", "dev_bce", "dev_severity_rho", "selection", "train_anomaly_bce"} <= set(history.columns)
    smoothed = history["dev_auc"].rolling(2, min_periods=1).mean()
    assert out.result.best_epoch == int(smoothed.to_numpy().argmax()) + 1
    assert out.result.best_auc == pytest.approx(smoothed.max())
    assert [r.step for r in trained_scorer["reports"]] == [20, 40, 60, 80]


def test_scores_are_probabilities_and_a_patch_scores_higher(trained_scorer, scorer_task):
    scorer = trained_scorer["out"].scorer
    face, landmarks = scorer_task["faces"][9], scorer_task["landmarks"][0]
    painted = face.copy()
    x, y = np.round(landmarks[14, :2]).astype(int)  # lower lip
    painted[y - 30 : y + 30, x - 60 : x + 60] = (painted[y - 30 : y + 30, x - 60 : x + 60] * 0.5).astype(np.uint8)
    probabilities, severities = scorer.score_batch([face, painted], [landmarks, landmarks])
    assert probabilities.shape == (2,) and np.all((probabilities >= 0) & (probabilities <= 1))
    assert np.isnan(severities).all()  # no severity head
    assert probabilities[1] > probabilities[0]


def test_checkpoint_round_trip_is_exact_and_checked(trained_scorer, scorer_task, tmp_path):
    out = trained_scorer["out"]
    faces, landmarks = scorer_task["faces"][8:], scorer_task["landmarks"][8:]
    expected, _ = out.scorer.score_batch(faces, landmarks)
    for source in (out.checkpoint, save_scorer(out.scorer, tmp_path / "scorer.pt")):
        loaded = load_scorer(source, "cpu")
        assert loaded.config == TINY.scorer and loaded.training_data == out.result.state.training_data
        assert np.array_equal(loaded.score_batch(faces, landmarks)[0], expected)
    with pytest.raises(ValueError, match="not a readable supervised-scorer checkpoint"):
        load_scorer(out.checkpoint[:1000])
    with pytest.raises(FileNotFoundError, match="absent.pt"):
        load_scorer(tmp_path / "absent.pt")
    payload = torch.load(io.BytesIO(out.checkpoint), weights_only=True)
    payload["provenance_json"] = payload["provenance_json"].replace("supervised_scorer", "shape_model")
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    with pytest.raises(ModelMismatch, match="not a 'supervised_scorer'"):
        load_scorer(buffer.getvalue())
    assert payload["format"] == FORMAT.name


def _train_tiny(task: dict, **training) -> object:
    """The tiny scorer trained for 4 steps (2 evaluations) with ``training`` settings changed."""
    config = TINY.model_copy(
        update={"training": TINY.training.model_copy(update={"steps": 4, "eval_every": 2, **training})}
    )
    return train(task["faces"], task["landmarks"], task["splits"], synth_params=task["synth"], config=config)


def test_same_seed_same_weights(scorer_task):
    runs = [_train_tiny(scorer_task) for _ in range(2)]
    first, second = (run.result.best_state_dict for run in runs)
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert runs[0].history["train_loss"].tolist() == runs[1].history["train_loss"].tolist()


def test_batches_made_in_worker_processes_train_the_same_weights(scorer_task):
    in_process, in_workers = (_train_tiny(scorer_task, workers=w) for w in (0, 2))
    first, second = (run.result.best_state_dict for run in (in_process, in_workers))
    assert all(torch.equal(first[key], second[key]) for key in first)
    from facial_anomaly.supervised.fresh import prepare_faces

    kwargs = {"synth_params": scorer_task["synth"], "crops": TINY.scorer.crops, "anomalies": TINY.anomalies}
    faces, points = scorer_task["faces"][:3], scorer_task["landmarks"][:3]
    here, spawned = (prepare_faces(faces, points, workers=w, **kwargs) for w in (1, 2))
    assert all(
        np.array_equal(a.canvas.image, b.canvas.image) and np.array_equal(a.mirror, b.mirror)
        for a, b in zip(here, spawned)
    )


def test_grad_cam_of_the_scorer_lies_on_the_face(trained_scorer, scorer_task):
    scorer = trained_scorer["out"].scorer
    face, landmarks = scorer_task["faces"][9], scorer_task["landmarks"][0]
    heat = grad_cam(scorer, face, None, landmarks, tap=0)
    assert heat.shape == face.shape[:2] and heat.dtype == np.float32 and heat.min() >= 0
    if heat.max() > 0:  # its peak lies on the face, not in the padding around it
        y, x = np.unravel_index(np.argmax(heat), heat.shape)
        low, high = landmarks[:, :2].min(axis=0), landmarks[:, :2].max(axis=0)
        margin = 0.25 * (high - low)
        assert (low - margin <= (x, y)).all() and ((x, y) <= high + margin).all()
    with pytest.raises(ValueError, match="landmarks"):
        grad_cam(scorer, face, None, None, tap=0)


def test_bad_inputs_give_clear_errors(scorer_task):
    with pytest.raises(ValueError, match="person 'p0' is in the train and the dev split"):
        train(
            scorer_task["faces"][:2],
            scorer_task["landmarks"][:2],
            ["train", "dev"],
            synth_params=scorer_task["synth"],
            config=TINY,
            persons=["p0", "p0"],
        )
    with pytest.raises(ValueError, match="no training faces"):
        train(
            scorer_task["faces"][:1],
            scorer_task["landmarks"][:1],
            ["dev"],
            synth_params=scorer_task["synth"],
            config=TINY,
        )
    with pytest.raises(ValueError, match="unknown preset"):
        preset("tpu")
    assert preset("gpu").scorer.network.backbone == "efficientnet_lite0"
    # the CPU preset makes its batches in two processes; the smoke test stays in-process
    assert preset("cpu").training.workers == 2 and preset("smoke_test").training.workers == 0


@pytest.mark.parametrize("comparison", ["siamese", "stacked"])
def test_comparing_scorers_use_their_partner_and_heads(scorer_task, comparison):
    network = TINY.scorer.network.model_copy(
        update={"comparison": comparison, "severity_head": True, "dense_head": True}
    )
    config = TINY.model_copy(
        update={
            "scorer": TINY.scorer.model_copy(update={"network": network}),
            "training": TINY.training.model_copy(update={"steps": 4, "eval_every": 2}),
        }
    )
    out = train(
        scorer_task["faces"],
        scorer_task["landmarks"],
        scorer_task["splits"],
        synth_params=scorer_task["synth"],
        config=config,
    )
    assert {"train_severity_bce", "train_cell_bce"} <= set(out.history.columns)
    probabilities, severities = out.scorer.score_batch(scorer_task["faces"][:2], scorer_task["landmarks"][:2])
    assert probabilities.shape == (2,) and np.all((severities >= 0) & (severities <= 4))
    heat = grad_cam(out.scorer, scorer_task["faces"][0], None, scorer_task["landmarks"][0], tap=0)
    assert heat.shape == scorer_task["faces"][0].shape[:2]


def test_smoke_preset_trains_in_seconds(scorer_task):
    out = train(
        scorer_task["faces"],
        scorer_task["landmarks"],
        scorer_task["splits"],
        synth_params=scorer_task["synth"],
        config=preset("smoke_test"),
    )
    assert len(out.history) == 2 and out.scorer.score_batch(scorer_task["faces"][:1], scorer_task["landmarks"][:1])[
        0
    ].shape == (1,)


def test_the_fused_score_is_fitted_on_full_resolution_dev_rows(trained_scorer, scorer_task):
    from facial_anomaly.supervised.fused import (
        PROBABILITY_COLUMN,
        fit_default_fusion,
        full_resolution_samples,
        score_table,
    )

    out = trained_scorer["out"]
    faces, landmarks = scorer_task["faces"][8:], scorer_task["landmarks"][8:]
    samples, names, points = full_resolution_samples(
        faces, landmarks, [f"dev{i}" for i in range(4)], seed=5, config=TINY, synth_params=scorer_task["synth"]
    )
    assert [s.label for s in samples[:3]] == [0, 1, 1] and samples[0].image.shape == faces[0].shape

    def brightness_change(face, points):  # a stand-in unsupervised score: darker than the clean face
        return {"stub.darkening": float(faces[0].mean() - face.mean())}

    table = score_table(out.scorer, samples, names, points, unsupervised=brightness_change)
    assert {PROBABILITY_COLUMN, "supervised.severity", "stub.darkening", "label", "family"} <= set(table.columns)
    assert len(table) == 12 and table["family"].tolist()[:3] == ["normal", "patch", "patch"]
    fusion = fit_default_fusion(table, unsupervised_columns=["stub.darkening"], checkpoint=out.checkpoint)
    assert fusion.features == [PROBABILITY_COLUMN, "stub.darkening"]
    assert fusion.provenance["kind"] == "score_fusion" and fusion.provenance["params"]["rows"] == 12
    assert fusion.provenance["supervised_checkpoint_sha1"] == hashlib.sha1(out.checkpoint).hexdigest()
    fused = fusion.fuse(table)
    assert fused.shape == (12,) and np.isfinite(fused).all()
    assert fusion.provenance["params"]["target"] == "severity"
    binary = fit_default_fusion(
        table, unsupervised_columns=["stub.darkening"], checkpoint=out.checkpoint, target="label"
    )
    assert binary.provenance["params"]["target"] == "label" and binary.coefficients != fusion.coefficients
    with pytest.raises(ValueError, match="target must be 'severity' or 'label'"):
        fit_default_fusion(table, unsupervised_columns=["stub.darkening"], checkpoint=out.checkpoint, target="grade")


def test_full_resolution_rows_do_not_depend_on_workers_or_tasks(trained_scorer, scorer_task):
    """The rows made a few faces at a time, here or in two processes, are the rows made all at
    once: each face's rows are numbered as in the whole set (seeds, families in turn)."""
    import functools

    from facial_anomaly.pipelines.train_supervised.nodes import _unsupervised_columns
    from facial_anomaly.supervised.fused import full_resolution_samples, full_resolution_table, score_table

    out = trained_scorer["out"]
    faces, landmarks = scorer_task["faces"][8:], scorer_task["landmarks"][8:]
    names = [f"dev{i}" for i in range(len(faces))]
    options = dict(seed=5, config=TINY, synth_params=scorer_task["synth"])
    columns = ("mirror.pse_ycbcr_eroded__mouth_nose",)
    samples, sample_names, points = full_resolution_samples(faces, landmarks, names, **options)
    expected = score_table(out.scorer, samples, sample_names, points, unsupervised=_unsupervised_columns(columns, {}))
    assert expected["severity"].nunique() > 3  # the severities go in turn over the faces
    for workers, faces_per_task in ((1, 1), (2, 3)):
        table = full_resolution_table(
            out.scorer,
            faces,
            landmarks,
            names,
            unsupervised=functools.partial(_unsupervised_columns, columns, {}),
            workers=workers,
            faces_per_task=faces_per_task,
            **options,
        )
        pd.testing.assert_frame_equal(table, expected)
    with pytest.raises(ValueError, match="faces_per_task must be ≥ 1"):
        full_resolution_table(out.scorer, faces, landmarks, names, faces_per_task=0, **options)


def test_configure_lays_the_parameters_over_a_preset():
    from facial_anomaly.supervised.trainer import configure

    config = configure(
        {
            "training": {"steps": 3000},
            "scorer": {"network": {"comparison": "stacked"}},
            "anomalies": {"families": {"lip": 1}},
        }
    )
    assert config.training.steps == 3000 and config.training.faces_per_batch == 16
    assert config.scorer.network.comparison == "stacked" and config.anomalies.active_families() == ("lip",)
    assert configure(preset_name="smoke_test") == preset("smoke_test")
    with pytest.raises(ValueError, match=r"training\.stpes: unknown setting"):
        configure({"training": {"stpes": 10}})
    with pytest.raises(ValueError, match="steps"):
        configure({"training": {"steps": 0}})


def test_the_gpu_preset_fine_tunes_the_imagenet_trunk_and_round_trips(scorer_task):
    """The GPU preset, two steps on the CPU: EfficientNet-Lite0 starts from the packaged
    ImageNet weights, trains, and its checkpoint loads back to the same scores."""
    from facial_anomaly.features.backbone import weights_file

    config = preset("gpu")
    training = config.training.model_copy(
        update={"steps": 2, "faces_per_batch": 2, "warmup_steps": 1, "eval_every": 2, "smoothing": 1, "workers": 0}
    )
    out = train(
        scorer_task["faces"],
        scorer_task["landmarks"],
        scorer_task["splits"],
        synth_params=scorer_task["synth"],
        config=config.model_copy(update={"training": training}),
    )
    stem = torch.load(weights_file(), map_location="cpu", weights_only=True)["_conv_stem.weight"]  # (32, 3, 3, 3)
    trained = dict(out.scorer.network.named_parameters())["encoder.stem.0.weight"].detach()
    # The RGB input channels start from ImageNet's stem (the extra ones at zero) and barely move in 2 steps.
    assert trained.shape[1] > 3 and torch.allclose(trained[:, :3], stem, atol=0.05)
    assert not torch.allclose(trained[:, :3], stem, atol=0.0)  # but they did train
    loaded = load_scorer(out.checkpoint, "cpu")
    faces, points = scorer_task["faces"][:2], scorer_task["landmarks"][:2]
    np.testing.assert_allclose(
        loaded.score_batch(faces, points)[0], out.scorer.score_batch(faces, points)[0], atol=1e-6
    )


@pytest.mark.parametrize("comparison", ["single", "siamese"])
def test_a_face_and_its_mirror_image_score_the_same(scorer_task, comparison):
    from facial_anomaly.faces.mesh import mirrored_landmarks
    from facial_anomaly.supervised.scorer import ScorerConfig, SupervisedScorer, build_network

    torch.manual_seed(3)
    config = ScorerConfig(network=TINY.scorer.network.model_copy(update={"comparison": comparison}))
    scorer = SupervisedScorer(config, build_network(config, pretrained=False))
    face, landmarks = scorer_task["faces"][0], scorer_task["landmarks"][0]
    mirror_face, mirror_points = np.ascontiguousarray(face[:, ::-1]), mirrored_landmarks(landmarks, face.shape[1])
    # Flipped inputs (and partners) are exactly the inputs of the mirrored face: same scores.
    (canvas,) = scorer.canvases([face], [landmarks])
    faces, partners = scorer.inputs([canvas.image], landmarks=[canvas.landmarks])
    flipped = scorer.score_inputs(faces.flip(-1), None if partners is None else partners.flip(-1))
    np.testing.assert_allclose(flipped[0], scorer.score_inputs(faces, partners)[0], rtol=1e-6)
    # From the photos: equal up to the resampling of the canvas.
    averaged = scorer.score_batch([face, mirror_face], [landmarks, mirror_points])[0]
    assert abs(averaged[0] - averaged[1]) < 0.02 * averaged.mean()
    scorer.mirror_average = False
    one_sided = scorer.score_batch([face, mirror_face], [landmarks, mirror_points])[0]
    assert abs(one_sided[0] - one_sided[1]) > 5 * abs(averaged[0] - averaged[1])


def test_the_mirror_average_needs_views_symmetric_about_the_midline(scorer_task):
    from facial_anomaly.supervised.crops import CropConfig
    from facial_anomaly.supervised.scorer import ScorerConfig, SupervisedScorer, build_network

    config = ScorerConfig(crops=CropConfig(lower_face_box=(-0.75, 1.25, 0.25, 2.25)), network=TINY.scorer.network)
    scorer = SupervisedScorer(config, build_network(config, pretrained=False))
    face, landmarks = scorer_task["faces"][0], scorer_task["landmarks"][0]
    with pytest.raises(ValueError, match=r"crops\.lower_face_box"):
        scorer.score_batch([face], [landmarks])
    scorer.mirror_average = False
    assert scorer.score_batch([face], [landmarks])[0].shape == (1,)


def test_dense_targets_are_the_changed_flag_or_the_saturated_share():
    from facial_anomaly.supervised.trainer import TrainingConfig, configure, dense_targets

    share = torch.tensor([0.0, 0.01, 0.02, 0.05, 0.1, 0.4])
    binary = dense_targets(share, TrainingConfig(dense_threshold=0.02))
    assert binary.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    soft = dense_targets(share, TrainingConfig(dense_target="share", dense_saturation=0.1))
    assert torch.allclose(soft, torch.tensor([0.0, 0.1, 0.2, 0.5, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"training\.dense_target"):
        configure({"training": {"dense_target": "area"}})


def test_full_resolution_rows_can_have_their_landmarks_measured(astronaut_aligned, synth_block):
    """With ``measure_landmarks`` FaceMesh measures every row, so a palsy droop moves the mouth
    landmarks as it would in a scored photo; without it every row keeps the source face's."""
    from facial_anomaly.supervised.fused import full_resolution_samples
    from facial_anomaly.supervised.trainer import configure

    face, points = astronaut_aligned["rgb"], astronaut_aligned["landmarks"]
    options = dict(
        seed=3,
        config=configure({"anomalies": {"families": {"palsy": 1}}}),
        synth_params=synth_block,
        anomalous_per_face=3,
    )
    samples, _, given = full_resolution_samples([face], [points], ["astronaut"], **options)
    _, _, measured = full_resolution_samples([face], [points], ["astronaut"], measure_landmarks=True, **options)
    assert [s.severity for s in samples] == [0, 2, 3, 4]
    assert all(np.array_equal(p, points) for p in given)

    def shift(a, b):
        return np.linalg.norm(a[:, :2] - b[:, :2], axis=1)

    # The clean row measured again: FaceMesh's own noise on another crop of the same face.
    assert np.median(shift(measured[0], points)) < 3 and shift(measured[0], points).max() < 8
    # Severity 4 droops the mouth corner by more than that noise.
    assert shift(measured[3], measured[0]).max() > 8


def test_the_mirror_partner_can_lie_on_the_faces_normal_shape(astronaut_aligned):
    """With ``partner_shape`` the partner is warped onto the shape model's normal shape of the
    measured landmarks, so a drooped mouth corner no longer drags the partner along."""
    from facial_anomaly.faces.mesh import NUM_MESH_POINTS
    from facial_anomaly.normalizers import ShapeModel, symmetric_landmarks
    from facial_anomaly.scoring.shape_residual import normal_shape_landmarks
    from facial_anomaly.supervised.scorer import SupervisedScorer, build_network

    base = symmetric_landmarks(astronaut_aligned["landmarks"])
    rng = np.random.default_rng(0)
    shapes = []
    for _ in range(20):
        shape = base.copy()
        shape[:, :2] = shape[:, :2] * (1 + rng.normal(0, 0.02)) + rng.normal(0, 2, 2)
        shapes.append(shape)
    model = ShapeModel.fit(shapes, explained_variance=0.98, max_components=10, mirror_augment=True,
                           procrustes_iterations=10, procrustes_tolerance=1e-7)  # fmt: skip
    network = TINY.scorer.network.model_copy(update={"comparison": "stacked"})
    config = TINY.scorer.model_copy(update={"network": network, "partner": "mirror"})
    torch.manual_seed(0)
    scorer = SupervisedScorer(config, build_network(config, pretrained=False))
    face = astronaut_aligned["rgb"]
    drooped = base.copy()
    corner = drooped[61, :2].copy()
    near = np.linalg.norm(drooped[:NUM_MESH_POINTS, :2] - corner, axis=1) < 25
    drooped[:NUM_MESH_POINTS][near, 1] += 10.0  # FaceMesh following a 10 px droop
    plain = scorer.score_batch([face], [drooped])[0]
    scorer.partner_shape = model
    on_shape = scorer.score_batch([face], [drooped])[0]
    assert abs(on_shape[0] - plain[0]) > 1e-4  # the partner changed
    canvas = scorer.canvases([face], [drooped])[0]
    target = normal_shape_landmarks(drooped, model)
    expected = target.copy()
    expected[:, :2] = target[:, :2] @ canvas.matrix[:, :2].T + canvas.matrix[:, 2]
    expected[:, 2] *= np.hypot(*canvas.matrix[:, 0])  # depth in canvas pixels, as the canvas's own landmarks
    (points,) = scorer.partner_landmarks([canvas], [drooped])
    np.testing.assert_allclose(points, expected)
    unmoved = scorer.partner_landmarks([canvas], [base])[0]
    np.testing.assert_allclose(  # an undrooped symmetric face's partner lies on its canvas landmarks (depth too)
        unmoved[:, 2], scorer.canvases([face], [base])[0].landmarks[:, 2]
    )
    np.testing.assert_allclose(scorer.score_canvases([canvas], partner_landmarks=[expected])[0], on_shape)
    # the corner's partner landmark goes back towards the undrooped shape (canvas pixels)
    undrooped = base[61, :2] @ canvas.matrix[:, :2].T + canvas.matrix[:, 2]
    measured = drooped[61, :2] @ canvas.matrix[:, :2].T + canvas.matrix[:, 2]
    assert np.linalg.norm(points[61, :2] - undrooped) < 0.5 * np.linalg.norm(measured - undrooped)
    assert grad_cam(scorer, face, None, drooped, tap=0).shape == face.shape[:2]  # Grad-CAM sees the same partner
    # a single-branch scorer has no partner to move
    single = SupervisedScorer(TINY.scorer, build_network(TINY.scorer, pretrained=False))
    single.partner_shape = model
    assert single.partner_landmarks([canvas], [drooped]) is None


def test_bfloat16_steps_train_reproducibly_and_score_in_float32(scorer_task):
    from facial_anomaly.supervised.trainer import autocast_dtype, native_bfloat16

    runs = [_train_tiny(scorer_task, precision="bfloat16") for _ in range(2)]
    first, second = (run.result.best_state_dict for run in runs)
    assert runs[0].precision == "bfloat16"
    assert all(torch.equal(first[key], second[key]) for key in first)
    # the weights stay float32 and differ from a float32 run's (the steps did run in bfloat16)
    assert all(value.dtype != torch.bfloat16 for value in first.values())
    float32 = _train_tiny(scorer_task, precision="float32")
    assert float32.precision == "float32"
    assert any(not torch.equal(first[key], float32.result.best_state_dict[key]) for key in first)
    probabilities, _ = runs[0].scorer.score_batch(scorer_task["faces"][:2], scorer_task["landmarks"][:2])
    assert probabilities.dtype == np.float64 and np.all((probabilities >= 0) & (probabilities <= 1))

    cpu = torch.device("cpu")
    assert autocast_dtype("float32", cpu) is None and autocast_dtype("bfloat16", cpu) == torch.bfloat16
    assert autocast_dtype("auto", cpu) == (torch.bfloat16 if native_bfloat16(cpu) else None)
    with pytest.raises(ValueError, match="training.precision"):
        autocast_dtype("float16", cpu)
    from facial_anomaly.supervised.trainer import configure

    with pytest.raises(ValueError, match="precision"):
        configure({"training": {"precision": "float16"}})


def test_the_two_layouts_train_reproducibly_to_nearly_the_same_weights(scorer_task):
    from facial_anomaly.supervised.trainer import ScorerTask

    runs = [_train_tiny(scorer_task), _train_tiny(scorer_task, memory_format="channels_last")]  # the default
    first, second = (run.result.best_state_dict for run in runs)
    assert all(torch.equal(first[key], second[key]) for key in first)
    contiguous = [_train_tiny(scorer_task, memory_format="contiguous").result.best_state_dict for _ in range(2)]
    assert all(torch.equal(contiguous[0][key], contiguous[1][key]) for key in first)
    contiguous = contiguous[0]
    # the same arithmetic in another order: equal up to rounding
    assert max(float((first[key].float() - contiguous[key].float()).abs().max()) for key in first) < 1e-3
    probabilities, _ = runs[0].scorer.score_batch(scorer_task["faces"][:2], scorer_task["landmarks"][:2])
    assert np.all((probabilities >= 0) & (probabilities <= 1))

    def layouts(**training):
        config = TINY.model_copy(update={"training": TINY.training.model_copy(update=training)})
        task = ScorerTask(config, [], None, scorer_task["synth"], torch.device("cpu"))
        weights = [p for p in task.model.parameters() if p.dim() == 4]
        return {w.is_contiguous(memory_format=torch.channels_last) for w in weights if min(w.shape[2:]) > 1}

    assert layouts() == {True} and layouts(precision="bfloat16") == {True}
    assert layouts(memory_format="contiguous") == {False}
    with pytest.raises(ValueError, match="memory_format"):
        from facial_anomaly.supervised.trainer import configure

        configure({"training": {"memory_format": "nhwc"}})


def test_the_graded_target_trains_the_logit_and_its_cut_points(scorer_task):
    out = _train_tiny(scorer_task, anomaly_target="graded")
    assert "train_grade_bce" in out.history.columns and np.isfinite(out.history["train_grade_bce"]).all()
    binary = _train_tiny(scorer_task, anomaly_target="binary")
    assert "train_grade_bce" not in binary.history.columns
    first, other = out.result.best_state_dict, binary.result.best_state_dict
    assert set(first) == set(other)  # the cut-points are not part of the scorer
    assert any(not torch.equal(first[key], other[key]) for key in first)


def test_graded_bce_has_exact_values_and_increasing_cut_points():
    from facial_anomaly.supervised.trainer import graded_bce

    # softplus(steps) = [1, 1, 1]: cut-points 1, 2, 3
    steps = torch.full((3,), float(np.log(np.e - 1.0)), dtype=torch.float64)
    logits = torch.tensor([2.5, -1.0], dtype=torch.float64)
    severities = torch.tensor([3, 0])

    # severity 3: targets (≥2, ≥3, ≥4) = 1, 1, 0 at logits 1.5, 0.5, -0.5; clean: 0, 0, 0 at -2, -3, -4
    def bce(x, y):
        return -(y * np.log(1 / (1 + np.exp(-x))) + (1 - y) * np.log(1 - 1 / (1 + np.exp(-x))))

    expected = np.mean([bce(1.5, 1), bce(0.5, 1), bce(-0.5, 0), bce(-2, 0), bce(-3, 0), bce(-4, 0)])
    assert float(graded_bce(logits, severities, steps)) == pytest.approx(expected, rel=1e-12)
    # a higher grade needs a higher logit: at the severity-4 target the loss falls as the logit rises
    four = torch.tensor([4])
    losses = [float(graded_bce(torch.tensor([x], dtype=torch.float64), four, steps)) for x in (0.0, 2.0, 4.0)]
    assert losses[0] > losses[1] > losses[2]
