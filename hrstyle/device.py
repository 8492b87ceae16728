"""Where the network runs, and at what precision."""

from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

from .errors import InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` takes CUDA, then Apple MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.split(":")[0] not in DEVICE_CHOICES[1:]:
        raise InputError(f"--device {name}: expected one of {', '.join(DEVICE_CHOICES)}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {name}: no CUDA GPU is visible; use --device cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        raise InputError("--device mps: Apple MPS is not available; use --device cpu or auto")
    return torch.device(name)


def autocast(device: torch.device, enabled: bool = True) -> ContextManager:
    """bf16 (fp16 where bf16 is missing) for activations on a GPU; plain float32 elsewhere.

    Only the network and VGG run inside it: Grams, losses and colour math stay
    float32 because banding in a grade is a defect.
    """
    if not enabled or device.type not in ("cuda", "mps"):
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast(device.type, dtype=dtype)
