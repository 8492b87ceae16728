"""Tests for hrstyle.frames: stills, tensors, frame ranges, shots and video.

Every test image is made here, in tmp_path, with numpy and OpenImageIO.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import av
import numpy as np
import OpenImageIO as oiio
import pytest
import torch
from helpers import oiio_write, palette_png, permissions_enforced

from hrstyle.errors import ImageReadError, InputError, OutputError, SequenceError, ShapeError
from hrstyle.io import atomic, stills, video
from hrstyle.io.sequence import FrameRef, format_frame_range, parse_frame_range
from hrstyle.io.shot import open_shot, output_path_for
from hrstyle.io.stills import FrameSpec, read_image, write_image
from hrstyle.io.tensors import to_pixels, to_tensor, write_preview
from hrstyle.io.video import VideoWriter

RNG = np.random.default_rng(1234)


def oiio_read(path: Path, fmt: str) -> tuple[np.ndarray, oiio.ImageSpec]:
    config = oiio.ImageSpec()
    config.attribute("oiio:UnassociatedAlpha", 1)
    inp = oiio.ImageInput.open(str(path), config)
    spec = inp.spec()
    data = inp.read_image(0, 0, 0, spec.nchannels, fmt)
    inp.close()
    return data, spec


def widen(codes: np.ndarray, bits: int) -> np.ndarray:
    """10/12-bit codes as OIIO holds them in 16 bits (bit replication)."""
    codes = codes.astype(np.uint16)
    return (codes << (16 - bits)) | (codes >> (2 * bits - 16))


def write_frames(folder: Path, name: str, numbers, size=(12, 8)) -> list[Path]:
    """A small 8-bit PNG per number; ``name`` is a format string like 'a.{:04d}.png'."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in numbers:
        data = np.full((size[1], size[0], 3), n % 256, np.uint8)
        paths.append(oiio_write(folder / name.format(n), data, "uint8"))
    return paths


def write_clip(path: Path, n: int = 5, size=(64, 48), fps: int = 24, codec: str = "libx264", **metadata) -> None:
    """A clip whose frame i is flat grey at level 40 * i."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.metadata.update(metadata)
        for i in range(n):
            grey = np.full((size[1], size[0], 3), 40 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(grey, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# --- stills: round trips ---------------------------------------------------------


@pytest.mark.parametrize(
    "ext, fmt, bit_depth, bits",
    [
        ("png", "uint8", "uint8", 8),
        ("png", "uint16", "uint16", 16),
        ("tif", "uint16", "uint16", 16),
        ("tif", "uint8", "uint8", 8),
        ("dpx", "uint16", "uint10", 10),
        ("dpx", "uint16", "uint12", 12),
    ],
)
def test_integer_round_trip_is_bit_exact(tmp_path, ext, fmt, bit_depth, bits):
    codes = RNG.integers(0, 2**bits, (24, 32, 3))
    stored = widen(codes, bits) if bits in (10, 12) else codes.astype(fmt)
    extra = {"oiio:BitsPerSample": bits} if bits in (10, 12) else {}
    src = oiio_write(tmp_path / f"in.{ext}", stored, fmt, **extra)

    image = read_image(src)
    assert image.pixels.dtype == np.float32 and image.pixels.shape == (24, 32, 3)
    np.testing.assert_array_equal(image.pixels, codes.astype(np.float32) / np.float32(2**bits - 1))
    assert image.spec.bit_depth == bit_depth and image.alpha is None

    dst = tmp_path / f"out.{ext}"
    write_image(dst, image.pixels, image.spec)
    data, spec = oiio_read(dst, fmt)
    np.testing.assert_array_equal(data, stored)
    if bits in (10, 12):
        assert spec.get_int_attribute("oiio:BitsPerSample") == bits
    np.testing.assert_array_equal(read_image(dst).pixels, image.pixels)


@pytest.mark.parametrize("fmt, dtype", [("half", np.float16), ("float", np.float32)])
def test_exr_round_trip_keeps_values_outside_0_1(tmp_path, fmt, dtype):
    values = (RNG.standard_normal((16, 20, 3)) * 4).astype(dtype)
    values[0, 0] = [-0.5, 1.5, 1000.0]
    src = oiio_write(tmp_path / "in.exr", values, fmt)

    image = read_image(src)
    assert image.spec.format == "openexr" and image.spec.bit_depth == fmt
    np.testing.assert_array_equal(image.pixels, values.astype(np.float32))

    write_image(tmp_path / "out.exr", image.pixels, image.spec)
    data, spec = oiio_read(tmp_path / "out.exr", fmt)
    assert str(spec.format) == fmt
    np.testing.assert_array_equal(data, values)


def test_jpeg_round_trip_within_tolerance(tmp_path):
    y, x = np.mgrid[0:32, 0:48]
    smooth = np.dstack([x * 5, y * 7, (x + y) * 3]).astype(np.uint8)
    image = read_image(oiio_write(tmp_path / "in.jpg", smooth, "uint8"))
    assert image.spec.format == "jpeg" and image.spec.bit_depth == "uint8"
    assert np.abs(image.pixels - smooth / 255).max() < 0.05

    write_image(tmp_path / "out.jpg", image.pixels, image.spec)
    again = read_image(tmp_path / "out.jpg").pixels
    assert np.abs(again - image.pixels).max() < 0.05


def test_metadata_is_carried_over_and_json_serialisable(tmp_path):
    src = oiio_write(
        tmp_path / "in.exr",
        np.zeros((4, 4, 3), np.float16),
        "half",
        **{
            "smpte:TimeCode": (oiio.TypeTimeCode, (0x01000001, 0)),
            "FramesPerSecond": (oiio.TypeRational, (24000, 1001)),
            "ImageDescription": "plate A001",
            "Software": "not carried",
        },
    )
    attributes = read_image(src).spec.attributes
    assert attributes["smpte:TimeCode"] == "01:00:00:01"
    assert attributes["FramesPerSecond"] == "24000/1001"
    assert attributes["ImageDescription"] == "plate A001"
    assert "Software" not in attributes
    json.dumps(attributes)

    image = read_image(src)
    write_image(tmp_path / "out.exr", image.pixels, image.spec)
    _, spec = oiio_read(tmp_path / "out.exr", "half")
    assert spec.getattribute("smpte:TimeCode") == (0x01000001, 0)
    assert spec.getattribute("FramesPerSecond") == (24000, 1001)
    assert read_image(tmp_path / "out.exr").spec.attributes == attributes


def test_write_rounds_and_clips_integer_formats(tmp_path):
    spec = FrameSpec("png", "uint8", 3, 1, False)
    pixels = np.array([[[10.6 / 255, 10.4 / 255, -0.2], [1.7, 0.5, np.nan], [0, 1, 254.5 / 255]]], np.float32)
    write_image(tmp_path / "q.png", pixels, spec)
    data, _ = oiio_read(tmp_path / "q.png", "uint8")
    np.testing.assert_array_equal(data[0], [[11, 10, 0], [255, 128, 0], [0, 255, 254]])


def test_write_picks_a_depth_the_format_can_hold(tmp_path):
    half_spec = FrameSpec("openexr", "half", 4, 4, False)
    write_image(tmp_path / "from_exr.png", np.full((4, 4, 3), 0.3, np.float32), half_spec)
    assert oiio_read(tmp_path / "from_exr.png", "uint16")[1].format == oiio.TypeUInt16

    png_spec = FrameSpec("png", "uint8", 4, 4, False)
    write_image(tmp_path / "from_png.exr", np.full((4, 4, 3), 0.3, np.float32), png_spec)
    assert oiio_read(tmp_path / "from_png.exr", "half")[1].format == oiio.TypeHalf


def test_unknown_bit_depth_is_rejected():
    with pytest.raises(InputError, match="uint32"):
        FrameSpec("png", "uint32", 4, 4, False)


def test_nan_and_inf_in_float_images_become_finite(tmp_path):
    values = np.array([[[np.nan, np.inf, -np.inf], [0.25, -2.0, 3.0]]], np.float32)
    image = read_image(oiio_write(tmp_path / "bad.exr", values, "float"))
    np.testing.assert_array_equal(image.pixels, [[[0, 65504, -65504], [0.25, -2, 3]]])


# --- stills: channel layouts --------------------------------------------------------


def test_grey_is_replicated_to_rgb(tmp_path):
    grey = RNG.integers(0, 256, (8, 10, 1), dtype=np.uint8)
    image = read_image(oiio_write(tmp_path / "grey.png", grey, "uint8"))
    assert image.pixels.shape == (8, 10, 3) and image.alpha is None
    for c in range(3):
        np.testing.assert_array_equal(image.pixels[..., c], grey[..., 0] / np.float32(255))


def test_grey_alpha(tmp_path):
    data = RNG.integers(0, 256, (8, 10, 2), dtype=np.uint8)
    image = read_image(oiio_write(tmp_path / "ya.png", data, "uint8", **{"oiio:UnassociatedAlpha": 1}))
    assert image.spec.has_alpha
    np.testing.assert_array_equal(image.pixels[..., 2], data[..., 0] / np.float32(255))
    np.testing.assert_array_equal(image.alpha, data[..., 1] / np.float32(255))


def test_rgba_keeps_straight_alpha_separately_and_round_trips(tmp_path):
    rgba = RNG.integers(0, 256, (8, 10, 4), dtype=np.uint8)
    rgba[0, :, 3] = 0  # colour under zero alpha must survive: no premultiplication
    src = tmp_path / "rgba.png"
    oiio_write(src, rgba, "uint8", **{"oiio:UnassociatedAlpha": 1})

    image = read_image(src)
    assert image.spec.has_alpha and image.alpha.shape == (8, 10) and image.alpha.dtype == np.float32
    np.testing.assert_array_equal(image.pixels, rgba[..., :3] / np.float32(255))
    np.testing.assert_array_equal(image.alpha, rgba[..., 3] / np.float32(255))

    write_image(tmp_path / "out.png", image.pixels, image.spec, alpha=image.alpha)
    np.testing.assert_array_equal(oiio_read(tmp_path / "out.png", "uint8")[0], rgba)
    write_image(tmp_path / "no_alpha.png", image.pixels, image.spec)
    assert oiio_read(tmp_path / "no_alpha.png", "uint8")[1].nchannels == 3


def test_palette_png_reads_as_rgb(tmp_path):
    palette = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]])
    index = RNG.integers(0, 4, (6, 9))
    image = read_image(palette_png(tmp_path / "pal.png", index, palette))
    np.testing.assert_array_equal(image.pixels, palette[index].astype(np.float32) / np.float32(255))


def test_cmyk_tiff_reads_as_rgb(tmp_path):
    rgb = RNG.integers(0, 256, (6, 9, 3), dtype=np.uint8)
    src = oiio_write(tmp_path / "cmyk.tif", rgb, "uint8", **{"tiff:ColorSpace": "CMYK"})
    assert oiio_read(src, "uint8")[1].get_int_attribute("tiff:PhotometricInterpretation") == 5
    image = read_image(src)
    assert image.pixels.shape == (6, 9, 3) and image.alpha is None
    assert np.abs(image.pixels - rgb / 255).max() <= 1 / 255


# --- stills: bad files ----------------------------------------------------------------


def _truncated(tmp_path: Path, ext: str, fmt: str) -> Path:
    data = RNG.random((48, 48, 3)).astype(np.float32)
    full = oiio_write(tmp_path / f"full.{ext}", data, fmt)
    cut = tmp_path / f"a.0003.{ext}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    return cut


def _written(name: str, content: bytes):
    def make(folder: Path) -> Path:
        (folder / name).write_bytes(content)
        return folder / name

    return make


def _folder(folder: Path) -> Path:
    (folder / "folder.png").mkdir()
    return folder / "folder.png"


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda d: d / "missing.png", "no such file"),
        (_written("empty.png", b""), "empty file"),
        (_written("text.png", b"not an image\n"), "not a readable image"),
        (_folder, "is a folder"),
        (lambda d: _truncated(d, "png", "uint8"), "truncated or corrupt"),
        (lambda d: _truncated(d, "jpg", "uint8"), "truncated or corrupt"),
        (lambda d: _truncated(d, "exr", "half"), "truncated or corrupt"),
        (lambda d: _truncated(d, "dpx", "uint16"), "truncated or corrupt"),
    ],
    ids=["missing", "zero-byte", "text", "directory", "png", "jpeg", "exr", "dpx"],
)
def test_bad_files_raise_one_line_image_read_error(tmp_path, make, reason):
    path = make(tmp_path)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    message = str(info.value)
    assert message.startswith(str(path)) and reason in message
    assert "\n" not in message


def test_unreadable_file_message(tmp_path, monkeypatch):
    path = oiio_write(tmp_path / "locked.png", np.zeros((2, 2, 3), np.uint8), "uint8")

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(stills, "open", denied, raising=False)
    with pytest.raises(ImageReadError, match="locked.png: cannot open \\(Permission denied\\)"):
        read_image(path)


@pytest.mark.skipif(os.name != "posix", reason="chmod")
def test_unreadable_file(tmp_path):
    path = oiio_write(tmp_path / "locked.png", np.zeros((2, 2, 3), np.uint8), "uint8")
    path.chmod(0)
    with permissions_enforced(), pytest.raises(ImageReadError, match="locked.png: cannot open"):
        read_image(path)


# --- writing: atomicity and failures ---------------------------------------------------

SPEC8 = FrameSpec("png", "uint8", 4, 4, False)
GREY = np.full((4, 4, 3), 0.5, np.float32)


def test_write_leaves_no_temporary_files_and_replaces(tmp_path):
    target = tmp_path / "a.0001.png"
    target.write_bytes(b"old")
    write_image(target, GREY, SPEC8)
    assert os.listdir(tmp_path) == ["a.0001.png"]
    assert read_image(target).pixels.shape == (4, 4, 3)


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def disk_full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(stills.os, "replace", disk_full)
    with pytest.raises(OutputError, match="a.png: disk full"):
        write_image(tmp_path / "a.png", GREY, SPEC8)
    assert os.listdir(tmp_path) == []


def test_failed_rename_leaves_no_temporary_file(tmp_path):
    (tmp_path / "a.png").mkdir()  # os.replace cannot put a file over a folder
    with pytest.raises(OutputError, match="a.png: cannot write"):
        write_image(tmp_path / "a.png", GREY, SPEC8)
    assert os.listdir(tmp_path) == ["a.png"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_write_into_unwritable_folder(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="locked: output folder is not writable"):
            write_image(folder / "a.png", GREY, SPEC8)
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o700)


def test_a_disk_without_room_for_the_frame_is_refused_before_writing(tmp_path, monkeypatch):
    # OIIO's PNG writer reports success on a full disk and leaves a short file, and
    # libjpeg exits the process: so write_image checks for room first.
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda folder: shutil._ntuple_diskusage(10**9, 10**9, 1000))
    with pytest.raises(OutputError, match="a.jpg: disk full"):
        write_image(tmp_path / "a.jpg", GREY, SPEC8)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("ext, fmt", [("png", "png"), ("jpg", "jpeg"), ("exr", "openexr")])
def test_a_png_or_jpeg_cut_short_is_not_complete(tmp_path, ext, fmt):
    path = tmp_path / f"a.{ext}"
    write_image(path, GREY, SPEC8)
    assert stills._ends_complete(path, fmt)
    path.write_bytes(path.read_bytes()[:-3])
    assert stills._ends_complete(path, fmt) == (fmt == "openexr")  # EXR's writer reports its own failures


def test_write_into_missing_folder_or_unknown_format(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        write_image(tmp_path / "nope" / "a.png", GREY, SPEC8)
    with pytest.raises(OutputError, match="not an image format"):
        write_image(tmp_path / "a.xyz", GREY, SPEC8)
    assert os.listdir(tmp_path) == []


def test_write_preview(tmp_path):
    t = torch.rand(1, 3, 6, 10) * 1.2 - 0.1  # network output: not clamped
    write_preview(tmp_path / "preview.png", t)
    data, spec = oiio_read(tmp_path / "preview.png", "uint8")
    assert spec.format == oiio.TypeUInt8 and data.shape == (6, 10, 3)
    expected = np.rint(np.clip(t[0].permute(1, 2, 0).numpy(), 0, 1) * 255)
    np.testing.assert_array_equal(data, expected)


@pytest.mark.parametrize(
    "pixels, alpha",
    [
        (np.zeros((4, 4), np.float32), None),
        (np.zeros((4, 4, 4), np.float32), None),
        (np.zeros((4, 4, 3), np.uint8), None),
        (GREY, np.zeros((4, 5), np.float32)),
    ],
)
def test_write_checks_shapes(tmp_path, pixels, alpha):
    with pytest.raises(ShapeError):
        write_image(tmp_path / "a.png", pixels, SPEC8, alpha=alpha)


# --- tensors ------------------------------------------------------------------------


def test_tensor_round_trip():
    pixels = RNG.random((5, 7, 3)).astype(np.float32)
    t = to_tensor(pixels)
    assert t.shape == (1, 3, 5, 7) and t.dtype == torch.float32 and t.is_contiguous()
    assert torch.equal(t[0, 1], torch.from_numpy(pixels[..., 1]))
    back = to_pixels(t * 2)
    assert back.dtype == np.float32 and back.shape == (5, 7, 3)
    np.testing.assert_array_equal(back, pixels * 2)  # no clipping
    np.testing.assert_array_equal(to_pixels(t[0].to(torch.float64)), pixels)
    assert to_pixels(t.to(torch.bfloat16)).dtype == np.float32


@pytest.mark.parametrize(
    "bad",
    [np.zeros((5, 7), np.float32), np.zeros((5, 7, 4), np.float32), np.zeros((5, 7, 3), np.uint8)],
)
def test_to_tensor_checks_input(bad):
    with pytest.raises(ShapeError):
        to_tensor(bad)


@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (1, 4, 4, 4), (4, 4)])
def test_to_pixels_checks_input(shape):
    with pytest.raises(ShapeError):
        to_pixels(torch.zeros(shape))


# --- frame ranges ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1001-1005", [1001, 1002, 1003, 1004, 1005]),
        ("1001-1009x2", [1001, 1003, 1005, 1007, 1009]),
        ("1001-1006x2", [1001, 1003, 1005]),
        ("1-6y3", [2, 3, 5, 6]),  # complement of 1-6x3 = 1, 4
        ("1-6x-2", [2, 4, 6]),  # a negative step counts down from the end
        ("5-1", [1, 2, 3, 4, 5]),
        ("1,5,9", [1, 5, 9]),
        ("1001-1003,1020", [1001, 1002, 1003, 1020]),
        ("9, 3-4 ,3", [3, 4, 9]),
        ("7", [7]),
        ("0-2x0", [0, 1, 2]),  # oiiotool reads step 0 as 1
    ],
)
def test_parse_frame_range(text, expected):
    assert parse_frame_range(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a",
        "1-",
        "1--5",
        "1,,2",
        "1-5x",
        "1-5z2",
        "1.5",
        "-3",
        "1-2000000",
        "1-3y1",  # the complement of every frame: nothing
        "1-600000,600001-1200000",
    ],  # over a million in all, refused before it is enumerated
)
def test_malformed_frame_range(text):
    with pytest.raises(SequenceError) as info:
        parse_frame_range(text)
    assert repr(text) in str(info.value)


def test_a_pattern_padded_past_twenty_digits_is_refused(tmp_path):
    (tmp_path / "a.0001.png").write_bytes(b"")
    for pattern in ("a.%0999999999d.png", "a." + "#" * 21 + ".png"):
        with pytest.raises(SequenceError, match="frame numbers have at most 20"):
            open_shot(tmp_path / pattern)


def test_format_frame_range():
    assert format_frame_range([5, 1, 2, 3, 9, 10]) == "1-3,5,9-10"
    assert parse_frame_range(format_frame_range([1, 2, 3, 7])) == [1, 2, 3, 7]
    assert format_frame_range([]) == ""


# --- shots: patterns and folders ---------------------------------------------------


@pytest.mark.parametrize("pattern", ["a.%04d.png", "a.#.png", "a.####.png", "a.@@@@.png", "a.#@@@@.png"])
def test_patterns(tmp_path, pattern):
    padding = 8 if pattern.startswith("a.#@") else 4
    write_frames(tmp_path, f"a.{{:0{padding}d}}.png", [1001, 1002, 1003])
    write_frames(tmp_path, "a.{:d}.png", [7])  # unpadded: not part of the padded sequence
    shot = open_shot(tmp_path / pattern)
    assert [ref.number for ref in shot.frames] == [1001, 1002, 1003]
    assert shot.pattern == str(tmp_path / f"a.%0{padding}d.png")
    assert not shot.is_video and shot.fps is None and len(shot) == 3


def test_unpadded_pattern_sorts_naturally(tmp_path):
    write_frames(tmp_path, "a.{:d}.png", [8, 9, 10, 11])
    shot = open_shot(tmp_path / "a.%d.png")
    assert [ref.path.name for ref in shot.frames] == ["a.8.png", "a.9.png", "a.10.png", "a.11.png"]


def test_wrong_digit_count_says_what_it_looked_for(tmp_path):
    write_frames(tmp_path, "a.{:04d}.png", [1, 2])
    with pytest.raises(SequenceError, match=r"no files match \(.*a\.%06d\.png\)"):
        open_shot(tmp_path / "a.######.png")


def test_pattern_with_embedded_range(tmp_path):
    write_frames(tmp_path, "a.{:04d}.png", range(1, 6))
    assert [r.number for r in open_shot(tmp_path / "a.2-4#.png").frames] == [2, 3, 4]
    with pytest.raises(SequenceError, match="keep one"):
        open_shot(tmp_path / "a.2-4#.png", frames="2")


def test_pattern_matching_nothing(tmp_path):
    with pytest.raises(SequenceError, match="no files match"):
        open_shot(tmp_path / "b.%04d.exr")
    with pytest.raises(SequenceError, match="does not exist"):
        open_shot(tmp_path / "nope" / "b.%04d.exr")
    with pytest.raises(SequenceError, match="no such file or folder"):
        open_shot(tmp_path / "plain.exr")


def test_folder_with_one_sequence(tmp_path):
    write_frames(tmp_path, "shot_{:d}.png", [10, 9, 1, 100])
    (tmp_path / ".shot_5.png").write_bytes(b"hidden, ignored")
    (tmp_path / "notes.txt").write_text("ignored")
    write_frames(tmp_path, "reference.png", [0])  # no frame number: ignored
    shot = open_shot(tmp_path)
    assert [ref.number for ref in shot.frames] == [1, 9, 10, 100]
    assert shot.pattern == str(tmp_path / "shot_%d.png")


def test_folder_with_two_interleaved_sequences(tmp_path):
    write_frames(tmp_path, "a.{:04d}.png", [1, 3, 5])
    write_frames(tmp_path, "b.{:04d}.png", [2, 4])
    with pytest.raises(SequenceError) as info:
        open_shot(tmp_path)
    message = str(info.value)
    assert "2 frame sequences" in message and "a.%04d.png (3 frames)" in message
    assert "b.%04d.png (2 frames)" in message and "pattern" in message


def test_folder_with_mixed_padding_is_two_sequences(tmp_path):
    write_frames(tmp_path, "a.{:04d}.png", [1, 2])
    write_frames(tmp_path, "a.{:d}.png", [3])
    with pytest.raises(SequenceError, match="2 frame sequences"):
        open_shot(tmp_path)


def test_empty_folder(tmp_path):
    (tmp_path / ".DS_Store").write_bytes(b"")
    with pytest.raises(SequenceError, match="no numbered image frames"):
        open_shot(tmp_path)


def test_single_still_is_a_shot_of_one(tmp_path):
    (path,) = write_frames(tmp_path, "key.{:04d}.png", [1042])
    shot = open_shot(path)
    assert [(ref.number, ref.path) for ref in shot.frames] == [(1042, path)]
    assert [ref.number for ref, _ in shot] == [1042]


def test_frames_filter(tmp_path):
    write_frames(tmp_path, "a.{:04d}.png", range(1001, 1011))
    assert [r.number for r in open_shot(tmp_path, "1001-1010x3").frames] == [1001, 1004, 1007, 1010]
    assert [r.number for r in open_shot(tmp_path, "1009,1002-1003").frames] == [1002, 1003, 1009]
    with pytest.raises(SequenceError, match="1011-1012 .* not in the shot \\(it has 1001-1010\\)"):
        open_shot(tmp_path, "1009-1012")
    with pytest.raises(SequenceError, match="cannot read"):
        open_shot(tmp_path, "1001-")


def test_gaps(tmp_path):
    write_frames(tmp_path, "a.{:04d}.png", [1, 2, 5, 6, 9])
    assert open_shot(tmp_path).gaps == [3, 4, 7, 8]
    assert open_shot(tmp_path, "1-2,5").gaps == [3, 4]
    assert open_shot(tmp_path, "5-6").gaps == []


def test_iterating_streams_frames_in_order(tmp_path):
    write_frames(tmp_path, "a.{:04d}.png", [3, 1, 2])
    shot = open_shot(tmp_path)
    seen = [(ref.number, float(image.pixels[0, 0, 0])) for ref, image in shot]
    assert seen == [(1, np.float32(1 / 255)), (2, np.float32(2 / 255)), (3, np.float32(3 / 255))]


def test_mixed_sizes_raise_at_the_offending_frame(tmp_path):
    write_frames(tmp_path, "a.{:04d}.png", [1, 2], size=(12, 8))
    write_frames(tmp_path, "a.{:04d}.png", [3], size=(16, 8))
    write_frames(tmp_path, "a.{:04d}.png", [4], size=(12, 8))
    shot = open_shot(tmp_path)
    seen = []
    with pytest.raises(ShapeError, match="a.0003.png: frame 3 is 16x8 but frame 1 is 12x8"):
        for ref, _ in shot:
            seen.append(ref.number)
    assert seen == [1, 2]
    assert shot.read(shot.frames[2]).pixels.shape == (8, 16, 3)


def test_bad_frame_stops_iteration_unless_skipped(tmp_path):
    write_frames(tmp_path, "a.{:04d}.png", [1, 2, 3])
    (tmp_path / "a.0002.png").write_text("junk")
    shot = open_shot(tmp_path)
    with pytest.raises(ImageReadError, match="a.0002.png: .*--skip-bad-frames"):
        list(shot)
    skipped = []
    kept = [ref.number for ref, _ in shot.iter(skip_bad_frames=True, on_skip=lambda r, e: skipped.append(r.number))]
    assert kept == [1, 3] and skipped == [2]


def test_output_path_for_sequences(tmp_path):
    (path,) = write_frames(tmp_path / "in", "a.{:04d}.exr", [7])
    shot = open_shot(path)
    ref = shot.frames[0]
    assert output_path_for(ref, shot, tmp_path / "out") == tmp_path / "out" / "a.0007.exr"
    assert output_path_for(ref, shot, tmp_path / "out", "png") == tmp_path / "out" / "a.0007.png"
    assert output_path_for(ref, shot, tmp_path / "out", ".tif") == tmp_path / "out" / "a.0007.tif"
    with pytest.raises(OutputError, match="overwrite the input"):
        output_path_for(ref, shot, tmp_path / "in")
    assert output_path_for(ref, shot, tmp_path / "in", "png") == tmp_path / "in" / "a.0007.png"


# --- video ----------------------------------------------------------------------------


def test_video_shot(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_clip(clip)
    shot = open_shot(clip)
    assert shot.is_video and shot.fps == 24 and len(shot) == 5 and shot.gaps == []
    assert [ref.number for ref in shot.frames] == [0, 1, 2, 3, 4]

    images = [image for _, image in shot]
    assert len(images) == 5
    levels = [float(image.pixels.mean()) for image in images]
    np.testing.assert_allclose(levels, [40 * i / 255 for i in range(5)], atol=0.03)  # lossy codec
    image = images[0]
    assert image.pixels.dtype == np.float32 and image.pixels.shape == (48, 64, 3)
    assert image.spec.attributes["FramesPerSecond"] == "24/1"
    assert image.spec.bit_depth == "uint8" and image.alpha is None

    # Random access seeks; it must land on the same frame as streaming.
    for k in (3, 0, 4):
        np.testing.assert_array_equal(shot.read(shot.frames[k]).pixels, images[k].pixels)

    sub = open_shot(clip, "1-4x2")
    assert [ref.number for ref, _ in sub] == [1, 3]
    assert output_path_for(shot.frames[3], shot, tmp_path / "out") == tmp_path / "out" / "clip.0003.png"
    assert output_path_for(shot.frames[3], shot, tmp_path / "out", "exr").name == "clip.0003.exr"


@pytest.mark.parametrize("ext, codec, pix_fmt", [("mp4", "libx264", "yuv420p"), ("mov", "prores_ks", "yuv422p10le")])
def test_a_range_of_a_long_clip_seeks_instead_of_decoding_from_the_start(tmp_path, monkeypatch, ext, codec, pix_fmt):
    # A farm chunk late in a clip: the same frames as streaming the whole clip, without decoding all before it.
    clip, n = tmp_path / f"long.{ext}", 40
    texture = np.random.default_rng(0).integers(0, 256, (48, 96, 3), np.uint8)
    with av.open(str(clip), "w") as container:
        stream = container.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt, stream.gop_size = 64, 48, pix_fmt, 8
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(texture[:, i // 2 : i // 2 + 64]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    whole = {ref.number: image.pixels for ref, image in open_shot(clip)}
    assert len(whole) == n

    decoded = []
    frames_from = video._frames_from
    monkeypatch.setattr(video, "_frames_from", lambda *a: (decoded.append(i) or (i, f) for i, f in frames_from(*a)))
    chunk = open_shot(clip, "29-33")
    got = {ref.number: image.pixels for ref, image in chunk}
    assert sorted(got) == [29, 30, 31, 32, 33]
    for k, pixels in got.items():
        np.testing.assert_array_equal(pixels, whole[k])
    assert decoded[0] > 0 and len(decoded) <= 5 + 8  # from the keyframe before frame 29, not from frame 0


def test_video_timecode_advances_per_frame(tmp_path):
    clip = tmp_path / "clip.mov"
    write_clip(clip, n=3, fps=25, timecode="10:00:00:23")
    codes = [image.spec.attributes["smpte:TimeCode"] for _, image in open_shot(clip)]
    assert codes == ["10:00:00:23", "10:00:00:24", "10:00:01:00"]


def test_a_video_without_frames_is_refused(tmp_path):
    clip = tmp_path / "empty.avi"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("mjpeg", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        container.start_encoding()
    with pytest.raises(ImageReadError, match="empty.avi: has no frames"):
        open_shot(clip)


def test_a_frame_over_the_pixel_limit_is_refused_from_its_header(tmp_path, monkeypatch):
    path = oiio_write(tmp_path / "big.png", np.zeros((40, 50, 3), np.uint8), "uint8")
    monkeypatch.setattr(stills, "MAX_FRAME_PIXELS", 40 * 50 - 1)
    with pytest.raises(ImageReadError, match="big.png: 50x40 is 0 megapixels, over the 0 hrstyle reads"):
        read_image(path)


def test_video_frames_out_of_range_and_bad_video(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_clip(clip, n=3)
    with pytest.raises(SequenceError, match="frames 3-5 .* not in the shot \\(it has 0-2\\)"):
        open_shot(clip, "0-5")
    (tmp_path / "junk.mov").write_text("not a video")
    with pytest.raises(ImageReadError, match="junk.mov: not a readable video"):
        open_shot(tmp_path / "junk.mov")


# A luma code of 8-bit limited range is 1/219: 0.012 allows about two codes of
# encoder rounding, while a range or BT.601/709 mix-up is off by 0.04 or more
# on the orange frame.
@pytest.mark.parametrize("ext, bit_depth, tolerance", [("mov", "uint16", 0.003), ("mp4", "uint8", 0.012)])
def test_video_writer_round_trip(tmp_path, ext, bit_depth, tolerance):
    colours = [(0.0, 0.0, 0.0), (0.5, 0.5, 0.5), (1.0, 1.0, 1.0), (0.8, 0.4, 0.2), (0.1, 0.3, 0.7)]
    frames = [np.broadcast_to(np.float32(c), (48, 64, 3)).copy() for c in colours]
    with VideoWriter(tmp_path / f"out.{ext}", fps="24000/1001", timecode="01:00:00:00") as video:
        for frame in frames:
            video.write(frame)
    assert os.listdir(tmp_path) == [f"out.{ext}"]

    shot = open_shot(tmp_path / f"out.{ext}")
    assert len(shot) == 5 and shot.fps == pytest.approx(24000 / 1001)
    for (_, image), frame in zip(shot, frames, strict=True):
        assert image.spec.bit_depth == bit_depth
        assert np.abs(image.pixels - frame).max() < tolerance
    assert image.spec.attributes == {
        "FramesPerSecond": "24000/1001",
        "smpte:TimeCode": "01:00:00:04",
    }


def test_video_writer_failures(tmp_path):
    with pytest.raises(RuntimeError), VideoWriter(tmp_path / "out.mov", fps=24) as video:
        video.write(GREY)
        raise RuntimeError("render failed")
    assert os.listdir(tmp_path) == []

    with VideoWriter(tmp_path / "out.mp4", fps=24) as video:
        video.write(np.zeros((8, 8, 3), np.float32))
        with pytest.raises(ShapeError, match="8x4 but the video is 8x8"):
            video.write(np.zeros((4, 8, 3), np.float32))
    with pytest.raises(ShapeError, match="even size"):
        VideoWriter(tmp_path / "odd.mp4", fps=24).write(np.zeros((5, 8, 3), np.float32))
    with pytest.raises(OutputError, match=".mov \\(ProRes 422 HQ\\) or .mp4"):
        VideoWriter(tmp_path / "out.avi", fps=24)
    with pytest.raises(OutputError, match="no frames were written"):
        VideoWriter(tmp_path / "empty.mov", fps=24).close()
    for fps in ("fast", 0, "24/0"):
        with pytest.raises(InputError, match="frame rate"):
            VideoWriter(tmp_path / "out.mov", fps=fps)
    assert sorted(os.listdir(tmp_path)) == ["out.mp4"]


def test_frame_ref_is_a_value():
    assert FrameRef(1, Path("a.png")) == FrameRef(1, Path("a.png"))
