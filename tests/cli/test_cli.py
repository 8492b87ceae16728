"""`hrstyle tune`, `info` and `demo` end to end, and their answers to bad input."""

import importlib
import json
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import SAMPLES, assert_one_line_error
from typer.testing import CliRunner

import hrstyle.look.tune
from hrstyle.cli import app
from hrstyle.io.stills import FrameSpec, read_image, write_image
from hrstyle.look.file import load_look
from hrstyle.look.meta import FORMAT_VERSION

runner = CliRunner()
QUICK = ["--steps", "2", "--size", "32", "--net", "hrnet-small"]


def _image(path, h=48, w=64, channels=3, depth="uint8"):
    rng = np.random.default_rng(0)
    pixels = rng.random((h, w, 3), dtype=np.float32)
    if channels == 1:
        pixels = np.repeat(pixels[..., :1], 3, axis=2)
    alpha = rng.random((h, w), dtype=np.float32) if channels == 4 else None
    write_image(path, pixels, FrameSpec(path.suffix.lstrip("."), depth, w, h, alpha is not None), alpha=alpha)
    return path


def _tune(*args):
    return runner.invoke(app, ["tune", *map(str, args), *QUICK])


def test_tune_writes_a_look_beside_the_keyframe_and_info_reads_it(tmp_path):
    key = shutil.copy(SAMPLES / "keyframe.png", tmp_path / "kf.png")
    result = _tune(key, SAMPLES / "look.jpg")
    assert result.exit_code == 0, result.output
    # An astronaut for a cup: the colorist is told how little of its style the look carries, and why.
    assert (
        "other content than the keyframe's scene (trust 0.00): 30% of its overall colour balance (--unmatched-carry) "
        "and its style carried at 10%" in " ".join(result.output.split())
    )
    look_path = tmp_path / "kf.look.safetensors"
    look = load_look(look_path)
    assert look.meta.steps_done == 2 and look.meta.tune_cfg["size"] == 32 and look.meta.keyframe_name == "kf.png"
    info = runner.invoke(app, ["info", str(look_path), "--json"])
    assert info.exit_code == 0
    meta = json.loads(info.stdout)
    assert meta["sha256"] == look.sha256 and meta["net_cfg"]["width"] == 8 and meta["trust"] == 0.0
    # refuses to overwrite without --force
    assert_one_line_error(_tune(key, SAMPLES / "look.jpg"), 2, "--force")
    assert runner.invoke(app, ["tune", str(key), str(SAMPLES / "look.jpg"), *QUICK, "--force"]).exit_code == 0


def test_the_colour_balance_carried_from_an_unrelated_reference_can_be_set(tmp_path):
    out = tmp_path / "half.look.safetensors"
    result = _tune(SAMPLES / "keyframe.png", SAMPLES / "look.jpg", "-o", out, "--unmatched-carry", "0.5")
    assert result.exit_code == 0, result.output
    assert "50% of its overall colour balance" in " ".join(result.output.split())
    assert load_look(out).meta.tune_cfg["unmatched_carry"] == 0.5
    too_much = _tune(SAMPLES / "keyframe.png", SAMPLES / "look.jpg", "--unmatched-carry", "2")
    assert too_much.exit_code == 2 and "--unmatched-carry" in too_much.output  # a usage error, as for --steps 0


def test_preview_is_written_while_tuning(tmp_path):
    result = _tune(
        SAMPLES / "keyframe.png",
        SAMPLES / "look.jpg",
        "-o",
        tmp_path / "a.look.safetensors",
        "--preview",
        tmp_path / "preview.png",
        "--preview-every",
        "1",
    )
    assert result.exit_code == 0 and (tmp_path / "preview.png").stat().st_size > 0


@pytest.mark.parametrize(
    "name,kw",
    [
        ("gray.png", {"channels": 1}),
        ("rgba.png", {"channels": 4}),
        ("deep.png", {"depth": "uint16"}),
        ("deep.tif", {"depth": "uint16"}),
    ],
)
def test_grayscale_rgba_and_16_bit_are_accepted(tmp_path, name, kw):
    key = _image(tmp_path / name, **kw)
    result = _tune(key, SAMPLES / "look.jpg", "-o", tmp_path / "out.look.safetensors")
    assert result.exit_code == 0, result.output


def _truncated_png(folder):
    path = _image(folder / "truncated.png")
    path.write_bytes(path.read_bytes()[:300])
    return path


def _file(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make,fragment",
    [
        (lambda d: d / "missing.png", "no such file"),
        (lambda d: _file(d / "text.png", b"hello"), "text.png"),
        (_truncated_png, "truncated.png"),
        (lambda d: _image(d / "tiny.png", 1, 1), "at least"),
        (lambda d: _file(d / "empty.png", b""), "empty.png"),
    ],
)
def test_bad_keyframe_is_one_line_exit_2_and_writes_nothing(tmp_path, make, fragment):
    bad = make(tmp_path)
    out = tmp_path / "out.look.safetensors"
    before = sorted(p.name for p in tmp_path.iterdir())
    assert_one_line_error(_tune(bad, SAMPLES / "look.jpg", "-o", out), 2, fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_unwritable_output_folder_fails_before_tuning(immutable_dir):
    result = _tune(SAMPLES / "keyframe.png", SAMPLES / "look.jpg", "-o", immutable_dir / "a.look.safetensors")
    assert_one_line_error(result, 2, "not writable")
    assert not list(immutable_dir.iterdir())


def test_look_files_of_the_wrong_kind_are_refused(tmp_path):
    fake = tmp_path / "evil.safetensors"
    fake.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    assert_one_line_error(runner.invoke(app, ["info", str(fake)]), 2, "not a look file")

    good = tmp_path / "good.look.safetensors"
    assert _tune(SAMPLES / "keyframe.png", SAMPLES / "look.jpg", "-o", good).exit_code == 0
    data = good.read_bytes().replace(f'\\"format_version\\": {FORMAT_VERSION}'.encode(), b'\\"format_version\\": 9')
    future = tmp_path / "future.look.safetensors"
    future.write_bytes(data)
    assert_one_line_error(runner.invoke(app, ["info", str(future)]), 2, "newer than this hrstyle")


def test_ctrl_c_saves_the_look_so_far_and_exits_130(tmp_path, monkeypatch):
    calls = {"n": 0}
    real_loss = hrstyle.look.tune.perceptual_loss

    def interrupted_on_third_step(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(hrstyle.look.tune, "perceptual_loss", interrupted_on_third_step)
    out = tmp_path / "a.look.safetensors"
    result = _tiny_tune(out)
    assert result.exit_code == 130, result.output
    look = load_look(out)
    assert look.meta.stopped == "interrupted" and look.meta.steps_done == 2


def _tiny_tune(out: Path):
    """A 10-step tune of the sample pair at 32 px with the small network, through the CLI."""
    args = ["tune", SAMPLES / "keyframe.png", SAMPLES / "look.jpg", "-o", out, "--steps", "10", "--size", "32"]
    return runner.invoke(app, [str(a) for a in [*args, "--net", "hrnet-small"]])


def _loss_turning_nan_at(monkeypatch, call: int) -> None:
    real_loss, calls = hrstyle.look.tune.perceptual_loss, {"n": 0}

    def loss(*args, **kwargs):
        calls["n"] += 1
        terms = real_loss(*args, **kwargs)
        if calls["n"] >= call:
            terms.total = terms.total * float("nan")
        return terms

    monkeypatch.setattr(hrstyle.look.tune, "perceptual_loss", loss)


def test_a_loss_turning_nan_keeps_the_last_good_look_and_warns(tmp_path, monkeypatch):
    _loss_turning_nan_at(monkeypatch, 4)
    out = tmp_path / "a.look.safetensors"
    result = _tiny_tune(out)
    assert result.exit_code == 0, result.output
    assert "warning: the loss became NaN/Inf; saved the last good weights" in result.output
    look = load_look(out)  # refuses non-finite weights, so these are finite
    assert look.meta.stopped == "non-finite" and look.meta.steps_done == 3


def test_a_loss_nan_from_the_first_step_is_one_line_exit_1_and_writes_nothing(tmp_path, monkeypatch):
    _loss_turning_nan_at(monkeypatch, 1)
    result = _tune(SAMPLES / "keyframe.png", SAMPLES / "look.jpg", "-o", tmp_path / "a.look.safetensors")
    assert_one_line_error(result, 1, "the loss was NaN or Inf from the first step")
    assert list(tmp_path.iterdir()) == []


def _tune_process(out, *extra):
    """A real `hrstyle tune` process that Ctrl-C reaches: a background job of a non-interactive
    shell (nohup, CI runners) inherits SIGINT ignored, and Python then keeps ignoring it."""
    command = [sys.executable, "-m", "hrstyle", "tune", str(SAMPLES / "keyframe.png"), str(SAMPLES / "look.jpg")]
    command += ["-o", str(out), "--steps", "100000", "--net", "hrnet-small", *map(str, extra)]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _interrupt(proc, signum=signal.SIGINT):
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    return stdout


@pytest.mark.parametrize(("seed", "signum"), [(1, signal.SIGINT), (2, signal.SIGTERM)])
def test_sigint_or_sigterm_during_a_real_tune_leaves_a_complete_look_and_exits_130(tmp_path, seed, signum):
    """Ctrl-C (or a farm's SIGTERM) to a tune process at a seeded moment after its first step
    (maybe mid-preview): exit 130, the best look so far saved whole, the preview whole, no
    temporary files."""
    out, preview = tmp_path / "a.look.safetensors", tmp_path / "preview.png"
    proc = _tune_process(out, "--size", 32, "--preview", preview, "--preview-every", 1)
    deadline = time.monotonic() + 600  # start-up (torch, VGG, the matches) takes minutes on a loaded 2-core box
    while not preview.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(random.Random(seed).uniform(0, 0.5))
    stdout = _interrupt(proc, signum)
    look = load_look(out)
    assert look.meta.stopped == "interrupted" and look.meta.steps_done >= 1 and stdout.strip() == str(out)
    assert read_image(preview).pixels.shape[:2] == (288, 512)  # the delivered grade, at the 512 px judge size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.look.safetensors", "preview.png"]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_sigint_during_start_up_exits_130_and_leaves_nothing_half_written(tmp_path, seed):
    """Ctrl-C while torch, VGG and the matches load (a 512 px start takes seconds): exit 130
    at once, and the folder holds nothing, or a complete look if a step had finished. The
    moment is seeded after torch's library is mapped: the command has begun (a Ctrl-C within
    Python's own start-up is Python's), and torch's import is where one used to be swallowed."""
    out = tmp_path / "a.look.safetensors"
    proc = _tune_process(out, "--size", 512)
    maps, deadline = Path(f"/proc/{proc.pid}/maps"), time.monotonic() + 600
    while "libtorch" not in maps.read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(random.Random(seed).uniform(0, 1.5))
    assert proc.poll() is None
    _interrupt(proc)
    assert [p.name for p in tmp_path.iterdir()] in ([], [out.name])
    if out.exists():
        assert load_look(out).meta.stopped == "interrupted"


def test_a_ctrl_c_swallowed_during_start_up_still_stops_the_tune_at_its_first_step(tmp_path, monkeypatch):
    """A KeyboardInterrupt raised inside torch's import can be swallowed there; `main`'s handler
    records every Ctrl-C, and the progress bar acts on the record at the next step."""
    cli_app = importlib.import_module("hrstyle.cli.app")  # the module: hrstyle.cli.app is the Typer app
    monkeypatch.setitem(cli_app._state, "interrupted", True)  # as _on_stop leaves it
    out = tmp_path / "a.look.safetensors"
    result = _tune(SAMPLES / "keyframe.png", SAMPLES / "look.jpg", "-o", out)
    assert result.exit_code == 130 and "interrupted: saved the best look so far" in result.output
    look = load_look(out)
    assert look.meta.stopped == "interrupted" and look.meta.steps_done == 1


def test_bad_option_values_are_usage_errors(tmp_path):
    result = runner.invoke(app, ["tune", str(SAMPLES / "keyframe.png"), str(SAMPLES / "look.jpg"), "--steps", "0"])
    assert result.exit_code == 2
    result = runner.invoke(
        app,
        [
            "tune",
            str(SAMPLES / "keyframe.png"),
            str(SAMPLES / "look.jpg"),
            "-o",
            str(tmp_path / "a.safetensors"),
            "--net",
            "resnet",
        ],
    )
    assert_one_line_error(result, 2, "unknown network")


def test_demo_writes_look_and_contact_sheet(tmp_path):
    result = runner.invoke(app, ["demo", "-o", str(tmp_path / "demo"), "--steps", "2", "--size", "32"])
    assert result.exit_code == 0, result.output
    look = load_look(tmp_path / "demo" / "sample.look.safetensors")
    assert look.meta.keyframe_name == "keyframe.png"
    sheet = tmp_path / "demo" / "contact_sheet.png"
    assert sheet.stat().st_size > 10_000 and str(sheet) in result.stdout
