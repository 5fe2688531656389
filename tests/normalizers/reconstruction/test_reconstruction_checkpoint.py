"""Checkpoints: identical scores after a round trip, and clear errors for bad files."""

from __future__ import annotations

import io
import pickle

import pytest
import torch
from reconstruction_helpers import TINY_AUTOENCODER, TINY_GANOMALY

from facial_anomaly.normalizers.reconstruction import (
    build_model,
    faces_to_tensor,
    load_model,
    load_training_state,
    model_from_bytes,
    model_to_bytes,
    save_model,
    save_training_state,
    training_state_to_bytes,
)
from facial_anomaly.normalizers.reconstruction.checkpoint import FORMAT_NAME, _model_payload


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(TINY_GANOMALY).eval()


@pytest.fixture(scope="module")
def images(generated_faces):
    return faces_to_tensor(generated_faces["held_out"], build_model(TINY_GANOMALY).crop, 32)


def test_file_and_bytes_round_trips_give_identical_scores(model, images, tmp_path):
    expected = model.anomaly_score(images)
    from_file = load_model(save_model(model, tmp_path / "m.pt"), "cpu")
    from_bytes = model_from_bytes(model_to_bytes(model))
    for loaded in (from_file, from_bytes):
        assert loaded.config_dict() == model.config_dict() and not loaded.training
        assert torch.equal(loaded.anomaly_score(images), expected)
        assert torch.equal(loaded.reconstruct(images), model.reconstruct(images))


def test_a_training_checkpoint_loads_its_best_weights(trained, images, tmp_path):
    result = trained["autoencoder"]
    path = save_training_state(result.state, tmp_path / "train.pt")
    assert torch.equal(load_model(path).anomaly_score(images), result.best_model().anomaly_score(images))
    state = load_training_state(training_state_to_bytes(result.state))
    assert state.epoch == result.epochs_run and state.history == result.history


def test_only_tensor_data_is_ever_unpickled(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT_NAME, "payload": io.StringIO("code")}, path)  # needs a class to unpickle
    with pytest.raises(ValueError, match="not a readable reconstruction checkpoint"):
        load_model(path)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pt"):
        load_model(tmp_path / "nowhere.pt")


@pytest.mark.parametrize("damage", ["random", "truncated", "pickle"])
def test_corrupt_files_give_a_clear_value_error(model, tmp_path, damage):
    data = model_to_bytes(model)
    path = tmp_path / "bad.pt"
    if damage == "random":
        path.write_bytes(b"\x00not a checkpoint" * 100)
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(pickle.dumps({"format": "something else"}, protocol=2))
    with pytest.raises(ValueError, match="bad.pt"):
        load_model(path)


def test_other_torch_files_and_versions_are_refused(model, tmp_path):
    path = tmp_path / "plain.pt"
    torch.save(model.state_dict(), path)
    with pytest.raises(ValueError, match=f"not a {FORMAT_NAME} checkpoint"):
        load_model(path)
    torch.save({**_model_payload(model), "version": 99}, path)
    with pytest.raises(ValueError, match="version 99"):
        load_model(path)
    torch.save({**_model_payload(model), "config_json": "{broken"}, path)
    with pytest.raises(ValueError, match="not valid JSON"):
        load_model(path)
    with pytest.raises(ValueError, match="resuming needs a training checkpoint"):
        load_training_state(save_model(model, path))


def test_wrong_architecture_lists_missing_unexpected_and_mismatched_keys(model, tmp_path):
    payload = _model_payload(model)
    state = dict(payload["state_dict"])
    state.pop("generator.decoder.main.0.weight")
    state["generator.extra.weight"] = torch.zeros(1)
    state["discriminator.body.final.weight"] = torch.zeros(2, 2)
    torch.save({**payload, "state_dict": state}, tmp_path / "arch.pt")
    with pytest.raises(ValueError) as error:
        load_model(tmp_path / "arch.pt")
    message = str(error.value)
    assert "1 missing keys [generator.decoder.main.0.weight]" in message
    assert "1 unexpected keys [generator.extra.weight]" in message
    assert "discriminator.body.final.weight: expected (1, 32, 4, 4), found (2, 2)" in message
    # the weights of one architecture under the config of another
    autoencoder = build_model(TINY_AUTOENCODER)
    torch.save({**payload, "config_json": _model_payload(autoencoder)["config_json"]}, tmp_path / "swap.pt")
    with pytest.raises(ValueError, match="does not match the autoencoder architecture"):
        load_model(tmp_path / "swap.pt")
