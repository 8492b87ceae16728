"""Shared fixtures: small real images from sample_frames/, one VGG per session, and the
helpers CLI tests share: the one-line error check, and folders and files that even
root cannot write or read (tests here run as root, for whom chmod changes nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from helpers import SAMPLES, load_small, make_immutable, make_mutable

from hrstyle.look.perceptual import VGGFeatures

torch.set_num_threads(max(1, torch.get_num_threads()))


@pytest.fixture(scope="session")
def vgg() -> VGGFeatures:
    return VGGFeatures()


@pytest.fixture(scope="session")
def keyframe_128() -> torch.Tensor:
    return load_small(SAMPLES / "keyframe.png", 128)


@pytest.fixture(scope="session")
def look_128() -> torch.Tensor:
    return load_small(SAMPLES / "look.jpg", 128)


@pytest.fixture
def immutable_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder even root cannot write into (chattr +i), or a skip where the filesystem lacks it."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if not make_immutable(folder):
        pytest.skip("chattr +i is not available here")
    yield folder
    make_mutable(folder)
