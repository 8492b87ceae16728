"""Fingerprint every kind of output hrstyle writes, to show a change leaves them byte-identical.

Runs the CLI as a colorist would (a small tune, apply, ``--smooth``, bake, the LUT engine and a
farm chunk on six frames of the sample shot) and records the SHA-256 of each file written. A look
file's header holds its creation time, so a look is fingerprinted by its tensors.

    python bench/same_bytes.py --write before.json      # on the old code
    python bench/same_bytes.py --check before.json      # on the new code: exit 1 on any difference
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_frames"
FRAMES = "1001-1006"


def _hrstyle(*args: str | Path) -> None:
    subprocess.run([sys.executable, "-m", "hrstyle", *map(str, args)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def _digests(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".") and p.name != "hrstyle-manifest.json"
    }


def _look_digest(path: Path) -> str:
    from safetensors.numpy import load_file

    h = hashlib.sha256()
    for name, array in sorted(load_file(path).items()):
        h.update(name.encode())
        h.update(array.tobytes())
    return h.hexdigest()


def fingerprint(work: Path) -> dict[str, object]:
    look = work / "sample.look.safetensors"
    _hrstyle("tune", SAMPLES / "keyframe.png", SAMPLES / "look.jpg", "--size", "96", "--steps", "6", "-o", look)
    shot = SAMPLES / "shot"
    renders = {
        "apply": ["--look", look],
        "smooth": ["--look", look, "--smooth", "0.5"],
        "farm": ["--look", look, "--chunk", "3"],
    }
    result: dict[str, object] = {"look": _look_digest(look)}
    for name, options in renders.items():
        command = "farm" if name == "farm" else "apply"
        _hrstyle(command, shot, *options, "--frames", FRAMES, "--ext", "png", "-o", work / name)
        result[name] = _digests(work / name)
    cube = work / "sample.cube"
    _hrstyle("bake", look, "--from", SAMPLES / "keyframe.png", "-o", cube)
    result["cube"] = hashlib.sha256(cube.read_bytes()).hexdigest()
    _hrstyle("apply", shot, "--lut", cube, "--frames", FRAMES, "--ext", "png", "-o", work / "lut")
    result["lut"] = _digests(work / "lut")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", type=Path, help="save the fingerprints here")
    mode.add_argument("--check", type=Path, help="compare with fingerprints saved by --write")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        got = fingerprint(Path(tmp))
    if args.write:
        args.write.write_text(json.dumps(got, indent=2) + "\n")
        print(f"wrote {args.write}")
        return 0
    want = json.loads(args.check.read_text())
    differing = [name for name in want if got.get(name) != want[name]]
    for name in differing:
        print(f"differs: {name}")
    print("byte-identical" if not differing else f"{len(differing)} of {len(want)} outputs differ")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
