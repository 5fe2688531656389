"""Normalize nodes: build the chosen normalizers, produce normalized faces lazily, report,
and draw side-by-side sheets (original | normalized | difference)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from facial_anomaly.faces.tables import landmarks_by_image
from facial_anomaly.normalizers import Normalizer, build_normalizer
from facial_anomaly.normalizers.sheets import comparison_sheet

from .._aligned import load_aligned, ok_image_ids


def selected_normalizers(normalize: dict) -> list[str]:
    """Normalizer names of this run: ``normalize.normalizer`` is one name or several joined
    by ``+`` (``symmetry+shape_model``); the first is the default for scoring."""
    names = [name.strip() for name in str(normalize["normalizer"]).split("+") if name.strip()]
    if not names:
        raise ValueError("normalize.normalizer is empty; name at least one normalizer")
    return names


STYLEGAN2 = "stylegan2"
RECONSTRUCTION_MODELS = ("ganomaly", "autoencoder")


def build_reconstruction(name: str, checkpoints: dict[str, Callable], train_reconstruction: dict) -> Normalizer:
    """A trained GANomaly / autoencoder normalizer from the latest checkpoint of
    ``train_reconstruction``, or a clear error saying how to train one."""
    from facial_anomaly.normalizers import create
    from facial_anomaly.normalizers.reconstruction.checkpoint import model_from_bytes

    if f"{name}.pt" not in checkpoints:
        raise ValueError(
            f"normalizer {name!r} needs a trained model: run "
            "kedro run --pipeline synthesize, then kedro run --pipeline train_reconstruction"
        )
    from facial_anomaly.devices import resolve_device

    device = train_reconstruction["device"]
    model = model_from_bytes(checkpoints[f"{name}.pt"](), resolve_device(device))
    return create(name, model=model, device=device, **train_reconstruction["normalizer"])


def build_stylegan2(stylegan2: dict, stylegan2_presets: dict) -> Normalizer:
    """The StyleGAN2 normalizer of the chosen preset (imported only when asked for: it
    loads torch, LPIPS and the generator weights)."""
    from facial_anomaly.normalizers.stylegan2 import StyleGAN2Normalizer
    from facial_anomaly.normalizers.stylegan2.config import resolve_preset

    return StyleGAN2Normalizer(**resolve_preset(stylegan2, stylegan2_presets))


def build_normalizers(
    normalize: dict,
    shape_model,
    appearance_model,
    stylegan2: dict,
    stylegan2_presets: dict,
    reconstruction_checkpoints: dict[str, Callable],
    train_reconstruction: dict,
) -> dict[str, Normalizer]:
    """The configured normalizers, or a clear error naming the model to fit first."""
    built = {}
    for name in selected_normalizers(normalize):
        if name == STYLEGAN2:
            built[name] = build_stylegan2(stylegan2, stylegan2_presets)
            continue
        if name in RECONSTRUCTION_MODELS:
            built[name] = build_reconstruction(name, reconstruction_checkpoints, train_reconstruction)
            continue
        try:
            built[name] = build_normalizer(
                name, normalize["normalizers"], shape_model=shape_model, appearance_model=appearance_model
            )
        except ValueError as error:
            if "needs a fitted" in str(error):
                raise ValueError(
                    f"{error}. Fit the models of normal faces first: "
                    "kedro run --pipeline fit_normal_models --params input_dir=<folder of normal face photos>"
                ) from error
            raise
    return built


def _normalization_input_problem(landmarks: np.ndarray | None) -> str:
    if landmarks is None:
        return "no landmarks for this face"
    if landmarks.shape != (478, 3) or not np.isfinite(landmarks).all():
        return "landmarks are incomplete or not finite"
    return ""


def normalize_faces(
    aligned_faces: dict[str, Callable],
    face_geometry: pd.DataFrame,
    landmarks: pd.DataFrame,
    shape_model,
    appearance_model,
    normalize: dict,
    stylegan2: dict,
    stylegan2_presets: dict,
    reconstruction_checkpoints: dict[str, Callable],
    train_reconstruction: dict,
) -> tuple[dict[str, Callable[[], np.ndarray]], pd.DataFrame]:
    """Normalized faces, lazily, as ``<normalizer>/<image_id>`` partitions, and a report
    with one row per (input file, normalizer): ``ok`` or why it was not normalized, and
    ``model_score``, the normalizer's own anomaly score where it has one (GANomaly's
    A(x) = ‖G_E(x) − E(G(x))‖₁, the autoencoder's reconstruction error)."""
    normalizers = build_normalizers(
        normalize,
        shape_model,
        appearance_model,
        stylegan2,
        stylegan2_presets,
        reconstruction_checkpoints,
        train_reconstruction,
    )
    ok_ids = set(ok_image_ids(face_geometry, aligned_faces))
    points_by_id = landmarks_by_image(landmarks[landmarks["image_id"].isin(ok_ids)])
    outputs: dict[str, Callable[[], np.ndarray]] = {}
    rows = []

    def make(normalizer: Normalizer, image_id: str) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            rgb, _ = load_aligned(aligned_faces, image_id)
            return normalizer.normalize(rgb, points_by_id[image_id]).image

        return run

    for record in face_geometry[["image_id", "image", "status"]].to_dict("records"):
        image_id = record["image_id"]
        for name, normalizer in normalizers.items():
            row = {**record, "normalizer": name}
            if record["status"] != "ok":
                rows.append(row)  # rejected upstream: passed on with its reason
                continue
            if image_id not in ok_ids:
                rows.append({**row, "status": "missing_aligned_face"})
                continue
            problem = _normalization_input_problem(points_by_id.get(image_id))
            if problem:
                rows.append({**row, "status": "invalid_landmarks", "detail": problem})
                continue
            outputs[f"{name}/{image_id}"] = make(normalizer, image_id)
            if hasattr(normalizer, "anomaly_score"):  # cheap, so computed here, one face at a time
                row["model_score"] = float(normalizer.anomaly_score(load_aligned(aligned_faces, image_id)[0]))
            rows.append(row)
    report = pd.DataFrame(rows, columns=["image_id", "image", "normalizer", "status", "detail", "model_score"])
    return outputs, report


def draw_comparison_sheets(
    aligned_faces: dict[str, Callable],
    normalized_faces: dict[str, Callable],
    normalize_report: pd.DataFrame,
    normalize: dict,
    sheet: dict,
) -> dict[str, np.ndarray]:
    """One sheet per normalizer: rows of original | normalized | amplified difference for
    the first ``sheet["faces"]`` normalized faces."""
    sheets = {}
    done = normalize_report[normalize_report["status"] == "ok"]
    for name in selected_normalizers(normalize):
        image_ids = done.loc[done["normalizer"] == name, "image_id"].head(sheet["faces"]).tolist()
        pairs = [
            (load_aligned(aligned_faces, image_id)[0], normalized_faces[f"{name}/{image_id}"]())
            for image_id in image_ids
            if f"{name}/{image_id}" in normalized_faces
        ]
        if pairs:
            sheets[name] = comparison_sheet(pairs, difference_gain=sheet["difference_gain"])
    return sheets
