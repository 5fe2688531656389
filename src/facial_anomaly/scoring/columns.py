"""Named score columns of one face — what a scoring stage computes per image for a fused or
single default score.

Column names:

* ``<normalizer>.<variant>`` — a scoring variant (:mod:`.scores`, e.g.
  ``mirror.deep_base__mouth_nose__ztopk``) of the face against that normalizer's output;
* ``padim__<region>__<max|topk|mean>`` — a summary of the PaDiM map (:mod:`.padim`) over
  a region (∩ the backbone's crop);
* ``shape_residual__<mouth_nose|lips|face>__<mean|topk>`` — the shape-model landmark
  residual (:mod:`.shape_residual`).

:func:`score_columns` computes exactly the requested columns, each normalized face, map,
backbone pass and region once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..heatmaps.regions import region_mask
from .scores import DEFAULT_TOP_K_FRACTION, parse_variant_name, score_variants, top_k_mean
from .shape_residual import LANDMARK_SETS, ShapeResidualConfig, shape_residual_score

PADIM_SUMMARIES = ("max", "topk", "mean")


def parse_column(name: str) -> tuple[str, str, tuple]:
    """``(source, name, details)``: source ``variant`` (details: normalizer, Variant),
    ``padim`` (region, summary) or ``shape_residual`` (landmark set, summary).

    Raises:
        ValueError: a name of none of the three forms, naming it.
    """
    if "." in name:
        normalizer, variant = name.split(".", 1)
        return "variant", name, (normalizer, parse_variant_name(variant))
    parts = name.split("__")
    if len(parts) == 3 and parts[0] == "padim" and parts[2] in PADIM_SUMMARIES:
        return "padim", name, (parts[1], parts[2])
    if len(parts) == 3 and parts[0] == "shape_residual" and parts[1] in LANDMARK_SETS and parts[2] in ("mean", "topk"):
        return "shape_residual", name, (parts[1], parts[2])
    raise ValueError(
        f"score column {name!r} is not <normalizer>.<variant>, padim__<region>__<max|topk|mean> or "
        f"shape_residual__<{'|'.join(LANDMARK_SETS)}>__<mean|topk>"
    )


def score_columns(
    face: np.ndarray,
    landmarks: np.ndarray,
    columns: Sequence[str],
    *,
    normalizers: Mapping,
    heatmap_settings: Mapping,
    region_params: Mapping[str, Mapping],
    normal_variation=None,
    padim=None,
    shape_model=None,
    shape_residual: ShapeResidualConfig | None = None,
    top_k_fraction: float = DEFAULT_TOP_K_FRACTION,
) -> dict[str, float]:
    """The requested score columns of one aligned face.

    Args:
        face: H×W×3 uint8 RGB aligned face; landmarks: its (478, 2|3) landmarks.
        columns: column names (see the module docstring).
        normalizers: normalizer name → a :class:`~facial_anomaly.normalizers.Normalizer`.
        heatmap_settings: ``erosion_size``, ``erosion_iterations``, ``channel_reduction``,
            ``kind_options`` (and optionally ``local_contrast``) as for
            :func:`~.scores.score_variants`.
        region_params: region name → its parameters.
        normal_variation: a fitted :class:`~.normal_variation.NormalVariation` (z-scored columns).
        padim: a fitted :class:`~.padim.PadimScorer` (``padim__…`` columns).
        shape_model: a fitted :class:`~facial_anomaly.normalizers.ShapeModel` (``shape_residual__…``).
        shape_residual: the robust fit's settings (defaults when None; landmark set and
            summary come from the column name).
        top_k_fraction: share of a region's pixels in the top-k summaries.

    Returns:
        ``{column: score}`` in the order of ``columns``.

    Raises:
        ValueError: a malformed column; KeyError: a normalizer not given; a model a column
            needs is missing (ValueError naming it).
    """
    parsed = [parse_column(column) for column in columns]
    scores: dict[str, float] = {}
    by_normalizer: dict[str, list] = {}
    for source, name, details in parsed:
        if source == "variant":
            by_normalizer.setdefault(details[0], []).append((name, details[1]))
    for normalizer_name, wanted in by_normalizer.items():
        if normalizer_name not in normalizers:
            raise KeyError(f"columns need the normalizer {normalizer_name!r}; given: {sorted(normalizers)}")
        normalized = normalizers[normalizer_name].normalize(face, landmarks).image
        maps: dict[tuple, list] = {}
        for name, variant in wanted:
            maps.setdefault((variant.kind, variant.color_space, variant.eroded, variant.lcn), []).append(variant)
        z_maps = None
        if any(variant.summary.startswith("z") for _, variant in wanted):
            if normal_variation is None:
                raise ValueError(f"z-scored columns of {normalizer_name!r} need the normal-variation maps")
            z_maps = normal_variation.for_normalizer(normalizer_name)
        for (kind, space, eroded, lcn), variants in maps.items():
            grid = {
                "kinds": [kind],
                "color_spaces": [space],
                "erosion": [eroded],
                "lcn": [lcn],
                "regions": list(dict.fromkeys(v.region for v in variants)),
                "summaries": list(dict.fromkeys(v.summary for v in variants)),
            }
            values = score_variants(
                face,
                normalized,
                landmarks,
                grid=grid,
                statistic="anomaly_score",
                region_params=region_params,
                normal_variation=z_maps if any(v.summary.startswith("z") for v in variants) else None,
                top_k_fraction=top_k_fraction,
                **heatmap_settings,
            )
            scores.update({f"{normalizer_name}.{v.name}": values[v.name] for v in variants})
    padim_columns = [(name, details) for source, name, details in parsed if source == "padim"]
    if padim_columns:
        if padim is None:
            raise ValueError("padim__… columns need a fitted PadimScorer")
        heat = padim.score_map(face, landmarks)
        inside = padim.config.backbone.crop_of(landmarks, face.shape).inside(face.shape)
        for name, (region, summary) in padim_columns:
            values = heat[region_mask(landmarks, face.shape, region, **region_params[region]) & inside]
            if values.size == 0:
                raise ValueError(f"the region {region!r} does not overlap the PaDiM crop")
            if summary == "max":
                scores[name] = float(values.max())
            elif summary == "mean":
                scores[name] = float(values.mean())
            else:
                scores[name] = top_k_mean(values, fraction=top_k_fraction)
    for source, name, (landmark_set, summary) in (p for p in parsed if p[0] == "shape_residual"):
        if shape_model is None:
            raise ValueError("shape_residual__… columns need a fitted ShapeModel")
        config = (shape_residual or ShapeResidualConfig()).model_copy(
            update={"landmarks": landmark_set, "summary": summary}
        )
        scores[name] = shape_residual_score(landmarks, shape_model, config)
    return {column: scores[column] for column in columns}
