"""hrstyle.io.imaging: the resize tune and render share, so a look runs at exactly its tuned size."""

from __future__ import annotations

import torch
from helpers import SAMPLES

from hrstyle.io.imaging import long_side_size, resize, resize_long_side
from hrstyle.io.stills import read_image
from hrstyle.io.tensors import to_tensor


def test_long_side_size_scales_down_keeping_the_aspect_and_never_up():
    assert long_side_size(540, 960, 256) == (144, 256)
    assert long_side_size(960, 540, 256) == (256, 144)
    assert long_side_size(540, 960, 4096) == (540, 960)
    assert long_side_size(3, 4000, 16) == (1, 16)  # never a zero side


def test_resize_is_antialiased_and_a_no_op_at_the_same_size():
    frame = to_tensor(read_image(SAMPLES / "keyframe.png").pixels)
    assert resize(frame, (540, 960)) is frame
    small = resize_long_side(frame, 240)
    assert small.shape == (1, 3, 135, 240)
    # Antialiased: the mean colour survives a 4x reduction, and fine stripes average out instead of aliasing.
    torch.testing.assert_close(small.mean(dim=(2, 3)), frame.mean(dim=(2, 3)), atol=2e-3, rtol=0)
    stripes = torch.zeros(1, 3, 64, 64)
    stripes[..., ::2] = 1.0
    inside = resize(stripes, (16, 16))[..., 1:-1]  # the border columns see the edge's reflection
    torch.testing.assert_close(inside, torch.full_like(inside, 0.5), atol=1e-3, rtol=0)
