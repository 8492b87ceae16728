"""hrstyle.farm: chunk plans for any farm, and renders on a local Ray instance that match
`render_shot` byte for byte, survive a killed worker, and fail in one line.

Ray starts once for the module (that takes seconds), with 2 worker CPUs as on CI.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from helpers import assert_one_line_error, make_look, manifest, visible_files, write_sequence
from typer.testing import CliRunner

from hrstyle.cli import app
from hrstyle.errors import InputError
from hrstyle.grade.config import RenderCfg, SmoothCfg
from hrstyle.io.shot import open_shot
from hrstyle.look.file import save_look
from hrstyle.render.chunks import plan_chunks
from hrstyle.render.config import FarmCfg, OutputCfg
from hrstyle.render.farm import ray_session, render_on_ray
from hrstyle.render.manifest import MANIFEST_NAME
from hrstyle.render.run import RenderProgress, render_shot

runner = CliRunner()
TWO_WORKERS = FarmCfg(chunk=4, workers=2)


@pytest.fixture(scope="module")
def local_ray():
    with ray_session(num_cpus=2) as ray:
        yield ray


@pytest.fixture
def plates(tmp_path: Path) -> Path:
    write_sequence(tmp_path / "plates", "s.{:04d}.png", range(1001, 1011), step=15)  # 64x36
    return tmp_path / "plates"


def _frames(folder: Path) -> dict[str, bytes]:
    return {name: data for name, data in visible_files(folder).items() if name != MANIFEST_NAME}


def _assert_manifest_is_the_folder(folder: Path, count: int) -> None:
    """Every frame done, once, and on disk as the manifest says; no temporary file left."""
    frames = manifest(folder)["frames"]
    assert len(frames) == count and all(entry["status"] == "done" for entry in frames.values())
    assert sorted(entry["output"] for entry in frames.values()) == sorted(_frames(folder))
    for entry in frames.values():
        assert hashlib.sha256((folder / entry["output"]).read_bytes()).hexdigest() == entry["sha256"]
    assert not [p.name for p in folder.glob(".*.tmp*")]


# --- planning -------------------------------------------------------------------------


def test_chunks_cover_the_shot_in_order_and_warm_up_on_the_frame_before(plates):
    shot = open_shot(plates)
    plain = plan_chunks(shot, 4)
    assert [c.frame_range for c in plain] == ["1001-1004", "1005-1008", "1009-1010"]
    assert all(c.warmup == () for c in plain)
    assert [c.warmup for c in plan_chunks(shot, 4, smooth=True)] == [(), (1004,), (1008,)]
    # A selection with a step warms up on the predecessor of every frame it renders.
    stepped = plan_chunks(open_shot(plates, "1002-1010x2"), 3, smooth=True)
    assert [(c.frame_range, c.warmup) for c in stepped] == [
        ("1002,1004,1006", (1001, 1003, 1005)),
        ("1008,1010", (1007, 1009)),
    ]
    with pytest.raises(InputError, match="chunk size 0"):
        plan_chunks(shot, 0)


def test_chunks_command_prints_ranges_and_warm_up(plates):
    result = runner.invoke(app, ["chunks", str(plates), "--size", "4", "--smooth", "0.5", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["frames"] == 10 and plan["smooth"] is True and len(plan["chunks"]) == 3
    assert plan["chunks"][1] == {
        "index": 1,
        "frames": "1005-1008",
        "first": 1005,
        "last": 1008,
        "count": 4,
        "warmup": [1004],
    }
    table = runner.invoke(app, ["chunks", str(plates), "--size", "4", "--frames", "1003-1010"])
    assert table.exit_code == 0, table.output
    assert "1003-1006" in table.stdout and "1007-1010" in table.stdout and "8 frames in 2 chunk(s)" in table.stdout


# --- rendering on Ray ---------------------------------------------------------------------


@pytest.mark.parametrize("smooth", [0.0, 0.5], ids=["plain", "smooth"])
def test_two_workers_render_what_render_shot_renders(local_ray, tmp_path, plates, smooth):
    look, cfg = make_look(grade=0.05), RenderCfg(smooth=SmoothCfg(strength=smooth))
    render_shot(open_shot(plates), look, tmp_path / "single", cfg)
    seen: list[RenderProgress] = []
    report = render_on_ray(open_shot(plates), look, tmp_path / "ray", cfg, TWO_WORKERS, on_progress=seen.append)
    assert _frames(tmp_path / "ray") == _frames(tmp_path / "single") and len(_frames(tmp_path / "single")) == 10
    assert report.chunks == 3 and report.retried == {} and report.render.frames_written == 10
    assert [p.name for p in report.render.outputs] == [f"s.{n}.png" for n in range(1001, 1011)]
    assert seen[-1].done == seen[-1].total == 10
    _assert_manifest_is_the_folder(tmp_path / "ray", 10)
    again = render_on_ray(open_shot(plates), look, tmp_path / "ray", cfg, TWO_WORKERS)
    assert again.render.frames_written == 0 and again.render.skipped == 10


def _ray_worker_pid(task_name: str) -> int | None:
    """The pid of the Ray worker running the task named ``task_name`` (Ray titles it ``ray::<name>``)."""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(f"ray::{task_name}".encode()):
                return int(proc.name)
        except OSError:
            continue
    return None


def _recorded(folder: Path, numbers: range) -> dict[str, int]:
    """Output name -> mtime_ns of the frames among ``numbers`` the manifest on disk lists as done."""
    if not (folder / MANIFEST_NAME).exists():
        return {}
    frames = manifest(folder)["frames"]
    return {e["output"]: e["mtime_ns"] for n, e in frames.items() if int(n) in numbers and e["status"] == "done"}


@pytest.mark.skipif(sys.platform != "linux", reason="finds the worker through /proc")
def test_a_worker_killed_mid_chunk_is_retried_and_resumes(local_ray, tmp_path):
    """SIGKILL the worker of chunk 1-12 once the manifest lists two of its frames: Ray re-runs
    the chunk, which skips the frames recorded, renders the rest once, and the folder ends as
    a single render leaves it."""
    write_sequence(tmp_path / "plates", "s.{:04d}.png", range(1, 25), step=1)  # 960x540: ~0.1 s a frame
    look, plates, out = make_look(grade=0.05), tmp_path / "plates", tmp_path / "ray"
    render_shot(open_shot(plates), look, tmp_path / "single")
    chunk_one = range(1, 13)
    at_kill: dict[str, int] = {}

    def kill_chunk_one(progress: RenderProgress) -> None:
        # The manifest is saved about once a second, so wait for it to list some of the chunk's frames.
        recorded, pid = _recorded(out, chunk_one), _ray_worker_pid("hrstyle chunk 1-12")
        written = sum((out / f"s.{n:04d}.png").exists() for n in chunk_one)
        if not at_kill and len(recorded) >= 2 and written < len(chunk_one) and pid is not None:
            os.kill(pid, signal.SIGKILL)
            at_kill.update(recorded)

    report = render_on_ray(
        open_shot(plates), look, out, RenderCfg(), FarmCfg(chunk=12, workers=2), on_progress=kill_chunk_one
    )
    assert at_kill, "chunk 1-12 finished before it could be killed"
    assert report.retried == {"1-12": 1}
    assert _frames(out) == _frames(tmp_path / "single") and len(_frames(out)) == 24
    # The re-run skipped the frames the dead attempt recorded, untouched, and wrote the others once.
    assert {name: (out / name).stat().st_mtime_ns for name in at_kill} == at_kill
    assert report.render.skipped >= len(at_kill) and report.render.frames_written + report.render.skipped == 24
    assert len(set(report.render.outputs)) == len(report.render.outputs)
    _assert_manifest_is_the_folder(out, 24)


def test_a_corrupt_frame_is_one_line_naming_it(local_ray, tmp_path, plates):
    look = make_look()
    save_look(tmp_path / "warm.look.safetensors", look.net, look.meta)
    bad = plates / "s.1006.png"
    bad.write_bytes(bad.read_bytes()[:300])
    result = runner.invoke(
        app,
        [
            "farm",
            str(plates),
            "--look",
            str(tmp_path / "warm.look.safetensors"),
            "-o",
            str(tmp_path / "out"),
            "--chunk",
            "4",
            "--workers",
            "2",
        ],
    )
    assert_one_line_error(result, 2, f"{bad}: truncated or corrupt")


def test_video_output_is_refused_before_ray_starts(tmp_path, plates):
    with pytest.raises(InputError, match="chunks cannot share one video file"):
        render_on_ray(open_shot(plates), make_look(), tmp_path / "out", output=OutputCfg(ext="mov"))


def test_without_ray_the_error_says_how_to_install_it(tmp_path, plates, monkeypatch):
    look = make_look()
    save_look(tmp_path / "warm.look.safetensors", look.net, look.meta)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    result = runner.invoke(app, ["farm", str(plates), "--look", str(tmp_path / "warm.look.safetensors")])
    assert_one_line_error(result, 1, "pip install 'hrstyle[farm]'")


def test_a_mixed_render_lists_every_frame_once_with_the_single_render_hashes(tmp_path, plates, local_ray):
    """Some chunks by apply, the rest by the farm (which skips what is done), one frame lost and
    resumed: the folder and its manifest end as one render of the whole shot leaves them."""
    look, cfg = make_look(), RenderCfg(device="cpu", smooth=SmoothCfg(strength=0.5))
    render_shot(open_shot(plates), look, tmp_path / "single", cfg)
    mixed = tmp_path / "mixed"
    render_shot(open_shot(plates, "1001-1004"), look, mixed, cfg)  # a chunk an `apply` task rendered
    render_on_ray(open_shot(plates), look, mixed, cfg, TWO_WORKERS)
    (mixed / "s.1006.png").unlink()  # a frame a killed task lost
    assert render_on_ray(open_shot(plates), look, mixed, cfg, TWO_WORKERS).render.frames_written == 1
    _assert_manifest_is_the_folder(mixed, 10)
    single, both = manifest(tmp_path / "single")["frames"], manifest(mixed)["frames"]
    assert {n: e["sha256"] for n, e in both.items()} == {n: e["sha256"] for n, e in single.items()}
    assert _frames(mixed) == _frames(tmp_path / "single")
