import numpy as np
import pytest
from skimage import data

from hrstyle.errors import InputError, ShapeError
from hrstyle.temporal import compute_flow, occlusion_mask, warp

SHIFT = (3, 2)  # (dx, dy) of the scene between the two frames, in pixels
MARGIN = 24


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    """Two 256² gray frames of a textured photo; the second sees the scene moved by -SHIFT."""
    gravel = data.gravel()
    dx, dy = SHIFT
    return np.ascontiguousarray(gravel[50:306, 40:296]), np.ascontiguousarray(gravel[50 + dy : 306 + dy, 40 + dx : 296 + dx])


def constant_flow(shape: tuple[int, int], dx: float, dy: float) -> np.ndarray:
    return np.tile(np.float32([dx, dy]), (*shape, 1))


def interior(x: np.ndarray) -> np.ndarray:
    return x[MARGIN:-MARGIN, MARGIN:-MARGIN]


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_flow_of_a_known_shift(pair, method):
    prev, nxt = pair
    # nxt(x) = prev(x + SHIFT): the backward flow that brings prev to nxt is +SHIFT.
    flow = compute_flow(prev, nxt, method)
    assert flow.shape == (*prev.shape, 2) and flow.dtype == np.float32
    close = np.abs(interior(flow) - np.float32(SHIFT)).max(axis=-1) < 0.25
    assert close.mean() > 0.98
    np.testing.assert_allclose(np.median(interior(flow).reshape(-1, 2), axis=0), SHIFT, atol=0.05)


def test_warp_along_the_flow_reproduces_the_next_frame(pair):
    prev, nxt = pair
    warped = warp(prev.astype(np.float32), compute_flow(prev, nxt))
    assert np.abs(interior(warped) - interior(nxt)).mean() < 1.0  # gray levels out of 255


def test_warp_integer_shift_is_exact_and_replicates_the_border():
    image = np.random.default_rng(0).random((6, 8, 3), dtype=np.float32)
    out = warp(image, constant_flow((6, 8), 2, 1))
    np.testing.assert_array_equal(out[:-1, :-2], image[1:, 2:])
    np.testing.assert_array_equal(out[-1, :-2], image[-1, 2:])  # rows past the bottom repeat the last one
    assert out.shape == image.shape


def test_occlusion_mask_keeps_a_translation(pair):
    prev, nxt = pair
    mask = occlusion_mask(compute_flow(prev, nxt), compute_flow(nxt, prev))
    assert mask.dtype == bool and mask.shape == prev.shape
    assert interior(mask).mean() > 0.99


def test_occlusion_mask_threshold():
    shape = (4, 5)
    f_b = constant_flow(shape, 3, 0)
    assert occlusion_mask(f_b, constant_flow(shape, -3, 0)).all()
    # 0.6 px of disagreement: |0.6|² = 0.36 < 0.01·(9 + 5.76) + 0.5 = 0.65 -> kept.
    assert occlusion_mask(f_b, constant_flow(shape, -2.4, 0)).all()
    # 1 px: 1 > 0.01·(9 + 4) + 0.5 = 0.63 -> occluded.
    assert not occlusion_mask(f_b, constant_flow(shape, -2, 0)).any()


def test_rejects_bad_input(pair):
    prev, nxt = pair
    with pytest.raises(ShapeError, match="uint8"):
        compute_flow(prev.astype(np.float32), nxt)
    with pytest.raises(ShapeError, match="shape of src"):
        compute_flow(prev, nxt[:-1])
    with pytest.raises(InputError, match="flow method"):
        compute_flow(prev, nxt, "raft")
    with pytest.raises(ShapeError, match=r"expected \(H,W,2\)"):
        warp(prev, np.zeros((*prev.shape, 3), np.float32))
    with pytest.raises(ShapeError, match="like flow_b"):
        occlusion_mask(constant_flow((4, 5), 0, 0), constant_flow((4, 6), 0, 0))
