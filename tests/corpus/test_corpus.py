"""Every case of the bad-input corpus (cases.py) through the CLI, in-process.

For each case: the exit code; for a failure exactly one non-empty output line,
``hrstyle: error: ...`` with the case's fragment; never a traceback; every input
file byte-identical afterwards; and no new file or folder but those the case
expects (so no hidden temporary files, no half-written outputs; a manifest may
have its lock file beside it). A render that leaves a manifest must leave one
that agrees with the frames on disk.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
from pathlib import Path

import pytest
from helpers import assert_one_line_error, make_look
from typer.testing import CliRunner

from corpus.cases import CASES, MANIFEST_NAME, Kit
from hrstyle.cli import app
from hrstyle.look.file import save_look
from hrstyle.render.manifest import MANIFEST_LOCK_NAME

runner = CliRunner()


@pytest.fixture(scope="session")
def corpus_look(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small look for the whole corpus: an untuned hrnet-small with a visible grade."""
    look = make_look()
    path = tmp_path_factory.mktemp("corpus") / "corpus.look.safetensors"
    save_look(path, look.net, look.meta)
    return path


def _snapshot(root: Path) -> tuple[dict[str, str], set[str]]:
    """SHA-256 of every file, and every folder, under ``root`` (relative POSIX paths)."""
    files, folders = {}, set()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_dir():
            folders.add(rel)
        elif path.is_file():
            files[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files, folders


def _beside_a_manifest(rel: str, files: dict[str, str]) -> bool:
    """Whether ``rel`` is the lock file a render keeps beside its manifest."""
    path = Path(rel)
    return path.name == MANIFEST_LOCK_NAME and (path.parent / MANIFEST_NAME).as_posix() in files


def _check_manifests(root: Path, new_files: set[str]) -> None:
    """Each new manifest lists exactly the frame files beside it, with their SHA-256."""
    for rel in (f for f in new_files if f.endswith(MANIFEST_NAME)):
        folder = (root / rel).parent
        frames = json.loads((root / rel).read_text())["frames"]
        done = {entry["output"]: entry["sha256"] for entry in frames.values() if entry["status"] == "done"}
        on_disk = {p.name for p in folder.iterdir() if p.name not in (MANIFEST_NAME, MANIFEST_LOCK_NAME)}
        assert set(done) == on_disk, f"{rel} lists {sorted(done)}, the folder holds {sorted(on_disk)}"
        for name, sha in done.items():
            assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha, name


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES])
def test_case(case, tmp_path: Path, corpus_look: Path) -> None:
    root = tmp_path / "case"
    root.mkdir()
    with contextlib.ExitStack() as stack:
        kit = Kit(root, corpus_look, stack)
        argv = [str(a) for a in case.build(kit)]
        before, folders_before = _snapshot(root)
        with contextlib.ExitStack() as during:
            for context in kit.during:
                during.enter_context(context())
            result = runner.invoke(app, argv)
        after, folders_after = _snapshot(root)

        if case.code == 0:
            assert result.exit_code == 0, result.output
            assert "Traceback" not in result.output and "hrstyle: error" not in result.output, result.output
            assert case.fragment in result.output, result.output
        else:
            assert_one_line_error(result, case.code, case.fragment)

        changed = sorted(name for name, sha in before.items() if after.get(name) != sha)
        assert not changed, f"input files changed or removed: {changed}"
        new = set(after) - set(before)
        unexpected = sorted(
            f
            for f in new
            if not any(fnmatch.fnmatch(f, glob) for glob in case.leaves) and not _beside_a_manifest(f, after)
        )
        assert not unexpected, f"left files it should not have: {unexpected}"
        for glob in case.leaves:
            assert any(fnmatch.fnmatch(f, glob) for f in new), f"wrote no {glob}; new files: {sorted(new)}"
        needed = {parent.as_posix() for f in new for parent in Path(f).parents if parent != Path(".")}
        empty = sorted(folders_after - folders_before - needed)
        assert not empty, f"left empty folders: {empty}"
        _check_manifests(root, new)
        if case.check is not None:
            case.check(kit)
