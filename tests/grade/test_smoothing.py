"""Temporal smoothing inside a render: it damps flicker, and chunks stitch exactly."""

import pytest
from helpers import make_look, visible_files, write_sequence

from hrstyle.errors import InputError
from hrstyle.grade.config import RenderCfg, SmoothCfg
from hrstyle.io.shot import open_shot
from hrstyle.render.run import render_shot
from hrstyle.score.flicker import temporal_ratio

SMOOTH = RenderCfg(smooth=SmoothCfg(strength=0.5))


def _frames(folder):
    return [image.pixels for _, image in open_shot(folder)]


@pytest.mark.parametrize("cfg", [RenderCfg(), SMOOTH], ids=["plain", "smooth"])
def test_three_chunks_match_one_whole_run(tmp_path, cfg):
    write_sequence(tmp_path / "in", "a.{:04d}.png", range(1001, 1007), step=8)
    look = make_look(grade=0.05)
    render_shot(open_shot(tmp_path / "in"), look, tmp_path / "whole", cfg)
    for chunk in ("1001-1002", "1003-1004", "1005-1006"):
        render_shot(open_shot(tmp_path / "in", chunk), look, tmp_path / "chunks", cfg)
    whole, chunks = visible_files(tmp_path / "whole"), visible_files(tmp_path / "chunks")
    whole.pop("hrstyle-manifest.json"), chunks.pop("hrstyle-manifest.json")
    assert whole == chunks and len(whole) == 6


def test_smoothing_changes_the_frames_chunks_must_match(tmp_path):
    write_sequence(tmp_path / "in", "a.{:04d}.png", range(1001, 1005), step=8)
    look = make_look(grade=0.05)
    render_shot(open_shot(tmp_path / "in"), look, tmp_path / "plain", RenderCfg())
    render_shot(open_shot(tmp_path / "in"), look, tmp_path / "smooth", SMOOTH)
    assert visible_files(tmp_path / "plain")["a.1004.png"] != visible_files(tmp_path / "smooth")["a.1004.png"]


def test_smoothing_lowers_the_flicker_a_look_adds(tmp_path):
    write_sequence(tmp_path / "in", "a.{:04d}.png", range(1001, 1009), step=4)
    look = make_look(work_size=(68, 120), grade=0.08)
    render_shot(open_shot(tmp_path / "in"), look, tmp_path / "plain", RenderCfg())
    render_shot(open_shot(tmp_path / "in"), look, tmp_path / "smooth", RenderCfg(smooth=SmoothCfg(strength=0.8)))
    frames_in = _frames(tmp_path / "in")
    plain = temporal_ratio(frames_in, _frames(tmp_path / "plain"))
    smooth = temporal_ratio(frames_in, _frames(tmp_path / "smooth"))
    assert smooth < plain


def test_smoothing_needs_the_guided_path():
    with pytest.raises(InputError, match="--native"):
        RenderCfg(native=True, smooth=SmoothCfg(strength=0.5))


def test_no_blend_across_a_gap_in_the_numbering(tmp_path):
    # 1004 is missing: 1005 must be graded as if it started the shot.
    write_sequence(tmp_path / "in", "a.{:04d}.png", [1001, 1002, 1003, 1005], step=8)
    look = make_look(grade=0.05)
    render_shot(open_shot(tmp_path / "in"), look, tmp_path / "smooth", SMOOTH)
    render_shot(open_shot(tmp_path / "in", "1005"), look, tmp_path / "alone", SMOOTH)
    assert visible_files(tmp_path / "smooth")["a.1005.png"] == visible_files(tmp_path / "alone")["a.1005.png"]
