"""Property-based fuzzing of the parsers that read what users and files hand hrstyle:
frame ranges (`--frames`), frame patterns, and look-file metadata.

Each may only ever answer with its documented error (SequenceError, LookFormatError),
never another exception, and never take long: every example runs well inside a
second, and hypothesis' deadline is off only because two busy CI cores make
timings noisy.
"""

from __future__ import annotations

import json
import string
import struct
from dataclasses import fields
from pathlib import Path

import pytest
from helpers import make_look
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save as save_tensors

from hrstyle.errors import LookFormatError, SequenceError
from hrstyle.grade import steps
from hrstyle.grade.config import RenderCfg
from hrstyle.io.sequence import format_frame_range, parse_frame_range, sequence_name
from hrstyle.io.shot import open_shot
from hrstyle.look.file import load_look, save_look
from hrstyle.look.meta import LookMeta, printable

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- --frames ---------------------------------------------------------------------------------

_number = st.integers(0, 10**6).map(str) | st.sampled_from(["", "-", "00", "1e3", "٣", "99999999999999999999"])
_range_part = st.builds(
    lambda a, b, mode, step: f"{a}-{b}{mode}{step}" if mode else f"{a}-{b}" if b else a,
    _number,
    _number,
    st.sampled_from(["", "x", "y", "X", "z"]),
    st.integers(-5, 5).map(str) | st.just(""),
)
_range_text = (
    st.lists(_range_part, min_size=1, max_size=4).map(",".join)
    | st.text(alphabet=string.digits + ",-xy #%@d \t", max_size=30)
    | st.text(max_size=20)
)


@FUZZ
@given(_range_text)
def test_frame_ranges_parse_or_raise_sequence_error(text):
    try:
        numbers = parse_frame_range(text)
    except SequenceError as exc:
        assert "\n" not in str(exc)
        return
    assert numbers and numbers == sorted(set(numbers)) and all(type(n) is int and n >= 0 for n in numbers)
    assert len(numbers) <= 1_000_000
    assert parse_frame_range(format_frame_range(numbers)) == numbers


@FUZZ
@given(st.integers(0, 5000), st.integers(0, 5000), st.integers(-7, 7).filter(bool))
def test_x_and_y_steps_split_a_range_and_x_keeps_its_start(first, last, step):
    """``xN`` and ``yN`` over the same frames are complements; ``xN`` is spaced N apart and
    starts at ``first``, or at the larger end for a negative N (oiiotool)."""
    lo, hi = min(first, last), max(first, last)
    every = parse_frame_range(f"{first}-{last}x{step}")
    try:
        rest = parse_frame_range(f"{first}-{last}y{step}")
    except SequenceError:  # |step| 1: y selects nothing
        rest = []
    assert sorted(every + rest) == list(range(lo, hi + 1))
    assert all(b - a == abs(step) for a, b in zip(every, every[1:]))
    assert (hi if step < 0 else first) in every


# --- frame patterns --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of empty files whose names look like frames of several patterns."""
    folder = tmp_path_factory.mktemp("plates")
    for name in (
        "a.0001.png",
        "a.0002.png",
        "a.0010.png",
        "a.1.png",
        "a.02.png",
        "b_001.exr",
        "c.12345678.dpx",
        "shot 1.0001.tif",
        "plan ñ.0007.png",
        "%04d.png",
        "#.png",
        "a.0001.png.bak",
    ):
        (folder / name).write_bytes(b"")
    (folder / "sub.0001.png").mkdir()
    return folder


_wildcard = (
    st.sampled_from(["#", "##", "####", "@", "@@@", "#@@", "%d", "%04d", "%4d", "%08d", "%0d", "%"])
    | st.builds(lambda n: f"%0{n}d", st.integers(0, 10**12))
    | st.builds(lambda n: "#" * n, st.integers(1, 40))
)
_name_part = st.text(alphabet=string.ascii_letters + string.digits + " ._-ñ%#@,", max_size=8)


@FUZZ
@given(_name_part, _name_part, _wildcard, st.sampled_from([".png", ".exr", "", ".dpx"]), st.none() | _range_text)
def test_frame_patterns_open_or_raise_a_sequence_error(plates, prefix, middle, wildcard, suffix, frames):
    pattern = str(plates / f"{prefix}{middle}{wildcard}{suffix}")  # middle may hold an embedded range
    sequence_name(pattern)  # never raises
    try:
        shot = open_shot(pattern, frames)
    except SequenceError as exc:
        assert "\n" not in str(exc)
        return
    numbers = [ref.number for ref in shot.frames]
    assert numbers == sorted(set(numbers)) and all(ref.path.is_file() for ref in shot.frames)


# --- look metadata ---------------------------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["\x1b[31m", "a\u202eb", "\x00", "x" * 5000]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_FIELDS = [f.name for f in fields(LookMeta)]


@pytest.fixture(scope="module")
def look_parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    """A scratch folder, a valid look's metadata as a JSON-able dict, and its tensors."""
    look = make_look()
    folder = tmp_path_factory.mktemp("looks")
    save_look(folder / "valid.look.safetensors", look.net, look.meta)
    tensors = {k: v.contiguous() for k, v in look.net.state_dict().items()}
    return folder, look.meta.to_dict(), tensors


def _load_with_metadata(folder: Path, tensors: dict, text: str):
    path = folder / "fuzzed.look.safetensors"
    path.write_bytes(save_tensors(tensors, metadata={"hrstyle": text}))
    return load_look(path)


def _use(look) -> None:
    """What hrstyle does with a loaded look's metadata: show it, size frames by it, render with it."""
    shown = look.meta.to_dict()
    json.dumps(shown)
    assert all(printable(v) == v for v in shown.values() if isinstance(v, str)), "info would print raw escapes"
    for height, width in ((1080, 1920), (36, 64), (8, 8)):
        h, w = steps.work_size_for(height, width, look)
        assert 1 <= h <= height and 1 <= w <= width
    look.pixel_options(RenderCfg())


@FUZZ
@given(st.data())
def test_look_metadata_loads_or_raises_look_format_error(look_parts, data):
    folder, meta, tensors = look_parts
    meta = json.loads(json.dumps(meta))
    for name in data.draw(st.lists(st.sampled_from(_FIELDS + ["extra"]), max_size=4, unique=True)):
        if data.draw(st.booleans(), label=f"drop {name}"):
            meta.pop(name, None)
        else:
            meta[name] = data.draw(_json, label=name)
    if data.draw(st.booleans(), label="edit net_cfg") and isinstance(meta.get("net_cfg"), dict):
        meta["net_cfg"][data.draw(st.sampled_from(["width", "streams", "stages", "blocks", "norm", "act", "x"]))] = (
            data.draw(_json | st.integers(-3, 300), label="net_cfg value")
        )
    try:
        look = _load_with_metadata(folder, tensors, json.dumps(meta))
    except LookFormatError as exc:
        assert "\n" not in str(exc)
        return
    _use(look)


@FUZZ
@given(st.text(max_size=200) | _json.map(json.dumps))
def test_any_metadata_text_loads_or_raises_look_format_error(look_parts, text):
    folder, _, tensors = look_parts
    try:
        _use(_load_with_metadata(folder, tensors, text))
    except LookFormatError:
        pass


@FUZZ
@given(st.binary(max_size=300), st.integers(0, 2**64 - 1) | st.integers(0, 400))
def test_any_bytes_load_or_raise_look_format_error(look_parts, body, header_length):
    folder = look_parts[0]
    path = folder / "bytes.look.safetensors"
    path.write_bytes(struct.pack("<Q", header_length) + body)
    with pytest.raises(LookFormatError):
        load_look(path)


def test_every_look_field_has_a_checked_type():
    from hrstyle.look.meta import _FIELD_TYPES

    assert set(_FIELD_TYPES) == set(_FIELDS)
