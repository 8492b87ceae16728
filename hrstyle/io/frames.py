"""Shot and frame I/O: the one place where pixels change dtype, range and layout.

The rest of hrstyle only sees float32 RGB: `Image.pixels` is ``(H, W, 3)``,
in [0, 1] for integer formats, and as stored for float formats (EXR values may
be above 1 or negative). No transfer function or colour space is converted
here: an EXR stays scene-linear, a PNG stays sRGB-encoded.

Stills go through OpenImageIO, videos through PyAV. Frame sequences and
frame ranges follow oiiotool (OIIO ``src/doc/oiiotool.rst``):

* ``shot.%04d.exr`` is printf-style; ``%d`` means unpadded numbers.
* A lone ``#`` stands for four digits, as in oiiotool, and ``@`` for one:
  ``shot.#.exr`` is ``shot.%04d.exr``, ``shot.#@@.exr`` six digits. A run of
  several ``#`` counts one digit each, as Nuke and RV write it (and as
  colorists expect): ``shot.####.exr`` is ``shot.%04d.exr``, not sixteen
  digits as strict oiiotool would read it.
* A range may sit right before the wildcard, as in ``shot.1001-1100#.exr``.
* Ranges are ``1001-1100`` (inclusive, either direction), ``1001-1100x2``
  (every 2nd), ``1001-1100y2`` (the complement of ``x2``) and comma lists
  such as ``1001-1010,1020``.

Reading stops at the first bad frame unless the caller opts out with
``Shot.iter(skip_bad_frames=True)``.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import OpenImageIO as oiio
import torch
from av.video.reformatter import ColorRange, Colorspace, Interpolation

from ..io.atomic import atomic_path, check_room, check_writable, describe_os_error, temp_path_for
from ..errors import ImageReadError, InputError, OutputError, SequenceError, ShapeError

BIT_DEPTHS = ("uint8", "uint10", "uint12", "uint16", "half", "float")
VIDEO_EXTENSIONS = frozenset({".mov", ".mp4", ".m4v", ".mkv", ".avi", ".mxf", ".webm"})

# Metadata carried from an input frame to its output. Colour-space tags are left
# out on purpose: an EXR's "lin_rec709" written into a PNG would mislabel it.
_KEPT_ATTRIBUTES = (
    "FramesPerSecond",
    "smpte:TimeCode",
    "PixelAspectRatio",
    "Orientation",
    "ImageDescription",
    "Artist",
    "Copyright",
    "DocumentName",
    "dpx:Transfer",
    "dpx:Colorimetric",
    "dpx:FrameRate",
    "dpx:TemporalFrameRate",
    "compression",
)

# Bit depths each output format can hold, lowest precision first.
_FORMAT_DEPTHS = {
    "png": ("uint8", "uint16"),
    "jpeg": ("uint8",),
    "openexr": ("half", "float"),
    "tiff": ("uint8", "uint16", "float"),
    "dpx": ("uint8", "uint10", "uint12", "uint16", "float"),
}
_INT_BITS = {"uint8": 8, "uint10": 10, "uint12": 12, "uint16": 16}
# How a complete file of these formats ends. Their OpenImageIO writers do not
# report a full disk: PNG's leaves a short file and calls it a success, JPEG's
# (libjpeg) exits the process. See write_image.
_ENDINGS = {"png": b"IEND\xaeB`\x82", "jpeg": b"\xff\xd9"}
_HALF_MAX = 65504.0
_PNG_COMPRESSION = 3
_MAX_RANGE_FRAMES = 1_000_000
_MAX_PADDING = 20  # digits in a frame number: %020d at most
# The largest frame hrstyle decodes: 16384x8192 (16K DCI 15360x8640 fits). A frame
# holds about 100 bytes a pixel at the peak of a render, so this is ~13 GB, and a
# compressed file that claims more (a 260 KB PNG can claim 16384x16384) is refused
# from its header, before any memory is spent. Library users may raise it.
MAX_FRAME_PIXELS = 1 << 27
_REEXPORT = "re-export it"
_REEXPORT_FRAME = "re-export the frame or pass --skip-bad-frames"


@dataclass(frozen=True)
class FrameSpec:
    """What to preserve when writing an output like its input.

    ``attributes`` is JSON-serialisable; ``FramesPerSecond`` is kept as an
    exact ``"num/den"`` string and ``smpte:TimeCode`` as ``"HH:MM:SS:FF"``.
    """

    format: str
    bit_depth: str
    width: int
    height: int
    has_alpha: bool
    attributes: dict[str, str | int | float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.bit_depth not in BIT_DEPTHS:
            raise InputError(
                f"unknown bit depth {self.bit_depth!r}; expected one of {', '.join(BIT_DEPTHS)}"
            )


@dataclass
class Image:
    """float32 ``(H, W, 3)`` RGB pixels, optional float32 ``(H, W)`` alpha, and
    the spec to write it back with."""

    pixels: np.ndarray
    alpha: np.ndarray | None
    spec: FrameSpec


# --- stills ---------------------------------------------------------------------


def read_image(path: str | Path) -> Image:
    """Read a still through OpenImageIO as float32 RGB (+ alpha).

    Integer formats map to [0, 1] exactly (``v / (2**bits - 1)``, 10- and
    12-bit DPX included). Float formats keep their values, except that NaN
    becomes 0 and +-Inf becomes +-65504 (the largest half), so one bad pixel
    cannot poison a whole render. Grey is replicated to RGB; palette PNG and
    CMYK TIFF arrive as RGB (OpenImageIO converts them). Alpha is returned as
    stored: straight for PNG/TIFF, premultiplied for EXR.

    Raises:
        ImageReadError: missing, empty, unreadable, truncated or corrupt file, or
            one over `MAX_FRAME_PIXELS` (refused from its header, before decoding).
    """
    return _read_still(Path(path), _REEXPORT)


def _read_still(path: Path, hint: str) -> Image:
    _check_readable(path, hint)
    config = oiio.ImageSpec()
    # Without this OIIO premultiplies PNG/TIFF colour by alpha on read.
    config.attribute("oiio:UnassociatedAlpha", 1)
    inp = oiio.ImageInput.open(str(path), config)
    if inp is None:
        raise ImageReadError(
            f"{path}: not a readable image (OpenImageIO: {_one_line(oiio.geterror())}); {hint}"
        )
    try:
        spec = inp.spec()
        if spec.width * spec.height > MAX_FRAME_PIXELS:
            raise ImageReadError(
                f"{path}: {spec.width}x{spec.height} is {spec.width * spec.height / 1e6:.0f} megapixels, "
                f"over the {MAX_FRAME_PIXELS / 1e6:.0f} hrstyle reads (16384x8192); scale it down first"
            )
        native = _native_type(spec)
        data = inp.read_image(0, 0, 0, spec.nchannels, native)
        # A truncated JPEG still returns pixels (grey at the bottom): only
        # has_error tells, so check it even when data came back.
        if data is None or inp.has_error:
            raise ImageReadError(
                f"{path}: truncated or corrupt image "
                f"(OpenImageIO: {_one_line(inp.geterror())}); {hint}"
            )
        file_format = inp.format_name()
    finally:
        inp.close()
    values, bit_depth = _to_float(data, native, spec)
    rgb, alpha_index = _channel_layout(spec, path, hint)
    pixels = np.ascontiguousarray(values[..., rgb])
    alpha = np.ascontiguousarray(values[..., alpha_index]) if alpha_index >= 0 else None
    frame_spec = FrameSpec(
        format=file_format,
        bit_depth=bit_depth,
        width=spec.width,
        height=spec.height,
        has_alpha=alpha is not None,
        attributes=_kept_attributes(spec),
    )
    return Image(pixels, alpha, frame_spec)


def _check_readable(path: Path, hint: str) -> None:
    if not path.exists():
        raise ImageReadError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a folder, not an image; pass an image file")
    if path.stat().st_size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes); {hint}")
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise ImageReadError(f"{path}: cannot open ({e.strerror}); check its permissions") from e


def _native_type(spec: oiio.ImageSpec) -> str:
    base = spec.format.basetype
    if base == oiio.UINT8:
        return "uint8"
    if base == oiio.UINT16:
        return "uint16"
    return "float"


def _to_float(data: np.ndarray, native: str, spec: oiio.ImageSpec) -> tuple[np.ndarray, str]:
    if native == "uint8":
        return data.astype(np.float32) / np.float32(255), "uint8"
    if native == "uint16":
        # OIIO widens 10/12-bit DPX to 16 bits by bit replication, so the
        # top bits are exactly the stored code value.
        bits = spec.get_int_attribute("oiio:BitsPerSample", 16)
        bits = bits if bits in (10, 12) else 16
        codes = data >> (16 - bits)
        return codes.astype(np.float32) / np.float32(2**bits - 1), f"uint{bits}"
    depth = "half" if spec.format.basetype == oiio.HALF else "float"
    return _finite(data.astype(np.float32, copy=False)), depth


def _finite(x: np.ndarray) -> np.ndarray:
    return np.nan_to_num(x, nan=0.0, posinf=_HALF_MAX, neginf=-_HALF_MAX)


def _channel_layout(spec: oiio.ImageSpec, path: Path, hint: str) -> tuple[list[int], int]:
    """Indices of R, G, B (grey repeated) and of alpha (-1 when absent)."""
    names = list(spec.channelnames)
    alpha = spec.alpha_channel
    if all(c in names for c in "RGB"):
        return [names.index(c) for c in "RGB"], alpha
    colour = [i for i in range(spec.nchannels) if i != alpha]
    if not colour:
        raise ImageReadError(f"{path}: has no colour channels ({', '.join(names)}); {hint}")
    return (colour[:3] if len(colour) >= 3 else [colour[0]] * 3), alpha


def _kept_attributes(spec: oiio.ImageSpec) -> dict[str, str | int | float]:
    kept: dict[str, str | int | float] = {}
    for param in spec.extra_attribs:
        if param.name not in _KEPT_ATTRIBUTES:
            continue
        value = param.value
        if not isinstance(value, (str, int, float)):
            # Rationals and timecodes come back as tuples; their string form
            # ("24000/1001", "01:00:00:01") is exact and readable.
            value = spec.get_string_attribute(param.name)
        kept[param.name] = value
    return kept


def _one_line(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return "; ".join(dict.fromkeys(lines)) or "no details"


def write_image(
    path: str | Path, pixels: np.ndarray, spec: FrameSpec, alpha: np.ndarray | None = None
) -> None:
    """Write float RGB ``(H, W, 3)`` (+ alpha ``(H, W)``) atomically.

    The format comes from the file extension. ``spec.bit_depth`` is used when
    that format can hold it, otherwise the nearest depth that can (half into
    PNG becomes uint16, uint8 into EXR becomes half). Integer depths are
    clipped to [0, 1] and rounded to the nearest code value; float depths keep
    values as they are (NaN -> 0). The size comes from ``pixels``, the metadata
    from ``spec.attributes``. The output has alpha exactly when ``alpha`` is
    given. The file appears complete or not at all: it is written to a hidden
    temporary file in the same folder, fsynced, then renamed.

    Raises:
        ShapeError: ``pixels`` or ``alpha`` has the wrong shape or dtype.
        OutputError: the folder is missing or unwritable, the disk is full, or
            the extension is not an image format.
    """
    path = Path(path)
    _check_pixels(pixels, "pixels")
    height, width = pixels.shape[:2]
    if alpha is not None and (
        alpha.ndim != 2 or alpha.shape != (height, width) or alpha.dtype.kind != "f"
    ):
        raise ShapeError(
            f"alpha: expected float ({height}, {width}), got {alpha.dtype} {tuple(alpha.shape)}"
        )
    check_writable(path)
    out = oiio.ImageOutput.create(str(path))
    if out is None:
        raise OutputError(
            f"{path}: {path.suffix or 'no extension'} is not an image format OpenImageIO "
            "can write; use .exr, .png, .tif, .dpx or .jpg"
        )
    file_format = out.format_name()
    depth = _depth_for(file_format, spec.bit_depth)
    channels = pixels if alpha is None else np.dstack([pixels, alpha])
    data = np.ascontiguousarray(_quantise(channels, depth))  # OIIO refuses strided channels
    out_spec = _output_spec(width, height, channels.shape[2], depth, spec, file_format)
    # Not every writer reports a full disk (see _ENDINGS), so check first that the
    # worst case fits (no format here outgrows the raw pixels by more than its
    # headers), and after, that the file ends as a complete one does.
    room = data.nbytes + data.nbytes // 8 + (1 << 16)
    check_room(path, room)
    with atomic_path(path) as tmp:
        try:
            ok = out.open(str(tmp), out_spec) and out.write_image(data)
        finally:
            # close() flushes the tail of the file, so its failure counts too.
            ok = out.close() and ok
        if not ok or not _ends_complete(tmp, file_format):
            check_room(path, room)  # out of space: say so
            reason = _one_line(out.geterror()).replace(str(tmp), str(path)) if not ok else "it came out incomplete"
            raise OutputError(f"{path}: cannot write ({reason}); check the output folder")


def _ends_complete(path: Path, file_format: str) -> bool:
    ending = _ENDINGS.get(file_format, b"")
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size < len(ending):
            return False
        f.seek(size - len(ending))
        return f.read() == ending


def write_preview(path: str | Path, image: torch.Tensor) -> None:
    """Write a ``(1, 3, H, W)`` or ``(3, H, W)`` tensor in [0, 1] as an 8-bit
    image (format from the extension), atomically; for progress previews."""
    pixels = to_pixels(image)
    height, width = pixels.shape[:2]
    write_image(path, pixels, FrameSpec("png", "uint8", width, height, has_alpha=False))


def _check_pixels(pixels: np.ndarray, name: str) -> None:
    if not isinstance(pixels, np.ndarray) or pixels.ndim != 3 or pixels.shape[2] != 3:
        got = (
            f"{pixels.dtype} {tuple(pixels.shape)}"
            if isinstance(pixels, np.ndarray)
            else type(pixels).__name__
        )
        raise ShapeError(f"{name}: expected a float array (H, W, 3), got {got}")
    if pixels.dtype.kind != "f":
        raise ShapeError(
            f"{name}: expected float values, got {pixels.dtype}; scale to [0, 1] first"
        )


def _depth_for(file_format: str, depth: str) -> str:
    allowed = _FORMAT_DEPTHS.get(file_format)
    if allowed is None or depth in allowed:
        return depth
    rank = BIT_DEPTHS.index(depth)
    return next((d for d in allowed if BIT_DEPTHS.index(d) >= rank), allowed[-1])


def _quantise(x: np.ndarray, depth: str) -> np.ndarray:
    x = _finite(x.astype(np.float32, copy=False))
    if depth == "half":
        return np.clip(x, -_HALF_MAX, _HALF_MAX).astype(np.float16)
    if depth == "float":
        return x
    bits = _INT_BITS[depth]
    codes = np.rint(np.clip(x, 0.0, 1.0) * np.float32(2**bits - 1))
    if bits == 8:
        return codes.astype(np.uint8)
    codes = codes.astype(np.uint16)
    if bits == 16:
        return codes
    # 10/12-bit go out in a 16-bit container, bit-replicated the way OIIO
    # widens them on read; the writer keeps the top bits.
    return (codes << (16 - bits)) | (codes >> (2 * bits - 16))


def _output_spec(
    width: int, height: int, nchannels: int, depth: str, spec: FrameSpec, file_format: str
) -> oiio.ImageSpec:
    container = {"uint10": "uint16", "uint12": "uint16"}.get(depth, depth)
    out = oiio.ImageSpec(width, height, nchannels, container)
    out.channelnames = ("R", "G", "B", "A")[:nchannels]
    if nchannels == 4:
        out.alpha_channel = 3
        # Our alpha is as stored in the file; stop OIIO dividing it out again.
        out.attribute("oiio:UnassociatedAlpha", 1)
    if depth in ("uint10", "uint12"):
        out.attribute("oiio:BitsPerSample", _INT_BITS[depth])
    if file_format == "png":
        # zlib level 3 writes a 1080p frame 3x faster than OIIO's 6 for ~10% more bytes;
        # PNG writing was the slowest step of a render.
        out.attribute("png:compressionLevel", _PNG_COMPRESSION)
    for name, value in spec.attributes.items():
        if name == "compression" and file_format != spec.format:
            continue  # "piz" means nothing to a PNG writer
        if name == "FramesPerSecond":
            fps = _fps_fraction(value)
            out.attribute(name, oiio.TypeRational, (fps.numerator, fps.denominator))
        elif name == "smpte:TimeCode":
            tc = _timecode_words(str(value))
            if tc is not None:
                out.attribute(name, oiio.TypeTimeCode, tc)
        else:
            out.attribute(name, value)
    return out


def _fps_fraction(fps: str | int | float | Fraction) -> Fraction:
    """``"24000/1001"``, 24 or 23.976023976 -> an exact frame rate."""
    try:
        # 1001 is the largest denominator of broadcast rates (24000/1001 etc.).
        rate = Fraction(fps) if isinstance(fps, str) else Fraction(fps).limit_denominator(1001)
    except (ValueError, TypeError, ZeroDivisionError):
        rate = Fraction(0)
    if rate <= 0:
        raise InputError(
            f"frame rate {fps!r}: expected a positive number or a ratio like 24000/1001"
        )
    return rate


def _timecode_words(text: str) -> tuple[int, int] | None:
    """Timecode text ``HH:MM:SS:FF`` as the SMPTE 12M BCD pair OIIO stores."""
    m = re.fullmatch(r"(\d\d):(\d\d):(\d\d)([:;.])(\d\d)", text.strip())
    if m is None:
        return None
    word = 0
    for group, shift in ((1, 24), (2, 16), (3, 8), (5, 0)):
        value = int(m.group(group))
        word |= ((value // 10) << 4 | value % 10) << shift
    if m.group(4) != ":":
        word |= 1 << 6  # drop-frame flag
    return word, 0


# --- tensors --------------------------------------------------------------------


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` float32 array -> contiguous ``(1, 3, H, W)`` float32 tensor.

    >>> to_tensor(np.zeros((4, 6, 3), np.float32)).shape
    torch.Size([1, 3, 4, 6])
    """
    _check_pixels(pixels, "pixels")
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


# --- frame ranges and patterns --------------------------------------------------

_RANGE_PART = re.compile(r"(\d+)(?:-(\d+)(?:([xy])(-?\d+))?)?", re.ASCII)
_RANGE = r"\d+(?:-\d+(?:[xy]-?\d+)?)?"
_WILDCARD = re.compile(rf"(?P<range>{_RANGE}(?:,{_RANGE})*)?(?P<wild>[#@]+|%\d*d)", re.ASCII)


def parse_frame_range(text: str) -> list[int]:
    """Frame numbers of an oiiotool range, sorted and unique.

    >>> parse_frame_range("1-5x2,10,3")
    [1, 3, 5, 10]
    >>> parse_frame_range("1-6y3")
    [2, 3, 5, 6]

    Raises:
        SequenceError: the text is not a range, names no frame, or over a million.
    """
    numbers: set[int] = set()
    spanned = 0  # frames the parts cover, counted before any is enumerated
    for part in text.split(","):
        m = _RANGE_PART.fullmatch(part.strip())
        if m is None:
            raise SequenceError(
                f"frame range {text!r}: cannot read {part.strip()!r}; "
                "use e.g. 1001-1100, 1001-1100x2 or 1001-1010,1020"
            )
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) else first
        step = int(m.group(4)) if m.group(4) else 1
        spanned += abs(last - first) + 1
        if spanned > _MAX_RANGE_FRAMES:
            raise SequenceError(
                f"frame range {text!r}: over {_MAX_RANGE_FRAMES} frames; check the numbers"
            )
        numbers.update(_enumerate_range(first, last, step or 1, m.group(3) == "y"))
    if not numbers:
        raise SequenceError(f"frame range {text!r}: selects no frames; check the step")
    return sorted(numbers)


def _enumerate_range(first: int, last: int, step: int, complement: bool) -> list[int]:
    # As OIIO's Filesystem::enumerate_sequence: a negative step counts down
    # from the larger end, so 1-6x-2 gives 6, 4, 2 where 1-6x2 gives 1, 3, 5.
    if step < 0 and first < last:
        first, last = last, first
    direction = 1 if last >= first else -1
    return [
        n
        for n in range(first, last + direction, direction)
        if ((n - first) % abs(step) == 0) != complement
    ]


def format_frame_range(numbers: list[int]) -> str:
    """The inverse of `parse_frame_range` for steps of 1.

    >>> format_frame_range([1003, 1001, 1002, 1007])
    '1001-1003,1007'
    """
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


@dataclass(frozen=True)
class _Pattern:
    folder: Path
    prefix: str
    suffix: str
    padding: int  # 0 = unpadded (%d)

    @property
    def printf(self) -> str:
        wildcard = f"%0{self.padding}d" if self.padding else "%d"
        return str(self.folder / f"{self.prefix}{wildcard}{self.suffix}")

    def number(self, name: str) -> int | None:
        """The frame number in a file name, if it is exactly this pattern's."""
        if not (name.startswith(self.prefix) and name.endswith(self.suffix)):
            return None
        digits = name[len(self.prefix) : len(name) - len(self.suffix)]
        if not digits.isascii() or not digits.isdigit():
            return None
        n = int(digits)
        return n if str(n).zfill(self.padding) == digits else None


def sequence_name(path: str | Path) -> str:
    """A shot's name: the file name without wildcard, frame range and extension;
    empty for a bare wildcard such as ``%04d.exr``.

    >>> sequence_name("plates/shot.1001-1100#.exr"), sequence_name("clip.mov")
    ('shot', 'clip')
    """
    return _WILDCARD.sub("", Path(path).stem).strip("._- ")


def _parse_pattern(text: str) -> tuple[_Pattern, str | None] | None:
    """A wildcard pattern and its embedded range, or None if ``text`` has none."""
    path = Path(text)
    m = _WILDCARD.search(path.name)
    if m is None:
        return None
    wild = m.group("wild")
    if wild.startswith("%"):
        width = wild[1:-1]
        if width and not width.startswith("0"):
            raise SequenceError(f"{text}: {wild} pads with spaces; use %0{width}d or %d")
        padding = int(width) if width else 0
    elif wild.count("#") == 1:
        padding = 4 + wild.count("@")  # oiiotool: a lone # is four digits
    else:
        padding = len(wild)  # `shot.####.exr` as Nuke, RV and colorists write it: one digit per sign
    if padding > _MAX_PADDING:
        raise SequenceError(f"{text}: {wild} pads to {padding} digits; frame numbers have at most {_MAX_PADDING}")
    pattern = _Pattern(path.parent, path.name[: m.start()], path.name[m.end() :], padding)
    return pattern, m.group("range")


# --- shots ----------------------------------------------------------------------


@dataclass(frozen=True)
class FrameRef:
    """One frame of a shot: its number from the file name (index for a video)."""

    number: int
    path: Path


class Shot:
    """A frame sequence, a single still or a video file.

    Iterating decodes lazily, one frame at a time, so memory stays flat, and
    checks every frame has the first frame's size. `read` reads any one frame
    without that check.
    """

    def __init__(
        self,
        source: Path,
        frames: list[FrameRef],
        *,
        pattern: str | None = None,
        is_video: bool = False,
        fps: float | None = None,
        on_disk: frozenset[int] = frozenset(),
        sequence: list[FrameRef] | None = None,
    ) -> None:
        self.source = source
        self.frames = frames
        self.pattern = pattern
        self.is_video = is_video
        self.fps = fps
        self._on_disk = on_disk
        # Every frame of the source, before any --frames selection: temporal
        # smoothing warms up on the frames just before a range.
        self.sequence = frames if sequence is None else sequence
        self._position = {r.number: i for i, r in enumerate(self.sequence)}

    def __repr__(self) -> str:
        kind = "video" if self.is_video else "sequence"
        return f"Shot({kind} {self.pattern or self.source}, {len(self)} frames)"

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[tuple[FrameRef, Image]]:
        return self.iter()

    @property
    def gaps(self) -> list[int]:
        """Numbers missing on disk between the shot's first and last frame."""
        if self.is_video or not self.frames:
            return []
        numbers = [ref.number for ref in self.frames]
        return [n for n in range(min(numbers), max(numbers) + 1) if n not in self._on_disk]

    def subset(self, frames: list[FrameRef]) -> Shot:
        """The same shot limited to ``frames`` (refs of this shot, in the order to read)."""
        return Shot(
            self.source,
            frames,
            pattern=self.pattern,
            is_video=self.is_video,
            fps=self.fps,
            on_disk=self._on_disk,
            sequence=self.sequence,
        )

    def previous(self, ref: FrameRef) -> FrameRef | None:
        """The frame before ``ref`` in the whole source (ignoring any selection), if any."""
        i = self._position.get(ref.number, 0)
        return self.sequence[i - 1] if i > 0 else None

    def read(self, ref: FrameRef) -> Image:
        """Read one frame.

        Raises:
            ImageReadError: the frame is missing, unreadable or corrupt.
        """
        if self.is_video:
            return _read_video_frame(self.source, ref.number)
        return _read_still(ref.path, _REEXPORT_FRAME)

    def iter(
        self,
        *,
        skip_bad_frames: bool = False,
        on_skip: Callable[[FrameRef, ImageReadError], None] | None = None,
    ) -> Iterator[tuple[FrameRef, Image]]:
        """Yield ``(ref, image)`` in frame order.

        With ``skip_bad_frames`` an unreadable frame of a sequence is passed to
        ``on_skip`` and left out instead of raising. A video that fails to
        decode always raises: decoding cannot resume at an arbitrary frame.

        Raises:
            ImageReadError: an unreadable frame (see ``skip_bad_frames``).
            ShapeError: a frame whose size differs from the first frame's.
        """
        first: tuple[FrameRef, int, int] | None = None
        for ref, image in self._decode(skip_bad_frames, on_skip):
            height, width = image.pixels.shape[:2]
            if first is None:
                first = (ref, width, height)
            elif (width, height) != first[1:]:
                raise ShapeError(
                    f"{ref.path}: frame {ref.number} is {width}x{height} but frame "
                    f"{first[0].number} is {first[1]}x{first[2]}; resize the shot to one size"
                )
            yield ref, image

    def _decode(
        self, skip_bad_frames: bool, on_skip: Callable[[FrameRef, ImageReadError], None] | None
    ) -> Iterator[tuple[FrameRef, Image]]:
        if self.is_video:
            yield from _decode_video(self.source, self.frames)
            return
        for ref in self.frames:
            try:
                image = self.read(ref)
            except ImageReadError as e:
                if not skip_bad_frames:
                    raise
                if on_skip is not None:
                    on_skip(ref, e)
                continue
            yield ref, image


def open_shot(source: str | Path, frames: str | None = None) -> Shot:
    """Open a folder of frames, a frame pattern, a single still or a video.

    A folder must hold exactly one numbered image sequence (hidden files,
    videos and images without a number are ignored). Patterns follow oiiotool
    (see the module docstring). Videos are numbered from 0. ``frames``, an
    oiiotool range, keeps only those frame numbers.

    Raises:
        SequenceError: nothing to read, several sequences in a folder, a
            malformed range, or requested frames that are not in the shot.
        ImageReadError: a video that cannot be opened or has no frames.
    """
    text = str(source)
    path = Path(source)
    if path.is_dir():
        shot = _open_folder(path)
    elif path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
        shot = _open_video(path)
    elif path.is_file():
        number = _trailing_number(path)
        shot = Shot(path, [FrameRef(number, path)], on_disk=frozenset({number}))
    else:
        parsed = _parse_pattern(text)
        if parsed is None:
            raise SequenceError(f"{text}: no such file or folder; check the path")
        pattern, embedded = parsed
        if embedded and frames is not None:
            raise SequenceError(
                f"{text}: the pattern holds a frame range and --frames gives another; keep one"
            )
        frames = embedded if frames is None else frames
        shot = _open_pattern(pattern, text)
    return shot if frames is None else _select(shot, frames)


def _open_pattern(pattern: _Pattern, text: str) -> Shot:
    if not pattern.folder.is_dir():
        raise SequenceError(f"{text}: folder {pattern.folder} does not exist; check the path")
    refs = []
    for entry in pattern.folder.iterdir():
        number = pattern.number(entry.name)
        if number is not None and entry.is_file():
            refs.append(FrameRef(number, entry))
    if not refs:
        raise SequenceError(f"{text}: no files match ({pattern.printf}); check the folder, name and digit count")
    return _sequence_shot(pattern, refs)


def _sequence_shot(pattern: _Pattern, refs: list[FrameRef]) -> Shot:
    refs.sort(key=lambda ref: ref.number)
    return Shot(
        pattern.folder,
        refs,
        pattern=pattern.printf,
        on_disk=frozenset(ref.number for ref in refs),
    )


def _open_folder(folder: Path) -> Shot:
    groups: dict[tuple[str, str], list[tuple[str, Path]]] = {}
    for entry in folder.iterdir():
        if entry.name.startswith(".") or not entry.is_file() or not _is_image_name(entry):
            continue
        m = re.fullmatch(r"(.*?)([0-9]+)([^0-9]*)", entry.stem)
        if m is not None:
            key = (m.group(1), m.group(3) + entry.suffix)
            groups.setdefault(key, []).append((m.group(2), entry))
    sequences = [
        seq
        for (prefix, suffix), files in groups.items()
        for seq in _split_by_padding(folder, prefix, suffix, files)
    ]
    if not sequences:
        raise SequenceError(
            f"{folder}: no numbered image frames found; put the frames there "
            "or pass a pattern like shot.%04d.exr"
        )
    if len(sequences) > 1:
        listing = ", ".join(
            f"{Path(s.pattern).name} ({len(s)} frames)"
            for s in sorted(sequences, key=lambda s: s.pattern or "")
        )
        raise SequenceError(
            f"{folder}: holds {len(sequences)} frame sequences ({listing}); "
            "pass one of them as a pattern instead of the folder"
        )
    return sequences[0]


def _split_by_padding(
    folder: Path, prefix: str, suffix: str, files: list[tuple[str, Path]]
) -> Iterator[Shot]:
    """Shots of one name stem: ``a.0009.png`` and ``a.9.png`` are two sequences."""
    while files:
        padded = [len(digits) for digits, _ in files if len(digits) > 1 and digits[0] == "0"]
        lengths = {len(digits) for digits, _ in files}
        padding = max(padded) if padded else (lengths.pop() if len(lengths) == 1 else 0)
        pattern = _Pattern(folder, prefix, suffix, padding)
        refs, rest = [], []
        for digits, entry in files:
            number = pattern.number(entry.name)
            (refs if number is not None else rest).append((number, digits, entry))
        yield _sequence_shot(pattern, [FrameRef(n, entry) for n, _, entry in refs])
        files = [(digits, entry) for _, digits, entry in rest]


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower().lstrip(".") in _image_extensions()


def _image_extensions() -> frozenset[str]:
    # "null" and "term" are OIIO pseudo-formats, not files a shot holds.
    listing = oiio.get_string_attribute("extension_list")
    return frozenset(
        ext
        for entry in listing.split(";")
        if entry.partition(":")[0] not in ("null", "term")
        for ext in entry.partition(":")[2].split(",")
    )


def _trailing_number(path: Path) -> int:
    m = re.search(r"([0-9]+)[^0-9]*$", path.stem)
    return int(m.group(1)) if m else 0


def _select(shot: Shot, frames: str) -> Shot:
    wanted = parse_frame_range(frames)
    by_number = {ref.number: ref for ref in shot.frames}
    missing = [n for n in wanted if n not in by_number]
    if missing:
        have = format_frame_range(list(by_number)) or "none"
        raise SequenceError(
            f"{shot.pattern or shot.source}: frames {format_frame_range(missing)} of "
            f"--frames {frames} are not in the shot (it has {have}); fix the range"
        )
    return shot.subset([by_number[n] for n in wanted])


def output_path_for(ref: FrameRef, shot: Shot, out_dir: Path, ext: str | None = None) -> Path:
    """Where a frame's output goes: the input's file name in ``out_dir``, with
    the extension replaced by ``ext`` if given (``"png"`` or ``".png"``). Video
    frames become ``<video stem>.<number:04d>.<ext or png>``.

    Raises:
        OutputError: the result would overwrite the input frame.
    """
    suffix = "." + ext.lstrip(".") if ext else None
    if shot.is_video:
        path = Path(out_dir) / f"{shot.source.stem}.{ref.number:04d}{suffix or '.png'}"
    else:
        name = Path(ref.path.name)
        path = Path(out_dir) / (name.with_suffix(suffix) if suffix else name)
    if path.resolve() == ref.path.resolve():
        raise OutputError(f"{path}: would overwrite the input frame; choose another output folder")
    return path


# --- video ----------------------------------------------------------------------


def _open_container(path: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as e:
        raise ImageReadError(f"{path}: not a readable video ({e}); re-export it") from e
    if not container.streams.video:
        container.close()
        raise ImageReadError(f"{path}: has no video stream; pass a video or an image sequence")
    return container


def _open_video(path: Path) -> Shot:
    with _open_container(path) as container:
        stream = container.streams.video[0]
        count = stream.frames or sum(
            1 for packet in container.demux(stream) if packet.size and packet.pts is not None
        )
        rate = stream.average_rate or stream.guessed_rate
    if not count:
        raise ImageReadError(f"{path}: has no frames; re-export the video")
    refs = [FrameRef(i, path) for i in range(count)]
    return Shot(path, refs, is_video=True, fps=float(rate) if rate else None)


def _decode_video(path: Path, refs: list[FrameRef]) -> Iterator[tuple[FrameRef, Image]]:
    wanted = {ref.number: ref for ref in refs}
    if not wanted:
        return
    last = max(wanted)
    with _open_container(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        info = _VideoInfo.of(container, stream)
        index = -1
        try:
            for index, frame in _frames_from(container, stream, info, min(wanted)):
                if index in wanted:
                    yield wanted[index], info.image(frame, index)
                if index >= last:
                    return
        except av.FFmpegError as e:
            raise ImageReadError(
                f"{path}: cannot decode frame {index + 1} ({e}); re-export the video"
            ) from e
    raise ImageReadError(
        f"{path}: ended after {index + 1} frames, before frame {last}; re-export the video"
    )


def _read_video_frame(path: Path, index: int) -> Image:
    with _open_container(path) as container:
        stream = container.streams.video[0]
        info = _VideoInfo.of(container, stream)
        try:
            for i, frame in _frames_from(container, stream, info, index):
                if i == index:
                    return info.image(frame, index)
                if i > index:
                    break
        except av.FFmpegError as e:
            raise ImageReadError(
                f"{path}: cannot decode frame {index} ({e}); re-export the video"
            ) from e
    raise ImageReadError(f"{path}: has no frame {index}; check the frame number")


def _frames_from(
    container: av.container.InputContainer, stream: av.video.VideoStream, info: _VideoInfo, first: int
) -> Iterator[tuple[int, av.VideoFrame]]:
    """(frame index, frame) in order, from the keyframe at or before frame ``first`` on.

    Seeking keeps a frame range of a long clip (a farm chunk) from decoding
    everything before it; the index then comes from the timestamp. From frame 0,
    or with no frame rate to seek by, frames are counted from the start.
    """
    if first == 0 or info.rate is None:
        yield from enumerate(container.decode(stream))
        return
    start = stream.start_time or 0
    container.seek(start + int(Fraction(first) / info.rate / stream.time_base), stream=stream, backward=True,
                   any_frame=False)
    for frame in container.decode(stream):
        if frame.pts is not None:
            yield round((frame.pts - start) * stream.time_base * info.rate), frame


# swscale's default fast paths are free to round differently per CPU, so
# two render nodes could disagree on a frame, and they rebuild subsampled
# chroma coarsely. Exact rounding and full chroma interpolation, both ways.
_YUV_CONVERSION = (
    Interpolation.BILINEAR
    | Interpolation.ACCURATE_RND
    | Interpolation.BITEXACT
    | Interpolation.FULL_CHR_H_INT
    | Interpolation.FULL_CHR_H_INP
)


@dataclass(frozen=True)
class _VideoInfo:
    rate: Fraction | None
    timecode: str | None

    @classmethod
    def of(cls, container: av.container.InputContainer, stream: av.video.VideoStream) -> _VideoInfo:
        rate = stream.average_rate or stream.guessed_rate
        sources = [stream.metadata, container.metadata, *(s.metadata for s in container.streams)]
        timecode = next((m["timecode"] for m in sources if "timecode" in m), None)
        return cls(Fraction(rate) if rate else None, timecode)

    def image(self, frame: av.VideoFrame, index: int) -> Image:
        deep = frame.format.components[0].bits > 8
        colorspace = frame.colorspace
        if colorspace in (0, 2):  # untagged: HD and up is BT.709 by convention
            colorspace = Colorspace.ITU709 if frame.height >= 720 else Colorspace.ITU601
        codes = frame.to_ndarray(
            format="rgb48le" if deep else "rgb24",
            src_colorspace=colorspace,
            src_color_range=frame.color_range or ColorRange.MPEG,
            dst_color_range=ColorRange.JPEG,
            interpolation=_YUV_CONVERSION,
        )
        pixels = codes.astype(np.float32) / np.float32(65535 if deep else 255)
        attributes: dict[str, str | int | float] = {}
        if self.rate:
            attributes["FramesPerSecond"] = f"{self.rate.numerator}/{self.rate.denominator}"
        timecode = (
            self.timecode and self.rate and _advance_timecode(self.timecode, index, self.rate)
        )
        if timecode:
            attributes["smpte:TimeCode"] = timecode
        spec = FrameSpec(
            format="png",
            bit_depth="uint16" if deep else "uint8",
            width=frame.width,
            height=frame.height,
            has_alpha=False,
            attributes=attributes,
        )
        return Image(np.ascontiguousarray(pixels), None, spec)


def _advance_timecode(start: str, frames: int, rate: Fraction) -> str | None:
    """Non-drop timecode ``frames`` after ``start``; None for drop-frame."""
    m = re.fullmatch(r"(\d+):(\d\d):(\d\d):(\d\d)", start.strip())
    if m is None:
        return None
    base = round(rate)
    hh, mm, ss, ff = (int(g) for g in m.groups())
    total = ((hh * 60 + mm) * 60 + ss) * base + ff + frames
    ff, total = total % base, total // base
    return f"{total // 3600 % 24:02d}:{total // 60 % 60:02d}:{total % 60:02d}:{ff:02d}"


_VIDEO_CODECS = {
    ".mov": ("prores_ks", "yuv422p10le", {"profile": "3"}),  # profile 3 = ProRes 422 HQ
    ".mp4": ("libx264", "yuv420p", {"crf": "16", "preset": "medium"}),
}
VIDEO_OUTPUT_EXTENSIONS = frozenset(_VIDEO_CODECS)


class VideoWriter:
    """Encode float RGB frames to ProRes 422 HQ (.mov) or H.264 (.mp4).

    Frames are converted to BT.709 limited-range YUV and the stream is tagged
    so. The file is written under a hidden temporary name and renamed by
    `close`; leaving a ``with`` block through an exception deletes it instead.

    >>> with VideoWriter(out_dir / "shot.mov", fps="24000/1001") as video:  # doctest: +SKIP
    ...     for ref, image in shot:
    ...         video.write(image.pixels)

    Raises:
        OutputError: an extension other than .mov/.mp4, a missing folder, or a
            failed encode or write.
        ShapeError: frames of the wrong shape, of changing size, or of an odd
            size the chroma subsampling cannot hold.
    """

    def __init__(
        self, path: str | Path, fps: str | int | float | Fraction, *, timecode: str | None = None
    ) -> None:
        self.path = Path(path)
        codec = _VIDEO_CODECS.get(self.path.suffix.lower())
        if codec is None:
            raise OutputError(f"{self.path}: write videos as .mov (ProRes 422 HQ) or .mp4 (H.264)")
        check_writable(self.path)
        self._codec, self._pix_fmt, self._options = codec
        self._rate = _fps_fraction(fps)
        self._timecode = timecode
        self._tmp = temp_path_for(self.path)
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.VideoStream | None = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, pixels: np.ndarray) -> None:
        """Append one ``(H, W, 3)`` float frame; values are clipped to [0, 1]."""
        _check_pixels(pixels, "pixels")
        height, width = pixels.shape[:2]
        if self._stream is None:
            self._start(width, height)
        elif (width, height) != (self._stream.width, self._stream.height):
            raise ShapeError(
                f"{self.path}: frame is {width}x{height} but the video is "
                f"{self._stream.width}x{self._stream.height}; resize the frames to one size"
            )
        rgb = av.VideoFrame.from_ndarray(_quantise(pixels, "uint16"), format="rgb48le")
        frame = rgb.reformat(
            format=self._pix_fmt,
            dst_colorspace=Colorspace.ITU709,
            dst_color_range=ColorRange.MPEG,
            interpolation=_YUV_CONVERSION,
        )
        self._encode(frame)

    def close(self) -> None:
        """Finish the file and move it into place."""
        if self._container is None:
            raise OutputError(f"{self.path}: no frames were written; nothing to save")
        try:
            self._encode(None)
            self._container.close()
            with open(self._tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(self._tmp, self.path)
        except OSError as e:
            raise OutputError(describe_os_error(self.path, e)) from e
        finally:
            self._container = None
            self._tmp.unlink(missing_ok=True)

    def abort(self) -> None:
        """Stop and delete the partial file."""
        if self._container is not None:
            # Already failing or giving up: a second error while closing a
            # half-written file would only hide the first.
            with contextlib.suppress(av.FFmpegError, OSError):
                self._container.close()
            self._container = None
        self._tmp.unlink(missing_ok=True)

    def _start(self, width: int, height: int) -> None:
        # 4:2:2 halves the width and 4:2:0 the height too, so both must be even.
        if width % 2 or (height % 2 and self._pix_fmt.startswith("yuv420")):
            raise ShapeError(
                f"{self.path}: {width}x{height} cannot be encoded with {self._pix_fmt} "
                "chroma; crop or pad to an even size"
            )
        try:
            self._container = av.open(str(self._tmp), "w")
        except OSError as e:
            raise OutputError(describe_os_error(self.path, e)) from e
        stream = self._container.add_stream(self._codec, rate=self._rate, options=self._options)
        stream.width, stream.height, stream.pix_fmt = width, height, self._pix_fmt
        context = stream.codec_context
        context.colorspace = context.color_primaries = context.color_trc = 1  # BT.709
        context.color_range = ColorRange.MPEG
        if self._timecode:
            stream.metadata["timecode"] = self._timecode
        self._stream = stream

    def _encode(self, frame: av.VideoFrame | None) -> None:
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except av.FFmpegError as e:
            self.abort()
            raise OutputError(f"{self.path}: encoding failed ({e}); check free space") from e
