"""One conditional look for a range of the content/style trade-off (tune --trade-off, apply --style-weight)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import SAMPLES, assert_one_line_error, manifest, write_sequence
from safetensors.torch import save_file
from typer.testing import CliRunner

from hrstyle.cli import app
from hrstyle.errors import InputError
from hrstyle.grade.config import RenderCfg
from hrstyle.grade.steps import grade_batch
from hrstyle.io.stills import read_image
from hrstyle.io.tensors import to_pixels
from hrstyle.look.config import NetCfg, TuneCfg, parse_trade_off
from hrstyle.look.file import Look, load_look, save_look
from hrstyle.look.meta import FORMAT_VERSION, LookMeta, read_look_header
from hrstyle.look.net import HRNet
from hrstyle.look.preview import LookPreview, trade_off_curve
from hrstyle.look.tune import style_weight_schedule, tune
from hrstyle.score.metrics import StillScorer

runner = CliRunner()
# All of the style: the sample's reference shows other content, where a default tune keeps a tenth.
WIDE = TuneCfg(steps=40, size=64, net="hrnet-small", judge_size=0, warmup=3, trade_off=(0.1, 10.0), unmatched_style=1.0)


def _meta(net: HRNet, cfg: TuneCfg) -> LookMeta:
    return LookMeta(
        net.cfg.to_dict(), cfg.to_dict(), cfg.steps, [36, 64], "test", "", "", {}, "completed",
        style_weights=list(cfg.style_weights),
    )  # fmt: skip


def _moved_conditional_net(keep: str | None = None) -> HRNet:
    """A conditional network with every weight moved from its start, as a tune moves them, but for
    those whose names start with ``keep``."""
    torch.manual_seed(0)
    net = HRNet(NetCfg(width=8, film=16))
    with torch.no_grad():
        for name, p in net.named_parameters():
            if keep is None or not name.startswith(keep):
                p.add_(torch.randn_like(p) * 0.05)
    return net


def test_a_fresh_conditional_network_is_the_plain_one_at_every_weight(keyframe_128):
    """The FiLM layers start as the identity and draw no random numbers the trunk would have drawn."""
    torch.manual_seed(3)
    plain = HRNet(NetCfg(width=8))
    torch.manual_seed(3)
    conditional = HRNet(NetCfg(width=8, film=16))
    torch.nn.init.normal_(plain.head.weight, std=0.1)
    conditional.head.load_state_dict(plain.head.state_dict())
    with torch.no_grad():
        for weight in (0.25, 1.0, 4.0):
            conditional.set_style_weight(weight)
            assert torch.equal(plain(keyframe_128), conditional(keyframe_128))
    assert set(plain.state_dict()) < set(conditional.state_dict())


def test_the_schedule_spreads_every_run_of_steps_over_the_range_leaning_to_the_strong_end():
    weights = np.log2(style_weight_schedule(TuneCfg(trade_off=(0.25, 4.0)), 60))
    assert weights.min() >= -2 and weights.max() <= 2
    for start in (0, 20, 40):  # any twenty consecutive steps reach both ends of the range
        run = weights[start : start + 20]
        assert run.min() < -1 and run.max() > 1.5
    assert (weights > 0).sum() > 2 * (weights < 0).sum()  # the strong half gets most of the steps
    assert style_weight_schedule(TuneCfg(style_weight=2.0), 3) == [2.0, 2.0, 2.0]


def test_one_conditional_tune_gives_a_slider_that_does_what_it_says(keyframe_128, look_128, vgg):
    """Higher style weight: closer to the reference's style, less of the keyframe's structure."""
    result = tune(keyframe_128, look_128, WIDE, vgg=vgg)
    assert result.stopped == "completed" and result.steps_done == WIDE.steps  # no plateau stop on a moving loss
    look = Look(result.net, _meta(result.net, WIDE), "")
    content, style = to_pixels(keyframe_128), to_pixels(look_128)
    scorer = StillScorer(content, style, vgg)
    graded = {}
    for weight in (0.1, 1.0, 10.0):
        cfg = RenderCfg(style_weight=weight)
        graded[weight] = to_pixels(grade_batch(look.prepare(cfg), keyframe_128, cfg).clamp(0, 1))
    scores = [scorer(image) for image in graded.values()]
    gaps, ssims = [s.style_gap for s in scores], [s.structure_ssim for s in scores]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[0] - gaps[2] > 0.02, gaps
    assert ssims[0] > ssims[2], ssims
    # The notebook's slider shows exactly what apply renders at that point.
    preview = LookPreview(look, keyframe_128, size=128, device="cpu")
    assert np.array_equal(preview(10.0), graded[10.0]) and np.array_equal(preview(0.1), graded[0.1])
    assert np.array_equal(preview(1.0, mix=0.0), to_pixels(keyframe_128.clamp(0, 1)))
    curve = trade_off_curve(preview, scorer, points=3)
    assert [p.style_weight for p in curve] == pytest.approx([0.1, 1.0, 10.0])
    assert [p.score.style_gap for p in curve] == pytest.approx(gaps)


def test_conditional_tune_needs_a_valid_range():
    with pytest.raises(ValueError, match="outside the trade-off"):
        TuneCfg(trade_off=(2.0, 4.0))  # the default style weight 0.3 is the look's default point
    with pytest.raises(ValueError, match="content weight > 0"):
        TuneCfg(trade_off=(0.5, 2.0), content_weight=0.0)
    assert TuneCfg(trade_off=(0.5, 2.0), content_weight=2.0, style_weight=2.0).style_weights == (1.0, 4.0)
    assert parse_trade_off("0.25:4") == (0.25, 4.0)
    for bad in ("4", "4:1", "0:1", "a:b", "1:inf"):
        with pytest.raises(InputError, match="--trade-off"):
            parse_trade_off(bad)


def test_a_look_from_before_the_trade_off_is_its_one_point(tmp_path, keyframe_128):
    """Format 2 had no style_weights: such a look renders the weight it was tuned at, and only that."""
    torch.manual_seed(0)
    net = HRNet(NetCfg(width=8)).eval()
    meta = {**_meta(net, TuneCfg(style_weight=2.0)).to_dict(), "format_version": 2}
    del meta["style_weights"]
    path = tmp_path / "v2.look.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path), {"hrstyle": json.dumps(meta)})
    look = load_look(path)
    assert look.meta.style_weights == [2.0, 2.0] and not look.meta.conditional
    assert look.meta.pick_style_weight(None) == look.meta.pick_style_weight(2.0) == 2.0
    with pytest.raises(InputError, match="tuned for style weight 2 only; tune it with --trade-off"):
        look.prepare(RenderCfg(style_weight=1.0))


def test_film_in_place_renders_the_same_bits(keyframe_128):
    """FiLM works in place when nothing records gradients (a render): the same bits as out of place."""
    net = _moved_conditional_net()
    net.set_style_weight(2.0)
    net.requires_grad_(False)  # the same convolutions either way (StableConv2d), FiLM out of place here
    out_of_place = net(keyframe_128)
    with torch.no_grad():
        assert torch.equal(net(keyframe_128), out_of_place)


def test_a_format_3_conditional_look_renders_as_it_did(tmp_path, keyframe_128):
    """Format 3 had no change to the colour transform along the range: upgraded, that change is zero,
    so the look renders what it rendered then, at every point; info reads its header too."""
    net = _moved_conditional_net(keep="colour_film")  # format 3 had none: it stays zero
    meta = {**_meta(net, TuneCfg(trade_off=(0.5, 2.0), style_weight=1.0)).to_dict(), "format_version": 3}
    weights = {k: v.contiguous() for k, v in net.state_dict().items() if not k.startswith("colour_film")}
    path = tmp_path / "v3.look.safetensors"
    save_file(weights, str(path), {"hrstyle": json.dumps(meta)})
    look = load_look(path)
    assert look.meta.style_weights == [0.5, 2.0] and look.meta.format_version == FORMAT_VERSION
    assert read_look_header(path).parameters == sum(p.numel() for p in net.parameters())
    with torch.no_grad():
        for weight in (0.5, 2.0):
            net.set_style_weight(weight)
            look.net.set_style_weight(weight)
            assert torch.equal(look.net(keyframe_128), net(keyframe_128))


def _conditional_look_file(folder: Path) -> Path:
    net = _moved_conditional_net()
    path = folder / "cond.look.safetensors"
    save_look(path, net, _meta(net, TuneCfg(trade_off=(0.5, 2.0), style_weight=1.0)))
    return path


def test_apply_renders_two_points_of_one_look_and_refuses_others(tmp_path):
    look = _conditional_look_file(tmp_path)
    write_sequence(tmp_path / "plates", "s.{:04d}.png", [1001, 1002])
    outputs = {}
    for weight in ("0.5", "2"):
        out = tmp_path / f"out_{weight}"
        result = runner.invoke(
            app, ["apply", str(tmp_path / "plates"), "--look", str(look), "--style-weight", weight, "-o", str(out)]
        )
        assert result.exit_code == 0, result.output
        assert manifest(out)["options"]["style_weight"] == float(weight)
        outputs[weight] = read_image(out / "s.1001.png").pixels
    assert np.abs(outputs["0.5"] - outputs["2"]).mean() > 1 / 255
    default = runner.invoke(app, ["apply", str(tmp_path / "plates"), "--look", str(look), "-o", str(tmp_path / "d")])
    assert default.exit_code == 0 and manifest(tmp_path / "d")["options"]["style_weight"] == 1.0
    # Frames rendered at another point are not mixed into a finished render.
    again = runner.invoke(
        app,
        [
            "apply",
            str(tmp_path / "plates"),
            "--look",
            str(look),
            "--style-weight",
            "2",
            "-o",
            str(tmp_path / "out_0.5"),
        ],
    )
    assert again.exit_code != 0 and "--force" in again.output
    outside = runner.invoke(app, ["apply", str(tmp_path / "plates"), "--look", str(look), "--style-weight", "8"])
    assert_one_line_error(outside, 2, "outside this look's range 0.5 to 2")


def test_bake_takes_a_point_and_a_lut_refuses_one(tmp_path):
    look = _conditional_look_file(tmp_path)
    frame = write_sequence(tmp_path / "plates", "s.{:04d}.png", [1001])[0]
    cubes = []
    for weight in ("0.5", "2"):
        cube = tmp_path / f"w{weight}.cube"
        result = runner.invoke(
            app, ["bake", str(look), "--from", str(frame), "--style-weight", weight, "-o", str(cube)]
        )
        assert result.exit_code == 0, result.output
        cubes.append(cube.read_text())
    assert cubes[0] != cubes[1]
    lut = runner.invoke(
        app, ["apply", str(tmp_path / "plates"), "--lut", str(tmp_path / "w2.cube"), "--style-weight", "1"]
    )
    assert_one_line_error(lut, 2, "a LUT holds one grade")


def test_tune_cli_records_the_range_and_refuses_a_bad_one(tmp_path):
    keyframe = tmp_path / "key.png"
    keyframe.write_bytes((SAMPLES / "keyframe.png").read_bytes())
    bad = runner.invoke(app, ["tune", str(keyframe), str(SAMPLES / "look.jpg"), "--trade-off", "4:1"])
    assert_one_line_error(bad, 2, "--trade-off '4:1'")
    args = ["tune", str(keyframe), str(SAMPLES / "look.jpg"), "--trade-off", "0.5:2", "--size", "48", "--steps", "2"]
    result = runner.invoke(app, [*args, "--net", "hrnet-small", "--judge-size", "0"])
    assert result.exit_code == 0, result.output
    info = json.loads(runner.invoke(app, ["info", str(tmp_path / "key.look.safetensors"), "--json"]).stdout)
    assert info["style_weights"] == [0.5, 2.0] and info["tune_cfg"]["trade_off"] == [0.5, 2.0]
    assert info["net_cfg"]["film"] > 0 and info["format_version"] == FORMAT_VERSION
    # No --style-weight: the default (0.3) brought into the range is the point apply renders.
    assert info["tune_cfg"]["style_weight"] == 0.5
    named = runner.invoke(app, [*args, "--style-weight", "3", "-o", str(tmp_path / "named.look.safetensors")])
    assert_one_line_error(named, 2, "outside the trade-off 0.5:2")
