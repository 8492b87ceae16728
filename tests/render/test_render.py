"""hrstyle.render: whole shots through `render_shot`: formats, ranges, resume, refusals, interrupts, memory."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest
from helpers import make_look, manifest, sample_pixels, visible_files, write_sequence

from hrstyle.errors import ImageReadError, OutputError, ShapeError
from hrstyle.grade.config import RenderCfg
from hrstyle.io.shot import open_shot
from hrstyle.io.stills import FrameSpec, read_image, write_image
from hrstyle.io.video import VideoWriter
from hrstyle.render import run as render
from hrstyle.render.config import OutputCfg
from hrstyle.render.manifest import MANIFEST_NAME
from hrstyle.render.output import default_output_dir
from hrstyle.render.pipeline import deferred_interrupt
from hrstyle.render.run import render_shot


def test_default_output_dir(tmp_path):
    (tmp_path / "plates").mkdir()
    look = Path("looks/teal.look.safetensors")
    assert default_output_dir(tmp_path / "plates", look) == tmp_path / "plates_teal"
    assert default_output_dir(tmp_path / "plates" / "shot.%04d.exr", look) == tmp_path / "plates" / "shot_teal"
    assert default_output_dir(tmp_path / "plates" / "%04d.exr", look) == tmp_path / "plates" / "plates_teal"
    assert default_output_dir(tmp_path / "clip.mov", Path("warm.safetensors")) == tmp_path / "clip_warm"


@pytest.mark.parametrize(
    "ext, depth, attributes, with_alpha",
    [
        ("png", "uint8", {}, True),
        ("png", "uint16", {}, False),
        (
            "exr",
            "half",
            {"FramesPerSecond": "24000/1001", "smpte:TimeCode": "01:00:00:12", "compression": "piz"},
            False,
        ),
        ("dpx", "uint10", {"FramesPerSecond": "25/1", "smpte:TimeCode": "10:00:00:00"}, False),
    ],
)
def test_identity_round_trip_keeps_pixels_format_depth_and_metadata(tmp_path, ext, depth, attributes, with_alpha):
    pixels = sample_pixels()
    if ext == "exr":
        pixels = pixels * 2.5  # scene-linear values above 1 pass untouched
    h, w = pixels.shape[:2]
    alpha = np.linspace(0, 1, h * w, dtype=np.float32).reshape(h, w) if with_alpha else None
    source = tmp_path / "in" / f"plate.1001.{ext}"
    source.parent.mkdir()
    write_image(source, pixels, FrameSpec(ext, depth, w, h, with_alpha, attributes), alpha)

    report = render_shot(open_shot(source.parent), make_look(grade=0), tmp_path / "out")
    assert report.outputs == [tmp_path / "out" / source.name] and report.frames_written == 1

    before, after = read_image(source), read_image(tmp_path / "out" / source.name)
    np.testing.assert_array_equal(after.pixels, before.pixels)
    assert after.spec == before.spec
    if with_alpha:
        np.testing.assert_array_equal(after.alpha, before.alpha)


def test_ext_and_bit_depth_override_the_input(tmp_path):
    write_sequence(tmp_path / "in", "a.{:04d}.png", [1, 2])
    render_shot(open_shot(tmp_path / "in"), make_look(grade=0), tmp_path / "exr", output=OutputCfg(ext="exr"))
    render_shot(
        open_shot(tmp_path / "in"), make_look(grade=0), tmp_path / "png16", output=OutputCfg(bit_depth="uint16")
    )
    assert read_image(tmp_path / "exr" / "a.0002.exr").spec.bit_depth == "half"
    deep = read_image(tmp_path / "png16" / "a.0002.png")
    assert deep.spec.bit_depth == "uint16"
    np.testing.assert_allclose(deep.pixels, read_image(tmp_path / "in" / "a.0002.png").pixels, atol=1e-6)


@pytest.mark.parametrize("pattern", ["a.%04d.png", "a.####.png", "a.#.png"])
def test_patterns_and_frame_ranges_keep_frame_numbers(tmp_path, pattern):
    write_sequence(tmp_path / "in", "a.{:04d}.png", range(1001, 1008))
    shot = open_shot(tmp_path / "in" / pattern, "1002-1004x2,1007")
    report = render_shot(shot, make_look(), tmp_path / "out")
    names = ["a.1002.png", "a.1004.png", "a.1007.png"]
    assert [p.name for p in report.outputs] == names
    assert sorted(visible_files(tmp_path / "out")) == [*names, MANIFEST_NAME]
    assert sorted(manifest(tmp_path / "out")["frames"]) == ["1002", "1004", "1007"]


def test_video_in_and_out_keeps_frame_count_and_rate(tmp_path):
    clip = tmp_path / "clip.mov"
    with VideoWriter(clip, fps="24000/1001", timecode="01:00:00:00") as video:
        for n in range(4):
            video.write(sample_pixels(1001 + n, step=8)[:64, :96])
    look = make_look(grade=0)
    report = render_shot(open_shot(clip), look, tmp_path / "out")
    assert report.outputs == [tmp_path / "out" / "clip.mov"] and report.frames_written == 4

    graded = open_shot(tmp_path / "out" / "clip.mov")
    assert len(graded) == 4 and Fraction(graded.fps).limit_denominator(1001) == Fraction(24000, 1001)
    for (_, a), (_, b) in zip(open_shot(clip), graded, strict=True):
        assert np.abs(a.pixels - b.pixels).mean() < 0.01  # one more ProRes generation
        assert b.spec.attributes["smpte:TimeCode"] == a.spec.attributes["smpte:TimeCode"]

    again = render_shot(open_shot(clip), look, tmp_path / "out")
    assert again.skipped == 4 and again.frames_written == 0
    # A video cannot be resumed frame by frame: anything missing renders it whole.
    (tmp_path / "out" / "clip.mov").unlink()
    assert render_shot(open_shot(clip), look, tmp_path / "out").frames_written == 4

    frames = render_shot(open_shot(clip, "1-3"), look, tmp_path / "seq", output=OutputCfg(ext="png"))
    assert [p.name for p in frames.outputs] == ["clip.0001.png", "clip.0002.png", "clip.0003.png"]


def test_refuses_to_write_into_the_input(tmp_path):
    paths = write_sequence(tmp_path / "in", "a.{:04d}.png", [1, 2])
    look = make_look()
    with pytest.raises(OutputError, match="shot's own folder"):
        render_shot(open_shot(tmp_path / "in"), look, tmp_path / "in")
    with pytest.raises(OutputError, match="shot's own folder"):
        render_shot(open_shot(paths[0]), look, tmp_path / "in" / ".." / "in")
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["a.0001.png", "a.0002.png"]


def test_refuses_to_mix_looks_options_or_foreign_files(tmp_path):
    write_sequence(tmp_path / "in", "a.{:04d}.png", [1, 2])
    shot, out = open_shot(tmp_path / "in"), tmp_path / "out"
    render_shot(shot, make_look(), out)
    with pytest.raises(OutputError, match="another look.*--force"):
        render_shot(shot, make_look(seed=1), out)
    with pytest.raises(OutputError, match=r"other options \(eps 0.001 -> 0.01\)"):
        render_shot(shot, make_look(), out, RenderCfg(eps=0.01))
    assert render_shot(shot, make_look(seed=1), out, output=OutputCfg(force=True)).frames_written == 2

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.0002.png").write_bytes(b"someone else's")
    with pytest.raises(OutputError, match="not from an hrstyle render.*a.0002.png"):
        render_shot(shot, make_look(), tmp_path / "other")
    (out / MANIFEST_NAME).write_text("{broken")
    with pytest.raises(OutputError, match="not a readable hrstyle manifest"):
        render_shot(shot, make_look(), out)


def test_dry_run_lists_outputs_and_writes_nothing(tmp_path):
    write_sequence(tmp_path / "in", "a.{:04d}.png", [1, 2, 3])
    report = render_shot(open_shot(tmp_path / "in"), make_look(), tmp_path / "out", output=OutputCfg(dry_run=True))
    assert report.dry_run and [p.name for p in report.outputs] == ["a.0001.png", "a.0002.png", "a.0003.png"]
    assert not (tmp_path / "out").exists()


def test_resume_renders_only_what_is_missing_or_changed(tmp_path):
    write_sequence(tmp_path / "in", "a.{:04d}.png", [1, 2, 3, 4])
    shot, look, out = open_shot(tmp_path / "in"), make_look(), tmp_path / "out"
    render_shot(shot, look, out)
    clean = visible_files(out)

    (out / "a.0002.png").unlink()
    (out / "a.0003.png").write_bytes(b"damaged")
    os.utime(tmp_path / "in" / "a.0004.png")  # a re-exported plate
    report = render_shot(shot, look, out)
    assert [p.name for p in report.outputs] == ["a.0002.png", "a.0003.png", "a.0004.png"] and report.skipped == 1
    after = visible_files(out)
    assert {k: v for k, v in after.items() if k != MANIFEST_NAME} == {
        k: v for k, v in clean.items() if k != MANIFEST_NAME
    }
    for number, entry in manifest(out)["frames"].items():
        data = (out / entry["output"]).read_bytes()
        assert entry["status"] == "done" and entry["sha256"] == hashlib.sha256(data).hexdigest(), number

    # A copied folder keeps the bytes but not the times: the hash still vouches for them.
    for path in out.glob("*.png"):
        os.utime(path, ns=(1, 1))
    assert render_shot(shot, look, out).skipped == 4


def test_renders_of_two_ranges_into_one_folder_at_once_keep_each_others_frames(tmp_path):
    # Farm chunks: while frames 1-3 render, with their manifest open, frames 4-6 render and save theirs.
    write_sequence(tmp_path / "in", "a.{:04d}.png", range(1, 7), step=15)
    look, out = make_look(), tmp_path / "out"
    meanwhile: list[render.RenderReport] = []

    def render_the_other_range(progress: render.RenderProgress) -> None:
        if progress.done == 1 and not meanwhile:
            meanwhile.append(render_shot(open_shot(tmp_path / "in", "4-6"), look, out))

    render_shot(open_shot(tmp_path / "in", "1-3"), look, out, on_progress=render_the_other_range)
    assert meanwhile[0].frames_written == 3
    frames = manifest(out)["frames"]
    assert sorted(frames, key=int) == [str(n) for n in range(1, 7)]
    for entry in frames.values():
        assert (
            entry["status"] == "done"
            and entry["sha256"] == hashlib.sha256((out / entry["output"]).read_bytes()).hexdigest()
        )
    assert render_shot(open_shot(tmp_path / "in"), look, out).skipped == 6


def test_a_corrupt_frame_stops_the_render_or_is_skipped(tmp_path):
    paths = write_sequence(tmp_path / "in", "a.{:04d}.png", [1, 2, 3])
    paths[1].write_bytes(paths[1].read_bytes()[:200])
    shot, look = open_shot(tmp_path / "in"), make_look()
    with pytest.raises(ImageReadError, match="a.0002.png: truncated or corrupt") as info:
        render_shot(shot, look, tmp_path / "out")
    assert "\n" not in str(info.value)
    assert manifest(tmp_path / "out")["frames"]["1"]["status"] == "done"

    report = render_shot(shot, look, tmp_path / "out", output=OutputCfg(skip_bad_frames=True))
    assert report.bad == [2] and [p.name for p in report.outputs] == ["a.0003.png"] and report.skipped == 1
    assert manifest(tmp_path / "out")["frames"]["2"]["status"] == "bad"
    assert not (tmp_path / "out" / "a.0002.png").exists()

    write_sequence(tmp_path / "in", "a.{:04d}.png", [2])  # fixed: the next run renders it
    assert [p.name for p in render_shot(shot, look, tmp_path / "out").outputs] == ["a.0002.png"]


def test_mixed_sizes_are_a_clear_error(tmp_path):
    write_sequence(tmp_path / "in", "a.{:04d}.png", [1, 2])
    write_sequence(tmp_path / "in", "a.{:04d}.png", [3], step=10)
    with pytest.raises(ShapeError, match="frame 3 is 96x54 but frame 1 is 120x68"):
        render_shot(open_shot(tmp_path / "in"), make_look(), tmp_path / "out")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_finishes_the_frames_in_flight_and_keeps_the_manifest(tmp_path, signum):
    write_sequence(tmp_path / "in", "a.{:04d}.png", range(1, 9))
    shot, look, out = open_shot(tmp_path / "in"), make_look(), tmp_path / "out"

    def press_ctrl_c(progress):
        if progress.done == 1:
            os.kill(os.getpid(), signum)

    # As an interactive shell leaves them; a background job's shell (CI) inherits SIGINT ignored.
    handler = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
    previous = signal.signal(signum, handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            render_shot(shot, look, out, on_progress=press_ctrl_c)
    finally:
        assert signal.getsignal(signum) is handler
        signal.signal(signum, previous)
    done = {k for k, v in manifest(out)["frames"].items() if v["status"] == "done"}
    on_disk = {str(int(p.name[2:6])) for p in out.glob("a.*.png")}
    assert done == on_disk and 1 <= len(done) < 8

    report = render_shot(shot, look, out)
    assert report.skipped == len(done) and report.frames_written == 8 - len(done)


def test_a_signal_the_parent_ignores_stays_ignored_during_a_render():
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with deferred_interrupt():
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_4k_frame_renders_in_bounded_memory(tmp_path):
    # In a fresh process, so the peak RSS is this frame's and no earlier test's.
    y, x = np.mgrid[0:2160, 0:3840].astype(np.float32)
    pixels = np.stack([x / 3840, y / 2160, 0.5 + 0.5 * np.sin(x / 7) * np.cos(y / 5)], axis=-1)
    spec = oiio.ImageSpec(3840, 2160, 3, "uint8")
    spec.attribute("compression", "none")
    out = oiio.ImageOutput.create(str(tmp_path / "uhd.tif"))
    assert out.open(str(tmp_path / "uhd.tif"), spec) and out.write_image((pixels * 255).astype(np.uint8))
    out.close()
    script = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {str(Path(__file__).parents[1])!r})
        from helpers import make_look
        from hrstyle.io.shot import open_shot
        from hrstyle.render.run import render_shot
        shot, look = open_shot({str(tmp_path / "uhd.tif")!r}), make_look(work_size=(72, 128))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        report = render_shot(shot, look, {str(tmp_path / "out")!r})
        print(report.frames_written, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 2**20)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    written, growth_gb = result.stdout.split()
    assert written == "1" and float(growth_gb) < 1.5, growth_gb
    assert read_image(tmp_path / "out" / "uhd.tif").spec.width == 3840


def test_an_exr_rendered_twice_is_the_same_bytes(tmp_path):
    # OpenImageIO stamps an EXR with the time of writing unless told a DateTime; the input's is carried.
    write_sequence(tmp_path / "in", "a.{:04d}.png", [1])
    first = render_shot(open_shot(tmp_path / "in"), make_look(), tmp_path / "one", output=OutputCfg(ext="exr"))
    time.sleep(1.1)
    second = render_shot(open_shot(tmp_path / "in"), make_look(), tmp_path / "two", output=OutputCfg(ext="exr"))
    assert first.outputs[0].read_bytes() == second.outputs[0].read_bytes()
