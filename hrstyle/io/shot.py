"""A shot: a folder of numbered frames, a pattern, a single still or a video, decoded lazily
frame by frame so memory stays flat however long it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import OpenImageIO as oiio

from ..errors import ImageReadError, OutputError, SequenceError, ShapeError
from .sequence import (
    FrameRef,
    Pattern,
    format_frame_range,
    parse_frame_range,
    parse_pattern,
)
from .stills import REEXPORT_FRAME, Image, read_still
from .video import VIDEO_EXTENSIONS, decode_video, open_container, read_video_frame


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
            return read_video_frame(self.source, ref.number)
        return read_still(ref.path, REEXPORT_FRAME)

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
            yield from decode_video(self.source, self.frames)
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
        parsed = parse_pattern(text)
        if parsed is None:
            raise SequenceError(f"{text}: no such file or folder; check the path")
        pattern, embedded = parsed
        if embedded and frames is not None:
            raise SequenceError(f"{text}: the pattern holds a frame range and --frames gives another; keep one")
        frames = embedded if frames is None else frames
        shot = _open_pattern(pattern, text)
    return shot if frames is None else _select(shot, frames)


def _open_pattern(pattern: Pattern, text: str) -> Shot:
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


def _sequence_shot(pattern: Pattern, refs: list[FrameRef]) -> Shot:
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
        seq for (prefix, suffix), files in groups.items() for seq in _split_by_padding(folder, prefix, suffix, files)
    ]
    if not sequences:
        raise SequenceError(
            f"{folder}: no numbered image frames found; put the frames there or pass a pattern like shot.%04d.exr"
        )
    if len(sequences) > 1:
        listing = ", ".join(
            f"{Path(s.pattern).name} ({len(s)} frames)" for s in sorted(sequences, key=lambda s: s.pattern or "")
        )
        raise SequenceError(
            f"{folder}: holds {len(sequences)} frame sequences ({listing}); "
            "pass one of them as a pattern instead of the folder"
        )
    return sequences[0]


def _split_by_padding(folder: Path, prefix: str, suffix: str, files: list[tuple[str, Path]]) -> Iterator[Shot]:
    """Shots of one name stem: ``a.0009.png`` and ``a.9.png`` are two sequences."""
    while files:
        padded = [len(digits) for digits, _ in files if len(digits) > 1 and digits[0] == "0"]
        lengths = {len(digits) for digits, _ in files}
        padding = max(padded) if padded else (lengths.pop() if len(lengths) == 1 else 0)
        pattern = Pattern(folder, prefix, suffix, padding)
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


def _open_video(path: Path) -> Shot:
    with open_container(path) as container:
        stream = container.streams.video[0]
        count = stream.frames or sum(1 for packet in container.demux(stream) if packet.size and packet.pts is not None)
        rate = stream.average_rate or stream.guessed_rate
    if not count:
        raise ImageReadError(f"{path}: has no frames; re-export the video")
    refs = [FrameRef(i, path) for i in range(count)]
    return Shot(path, refs, is_video=True, fps=float(rate) if rate else None)
