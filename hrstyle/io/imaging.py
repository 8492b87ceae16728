"""Resampling shared by tune and render, so a look runs at exactly the size it was tuned at."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def long_side_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(h, w) scaled so the longer side is ``long_side``; never upscales."""
    scale = min(1.0, long_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Antialiased bilinear resize of (B,C,H,W); a no-op at the same size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def resize_long_side(x: Tensor, long_side: int) -> Tensor:
    return resize(x, long_side_size(x.shape[-2], x.shape[-1], long_side))
