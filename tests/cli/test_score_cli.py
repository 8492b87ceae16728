"""`hrstyle score` on real frames: identity, and added flicker."""

import json

import numpy as np
from helpers import SAMPLES
from typer.testing import CliRunner

from hrstyle.cli import app
from hrstyle.io.stills import FrameSpec, read_image, write_image

runner = CliRunner()


def _shot(folder, gains):
    folder.mkdir()
    for i, gain in enumerate(gains):
        pixels = read_image(SAMPLES / "shot" / f"shot.{1001 + i}.png").pixels[::4, ::4]
        h, w = pixels.shape[:2]
        write_image(
            folder / f"f.{1001 + i:04d}.png", np.clip(pixels * gain, 0, 1), FrameSpec("png", "uint8", w, h, False)
        )
    return folder


def test_identity_scores_one_and_flicker_raises_the_ratio(tmp_path):
    content = _shot(tmp_path / "in", [1.0, 1.0, 1.0, 1.0])
    flicker = _shot(tmp_path / "out", [1.0, 0.8, 1.0, 0.8])
    look = SAMPLES / "look.jpg"

    same = runner.invoke(
        app,
        ["score", "--content", str(content), "--output", str(content), "--look", str(look), "--every", "4", "--json"],
    )
    assert same.exit_code == 0, same.output
    figures = json.loads(same.stdout)
    assert figures["frames"] == 4 and figures["scored_frames"] == [1001]
    assert abs(figures["mean"]["style_gap"] - 1.0) < 1e-5 and figures["mean"]["structure_ssim"] > 0.999
    assert abs(figures["mean"]["temporal_ratio"] - 1.0) < 1e-6

    flick = runner.invoke(
        app,
        ["score", "--content", str(content), "--output", str(flicker), "--look", str(look), "--every", "4", "--json"],
    )
    assert flick.exit_code == 0, flick.output
    assert json.loads(flick.stdout)["mean"]["temporal_ratio"] > 3

    table = runner.invoke(
        app, ["score", "--content", str(content), "--output", str(content), "--look", str(look), "--every", "4"]
    )
    assert table.exit_code == 0 and "temporal ratio" in table.stdout


def test_mismatched_frames_are_a_one_line_error(tmp_path):
    content = _shot(tmp_path / "in", [1.0, 1.0, 1.0])
    other = _shot(tmp_path / "out", [1.0, 1.0])
    result = runner.invoke(
        app, ["score", "--content", str(content), "--output", str(other), "--look", str(SAMPLES / "look.jpg")]
    )
    assert result.exit_code == 2 and "frames do not match" in result.output and "Traceback" not in result.output


def test_truth_gives_delta_e_and_the_share_recovered_and_flicker_is_graded(tmp_path):
    """The content through a known grade (a warm gain) is the truth: the truth itself recovers all of
    it, the content none, and a half-way grade about half; a steady grade does not flicker."""
    content = _shot(tmp_path / "in", [1.0, 1.0, 1.0])
    warm = np.array([1.0, 0.85, 0.65], np.float32)
    truth = _shot(tmp_path / "truth", [warm] * 3)
    half = _shot(tmp_path / "half", [(1 + warm) / 2] * 3)
    look = SAMPLES / "look.jpg"

    def figures(output):
        args = ["score", "--content", content, "--output", output, "--look", look, "--truth", truth, "--every", "3"]
        args.append("--json")
        result = runner.invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["mean"]

    exact, untouched, halfway = figures(truth), figures(content), figures(half)
    assert exact["delta_e"] == 0 and exact["share_recovered"] == 1
    assert untouched["delta_e"] == untouched["delta_e_untouched"] > 3 and untouched["share_recovered"] == 0
    assert 0.3 < halfway["share_recovered"] < 0.7 and halfway["delta_e_p95"] >= halfway["delta_e"]
    assert abs(exact["grade_flicker"] - 1) < 0.1 and exact["colour_incoherence"] < 4
