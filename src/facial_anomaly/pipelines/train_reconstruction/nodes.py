"""Training nodes for the learned reconstruction normalizers: normal training
faces and the dev split (controls + synthetic anomalies) come from the synthesize stage."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import cv2
import numpy as np
import pandas as pd

from facial_anomaly.normalizers.reconstruction.presets import TrainReconstructionConfig

logger = logging.getLogger(__name__)


def _decode_png(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("a synthetic face is not a readable PNG")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def training_sets(synthetic_faces: dict[str, Callable], synthetic_labels: pd.DataFrame, validation_split: str):
    """(normal training faces, validation faces, validation labels 0/1) of the latest synthetic set."""
    labels = synthetic_labels[synthetic_labels["status"] == "ok"]
    version = labels["dataset_version"].iloc[0]

    def load(images) -> list[np.ndarray]:
        return [_decode_png(synthetic_faces[f"{version}/{image}"]()) for image in images]

    train_rows = labels[(labels["split"] == "train") & (labels["severity"] == 0)]
    val_rows = labels[labels["split"] == validation_split]
    if train_rows.empty or val_rows.empty:
        raise ValueError(
            f"synthetic set {version} has {len(train_rows)} normal training faces and "
            f"{len(val_rows)} {validation_split} faces; both are needed (run synthesize on more people)"
        )
    return load(train_rows["image"]), load(val_rows["image"]), (val_rows["severity"] > 0).astype(int).tolist()


def train_reconstruction_models(
    synthetic_faces: dict[str, Callable],
    synthetic_labels: pd.DataFrame,
    previous_states: dict[str, Callable],
    train_reconstruction: TrainReconstructionConfig,
) -> tuple[dict[str, bytes], dict[str, bytes], pd.DataFrame, dict[str, np.ndarray], dict]:
    """Train every model of ``train_reconstruction.models`` with the chosen preset.

    Returns checkpoints (``<model>.pt`` → best weights, loaded with ``weights_only=True``),
    resumable training states, the per-epoch history (``step`` = epoch; losses and
    validation AUC per model), reconstruction grids of validation faces, and a summary.
    With ``train_reconstruction.resume`` true, training continues from the saved state.
    """
    # torch is imported here, not when the pipelines are registered (start-up).
    from facial_anomaly.normalizers.reconstruction.checkpoint import (
        load_training_state,
        model_to_bytes,
        training_state_to_bytes,
    )
    from facial_anomaly.normalizers.reconstruction.training import reconstruction_grid, train

    train_faces, val_faces, val_labels = training_sets(
        synthetic_faces, synthetic_labels, train_reconstruction.validation_split
    )
    checkpoints, states, grids, summary = {}, {}, {}, {}
    history = pd.DataFrame({"step": pd.Series(dtype=int)})
    for name in train_reconstruction.models:
        config = train_reconstruction.model_preset(name)
        resume = None
        if train_reconstruction.resume and f"{name}.pt" in previous_states:
            resume = load_training_state(previous_states[f"{name}.pt"]())
        start = time.perf_counter()
        result = train(
            config.model,
            train_faces,
            val_faces,
            val_labels,
            device=train_reconstruction.device,
            resume_from=resume,
            **config.training.model_dump(),
        )
        seconds = time.perf_counter() - start
        model = result.best_model()
        checkpoints[f"{name}.pt"] = model_to_bytes(model)
        states[f"{name}.pt"] = training_state_to_bytes(result.state)
        grids[f"{name}.png"] = reconstruction_grid(model, val_faces, train_reconstruction.grid_faces)
        epochs = pd.DataFrame(result.history).rename(columns={"epoch": "step"})
        epochs = epochs.rename(columns={c: f"{name}.{c}" for c in epochs.columns if c != "step"})
        history = history.merge(epochs, on="step", how="outer")
        summary[name] = {
            "best_auc": result.best_auc,
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "stopped_early": result.stopped_early,
            "seconds": seconds,
            "train_faces": len(train_faces),
            "validation_faces": len(val_faces),
        }
        logger.info("trained %s: %s", name, summary[name])
    return checkpoints, states, history, grids, summary
