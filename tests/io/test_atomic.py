"""hrstyle.atomic: what a killed run leaves behind is cleaned up, locks exclude, and folders fail in one line.

Atomic writes themselves are tested where they are used (test_frames, test_look);
crash safety end to end in test_apply_cli.
"""

from __future__ import annotations

import os
import shutil
import threading

import pytest

from hrstyle.errors import OutputError
from hrstyle.io import atomic
from hrstyle.io.atomic import check_room, locked, make_folder, remove_stale_temps, temp_path_for

DEAD_PID = 999_999_999  # above any pid_max, so no process has it
HOST = atomic._HOST


def test_stale_temporary_files_of_dead_processes_are_removed(tmp_path):
    dead = tmp_path / f".s.0001.tmp{DEAD_PID}@{HOST}.png"
    ours = temp_path_for(tmp_path / "s.0002.png")
    dead_manifest = tmp_path / f".hrstyle-manifest.tmp{DEAD_PID}@{HOST}.json"
    dead_plain = tmp_path / f".notes.tmp{DEAD_PID}@{HOST}"  # temp_path_for of a name without a suffix
    kept = [tmp_path / "s.0003.png", tmp_path / ".hidden", ours]
    for path in [dead, dead_manifest, dead_plain, *kept]:
        path.write_bytes(b"x")
    (tmp_path / f".folder.tmp{DEAD_PID}@{HOST}.png").mkdir()
    assert sorted(remove_stale_temps(tmp_path)) == sorted([dead, dead_manifest, dead_plain])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".hidden", ours.name, "s.0003.png", f".folder.tmp{DEAD_PID}@{HOST}.png"]
    )


def test_a_live_process_keeps_its_temporary_files(tmp_path):
    parent = tmp_path / f".s.0001.tmp{os.getppid()}@{HOST}.png"
    parent.write_bytes(b"x")
    assert remove_stale_temps(tmp_path) == [] and parent.exists()


def test_another_hosts_temporary_files_are_kept(tmp_path):
    # A farm node writing into the same folder: its process ids mean nothing here.
    other = tmp_path / f".s.0001.tmp{DEAD_PID}@not-{HOST}.png"
    other.write_bytes(b"x")
    assert remove_stale_temps(tmp_path) == [] and other.exists()


def test_locked_excludes_other_holders(tmp_path):
    lock, done = tmp_path / ".lock", threading.Event()
    order = []

    def other() -> None:
        with locked(lock):
            order.append("other")
        done.set()

    with locked(lock):
        thread = threading.Thread(target=other)
        thread.start()
        assert not done.wait(0.2)  # it waits for us
        order.append("us")
    thread.join()
    assert order == ["us", "other"] and lock.exists()


def test_make_folder_fails_in_one_line(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OutputError, match="cannot write"):
        make_folder(tmp_path / "file" / "out")
    make_folder(tmp_path / "a" / "b")
    make_folder(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()


def test_check_room(tmp_path, monkeypatch):
    check_room(tmp_path / "a.png", 1)
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda folder: shutil._ntuple_diskusage(100, 100, 10))
    with pytest.raises(OutputError, match="a.png: disk full; free space"):
        check_room(tmp_path / "a.png", 11)
    check_room(tmp_path / "a.png", 10)
