"""Conversions between the project's uint8 RGB images and generator tensors.

Generator tensors are float32 (B, 3, H, W) in [-1, 1] (the range of StyleGAN2 outputs
and of LPIPS inputs); masks are float32 (B, 1, H, W) in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize (B, C, H, W) to ``size`` = (H', W'): area averaging when shrinking (no
    aliasing, exact 2×2 means for halving), bilinear when enlarging, identity when equal."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if size[0] <= x.shape[-2] and size[1] <= x.shape[-1]:
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def images_to_tensor(images: Sequence[np.ndarray], size: int, device: torch.device) -> torch.Tensor:
    """uint8 RGB images (H×W×3 each, any sizes) → (B, 3, size, size) float32 in [-1, 1] on ``device``."""
    batch = []
    for image in images:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an H×W×3 uint8 RGB image, got {image.dtype} {image.shape}")
        tensor = torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None].float()
        batch.append(resize(tensor / 127.5 - 1.0, (size, size)))
    return torch.cat(batch)


def tensor_to_image(x: torch.Tensor, height: int, width: int) -> np.ndarray:
    """(3, R, R) tensor in [-1, 1] → uint8 RGB image H×W×3 (values outside [-1, 1] are clipped)."""
    x = resize(x.detach()[None].float(), (height, width))[0]
    x = ((x.clamp(-1.0, 1.0) + 1.0) * 127.5).round()
    return x.permute(1, 2, 0).to(torch.uint8).cpu().numpy()


def mask_to_tensor(mask: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """H×W mask (bool or float in [0, 1]) → (1, 1, size, size) float32 on ``device``."""
    mask = np.asarray(mask, dtype=np.float32)
    if mask.ndim != 2:
        raise ValueError(f"expected an H×W mask, got shape {mask.shape}")
    return resize(torch.from_numpy(mask).to(device)[None, None], (size, size))
