"""A frame's bytes do not depend on the number of torch threads (issue 20).

Render nodes differ in core count and a farm task runs at ``--cpus-per-task``
threads, so the same frame must come out the same at 1, 2 or 3 threads, or
re-rendered chunks would not stitch. PyTorch once sent a 1x1 convolution to
another backend at one thread than at two (look/layers.py, StableConv2d), which moved
frames by a code value; the look here has a non-trivial global colour
transform and a graded head, as a tuned look does, so its 1x1 convs matter.
Frames are real content from the sample shot (480x270), graded at 128 px.
A farm's tasks run at one thread each; their frames must match too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import SAMPLES, make_look, visible_files, write_sequence

from hrstyle.grade.config import RenderCfg, SmoothCfg
from hrstyle.io.imaging import long_side_size, resize
from hrstyle.io.shot import open_shot
from hrstyle.io.stills import read_image
from hrstyle.io.tensors import to_tensor
from hrstyle.look.config import NET_PRESETS
from hrstyle.look.net import HRNet
from hrstyle.render.config import FarmCfg, OutputCfg
from hrstyle.render.farm import ray_session, render_on_ray
from hrstyle.render.manifest import MANIFEST_NAME
from hrstyle.render.run import render_shot

THREADS = (1, 2, 3)
PNG = OutputCfg(ext="png")
NUMBERS = range(1001, 1005)


@pytest.fixture(scope="module")
def shot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("threads") / "plates"
    write_sequence(folder, "s.{:04d}.png", NUMBERS, step=2)  # 480x270
    return folder


def graded_look():
    look = make_look(work_size=(72, 128), grade=0.02, seed=3)
    # A colour match as tune sets it: the global 1x1 transform, with a bias.
    look.net.set_colour(
        torch.tensor([[0.92, 0.06, 0.01], [0.03, 0.88, 0.07], [0.02, 0.09, 0.83]]), torch.tensor([0.031, -0.012, 0.047])
    )
    return look


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _frames(folder: Path) -> dict[str, bytes]:
    return {name: data for name, data in visible_files(folder).items() if name != MANIFEST_NAME}


@pytest.mark.parametrize("smooth", [0.0, 0.5])
def test_frames_are_the_same_bytes_at_1_2_and_3_threads(tmp_path, shot, smooth, restore_threads):
    cfg = RenderCfg(device="cpu", smooth=SmoothCfg(strength=smooth))
    look = graded_look()
    renders = {}
    for threads in THREADS:
        torch.set_num_threads(threads)
        assert torch.get_num_threads() == threads
        out = tmp_path / f"t{threads}"
        render_shot(open_shot(shot), look, out, cfg, PNG)
        renders[threads] = _frames(out)
    assert len(renders[1]) == len(NUMBERS)
    for threads in THREADS[1:]:
        differ = sorted(name for name in renders[1] if renders[1][name] != renders[threads][name])
        assert not differ, f"{threads} threads vs 1: {differ} differ"


def test_a_farm_at_one_thread_per_task_renders_what_two_threads_render(tmp_path, shot, restore_threads):
    pytest.importorskip("ray")
    torch.set_num_threads(2)
    look = graded_look()
    with ray_session(num_cpus=2):
        for smooth in (0.0, 0.5):
            cfg = RenderCfg(device="cpu", smooth=SmoothCfg(strength=smooth))
            render_shot(open_shot(shot), look, tmp_path / f"single{smooth}", cfg, PNG)
            render_on_ray(
                open_shot(shot), look, tmp_path / f"farm{smooth}", cfg, FarmCfg(chunk=2, cpus_per_task=1), PNG
            )
            single, farm = _frames(tmp_path / f"single{smooth}"), _frames(tmp_path / f"farm{smooth}")
            assert len(single) == len(NUMBERS)
            assert not sorted(name for name in single if single[name] != farm[name]), f"smooth {smooth}"


@pytest.mark.parametrize("preset", ["hrnet", "hrnet-small"])
def test_the_network_gives_the_same_bits_up_to_16_threads(preset, restore_threads):
    """The network alone at work sizes from tiny to the default, up to a 16-core node's threads."""
    torch.manual_seed(0)
    net = HRNet(NET_PRESETS[preset]).eval()
    with torch.no_grad():
        net.head.weight.normal_(0, 0.05)
        net.set_colour(torch.eye(3) * 0.9 + 0.03, torch.full((3,), 0.02))
    frame = to_tensor(read_image(SAMPLES / "shot" / "shot.1010.png").pixels)
    for long_side in (64, 128, 512):
        x = resize(frame, long_side_size(*frame.shape[-2:], long_side))
        outs = {}
        for threads in (1, 2, 3, 9, 16):
            torch.set_num_threads(threads)
            with torch.inference_mode():
                outs[threads] = net(x)
        assert [t for t in outs if not torch.equal(outs[t], outs[1])] == [], f"{preset} at {long_side} px"
