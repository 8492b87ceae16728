"""Frame ranges, sequence patterns and frame references, with oiiotool's syntax
(OIIO ``src/doc/oiiotool.rst``):

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
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import SequenceError

_MAX_RANGE_FRAMES = 1_000_000


_MAX_PADDING = 20  # digits in a frame number: %020d at most


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
                f"frame range {text!r}: cannot read {part.strip()!r}; use e.g. 1001-1100, 1001-1100x2 or 1001-1010,1020"
            )
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) else first
        step = int(m.group(4)) if m.group(4) else 1
        spanned += abs(last - first) + 1
        if spanned > _MAX_RANGE_FRAMES:
            raise SequenceError(f"frame range {text!r}: over {_MAX_RANGE_FRAMES} frames; check the numbers")
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
    return [n for n in range(first, last + direction, direction) if ((n - first) % abs(step) == 0) != complement]


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
class Pattern:
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


def parse_pattern(text: str) -> tuple[Pattern, str | None] | None:
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
    pattern = Pattern(path.parent, path.name[: m.start()], path.name[m.end() :], padding)
    return pattern, m.group("range")


@dataclass(frozen=True)
class FrameRef:
    """One frame of a shot: its number from the file name (index for a video)."""

    number: int
    path: Path
