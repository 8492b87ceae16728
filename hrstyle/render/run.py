"""Apply a look to a whole shot: named grading steps, and the streaming render around them.

The network only runs at the look's work size, the size it was tuned at:
elsewhere it mottles flat areas and flickers (README, lessons). The grading
steps take and return tensors and keep no state:

* guided path (default): `to_work_size` -> `run_network` -> `carry_to_full_res`,
  itself `fit_grade` (a local affine colour transform fitted between the
  work-size input and output) -> `apply_grade` (those coefficients, bilinearly
  upsampled, applied to the full-resolution frame);
* ``--native`` (the reference): `run_native_tiled`, the network at full
  resolution in overlapping, feathered tiles;
* a 3D LUT instead of a look (``--engine lut``, e.g. from ``hrstyle bake``):
  every pixel through `lut.apply_lut`, no network, no work size.

`grade_batch` composes them. `render_shot` streams a shot through it: a decode
thread and an encode thread, each behind a small bounded queue, keep disk and
device busy at once while memory stays flat however long the shot. Frames are
graded and written in shot order, which temporal smoothing needs: it slots in
between `fit_grade` and `apply_grade`, smoothing the small work-size
coefficients frame to frame (temporal.CoefficientSmoother).

A render is resumable: ``hrstyle-manifest.json`` in the output folder records
the look's hash, the options that change pixels and every finished frame's
size and SHA-256. A re-run skips frames whose output still matches, renders the
rest, and refuses to mix in frames made with another look or other options.
Renders of different frame ranges can share a folder at once (farm chunks):
each save merges into the manifest on disk under a lock.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from ..io.atomic import locked, make_folder, remove_stale_temps, write_bytes_atomic
from ..io.colour import working_encoding
from ..device import pick_device
from ..errors import DeviceMemoryError, ImageReadError, InputError, OutputError, ShapeError
from ..io.frames import (
    BIT_DEPTHS,
    VIDEO_EXTENSIONS,
    VIDEO_OUTPUT_EXTENSIONS,
    FrameRef,
    FrameSpec,
    Image,
    Shot,
    VideoWriter,
    output_path_for,
    sequence_name,
    to_pixels,
    to_tensor,
    write_image,
)
from ..grade.guided import apply_upsampled, fit_affine
from ..io.imaging import long_side_size, resize
from ..look.file import LOOK_SUFFIX, Look, file_sha256
from ..grade.lut import INTERPOLATIONS, Lut3D, apply_lut, lut_sha256
from ..look.net import HRNet
from ..grade.temporal import CoefficientSmoother, SmoothCfg

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MANIFEST_NAME = "hrstyle-manifest.json"
MANIFEST_LOCK_NAME = ".hrstyle-manifest.lock"  # held while a process merges its frames into the manifest
MANIFEST_VERSION = 1
DEFAULT_VIDEO_EXT = ".mov"
DEFAULT_FPS = 24  # for a video made from a sequence whose frames carry no frame rate

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
_MAX_AUTO_BATCH = 8
# Full-size float32 planes one frame holds at the peak of the guided carry: input
# and output (3 each), the 4 upsampled coefficients of one channel, and headroom.
_PLANES_PER_FRAME = 12
_MANIFEST_EVERY_S = 1.0  # a kill loses at most this much bookkeeping; those frames are re-rendered
_POLL_S = 0.1


@dataclass(frozen=True)
class RenderCfg:
    """How frames are graded. The fields `pixel_options` lists change pixels; the rest is speed."""

    batch_size: int | None = None  # None: 1 on the CPU, by free memory on CUDA (see auto_batch_size)
    native: bool = False           # the network at full resolution in tiles instead of the guided carry
    tile: int = 512                # --native: tile side in pixels before padding; 0 = the whole frame
    tile_pad: int = 32             # --native: overlap added on each side, cross-faded
    # The guided fit runs at the work size, so its window is measured there, as
    # 1/64 of the long side (8 px at the default 512, never under 2) when None.
    # On sample_frames with a look tuned at 256 px, r=4 carries the network's
    # output within 31 dB at the work size without artefacts; r=1 speckles flat
    # areas with colour, and r=8 gives up 2 dB along edges.
    radius: int | None = None
    # Ridge on the fit's slopes. The residual (output - input) is fitted, so eps
    # pulls flat windows towards "change by a constant", never towards flattening
    # the input. 1e-3 halves the slopes where the local standard deviation is
    # 0.03 (8 code values): below that the network's change is mostly an offset.
    eps: float = 1e-3
    smooth: SmoothCfg = SmoothCfg(strength=0.0)  # flow-guided temporal smoothing; strength 0 = off
    colorspace: str = "auto"       # frames' encoding (colour.COLORSPACES): auto = EXR is scene-linear Rec.709
    interpolation: str = "tetrahedral"  # grading with a LUT: lut.INTERPOLATIONS; unused with a look
    precision: str = "auto"        # network activations: auto = bf16/fp16 on CUDA, fp32 elsewhere
    compile: bool = False          # torch.compile the network; costs time before the first frame
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.batch_size is not None and not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise InputError(f"batch size: expected an integer >= 1, got {self.batch_size!r}")
        if self.tile != 0 and self.tile < 2 * HRNet.min_side:
            raise InputError(f"tile: expected 0 (whole frame) or at least {2 * HRNet.min_side} px, got {self.tile}")
        if self.tile_pad < 0:
            raise InputError(f"tile padding: expected >= 0 px, got {self.tile_pad}")
        if self.radius is not None and not (isinstance(self.radius, int) and self.radius >= 1):
            raise InputError(f"guided radius: expected an integer >= 1, got {self.radius!r}")
        if not (self.eps > 0 and math.isfinite(self.eps)):
            raise InputError(f"guided eps: expected a number > 0, got {self.eps!r}")
        if self.native and self.smooth.strength > 0:
            raise InputError("--smooth works on the guided path's colour transform; drop --native or --smooth")
        working_encoding(self.colorspace, "uint8")  # validates the name
        if self.interpolation not in INTERPOLATIONS:
            raise InputError(f"LUT interpolation {self.interpolation!r}: expected one of {', '.join(INTERPOLATIONS)}")
        if self.precision not in PRECISIONS:
            raise InputError(f"precision {self.precision!r}: expected one of {', '.join(PRECISIONS)}")


# --- the grading steps ----------------------------------------------------------------


def activation_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The network's activation dtype for ``precision`` on ``device``.

    Raises:
        InputError: a half type asked for on the CPU.
    """
    if precision == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    dtype = _DTYPES[precision]
    if dtype != torch.float32 and device.type == "cpu":
        raise InputError(f"precision {precision}: half precision is for a GPU; use fp32 or auto on the CPU")
    return dtype


def prepare_look(look: Look, cfg: RenderCfg) -> Look:
    """A copy of ``look`` ready to render with ``cfg``: its network on the device,
    channels_last on CUDA, compiled if asked. Checks the precision suits the device."""
    device = pick_device(cfg.device)
    activation_dtype(cfg.precision, device)
    net = copy.deepcopy(look.net).to(device).eval().requires_grad_(False)
    if device.type == "cuda":
        net = net.to(memory_format=torch.channels_last)
        # The same convolution algorithm on every run, so a frame renders the same in any chunk.
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    if cfg.compile:
        net = torch.compile(net)
    return replace(look, net=net)


def prepare_lut(lut: Lut3D, cfg: RenderCfg) -> Lut3D:
    """``lut`` on the render's device. Refuses the options that only mean something for a network.

    Raises:
        InputError: ``cfg`` asks for temporal smoothing or the native path.
    """
    if cfg.smooth.strength > 0:
        raise InputError("--smooth smooths the network's colour transform from frame to frame and a LUT has none; "
                         "drop --smooth or apply the look file")
    if cfg.native:
        raise InputError("--native runs the look's network at full resolution; drop it to apply a LUT")
    return lut.to(pick_device(cfg.device))


def _device_of(net: nn.Module) -> torch.device:
    return next(net.parameters()).device


def _grade_device(look: Look | Lut3D) -> torch.device:
    return look.table.device if isinstance(look, Lut3D) else _device_of(look.net)


def work_size_for(height: int, width: int, look: Look) -> tuple[int, int]:
    """(h, w) a frame of ``height`` x ``width`` is graded at: the look's tuned long
    side, by the same rule tune used, so a frame shaped like the keyframe gets
    exactly ``look.meta.work_size``. Never upscales."""
    return long_side_size(height, width, max(look.meta.work_size))


def guided_radius(cfg: RenderCfg, work_size: tuple[int, int]) -> int:
    """The guided fit's window radius in work-size pixels (see `RenderCfg.radius`)."""
    return cfg.radius if cfg.radius is not None else max(2, round(max(work_size) / 64))


def to_work_size(frames: Tensor, look: Look) -> Tensor:
    """(B,3,H,W) float32 -> (B,3,h,w) at `work_size_for`, antialiased as in tune."""
    return resize(frames, work_size_for(*frames.shape[-2:], look))


def run_network(net: nn.Module, x: Tensor, cfg: RenderCfg) -> Tensor:
    """``net`` on (B,3,h,w) float32 already on its device -> (B,3,h,w) float32.

    Activations are in ``cfg.precision``; what comes out is float32 again, since
    the colour math after it must not band.
    """
    dtype = activation_dtype(cfg.precision, x.device)
    if x.device.type == "cuda":  # on the CPU channels_last is 2x slower (README)
        x = x.contiguous(memory_format=torch.channels_last)
    precision = torch.autocast(x.device.type, dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext()
    with torch.inference_mode(), precision:
        return net(x).float().contiguous()


def fit_grade(work_in: Tensor, work_out: Tensor, cfg: RenderCfg) -> tuple[Tensor, Tensor]:
    """The grade ``work_in`` -> ``work_out`` (B,3,h,w) as a per-pixel affine colour
    transform: ``A`` (B,3,3,h,w) and ``b`` (B,3,h,w), float32, by the box-filter
    guided fit (guided.fit_affine).

    The residual ``work_out - work_in`` is what is fitted, so the transform is
    ``I + A·I + b``: the ridge then pulls towards "no change", an identity
    grade stays exactly the identity, and low-contrast texture the network
    leaves alone is not flattened.
    """
    return fit_affine(work_in, work_out - work_in, guided_radius(cfg, tuple(work_in.shape[-2:])), cfg.eps)


def apply_grade(full: Tensor, A: Tensor, b: Tensor) -> Tensor:
    """`fit_grade`'s coefficients, bilinearly upsampled, applied to ``full``
    (B,3,H,W) float32: ``full + A·full + b``. Every native detail stays, and no
    texture the input lacks can appear. Returns (B,3,H,W) float32."""
    return apply_upsampled(A, b, full).add_(full)


def carry_to_full_res(full: Tensor, work_in: Tensor, work_out: Tensor, cfg: RenderCfg) -> Tensor:
    """Carry the grade ``work_in`` -> ``work_out`` (B,3,h,w) to ``full`` (B,3,H,W)
    through `fit_grade` and `apply_grade`. Returns (B,3,H,W) float32."""
    return apply_grade(full, *fit_grade(work_in, work_out, cfg))


def run_native_tiled(net: nn.Module, full: Tensor, cfg: RenderCfg) -> Tensor:
    """``net`` on (B,3,H,W) float32 at full resolution -> (B,3,H,W) float32.

    Tiles of at most ``cfg.tile`` px (0: one tile), each read with ``cfg.tile_pad``
    px of context on every inner side; neighbours are cross-faded linearly over
    their ``2 * tile_pad`` overlap. Instance norm sees each tile's own statistics,
    so tiles differ slightly in tone; the cross-fade hides the seams but not that.
    """
    height, width = full.shape[-2:]
    if cfg.tile == 0 or (height <= cfg.tile and width <= cfg.tile):
        return run_network(net, full, cfg)
    out = torch.zeros_like(full)
    weight = full.new_zeros(height, width)
    for rows in _tile_spans(height, cfg.tile, cfg.tile_pad):
        ramp_y = _feather(rows, height, cfg.tile_pad, full.device)
        for cols in _tile_spans(width, cfg.tile, cfg.tile_pad):
            feather = ramp_y[:, None] * _feather(cols, width, cfg.tile_pad, full.device)[None, :]
            out[..., rows, cols] += run_network(net, full[..., rows, cols], cfg) * feather
            weight[rows, cols] += feather
    return out.div_(weight)


def _tile_spans(n: int, tile: int, pad: int) -> list[slice]:
    """Equal cores covering [0, n) in steps of at most ``tile``, each widened by ``pad``."""
    count = math.ceil(n / tile)
    bounds = [round(i * n / count) for i in range(count + 1)]
    return [slice(max(0, a - pad), min(n, b + pad)) for a, b in zip(bounds, bounds[1:])]


def _feather(span: slice, n: int, pad: int, device: torch.device) -> Tensor:
    """1-D weights of a tile: ramps over the overlaps at inner edges, so that
    neighbours' weights sum to 1 there; flat at the frame's borders."""
    x = torch.arange(span.start, span.stop, device=device, dtype=torch.float32) + 0.5
    ones = torch.ones_like(x)
    if pad == 0:
        return ones
    rise = (x - span.start) / (2 * pad) if span.start > 0 else ones
    fall = (span.stop - x) / (2 * pad) if span.stop < n else ones
    return torch.minimum(rise, fall).clamp(max=1.0)


# A frame and the one before it in the shot (None for the first): what temporal smoothing may blend.
Link = tuple[int | None, int]


def smooth_grade(smoother: CoefficientSmoother, links: Sequence[Link], work_in: Tensor, A: Tensor,
                 b: Tensor) -> tuple[Tensor, Tensor]:
    """`fit_grade`'s coefficients for consecutive frames, each blended with its
    predecessor's along the flow (temporal.CoefficientSmoother), in order."""
    batch, _, _, h, w = A.shape
    packed = torch.cat([A.reshape(batch, 9, h, w), b], dim=1)
    smoothed = torch.cat([smoother(link, work_in[i : i + 1], packed[i : i + 1]) for i, link in enumerate(links)])
    return smoothed[:, :9].reshape(batch, 3, 3, h, w), smoothed[:, 9:]


def grade_batch(look: Look | Lut3D, frames: Tensor, cfg: RenderCfg, smoother: CoefficientSmoother | None = None,
                links: Sequence[Link] = ()) -> Tensor:
    """Grade (B,3,H,W) float32 frames (RGB as read: [0,1] for integer formats).

    Runs on the device of ``look.net`` (see `prepare_look`), or of a LUT's table
    (`prepare_lut`; interpolated by ``cfg.interpolation``), and returns
    (B,3,H,W) float32 there, unclipped. With a ``smoother``, ``links`` names
    each frame and its predecessor, and frames must come in shot order.

    >>> look = load_look("teal.look.safetensors")  # doctest: +SKIP
    >>> grade_batch(look, torch.rand(2, 3, 540, 960), RenderCfg()).shape  # doctest: +SKIP
    torch.Size([2, 3, 540, 960])
    """
    if frames.ndim != 4 or frames.shape[1] != 3 or frames.dtype != torch.float32:
        raise ShapeError(f"frames: expected float32 (B,3,H,W), got {frames.dtype} {tuple(frames.shape)}")
    full = frames.to(_grade_device(look), non_blocking=True)
    if isinstance(look, Lut3D):
        return apply_lut(look, full, cfg.interpolation)
    with torch.inference_mode():
        if cfg.native:
            return run_native_tiled(look.net, full, cfg)
        work_in = to_work_size(full, look)
        A, b = fit_grade(work_in, run_network(look.net, work_in, cfg), cfg)
        if smoother is not None:
            A, b = smooth_grade(smoother, links, work_in, A, b)
        return apply_grade(full, A, b)


def auto_batch_size(device: torch.device, height: int, width: int) -> int:
    """Frames per batch when none is given: 1 on the CPU, where torch already
    spreads one frame over every core and a batch only multiplies memory; on CUDA
    as many as fit in half the free memory, up to 8."""
    if device.type != "cuda":
        return 1
    free, _ = torch.cuda.mem_get_info(device)
    return int(max(1, min(_MAX_AUTO_BATCH, free // 2 // (height * width * 4 * _PLANES_PER_FRAME))))


def grade_frames(look: Look | Lut3D, frames: Tensor, cfg: RenderCfg, batch_size: int,
                 smoother: CoefficientSmoother | None = None, links: Sequence[Link] = ()) -> tuple[Tensor, int]:
    """`grade_batch` over ``frames`` in chunks of ``batch_size``, halving the chunk
    on CUDA out-of-memory. Returns the graded frames on the CPU and the batch
    size that fitted, for the next call.

    Raises:
        DeviceMemoryError: one frame alone does not fit.
    """
    graded: list[Tensor] = []
    while len(graded) < len(frames):
        start = len(graded)
        state = smoother.state if smoother is not None else None
        try:
            chunk = slice(start, start + batch_size)
            graded.extend(grade_batch(look, frames[chunk], cfg, smoother, links[chunk]).cpu())
            continue
        except torch.cuda.OutOfMemoryError:
            if smoother is not None:
                smoother.state = state  # the retried frames must see the same predecessor
        # Out of the except block, so the failed batch's tensors are freed first.
        torch.cuda.empty_cache()
        if batch_size == 1:
            hint = f"pass a smaller --tile (now {cfg.tile})" if cfg.native else "use --device cpu"
            raise DeviceMemoryError(
                f"out of GPU memory grading one {frames.shape[-1]}x{frames.shape[-2]} frame; {hint}"
            )
        batch_size //= 2
    return torch.stack(graded), batch_size


# --- outputs and the manifest ------------------------------------------------------------


def default_output_dir(shot_source: str | Path, look_path: str | Path) -> Path:
    """``<shot>_<look-stem>/`` beside the shot: ``plates/`` -> ``plates_teal/``,
    ``plates/shot.%04d.exr`` -> ``plates/shot_teal/``, ``clip.mov`` -> ``clip_teal/``."""
    source, look_path = Path(os.path.abspath(shot_source)), Path(look_path)  # abspath: "." has no name
    look_name = look_path.name.removesuffix(LOOK_SUFFIX) if look_path.name.endswith(LOOK_SUFFIX) else look_path.stem
    shot_name = source.name if source.is_dir() else sequence_name(source) or source.parent.name
    return source.parent / f"{shot_name}_{look_name}"


def _stat(path: Path) -> dict[str, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


class Manifest:
    """``hrstyle-manifest.json``: what a render into one folder is made with, and how far it got.

    ``key`` holds the look's SHA-256, the shot and the options that change
    pixels; a later run resumes only with an equal key. ``frames`` maps each
    frame number (a string, for JSON) to ``{"status": "done", "output": name,
    "bytes", "mtime_ns", "sha256", "input": {"bytes", "mtime_ns"}}`` or
    ``{"status": "bad", "error": message}``.

    Several processes may render into one folder at once (a farm's chunks),
    each with its own `Manifest`: `save` merges what this one recorded into
    what the others saved, so no process drops another's frames.
    """

    def __init__(self, path: Path, key: dict[str, Any], frames: dict[str, dict[str, Any]] | None = None) -> None:
        self.path = path
        self.key = key
        self.frames = frames if frames is not None else {}
        self.on_disk = frames is not None
        self._recorded: dict[str, dict[str, Any]] = {}  # this object's entries: they win over the disk's on save
        self._saved_at = -math.inf

    @classmethod
    def open(cls, out_dir: Path, key: dict[str, Any], *, force: bool = False) -> Manifest:
        """The folder's manifest if it matches ``key``; a fresh one if there is none or ``force``.

        Raises:
            OutputError: the folder holds a render with another look, shot or options, or an unreadable manifest.
        """
        path = out_dir / MANIFEST_NAME
        if force or not path.exists():
            return cls(path, key)
        redo = "choose a new folder with -o, or pass --force to render it again from scratch"
        try:
            data = json.loads(path.read_text())
            saved = {name: data[name] for name in key}
            frames = data["frames"]
            if not isinstance(frames, dict):
                raise TypeError
        except (OSError, ValueError, KeyError, TypeError):
            raise OutputError(f"{path}: not a readable hrstyle manifest; {redo}") from None
        if saved["look_sha256"] != key["look_sha256"]:
            raise OutputError(f"{out_dir}: holds a render of another look; {redo}")
        if saved["shot"] != key["shot"]:
            raise OutputError(f"{out_dir}: holds a render of another shot ({saved['shot']}); {redo}")
        if saved["options"] != key["options"]:
            old = saved["options"] if isinstance(saved["options"], dict) else {}
            changed = ", ".join(
                f"{name} {_shown(old.get(name))} -> {_shown(value)}"
                for name, value in key["options"].items() if old.get(name) != value
            )
            raise OutputError(f"{out_dir}: holds a render with other options ({changed}); {redo}")
        return cls(path, key, frames)

    def is_done(self, ref: FrameRef, output: Path) -> bool:
        """Whether ``output`` is this frame, rendered from its current input file."""
        entry = self.frames.get(str(ref.number))
        if not entry or entry.get("status") != "done" or entry.get("output") != output.name:
            return False
        if entry.get("input") != _stat(ref.path):
            return False
        now = _stat(output)
        if now is None or now["bytes"] != entry.get("bytes"):
            return False
        # Same size and time: ours. A copy keeps the bytes but not always the time.
        return now["mtime_ns"] == entry.get("mtime_ns") or file_sha256(output) == entry.get("sha256")

    def mark_done(self, refs: list[FrameRef], output: Path) -> None:
        """Record ``refs`` as finished in the file ``output`` (one frame, or all of a video)."""
        written = {"status": "done", "output": output.name, **_stat(output), "sha256": file_sha256(output)}
        for ref in refs:
            self._record(ref, {**written, "input": _stat(ref.path)})

    def mark_bad(self, ref: FrameRef, error: ImageReadError) -> None:
        self._record(ref, {"status": "bad", "error": str(error)})

    def _record(self, ref: FrameRef, entry: dict[str, Any]) -> None:
        self.frames[str(ref.number)] = self._recorded[str(ref.number)] = entry

    def save(self, *, throttle: bool = False) -> None:
        """Write atomically, merged under a lock with the frames other processes saved
        meanwhile (this object's own entries win); with ``throttle``, only if the last
        save is a while ago."""
        if throttle and time.monotonic() - self._saved_at < _MANIFEST_EVERY_S:
            return
        with locked(self.path.with_name(MANIFEST_LOCK_NAME)):
            on_disk = self._frames_on_disk()
            if on_disk is not None:
                self.frames = {**on_disk, **self._recorded}
            frames = dict(sorted(self.frames.items(), key=lambda item: int(item[0])))
            data = {"format": "hrstyle-manifest", "version": MANIFEST_VERSION, **self.key, "frames": frames}
            write_bytes_atomic(self.path, json.dumps(data, indent=1).encode())
        self._saved_at = time.monotonic()
        self.on_disk = True

    def _frames_on_disk(self) -> dict[str, dict[str, Any]] | None:
        """The frames of the manifest on disk if it is a render with this key; None if
        there is none, it is unreadable, or another render (--force) replaces it."""
        try:
            data = json.loads(self.path.read_text())
            frames = data["frames"]
            same = all(data[name] == value for name, value in self.key.items())
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return frames if same and isinstance(frames, dict) else None


def _shown(value: Any) -> str:
    return "default" if value is None else str(value)


def pixel_options(cfg: RenderCfg, look: Look | Lut3D, ext: str | None, bit_depth: str | None) -> dict[str, Any]:
    """The settings that change output pixels, as recorded in the manifest; ``look``
    as `prepare_look` returns it, so the precision is the one it will run at."""
    if isinstance(look, Lut3D):
        return {"engine": "lut", "interpolation": cfg.interpolation, "colorspace": cfg.colorspace, "ext": ext,
                "bit_depth": bit_depth}
    options: dict[str, Any] = {
        "native": cfg.native,
        "colorspace": cfg.colorspace,
        "precision": str(activation_dtype(cfg.precision, _device_of(look.net))).removeprefix("torch."),
        "ext": ext,
        "bit_depth": bit_depth,
    }
    if cfg.native:
        return options | {"tile": cfg.tile, "tile_pad": cfg.tile_pad}
    smooth = asdict(cfg.smooth) if cfg.smooth.strength > 0 else None
    return options | {"radius": guided_radius(cfg, tuple(look.meta.work_size)), "eps": cfg.eps, "smooth": smooth}


@dataclass(frozen=True)
class _Outputs:
    """Where each frame goes: one file per frame, or every frame into one ``video``."""

    paths: dict[int, Path]
    video: Path | None

    def files(self, numbers: list[int]) -> list[Path]:
        """The files that hold these frames."""
        if self.video is not None:
            return [self.video] if numbers else []
        return [self.paths[n] for n in numbers]


def _plan_outputs(shot: Shot, out_dir: Path, ext: str | None) -> _Outputs:
    folder = shot.source if shot.source.is_dir() else shot.source.parent
    if out_dir.resolve() == folder.resolve():
        raise OutputError(f"{out_dir}: is the shot's own folder; hrstyle never writes into its input, choose another with -o")
    suffix = ext or (DEFAULT_VIDEO_EXT if shot.is_video else None)
    if suffix in VIDEO_EXTENSIONS:
        if suffix not in VIDEO_OUTPUT_EXTENSIONS:
            raise OutputError(f"--ext {suffix}: videos are written as .mov (ProRes 422 HQ) or .mp4 (H.264)")
        video = out_dir / f"{sequence_name(shot.pattern or shot.source) or shot.source.name}{suffix}"
        return _Outputs({ref.number: video for ref in shot.frames}, video)
    return _Outputs({ref.number: output_path_for(ref, shot, out_dir, suffix) for ref in shot.frames}, None)


# --- the render ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderProgress:
    done: int       # frames written or recorded as bad by this run
    total: int      # frames this run has to do
    seconds: float  # since the render started

    @property
    def fps(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class RenderReport:
    out_dir: Path
    manifest: Path
    outputs: list[Path]  # written by this run; with dry_run, those it would write
    frames_written: int
    skipped: int         # finished by an earlier run and still matching the manifest
    bad: list[int]       # unreadable frames left out (skip_bad_frames)
    seconds: float
    dry_run: bool = False

    @property
    def fps(self) -> float:
        return self.frames_written / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir), "manifest": str(self.manifest), "outputs": [str(p) for p in self.outputs],
            "frames_written": self.frames_written, "skipped": self.skipped, "bad": self.bad,
            "seconds": round(self.seconds, 3), "fps": round(self.fps, 3), "dry_run": self.dry_run,
        }


ProgressCallback = Callable[[RenderProgress], None]


def render_shot(
    shot: Shot,
    look: Look | Lut3D,
    out_dir: str | Path,
    cfg: RenderCfg = RenderCfg(),
    *,
    ext: str | None = None,
    bit_depth: str | None = None,
    skip_bad_frames: bool = False,
    dry_run: bool = False,
    force: bool = False,
    on_progress: ProgressCallback | None = None,
) -> RenderReport:
    """Grade every frame of ``shot`` with ``look`` (or a 3D LUT) into ``out_dir``.

    Outputs keep each input's file name, format, bit depth, alpha and metadata;
    ``ext`` (``"exr"``, ``".png"``, ``"mov"``) and ``bit_depth`` override them. A
    video shot becomes a ProRes ``.mov`` of the same frame rate, or a sequence
    with an image ``ext``. Each file is written atomically.

    Re-running resumes: frames whose output matches the manifest are skipped. A
    video output is one file, so an unfinished one is rendered again whole.
    Ctrl-C finishes the frames in flight, saves the manifest and re-raises
    KeyboardInterrupt. ``on_progress`` is called once before the first frame and
    then after each, from the writer thread.

    Raises:
        OutputError: ``out_dir`` is the shot's folder or would overwrite an input;
            it holds a render of another look, shot or options, or files not
            made by hrstyle (unless ``force``); or a write failed.
        ImageReadError: an unreadable frame (unless ``skip_bad_frames``).
        ShapeError: frames of different sizes.
        DeviceMemoryError: one frame does not fit on the GPU.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    if bit_depth is not None and bit_depth not in BIT_DEPTHS:
        raise InputError(f"bit depth {bit_depth!r}: expected one of {', '.join(BIT_DEPTHS)}")
    ext = "." + ext.lstrip(".").lower() if ext else None
    outputs = _plan_outputs(shot, out_dir, ext)
    if bit_depth is not None and outputs.video is not None:
        raise InputError(f"bit depth: {outputs.video.suffix} video is written at its codec's depth; drop --bit-depth")
    if isinstance(look, Lut3D):
        look, sha256 = prepare_lut(look, cfg), lut_sha256(look)
    else:
        look = prepare_look(look, cfg)
        sha256 = look.sha256
    key = {
        "look_sha256": sha256,
        "shot": str(Path(shot.pattern or shot.source).resolve()),
        "options": pixel_options(cfg, look, ext, bit_depth),
    }
    manifest = Manifest.open(out_dir, key, force=force)
    if not manifest.on_disk and not force:
        _refuse_foreign_files(out_dir, outputs)
    todo = [ref for ref in shot.frames if not manifest.is_done(ref, outputs.paths[ref.number])]
    if outputs.video is not None and todo:
        todo = shot.frames  # a video cannot be appended to: write it whole
    if dry_run or not todo:
        planned = outputs.files([ref.number for ref in todo]) if dry_run else []
        return RenderReport(out_dir, manifest.path, planned, 0, len(shot) - len(todo), [],
                            time.perf_counter() - start, dry_run)

    make_folder(out_dir)
    remove_stale_temps(out_dir)  # half-written files of a run that was killed
    manifest.save()
    if outputs.video is not None:
        sink: _FileSink | _VideoSink = _VideoSink(outputs.video, manifest)
    else:
        sink = _FileSink(outputs.paths, manifest, bit_depth)
    frames, warmup = with_warmup(shot, todo) if cfg.smooth.strength > 0 else (todo, frozenset())
    run = _Run(look, cfg, sink, manifest, on_progress, warmup)
    run.stream(shot.subset(frames), skip_bad_frames)
    return RenderReport(out_dir, manifest.path, outputs.files(run.written), len(run.written),
                        len(shot) - len(todo), run.bad, time.perf_counter() - start)


def with_warmup(shot: Shot, todo: list[FrameRef]) -> tuple[list[FrameRef], frozenset[int]]:
    """``todo`` with each frame's predecessor put before it where that is not rendered
    itself, so smoothing at the start of a range, a resumed run or a farm chunk sees
    exactly what a whole run would (the smoother looks one frame back). Returns the
    frames to grade, in order, and the numbers of those graded only to warm up."""
    wanted = {ref.number for ref in todo}
    frames: list[FrameRef] = []
    warmup: set[int] = set()
    for ref in todo:
        prev = _predecessor(shot, ref)
        if prev is not None and prev.number not in wanted and (not frames or frames[-1].number != prev.number):
            frames.append(prev)
            warmup.add(prev.number)
        frames.append(ref)
    return frames, frozenset(warmup)


def _predecessor(shot: Shot, ref: FrameRef) -> FrameRef | None:
    """The frame just before ``ref`` in the shot, if it exists: across a gap in the
    numbering there is none, so smoothing never blends frames that are not neighbours."""
    prev = shot.previous(ref)
    return prev if prev is not None and prev.number == ref.number - 1 else None


def _number(ref: FrameRef | None) -> int | None:
    return None if ref is None else ref.number


def _refuse_foreign_files(out_dir: Path, outputs: _Outputs) -> None:
    existing = sorted({path for path in outputs.paths.values() if path.exists()})
    if existing:
        raise OutputError(
            f"{out_dir}: {len(existing)} file(s) this render would overwrite are not from an hrstyle render "
            f"(e.g. {existing[0].name}); choose a new folder with -o, or pass --force to overwrite them"
        )


@dataclass(frozen=True)
class _Graded:
    ref: FrameRef
    pixels: np.ndarray  # (H, W, 3) float32
    alpha: np.ndarray | None
    spec: FrameSpec


@dataclass(frozen=True)
class _Bad:
    ref: FrameRef
    error: ImageReadError


def _decoded(shot: Shot, skip_bad_frames: bool) -> Generator[tuple[FrameRef, Image] | _Bad, None, None]:
    """The shot's frames in order, with each skipped unreadable one as a `_Bad` in its place."""
    bad: list[_Bad] = []
    for item in shot.iter(skip_bad_frames=skip_bad_frames, on_skip=lambda ref, e: bad.append(_Bad(ref, e))):
        yield from bad
        bad.clear()
        yield item
    yield from bad


class _FileSink:
    """One image file per frame (at ``bit_depth`` if given), recorded in the
    manifest as soon as it is in place."""

    def __init__(self, paths: dict[int, Path], manifest: Manifest, bit_depth: str | None) -> None:
        self.paths, self.manifest, self.bit_depth = paths, manifest, bit_depth

    def write(self, item: _Graded) -> None:
        path = self.paths[item.ref.number]
        spec = replace(item.spec, bit_depth=self.bit_depth) if self.bit_depth else item.spec
        write_image(path, item.pixels, spec, item.alpha)
        self.manifest.mark_done([item.ref], path)

    def finish(self) -> None:
        pass

    def abort(self) -> None:
        pass  # every finished frame is already a complete file


class _VideoSink:
    """All frames into one video, at the first frame's rate and timecode; it appears
    (and enters the manifest) only when complete."""

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path, self.manifest = path, manifest
        self._video: VideoWriter | None = None
        self._refs: list[FrameRef] = []

    def write(self, item: _Graded) -> None:
        if self._video is None:
            attributes = item.spec.attributes
            self._video = VideoWriter(self.path, fps=attributes.get("FramesPerSecond", DEFAULT_FPS),
                                      timecode=attributes.get("smpte:TimeCode"))
        self._video.write(item.pixels)
        self._refs.append(item.ref)

    def finish(self) -> None:
        if self._video is not None:
            self._video.close()
            self.manifest.mark_done(self._refs, self.path)

    def abort(self) -> None:
        if self._video is not None:
            self._video.abort()


class _Run:
    """One render's moving parts: decode thread -> grading here -> writer thread."""

    def __init__(self, look: Look | Lut3D, cfg: RenderCfg, sink: _FileSink | _VideoSink, manifest: Manifest,
                 on_progress: ProgressCallback | None, warmup: frozenset[int] = frozenset()) -> None:
        self.look, self.cfg, self.sink, self.manifest, self.on_progress = look, cfg, sink, manifest, on_progress
        self.warmup = warmup  # frames graded only to prime the smoother, never written
        self.smoother = CoefficientSmoother(cfg.smooth) if cfg.smooth.strength > 0 else None
        self.device = _grade_device(look)
        # Deep enough for one batch in flight and the next filling.
        self.depth = 2 * (cfg.batch_size or (_MAX_AUTO_BATCH if self.device.type == "cuda" else 1))
        self.written: list[int] = []
        self.bad: list[int] = []
        self.total = 0
        self.start = time.perf_counter()

    def stream(self, shot: Shot, skip_bad_frames: bool) -> None:
        """Grade and write every frame of ``shot``; the manifest is saved however it ends."""
        self.total, self.start = len(shot) - len(self.warmup), time.perf_counter()
        self.shot = shot
        self._report()
        reader = _Prefetch(_decoded(shot, skip_bad_frames), self.depth, "hrstyle-decode")
        writer = _Consumer(self._write, self.depth, "hrstyle-encode")
        try:
            with _deferred_interrupt() as interrupted:
                self._grade(reader, writer, interrupted)
            reader.close()
            writer.close()
            self.sink.finish()
        except BaseException:
            reader.close()
            with contextlib.suppress(BaseException):  # already failing: the first error is the one to show
                writer.close()  # still writes the frames already graded
            self.sink.abort()
            raise
        finally:
            self.manifest.save()

    def _grade(self, reader: _Prefetch, writer: _Consumer, interrupted: Callable[[], bool]) -> None:
        batch_size = self.cfg.batch_size
        pending: list[tuple[FrameRef, Image]] = []
        for item in reader:
            if isinstance(item, _Bad):
                writer.put(item)
                continue
            pending.append(item)
            if batch_size is None:
                batch_size = auto_batch_size(self.device, *item[1].pixels.shape[:2])
            if len(pending) >= batch_size:
                batch_size = self._grade_pending(pending, batch_size, writer)
                pending = []
            if interrupted():
                raise KeyboardInterrupt
        if pending:
            self._grade_pending(pending, batch_size, writer)

    def _grade_pending(self, pending: list[tuple[FrameRef, Image]], batch_size: int, writer: _Consumer) -> int:
        if isinstance(self.look, Look):
            for ref, image in pending:
                _check_gradable(ref, image)
        encodings = [working_encoding(self.cfg.colorspace, image.spec.bit_depth) for _, image in pending]
        frames = torch.cat([to_tensor(enc.to_working(image.pixels)) for enc, (_, image) in zip(encodings, pending)])
        links = [(_number(_predecessor(self.shot, ref)), ref.number) for ref, _ in pending]
        graded, batch_size = grade_frames(self.look, frames, self.cfg, batch_size, self.smoother, links)
        for (ref, image), enc, out in zip(pending, encodings, graded):
            if ref.number not in self.warmup:
                writer.put(_Graded(ref, enc.from_working(to_pixels(out)), image.alpha, image.spec))
        return batch_size

    def _write(self, item: _Graded | _Bad) -> None:
        if isinstance(item, _Bad):
            self.manifest.mark_bad(item.ref, item.error)
            self.bad.append(item.ref.number)
        else:
            self.sink.write(item)
            self.written.append(item.ref.number)
        self.manifest.save(throttle=True)
        self._report()

    def _report(self) -> None:
        if self.on_progress is not None:
            done = len(self.written) + len(self.bad)
            self.on_progress(RenderProgress(done, self.total, time.perf_counter() - self.start))


def _check_gradable(ref: FrameRef, image: Image) -> None:
    height, width = image.pixels.shape[:2]
    if min(height, width) < HRNet.min_side:
        raise ShapeError(f"{ref.path}: {width}x{height} is too small for a look's network (it needs at least "
                         f"{HRNet.min_side} px on each side); scale the frames up, or bake the look into a LUT "
                         "with hrstyle bake and apply that")


@contextlib.contextmanager
def _deferred_interrupt() -> Iterator[Callable[[], bool]]:
    """Turn the first Ctrl-C into a flag the render checks between batches, so the
    frames in flight are finished; a second Ctrl-C interrupts at once. Signals
    reach only the main thread; elsewhere Ctrl-C is left alone."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    hit = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        if hit.is_set():
            raise KeyboardInterrupt
        hit.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield hit.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


T = TypeVar("T")
_END = object()


@dataclass(frozen=True)
class _Raised:
    error: BaseException


class _Prefetch(Generic[T]):
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead.
    An error there re-raises where the items are consumed."""

    def __init__(self, items: Generator[T, None, None], depth: int, name: str) -> None:
        self._queue: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), name=name, daemon=True)
        self._thread.start()

    def _run(self, items: Generator[T, None, None]) -> None:
        try:
            for item in items:
                if not self._offer(item):
                    return
            self._offer(_END)
        except BaseException as exc:  # handed to the consumer's thread
            self._offer(_Raised(exc))
        finally:
            items.close()  # when stopped early, this closes an open video

    def _offer(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                pass
        return False

    def __iter__(self) -> Iterator[T]:
        while (item := self._queue.get()) is not _END:
            if isinstance(item, _Raised):
                raise item.error
            yield item

    def close(self) -> None:
        """Stop reading ahead and wait for the thread."""
        self._stop.set()
        self._thread.join()


class _Consumer(Generic[T]):
    """Call ``handle`` on each item in a background thread, in order, with at most
    ``depth`` waiting. After a failure the rest are dropped and `put`/`close` re-raise it."""

    def __init__(self, handle: Callable[[T], None], depth: int, name: str) -> None:
        self._handle = handle
        self._queue: queue.Queue = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not _END:
            if self._error is None:
                try:
                    self._handle(item)
                except BaseException as exc:  # re-raised in the producer's thread
                    self._error = exc

    def put(self, item: T) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def close(self) -> None:
        """Wait until every item is handled; re-raise a failure. Safe to call twice."""
        if self._thread.is_alive():  # it runs until the one _END only close sends
            self._queue.put(_END)
            self._thread.join()
        if self._error is not None:
            raise self._error
