"""3D colour LUTs: the `Lut3D` type and applying it (fit in lut_fit.py, .cube files in cube.py).

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
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import PyOpenColorIO as ocio
import torch
from torch import Tensor

from ..device import pick_device
from ..errors import InputError, ShapeError
from .config import INTERPOLATIONS
from .steps import mix_grade

if TYPE_CHECKING:
    from pathlib import Path

    from .config import RenderCfg
    from .steps import Link
    from .temporal import CoefficientSmoother


BACKENDS = ("auto", "torch", "ocio")


MIN_SIZE, MAX_SIZE = 2, 256  # LUT_3D_SIZE bounds of the .cube specification


RGB = tuple[float, float, float]


# Pixels per step of `apply_lut`: temporaries stay near the CPU's cache and an 8K frame never
# holds more than ~20 MB of them.
_CHUNK_PIXELS = 1 << 18


_OCIO_INTERPOLATION = {"tetrahedral": ocio.INTERP_TETRAHEDRAL, "trilinear": ocio.INTERP_LINEAR}


CENTRE = 13  # stencil index of the node itself (offsets -1..1 on r, g, b: index = dr+1 + 3(dg+1) + 9(db+1))


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
        if not (
            isinstance(t, Tensor)
            and t.dtype == torch.float32
            and t.ndim == 4
            and t.shape[3] == 3
            and t.shape[0] == t.shape[1] == t.shape[2]
        ):
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
    def identity(
        cls, size: int = 33, domain_min: RGB = (0.0, 0.0, 0.0), domain_max: RGB = (1.0, 1.0, 1.0), title: str = ""
    ) -> Lut3D:
        """The LUT that changes nothing inside its domain.

        >>> Lut3D.identity(2).table[1, 0, 1].tolist()  # b=1, g=0, r=1
        [1.0, 0.0, 1.0]
        """
        if not (isinstance(size, int) and MIN_SIZE <= size <= MAX_SIZE):
            raise ShapeError(f"LUT size: expected {MIN_SIZE} to {MAX_SIZE}, got {size!r}")
        return cls(lattice(size, domain_min, domain_max).float(), tuple(domain_min), tuple(domain_max), title)

    def to(self, device: torch.device | str) -> Lut3D:
        return replace(self, table=self.table.to(device))

    # --- the Grade protocol (protocol.py) ---

    @property
    def sha256(self) -> str:
        return lut_sha256(self)

    @property
    def device(self) -> torch.device:
        return self.table.device

    def prepare(self, cfg: RenderCfg) -> Lut3D:
        """On the render's device. Refuses the options that only mean something for a network.

        Raises:
            InputError: ``cfg`` asks for temporal smoothing or the native path.
        """
        if cfg.smooth.strength > 0:
            raise InputError(
                "--smooth smooths the network's colour transform from frame to frame and a LUT has "
                "none; drop --smooth or apply the look file"
            )
        if cfg.native:
            raise InputError("--native runs the look's network at full resolution; drop it to apply a LUT")
        if cfg.style_weight is not None:
            raise InputError(
                "--style-weight picks a point of a conditional look and a LUT holds one grade; drop it, "
                "or bake the LUT with hrstyle bake --style-weight"
            )
        return self.to(pick_device(cfg.device))

    def pixel_options(self, cfg: RenderCfg) -> dict[str, Any]:
        return {"engine": "lut", "interpolation": cfg.interpolation, "colorspace": cfg.colorspace}

    def check_frame(self, path: Path, height: int, width: int) -> None:
        pass  # every pixel goes through the table on its own: any size will do

    def grade(
        self, frames: Tensor, cfg: RenderCfg, smoother: CoefficientSmoother | None = None, links: Sequence[Link] = ()
    ) -> Tensor:
        return mix_grade(frames, apply_lut(self, frames, cfg.interpolation), cfg.mix)


def lattice(size: int, lo: Sequence[float], hi: Sequence[float]) -> Tensor:
    """(N,N,N,3) float64 [b][g][r]: the input colour at each lattice node."""
    steps = torch.arange(size, dtype=torch.float64) / (size - 1)
    r, g, b = (lo[c] + steps * (hi[c] - lo[c]) for c in range(3))
    bb, gg, rr = torch.meshgrid(b, g, r, indexing="ij")
    return torch.stack([rr, gg, bb], dim=-1)


def check_method(method: str) -> None:
    if method not in INTERPOLATIONS:
        raise InputError(f"LUT interpolation {method!r}: expected one of {', '.join(INTERPOLATIONS)}")


def locate(
    channels: Sequence[Tensor], size: int, lo: Sequence[float], hi: Sequence[float]
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


def cell_corners(method: str, fractions: list[Tensor], size: int) -> list[tuple[int | Tensor, Tensor]]:
    """The cell corners a colour is blended from: (flat offset from the cell's low corner, an
    int or an int32 tensor per colour; weight), the weights summing to 1."""
    fr, fg, fb = fractions
    if method == "trilinear":
        w = [(1 - f, f) for f in fractions]
        return [
            (_corner_offset(code, size), w[0][code & 1] * w[1][code >> 1 & 1] * w[2][code >> 2]) for code in range(8)
        ]
    order = ((fr > fg).to(torch.int32) + 2 * (fg > fb) + 4 * (fr > fb)).reshape(-1)
    first, second = (
        _corner_offset(torch.tensor(codes, dtype=torch.int32, device=fr.device), size)
        .index_select(0, order)
        .view(fr.shape)
        for codes in (_TETRA_FIRST, _TETRA_SECOND)
    )
    high = torch.maximum(torch.maximum(fr, fg), fb)
    low = torch.minimum(torch.minimum(fr, fg), fb)
    middle = fr + fg + fb - high - low
    return [(0, 1 - high), (first, high - middle), (second, middle - low), (_corner_offset(7, size), low)]


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
    check_method(method)
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
    base, fractions = locate(x.unbind(1), lut.size, lut.domain_min, lut.domain_max)
    corners = cell_corners(method, fractions, lut.size)
    indices = [(base + offset).reshape(-1) for offset, _ in corners]
    for c in range(3):
        plane = out[:, c]
        for k, (index, (_, weight)) in enumerate(zip(indices, corners)):
            value = planes[c].index_select(0, index).view(weight.shape)
            if k == 0:
                torch.mul(weight, value, out=plane)
            else:
                plane.addcmul_(weight, value)


def lut_sha256(lut: Lut3D) -> str:
    """SHA-256 of the LUT's numbers (size, domain, float32 table): what names it in render
    manifests. Equal LUTs hash equal whatever their file's comments, title or number layout."""
    digest = hashlib.sha256(f"{lut.size} {lut.domain_min} {lut.domain_max} ".encode())
    digest.update(lut.table.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
