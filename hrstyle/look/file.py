"""The look file: a tuned network plus where it came from, as one safetensors file.

Weights are plain tensors; everything else is one JSON document stored under
the ``hrstyle`` key of the safetensors header. Loading parses the header and
tensors by hand-checked rules and never unpickles, so a downloaded look can
carry numbers and text but never code. All loading goes through
`upgrade_look`, which is where old formats are mapped onto the current one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch import Tensor

from ..errors import LookFormatError, ShapeError
from ..grade import steps
from ..grade.config import RenderCfg
from ..grade.steps import Link, activation_dtype
from ..grade.temporal import CoefficientSmoother
from ..io.atomic import read_small_file, write_bytes_atomic
from .config import NetCfg
from .meta import (
    MAX_FILE_BYTES,
    META_KEY,
    LookMeta,
    added_shapes,
    parse_meta,
    read_header,
    upgrade_meta,
)
from .net import HRNet


@dataclass
class Look:
    """A tuned network and its provenance; a `Grade` (grade/protocol.py) that renders it."""

    net: HRNet
    meta: LookMeta
    sha256: str  # of the file's bytes: names this exact look in render manifests

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def prepare(self, cfg: RenderCfg) -> Look:
        return steps.prepare_look(self, cfg)

    def set_point(self, style_weight: float | None) -> None:
        """Render the point ``style_weight`` of the look's trade-off (None: the one named at tune
        time); InputError outside its range."""
        self.net.set_style_weight(self.meta.pick_style_weight(style_weight))

    def pixel_options(self, cfg: RenderCfg) -> dict[str, Any]:
        # A conditional look's point changes its pixels; a plain look's options stay as they were.
        point = {"style_weight": self.meta.pick_style_weight(cfg.style_weight)} if self.meta.conditional else {}
        options: dict[str, Any] = {
            **point,
            "native": cfg.native,
            "colorspace": cfg.colorspace,
            "precision": str(activation_dtype(cfg.precision, self.device)).removeprefix("torch."),
        }
        if cfg.native:
            return options | {"tile": cfg.tile, "tile_pad": cfg.tile_pad}
        smooth = asdict(cfg.smooth) if cfg.smooth.strength > 0 else None
        return options | {
            "radius": steps.guided_radius(cfg, tuple(self.meta.work_size)),
            "eps": cfg.eps,
            "smooth": smooth,
        }

    def check_frame(self, path: Path, height: int, width: int) -> None:
        if min(height, width) < HRNet.min_side:
            raise ShapeError(
                f"{path}: {width}x{height} is too small for a look's network (it needs at least "
                f"{HRNet.min_side} px on each side); scale the frames up, or bake the look into a LUT "
                "with hrstyle bake and apply that"
            )

    def grade(
        self, frames: Tensor, cfg: RenderCfg, smoother: CoefficientSmoother | None = None, links: Sequence[Link] = ()
    ) -> Tensor:
        return steps.grade_with_network(self, frames, cfg, smoother, links)


def save_look(path: str | Path, net: HRNet, meta: LookMeta) -> str:
    """Write atomically; returns the file's SHA-256."""
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in net.state_dict().items()}
    data = save_tensors(tensors, metadata={META_KEY: json.dumps(meta.to_dict(), sort_keys=True)})
    write_bytes_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def upgrade_look(
    meta: dict[str, Any], tensors: dict[str, torch.Tensor]
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Map any supported older format onto the current one: the metadata through
    `meta.upgrade_meta`, the weights here (`meta.added_shapes`): the identity colour transform,
    and no change to it along a conditional look's range, i.e. what those looks rendered."""
    added = {
        key: torch.eye(3).reshape(shape) if key == "colour.weight" else torch.zeros(shape)
        for key, shape in added_shapes(meta).items()
    }
    tensors = {**tensors, **added}
    return upgrade_meta(meta), tensors


def load_look(path: str | Path, device: torch.device | str = "cpu") -> Look:
    """Load and validate a look file. Raises LookFormatError with a one-line reason."""
    path = Path(path)
    data = read_small_file(path, "a look file", LookFormatError, MAX_FILE_BYTES)
    raw_meta, _ = read_header(path, data)
    try:
        tensors = load_tensors(data)
    except Exception as exc:  # safetensors raises its own error type for any malformed body
        raise LookFormatError(f"{path}: damaged look file ({exc}); re-save it with hrstyle tune") from None
    try:
        raw_meta, tensors = upgrade_look(raw_meta, tensors)
        meta = parse_meta(raw_meta)
        cfg = NetCfg.from_dict(meta.net_cfg)
    except (ValueError, TypeError) as exc:
        raise LookFormatError(f"{path}: {exc}") from None
    # The expected weights come from a network on the meta device, which holds no
    # memory: a header that names a huge network costs nothing unless the file
    # really holds its weights.
    with torch.device("meta"):
        expected = HRNet(cfg).state_dict()
    for key, value in expected.items():
        got = tensors.get(key)
        if got is None or got.shape != value.shape or not got.is_floating_point():
            shape = None if got is None else f"{tuple(got.shape)} {str(got.dtype).removeprefix('torch.')}"
            raise LookFormatError(f"{path}: weight {key!r} expected shape {tuple(value.shape)} (float), got {shape}")
    extra = sorted(set(tensors) - set(expected))
    if extra:
        raise LookFormatError(f"{path}: unexpected weight {extra[0]!r}; not a look for this network")
    if not all(torch.isfinite(t).all() for t in tensors.values()):
        raise LookFormatError(f"{path}: look weights contain NaN or Inf; re-tune the look")
    net = HRNet(cfg)
    net.load_state_dict(tensors)
    net.eval().requires_grad_(False)
    return Look(net.to(device), meta, hashlib.sha256(data).hexdigest())
