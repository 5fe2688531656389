"""Statistics shared by the model-based normalizers: PCA with a variance budget, robust
(M-estimator) weights for iteratively reweighted least squares, and the Gaussian-prior
(MAP) solve of a weighted linear model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# 1 / Φ⁻¹(3/4): makes the median absolute deviation a consistent estimate of σ for
# Gaussian data (a standard constant).
MAD_TO_SIGMA = 1.4826

ROBUST_LOSSES = ("huber", "tukey")


def robust_fit_params(
    *, clamp_sigma: float, iterations: int, loss: str, tuning: float, scale_floor: tuple[str, float]
) -> dict:
    """The keyword arguments of a robust model fit (shape or texture), validated.

    ``scale_floor`` is (keyword, value): the shape fit takes ``scale_floor_px``, the
    texture fit ``scale_floor`` (grey levels).

    Raises:
        ValueError: an unknown ``loss``.
    """
    if loss not in ROBUST_LOSSES:
        raise ValueError(f"unknown robust_loss {loss!r}; available: {list(ROBUST_LOSSES)}")
    return {
        "clamp_sigma": float(clamp_sigma),
        "iterations": int(iterations),
        "loss": loss,
        "tuning": float(tuning),
        scale_floor[0]: float(scale_floor[1]),
    }


@dataclass(frozen=True)
class PCA:
    """``mean`` (D,), orthonormal ``components`` (K, D) and their ``variances`` (K,)."""

    mean: np.ndarray
    components: np.ndarray
    variances: np.ndarray


def fit_pca(data: np.ndarray, *, explained_variance: float, max_components: int) -> PCA:
    """PCA of the rows of ``data`` (N, D), keeping the fewest components that explain
    ``explained_variance`` of the total variance, at most ``max_components``."""
    if not 0.0 < explained_variance <= 1.0:
        raise ValueError(f"explained_variance must be in (0, 1], got {explained_variance}")
    data = np.asarray(data)
    mean = data.mean(axis=0)
    _, singular, vt = np.linalg.svd(data - mean, full_matrices=False)
    variances = singular**2 / max(len(data) - 1, 1)
    total = variances.sum()
    if total <= 0:
        count = 0
    else:
        count = int(np.searchsorted(np.cumsum(variances) / total, explained_variance - 1e-12) + 1)
    count = max(0, min(count, max_components, int((variances > total * 1e-12).sum())))
    return PCA(mean.astype(data.dtype), vt[:count].astype(data.dtype), variances[:count].astype(np.float64))


def robust_weights(residuals: np.ndarray, scale: float, *, loss: str, tuning: float) -> np.ndarray:
    """IRLS weights of an M-estimator for residual magnitudes ``residuals`` (≥ 0).

    ``huber``: 1 up to ``tuning``·scale, then tuning·scale / r (1.345 gives 95 % Gaussian
    efficiency). ``tukey`` (biweight): (1 − (r / (tuning·scale))²)², 0 beyond (4.685 gives 95 %).
    """
    if scale <= 0:
        raise ValueError(f"robust scale must be positive, got {scale}")
    threshold = tuning * scale
    r = np.asarray(residuals, dtype=np.float64)
    if loss == "huber":
        return np.minimum(1.0, threshold / np.maximum(r, 1e-300))
    if loss == "tukey":
        return np.where(r < threshold, (1.0 - (r / threshold) ** 2) ** 2, 0.0)
    raise ValueError(f"unknown robust loss {loss!r}; available: {list(ROBUST_LOSSES)}")


def robust_scale(residuals: np.ndarray, *, floor: float, weights: np.ndarray | None = None) -> float:
    """σ estimate of residual magnitudes from their median (× 1.4826), at least ``floor``;
    only residuals with a positive prior weight count."""
    r = np.asarray(residuals, dtype=np.float64)
    if weights is not None:
        r = r[np.asarray(weights) > 0]
    if r.size == 0:
        return float(floor)
    return max(float(floor), MAD_TO_SIGMA * float(np.median(r)))


def weighted_map_coefficients(
    basis: np.ndarray, target: np.ndarray, row_weights: np.ndarray, variances: np.ndarray, noise_variance: float
) -> np.ndarray:
    """Coefficients ``b`` minimising Σ wᵢ (targetᵢ − basisᵢ·b)² / noise_variance + Σ b_k² / variance_k.

    ``basis`` is (D, K); with all weights 1 this is PCA projection shrunk by the prior.
    """
    weighted = basis * np.asarray(row_weights, dtype=basis.dtype)[:, None]
    normal = basis.T @ weighted + np.diag(noise_variance / variances)
    return np.linalg.solve(normal.astype(np.float64), (weighted.T @ target).astype(np.float64))
