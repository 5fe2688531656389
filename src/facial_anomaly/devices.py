"""Torch device choice shared by every GPU-capable node (``device: auto``)."""

from __future__ import annotations


def resolve_device(name: str):
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``; any other name is passed to torch.

    Raises:
        ValueError: when ``cuda`` is requested but no GPU is available.
    """
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but torch sees no GPU; use device: auto or cpu")
    return device
