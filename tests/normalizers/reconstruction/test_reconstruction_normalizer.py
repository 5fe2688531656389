"""The "ganomaly" and "autoencoder" normalizers: registry, construction, outputs, scores."""

from __future__ import annotations

import numpy as np
import pytest
from reconstruction_helpers import PASTE, TINY_AUTOENCODER, TINY_GANOMALY, TINY_TRAINING, painted_defect

from facial_anomaly.faces.landmarks import NUM_LANDMARKS
from facial_anomaly.normalizers import available, create
from facial_anomaly.normalizers.reconstruction import GanomalyNormalizer, save_model

LANDMARKS = np.full((NUM_LANDMARKS, 3), 32.0)  # the generated faces have no mesh; unused by these normalizers
FIT_TRAINING = {key: value for key, value in TINY_TRAINING.items() if key != "device"}  # the `training` block


def normalizer_from(result, tmp_path, name: str):
    path = save_model(result.best_model(), tmp_path / f"{name}.pt")
    return create(name, checkpoint=str(path), device="cpu", batch_size=4, paste=PASTE)


def test_registered_under_their_names():
    assert {"ganomaly", "autoencoder"} <= set(available())


@pytest.mark.parametrize("name", ["ganomaly", "autoencoder"])
def test_normalize_pastes_the_reconstruction_inside_the_crop_only(trained, generated_faces, tmp_path, name):
    normalizer = normalizer_from(trained[name], tmp_path, name)
    face = generated_faces["held_out"][0]
    out = normalizer.normalize(face, LANDMARKS)
    assert out.image.shape == face.shape and out.image.dtype == np.uint8
    x0, y0, side = normalizer.model.crop.box(*face.shape[:2])
    outside = np.ones(face.shape[:2], bool)
    outside[y0 : y0 + side, x0 : x0 + side] = False
    np.testing.assert_array_equal(out.image[outside], face[outside])
    assert np.abs(out.image.astype(int) - face)[~outside].mean() > 0
    batch = normalizer.normalize_batch(generated_faces["held_out"][:3])
    np.testing.assert_array_equal(batch[0].image, out.image)


@pytest.mark.parametrize("name", ["ganomaly", "autoencoder"])
def test_a_painted_defect_scores_higher_than_the_clean_face(trained, generated_faces, tmp_path, name):
    normalizer = normalizer_from(trained[name], tmp_path, name)
    clean_faces = generated_faces["held_out"]
    clean = normalizer.anomaly_scores(clean_faces)
    defect = normalizer.anomaly_scores([painted_defect(face) for face in clean_faces])
    assert np.isfinite(clean).all() and np.isfinite(defect).all()
    assert defect.mean() > clean.mean()
    assert (defect > clean).mean() >= 0.75  # for most faces, pairwise
    assert normalizer.anomaly_score(clean_faces[0]) == pytest.approx(clean[0])


def test_scores_of_black_and_flat_faces_are_finite(trained):
    normalizer = GanomalyNormalizer(model=trained["ganomaly"].best_model(), device="cpu", batch_size=2, paste=PASTE)
    faces = [np.zeros((64, 64, 3), np.uint8), np.full((64, 64, 3), 255, np.uint8), np.full((64, 64, 3), 128, np.uint8)]
    scores = normalizer.anomaly_scores(faces)
    assert np.isfinite(scores).all() and (scores >= 0).all()
    assert np.isfinite(normalizer.normalize(faces[0], LANDMARKS).image).all()


def test_construction_errors(trained, tmp_path):
    path = save_model(trained["autoencoder"].best_model(), tmp_path / "ae.pt")
    with pytest.raises(ValueError, match="'autoencoder' model; the 'ganomaly' normalizer needs 'ganomaly'"):
        create("ganomaly", checkpoint=str(path), device="cpu", batch_size=4, paste=PASTE)
    with pytest.raises(ValueError, match="exactly one of"):
        create("ganomaly", device="cpu", batch_size=4, paste=PASTE)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        create("ganomaly", checkpoint=str(tmp_path / "missing.pt"), device="cpu", batch_size=4, paste=PASTE)
    unfitted = create(
        "ganomaly",
        model_config=TINY_GANOMALY,
        training={**FIT_TRAINING, "epochs": 1},
        device="cpu",
        batch_size=4,
        paste=PASTE,
    )
    with pytest.raises(RuntimeError, match="fit"):
        unfitted.anomaly_score(np.zeros((64, 64, 3), np.uint8))


def test_fit_trains_the_configured_model(generated_faces, tmp_path):
    normalizer = create(
        "autoencoder",
        model_config=TINY_AUTOENCODER,
        training={**FIT_TRAINING, "epochs": 1},
        device="cpu",
        batch_size=4,
        paste=PASTE,
    )
    faces = generated_faces["train"][:8]
    assert normalizer.fit(faces, [LANDMARKS] * len(faces)) is normalizer
    assert normalizer.training_result.epochs_run == 1
    normalizer.save(str(tmp_path / "fitted.pt"))
    again = create("autoencoder", checkpoint=str(tmp_path / "fitted.pt"), device="cpu", batch_size=4, paste=PASTE)
    assert again.anomaly_score(faces[0]) == normalizer.anomaly_score(faces[0])


def test_the_normalize_settings_are_accepted(trained):
    from facial_anomaly.normalizers.config import NormalizeConfig

    settings = NormalizeConfig().reconstruction
    GanomalyNormalizer(
        model=trained["ganomaly"].best_model(),
        device=settings.device,
        batch_size=settings.batch_size,
        paste=dict(settings.paste),
    )
