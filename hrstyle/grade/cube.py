"""Adobe/Resolve .cube files: `TITLE`, `LUT_3D_SIZE`, `DOMAIN_MIN`/`MAX`, rows red fastest, each
number the shortest decimal that reads back as the same float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import InputError, LutFormatError
from ..io.atomic import read_small_file, write_bytes_atomic
from .lut import MAX_SIZE, MIN_SIZE, RGB, Lut3D

CUBE_SUFFIX = ".cube"


_MAX_FILE = 1 << 30  # a 129³ .cube is ~60 MB; never read gigabytes because a path ends in .cube


def cube_text(lut: Lut3D) -> str:
    """``lut`` as the text of an Adobe/Resolve .cube file: TITLE, LUT_3D_SIZE, DOMAIN_MIN/MAX,
    then N³ rows of output RGB, red fastest. Each number is the shortest decimal that reads
    back as the same float32, so `read_cube` returns the table bit for bit."""
    lines = [f'TITLE "{lut.title}"'] if lut.title else []
    lines += [
        f"LUT_3D_SIZE {lut.size}",
        "DOMAIN_MIN " + " ".join(_number(v) for v in np.float32(lut.domain_min)),
        "DOMAIN_MAX " + " ".join(_number(v) for v in np.float32(lut.domain_max)),
    ]
    rows = lut.table.detach().cpu().reshape(-1, 3).numpy()
    lines += (" ".join(_number(v) for v in row) for row in rows)
    return "\n".join(lines) + "\n"


def _number(value: np.float32) -> str:
    return np.format_float_positional(value, unique=True, trim="0")


def write_cube(path: str | Path, lut: Lut3D) -> None:
    """Write ``lut`` as a .cube file (`cube_text`), atomically."""
    write_bytes_atomic(path, cube_text(lut).encode("utf-8"))


def read_cube(path: str | Path) -> Lut3D:
    """Read a 3D .cube LUT (Adobe/Resolve: ``TITLE``, ``LUT_3D_SIZE``, ``DOMAIN_MIN``/``MAX``
    or Resolve's ``LUT_3D_INPUT_RANGE``, rows red fastest; ``#`` comments and blank lines
    anywhere; other keywords before the table are ignored).

    Raises:
        LutFormatError: a missing or unreadable file, a 1D LUT, or a damaged table, in one
            line naming the file (and the line, where there is one).
    """
    path = Path(path)
    data = read_small_file(path, "a .cube LUT", LutFormatError, _MAX_FILE)
    if b"\0" in data:
        raise LutFormatError(f"{path}: binary data, not a .cube LUT")
    # Titles from other tools may be in a legacy encoding; numbers and keywords are ASCII.
    return _CubeParser(path).parse(data.decode("utf-8", errors="replace"))


class _CubeParser:
    """One pass over a .cube file's lines: keywords first, then the table."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.keywords: dict[str, list[str]] = {}
        self.rows: list[str] = []
        self.row_lines: list[int] = []  # the line number of each row, for messages

    def fail(self, message: str, line: int | None = None) -> LutFormatError:
        return LutFormatError(f"{self.path}: {'' if line is None else f'line {line}: '}{message}")

    def parse(self, text: str) -> Lut3D:
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if line.startswith("TITLE"):
                self._keyword("TITLE", [line[5:].strip().strip('"')], number)
                continue
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if line[0].isalpha() or line[0] == "_":
                word, *values = line.split()
                self._keyword(word, values, number)
            else:
                self.rows.append(line)
                self.row_lines.append(number)
        size = self._size()
        lo, hi = self._domain()
        table = self._table(size)
        try:
            return Lut3D(
                torch.from_numpy(table).reshape(size, size, size, 3),
                lo,
                hi,
                self.keywords.get("TITLE", [""])[0].replace('"', "'"),
            )
        except InputError as exc:
            raise self.fail(str(exc)) from None

    def _keyword(self, word: str, values: list[str], line: int) -> None:
        if self.rows:
            raise self.fail(f"keyword {word} after the table has started", line)
        if word in self.keywords:
            raise self.fail(f"{word} given twice", line)
        self.keywords[word] = values

    def _size(self) -> int:
        if "LUT_1D_SIZE" in self.keywords:
            kind = "holds a 1D shaper before its 3D table" if "LUT_3D_SIZE" in self.keywords else "is a 1D LUT"
            raise self.fail(f"{kind} (LUT_1D_SIZE); hrstyle reads 3D-only .cube LUTs")
        if "LUT_3D_SIZE" not in self.keywords:
            raise self.fail("no LUT_3D_SIZE line; not a 3D .cube LUT")
        values = self.keywords["LUT_3D_SIZE"]
        if len(values) != 1 or not values[0].isdigit() or not MIN_SIZE <= int(values[0]) <= MAX_SIZE:
            raise self.fail(
                f"LUT_3D_SIZE: expected a whole number from {MIN_SIZE} to {MAX_SIZE}, got {' '.join(values)!r}"
            )
        return int(values[0])

    def _domain(self) -> tuple[RGB, RGB]:
        if "LUT_3D_INPUT_RANGE" in self.keywords:
            lo, hi = self._floats("LUT_3D_INPUT_RANGE", 2)
            return (lo, lo, lo), (hi, hi, hi)
        lo = self._floats("DOMAIN_MIN", 3) if "DOMAIN_MIN" in self.keywords else (0.0, 0.0, 0.0)
        hi = self._floats("DOMAIN_MAX", 3) if "DOMAIN_MAX" in self.keywords else (1.0, 1.0, 1.0)
        return lo, hi

    def _floats(self, word: str, count: int) -> tuple[float, ...]:
        values = self.keywords[word]
        try:
            numbers = tuple(float(v) for v in values)
        except ValueError:
            numbers = ()
        if len(numbers) != count or not all(np.isfinite(numbers)):
            raise self.fail(f"{word}: expected {count} numbers, got {' '.join(values)!r}")
        return numbers

    def _table(self, size: int) -> np.ndarray:
        if len(self.rows) != size**3:
            raise self.fail(f"LUT_3D_SIZE {size} needs {size**3} rows of three numbers, found {len(self.rows)}")
        try:
            table = np.array([row.split() for row in self.rows], dtype=np.float32)
        except ValueError:
            table = np.empty(0)
        if table.shape != (size**3, 3):
            bad = next(i for i, row in enumerate(self.rows) if not _is_triple(row))
            raise self.fail(f"expected three numbers, got {self.rows[bad][:40]!r}", self.row_lines[bad])
        if not np.isfinite(table).all():
            raise self.fail("the table holds NaN or Inf")
        return table


def _is_triple(row: str) -> bool:
    parts = row.split()
    try:
        [float(p) for p in parts]
    except ValueError:
        return False
    return len(parts) == 3
