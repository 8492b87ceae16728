"""hrstyle.grade.steps: the grading steps on tensors, batches, and the config they take."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from helpers import make_look, psnr, sample_pixels
from torch import nn

from hrstyle.errors import DeviceMemoryError, InputError
from hrstyle.grade import steps
from hrstyle.grade.config import RenderCfg
from hrstyle.grade.steps import grade_batch, grade_frames, run_native_tiled, run_network, to_work_size
from hrstyle.io.imaging import resize
from hrstyle.io.tensors import to_tensor


def test_guided_and_native_agree_on_a_frame_at_the_work_size():
    look = make_look()
    frame = to_tensor(sample_pixels(step=15))  # 64x36, the look's work size
    native = grade_batch(look, frame, RenderCfg(native=True))
    guided = grade_batch(look, frame, RenderCfg())
    assert guided.shape == native.shape == frame.shape and guided.dtype == torch.float32
    # The look moves pixels by 0.05 on average (24.5 dB); the guided fit is within
    # a fifth of that (35.4 dB), the part of the change no local recolour can make.
    assert (native - frame).abs().mean() > 0.04 and psnr(native, frame) < 26
    assert (guided - native).abs().mean() < 0.012 and psnr(guided, native) > 34


def test_the_carry_to_full_resolution_keeps_the_work_size_grade():
    look = make_look()
    full = to_tensor(sample_pixels(step=4))  # 240x135, about 4x the work size
    work_in = to_work_size(full, look)
    work = tuple(work_in.shape[-2:])
    assert work == (36, 64)
    work_out = run_network(look.net, work_in, RenderCfg())
    out = steps.carry_to_full_res(full, work_in, work_out, RenderCfg())
    assert out.shape == full.shape
    assert psnr(resize(out, work), work_out) > 32
    # Full-resolution detail is the input's: the high frequencies pass through.
    detail = full - resize(resize(full, work), tuple(full.shape[-2:]))
    out_detail = out - resize(resize(out, work), tuple(full.shape[-2:]))
    assert torch.corrcoef(torch.stack([detail.flatten(), out_detail.flatten()]))[0, 1] > 0.9


@pytest.mark.parametrize("native", [False, True])
def test_an_identity_look_is_exactly_the_identity(native):
    frame = to_tensor(sample_pixels(step=8))  # 120x68: two by two tiles for --native
    out = grade_batch(make_look(grade=0), frame, RenderCfg(native=native, tile=64))
    torch.testing.assert_close(out, frame, atol=1e-6, rtol=0)


@pytest.mark.parametrize("pad", [0, 5])
def test_native_tiles_blend_back_to_the_whole_frame(pad):
    # A per-pixel network sees no context, so tiling may change nothing: this checks coverage and weights.
    net = nn.Conv2d(3, 3, 1)
    frame = torch.rand(2, 3, 37, 53)
    tiled = run_native_tiled(net, frame, RenderCfg(native=True, tile=16, tile_pad=pad))
    torch.testing.assert_close(tiled, net(frame).detach(), atol=1e-6, rtol=0)


def test_batches_grade_like_single_frames():
    look = make_look()
    frames = torch.cat([to_tensor(sample_pixels(n, step=8)) for n in (1001, 1010)])
    both = grade_batch(look, frames, RenderCfg())
    one = grade_batch(look, frames[1:], RenderCfg())
    torch.testing.assert_close(both[1:], one, atol=1e-5, rtol=0)


def test_cuda_out_of_memory_halves_the_batch(monkeypatch):
    sizes = []

    def grade(look, frames, cfg, smoother=None, links=()):
        sizes.append(len(frames))
        if len(frames) > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return frames + 1

    monkeypatch.setattr(steps, "grade_batch", grade)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    frames = torch.rand(3, 3, 8, 8)
    out, batch_size = grade_frames(None, frames, RenderCfg(), batch_size=4)
    assert batch_size == 1 and sizes == [3, 2, 1, 1, 1]
    torch.testing.assert_close(out, frames + 1)

    def always_out_of_memory(look, frames, cfg, smoother=None, links=()):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(steps, "grade_batch", always_out_of_memory)
    with pytest.raises(DeviceMemoryError, match="smaller --tile \\(now 256\\)"):
        grade_frames(None, frames, RenderCfg(native=True, tile=256), batch_size=1)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"batch_size": 0}, "batch size"),
        ({"tile": 5}, "tile"),
        ({"tile_pad": -1}, "tile padding"),
        ({"radius": 0}, "radius"),
        ({"eps": 0.0}, "eps"),
        ({"precision": "fp8"}, "precision"),
    ],
)
def test_render_cfg_checks_its_values(kwargs, fragment):
    with pytest.raises(InputError, match=fragment):
        RenderCfg(**kwargs)


def test_half_precision_is_refused_on_the_cpu():
    with pytest.raises(InputError, match="half precision is for a GPU"):
        steps.prepare_look(make_look(), RenderCfg(device="cpu", precision="bf16"))


@pytest.mark.parametrize("native", [False, True])
def test_the_mix_blends_the_grade_towards_the_untouched_frame(native):
    look, frame = make_look(grade=0.02), to_tensor(sample_pixels(step=8))
    cfg = RenderCfg(native=native, tile=64)
    full, half = grade_batch(look, frame, cfg), grade_batch(look, frame, replace(cfg, mix=0.5))
    assert torch.equal(grade_batch(look, frame, replace(cfg, mix=1.0)), full)
    torch.testing.assert_close(grade_batch(look, frame, replace(cfg, mix=0.0)), frame, atol=1e-6, rtol=0)
    assert (full - frame).abs().mean() > 0.01
    torch.testing.assert_close(half - frame, (full - frame) / 2, atol=1e-5, rtol=0)
    with pytest.raises(InputError, match="--mix 1.5"):
        RenderCfg(mix=1.5)
