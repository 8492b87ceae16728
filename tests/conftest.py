"""Shared fixtures: small real images from sample_frames/, one VGG per session, and the
helpers CLI tests share: the one-line error check, and folders and files that even
root cannot write or read (tests here run as root, for whom chmod changes nothing)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from hrstyle.io.stills import read_image
from hrstyle.io.tensors import to_tensor
from hrstyle.io.imaging import resize_long_side
from hrstyle.look.perceptual import VGGFeatures

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


def assert_one_line_error(result, code: int, fragment: str) -> None:
    """A CliRunner result that failed with ``code`` and exactly one line, ``hrstyle: error: ...fragment...``."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("hrstyle: error:") and fragment in lines[0], result.output


def make_immutable(folder: Path) -> bool:
    """``chattr +i``: nobody, root included, can add, remove or rename entries. False where unsupported."""
    return subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0


def make_mutable(folder: Path) -> None:
    subprocess.run(["chattr", "-i", str(folder)], check=True)


@pytest.fixture
def immutable_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder even root cannot write into (chattr +i), or a skip where the filesystem lacks it."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if not make_immutable(folder):
        pytest.skip("chattr +i is not available here")
    yield folder
    make_mutable(folder)


# Linux capabilities that let root ignore file permissions (linux/capability.h).
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2
_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


@contextlib.contextmanager
def permissions_enforced() -> Iterator[None]:
    """Make chmod count in this thread (and threads it starts), even for root.

    Root reads a ``chmod 000`` file because of CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH; this drops both from the calling thread's effective set
    (capabilities are per thread on Linux) and restores them on exit. Not root:
    permissions already count. Skips the test where capabilities cannot be changed.
    """
    if os.name != "posix" or os.geteuid() != 0:
        yield
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        header, data = _CapHeader(_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
        if libc.capget(ctypes.byref(header), data) != 0:
            raise OSError(ctypes.get_errno(), "capget")
    except (OSError, AttributeError) as exc:
        pytest.skip(f"cannot drop root's file-permission override here ({exc})")
    saved = data[0].effective
    data[0].effective &= ~((1 << _CAP_DAC_OVERRIDE) | (1 << _CAP_DAC_READ_SEARCH))
    if libc.capset(ctypes.byref(header), data) != 0:
        pytest.skip(f"cannot drop root's file-permission override here (errno {ctypes.get_errno()})")
    try:
        yield
    finally:
        data[0].effective = saved
        if libc.capset(ctypes.byref(header), data) != 0:
            raise OSError(ctypes.get_errno(), "capset: could not restore capabilities")
