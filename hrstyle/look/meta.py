"""The look file's header: its metadata, read and checked without torch, and where a shot's look file is.

A look is one ``.safetensors`` file (file.py); everything but the weights is one JSON
document under the ``hrstyle`` key of its header. `hrstyle info` and `find_look` need only
this module, so they answer at once.
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

from .. import __version__
from ..errors import InputError, LookFormatError
from ..io.atomic import read_small_file
from .config import NetCfg

# 2: the network's global colour transform (colour.weight, colour.bias)
# 3: style_weights, the range of a conditional look (older looks are the one point they were tuned at)
# 4: colour_film, a conditional look's change to the global colour transform (none in a format-3 one)
FORMAT_VERSION = 4


LOOK_SUFFIX = ".look.safetensors"


META_KEY = "hrstyle"


_MAX_HEADER = 1 << 20  # a look's header is a few KB; refuse anything that would make us parse megabytes


MAX_FILE_BYTES = 1 << 30  # a look is well under 2 MB; never read gigabytes because a path says "look"


_MAX_TEXT = 4096  # characters in a text field (names, hashes, versions)


_MAX_SIDE = 1 << 16  # pixels on a side of work_size


# Characters a terminal acts on instead of showing: controls (escape sequences that
# retitle windows, write the clipboard, hide text) and the bidi overrides that reorder text.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass
class LookMeta:
    """Provenance and settings saved with every look. Field names are the file format."""

    net_cfg: dict[str, Any]
    tune_cfg: dict[str, Any]
    steps_done: int
    work_size: list[int]  # [height, width] the network was tuned at
    vgg_weights: str
    keyframe_sha256: str
    look_sha256: str
    final_losses: dict[str, float]
    stopped: str  # completed | plateau | interrupted | non-finite
    keyframe_name: str = ""
    look_name: str = ""
    # [lo, hi]: the style weights (at the tune's content weight) the look renders; lo == hi but for
    # a conditional look (tune --trade-off). Empty: the one point tune_cfg names.
    style_weights: list[float] = field(default_factory=list)
    # 0 .. 1: how far the reference showed the keyframe's scene (correspond.py), which set how much
    # of the grade the look carries by correspondence; None where the tune matched nothing. Optional:
    # older readers drop it, older looks lack it.
    trust: float | None = None
    format_version: int = FORMAT_VERSION
    hrstyle_version: str = __version__
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        if not self.style_weights:
            self.style_weights = [tuned_style_weight(self.tune_cfg)] * 2

    @property
    def style_weight(self) -> float:
        """The point the look renders unless told otherwise: the style weight it was tuned at."""
        return min(max(tuned_style_weight(self.tune_cfg), self.style_weights[0]), self.style_weights[1])

    @property
    def conditional(self) -> bool:
        """Whether the look covers a range of the trade-off, so apply can pick a point of it."""
        return self.style_weights[0] < self.style_weights[1]

    def pick_style_weight(self, style_weight: float | None) -> float:
        """``style_weight``, or the look's own when None, checked against the look's range.

        Raises:
            InputError: outside the range, with what to do about it.
        """
        if style_weight is None:
            return self.style_weight
        lo, hi = self.style_weights
        if lo * (1 - 1e-6) <= style_weight <= hi * (1 + 1e-6):
            return min(max(style_weight, lo), hi)
        if not self.conditional:
            raise InputError(
                f"--style-weight {style_weight:g}: this look was tuned for style weight {lo:g} only; "
                "tune it with --trade-off LO:HI to choose the weight when applying"
            )
        raise InputError(
            f"--style-weight {style_weight:g}: outside this look's range {lo:g} to {hi:g}; "
            "pick a weight in it, or tune again with a wider --trade-off"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


UNRECORDED_STYLE_WEIGHT = 1.0  # the default of every tune before one was recorded, and until 2026-12-06


def tuned_style_weight(tune_cfg: dict[str, Any]) -> float:
    """The style weight a look's tune settings name (tune_cfg is provenance: `UNRECORDED_STYLE_WEIGHT`
    if unreadable)."""
    weight = tune_cfg.get("style_weight")
    return float(weight) if type(weight) in (int, float) and math.isfinite(weight) else UNRECORDED_STYLE_WEIGHT


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_look_path(keyframe: str | Path) -> Path:
    keyframe = Path(keyframe)
    return keyframe.with_name(keyframe.stem + LOOK_SUFFIX)


def read_header(path: Path, data: bytes) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """The hrstyle metadata and each tensor's shape, from a safetensors file's header."""
    if len(data) < 8:
        raise LookFormatError(f"{path}: not a look file (too short to be safetensors)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > min(_MAX_HEADER, len(data) - 8):
        raise LookFormatError(f"{path}: not a look file (no valid safetensors header); was it saved by hrstyle tune?")
    try:
        header = json.loads(data[8 : 8 + n])
        meta = json.loads(header["__metadata__"][META_KEY])
        shapes = {name: list(entry["shape"]) for name, entry in header.items() if name != "__metadata__"}
    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: JSON nested thousands deep
        raise LookFormatError(
            f"{path}: safetensors file without hrstyle look metadata; was it saved by hrstyle tune?"
        ) from None
    if not isinstance(meta, dict):
        raise LookFormatError(f"{path}: look metadata is not a JSON object")
    return meta, shapes


def check_version(meta: dict[str, Any]) -> int:
    """The look format version of raw metadata, if this hrstyle reads it; else ValueError."""
    version = meta.get("format_version")
    if type(version) is not int:
        raise ValueError(f"format_version: expected an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"look format version {version} is newer than this hrstyle ({__version__}) supports "
            f"(up to {FORMAT_VERSION}); upgrade hrstyle"
        )
    if version < 1:
        raise ValueError(f"unknown look format version {version}")
    return version


def upgrade_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Raw metadata of any supported format as the current format's (file.upgrade_look does the weights).
    Versions 1 and 2 render the one style weight they were tuned at; 3 differs only in the weights."""
    version = check_version(meta)
    if version >= 3:
        return {**meta, "format_version": FORMAT_VERSION}
    tune_cfg = meta.get("tune_cfg")
    point = tuned_style_weight(tune_cfg if isinstance(tune_cfg, dict) else {})
    return {**meta, "style_weights": [point, point], "format_version": FORMAT_VERSION}


# The JSON type of every LookMeta field. `type(v) is t`, so true is not an integer.
_FIELD_TYPES: dict[str, type] = {
    "net_cfg": dict,
    "tune_cfg": dict,
    "final_losses": dict,
    "work_size": list,
    "style_weights": list,
    "steps_done": int,
    "format_version": int,
    "trust": float,
    **dict.fromkeys(
        (
            "vgg_weights",
            "keyframe_sha256",
            "look_sha256",
            "stopped",
            "keyframe_name",
            "look_name",
            "hrstyle_version",
            "created",
        ),
        str,
    ),
}


def printable(text: str) -> str:
    """``text`` with control characters (terminal escapes, bidi overrides) replaced by U+FFFD.
    Names from the file system go into a look's metadata through this: `load_look` refuses
    text fields that hold such characters, since `hrstyle info` shows them on a terminal."""
    return "".join("\ufffd" if unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS else c for c in text)


_NULLABLE = frozenset({"trust"})


def _check_field(name: str, value: Any) -> None:
    if value is None and name in _NULLABLE:
        return
    kind = _FIELD_TYPES[name]
    if type(value) is not kind:
        raise ValueError(f"{name}: expected {kind.__name__}, got {type(value).__name__}")
    if kind is str and len(value) > _MAX_TEXT:
        raise ValueError(f"{name}: expected at most {_MAX_TEXT} characters, got {len(value)}")
    if kind is str and printable(value) != value:
        raise ValueError(f"{name}: holds control characters (terminal escapes); not a look hrstyle wrote")
    if name == "work_size" and not (len(value) == 2 and all(type(v) is int and 1 <= v <= _MAX_SIDE for v in value)):
        raise ValueError(f"work_size: expected [height, width] in pixels, got {value!r:.60}")
    if name == "style_weights" and not (
        len(value) == 2
        and all(type(v) in (int, float) and math.isfinite(v) and v >= 0 for v in value)
        and value[0] <= value[1]
    ):
        raise ValueError(f"style_weights: expected [lo, hi] with 0 <= lo <= hi, got {value!r:.60}")
    if name == "trust" and not 0 <= value <= 1:
        raise ValueError(f"trust: expected 0 .. 1, got {value!r:.60}")
    if name == "steps_done" and value < 0:
        raise ValueError(f"steps_done: expected a count >= 0, got {value}")
    if name == "final_losses" and not all(type(v) in (int, float) and math.isfinite(v) for v in value.values()):
        raise ValueError("final_losses: expected finite numbers")


def parse_meta(meta: dict[str, Any]) -> LookMeta:
    """Every known field checked for its type (and range); unknown fields are dropped."""
    kwargs = {k: v for k, v in meta.items() if k in _FIELD_TYPES}
    required = [f.name for f in fields(LookMeta) if f.default is MISSING and f.default_factory is MISSING]
    missing = [name for name in required if name not in kwargs]
    if missing:
        raise ValueError(f"metadata lacks {missing[0]!r}")
    for name, value in kwargs.items():
        _check_field(name, value)
    return LookMeta(**kwargs)


def added_shapes(raw_meta: dict[str, Any]) -> dict[str, list[int]]:
    """The weights a look of an older format lacks, by shape; file.upgrade_look fills them.
    Version 2 added the global colour transform (a version-1 look's was the identity), and
    version 4 a conditional look's change to it along its range (a version-3 one had none)."""
    version = check_version(raw_meta)
    net_cfg = raw_meta.get("net_cfg")
    film = net_cfg.get("film", 0) if isinstance(net_cfg, dict) else 0
    if version == 1:
        return {"colour.weight": [3, 3, 1, 1], "colour.bias": [3]}
    if version == 3 and film:
        return {"colour_film.proj.weight": [12, film], "colour_film.proj.bias": [12]}
    return {}


@dataclass(frozen=True)
class LookHeader:
    """What `hrstyle info` shows of a look file, read without loading its weights."""

    meta: LookMeta
    sha256: str
    parameters: int


def read_look_header(path: str | Path) -> LookHeader:
    """A look file's checked metadata, its SHA-256 and its number of weights, from the header alone.
    The weights themselves are checked when the look is loaded (`file.load_look`).

    Raises:
        LookFormatError: not a look file, damaged, or of an unknown version.
    """
    path = Path(path)
    data = read_small_file(path, "a look file", LookFormatError, MAX_FILE_BYTES)
    raw_meta, shapes = read_header(path, data)
    try:
        shapes = {**shapes, **added_shapes(raw_meta)}
        meta = parse_meta(upgrade_meta(raw_meta))
        NetCfg.from_dict(meta.net_cfg)
    except (ValueError, TypeError) as exc:
        raise LookFormatError(f"{path}: {exc}") from None
    return LookHeader(meta, hashlib.sha256(data).hexdigest(), sum(math.prod(shape) for shape in shapes.values()))


def find_look(shot: str | Path) -> Path:
    """The one look file that belongs to ``shot``: a ``*.look.safetensors`` inside the
    shot's folder, or beside a video, a still or a pattern (hrstyle tune writes one
    beside its keyframe). What `hrstyle apply SHOT` uses when no --look is given.

    Raises:
        InputError: there is none (run hrstyle tune first), or several (pick one with --look).
    """
    path = Path(shot)
    folder = path if path.is_dir() else path.parent
    looks = sorted(p for p in folder.glob(f"*{LOOK_SUFFIX}") if p.is_file() and not p.name.startswith("."))
    if not looks:
        raise InputError(
            f"{shot}: no look file (*{LOOK_SUFFIX}) in {folder}; run hrstyle tune KEYFRAME "
            "REFERENCE first (it writes one beside the keyframe), or pass --look FILE"
        )
    if len(looks) > 1:
        names = ", ".join(p.name for p in looks)
        raise InputError(f"{shot}: {len(looks)} look files in {folder} ({names}); pick one with --look FILE")
    return looks[0]
