"""The boundary between frames and tensors: ``(H, W, 3)`` float32 arrays to ``(1, 3, H, W)``
float32 tensors and back. Nothing is clipped or rescaled here; stills.py quantises on write.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import ShapeError
from .stills import FrameSpec, check_pixels, write_image


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` float32 array -> contiguous ``(1, 3, H, W)`` float32 tensor.

    >>> to_tensor(np.zeros((4, 6, 3), np.float32)).shape
    torch.Size([1, 3, 4, 6])
    """
    check_pixels(pixels, "pixels")
    if pixels.dtype != np.float32:
        raise ShapeError(f"pixels: expected float32, got {pixels.dtype}")
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_pixels(t: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` or ``(3, H, W)`` tensor -> ``(H, W, 3)`` float32 array on
    the CPU. Values are not clipped: `write_image` does that for integer formats.

    >>> to_pixels(torch.zeros(1, 3, 4, 6)).shape
    (4, 6, 3)
    """
    if t.ndim == 4 and t.shape[0] == 1:
        t = t[0]
    if t.ndim != 3 or t.shape[0] != 3:
        raise ShapeError(f"expected a (1, 3, H, W) or (3, H, W) tensor, got {tuple(t.shape)}")
    return t.detach().to("cpu", torch.float32).permute(1, 2, 0).contiguous().numpy()


def write_preview(path: str | Path, image: torch.Tensor) -> None:
    """Write a ``(1, 3, H, W)`` or ``(3, H, W)`` tensor in [0, 1] as an 8-bit
    image (format from the extension), atomically; for progress previews."""
    pixels = to_pixels(image)
    height, width = pixels.shape[:2]
    write_image(path, pixels, FrameSpec("png", "uint8", width, height, has_alpha=False))
