"""Scores of a face from its difference maps: the paper's normality index, an anomaly
score, and a grid of scoring variants (Hayajneh et al. 2022 §1.4 and Table 1).

Variant names
-------------
A variant is (heatmap kind, colour space, eroded or not, region, local contrast
normalisation or not, summary), named::

    <kind>_<processing>__<region>[__<summary>]

``processing`` joins the colour space (omitted when ``rgb``), ``lcn`` (when the images
are locally contrast-normalised first, :mod:`facial_anomaly.heatmaps.contrast`; pixel
kinds only) and ``eroded`` (when eroded) with ``_``, or is ``base`` for plain RGB — the
column names of the paper's Table 1: ``pse_base__mouth_nose``, ``pse_ycbcr__mouth_nose``,
``pse_eroded__mouth_nose``, ``pse_ycbcr_eroded__mouth_nose`` (the paper's default),
``ssim_ycbcr__face_without_eyes``..., and ``pse_ycbcr_lcn_eroded__mouth_nose``.
``<kind>_<processing>`` alone names the heatmap (:attr:`Variant.map_name`).

The summary (:data:`SUMMARIES`) says how the region's heat becomes one number: ``mean``
(the default, left out of the name), ``topk`` (mean of the top ``top_k_fraction`` of the
region's pixels), and ``zmean`` / ``ztopk``, the same on the heat z-scored per location
against normal faces (:mod:`.normal_variation`), e.g. ``deep_base__mouth_nose__ztopk``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from facial_anomaly.config import validated
from facial_anomaly.faces.landmarks import eye_centers
from facial_anomaly.heatmaps import (
    COLOR_SPACES,
    HEATMAP_KINDS,
    REGIONS,
    channel_map_converted,
    context_radius,
    erode,
    erosion_reach,
    reduce_channels,
    region_mask,
    to_color_space,
)
from facial_anomaly.heatmaps.compare import (
    PixelComparison,
    PreparedPair,
    prepare_pair,
    prepared_color_space,
    scale_key,
)
from facial_anomaly.heatmaps.contrast import LocalContrastConfig, lcn_sigma_px, local_contrast_normalize

STATISTICS = ("normality_index", "anomaly_score")
SUMMARIES = ("mean", "topk", "zmean", "ztopk")
Z_SUMMARIES = ("zmean", "ztopk")
DEFAULT_TOP_K_FRACTION = 0.05
_GRID_KEYS = ("kinds", "color_spaces", "erosion", "regions")
_OPTIONAL_GRID_KEYS = {"summaries": ["mean"]}
_PLAIN_COLOR_SPACE = "rgb"
# Kinds that compare pixels, to which local contrast normalisation applies.
LCN_KINDS = ("pse", "ssim")


# --------------------------------------------------------------------------- statistics


def _masked_values(
    values: np.ndarray, mask: np.ndarray, index: np.ndarray | None = None, *, non_negative: bool = True
) -> np.ndarray:
    """Values at mask pixels, (N,) or (N, C) float64; checks shapes, emptiness, finiteness
    and (unless ``non_negative`` is False) the sign.

    ``index``: ``np.flatnonzero(mask)`` when the caller has it (a grid scores many maps on
    one mask): the same values in the same order, gathered ~8× faster than by the mask.
    """
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise ValueError(f"mask must be a bool array, got dtype {mask.dtype}")
    if values.shape[:2] != mask.shape:
        raise ValueError(f"map {values.shape} and mask {mask.shape} differ in size")
    if not (mask.any() if index is None else index.size):
        raise ValueError("the region mask is empty: there is nothing to score")
    if index is None:
        inside = values[mask]
    else:
        inside = np.take(values.reshape(mask.size, *values.shape[2:]), index, axis=0)
    inside = inside.astype(np.float64, copy=False)
    if not np.isfinite(inside).all():
        raise ValueError("the map has NaN or infinite values inside the mask")
    if non_negative and inside.min() < 0:
        raise ValueError(f"difference maps must be ≥ 0; found {inside.min()} inside the mask")
    return inside


def normality_index(channel_map: np.ndarray, mask: np.ndarray, *, index: np.ndarray | None = None) -> float:
    """The paper's normality index ``S = −log(‖PSE‖_F / N)``; higher = more normal.

    ``‖PSE‖_F = sqrt(Σ_{p in mask} Σ_c PSE[p, c]²)`` — the Frobenius norm of the N×C
    matrix of the map's values at the N mask pixels over all C channels — and ``N`` is
    the number of mask pixels (not N·C). Natural logarithm. Any map ≥ 0 works (PSE as in
    the paper, or SSIM / LPIPS maps for the other variants).

    Args:
        channel_map: H×W or H×W×C float map ≥ 0 (PSE on the 8-bit scale for the paper's S).
        mask: H×W bool, the scored region.
        index: optionally ``np.flatnonzero(mask)``, computed once for many maps.

    Returns:
        S as a float; ``math.inf`` when the map is 0 everywhere in the mask (identical
        images). Never NaN.

    Raises:
        ValueError: empty mask, size mismatch, a non-bool mask, or NaN / inf / negative values.
    """
    inside = _masked_values(channel_map, mask, index)
    frobenius = math.sqrt(float(np.sum(np.square(inside))))
    if frobenius == 0.0:
        return math.inf
    count = int(np.count_nonzero(mask)) if index is None else int(index.size)
    return math.log(count) - math.log(frobenius)


def anomaly_score(heatmap: np.ndarray, mask: np.ndarray, *, index: np.ndarray | None = None) -> float:
    """Mean heat inside the mask; higher = more anomalous, 0 for identical images.

    The plain mean (the identity transform): finite for any finite map, on the map's
    own scale, and rank-equivalent to any monotone transform of it.

    Args:
        heatmap: H×W float map ≥ 0.
        mask: H×W bool, the scored region.
        index: optionally ``np.flatnonzero(mask)``, computed once for many maps.

    Returns:
        A finite float ≥ 0.

    Raises:
        ValueError: empty mask, size mismatch, a non-H×W map, a non-bool mask, or
            NaN / inf / negative values.
    """
    if heatmap.ndim != 2:
        raise ValueError(f"expected an H×W heatmap (reduce channels first), got shape {heatmap.shape}")
    return float(_masked_values(heatmap, mask, index).mean())


def top_k_mean(values: np.ndarray, *, fraction: float) -> float:
    """Mean of the largest ``ceil(fraction · N)`` of N values (at least one).

    Raises:
        ValueError: a fraction outside (0, 1] or no values.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"top_k_fraction must be in (0, 1], got {fraction!r}")
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("no values to summarise")
    count = max(1, math.ceil(fraction * values.size))
    return float(np.partition(values, values.size - count)[values.size - count :].mean())


def region_summary(
    values: np.ndarray, mask: np.ndarray, *, summary: str, top_k_fraction: float, index: np.ndarray | None = None
) -> float:
    """One number for the region ``mask`` of an H×W map.

    Args:
        values: H×W heat (≥ 0) for ``mean`` / ``topk``; H×W z map (any sign) for
            ``zmean`` / ``ztopk``.
        mask: H×W bool.
        summary: one of :data:`SUMMARIES`; ``mean`` is :func:`anomaly_score`.
        top_k_fraction: share of the region's pixels averaged by the top-k summaries.
        index: ``np.flatnonzero(mask)`` when the caller has it (faster, same values).

    Raises:
        ValueError: unknown summary, empty mask, size mismatch, non-finite values, or
            negative heat for ``mean`` / ``topk``.
    """
    _check_member("summary", summary, SUMMARIES)
    if values.ndim != 2:
        raise ValueError(f"expected an H×W map, got shape {values.shape}")
    if summary == "mean":
        return anomaly_score(values, mask, index=index)
    if summary == "topk":
        return top_k_mean(_masked_values(values, mask, index), fraction=top_k_fraction)
    z_values = _masked_values(values, mask, index, non_negative=False)
    return float(z_values.mean()) if summary == "zmean" else top_k_mean(z_values, fraction=top_k_fraction)


# --------------------------------------------------------------------------- variants


class Variant(NamedTuple):
    """One scoring variant: which map, in which colour space, eroded or not, where, whether
    the images are locally contrast-normalised first, and how the region is summarised."""

    kind: str
    color_space: str
    eroded: bool
    region: str
    lcn: bool = False
    summary: str = "mean"

    @property
    def map_name(self) -> str:
        """``<kind>_<processing>``: the heatmap this variant summarises."""
        parts = [] if self.color_space == _PLAIN_COLOR_SPACE else [self.color_space]
        parts += ["lcn"] if self.lcn else []
        parts += ["eroded"] if self.eroded else []
        return f"{self.kind}_{'_'.join(parts) or 'base'}"

    @property
    def name(self) -> str:
        """``<kind>_<processing>__<region>[__<summary>]``, see the module docstring."""
        base = f"{self.map_name}__{self.region}"
        return base if self.summary == "mean" else f"{base}__{self.summary}"


def _check_member(what: str, value, valid) -> None:
    if value not in valid:
        raise ValueError(f"unknown {what} {value!r}; valid: {list(valid)}")


def parse_variant_name(name: str) -> Variant:
    """The :class:`Variant` a name stands for (inverse of :attr:`Variant.name`).

    Raises:
        ValueError: when the name does not follow the scheme or names unknown parts.
    """
    pieces = name.split("__")
    head = pieces[0]
    kind, _, processing = head.partition("_")
    if len(pieces) not in (2, 3) or not processing:
        raise ValueError(f"variant name {name!r} is not <kind>_<processing>__<region>[__<summary>]")
    region = pieces[1]
    summary = pieces[2] if len(pieces) == 3 else "mean"
    parts = processing.split("_")
    eroded = parts[-1] == "eroded"
    spaces = parts[:-1] if eroded else parts
    lcn = bool(spaces) and spaces[-1] == "lcn"
    spaces = spaces[:-1] if lcn else spaces
    color_space = _PLAIN_COLOR_SPACE if spaces in (["base"], []) else "_".join(spaces)
    variant = Variant(kind, color_space, eroded, region, lcn, summary)
    _check_variant(variant)
    if variant.name != name:
        raise ValueError(f"variant name {name!r} is not canonical; did you mean {variant.name!r}?")
    return variant


def _check_variant(variant: Variant) -> None:
    _check_member("heatmap kind", variant.kind, HEATMAP_KINDS)
    _check_member("colour space", variant.color_space, COLOR_SPACES)
    _check_member("erosion flag", variant.eroded, (False, True))
    _check_member("region", variant.region, REGIONS)
    _check_member("lcn flag", variant.lcn, (False, True))
    if variant.lcn and variant.kind not in LCN_KINDS:
        raise ValueError(
            f"local contrast normalisation (lcn) applies to the pixel kinds {list(LCN_KINDS)}, not {variant.kind!r}"
        )
    _check_member("summary", variant.summary, SUMMARIES)


def variant_grid(grid: Mapping) -> list[Variant]:
    """Every variant of a grid spec, in kind → lcn → colour space → erosion → region →
    summary order.

    Args:
        grid: ``{"kinds": [...], "color_spaces": [...], "erosion": [false, true],
            "regions": [...]}`` (the ``grid`` block of ``parameters_scores.yml``), and
            optionally ``"lcn": [false, true]`` (default ``[false]``): with and without
            local contrast normalisation, which is combined with the pixel kinds only;
            ``"summaries": [...]`` (:data:`SUMMARIES`; default ``["mean"]``); ``"variants":
            [...]``: further variants by name, beyond the product (e.g. one deep kind on
            plain RGB beside pixel kinds in YCbCr), each in one of the grid's regions.

    Raises:
        ValueError: a missing key or an unknown value, naming it.
    """
    missing = [key for key in _GRID_KEYS if key not in grid]
    if missing:
        raise ValueError(f"grid spec lacks {missing}; it needs {list(_GRID_KEYS)}")
    lcn_values = list(grid.get("lcn", [False]))
    for key, values in (("erosion", grid["erosion"]), ("lcn", lcn_values)):
        not_bool = [value for value in values if not isinstance(value, bool)]
        if not_bool:
            raise ValueError(f"grid {key} values must be true/false, got {not_bool}")
    summaries = grid.get("summaries", _OPTIONAL_GRID_KEYS["summaries"])
    variants = [
        Variant(kind, color_space, eroded, region, lcn, summary)
        for kind in grid["kinds"]
        for lcn in lcn_values
        if not lcn or kind in LCN_KINDS
        for color_space in grid["color_spaces"]
        for eroded in grid["erosion"]
        for region in grid["regions"]
        for summary in summaries
    ]
    for variant in variants:
        _check_variant(variant)
    extras = [parse_variant_name(name) for name in grid.get("variants", ())]
    outside = [variant.name for variant in extras if variant.region not in grid["regions"]]
    if outside:
        raise ValueError(f"grid variants {outside} are in regions not among the grid's regions {list(grid['regions'])}")
    variants += [variant for variant in dict.fromkeys(extras) if variant not in variants]
    return variants


def single_variant_grid(name: str) -> dict:
    """The grid spec (as :func:`variant_grid` reads it) holding only the variant ``name``.

    Raises:
        ValueError: ``name`` is not a canonical variant name.
    """
    variant = parse_variant_name(name)
    grid = {
        "kinds": [variant.kind],
        "color_spaces": [variant.color_space],
        "erosion": [variant.eroded],
        "regions": [variant.region],
        "lcn": [variant.lcn],
    }
    if variant.summary != "mean":
        grid["summaries"] = [variant.summary]
    return grid


class _Maps:
    """The maps of one (original, normalized) pair on a window of the frame, each colour
    conversion, per-channel map, erosion and reduction computed once."""

    def __init__(
        self,
        original,
        normalized,
        landmarks,
        window,
        *,
        erosion_size,
        erosion_iterations,
        kind_options,
        local_contrast,
        comparison,
    ):
        self.images = (original, normalized)
        self.landmarks = landmarks
        self.window = window
        self.erosion = (erosion_size, erosion_iterations)
        self.kind_options = kind_options
        self.local_contrast = local_contrast
        self.comparison = comparison
        left, right = eye_centers(np.asarray(landmarks, dtype=np.float64))
        self.eye_distance_px = float(np.hypot(*(right - left)))
        self.prepared = functools.cache(self._prepared)
        self.converted = functools.cache(self._converted)
        self.contrast_normalized = functools.cache(self._contrast_normalized)
        self.per_channel = functools.cache(self._per_channel)
        self.processed = functools.cache(self._processed)

    def _prepared(self) -> PreparedPair:
        # Exposure, colour and smoothing of the pixel kinds (heatmaps.compare), on the
        # whole frame: the smoothing reaches past the window.
        settings = validated(PixelComparison, self.comparison, name="comparison")
        face = region_mask(self.landmarks, self.images[0].shape, "full_face")
        return prepare_pair(*self.images, face, self.eye_distance_px, settings)

    def _converted(self, space: str, cropped: bool, pixel: bool):
        if pixel:
            images = prepared_color_space(self.prepared(), space)
            return tuple(image[self.window] for image in images) if cropped else images
        images = tuple(image[self.window] for image in self.images) if cropped else self.images
        return tuple(to_color_space(image, space) for image in images)

    def _contrast_normalized(self, space: str) -> tuple[np.ndarray, np.ndarray]:
        # The LCN window is wide (σ ≈ a quarter of the eye distance), so it is applied to
        # the whole frame and cropped after: the cropped values equal full-frame ones.
        contrast = validated(LocalContrastConfig, self.local_contrast, name="local_contrast")
        sigma_px = lcn_sigma_px(contrast, self.eye_distance_px)
        return tuple(
            local_contrast_normalize(image, color_space=space, sigma_px=sigma_px, rms_floor=contrast.rms_floor)[
                self.window
            ]
            for image in self.converted(space, False, True)
        )

    def _per_channel(self, kind: str, space: str, lcn: bool) -> np.ndarray:
        # Kinds without a finite context (LPIPS, deep) see the whole image and are cropped after.
        local = context_radius(kind, kind_options=self.kind_options) is not None
        pixel = kind in LCN_KINDS
        if lcn:
            values = channel_map_converted(
                *self.contrast_normalized(space), kind=kind, color_space=space, kind_options=self.kind_options
            )
        else:
            values = channel_map_converted(
                *self.converted(space, local, pixel),
                kind=kind,
                color_space=space,
                kind_options=self.kind_options,
                landmarks=self.landmarks,
            )
            values = values if local else values[self.window]
        if pixel and scale_key(kind, space, lcn) in self.prepared().map_scale:
            values = values * np.float32(self.prepared().map_scale[scale_key(kind, space, lcn)])
        return values

    def _processed(self, kind: str, space: str, eroded: bool, lcn: bool, reduction: str | None) -> np.ndarray:
        values = self.per_channel(kind, space, lcn)
        if eroded:
            values = erode(values, size=self.erosion[0], iterations=self.erosion[1])
        return values if reduction is None else reduce_channels(values, reduction=reduction)


def score_variants(
    original: np.ndarray,
    normalized: np.ndarray,
    landmarks: np.ndarray,
    *,
    grid: Mapping,
    statistic: str,
    erosion_size: int,
    erosion_iterations: int,
    channel_reduction: str,
    kind_options: Mapping[str, Mapping],
    region_params: Mapping[str, Mapping],
    region_masks: Mapping[str, np.ndarray] | None = None,
    local_contrast: LocalContrastConfig | Mapping | None = None,
    comparison: PixelComparison | Mapping | None = None,
    normal_variation=None,
    top_k_fraction: float = DEFAULT_TOP_K_FRACTION,
    shared_maps: dict | None = None,
) -> dict[str, float]:
    """One score per variant of the grid for a face and its normalized version.

    Each colour conversion, per-channel map, erosion and region mask is computed once
    and shared by every variant that needs it, and maps are computed only around the
    regions (with enough margin that every score equals the full-frame computation).

    Args:
        original, normalized: H×W×3 RGB aligned face and its normalized version
            (``uint8`` or float in [0, 1]).
        landmarks: (478, 2|3) FaceMesh landmarks in pixels of the aligned face.
        grid: the grid spec (see :func:`variant_grid`).
        statistic: ``"anomaly_score"`` (a :func:`region_summary` of the channel-reduced
            heatmap; higher = more anomalous) or ``"normality_index"``
            (:func:`normality_index` of the per-channel map; higher = more normal; only
            with the ``mean`` summary).
        erosion_size, erosion_iterations: the erosion of eroded variants (eq. 5).
        channel_reduction: ``"sum"`` or ``"mean"``, for ``anomaly_score``.
        kind_options: per-kind options (``kind_options`` of ``parameters_heatmaps.yml``).
        region_params: region name → its parameters (``regions`` of ``parameters_scores.yml``).
        region_masks: the full-frame masks of the grid's regions (:func:`grid_region_masks`)
            when the caller scores the same face more than once (e.g. both statistics);
            None = made here.
        local_contrast: settings of the ``lcn`` variants (:class:`LocalContrastConfig`;
            None = its defaults). The window σ is in eye distances of ``landmarks``.
        comparison: how the pixel kinds see the images — exposure normalisation, colour
            handling of greyscale faces, smoothing (:class:`PixelComparison`; None = its
            defaults). Other kinds get the images as they are.
        normal_variation: the normalizer's fitted maps
            (:meth:`.normal_variation.NormalVariation.for_normalizer`), needed by the
            ``zmean`` / ``ztopk`` summaries.
        top_k_fraction: share of a region's pixels averaged by ``topk`` / ``ztopk``.
        shared_maps: a dict the caller keeps across calls on the same pair (the same
            ``original`` and ``normalized`` arrays and settings, e.g. both statistics): the
            maps computed by one call are reused by the next, which then works on the first
            call's window when that contains its own (scores are unchanged). None = not kept.

    Returns:
        ``{variant name: score}`` in :func:`variant_grid` order.

    Raises:
        ValueError: bad grid, statistic, shapes or parameters; an empty region; z-scored
            summaries without ``normal_variation``.
        KeyError: ``normal_variation`` lacks a map the grid needs.
        HeatmapKindUnavailable: a kind in the grid cannot run here (LPIPS weights missing).
    """
    _check_member("statistic", statistic, STATISTICS)
    if original.shape != normalized.shape:
        raise ValueError(f"original {original.shape} and normalized {normalized.shape} differ in shape")
    variants = variant_grid(grid)
    summaries = {variant.summary for variant in variants}
    if statistic == "normality_index" and summaries != {"mean"}:
        raise ValueError(
            f"the normality_index statistic has only the mean summary; the grid asks for {sorted(summaries)}"
        )
    needs_z = bool(summaries & set(Z_SUMMARIES))
    if needs_z and normal_variation is None:
        raise ValueError("the zmean / ztopk summaries need fitted normal-variation maps (normal_variation=...)")
    regions = dict.fromkeys(variant.region for variant in variants)
    if region_masks is None:
        region_masks = grid_region_masks(landmarks, original.shape, regions, region_params)
    full_masks = {region: region_masks[region] for region in regions}
    # Maps are computed only on the masks' bounding box, padded by how far a masked value
    # depends on its surroundings (map context + erosion), so scores equal full-frame ones;
    # z maps need whole normal-variation cells, so the box then grows to cell boundaries.
    radii = [context_radius(kind, kind_options=kind_options) for kind in dict.fromkeys(v.kind for v in variants)]
    reach = erosion_reach(size=erosion_size, iterations=erosion_iterations) if any(v.eroded for v in variants) else 0
    context = max([radius for radius in radii if radius is not None], default=0)
    window = _bounding_window(full_masks.values(), pad=context + reach)
    if needs_z:
        window = normal_variation.cell_window(window)
    pair = (id(original), id(normalized))
    kept = shared_maps.get("maps") if shared_maps is not None and shared_maps.get("pair") == pair else None
    if kept is not None and _contains(kept.window, window):
        maps, window = kept, kept.window
    else:
        maps = _Maps(
            original,
            normalized,
            landmarks,
            window,
            erosion_size=erosion_size,
            erosion_iterations=erosion_iterations,
            kind_options=kind_options,
            local_contrast=local_contrast,
            comparison=comparison,
        )
        if shared_maps is not None:
            shared_maps.update(pair=pair, maps=maps)
    masks = {region: mask[window] for region, mask in full_masks.items()}
    indices = {region: np.flatnonzero(mask) for region, mask in masks.items()}

    @functools.cache
    def z_map(variant_map: Variant) -> np.ndarray:
        heat = maps.processed(*_map_key(variant_map), channel_reduction)
        return normal_variation.zscore(variant_map.map_name, heat, window)

    scores = {}
    for variant in variants:
        if statistic == "normality_index":
            per_channel = maps.processed(*_map_key(variant), None)
            scores[variant.name] = normality_index(per_channel, masks[variant.region])
            continue
        if variant.summary in Z_SUMMARIES:
            values = z_map(variant._replace(region="", summary="mean"))
        else:
            values = maps.processed(*_map_key(variant), channel_reduction)
        scores[variant.name] = region_summary(
            values,
            masks[variant.region],
            summary=variant.summary,
            top_k_fraction=top_k_fraction,
            index=indices[variant.region],
        )
    return scores


def variant_maps(
    original: np.ndarray,
    normalized: np.ndarray,
    landmarks: np.ndarray,
    *,
    grid: Mapping,
    erosion_size: int,
    erosion_iterations: int,
    channel_reduction: str,
    kind_options: Mapping[str, Mapping],
    local_contrast: LocalContrastConfig | Mapping | None = None,
    comparison: PixelComparison | Mapping | None = None,
) -> dict[str, np.ndarray]:
    """The full-frame heatmap of every map of a grid (kinds × colour spaces × erosion),
    channel-reduced: ``{map name: H×W float32 ≥ 0}`` — what the normal-variation maps are
    fitted on (:class:`.normal_variation.NormalVariation`). Arguments as :func:`score_variants`.
    """
    if original.shape != normalized.shape:
        raise ValueError(f"original {original.shape} and normalized {normalized.shape} differ in shape")
    everything = (slice(0, original.shape[0]), slice(0, original.shape[1]))
    maps = _Maps(
        original,
        normalized,
        landmarks,
        everything,
        erosion_size=erosion_size,
        erosion_iterations=erosion_iterations,
        kind_options=kind_options,
        local_contrast=local_contrast,
        comparison=comparison,
    )
    out = {}
    for variant in variant_grid({**grid, "summaries": ["mean"]}):
        if variant.map_name not in out:
            out[variant.map_name] = maps.processed(*_map_key(variant), channel_reduction)
    return out


def _map_key(variant: Variant) -> tuple[str, str, bool, bool]:
    return variant.kind, variant.color_space, variant.eroded, variant.lcn


def grid_region_masks(
    landmarks: np.ndarray, shape: tuple[int, ...], regions, region_params: Mapping[str, Mapping]
) -> dict[str, np.ndarray]:
    """``{region: H×W bool mask}`` of ``regions`` for a face (``region_masks`` of :func:`score_variants`)."""
    return {region: region_mask(landmarks, shape, region, **region_params[region]) for region in regions}


def _contains(outer: tuple[slice, slice], inner: tuple[slice, slice]) -> bool:
    return all(o.start <= i.start and i.stop <= o.stop for o, i in zip(outer, inner))


def _bounding_window(masks, *, pad: int) -> tuple[slice, slice]:
    """Row and column slices of the masks' joint bounding box grown by ``pad``, clipped to the image.

    Raises:
        ValueError: when every mask is empty.
    """
    union = np.logical_or.reduce(list(masks))
    rows, cols = np.flatnonzero(union.any(axis=1)), np.flatnonzero(union.any(axis=0))
    if rows.size == 0:
        raise ValueError("every region mask is empty: there is nothing to score")
    height, width = union.shape
    return (
        slice(max(rows[0] - pad, 0), min(rows[-1] + pad + 1, height)),
        slice(max(cols[0] - pad, 0), min(cols[-1] + pad + 1, width)),
    )
