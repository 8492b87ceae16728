"""Video in and out through PyAV: decoding (with seeking for frame ranges) and ProRes/H.264
encoding, BT.709 limited range with exact, CPU-independent rounding both ways.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation

from ..errors import ImageReadError, OutputError, ShapeError
from .atomic import check_writable, describe_os_error, temp_path_for
from .sequence import FrameRef
from .stills import FrameSpec, Image, check_pixels, fps_fraction, quantise

VIDEO_EXTENSIONS = frozenset({".mov", ".mp4", ".m4v", ".mkv", ".avi", ".mxf", ".webm"})


def open_container(path: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as e:
        raise ImageReadError(f"{path}: not a readable video ({e}); re-export it") from e
    if not container.streams.video:
        container.close()
        raise ImageReadError(f"{path}: has no video stream; pass a video or an image sequence")
    return container


def decode_video(path: Path, refs: list[FrameRef]) -> Iterator[tuple[FrameRef, Image]]:
    wanted = {ref.number: ref for ref in refs}
    if not wanted:
        return
    last = max(wanted)
    with open_container(path) as container:
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
            raise ImageReadError(f"{path}: cannot decode frame {index + 1} ({e}); re-export the video") from e
    raise ImageReadError(f"{path}: ended after {index + 1} frames, before frame {last}; re-export the video")


def read_video_frame(path: Path, index: int) -> Image:
    with open_container(path) as container:
        stream = container.streams.video[0]
        info = _VideoInfo.of(container, stream)
        try:
            for i, frame in _frames_from(container, stream, info, index):
                if i == index:
                    return info.image(frame, index)
                if i > index:
                    break
        except av.FFmpegError as e:
            raise ImageReadError(f"{path}: cannot decode frame {index} ({e}); re-export the video") from e
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
    container.seek(
        start + int(Fraction(first) / info.rate / stream.time_base), stream=stream, backward=True, any_frame=False
    )
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
        timecode = self.timecode and self.rate and _advance_timecode(self.timecode, index, self.rate)
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

    def __init__(self, path: str | Path, fps: str | int | float | Fraction, *, timecode: str | None = None) -> None:
        self.path = Path(path)
        codec = _VIDEO_CODECS.get(self.path.suffix.lower())
        if codec is None:
            raise OutputError(f"{self.path}: write videos as .mov (ProRes 422 HQ) or .mp4 (H.264)")
        check_writable(self.path)
        self._codec, self._pix_fmt, self._options = codec
        self._rate = fps_fraction(fps)
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
        check_pixels(pixels, "pixels")
        height, width = pixels.shape[:2]
        if self._stream is None:
            self._start(width, height)
        elif (width, height) != (self._stream.width, self._stream.height):
            raise ShapeError(
                f"{self.path}: frame is {width}x{height} but the video is "
                f"{self._stream.width}x{self._stream.height}; resize the frames to one size"
            )
        rgb = av.VideoFrame.from_ndarray(quantise(pixels, "uint16"), format="rgb48le")
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
