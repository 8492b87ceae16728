"""Stills: reading and writing frames through OpenImageIO, with their bit depth and metadata.

The rest of hrstyle only sees float32 RGB: `Image.pixels` is ``(H, W, 3)``,
in [0, 1] for integer formats, and as stored for float formats (EXR values may
be above 1 or negative). No transfer function or colour space is converted
here (see colour.py): an EXR stays scene-linear, a PNG stays sRGB-encoded.
Reading stops at the first bad frame unless the caller opts out with
``Shot.iter(skip_bad_frames=True)``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from ..errors import ImageReadError, InputError, OutputError, ShapeError
from .atomic import atomic_path, check_room, check_writable

BIT_DEPTHS = ("uint8", "uint10", "uint12", "uint16", "half", "float")


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
    "DateTime",
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
_UNKNOWN_DATE = "0000:00:00 00:00:00"


# The largest frame hrstyle decodes: 16384x8192 (16K DCI 15360x8640 fits). A frame
# holds about 100 bytes a pixel at the peak of a render, so this is ~13 GB, and a
# compressed file that claims more (a 260 KB PNG can claim 16384x16384) is refused
# from its header, before any memory is spent. Library users may raise it.
MAX_FRAME_PIXELS = 1 << 27


_REEXPORT = "re-export it"


REEXPORT_FRAME = "re-export the frame or pass --skip-bad-frames"


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
            raise InputError(f"unknown bit depth {self.bit_depth!r}; expected one of {', '.join(BIT_DEPTHS)}")


@dataclass
class Image:
    """float32 ``(H, W, 3)`` RGB pixels, optional float32 ``(H, W)`` alpha, and
    the spec to write it back with."""

    pixels: np.ndarray
    alpha: np.ndarray | None
    spec: FrameSpec


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
    return read_still(Path(path), _REEXPORT)


def read_still(path: Path, hint: str) -> Image:
    _check_readable(path, hint)
    config = oiio.ImageSpec()
    # Without this OIIO premultiplies PNG/TIFF colour by alpha on read.
    config.attribute("oiio:UnassociatedAlpha", 1)
    inp = oiio.ImageInput.open(str(path), config)
    if inp is None:
        raise ImageReadError(f"{path}: not a readable image (OpenImageIO: {_one_line(oiio.geterror())}); {hint}")
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
                f"{path}: truncated or corrupt image (OpenImageIO: {_one_line(inp.geterror())}); {hint}"
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


def write_image(path: str | Path, pixels: np.ndarray, spec: FrameSpec, alpha: np.ndarray | None = None) -> None:
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
    check_pixels(pixels, "pixels")
    height, width = pixels.shape[:2]
    if alpha is not None and (alpha.ndim != 2 or alpha.shape != (height, width) or alpha.dtype.kind != "f"):
        raise ShapeError(f"alpha: expected float ({height}, {width}), got {alpha.dtype} {tuple(alpha.shape)}")
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
    data = np.ascontiguousarray(quantise(channels, depth))  # OIIO refuses strided channels
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


def _depth_for(file_format: str, depth: str) -> str:
    allowed = _FORMAT_DEPTHS.get(file_format)
    if allowed is None or depth in allowed:
        return depth
    rank = BIT_DEPTHS.index(depth)
    return next((d for d in allowed if BIT_DEPTHS.index(d) >= rank), allowed[-1])


def quantise(x: np.ndarray, depth: str) -> np.ndarray:
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
    if file_format == "openexr" and "DateTime" not in spec.attributes:
        # OpenImageIO stamps an EXR with the time of writing unless it is given one, so the
        # same frame rendered twice would differ: an input without a date gets EXIF's "unknown".
        out.attribute("DateTime", _UNKNOWN_DATE)
    if file_format == "png":
        # zlib level 3 writes a 1080p frame 3x faster than OIIO's 6 for ~10% more bytes;
        # PNG writing was the slowest step of a render.
        out.attribute("png:compressionLevel", _PNG_COMPRESSION)
    for name, value in spec.attributes.items():
        if name == "compression" and file_format != spec.format:
            continue  # "piz" means nothing to a PNG writer
        if name == "FramesPerSecond":
            fps = fps_fraction(value)
            out.attribute(name, oiio.TypeRational, (fps.numerator, fps.denominator))
        elif name == "smpte:TimeCode":
            tc = _timecode_words(str(value))
            if tc is not None:
                out.attribute(name, oiio.TypeTimeCode, tc)
        else:
            out.attribute(name, value)
    return out


def fps_fraction(fps: str | int | float | Fraction) -> Fraction:
    """``"24000/1001"``, 24 or 23.976023976 -> an exact frame rate."""
    try:
        # 1001 is the largest denominator of broadcast rates (24000/1001 etc.).
        rate = Fraction(fps) if isinstance(fps, str) else Fraction(fps).limit_denominator(1001)
    except (ValueError, TypeError, ZeroDivisionError):
        rate = Fraction(0)
    if rate <= 0:
        raise InputError(f"frame rate {fps!r}: expected a positive number or a ratio like 24000/1001")
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


def check_pixels(pixels: np.ndarray, name: str) -> None:
    if not isinstance(pixels, np.ndarray) or pixels.ndim != 3 or pixels.shape[2] != 3:
        got = f"{pixels.dtype} {tuple(pixels.shape)}" if isinstance(pixels, np.ndarray) else type(pixels).__name__
        raise ShapeError(f"{name}: expected a float array (H, W, 3), got {got}")
    if pixels.dtype.kind != "f":
        raise ShapeError(f"{name}: expected float values, got {pixels.dtype}; scale to [0, 1] first")
