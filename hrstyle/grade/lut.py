"""3D colour LUTs: fit one to (input RGB -> output RGB) samples, apply it, read and write .cube files.

Layout: `Lut3D.table` is (N,N,N,3) float32 indexed ``[b][g][r]``: ``table[b, g, r]``
is the output RGB for the input whose channels sit at lattice steps ``r, g, b``
(input value ``domain_min + step / (N - 1) * (domain_max - domain_min)`` per
channel). Flattened in C order that is red fastest, the order of a .cube
file's rows, so reading and writing are reshapes.

Interpolation (`INTERPOLATIONS`): ``"tetrahedral"`` blends the 4 corners of
the tetrahedron around the input inside its lattice cell (the six tetrahedra
share the cell's neutral diagonal, so greys stay grey); ``"trilinear"`` blends
all 8 corners. Inputs outside the domain are clamped to it, as grading
applications do. OpenColorIO's default for a 3D LUT in a FileTransform
(``INTERP_DEFAULT``) is trilinear; ask it for ``INTERP_TETRAHEDRAL`` or
``INTERP_BEST`` to match hrstyle's default.

`apply_lut` has two backends giving the same numbers (bit for bit when
tetrahedral, within 1e-6 when trilinear): torch, vectorised over chunks of
rows, for GPUs; and OpenColorIO's CPU processor, several times faster than
torch on the CPU, so ``"auto"`` takes it there.

Fitting (`fit_lut`) solves, for the offset ``g = lut - identity`` on the lattice,

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

import functools
import hashlib
import itertools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import PyOpenColorIO as ocio
import torch
from torch import Tensor

from ..io.atomic import read_small_file, write_bytes_atomic
from ..errors import InputError, LutFormatError, ShapeError

INTERPOLATIONS = ("tetrahedral", "trilinear")
BACKENDS = ("auto", "torch", "ocio")
MIN_SIZE, MAX_SIZE = 2, 256  # LUT_3D_SIZE bounds of the .cube specification
CUBE_SUFFIX = ".cube"
DEFAULT_SMOOTHNESS = 1e-4
DEFAULT_REACH = 0.25
RGB = tuple[float, float, float]

# Pixels per step of `apply_lut`: temporaries stay near the CPU's cache and an 8K frame never
# holds more than ~20 MB of them.
_CHUNK_PIXELS = 1 << 18
_OCIO_INTERPOLATION = {"tetrahedral": ocio.INTERP_TETRAHEDRAL, "trilinear": ocio.INTERP_LINEAR}
_MAX_FILE = 1 << 30  # a 129³ .cube is ~60 MB; never read gigabytes because a path ends in .cube
_CG_TOLERANCE = 1e-5  # relative residual: leaves ~1e-4 (0.03 code values) in the table
_CG_MAX_ITERATIONS = 3000
_CENTRE = 13  # stencil index of the node itself (offsets -1..1 on r, g, b: index = dr+1 + 3(dg+1) + 9(db+1))


def _tetrahedra() -> tuple[list[int], list[int]]:
    """For each ordering code ``(fr > fg) + 2 (fg > fb) + 4 (fr > fb)``, the corner codes
    (bit 1 = r+1, 2 = g+1, 4 = b+1) after the largest and after the two largest steps."""
    bit = {"r": 1, "g": 2, "b": 4}
    first, second = [0] * 8, [0] * 8
    for code in range(8):
        beats = {("r", "g"): code & 1, ("g", "b"): code >> 1 & 1, ("r", "b"): code >> 2 & 1}
        beats |= {(q, p): 1 - wins for (p, q), wins in beats.items()}  # a tie goes to the later channel
        for a, b, c in itertools.permutations("rgb"):
            if beats[a, b] and beats[b, c] and beats[a, c]:
                first[code], second[code] = bit[a], bit[a] | bit[b]
    return first, second  # codes 3 and 4 are cyclic and cannot occur; they keep corner 0


_TETRA_FIRST, _TETRA_SECOND = _tetrahedra()


@dataclass(frozen=True, eq=False)
class Lut3D:
    """A 3D LUT: ``table`` (N,N,N,3) float32 indexed [b][g][r] (see the module doc),
    over the input box ``domain_min`` .. ``domain_max``, with a one-line ``title``."""

    table: Tensor
    domain_min: RGB = (0.0, 0.0, 0.0)
    domain_max: RGB = (1.0, 1.0, 1.0)
    title: str = ""

    def __post_init__(self) -> None:
        t = self.table
        if not (isinstance(t, Tensor) and t.dtype == torch.float32 and t.ndim == 4 and t.shape[3] == 3
                and t.shape[0] == t.shape[1] == t.shape[2]):
            got = f"{t.dtype} {tuple(t.shape)}" if isinstance(t, Tensor) else type(t).__name__
            raise ShapeError(f"LUT table: expected float32 (N,N,N,3), got {got}")
        if not MIN_SIZE <= t.shape[0] <= MAX_SIZE:
            raise ShapeError(f"LUT size: expected {MIN_SIZE} to {MAX_SIZE}, got {t.shape[0]}")
        if not bool(torch.isfinite(t).all()):
            raise InputError("LUT table: contains NaN or Inf")
        for name in ("domain_min", "domain_max"):
            value = getattr(self, name)
            if len(value) != 3 or not all(np.isfinite(v) for v in value):
                raise InputError(f"LUT {name}: expected three finite numbers, got {value!r}")
            object.__setattr__(self, name, tuple(float(v) for v in value))  # equal domains hash equal
        if not all(lo < hi for lo, hi in zip(self.domain_min, self.domain_max)):
            raise InputError(f"LUT domain: expected min < max per channel, got {self.domain_min} .. {self.domain_max}")
        if '"' in self.title or "\n" in self.title or "\r" in self.title:
            raise InputError(f"LUT title: expected one line without double quotes, got {self.title!r}")

    @property
    def size(self) -> int:
        return self.table.shape[0]

    @classmethod
    def identity(cls, size: int = 33, domain_min: RGB = (0.0, 0.0, 0.0), domain_max: RGB = (1.0, 1.0, 1.0),
                 title: str = "") -> Lut3D:
        """The LUT that changes nothing inside its domain.

        >>> Lut3D.identity(2).table[1, 0, 1].tolist()  # b=1, g=0, r=1
        [1.0, 0.0, 1.0]
        """
        if not (isinstance(size, int) and MIN_SIZE <= size <= MAX_SIZE):
            raise ShapeError(f"LUT size: expected {MIN_SIZE} to {MAX_SIZE}, got {size!r}")
        return cls(_lattice(size, domain_min, domain_max).float(), tuple(domain_min), tuple(domain_max), title)

    def to(self, device: torch.device | str) -> Lut3D:
        return replace(self, table=self.table.to(device))


def _lattice(size: int, lo: Sequence[float], hi: Sequence[float]) -> Tensor:
    """(N,N,N,3) float64 [b][g][r]: the input colour at each lattice node."""
    steps = torch.arange(size, dtype=torch.float64) / (size - 1)
    r, g, b = (lo[c] + steps * (hi[c] - lo[c]) for c in range(3))
    bb, gg, rr = torch.meshgrid(b, g, r, indexing="ij")
    return torch.stack([rr, gg, bb], dim=-1)


def _check_method(method: str) -> None:
    if method not in INTERPOLATIONS:
        raise InputError(f"LUT interpolation {method!r}: expected one of {', '.join(INTERPOLATIONS)}")


# --- where a colour falls on the lattice --------------------------------------------------------


def _locate(channels: Sequence[Tensor], size: int, lo: Sequence[float], hi: Sequence[float]
            ) -> tuple[Tensor, list[Tensor]]:
    """The flat index (int32, red fastest) of the low corner of each colour's lattice cell, and
    its position inside the cell per channel (r, g, b), in [0, 1]. ``channels``: three
    same-shaped float tensors; NaN counts as the domain's minimum, values outside it are clamped."""
    base: Tensor | None = None
    fractions = []
    for c, (x, stride) in enumerate(zip(channels, (1, size, size * size))):
        step = (x - lo[c]).mul_((size - 1) / (hi[c] - lo[c])).nan_to_num_(0.0).clamp_(0, size - 1)
        cell = step.floor().clamp_(max=size - 2)
        fractions.append(step.sub_(cell))
        # float32 holds these integers exactly: (N-2)(1+N+N²) < 2^24 for N <= 256.
        base = cell.mul_(stride) if base is None else base.add_(cell, alpha=stride)
    return base.to(torch.int32), fractions


def _corner_offset(code: int | Tensor, size: int) -> int | Tensor:
    """Flat index offset of a cell corner from its code (bit 1 = r+1, 2 = g+1, 4 = b+1)."""
    return (code & 1) + (code >> 1 & 1) * size + (code >> 2 & 1) * size * size


def _corners(method: str, fractions: list[Tensor], size: int) -> list[tuple[int | Tensor, Tensor]]:
    """The cell corners a colour is blended from: (flat offset from the cell's low corner, an
    int or an int32 tensor per colour; weight), the weights summing to 1."""
    fr, fg, fb = fractions
    if method == "trilinear":
        w = [(1 - f, f) for f in fractions]
        return [(_corner_offset(code, size), w[0][code & 1] * w[1][code >> 1 & 1] * w[2][code >> 2])
                for code in range(8)]
    order = ((fr > fg).to(torch.int32) + 2 * (fg > fb) + 4 * (fr > fb)).reshape(-1)
    first, second = (
        _corner_offset(torch.tensor(codes, dtype=torch.int32, device=fr.device), size)
        .index_select(0, order).view(fr.shape)
        for codes in (_TETRA_FIRST, _TETRA_SECOND)
    )
    high = torch.maximum(torch.maximum(fr, fg), fb)
    low = torch.minimum(torch.minimum(fr, fg), fb)
    middle = fr + fg + fb - high - low
    return [(0, 1 - high), (first, high - middle), (second, middle - low), (_corner_offset(7, size), low)]


# --- applying ---------------------------------------------------------------------------


def apply_lut(lut: Lut3D, frames: Tensor, method: str = "tetrahedral", backend: str = "auto") -> Tensor:
    """``lut`` applied to (B,3,H,W) float32 RGB frames -> (B,3,H,W) float32, on the frames' device.

    Inputs outside the LUT's domain are clamped to it (NaN counts as its
    minimum); the outputs are the table's values, unclipped. ``backend``:
    ``"torch"``, ``"ocio"`` (OpenColorIO's CPU processor; CPU tensors only) or
    ``"auto"`` (ocio on the CPU, torch elsewhere). Both work through the frames
    in chunks of rows, so memory stays bounded at 8K.

    >>> apply_lut(Lut3D.identity(2), torch.full((1, 3, 1, 1), 0.25)).flatten().tolist()
    [0.25, 0.25, 0.25]
    """
    _check_method(method)
    if frames.ndim != 4 or frames.shape[1] != 3 or frames.dtype != torch.float32:
        raise ShapeError(f"frames: expected float32 (B,3,H,W), got {frames.dtype} {tuple(frames.shape)}")
    if backend not in BACKENDS:
        raise InputError(f"LUT backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    on_cpu = frames.device.type == "cpu"
    if backend == "ocio" and not on_cpu:
        raise InputError(f"LUT backend ocio: runs on the CPU, got frames on {frames.device}; use torch")
    batch, _, height, width = frames.shape
    rows = max(1, _CHUNK_PIXELS // max(1, batch * width))
    if backend == "ocio" or (backend == "auto" and on_cpu):
        return _apply_ocio(_ocio_processor(lut, method), frames, rows)
    planes = lut.table.to(frames.device).permute(3, 0, 1, 2).reshape(3, -1)  # (3, N³) red fastest
    out = torch.empty_like(frames)
    for top in range(0, height, rows):
        _apply_chunk(lut, planes, frames[:, :, top : top + rows], method, out[:, :, top : top + rows])
    return out


@functools.lru_cache(maxsize=4)
def _ocio_processor(lut: Lut3D, method: str) -> ocio.CPUProcessor:
    """OpenColorIO's CPU processor for ``lut`` (cached by identity): a matrix taking the domain
    to [0,1] (a no-op OCIO drops for the default domain), then the table, which clamps."""
    table = ocio.Lut3DTransform(gridSize=lut.size, interpolation=_OCIO_INTERPOLATION[method])
    table.setData(lut.table.detach().cpu().permute(2, 1, 0, 3).contiguous().numpy().ravel())  # OCIO: blue fastest
    scale = [1 / (hi - lo) for lo, hi in zip(lut.domain_min, lut.domain_max)]
    matrix = [scale[0], 0, 0, 0, 0, scale[1], 0, 0, 0, 0, scale[2], 0, 0, 0, 0, 1]
    domain = ocio.MatrixTransform(matrix=matrix, offset=[-lo * k for lo, k in zip(lut.domain_min, scale)] + [0])
    processor = ocio.Config.CreateRaw().getProcessor(ocio.GroupTransform([domain, table]))
    return processor.getDefaultCPUProcessor()


def _apply_ocio(processor: ocio.CPUProcessor, frames: Tensor, rows: int) -> Tensor:
    """``processor`` on (B,3,H,W) CPU frames, in place on a copy, ``rows`` rows of a frame at a time
    (so the other threads of a render get the interpreter between chunks)."""
    out = frames.contiguous().clone()
    width = out.shape[-1]
    for frame in out:
        for top in range(0, frame.shape[1], rows):
            planes = [plane.numpy() for plane in frame[:, top : top + rows]]
            processor.apply(ocio.PlanarImageDesc(*planes, width, planes[0].shape[0]))
    return out


def _apply_chunk(lut: Lut3D, planes: Tensor, x: Tensor, method: str, out: Tensor) -> None:
    base, fractions = _locate(x.unbind(1), lut.size, lut.domain_min, lut.domain_max)
    corners = _corners(method, fractions, lut.size)
    indices = [(base + offset).reshape(-1) for offset, _ in corners]
    for c in range(3):
        plane = out[:, c]
        for k, (index, (_, weight)) in enumerate(zip(indices, corners)):
            value = planes[c].index_select(0, index).view(weight.shape)
            if k == 0:
                torch.mul(weight, value, out=plane)
            else:
                plane.addcmul_(weight, value)


# --- fitting ----------------------------------------------------------------------------


def fit_lut(inputs: Tensor, outputs: Tensor, size: int = 33, smoothness: float = DEFAULT_SMOOTHNESS, *,
            reach: float = DEFAULT_REACH, method: str = "tetrahedral", domain_min: RGB = (0.0, 0.0, 0.0),
            domain_max: RGB = (1.0, 1.0, 1.0), title: str = "") -> Lut3D:
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
    _check_method(method)
    if inputs.ndim != 2 or inputs.shape[1] != 3 or outputs.shape != inputs.shape:
        raise ShapeError(f"samples: expected inputs and outputs of one (M,3) shape, got {tuple(inputs.shape)} "
                         f"and {tuple(outputs.shape)}")
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
    table = _lattice(size, domain_min, domain_max) + offset
    return Lut3D(table.float(), tuple(domain_min), tuple(domain_max), title)


def _stencil_index(delta: int | Tensor, size: int) -> int | Tensor:
    """Stencil index (0..26) of the neighbour at flat offset ``delta`` (each axis -1..1)."""
    t = delta + (1 + size + size * size)  # each axis now 0..2, which size >= 3 keeps apart
    return t % size + 3 * (t // size % size) + 9 * (t // (size * size))


def _normal_equations(x: Tensor, target: Tensor, size: int, lo: Sequence[float], hi: Sequence[float], method: str
                      ) -> tuple[Tensor, Tensor]:
    """The data term's normal equations, scaled by 1/(M h³): the matrix as a 27-point stencil
    (27,N,N,N) [b][g][r] and the right-hand side (N,N,N,3), float64. ``x``, ``target``: (M,3)."""
    nodes = size**3
    base, fractions = _locate(x.unbind(1), size, lo, hi)
    base = base.long()
    corners = _corners(method, fractions, size)
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
            stencil[_CENTRE].narrow(axis, start, size - 1).add_(laplacian)
    stencil[_CENTRE].add_(pull)


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
    inverse_diagonal = stencil[_CENTRE].reciprocal()
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


def lut_sha256(lut: Lut3D) -> str:
    """SHA-256 of the LUT's numbers (size, domain, float32 table): what names it in render
    manifests. Equal LUTs hash equal whatever their file's comments, title or number layout."""
    digest = hashlib.sha256(f"{lut.size} {lut.domain_min} {lut.domain_max} ".encode())
    digest.update(lut.table.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# --- .cube files ----------------------------------------------------------------------------


def cube_text(lut: Lut3D) -> str:
    """``lut`` as the text of an Adobe/Resolve .cube file: TITLE, LUT_3D_SIZE, DOMAIN_MIN/MAX,
    then N³ rows of output RGB, red fastest. Each number is the shortest decimal that reads
    back as the same float32, so `read_cube` returns the table bit for bit."""
    lines = [f'TITLE "{lut.title}"'] if lut.title else []
    lines += [
        f"LUT_3D_SIZE {lut.size}",
        "DOMAIN_MIN " + " ".join(_number(v) for v in np.float32(lut.domain_min)),
        "DOMAIN_MAX " + " ".join(_number(v) for v in np.float32(lut.domain_max)),
    ]
    rows = lut.table.detach().cpu().reshape(-1, 3).numpy()
    lines += (" ".join(_number(v) for v in row) for row in rows)
    return "\n".join(lines) + "\n"


def _number(value: np.float32) -> str:
    return np.format_float_positional(value, unique=True, trim="0")


def write_cube(path: str | Path, lut: Lut3D) -> None:
    """Write ``lut`` as a .cube file (`cube_text`), atomically."""
    write_bytes_atomic(path, cube_text(lut).encode("utf-8"))


def read_cube(path: str | Path) -> Lut3D:
    """Read a 3D .cube LUT (Adobe/Resolve: ``TITLE``, ``LUT_3D_SIZE``, ``DOMAIN_MIN``/``MAX``
    or Resolve's ``LUT_3D_INPUT_RANGE``, rows red fastest; ``#`` comments and blank lines
    anywhere; other keywords before the table are ignored).

    Raises:
        LutFormatError: a missing or unreadable file, a 1D LUT, or a damaged table, in one
            line naming the file (and the line, where there is one).
    """
    path = Path(path)
    data = read_small_file(path, "a .cube LUT", LutFormatError, _MAX_FILE)
    if b"\0" in data:
        raise LutFormatError(f"{path}: binary data, not a .cube LUT")
    # Titles from other tools may be in a legacy encoding; numbers and keywords are ASCII.
    return _CubeParser(path).parse(data.decode("utf-8", errors="replace"))


class _CubeParser:
    """One pass over a .cube file's lines: keywords first, then the table."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.keywords: dict[str, list[str]] = {}
        self.rows: list[str] = []
        self.row_lines: list[int] = []  # the line number of each row, for messages

    def fail(self, message: str, line: int | None = None) -> LutFormatError:
        return LutFormatError(f"{self.path}: {'' if line is None else f'line {line}: '}{message}")

    def parse(self, text: str) -> Lut3D:
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if line.startswith("TITLE"):
                self._keyword("TITLE", [line[5:].strip().strip('"')], number)
                continue
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if line[0].isalpha() or line[0] == "_":
                word, *values = line.split()
                self._keyword(word, values, number)
            else:
                self.rows.append(line)
                self.row_lines.append(number)
        size = self._size()
        lo, hi = self._domain()
        table = self._table(size)
        try:
            return Lut3D(torch.from_numpy(table).reshape(size, size, size, 3), lo, hi,
                         self.keywords.get("TITLE", [""])[0].replace('"', "'"))
        except InputError as exc:
            raise self.fail(str(exc)) from None

    def _keyword(self, word: str, values: list[str], line: int) -> None:
        if self.rows:
            raise self.fail(f"keyword {word} after the table has started", line)
        if word in self.keywords:
            raise self.fail(f"{word} given twice", line)
        self.keywords[word] = values

    def _size(self) -> int:
        if "LUT_1D_SIZE" in self.keywords:
            kind = "holds a 1D shaper before its 3D table" if "LUT_3D_SIZE" in self.keywords else "is a 1D LUT"
            raise self.fail(f"{kind} (LUT_1D_SIZE); hrstyle reads 3D-only .cube LUTs")
        if "LUT_3D_SIZE" not in self.keywords:
            raise self.fail("no LUT_3D_SIZE line; not a 3D .cube LUT")
        values = self.keywords["LUT_3D_SIZE"]
        if len(values) != 1 or not values[0].isdigit() or not MIN_SIZE <= int(values[0]) <= MAX_SIZE:
            raise self.fail(f"LUT_3D_SIZE: expected a whole number from {MIN_SIZE} to {MAX_SIZE}, got {' '.join(values)!r}")
        return int(values[0])

    def _domain(self) -> tuple[RGB, RGB]:
        if "LUT_3D_INPUT_RANGE" in self.keywords:
            lo, hi = self._floats("LUT_3D_INPUT_RANGE", 2)
            return (lo, lo, lo), (hi, hi, hi)
        lo = self._floats("DOMAIN_MIN", 3) if "DOMAIN_MIN" in self.keywords else (0.0, 0.0, 0.0)
        hi = self._floats("DOMAIN_MAX", 3) if "DOMAIN_MAX" in self.keywords else (1.0, 1.0, 1.0)
        return lo, hi

    def _floats(self, word: str, count: int) -> tuple[float, ...]:
        values = self.keywords[word]
        try:
            numbers = tuple(float(v) for v in values)
        except ValueError:
            numbers = ()
        if len(numbers) != count or not all(np.isfinite(numbers)):
            raise self.fail(f"{word}: expected {count} numbers, got {' '.join(values)!r}")
        return numbers

    def _table(self, size: int) -> np.ndarray:
        if len(self.rows) != size**3:
            raise self.fail(f"LUT_3D_SIZE {size} needs {size**3} rows of three numbers, found {len(self.rows)}")
        try:
            table = np.array([row.split() for row in self.rows], dtype=np.float32)
        except ValueError:
            table = np.empty(0)
        if table.shape != (size**3, 3):
            bad = next(i for i, row in enumerate(self.rows) if not _is_triple(row))
            raise self.fail(f"expected three numbers, got {self.rows[bad][:40]!r}", self.row_lines[bad])
        if not np.isfinite(table).all():
            raise self.fail("the table holds NaN or Inf")
        return table


def _is_triple(row: str) -> bool:
    parts = row.split()
    try:
        [float(p) for p in parts]
    except ValueError:
        return False
    return len(parts) == 3
