"""Go one step past Hayajneh et al. 2022: keep the normalized face at several adaptation
steps, and how many steps the generator needs to reconstruct the anomaly region (the
paper's future-work severity index), with the loss curves for MLflow."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from facial_anomaly.faces.tables import landmarks_by_image
from facial_anomaly.heatmaps import region_mask
from facial_anomaly.heatmaps.config import HeatmapsConfig
from facial_anomaly.normalizers.config import NormalizeConfig
from facial_anomaly.normalizers.factory import build_normalizer

from .._aligned import load_aligned, ok_image_ids


def inspect_stylegan2(
    aligned_faces: dict[str, Callable],
    face_geometry: pd.DataFrame,
    landmarks: pd.DataFrame,
    normalize: NormalizeConfig,
    heatmaps: HeatmapsConfig,
    severity_region: str,
) -> tuple[dict[str, np.ndarray], pd.DataFrame, pd.DataFrame]:
    """Snapshots (``<image_id>/step_<k>`` PNGs), a per-face table (``reconstruction_step``
    in ``severity_region``, final inversion loss, seconds) and the per-step loss curves
    averaged over faces (one MLflow metric history each), for the StyleGAN2 preset of
    ``normalize.stylegan2``.

    Faces are held in memory while inverted in batches: this is a GPU job for small sets.
    """
    normalizer = build_normalizer("stylegan2", normalize)
    region = severity_region
    image_ids = ok_image_ids(face_geometry, aligned_faces)
    points = landmarks_by_image(landmarks[landmarks["image_id"].isin(image_ids)])
    faces = [load_aligned(aligned_faces, image_id)[0] for image_id in image_ids]
    masks = [
        region_mask(points[i], face.shape, region, **heatmaps.regions[region]).astype(np.float32)
        for i, face in zip(image_ids, faces)
    ]
    start = time.perf_counter()
    results = normalizer.normalize_batch(faces, masks) if faces else []
    seconds = (time.perf_counter() - start) / max(len(faces), 1)
    snapshots = {
        f"{image_id}/step_{step:04d}": image
        for image_id, result in zip(image_ids, results)
        for step, image in result.snapshots.items()
    }
    table = pd.DataFrame(
        [
            {
                "image_id": image_id,
                "reconstruction_step": result.reconstruction_step,
                "region_heat_at_0": float(result.region_heat[0]) if result.region_heat is not None else np.nan,
                "inversion_loss": result.inversion_loss,
                "seconds": seconds,
            }
            for image_id, result in zip(image_ids, results)
        ],
        columns=["image_id", "reconstruction_step", "region_heat_at_0", "inversion_loss", "seconds"],
    )
    curves = _mean_curves(results)
    return snapshots, table, curves


def _mean_curves(results) -> pd.DataFrame:
    """(step, inversion_loss, noise_loss, adaptation_loss) averaged over faces; NaN past a curve's end."""
    if not results:
        return pd.DataFrame(columns=["step", "inversion_loss", "noise_loss", "adaptation_loss"])
    columns = {
        "inversion_loss": np.mean([r.inversion_losses for r in results], axis=0),
        "noise_loss": np.mean([r.noise_losses for r in results], axis=0),
        "adaptation_loss": np.mean([r.adaptation_losses for r in results], axis=0),
    }
    length = max(len(values) for values in columns.values())
    table = pd.DataFrame({"step": np.arange(length)})
    for name, values in columns.items():
        table[name] = np.pad(values.astype(np.float64), (0, length - len(values)), constant_values=np.nan)
    return table
