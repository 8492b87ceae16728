"""The bad-input corpus as data: each `Case` builds its input in a fresh folder, names the
command line to run on it, the exit code to expect and a fragment of the one-line error.

`test_corpus.py` runs every case through the CLI in-process and checks, besides the
exit code and the message, that no traceback is shown, that no input file changed
(by SHA-256), and that the run left no files but the ones the case expects: no
hidden temporary files, no half-written frames or looks, no empty output folders.

Frames are 64x36, the size of the corpus look's work size, and tunes are two steps
at 32 px, so the whole corpus takes about a minute on two cores.

Decisions the cases pin down (docs/reliability.md):

* a frame over `frames.MAX_FRAME_PIXELS` (16384x16384 here, from a 260 KB PNG) is
  refused before it is decoded: a clear error, never gigabytes of RAM;
* a gap in the frame numbers is a warning; the frames that exist are rendered
  under their own numbers;
* NaN becomes 0 and +-Inf +-65504 when a float frame is read; negative values
  are kept;
* grey, grey+alpha, RGBA, palette PNG and CMYK TIFF are accepted;
* Unicode and spaces in paths work.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import pickle
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from helpers import (
    MANIFEST_NAME,
    SAMPLES,
    Exploit,
    make_immutable,
    make_mutable,
    oiio_write,
    palette_png,
    permissions_enforced,
    write_sequence,
)
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from hrstyle.io.stills import FrameSpec, read_image, write_image
from hrstyle.look.file import load_look

W, H = 64, 36  # frames at the corpus look's work size (sample-shot frames every 15th pixel)
TUNE = ["--steps", "2", "--size", "32", "--net", "hrnet-small"]
SWEEP = [
    "--content",
    "1",
    "--style",
    "1",
    "--steps",
    "1",
    "--size",
    "32",
    "--net",
    "hrnet-small",
    "--preview-size",
    "32",
]


class Kit:
    """What a builder gets: its case folder, the session's look, and hostile surroundings.

    Surroundings that need undoing (an immutable folder, a mounted tmpfs) are undone
    by the test after the run; `unreadable` files are unreadable only during the run.
    """

    def __init__(self, root: Path, look: Path, stack: contextlib.ExitStack) -> None:
        self.root, self._look, self._stack = root, look, stack
        self.during: list[Callable[[], contextlib.AbstractContextManager]] = []

    def p(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def look(self, name: str = "warm.look.safetensors") -> Path:
        """A copy of the session's corpus look (an untuned hrnet-small, work size 36x64)."""
        return Path(shutil.copy(self._look, self.p(name)))

    def look_image(self, name: str = "ref.png") -> Path:
        """The sample look still, 64x64."""
        pixels = read_image(SAMPLES / "look.jpg").pixels[::10, ::10].copy()
        return self.image(name, pixels)

    def image(self, name: str, pixels: np.ndarray, alpha: np.ndarray | None = None, depth: str = "uint8") -> Path:
        path = self.p(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        h, w = pixels.shape[:2]
        write_image(path, pixels, FrameSpec(path.suffix.lstrip("."), depth, w, h, alpha is not None), alpha)
        return path

    def still(self, name: str, w: int = W, h: int = H, depth: str = "uint8", seed: int = 0) -> Path:
        return self.image(name, _pixels(w, h, seed), depth=depth)

    def shot(self, folder: str = "plates", numbers=(1, 2, 3), name: str = "s.{:04d}.png") -> Path:
        write_sequence(self.p(folder), name, numbers, step=15)
        return self.p(folder)

    def immutable(self, folder: str) -> Path:
        import pytest

        path = self.p(folder)
        path.mkdir(parents=True, exist_ok=True)
        if not make_immutable(path):
            pytest.skip("chattr +i is not available here")
        self._stack.callback(make_mutable, path)
        return path

    def tmpfs(self, folder: str, size: str = "4k") -> Path:
        """A folder on a tmpfs of ``size``: a disk that fills up (needs root)."""
        import pytest

        path = self.p(folder)
        path.mkdir(parents=True, exist_ok=True)
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
        )
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
        self._stack.callback(subprocess.run, ["umount", str(path)], check=True)
        return path

    def unreadable(self, path: Path) -> Path:
        """chmod 000, and enforced for root during the run (see conftest.permissions_enforced)."""
        path.chmod(0)
        self._stack.callback(path.chmod, 0o644)
        self.during.append(permissions_enforced)
        return path


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Kit], list]  # makes the input under kit.root; returns the command line
    code: int = 2  # expected exit code
    fragment: str = ""  # in the one error line (code != 0) or anywhere in the output (code 0)
    leaves: tuple[str, ...] = ()  # globs, relative to the case folder, of the new files: each must match
    check: Callable[[Kit], None] | None = None  # more checks on what was written


# --- makers ---------------------------------------------------------------------------


def _pixels(w: int, h: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([x / max(w - 1, 1), y / max(h - 1, 1), np.full_like(x, 0.5)], axis=-1)
    return np.clip(base + rng.normal(0, 0.05, (h, w, 3)).astype(np.float32), 0, 1)


def _truncate(path: Path, keep: float = 0.6) -> Path:
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])
    return path


def _oiio_write(path: Path, data: np.ndarray, fmt: str, **attributes) -> Path:
    """OpenImageIO directly (grey, CMYK, NaN), into a folder made as needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return oiio_write(path, data, fmt, **attributes)


def _cmyk_tiff(path: Path) -> Path:
    codes = (_pixels(W, H) * 255).astype(np.uint8)
    return _oiio_write(path, codes, "uint8", **{"tiff:ColorSpace": "CMYK"})


def _palette(path: Path, w: int = W, h: int = H) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    palette = np.array([[200, 40, 30], [30, 160, 60], [20, 60, 200], [240, 220, 200]])
    index = (np.add.outer(np.arange(h) // 6, np.arange(w) // 8) % 4).astype(np.uint8)
    return palette_png(path, index, palette)


@functools.cache
def _huge_png_bytes(side: int = 16384) -> bytes:
    """A valid 8-bit grey PNG of side x side black pixels: 260 KB on disk, 268 MB decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    rows, packer = b"\0" * ((side + 1) * 64), zlib.compressobj(6)
    idat = b"".join(packer.compress(rows) for _ in range(side // 64)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _huge_png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_huge_png_bytes())
    return path


def _exr(path: Path, values: np.ndarray) -> Path:
    return _oiio_write(path, values.astype(np.float32), "half")


def _exr_shot(kit: Kit, poison: Callable[[np.ndarray], None]) -> Path:
    for n in (1, 2):
        pixels = _pixels(W, H, seed=n)
        poison(pixels)
        _exr(kit.p("plates", f"s.{n:04d}.exr"), pixels)
    return kit.p("plates")


def _nan_inf(pixels: np.ndarray) -> None:
    pixels[0, 0] = np.nan
    pixels[1, 1] = np.inf
    pixels[2, 2] = -np.inf


def _negatives(pixels: np.ndarray) -> None:
    pixels[:10] -= 0.75


def _rewrite_look(kit: Kit, name: str, edit: Callable[[dict, dict], None]) -> Path:
    """The corpus look with its metadata and tensors edited; ``name`` in the case folder."""
    data = kit.look(name).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(json.loads(data[8 : 8 + n])["__metadata__"]["hrstyle"])
    tensors = load_tensors(data)
    edit(meta, tensors)
    kit.p(name).write_bytes(save_tensors(tensors, metadata={"hrstyle": json.dumps(meta)}))
    return kit.p(name)


def _raw_safetensors(path: Path, header: dict, body: bytes = b"") -> Path:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + body)
    return path


def _pickled_look(kit: Kit) -> Path:
    """A pickle that writes ``pwned`` when unpickled, named like a look."""
    path = kit.p("evil.look.safetensors")
    path.write_bytes(pickle.dumps(Exploit(str(kit.p("pwned")))))
    return path


def _empty_video(path: Path) -> Path:
    """A video file with a video stream and no frames (an AVI; a MOV muxer drops an empty track)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuvj420p"
        container.start_encoding()
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _deeply_nested_look(kit: Kit, depth: int = 100_000) -> Path:
    """The corpus look with its tune_cfg a list nested ``depth`` deep (json cannot write that)."""
    data = kit.look("deep.look.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(json.loads(data[8 : 8 + n])["__metadata__"]["hrstyle"])
    text = json.dumps({**meta, "tune_cfg": None}).replace(
        '"tune_cfg": null', '"tune_cfg": ' + "[" * depth + "]" * depth
    )
    kit.p("deep.look.safetensors").write_bytes(save_tensors(load_tensors(data), metadata={"hrstyle": text}))
    return kit.p("deep.look.safetensors")


def _outputs_finite(kit: Kit) -> None:
    for path in sorted(kit.p("out").glob("*.exr")):
        assert np.isfinite(read_image(path).pixels).all(), path


def _negatives_kept(kit: Kit) -> None:
    assert read_image(kit.p("out", "s.0001.exr")).pixels[:10].min() < -0.25


def _has_alpha(kit: Kit) -> None:
    assert all(read_image(p).alpha is not None for p in kit.p("out").glob("*.png"))


def _loads(path: str) -> Callable[[Kit], None]:
    return lambda kit: load_look(kit.p(path)) and None


def _no_marker(kit: Kit) -> None:
    assert not kit.p("pwned").exists(), "the look loader unpickled the file"


def _apply(kit: Kit, shot: Path | str, *more: object, look: Path | None = None) -> list:
    return ["apply", shot, "--look", look or kit.look(), "-o", kit.p("out"), *more]


def _score(kit: Kit, content: Path, output: Path) -> list:
    return ["score", "--content", content, "--output", output, "--look", kit.look_image()]


def _tune(kit: Kit, keyframe: Path, look_image: Path | None = None) -> list:
    return ["tune", keyframe, look_image or kit.look_image(), "-o", kit.p("out.look.safetensors"), *TUNE]


def _sweep(kit: Kit, keyframe: Path, look_image: Path | None = None, out: Path | None = None) -> list:
    return ["sweep", keyframe, look_image or kit.look_image(), "-o", out or kit.p("sweep"), *SWEEP]


def _bake(kit: Kit, look: Path | None = None, frame: Path | None = None, out: Path | None = None) -> list:
    return ["bake", look or kit.look(), "--from", frame or kit.still("f.png"), "-o", out or kit.p("look.cube")]


def _mixed_sizes(kit: Kit) -> list:
    kit.shot(numbers=(1, 2))
    kit.still("plates/s.0003.png", w=48, h=36)
    return _apply(kit, kit.p("plates"))


def _gap(kit: Kit) -> list:
    kit.shot(numbers=(1, 2, 4, 5, 9))
    return _apply(kit, kit.p("plates"))


def _interleaved(kit: Kit) -> list:
    kit.shot(numbers=(1, 3, 5), name="a.{:04d}.png")
    kit.shot(numbers=(2, 4, 6), name="b.{:04d}.png")
    return _apply(kit, kit.p("plates"))


def _grey_shot(kit: Kit) -> list:
    for n in (1, 2):
        grey = _pixels(W, H, n)[..., :1]
        _oiio_write(kit.p("plates", f"s.{n:04d}.png"), (grey * 255).astype(np.uint8), "uint8")
    return _apply(kit, kit.p("plates"))


def _rgba_shot(kit: Kit) -> list:
    for n in (1, 2):
        alpha = np.linspace(0, 1, W * H, dtype=np.float32).reshape(H, W)
        kit.image(f"plates/s.{n:04d}.png", _pixels(W, H, n), alpha)
    return _apply(kit, kit.p("plates"))


def _palette_shot(kit: Kit) -> list:
    for n in (1, 2):
        _palette(kit.p("plates", f"s.{n:04d}.png"))
    return _apply(kit, kit.p("plates"))


def _cmyk_shot(kit: Kit) -> list:
    for n in (1, 2):
        _cmyk_tiff(kit.p("plates", f"s.{n:04d}.tif"))
    return _apply(kit, kit.p("plates"))


def _unicode_apply(kit: Kit) -> list:
    folder = "plates été ½"
    kit.shot(folder, numbers=(1, 2), name="plan ñ.{:04d}.png")
    return [
        "apply",
        kit.p(folder, "plan ñ.%04d.png"),
        "--look",
        kit.look("regard chaud ☀.look.safetensors"),
        "-o",
        kit.p("sortie — out"),
    ]


def _unicode_tune(kit: Kit) -> list:
    return [
        "tune",
        kit.still("клю ч кадр.png"),
        kit.look_image("образ ☀.png"),
        "-o",
        kit.p("выход look ☀.look.safetensors"),
        *TUNE,
    ]


def _unreadable_frame(kit: Kit) -> list:
    kit.shot()
    kit.unreadable(kit.p("plates", "s.0001.png"))
    return _apply(kit, kit.p("plates"))


def _first_frame_broken(kit: Kit, spoil: Callable[[Path], object], name: str = "s.{:04d}.png") -> list:
    kit.shot(numbers=(1, 2), name=name)
    spoil(kit.p("plates", name.format(1)))
    return _apply(kit, kit.p("plates"))


# A failed render keeps the manifest (and the frames before the bad one, each complete):
# re-running the same command resumes. These globs are what it may leave.
MANIFEST = f"out/{MANIFEST_NAME}"

CASES: list[Case] = [
    # --- missing, empty and not-a-file paths -------------------------------------------------
    Case("tune-missing-keyframe", lambda k: _tune(k, k.p("nope.png")), 2, "no such file"),
    Case("tune-folder-as-keyframe", lambda k: _tune(k, k.shot()), 2, "is a folder"),
    Case("apply-missing-shot", lambda k: _apply(k, k.p("nope")), 2, "no such file or folder"),
    Case(
        "apply-missing-look",
        lambda k: _apply(k, k.shot(), look=k.p("nope.look.safetensors")),
        2,
        "no such file; expected a look file",
    ),
    Case(
        "apply-empty-folder",
        lambda k: (k.p("plates").mkdir(), _apply(k, k.p("plates")))[1],
        2,
        "no numbered image frames",
    ),
    Case("score-missing-output", lambda k: _score(k, k.shot(), k.p("nope")), 2, "no such file or folder"),
    Case(
        "info-missing-look", lambda k: ["info", k.p("nope.look.safetensors")], 2, "no such file; expected a look file"
    ),
    Case("info-folder-as-look", lambda k: ["info", k.shot()], 2, "is a folder, not a look file"),
    Case(
        "apply-fifo-as-look",
        lambda k: _apply(k, k.shot(), look=_fifo(k.p("pipe.look.safetensors"))),
        2,
        "not a regular file",
    ),
    Case(
        "bake-missing-look",
        lambda k: _bake(k, look=k.p("nope.look.safetensors")),
        2,
        "no such file; expected a look file",
    ),
    Case("sweep-missing-look-image", lambda k: _sweep(k, k.still("key.png"), k.p("nope.png")), 2, "no such file"),
    # --- zero-byte, truncated and fake image files -------------------------------------------
    Case(
        "tune-zero-byte-keyframe",
        lambda k: _tune(k, (k.p("key.png").write_bytes(b""), k.p("key.png"))[1]),
        2,
        "empty file",
    ),
    Case(
        "apply-zero-byte-frame",
        lambda k: _first_frame_broken(k, lambda p: p.write_bytes(b"")),
        2,
        "empty file",
        leaves=(MANIFEST,),
    ),
    Case(
        "info-zero-byte-look",
        lambda k: ["info", (k.p("a.look.safetensors").write_bytes(b""), k.p("a.look.safetensors"))[1]],
        2,
        "too short",
    ),
    Case(
        "tune-truncated-exr-keyframe",
        lambda k: _tune(k, _truncate(k.still("key.exr", depth="half"))),
        2,
        "truncated or corrupt",
    ),
    Case(
        "apply-truncated-jpeg-mid-shot",
        lambda k: (
            k.shot(numbers=(1, 2, 3), name="s.{:04d}.jpg"),
            _truncate(k.p("plates", "s.0002.jpg")),
            _apply(k, k.p("plates")),
        )[2],
        2,
        "s.0002.jpg: truncated or corrupt",
        leaves=(MANIFEST, "out/s.0001.jpg"),
    ),
    Case(
        "apply-truncated-exr",
        lambda k: _first_frame_broken(k, _truncate, "s.{:04d}.exr"),
        2,
        "truncated or corrupt",
        leaves=(MANIFEST,),
    ),
    Case(
        "score-truncated-png-output",
        lambda k: (k.shot("graded"), _truncate(k.p("graded", "s.0001.png")), _score(k, k.shot(), k.p("graded")))[2],
        2,
        "s.0001.png: truncated or corrupt",
    ),
    Case("bake-truncated-png-frame", lambda k: _bake(k, frame=_truncate(k.still("f.png"))), 2, "truncated or corrupt"),
    Case("sweep-truncated-png-keyframe", lambda k: _sweep(k, _truncate(k.still("key.png"))), 2, "truncated or corrupt"),
    Case(
        "tune-text-named-png-look-image",
        lambda k: _tune(k, k.still("key.png"), (k.p("ref.png").write_text("not a png\n"), k.p("ref.png"))[1]),
        2,
        "not a readable image",
    ),
    Case(
        "apply-text-named-png-frame",
        lambda k: _first_frame_broken(k, lambda p: p.write_text("hello\n")),
        2,
        "not a readable image",
        leaves=(MANIFEST,),
    ),
    # --- sizes ------------------------------------------------------------------------------------
    Case("tune-1x1-look-image", lambda k: _tune(k, k.still("key.png"), k.still("ref.png", 1, 1)), 2, "at least"),
    Case(
        "apply-1x1-frame",
        lambda k: _apply(k, k.still("plates/s.0001.png", 1, 1)),
        2,
        "s.0001.png: 1x1 is too small",
        leaves=(MANIFEST,),
    ),
    Case("sweep-1x1-look-image", lambda k: _sweep(k, k.still("key.png"), k.still("ref.png", 1, 1)), 2, "at least"),
    Case("tune-16384x16384-keyframe", lambda k: _tune(k, _huge_png(k.p("huge.png"))), 2, "megapixels"),
    Case(
        "apply-16384x16384-frame",
        lambda k: _apply(k, _huge_png(k.p("plates", "s.0001.png"))),
        2,
        "megapixels",
        leaves=(MANIFEST,),
    ),
    Case("bake-16384x16384-frame", lambda k: _bake(k, frame=_huge_png(k.p("f.png"))), 2, "megapixels"),
    Case(
        "apply-mixed-sizes",
        _mixed_sizes,
        2,
        "frame 3 is 48x36 but frame 1 is 64x36",
        leaves=(MANIFEST, "out/s.0001.png", "out/s.0002.png"),
    ),
    # --- sequences ----------------------------------------------------------------------------
    Case(
        "apply-gap-in-frame-numbers",
        _gap,
        0,
        "warning: frames 3,6-8 are missing",
        leaves=(MANIFEST, *(f"out/s.{n:04d}.png" for n in (1, 2, 4, 5, 9))),
    ),
    Case("apply-two-interleaved-sequences", _interleaved, 2, "holds 2 frame sequences"),
    Case("apply-video-with-zero-frames", lambda k: _apply(k, _empty_video(k.p("clip.avi"))), 2, "has no frames"),
    Case(
        "score-video-with-zero-frames",
        lambda k: _score(k, _empty_video(k.p("a.avi")), _empty_video(k.p("b.avi"))),
        2,
        "has no frames",
    ),
    # --- channel layouts (accepted) ------------------------------------------------------------
    Case("apply-grayscale", _grey_shot, 0, leaves=(MANIFEST, "out/s.0001.png", "out/s.0002.png")),
    Case("apply-rgba", _rgba_shot, 0, leaves=(MANIFEST, "out/s.0001.png", "out/s.0002.png"), check=_has_alpha),
    Case("apply-palette-png", _palette_shot, 0, leaves=(MANIFEST, "out/s.0001.png", "out/s.0002.png")),
    Case("apply-cmyk-tiff", _cmyk_shot, 0, leaves=(MANIFEST, "out/s.0001.tif", "out/s.0002.tif")),
    Case(
        "tune-cmyk-tiff-keyframe",
        lambda k: _tune(k, _cmyk_tiff(k.p("key.tif"))),
        0,
        leaves=("out.look.safetensors",),
        check=_loads("out.look.safetensors"),
    ),
    Case(
        "tune-palette-png-look-image",
        lambda k: _tune(k, k.still("key.png"), _palette(k.p("ref.png"), 64, 64)),
        0,
        leaves=("out.look.safetensors",),
        check=_loads("out.look.safetensors"),
    ),
    # --- non-finite and negative values ----------------------------------------------------------
    Case(
        "apply-exr-nan-inf",
        lambda k: _apply(k, _exr_shot(k, _nan_inf)),
        0,
        leaves=(MANIFEST, "out/s.0001.exr", "out/s.0002.exr"),
        check=_outputs_finite,
    ),
    Case(
        "apply-exr-negative",
        lambda k: _apply(k, _exr_shot(k, _negatives)),
        0,
        leaves=(MANIFEST, "out/s.0001.exr", "out/s.0002.exr"),
        check=_negatives_kept,
    ),
    Case(
        "tune-exr-nan-inf-keyframe",
        lambda k: _tune(k, _exr(k.p("key.exr"), (_nan_inf(px := _pixels(W, H)), px)[1])),
        0,
        leaves=("out.look.safetensors",),
        check=_loads("out.look.safetensors"),
    ),
    # --- permissions and full disks ------------------------------------------------------------
    Case("apply-unreadable-frame", _unreadable_frame, 2, "cannot open (Permission denied)", leaves=(MANIFEST,)),
    Case(
        "tune-unreadable-keyframe",
        lambda k: _tune(k, k.unreadable(k.still("key.png"))),
        2,
        "cannot open (Permission denied)",
    ),
    Case(
        "apply-output-not-writable",
        lambda k: ["apply", k.shot(), "--look", k.look(), "-o", k.immutable("locked") / "out"],
        2,
        "not writable",
    ),
    Case(
        "apply-into-an-existing-folder-not-writable",
        lambda k: ["apply", k.shot(), "--look", k.look(), "-o", k.immutable("locked")],
        2,
        "not writable",
    ),
    Case(
        "sweep-output-not-writable",
        lambda k: _sweep(k, k.still("key.png"), out=k.immutable("locked") / "sweep"),
        2,
        "not writable",
    ),
    Case("bake-output-not-writable", lambda k: _bake(k, out=k.immutable("locked") / "look.cube"), 2, "not writable"),
    Case("bake-disk-full", lambda k: _bake(k, out=k.tmpfs("disk") / "look.cube"), 2, "disk full"),
    Case(
        "apply-disk-full",
        lambda k: ["apply", k.shot(), "--look", k.look(), "-o", k.tmpfs("disk")],
        2,
        "disk full",
        leaves=(f"disk/{MANIFEST_NAME}",),
    ),
    Case(
        "apply-disk-full-mid-render",
        lambda k: ["apply", k.shot(numbers=range(1, 11)), "--look", k.look(), "-o", k.tmpfs("disk", "128k")],
        2,
        "disk full",
        leaves=(f"disk/{MANIFEST_NAME}", "disk/s.*.png"),
    ),
    Case(
        "tune-disk-full",
        lambda k: ["tune", k.still("key.png"), k.look_image(), "-o", k.tmpfs("disk") / "a.look.safetensors", *TUNE],
        2,
        "disk full",
    ),
    # --- hostile look files --------------------------------------------------------------------
    Case(
        "apply-look-of-a-future-format-version",
        lambda k: _apply(
            k, k.shot(), look=_rewrite_look(k, "future.look.safetensors", lambda m, t: m.update(format_version=99))
        ),
        2,
        "newer than this hrstyle",
    ),
    Case(
        "apply-look-with-wrong-tensor-shapes",
        lambda k: _apply(
            k, k.shot(), look=_rewrite_look(k, "wide.look.safetensors", lambda m, t: m["net_cfg"].update(width=16))
        ),
        2,
        "expected shape",
    ),
    Case(
        "apply-pickle-renamed-to-safetensors",
        lambda k: _apply(k, k.shot(), look=_pickled_look(k)),
        2,
        "not a look file",
        check=_no_marker,
    ),
    Case(
        "bake-pickle-renamed-to-safetensors",
        lambda k: _bake(k, look=_pickled_look(k)),
        2,
        "not a look file",
        check=_no_marker,
    ),
    Case(
        "info-pickle-renamed-to-safetensors",
        lambda k: ["info", _pickled_look(k)],
        2,
        "not a look file",
        check=_no_marker,
    ),
    # hrstyle info reads the header alone, so damaged weights are apply's (and bake's) to refuse.
    Case(
        "apply-look-with-nan-weights",
        lambda k: _apply(
            k,
            k.shot(),
            look=_rewrite_look(
                k, "nan.look.safetensors", lambda m, t: next(iter(t.values())).view(-1)[0].fill_(float("nan"))
            ),
        ),
        2,
        "NaN or Inf",
    ),
    Case(
        "info-metadata-over-1-MiB",
        lambda k: ["info", _rewrite_look(k, "big.look.safetensors", lambda m, t: m.update(look_name="x" * 2**21))],
        2,
        "header",
    ),
    Case(
        "info-metadata-huge-string",
        lambda k: ["info", _rewrite_look(k, "long.look.safetensors", lambda m, t: m.update(vgg_weights="x" * 500_000))],
        2,
        "vgg_weights",
    ),
    Case(
        "info-metadata-wrong-types",
        lambda k: ["info", _rewrite_look(k, "types.look.safetensors", lambda m, t: m.update(keyframe_name=7))],
        2,
        "keyframe_name",
    ),
    Case(
        "info-metadata-terminal-escapes",
        lambda k: [
            "info",
            _rewrite_look(
                k, "esc.look.safetensors", lambda m, t: m.update(keyframe_name="\x1b]0;owned\x07\x1b[8mhidden")
            ),
        ],
        2,
        "control characters",
    ),
    Case(
        "apply-metadata-bad-work-size",
        lambda k: _apply(
            k, k.shot(), look=_rewrite_look(k, "ws.look.safetensors", lambda m, t: m.update(work_size=["36", "64"]))
        ),
        2,
        "work_size",
    ),
    Case(
        "info-metadata-nested-100000-deep",
        lambda k: ["info", _deeply_nested_look(k)],
        2,
        "without hrstyle look metadata",
    ),
    Case(
        "apply-look-naming-a-huge-network",
        lambda k: _apply(
            k,
            k.shot(),
            look=_rewrite_look(
                k, "huge.look.safetensors", lambda m, t: m["net_cfg"].update(width=256, stages=16, blocks=8)
            ),
        ),
        2,
        "expected shape",
    ),
    Case(
        "info-look-with-an-unknown-activation",
        lambda k: ["info", _rewrite_look(k, "act.look.safetensors", lambda m, t: m["net_cfg"].update(act="evil"))],
        2,
        "unknown activation",
    ),
    Case(
        "info-metadata-not-a-string",
        lambda k: ["info", _raw_safetensors(k.p("odd.look.safetensors"), {"__metadata__": {"hrstyle": 5}})],
        2,
        "without hrstyle look metadata",
    ),
    # --- --frames ----------------------------------------------------------------------------------
    Case("apply-frames-malformed", lambda k: _apply(k, k.shot(), "--frames", "1-x"), 2, "cannot read '1-x'"),
    Case("apply-frames-empty", lambda k: _apply(k, k.shot(), "--frames", ""), 2, "cannot read ''"),
    Case("apply-frames-out-of-range", lambda k: _apply(k, k.shot(), "--frames", "0-2"), 2, "frames 0 of --frames"),
    Case(
        "apply-frames-over-a-million", lambda k: _apply(k, k.shot(), "--frames", "1-5000000"), 2, "over 1000000 frames"
    ),
    Case("apply-frames-selecting-nothing", lambda k: _apply(k, k.shot(), "--frames", "1-3y1"), 2, "selects no frames"),
    # --- Unicode and spaces (succeed) ------------------------------------------------------------
    Case(
        "apply-unicode-and-space-paths",
        _unicode_apply,
        0,
        leaves=(f"sortie — out/{MANIFEST_NAME}", "sortie — out/plan ñ.0001.png", "sortie — out/plan ñ.0002.png"),
    ),
    Case(
        "tune-unicode-and-space-paths",
        _unicode_tune,
        0,
        leaves=("выход look ☀.look.safetensors",),
        check=_loads("выход look ☀.look.safetensors"),
    ),
    Case(
        "tune-keyframe-named-with-terminal-escapes",
        lambda k: ["tune", k.still("key\x1b[31m red.png"), k.look_image(), "-o", k.p("out.look.safetensors"), *TUNE],
        0,
        leaves=("out.look.safetensors",),
        check=_loads("out.look.safetensors"),
    ),
    Case("info-unicode-and-space-paths", lambda k: ["info", k.look("чай ☀ look.look.safetensors")], 0, "net_cfg"),
    Case(
        "score-unicode-and-space-paths",
        lambda k: _score(k, k.shot("plán ☀", (1,)), k.shot("grâde ☀", (1,))),
        0,
        "style_gap",
    ),
    Case(
        "bake-unicode-and-space-paths",
        lambda k: _bake(k, k.look("regard ☀.look.safetensors"), k.still("image ñ.png"), k.p("sortie ☀ lut.cube")),
        0,
        leaves=("sortie ☀ lut.cube",),
    ),
    Case(
        "sweep-unicode-and-space-paths",
        lambda k: _sweep(k, k.still("clé ☀.png"), out=k.p("balayage ☀")),
        0,
        leaves=("balayage ☀/sweep.png", "balayage ☀/sweep.json", "balayage ☀/cell_*.png"),
    ),
]
