"""Shared fixtures: small real images from sample_frames/, and one VGG per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hrstyle.frames import read_image, to_tensor
from hrstyle.imaging import resize_long_side
from hrstyle.perceptual import VGGFeatures

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_frames"

torch.set_num_threads(max(1, torch.get_num_threads()))


def load_small(path: Path, long_side: int) -> torch.Tensor:
    return resize_long_side(to_tensor(read_image(path).pixels), long_side)


@pytest.fixture(scope="session")
def vgg() -> VGGFeatures:
    return VGGFeatures()


@pytest.fixture(scope="session")
def keyframe_128() -> torch.Tensor:
    return load_small(SAMPLES / "keyframe.png", 128)


@pytest.fixture(scope="session")
def look_128() -> torch.Tensor:
    return load_small(SAMPLES / "look.jpg", 128)
