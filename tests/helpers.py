"""Helpers the tests share: sample images, small looks and shots, folder snapshots, and the CLI's
one-line error check. Fixtures live in conftest.py."""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import re
import struct
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import OpenImageIO as oiio
import pytest
import torch

from hrstyle.io.imaging import resize_long_side
from hrstyle.io.stills import FrameSpec, read_image, write_image
from hrstyle.io.tensors import to_tensor
from hrstyle.look.config import NET_PRESETS
from hrstyle.look.file import Look
from hrstyle.look.meta import LookMeta
from hrstyle.look.net import HRNet
from hrstyle.render.manifest import MANIFEST_NAME

ROOT = Path(__file__).resolve().parents[1]

SAMPLES = ROOT / "sample_frames"

_CAPABILITY_VERSION_3 = 0x20080522

# Linux capabilities that let root ignore file permissions (linux/capability.h).
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def load_small(path: Path, long_side: int) -> torch.Tensor:
    return resize_long_side(to_tensor(read_image(path).pixels), long_side)


# What a command prints on stderr instead of a progress bar when that is not a terminal (cli/progress.py).
PROGRESS_LINE = re.compile(r"(tune|apply|farm|sweep) \d+/\d+ ")


def sample_truth(pixels: np.ndarray) -> np.ndarray:
    """The sample pair's right answer for (H,W,3) float32 RGB [0,1] pixels: them through the
    grade that made look.jpg (sample_frames/make_sample.py), at 8 bits as look.jpg was."""
    import sys

    sys.path.insert(0, str(SAMPLES))
    from make_sample import grade_look

    return grade_look(np.rint(np.clip(pixels, 0, 1) * 255).astype(np.uint8)).astype(np.float32) / 255


def assert_one_line_error(result, code: int, fragment: str) -> None:
    """A CliRunner result that failed with ``code`` and exactly one line, ``hrstyle: error: ...fragment...``."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip() and not PROGRESS_LINE.match(line)]
    assert len(lines) == 1 and lines[0].startswith("hrstyle: error:") and fragment in lines[0], result.output


def make_immutable(folder: Path) -> bool:
    """``chattr +i``: nobody, root included, can add, remove or rename entries. False where unsupported."""
    return subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0


def make_mutable(folder: Path) -> None:
    subprocess.run(["chattr", "-i", str(folder)], check=True)


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


def make_look(work_size: tuple[int, int] = (36, 64), grade: float = 0.002, seed: int = 0) -> Look:
    """A look without tuning. ``grade`` is the spread of the head's weights; with
    the head's bias (a warm/cool shift) it changes frames by about 25 dB PSNR."""
    torch.manual_seed(seed)
    net = HRNet(NET_PRESETS["hrnet-small"]).eval()
    with torch.no_grad():
        if grade:
            net.head.weight.normal_(0, grade)
            net.head.bias.copy_(torch.tensor([0.05, 0.0, -0.05]))
    meta = LookMeta(
        net_cfg=net.cfg.to_dict(),
        tune_cfg={},
        steps_done=0,
        work_size=list(work_size),
        vgg_weights="none",
        keyframe_sha256="",
        look_sha256="",
        final_losses={},
        stopped="completed",
    )
    return Look(net.requires_grad_(False), meta, hashlib.sha256(f"{work_size}{grade}{seed}".encode()).hexdigest())


def sample_pixels(number: int = 1001, step: int = 8) -> np.ndarray:
    """A frame of the sample shot, subsampled: 120x68 at step 8."""
    return read_image(SAMPLES / "shot" / f"shot.{number}.png").pixels[::step, ::step].copy()


def write_sequence(folder: Path, name: str, numbers, spec: FrameSpec | None = None, step: int = 8) -> list[Path]:
    """Sample-shot frames as ``folder / name.format(n)``, 8-bit PNG unless ``spec`` says otherwise."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, n in enumerate(numbers):
        pixels = sample_pixels(1001 + i % 24, step)
        h, w = pixels.shape[:2]
        path = folder / name.format(n)
        write_image(path, pixels, spec or FrameSpec(path.suffix.lstrip("."), "uint8", w, h, False))
        paths.append(path)
    return paths


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / ((a - b) ** 2).mean()))


def manifest(out_dir: Path) -> dict:
    return json.loads((out_dir / MANIFEST_NAME).read_text())


def visible_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


def oiio_write(path: Path, data: np.ndarray, fmt: str, **attributes) -> Path:
    """Write ``data`` (H, W, C) with OpenImageIO directly, bypassing frames.py."""
    height, width, nchannels = data.shape
    spec = oiio.ImageSpec(width, height, nchannels, fmt)
    for name, value in attributes.items():
        if isinstance(value, tuple):
            spec.attribute(name, *value)
        else:
            spec.attribute(name, value)
    out = oiio.ImageOutput.create(str(path))
    assert out.open(str(path), spec) and out.write_image(data), out.geterror()
    out.close()
    return path


def palette_png(path: Path, index: np.ndarray, palette: np.ndarray) -> Path:
    """An 8-bit palette PNG, written by hand: OpenImageIO cannot write one."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    height, width = index.shape
    rows = b"".join(b"\x00" + row.tobytes() for row in index.astype(np.uint8))
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0))
        + chunk(b"PLTE", palette.astype(np.uint8).tobytes())
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return path


class Exploit:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def rgb(image: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 photo -> float32 RGB [0,1], optionally area-resized to (width, height)."""
    out = image.astype(np.float32) / 255
    return out if size is None else cv2.resize(out, size, interpolation=cv2.INTER_AREA)
