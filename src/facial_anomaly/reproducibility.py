"""Seeded, deterministic torch training runs (shared by every trainer in the library).

Within :func:`reproducible`, torch's global RNG is seeded, deterministic algorithms are on
(warn-only, as some CUDA kernels have no deterministic version) and cuDNN autotuning is
off; the caller's RNG state and these switches are restored afterwards. On the CPU, the
same seed, data and thread count then give bit-identical weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` (0-based) of a run seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


@contextmanager
def reproducible(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch, enable deterministic algorithms; restore both (and the RNG) afterwards."""
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    saved_cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved_cudnn
