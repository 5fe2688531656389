"""Normal-variation maps: how much heat each place of the aligned face shows on *normal* faces.

Some places differ between a face and its normalized version on every face — the
hairline, the lit side, the eyebrows, the lip line — and a plain region mean is dominated
by them. For every heatmap (normalizer × kind × colour space × erosion, e.g.
``symmetry`` / ``pse_ycbcr_eroded``) a :class:`NormalVariation` holds, on a coarse grid of
the aligned frame (``grid_size`` × ``grid_size`` cells: 8 px cells at 512 px), the centre
and spread of the cell-averaged heat over normal faces: median and 1.4826·MAD (default,
robust to the few very asymmetric normal faces) or mean and standard deviation. A new
face's heat is averaged over the same cells and z-scored per cell,

    z = (heat_cell − centre_cell) / max(spread_cell, floor),
    floor = spread_floor × median spread over the cells that ever see heat,

then resized (bilinear) to the frame before regions are summarised (mean or top-k mean,
:mod:`.scores`). With ``mirror_augment`` every normal face's map also enters mirrored, so the
model is mirror-symmetric and a face and its mirror image get mirrored z maps.

A "per-location z-score over normal data" is the usual normative-map construction (e.g.
the voxel-wise z maps of Marquand et al. 2016, "Understanding heterogeneity in clinical
cohorts using normative models", Biol. Psychiatry 80: 552–561); here per map cell.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from ..config import Config
from ..provenance import model_provenance
from .model_files import load_model_file, save_model_file

MODEL_KIND = "normal_variation"
SCHEMA_VERSION = 1
_MAD_TO_SIGMA = 1.4826  # MAD × this = σ for Gaussian data


class NormalVariationConfig(Config):
    """How the normal-variation maps are fitted (``fit_normal_models.normal_variation``)."""

    grid_size: int = Field(64, ge=4, le=512, description="cells per side of the aligned frame (must divide its side)")
    statistic: Literal["median_mad", "mean_std"] = Field(
        "median_mad", description="centre and spread per cell: median and 1.4826·MAD, or mean and std"
    )
    spread_floor: float = Field(
        0.1, ge=0.0, le=10.0, description="spread floor, × the median spread of the cells that see heat"
    )
    mirror_augment: bool = Field(True, description="fit on every normal map and its mirror image")


class NormalVariationMaps:
    """The fitted maps of one normalizer: map name (``<kind>_<processing>``, e.g.
    ``pse_ycbcr_eroded``) → ``(centre, spread)``, each (grid, grid) float32 (spread floored)."""

    def __init__(self, stats: Mapping[str, tuple[np.ndarray, np.ndarray]], frame_shape: tuple[int, int], grid: int):
        self.stats = dict(stats)
        self.frame_shape = (int(frame_shape[0]), int(frame_shape[1]))
        self.grid = int(grid)
        height, width = self.frame_shape
        if height % grid or width % grid:
            raise ValueError(f"the frame {height}×{width} is not divisible into {grid}×{grid} cells")
        self.cell = (height // grid, width // grid)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.stats)

    def _check(self, name: str, frame_shape: tuple[int, ...]) -> None:
        if name not in self.stats:
            raise KeyError(f"no normal-variation map for {name!r}; fitted: {sorted(self.stats)}")
        if tuple(frame_shape[:2]) != self.frame_shape:
            raise ValueError(
                f"normal-variation maps were fitted on {self.frame_shape[0]}×{self.frame_shape[1]} faces, "
                f"this face is {frame_shape[0]}×{frame_shape[1]}"
            )

    def cell_window(self, window: tuple[slice, slice]) -> tuple[slice, slice]:
        """``window`` grown to whole cells plus one cell on every side (clipped to the frame),
        so z maps computed on it equal the full-frame ones inside ``window``."""
        grown = []
        for part, cell, size in zip(window, self.cell, self.frame_shape):
            start = max(((part.start or 0) // cell - 1) * cell, 0)
            stop = min((-(-(part.stop if part.stop is not None else size) // cell) + 1) * cell, size)
            grown.append(slice(start, stop))
        return grown[0], grown[1]

    def zscore(self, name: str, heat: np.ndarray, window: tuple[slice, slice] | None = None) -> np.ndarray:
        """The z map of a heatmap (see the module docstring).

        Args:
            name: the map name (``<kind>_<processing>``).
            heat: H×W float heat of the whole frame, or of ``window``.
            window: where ``heat`` lies in the frame, on cell boundaries (e.g. from
                :meth:`cell_window`); None = the whole frame.

        Returns:
            float32 z map of ``heat``'s shape.

        Raises:
            KeyError: no map of that name. ValueError: a frame of another size, or a
                window off the cell boundaries.
        """
        if name not in self.stats:
            raise KeyError(f"no normal-variation map for {name!r}; fitted: {sorted(self.stats)}")
        if window is None:
            if tuple(heat.shape[:2]) != self.frame_shape:
                raise ValueError(
                    f"normal-variation maps were fitted on {self.frame_shape[0]}×{self.frame_shape[1]} faces, "
                    f"this heatmap is {heat.shape[0]}×{heat.shape[1]}"
                )
            window = (slice(0, self.frame_shape[0]), slice(0, self.frame_shape[1]))
        (row_cell, col_cell), (rows, cols) = self.cell, window
        bounds = (rows.start, rows.stop, cols.start, cols.stop)
        if any(value % cell for value, cell in zip(bounds, (row_cell, row_cell, col_cell, col_cell))):
            raise ValueError(f"window {window} is not on {row_cell}×{col_cell}-pixel cell boundaries")
        if rows.stop > self.frame_shape[0] or cols.stop > self.frame_shape[1]:
            raise ValueError(f"window {window} exceeds the fitted {self.frame_shape[0]}×{self.frame_shape[1]} frame")
        if heat.shape[:2] != (rows.stop - rows.start, cols.stop - cols.start):
            raise ValueError(f"heat {heat.shape} does not fill the window {window}")
        cells = cell_means(heat, self.cell)
        centre, spread = self.stats[name]
        block = (
            slice(rows.start // row_cell, rows.stop // row_cell),
            slice(cols.start // col_cell, cols.stop // col_cell),
        )
        z = (cells - centre[block]) / spread[block]
        return cv2.resize(z.astype(np.float32), (heat.shape[1], heat.shape[0]), interpolation=cv2.INTER_LINEAR)


def cell_means(heat: np.ndarray, cell: tuple[int, int]) -> np.ndarray:
    """Mean of ``heat`` (H×W) over cell × cell blocks, (H / cell_h, W / cell_w) float32."""
    height, width = heat.shape[:2]
    blocks = np.asarray(heat, dtype=np.float32).reshape(height // cell[0], cell[0], width // cell[1], cell[1])
    return blocks.mean(axis=(1, 3), dtype=np.float64).astype(np.float32)


class NormalVariation:
    """Normal-variation maps of several normalizers (see the module docstring).

    ``maps``: normalizer name → :class:`NormalVariationMaps`; ``config``; ``provenance``.
    Fit with :meth:`fit` (or :class:`NormalVariationFitter` to stream faces), save with
    :meth:`save`, read with :meth:`load` (provenance checked).
    """

    def __init__(self, maps: Mapping[str, NormalVariationMaps], config: NormalVariationConfig, provenance: dict):
        self.maps = dict(maps)
        self.config = config
        self.provenance = dict(provenance)

    def for_normalizer(self, name: str) -> NormalVariationMaps:
        """The maps of one normalizer.

        Raises:
            KeyError: naming the normalizer and the fitted ones.
        """
        if name not in self.maps:
            raise KeyError(f"no normal-variation maps for normalizer {name!r}; fitted: {sorted(self.maps)}")
        return self.maps[name]

    @classmethod
    def fit(
        cls,
        samples: Iterable[tuple[str, Mapping[str, np.ndarray]]],
        config: NormalVariationConfig | None = None,
        *,
        training_data: str = "unspecified",
    ) -> "NormalVariation":
        """Fit from ``(normalizer, {map name: H×W heat})`` of normal faces.

        Args:
            samples: one entry per normal face and normalizer (e.g. from
                :func:`facial_anomaly.scoring.variant_maps`).
            config: fitting options (defaults when None).
            training_data: fingerprint of the faces (``provenance.training_data_fingerprint``).

        Raises:
            ValueError: no samples, maps of different sizes, or fewer than 2 faces for a map.
        """
        fitter = NormalVariationFitter(config or NormalVariationConfig())
        for normalizer, maps in samples:
            fitter.add(normalizer, maps)
        return fitter.finish(training_data=training_data)

    # ----------------------------------------------------------------- files

    def save(self, path: str | os.PathLike) -> Path:
        """Write the maps as ``.npz`` (arrays ``centre/<normalizer>/<map>`` and
        ``spread/...``) with the configuration and provenance."""
        arrays = {}
        for normalizer, maps in self.maps.items():
            for name, (centre, spread) in maps.stats.items():
                arrays[f"centre/{normalizer}/{name}"] = centre
                arrays[f"spread/{normalizer}/{name}"] = spread
        frames = {normalizer: list(maps.frame_shape) for normalizer, maps in self.maps.items()}
        record = {"config": self.config.model_dump(mode="json"), "frames": frames, "provenance": self.provenance}
        return save_model_file(path, arrays, record)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "NormalVariation":
        """Read :meth:`save`'s file.

        Raises:
            FileNotFoundError; facial_anomaly.provenance.ModelMismatch: another kind of model,
            another schema, or inconsistent arrays (naming the file).
        """
        from ..provenance import ModelMismatch

        arrays, record = load_model_file(path, kind=MODEL_KIND, schema_version=SCHEMA_VERSION)
        config = NormalVariationConfig.model_validate(record["config"])
        maps = {}
        for normalizer, frame in record["frames"].items():
            stats = {}
            for key in arrays:
                part, owner, name = key.split("/", 2)
                if part == "centre" and owner == normalizer:
                    spread = arrays.get(f"spread/{owner}/{name}")
                    centre = arrays[key]
                    if spread is None or centre.shape != (config.grid_size,) * 2 or spread.shape != centre.shape:
                        raise ModelMismatch(
                            f"{path}: map {owner}/{name} is incomplete or not {config.grid_size}² cells"
                        )
                    if not (np.isfinite(centre).all() and np.isfinite(spread).all() and (spread > 0).all()):
                        raise ModelMismatch(f"{path}: map {owner}/{name} has non-finite values or a spread ≤ 0")
                    stats[name] = (centre.astype(np.float32), spread.astype(np.float32))
            maps[normalizer] = NormalVariationMaps(stats, tuple(frame), config.grid_size)
        return cls(maps, config, record["provenance"])


class NormalVariationFitter:
    """Accumulates cell-averaged normal maps one face at a time (memory: grid² floats per
    map and face), then :meth:`finish` computes the centres and spreads."""

    def __init__(self, config: NormalVariationConfig):
        self.config = config
        self._cells: dict[str, dict[str, list[np.ndarray]]] = {}
        self._frames: dict[str, tuple[int, int]] = {}
        self._faces: dict[str, int] = {}

    def add(self, normalizer: str, maps: Mapping[str, np.ndarray]) -> None:
        """Add one normal face's maps (``{map name: H×W heat}``) for ``normalizer``."""
        grid = self.config.grid_size
        for name, heat in maps.items():
            heat = np.asarray(heat, dtype=np.float32)
            if heat.ndim != 2:
                raise ValueError(f"map {name!r}: expected an H×W heatmap, got shape {heat.shape}")
            frame = self._frames.setdefault(normalizer, heat.shape)
            if heat.shape != frame:
                raise ValueError(f"map {name!r} is {heat.shape}, earlier maps of {normalizer!r} were {frame}")
            if frame[0] % grid or frame[1] % grid:
                raise ValueError(f"the frame {frame} is not divisible into {grid}×{grid} cells")
            cells = cell_means(heat, (frame[0] // grid, frame[1] // grid))
            store = self._cells.setdefault(normalizer, {}).setdefault(name, [])
            store.append(cells)
            if self.config.mirror_augment:
                store.append(np.ascontiguousarray(cells[:, ::-1]))
        self._faces[normalizer] = self._faces.get(normalizer, 0) + 1

    def finish(self, *, training_data: str = "unspecified") -> NormalVariation:
        if not self._cells:
            raise ValueError("no normal faces were added")
        maps = {}
        for normalizer, by_name in self._cells.items():
            stats = {}
            for name, cells in by_name.items():
                stack = np.stack(cells).astype(np.float64)
                if len(stack) < 2:
                    raise ValueError(f"map {normalizer}/{name}: need at least 2 normal faces, got {len(stack)}")
                if self.config.statistic == "median_mad":
                    centre = np.median(stack, axis=0)
                    spread = _MAD_TO_SIGMA * np.median(np.abs(stack - centre), axis=0)
                else:
                    centre, spread = stack.mean(axis=0), stack.std(axis=0, ddof=1)
                seen = spread[spread > 0]
                floor = self.config.spread_floor * float(np.median(seen)) if seen.size else 1.0
                spread = np.maximum(spread, max(floor, 1e-12))
                stats[name] = (centre.astype(np.float32), spread.astype(np.float32))
            maps[normalizer] = NormalVariationMaps(stats, self._frames[normalizer], self.config.grid_size)
        provenance = model_provenance(
            MODEL_KIND,
            schema_version=SCHEMA_VERSION,
            params={**self.config.model_dump(mode="json"), "faces": self._faces},
            training_data=training_data,
            uses_landmarks=True,
        )
        return NormalVariation(maps, self.config, provenance)
