"""`hrstyle apply SHOT` without --look: the shot's own look file, as tune leaves it beside the keyframe."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import SAMPLES, assert_one_line_error, make_look, write_sequence
from typer.testing import CliRunner

from hrstyle.cli import app
from hrstyle.errors import InputError
from hrstyle.io.shot import open_shot
from hrstyle.look.file import save_look
from hrstyle.look.meta import find_look

runner = CliRunner()


def _save(path: Path) -> Path:
    look = make_look()
    save_look(path, look.net, look.meta)
    return path


def test_the_one_look_in_the_shot_folder_is_found(tmp_path):
    write_sequence(tmp_path / "shot", "s.{:04d}.png", [1, 2])
    look = _save(tmp_path / "shot" / "keyframe.look.safetensors")
    assert find_look(tmp_path / "shot") == look
    assert find_look(tmp_path / "shot" / "s.####.png") == look  # beside a pattern


def test_several_looks_or_none_are_one_line_errors_that_say_what_to_do(tmp_path):
    write_sequence(tmp_path / "shot", "s.{:04d}.png", [1, 2])
    with pytest.raises(InputError, match="run hrstyle tune"):
        find_look(tmp_path / "shot")
    _save(tmp_path / "shot" / "a.look.safetensors")
    _save(tmp_path / "shot" / "b.look.safetensors")
    with pytest.raises(InputError, match=r"2 look files .*a\.look\.safetensors, b\.look\.safetensors.*--look"):
        find_look(tmp_path / "shot")
    assert_one_line_error(runner.invoke(app, ["apply", str(tmp_path / "shot")]), 2, "pick one with --look")


def test_an_unnumbered_keyframe_in_the_shot_folder_leaves_the_sequence_alone(tmp_path):
    write_sequence(tmp_path / "shot", "s.{:04d}.png", [1, 2, 3])
    shutil.copy(tmp_path / "shot" / "s.0002.png", tmp_path / "shot" / "keyframe.png")
    _save(tmp_path / "shot" / "keyframe.look.safetensors")
    assert [ref.number for ref in open_shot(tmp_path / "shot").frames] == [1, 2, 3]


def test_tune_then_apply_the_shot_as_written(tmp_path):
    """The colorist's two commands, on a copy of the sample shot: tune writes the look into the shot's
    folder and apply finds it there."""
    shot = tmp_path / "shot"
    shutil.copytree(SAMPLES / "shot", shot, ignore=shutil.ignore_patterns("shot.100[4-9].png", "shot.10[12]*.png"))
    shutil.copy(SAMPLES / "shot" / "shot.1012.png", shot)
    tuned = runner.invoke(
        app,
        [
            "tune",
            str(shot / "shot.1012.png"),
            str(SAMPLES / "look.jpg"),
            "--size",
            "48",
            "--steps",
            "2",
            "--judge-size",
            "0",
            "--net",
            "hrnet-small",
        ],
    )
    assert tuned.exit_code == 0, tuned.output
    assert (shot / "shot.1012.look.safetensors").is_file()
    applied = runner.invoke(app, ["apply", str(shot)])
    assert applied.exit_code == 0, applied.output
    out = tmp_path / "shot_shot.1012"
    assert applied.stdout.strip() == str(out)
    assert sorted(p.name for p in out.glob("*.png")) == sorted(p.name for p in shot.glob("shot.*.png"))
