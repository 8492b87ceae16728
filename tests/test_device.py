"""hrstyle.device: where the network runs, and a clear error for a device this machine lacks."""

from __future__ import annotations

import pytest
import torch

from hrstyle.device import autocast, pick_device
from hrstyle.errors import InputError


def test_auto_picks_what_is_there_and_cpu_always_works():
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert pick_device("auto").type == expected
    assert pick_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_missing_gpu_is_a_one_line_input_error():
    with pytest.raises(InputError, match="--device cuda: no CUDA GPU is visible; use --device cpu"):
        pick_device("cuda")


def test_an_unknown_device_names_the_choices():
    with pytest.raises(InputError, match="--device tpu: expected one of auto, cpu, cuda, mps"):
        pick_device("tpu")


def test_autocast_leaves_the_cpu_in_float32():
    x = torch.randn(4, 4)
    with autocast(torch.device("cpu")):
        assert (x @ x).dtype == torch.float32
