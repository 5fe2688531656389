"""Heatmap nodes: difference maps of the chosen variant, region masks and colour overlays,
all produced lazily (one image at a time while saving)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from facial_anomaly.faces import decode_image
from facial_anomaly.faces.tables import landmarks_by_image, matrix_from_row
from facial_anomaly.heatmaps import heatmap, overlay_heatmap, overlay_on_original, region_mask
from facial_anomaly.supervised import grad_cam

from .._aligned import load_aligned, ok_image_ids
from .._normalized import normalized_key, normalized_rows
from .._supervised import TrainedModel, load_supervised_input, load_trained_models, supervised_face_ids
from ..normalize.nodes import selected_normalizers


def _heatmap_settings(heatmaps: dict) -> dict:
    keys = ("kind", "color_space", "erosion_size", "erosion_iterations", "channel_reduction", "kind_options")
    return {key: heatmaps[key] for key in keys}


def compute_heatmaps(
    aligned_faces: dict[str, Callable],
    normalized_faces: dict[str, Callable],
    normalize_report: pd.DataFrame,
    heatmaps: dict,
) -> dict[str, Callable[[], np.ndarray]]:
    """H×W float32 difference map (``heatmaps`` settings: kind, colour space, erosion) per
    normalized face, as ``<normalizer>/<image_id>`` partitions."""
    settings = _heatmap_settings(heatmaps)

    def make(normalizer: str, image_id: str) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            original, _ = load_aligned(aligned_faces, image_id)
            return heatmap(original, normalized_faces[normalized_key(normalizer, image_id)](), **settings)

        return run

    rows = normalized_rows(normalize_report, normalized_faces)
    return {normalized_key(n, i): make(n, i) for n, i in zip(rows["normalizer"], rows["image_id"])}


def build_region_masks(
    aligned_faces: dict[str, Callable], face_geometry: pd.DataFrame, landmarks: pd.DataFrame, scores: dict
) -> dict[str, Callable[[], np.ndarray]]:
    """Boolean region masks (8-bit PNG, 255 inside) per face and region of
    ``scores.regions``, as ``<region>/<image_id>`` partitions."""
    image_ids = ok_image_ids(face_geometry, aligned_faces)
    points = landmarks_by_image(landmarks[landmarks["image_id"].isin(image_ids)])
    region_params = scores["regions"]

    def make(region: str, image_id: str) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            shape = load_aligned(aligned_faces, image_id)[0].shape
            mask = region_mask(points[image_id], shape, region, **region_params[region])
            return mask.astype(np.uint8) * 255

        return run

    return {f"{region}/{image_id}": make(region, image_id) for region in region_params for image_id in image_ids}


def _overlays(
    aligned_faces: dict[str, Callable],
    maps: dict[str, Callable],
    keys: dict[str, str],
    raw_images: dict[str, Callable],
    alignment: pd.DataFrame,
    normalize_report: pd.DataFrame,
    style: dict,
    preprocess: dict,
) -> tuple[dict[str, Callable[[], np.ndarray]], dict[str, Callable[[], np.ndarray]]]:
    """Lazy overlays of ``maps[key]`` for each ``key → image_id`` of ``keys``: over the
    aligned face, and mapped back onto the original photo through the inverse alignment."""
    matrices = {row["image_id"]: matrix_from_row(row) for row in alignment.to_dict("records")}
    images = dict(zip(normalize_report["image_id"], normalize_report["image"]))

    def on_face(key: str, image_id: str) -> Callable[[], np.ndarray]:
        return lambda: overlay_heatmap(load_aligned(aligned_faces, image_id)[0], maps[key](), **style)

    def on_photo(key: str, image_id: str) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            photo = decode_image(raw_images[images[image_id]](), **preprocess["decode"]).rgb
            return overlay_on_original(photo, maps[key](), matrices[image_id], **style)

        return run

    face_overlays, photo_overlays = {}, {}
    for key, image_id in keys.items():
        if key not in maps or image_id not in matrices:
            continue
        face_overlays[key] = on_face(key, image_id)
        if images.get(image_id) in raw_images:
            photo_overlays[key] = on_photo(key, image_id)
    return face_overlays, photo_overlays


def _style(overlay: dict) -> dict:
    return {"colormap": overlay["colormap"], "alpha": overlay["alpha"], "vmax": overlay["vmax"]}


def draw_heatmap_overlays(
    aligned_faces: dict[str, Callable],
    heatmap_maps: dict[str, Callable],
    raw_images: dict[str, Callable],
    alignment: pd.DataFrame,
    normalize_report: pd.DataFrame,
    normalize: dict,
    heatmaps: dict,
    preprocess: dict,
) -> tuple[dict[str, Callable[[], np.ndarray]], dict[str, Callable[[], np.ndarray]]]:
    """Colour-mapped heat over the aligned face, and the same mapped back onto the original
    photo through the inverse alignment matrix (``<normalizer>/<image_id>`` PNGs), for the
    run's first (default) normalizer: overlays are for looking at, and full-size photos
    are costly to redraw for every normalizer."""
    default_normalizer = selected_normalizers(normalize)[0]
    done = normalize_report[
        (normalize_report["status"] == "ok") & (normalize_report["normalizer"] == default_normalizer)
    ]
    keys = {normalized_key(n, i): i for n, i in zip(done["normalizer"], done["image_id"])}
    return _overlays(
        aligned_faces,
        heatmap_maps,
        keys,
        raw_images,
        alignment,
        normalize_report,
        _style(heatmaps["overlay"]),
        preprocess,
    )


def compute_cam_heatmaps(
    aligned_faces: dict[str, Callable],
    normalized_faces: dict[str, Callable],
    normalize_report: pd.DataFrame,
    landmarks: pd.DataFrame,
    supervised_checkpoints: dict[str, Callable],
    train_supervised: dict,
) -> dict[str, Callable[[], np.ndarray]]:
    """The Grad-CAM heatmap (Rosero et al. 2024 §5.3; :func:`facial_anomaly.supervised.grad_cam`)
    of every trained supervised model for every face it can score, as ``<model>/<image_id>``
    H×W float32 maps ≥ 0 in the aligned face's pixels (none without a trained model)."""
    normalizer, tap = train_supervised["normalizer"], int(train_supervised["cam"]["tap"])
    points = landmarks_by_image(landmarks[landmarks["image_id"].isin(set(normalize_report["image_id"]))])

    def make(trained: TrainedModel, image_id: str) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            original, partner = load_supervised_input(
                image_id, aligned_faces, normalized_faces, normalizer, with_normalized=trained.needs_normalized
            )
            return grad_cam(trained.model, original, partner, points[image_id], tap=tap)

        return run

    maps = {}
    for name, trained in load_trained_models(supervised_checkpoints, train_supervised).items():
        for image_id in supervised_face_ids(
            aligned_faces, normalized_faces, normalize_report, normalizer, with_normalized=trained.needs_normalized
        ):
            maps[f"{name}/{image_id}"] = make(trained, image_id)
    return maps


def draw_cam_overlays(
    aligned_faces: dict[str, Callable],
    cam_maps: dict[str, Callable],
    raw_images: dict[str, Callable],
    alignment: pd.DataFrame,
    normalize_report: pd.DataFrame,
    train_supervised: dict,
    preprocess: dict,
) -> tuple[dict[str, Callable[[], np.ndarray]], dict[str, Callable[[], np.ndarray]]]:
    """The Grad-CAM maps drawn like the PSE heatmaps: over the aligned face and over the
    original photo (``<model>/<image_id>`` PNGs)."""
    keys = {key: key.split("/", 1)[1] for key in cam_maps}
    return _overlays(
        aligned_faces,
        cam_maps,
        keys,
        raw_images,
        alignment,
        normalize_report,
        _style(train_supervised["cam"]["overlay"]),
        preprocess,
    )
