"""Fitting a 3D LUT to (input RGB -> output RGB) samples.

`fit_lut` solves, for the offset ``g = lut - identity`` on the lattice,

    mean_s |interp(g, x_s) - (y_s - x_s)|² / h³ + smoothness · Σ_edges |Δg / h|² + (smoothness / reach²) · Σ |g|²

with ``h = 1 / (N - 1)`` the lattice spacing. Scaled this way the terms are a
discretised ``∫ρ|g - t|² + λ∫|∇g|² + μ∫|g|²`` (ρ the samples' density), so
the parameters mean the same at every lattice size: within the data the fit
follows it down to a length of about ``sqrt(smoothness / ρ)``; away from it the
offset decays back to the identity over about ``reach`` (a fraction of the
domain). The normal equations are a 27-point stencil on the lattice (the
samples couple the corners of their cell; the Laplacian couples neighbours),
solved matrix-free by Jacobi-preconditioned conjugate gradients in torch: no
sparse-matrix library is needed, and the system is small (N³ unknowns for each
of the 3 channels; a 33³ fit takes well under a second, a 65³ one a few).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError, ShapeError
from .config import DEFAULT_REACH, DEFAULT_SMOOTHNESS
from .lut import (
    CENTRE,
    MAX_SIZE,
    RGB,
    Lut3D,
    cell_corners,
    check_method,
    lattice,
    locate,
)

_CG_TOLERANCE = 1e-5  # relative residual: leaves ~1e-4 (0.03 code values) in the table


_CG_MAX_ITERATIONS = 3000


def fit_lut(
    inputs: Tensor,
    outputs: Tensor,
    size: int = 33,
    smoothness: float = DEFAULT_SMOOTHNESS,
    *,
    reach: float = DEFAULT_REACH,
    method: str = "tetrahedral",
    domain_min: RGB = (0.0, 0.0, 0.0),
    domain_max: RGB = (1.0, 1.0, 1.0),
    title: str = "",
) -> Lut3D:
    """The smooth LUT that, applied with ``method``, best maps ``inputs`` to ``outputs``
    ((M,3) float RGB pairs; see the module doc for the objective).

    Samples whose input lies outside the domain are left out: a LUT clamps such
    inputs, so they say nothing about the colours inside. Colours with no
    samples nearby get the identity plus the offset of the nearest data,
    fading to the identity over ``reach``.

    >>> x = torch.rand(10000, 3)
    >>> lut = fit_lut(x, x ** 2, size=9)
    >>> float((apply_lut(lut, x.T.reshape(1, 3, 100, 100)) - (x ** 2).T.reshape(1, 3, 100, 100)).abs().max()) < 0.02
    True

    Raises:
        ShapeError: inputs and outputs are not matching (M,3).
        InputError: non-finite samples, none inside the domain, or a bad parameter.
    """
    check_method(method)
    if inputs.ndim != 2 or inputs.shape[1] != 3 or outputs.shape != inputs.shape:
        raise ShapeError(
            f"samples: expected inputs and outputs of one (M,3) shape, got {tuple(inputs.shape)} "
            f"and {tuple(outputs.shape)}"
        )
    if not (isinstance(size, int) and 3 <= size <= MAX_SIZE):
        raise ShapeError(f"LUT size: expected 3 to {MAX_SIZE} for a fit, got {size!r}")
    if not (smoothness > 0 and reach > 0 and np.isfinite(smoothness) and np.isfinite(reach)):
        raise InputError(f"fit: expected smoothness > 0 and reach > 0, got {smoothness!r} and {reach!r}")
    x, y = inputs.detach().to("cpu", torch.float64), outputs.detach().to("cpu", torch.float64)
    if not bool(torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise InputError("samples: contain NaN or Inf")
    inside = ((x >= torch.tensor(domain_min, dtype=x.dtype)) & (x <= torch.tensor(domain_max, dtype=x.dtype))).all(1)
    x, y = x[inside], y[inside]
    if len(x) == 0:
        raise InputError(f"samples: none inside the LUT's domain {domain_min} .. {domain_max}")
    stencil, rhs = _normal_equations(x, y - x, size, domain_min, domain_max, method)
    _add_smoothness(stencil, size, smoothness * (size - 1) ** 2, smoothness / reach**2)
    # Accumulated in float64; solved in float32, which halves the memory traffic of each
    # iteration: the solver's tolerance, not the precision, bounds the error.
    offset = _conjugate_gradient(stencil.float(), rhs.float()).permute(1, 2, 3, 0)
    table = lattice(size, domain_min, domain_max) + offset
    return Lut3D(table.float(), tuple(domain_min), tuple(domain_max), title)


def _stencil_index(delta: int | Tensor, size: int) -> int | Tensor:
    """Stencil index (0..26) of the neighbour at flat offset ``delta`` (each axis -1..1)."""
    t = delta + (1 + size + size * size)  # each axis now 0..2, which size >= 3 keeps apart
    return t % size + 3 * (t // size % size) + 9 * (t // (size * size))


def _normal_equations(
    x: Tensor, target: Tensor, size: int, lo: Sequence[float], hi: Sequence[float], method: str
) -> tuple[Tensor, Tensor]:
    """The data term's normal equations, scaled by 1/(M h³): the matrix as a 27-point stencil
    (27,N,N,N) [b][g][r] and the right-hand side (N,N,N,3), float64. ``x``, ``target``: (M,3)."""
    nodes = size**3
    base, fractions = locate(x.unbind(1), size, lo, hi)
    base = base.long()
    corners = cell_corners(method, fractions, size)
    stencil = torch.zeros(27 * nodes, dtype=torch.float64)
    rhs = torch.zeros(nodes, 3, dtype=torch.float64)
    for offset_k, weight_k in corners:
        node = base + offset_k
        rhs.index_add_(0, node, weight_k[:, None] * target)
        for offset_l, weight_l in corners:
            stencil.index_add_(0, _stencil_index(offset_l - offset_k, size) * nodes + node, weight_k * weight_l)
    scale = (size - 1) ** 3 / len(x)
    return stencil.mul_(scale).view(27, size, size, size), rhs.mul_(scale).view(size, size, size, 3)


def _add_smoothness(stencil: Tensor, size: int, laplacian: float, pull: float) -> None:
    """Add ``laplacian`` times the lattice graph's Laplacian and ``pull`` times the identity, in place."""
    for axis, stride in ((2, 1), (1, size), (0, size * size)):
        for sign, start in ((1, 0), (-1, 1)):  # nodes that have a neighbour on this side
            stencil[_stencil_index(sign * stride, size)].narrow(axis, start, size - 1).sub_(laplacian)
            stencil[CENTRE].narrow(axis, start, size - 1).add_(laplacian)
    stencil[CENTRE].add_(pull)


def _stencil_product(stencil: Tensor, active: list[int], padded: Tensor, out: Tensor) -> Tensor:
    """``out`` (3,N,N,N) = the stencil (27,N,N,N) times x, over its nonzero entries ``active``;
    x is the interior of ``padded`` (3,N+2,N+2,N+2), whose border is zero."""
    n = out.shape[-1]
    out.zero_()
    for s in active:
        db, dg, dr = s // 9, s // 3 % 3, s % 3
        out.addcmul_(stencil[s], padded[:, db : db + n, dg : dg + n, dr : dr + n])
    return out


def _conjugate_gradient(stencil: Tensor, rhs: Tensor) -> Tensor:
    """Solve stencil · x = rhs (N,N,N,3) for the three channels at once by Jacobi-preconditioned
    conjugate gradients. Returns x as (3,N,N,N)."""
    n = stencil.shape[-1]
    active = [s for s in range(27) if bool(stencil[s].any())]
    inverse_diagonal = stencil[CENTRE].reciprocal()
    r = rhs.permute(3, 0, 1, 2).contiguous()
    x = torch.zeros_like(r)
    padded = torch.zeros(3, n + 2, n + 2, n + 2, dtype=r.dtype)  # the search direction, with a zero border
    p = padded[:, 1:-1, 1:-1, 1:-1]
    ap = torch.empty_like(r)
    goal = _norms(r) * _CG_TOLERANCE
    z = r * inverse_diagonal
    p.copy_(z)
    rz = _dots(r, z)
    for _ in range(_CG_MAX_ITERATIONS):
        if bool((_norms(r) <= goal).all()):
            break
        _stencil_product(stencil, active, padded, ap)
        pap = _dots(p, ap)
        alpha = torch.where(pap > 0, rz / pap, torch.zeros_like(pap))[:, None, None, None]
        x.addcmul_(alpha, p)
        r.addcmul_(alpha, ap, value=-1)
        torch.mul(r, inverse_diagonal, out=z)
        rz_next = _dots(r, z)
        beta = torch.where(rz > 0, rz_next / rz, torch.zeros_like(rz))[:, None, None, None]
        p.mul_(beta).add_(z)
        rz = rz_next
    return x


def _dots(a: Tensor, b: Tensor) -> Tensor:
    """Per-channel dot products of (3,N,N,N) tensors."""
    return (a * b).sum((1, 2, 3))


def _norms(x: Tensor) -> Tensor:
    return x.square().sum((1, 2, 3)).sqrt()
