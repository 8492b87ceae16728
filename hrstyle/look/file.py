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
import math
import struct
import unicodedata
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from .. import __version__
from ..io.atomic import read_small_file, write_bytes_atomic
from ..errors import LookFormatError
from ..look.net import HRNet, NetCfg

FORMAT_VERSION = 2  # 2: the network's global colour transform (colour.weight, colour.bias)
LOOK_SUFFIX = ".look.safetensors"
_META_KEY = "hrstyle"
_MAX_HEADER = 1 << 20  # a look's header is a few KB; refuse anything that would make us parse megabytes
_MAX_FILE = 1 << 30    # a look is well under 2 MB; never read gigabytes because a path says "look"
_MAX_TEXT = 4096       # characters in a text field (names, hashes, versions)
_MAX_SIDE = 1 << 16    # pixels on a side of work_size
# Characters a terminal acts on instead of showing: controls (escape sequences that
# retitle windows, write the clipboard, hide text) and the bidi overrides that reorder text.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass
class LookMeta:
    """Provenance and settings saved with every look. Field names are the file format."""

    net_cfg: dict[str, Any]
    tune_cfg: dict[str, Any]
    steps_done: int
    work_size: list[int]          # [height, width] the network was tuned at
    vgg_weights: str
    keyframe_sha256: str
    look_sha256: str
    final_losses: dict[str, float]
    stopped: str                  # completed | plateau | interrupted | non-finite
    keyframe_name: str = ""
    look_name: str = ""
    format_version: int = FORMAT_VERSION
    hrstyle_version: str = __version__
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Look:
    net: HRNet
    meta: LookMeta
    sha256: str  # of the file's bytes: names this exact look in render manifests


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_look_path(keyframe: str | Path) -> Path:
    keyframe = Path(keyframe)
    return keyframe.with_name(keyframe.stem + LOOK_SUFFIX)


def save_look(path: str | Path, net: HRNet, meta: LookMeta) -> str:
    """Write atomically; returns the file's SHA-256."""
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in net.state_dict().items()}
    data = save_tensors(tensors, metadata={_META_KEY: json.dumps(meta.to_dict(), sort_keys=True)})
    write_bytes_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def _read_header(path: Path, data: bytes) -> dict[str, Any]:
    if len(data) < 8:
        raise LookFormatError(f"{path}: not a look file (too short to be safetensors)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > min(_MAX_HEADER, len(data) - 8):
        raise LookFormatError(f"{path}: not a look file (no valid safetensors header); was it saved by hrstyle tune?")
    try:
        header = json.loads(data[8:8 + n])
        meta = json.loads(header["__metadata__"][_META_KEY])
    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: JSON nested thousands deep
        raise LookFormatError(f"{path}: safetensors file without hrstyle look metadata; was it saved by hrstyle tune?") from None
    if not isinstance(meta, dict):
        raise LookFormatError(f"{path}: look metadata is not a JSON object")
    return meta


def upgrade_look(meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Map any supported older format onto the current one. Version 1 is the first."""
    version = meta.get("format_version")
    if type(version) is not int:
        raise ValueError(f"format_version: expected an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(f"look format version {version} is newer than this hrstyle ({__version__}) supports "
                         f"(up to {FORMAT_VERSION}); upgrade hrstyle")
    if version < 1:
        raise ValueError(f"unknown look format version {version}")
    if version == 1:  # before the global colour transform: it was the identity
        tensors = {**tensors, "colour.weight": torch.eye(3).reshape(3, 3, 1, 1), "colour.bias": torch.zeros(3)}
        meta = {**meta, "format_version": 2}
    return meta, tensors


# The JSON type of every LookMeta field. `type(v) is t`, so true is not an integer.
_FIELD_TYPES: dict[str, type] = {
    "net_cfg": dict, "tune_cfg": dict, "final_losses": dict, "work_size": list, "steps_done": int,
    "format_version": int,
    **dict.fromkeys(("vgg_weights", "keyframe_sha256", "look_sha256", "stopped", "keyframe_name", "look_name",
                     "hrstyle_version", "created"), str),
}


def printable(text: str) -> str:
    """``text`` with control characters (terminal escapes, bidi overrides) replaced by U+FFFD.
    Names from the file system go into a look's metadata through this: `load_look` refuses
    text fields that hold such characters, since `hrstyle info` shows them on a terminal."""
    return "".join("\ufffd" if unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS else c for c in text)


def _check_field(name: str, value: Any) -> None:
    kind = _FIELD_TYPES[name]
    if type(value) is not kind:
        raise ValueError(f"{name}: expected {kind.__name__}, got {type(value).__name__}")
    if kind is str and len(value) > _MAX_TEXT:
        raise ValueError(f"{name}: expected at most {_MAX_TEXT} characters, got {len(value)}")
    if kind is str and printable(value) != value:
        raise ValueError(f"{name}: holds control characters (terminal escapes); not a look hrstyle wrote")
    if name == "work_size" and not (len(value) == 2 and all(type(v) is int and 1 <= v <= _MAX_SIDE for v in value)):
        raise ValueError(f"work_size: expected [height, width] in pixels, got {value!r:.60}")
    if name == "steps_done" and value < 0:
        raise ValueError(f"steps_done: expected a count >= 0, got {value}")
    if name == "final_losses" and not all(type(v) in (int, float) and math.isfinite(v) for v in value.values()):
        raise ValueError("final_losses: expected finite numbers")


def _parse_meta(meta: dict[str, Any]) -> LookMeta:
    """Every known field checked for its type (and range); unknown fields are dropped."""
    kwargs = {k: v for k, v in meta.items() if k in _FIELD_TYPES}
    required = [f.name for f in fields(LookMeta) if f.default is MISSING and f.default_factory is MISSING]
    missing = [name for name in required if name not in kwargs]
    if missing:
        raise ValueError(f"metadata lacks {missing[0]!r}")
    for name, value in kwargs.items():
        _check_field(name, value)
    return LookMeta(**kwargs)


def load_look(path: str | Path, device: torch.device | str = "cpu") -> Look:
    """Load and validate a look file. Raises LookFormatError with a one-line reason."""
    path = Path(path)
    data = read_small_file(path, "a look file", LookFormatError, _MAX_FILE)
    raw_meta = _read_header(path, data)
    try:
        tensors = load_tensors(data)
    except Exception as exc:  # safetensors raises its own error type for any malformed body
        raise LookFormatError(f"{path}: damaged look file ({exc}); re-save it with hrstyle tune") from None
    try:
        raw_meta, tensors = upgrade_look(raw_meta, tensors)
        meta = _parse_meta(raw_meta)
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
