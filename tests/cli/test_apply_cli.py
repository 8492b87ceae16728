"""`hrstyle apply` end to end: outputs, --json, --dry-run, one-line errors and exit codes, and a real kill."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import MANIFEST_NAME, assert_one_line_error, make_look, manifest, visible_files, write_sequence
from typer.testing import CliRunner

from hrstyle.cli import app
from hrstyle.look.file import save_look
from hrstyle.render import run as render_run
from hrstyle.render.manifest import MANIFEST_LOCK_NAME

runner = CliRunner()


@pytest.fixture
def look_file(tmp_path: Path) -> Path:
    look = make_look()
    path = tmp_path / "warm.look.safetensors"
    save_look(path, look.net, look.meta)
    return path


@pytest.fixture
def plates(tmp_path: Path) -> Path:
    write_sequence(tmp_path / "plates", "s.{:04d}.png", [1001, 1002, 1003])
    return tmp_path / "plates"


def _apply(*args: object):
    return runner.invoke(app, ["apply", *map(str, args)])


def test_apply_writes_beside_the_shot_and_resumes(tmp_path, plates, look_file):
    result = _apply(plates, "--look", look_file, "--frames", "1001-1002", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    out = tmp_path / "plates_warm"
    assert summary["out_dir"] == str(out) and summary["frames_written"] == 2 and summary["skipped"] == 0
    assert summary["outputs"] == [str(out / "s.1001.png"), str(out / "s.1002.png")]

    again = _apply(plates, "--look", look_file)
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == str(out) and "wrote 1 frame(s), 2 already done" in again.output
    assert sorted(visible_files(out)) == [MANIFEST_NAME, "s.1001.png", "s.1002.png", "s.1003.png"]


def test_dry_run_lists_the_outputs_and_writes_nothing(tmp_path, plates, look_file):
    result = _apply(plates, "--look", look_file, "-o", tmp_path / "out", "--ext", "exr", "-n")
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(tmp_path / "out" / f"s.{n}.exr") for n in (1001, 1002, 1003)]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["{tmp}/nope/s.%04d.png"], "does not exist"),
        (["{plates}", "-o", "{plates}"], "shot's own folder"),
        (["{plates}", "--device", "cpu", "--precision", "bf16"], "half precision is for a GPU"),
        (["{plates}", "--precision", "fp8"], "precision 'fp8'"),
        (["{plates}", "--bit-depth", "uint9"], "bit depth 'uint9'"),
        (["{plates}", "--frames", "1001-1009"], "frames 1004-1009"),
        (["{plates}", "--ext", "mkv"], "videos are written as .mov"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, plates, look_file, args, fragment):
    filled = [a.format(tmp=tmp_path, plates=plates) for a in args]
    assert_one_line_error(_apply(*filled, "--look", look_file), 2, fragment)


def test_not_a_look_file(tmp_path, plates):
    (tmp_path / "fake.look.safetensors").write_bytes(b"\0" * 64)
    assert_one_line_error(
        _apply(plates, "--look", tmp_path / "fake.look.safetensors"), 2, "was it saved by hrstyle tune?"
    )


def test_a_corrupt_frame_names_it_or_is_skipped_and_reported(tmp_path, plates, look_file):
    bad = plates / "s.1002.png"
    bad.write_bytes(bad.read_bytes()[:300])
    out = tmp_path / "out"
    assert_one_line_error(_apply(plates, "--look", look_file, "-o", out), 2, f"{bad}: truncated or corrupt")

    result = _apply(plates, "--look", look_file, "-o", out, "--skip-bad-frames", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["bad"] == [1002] and summary["skipped"] == 1 and summary["frames_written"] == 1
    assert "warning: skipped 1 unreadable frame(s): 1002" in result.output


def test_mixed_sizes_exit_code_2(tmp_path, plates, look_file):
    write_sequence(plates, "s.{:04d}.png", [1004], step=16)
    assert_one_line_error(_apply(plates, "--look", look_file, "-o", tmp_path / "out"), 2, "frame 1004 is 60x34")


def test_ctrl_c_exits_130_with_a_hint_to_resume(tmp_path, plates, look_file, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(render_run, "render_shot", interrupted)
    assert_one_line_error(_apply(plates, "--look", look_file, "-o", tmp_path / "out"), 130, "run the same command")


def _frames_on_disk(folder: Path) -> dict[str, bytes]:
    return (
        {name: data for name, data in visible_files(folder).items() if name != MANIFEST_NAME} if folder.exists() else {}
    )


def _assert_manifest_matches_disk(folder: Path) -> None:
    """What the manifest says is done is on disk, byte for byte."""
    for entry in manifest(folder)["frames"].values():
        if entry["status"] == "done":
            assert hashlib.sha256((folder / entry["output"]).read_bytes()).hexdigest() == entry["sha256"]


KILL_POINTS = 5


def test_sigkill_at_five_points_then_rerun_is_byte_identical_to_a_clean_run(tmp_path, look_file):
    """SIGKILL the render at five points, resuming after each, and end where a clean run ends.

    Each kill comes a seeded 1-2 new frames into a run plus a seeded 0-40 ms, so kills land
    between frames, in the middle of writing one, or while the manifest is saved.
    """
    total = 20
    write_sequence(tmp_path / "plates", "s.{:04d}.png", range(1, total + 1), step=15)  # 64x36
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert _apply(tmp_path / "plates", "--look", look_file, "-o", clean).exit_code == 0
    expected = _frames_on_disk(clean)

    command = [
        sys.executable,
        "-m",
        "hrstyle",
        "apply",
        str(tmp_path / "plates"),
        "--look",
        str(look_file),
        "-o",
        str(killed),
    ]
    rng = random.Random(20261122)
    left = []  # frames still to render after each kill
    for point in range(KILL_POINTS):
        wanted = len(_frames_on_disk(killed)) + rng.randint(1, 2)
        delay = rng.uniform(0, 0.04)
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while len(list(killed.glob("s.*.png"))) < wanted and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL, f"kill {point + 1}: the render finished before it could be killed"
        # Every frame in place is complete and the clean run's; the manifest claims no more than that.
        on_disk = _frames_on_disk(killed)
        assert on_disk and all(data == expected[name] for name, data in on_disk.items()), point
        _assert_manifest_matches_disk(killed)
        left.append(total - len(on_disk))
    # Tiny frames render fast: a late kill may find the shot written but the run not yet finished.
    # The first, 1-2 frames in, must leave work for the resumes.
    assert left[0] > 0, left

    assert subprocess.run(command, capture_output=True).returncode == 0
    assert _frames_on_disk(killed) == expected
    hidden = [p.name for p in killed.iterdir() if p.name.startswith(".") and p.name != MANIFEST_LOCK_NAME]
    assert not hidden, "a killed run's temporary files remain"
    frames = manifest(killed)["frames"]
    assert len(frames) == total and all(entry["status"] == "done" for entry in frames.values())
    _assert_manifest_matches_disk(killed)
