"""The CLI answers at once: --help, COMMAND --help and info never import torch (bench/startup.py times it)."""

from __future__ import annotations

import subprocess
import sys

from helpers import make_look
from typer.testing import CliRunner

from hrstyle.cli import app
from hrstyle.look.file import save_look

_CHECK = """
import sys
from typer.testing import CliRunner
from hrstyle.cli import app
result = CliRunner().invoke(app, {args!r})
assert result.exit_code == 0, result.output
print(sorted(m for m in ("torch", "torchvision", "timm") if m in sys.modules))
"""


def _heavy_modules_after(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _CHECK.format(args=list(args))], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_help_and_info_never_import_torch(tmp_path):
    look = make_look()
    save_look(tmp_path / "a.look.safetensors", look.net, look.meta)
    assert _heavy_modules_after("--help") == "[]"
    assert _heavy_modules_after("apply", "--help") == "[]"
    assert _heavy_modules_after("tune", "--help") == "[]"
    assert _heavy_modules_after("info", str(tmp_path / "a.look.safetensors")) == "[]"


def test_info_reads_the_header_as_load_look_would(tmp_path):
    look = make_look()
    save_look(tmp_path / "a.look.safetensors", look.net, look.meta)
    result = CliRunner().invoke(app, ["info", str(tmp_path / "a.look.safetensors"), "--json"])
    assert result.exit_code == 0, result.output
    assert f'"parameters": {sum(p.numel() for p in look.net.parameters())}' in result.stdout
