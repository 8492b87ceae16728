"""The locally affine colour transform of the colour guided filter (He et al. 2013).

In every (2r+1)² window each target channel is fitted as an affine function
of the guide's RGB; the coefficients are averaged over the windows covering a
pixel and applied there. Rendering uses it to carry a work-size network output
to full resolution (`guided_upsample`), and metrics.affine_residual uses the
same fit to measure how far an output is from a local recolour of its input.

Layout: ``A`` is (B,Ct,3,H,W), the weights of the guide's R, G, B for each
target channel; ``b`` is (B,Ct,H,W). Everything is computed in float32 whatever
the input dtype, because banding in a grade is a defect.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import InputError, ShapeError

# Upper triangle of the guide's 3x3 covariance, in the order the stacked tensors use.
_PAIRS = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
_DIAGONAL = [0, 3, 5]


def _check_batch(x: Tensor, name: str, channels: int | None = None) -> None:
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        want = f"(B,{channels},H,W)" if channels is not None else "(B,C,H,W)"
        raise ShapeError(f"{name}: expected {want}, got {tuple(x.shape)}")


def _check_params(r: int, eps: float | None = None) -> None:
    if not isinstance(r, int) or isinstance(r, bool) or r < 0:
        raise InputError(f"radius: expected an int >= 0, got {r!r}")
    if eps is not None and not eps > 0:
        raise InputError(f"eps: expected a number > 0, got {eps!r}")


def _box_mean_1d(x: Tensor, r: int, dim: int) -> Tensor:
    """Mean over [i-r, i+r] clipped to the axis, from one cumulative sum."""
    n = x.shape[dim]
    c = x.cumsum(dim)
    pad = list(c.shape)
    pad[dim] = r + 1
    head = c.new_zeros(pad)
    pad[dim] = r
    tail = c.narrow(dim, n - 1, 1).expand(pad)
    # Padded so that padded[k] = sum of x[: clamp(k - r, 0, n)]; the window sum is then one subtraction.
    padded = torch.cat((head, c, tail), dim)
    sums = padded.narrow(dim, 2 * r + 1, n) - padded.narrow(dim, 0, n)
    i = torch.arange(n, device=x.device)
    count = ((i + r).clamp(max=n - 1) - (i - r).clamp(min=0) + 1).to(x.dtype)
    shape = [1] * x.ndim
    shape[dim] = n
    return sums / count.view(shape)


def _box(x: Tensor, r: int) -> Tensor:
    # Centering keeps the running sums small, so float32 cumsums stay accurate on 8K rows.
    offset = x.mean(dim=(-2, -1), keepdim=True)
    return _box_mean_1d(_box_mean_1d(x - offset, r, -2), r, -1) + offset


def box_filter(x: Tensor, r: int) -> Tensor:
    """Mean of ``x`` over each (2r+1)² window, clipped to the image at the borders.

    ``x``: (B,C,H,W), any float dtype and device. Returns (B,C,H,W) float32.
    Cost is O(1) per pixel in ``r`` (cumulative sums).

    >>> box_filter(torch.ones(1, 1, 5, 7), 2).unique()
    tensor([1.])
    """
    return box_mean(x.float(), r)


def box_mean(x: Tensor, r: int) -> Tensor:
    """`box_filter` in ``x``'s own dtype: float64 where second moments need more than float32
    resolves (a local fit with a tiny eps, as grade_flicker's)."""
    _check_batch(x, "x")
    _check_params(r)
    return _box(x, r)


def _sym3_inverse(s: Tensor) -> Tensor:
    """Inverse of symmetric 3x3 matrices stored as their upper triangle (B,6,H,W)."""
    a, b, c, d, e, f = s.unbind(1)  # [[a b c] [b d e] [c e f]]
    cof = torch.stack((d * f - e * e, c * e - b * f, b * e - c * d, a * f - c * c, b * c - a * e, a * d - b * b), 1)
    det = a * cof[:, 0] + b * cof[:, 1] + c * cof[:, 2]
    return cof / det.unsqueeze(1)


def _sym3_matvec(s: Tensor, v: Tensor) -> Tensor:
    """Symmetric (B,6,H,W) matrices times (B,3,H,W) vectors."""
    a, b, c, d, e, f = s.unbind(1)
    x, y, z = v.unbind(1)
    return torch.stack((a * x + b * y + c * z, b * x + d * y + e * z, c * x + e * y + f * z), 1)


def fit_affine(guide: Tensor, target: Tensor, r: int, eps: float) -> tuple[Tensor, Tensor]:
    """Fit each target channel as an affine function of the guide's RGB, per window.

    ``guide``: (B,3,H,W) RGB in [0,1]; ``target``: (B,Ct,H,W). ``eps`` regularises
    the guide's 3x3 covariance (ridge on the slopes), in [0,1]² units.
    Returns ``A`` (B,Ct,3,H,W) and ``b`` (B,Ct,H,W), float32, already smoothed
    with the same box, so ``apply_affine(A, b, guide)`` is the guided filter output.

    >>> I = torch.rand(1, 3, 16, 16)
    >>> A, b = fit_affine(I, 0.5 * I, r=2, eps=1e-6)
    >>> torch.allclose(apply_affine(A, b, I), 0.5 * I, atol=1e-4)
    True
    """
    _check_batch(guide, "guide", 3)
    _check_batch(target, "target")
    if target.shape[0] != guide.shape[0] or target.shape[-2:] != guide.shape[-2:]:
        raise ShapeError(
            f"target: expected (B,Ct,H,W) = {(guide.shape[0], 'Ct', *guide.shape[-2:])}, got {tuple(target.shape)}"
        )
    _check_params(r, eps)
    guide, target = guide.float(), target.float()

    mean_i = _box(guide, r)
    second = _box(torch.stack([guide[:, i] * guide[:, j] for i, j in _PAIRS], 1), r)
    cov = second - torch.stack([mean_i[:, i] * mean_i[:, j] for i, j in _PAIRS], 1)
    cov[:, _DIAGONAL] += eps
    inv = _sym3_inverse(cov)
    del second, cov

    # One target channel at a time keeps the full-size temporaries to a handful of planes.
    a_list, b_list = [], []
    for ch in range(target.shape[1]):
        p = target[:, ch : ch + 1]
        means = _box(torch.cat((p, guide * p), 1), r)  # mean_p, mean_Ip (3)
        a = _sym3_matvec(inv, means[:, 1:] - mean_i * means[:, :1])
        b = means[:, :1] - (a * mean_i).sum(1, keepdim=True)
        smoothed = _box(torch.cat((a, b), 1), r)
        a_list.append(smoothed[:, :3])
        b_list.append(smoothed[:, 3])
    return torch.stack(a_list, 1), torch.stack(b_list, 1)


def apply_affine(A: Tensor, b: Tensor, guide: Tensor) -> Tensor:
    """q = A·I + b per pixel. ``A`` (B,Ct,3,H,W), ``b`` (B,Ct,H,W), ``guide`` (B,3,H,W) -> (B,Ct,H,W) float32."""
    _check_batch(guide, "guide", 3)
    if A.ndim != 5 or A.shape[2] != 3 or b.shape != A.shape[:2] + A.shape[3:] or A.shape[3:] != guide.shape[-2:]:
        raise ShapeError(
            f"expected A (B,Ct,3,H,W), b (B,Ct,H,W) at the guide's {tuple(guide.shape[-2:])}, "
            f"got A {tuple(A.shape)}, b {tuple(b.shape)}"
        )
    return _apply(A.float(), b.float(), guide.float())


def _apply(A: Tensor, b: Tensor, guide: Tensor) -> Tensor:
    # In-place multiply-adds: no (B,Ct,3,H,W) product is ever materialised.
    out = b.clone()
    for k in range(3):
        out.addcmul_(A[:, :, k], guide[:, k : k + 1])
    return out


def upsample_affine(A: Tensor, b: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Bilinear (align_corners=False) resize of ``A`` (B,Ct,3,h,w) and ``b`` (B,Ct,h,w) to ``size`` = (H, W)."""
    if A.ndim != 5 or A.shape[2] != 3 or b.shape != A.shape[:2] + A.shape[3:]:
        raise ShapeError(f"expected A (B,Ct,3,h,w) and b (B,Ct,h,w), got A {tuple(A.shape)}, b {tuple(b.shape)}")
    bsz, ct, _, h, w = A.shape
    stacked = torch.cat((A.float().reshape(bsz, ct * 3, h, w), b.float()), 1)
    up = F.interpolate(stacked, size=tuple(size), mode="bilinear", align_corners=False)
    return up[:, : ct * 3].reshape(bsz, ct, 3, *up.shape[-2:]), up[:, ct * 3 :]


def apply_upsampled(A: Tensor, b: Tensor, guide: Tensor) -> Tensor:
    """`apply_affine` with ``A`` (B,Ct,3,h,w) and ``b`` (B,Ct,h,w) fitted at a lower
    resolution: bilinearly upsampled to the ``guide`` (B,3,H,W) and applied there.
    Returns (B,Ct,H,W) float32 on the guide's device.
    """
    _check_batch(guide, "guide", 3)
    if A.ndim != 5 or A.shape[2] != 3 or b.shape != A.shape[:2] + A.shape[3:] or A.shape[0] != guide.shape[0]:
        raise ShapeError(
            f"expected A (B,Ct,3,h,w) and b (B,Ct,h,w) with the guide's batch {guide.shape[0]}, "
            f"got A {tuple(A.shape)}, b {tuple(b.shape)}"
        )
    guide = guide.float()
    size = tuple(guide.shape[-2:])
    # One output channel at a time: its 4 coefficient planes are the only full-size temporaries.
    out = torch.empty((guide.shape[0], A.shape[1], *size), device=guide.device)
    for ch in range(A.shape[1]):
        a_up, b_up = upsample_affine(A[:, ch : ch + 1].to(guide.device), b[:, ch : ch + 1].to(guide.device), size)
        out[:, ch : ch + 1] = _apply(a_up, b_up, guide)
    return out


def guided_upsample(lo_in: Tensor, lo_out: Tensor, hi_in: Tensor, r: int, eps: float) -> Tensor:
    """Carry the low-res mapping ``lo_in`` -> ``lo_out`` to ``hi_in``.

    ``lo_in`` (B,3,h,w) is ``hi_in`` (B,3,H,W) downscaled, RGB in [0,1];
    ``lo_out`` (B,Ct,h,w) is what was made of it. The affine fit at (h,w) is
    bilinearly upsampled and applied to ``hi_in``. Returns (B,Ct,H,W) float32
    on ``hi_in``'s device.
    """
    _check_batch(hi_in, "hi_in", 3)
    if hi_in.shape[0] != lo_in.shape[0]:
        raise ShapeError(f"hi_in: expected batch {lo_in.shape[0]} like lo_in, got {tuple(hi_in.shape)}")
    return apply_upsampled(*fit_affine(lo_in, lo_out, r, eps), hi_in)
