"""Safe file I/O. Output is atomic: write beside the target, fsync, then rename over it.

A reader (or a resumed run) sees either the old file, the complete new one, or
nothing; never half a frame or half a look. Processes that update one file
together (farm tasks merging a manifest) take turns through `locked`. Input
files that hrstyle parses whole (looks, LUTs) are read only if they are
regular files of bounded size.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import socket
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import InputError, OutputError


def _host_tag() -> str:
    """This machine's short host name, reduced to what is safe in a file name."""
    return re.sub(r"[^A-Za-z0-9-]", "", socket.gethostname().split(".")[0]) or "host"


# Render-farm nodes share output folders, and a process id means something only on its own host.
_HOST = _host_tag()


def temp_path_for(path: Path) -> Path:
    """A hidden sibling that keeps the real extension, so writers pick the right format,
    and names the writing process and its host."""
    return path.with_name(f".{path.stem}.tmp{os.getpid()}@{_HOST}{path.suffix}")


_TEMP_NAME = re.compile(r"\..+\.tmp(?P<pid>[0-9]{1,9})@(?P<host>[A-Za-z0-9-]+)(\.[^.]*)?")


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete the temporary files (`temp_path_for`) in ``folder`` of hrstyle processes
    on this host that are gone: what a killed run leaves behind. Another host's are
    left alone, since whether their writer still runs cannot be told from here.
    Returns what was removed."""
    removed = []
    for entry in Path(folder).iterdir():
        m = _TEMP_NAME.fullmatch(entry.name)
        if m is None or m["host"] != _HOST or _alive(int(m["pid"])) or not entry.is_file():
            continue
        entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


def describe_os_error(path: Path, exc: OSError) -> str:
    """One line saying what went wrong writing ``path`` and what to do."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{path}: disk full; free space or choose another output folder"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{path.parent}: output folder is not writable; fix its permissions or choose another with -o"
    if exc.errno == errno.ENOENT:
        return f"{path.parent}: output folder does not exist; create it or choose another with -o"
    return f"{path}: cannot write ({exc.strerror or exc}); check the output folder"


def check_writable(path: str | Path) -> None:
    """Fail early, before minutes of work, if ``path`` could not be written."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"{folder}: output folder does not exist; create it or choose another with -o")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: output folder is not writable; fix its permissions or choose another with -o")


def check_room(path: str | Path, nbytes: int) -> None:
    """Fail if the folder of ``path`` has less than ``nbytes`` free, for writers that
    do not report a full disk themselves (see `hrstyle.frames.write_image`)."""
    path = Path(path)
    try:
        free = shutil.disk_usage(path.parent if str(path.parent) else ".").free
    except OSError:
        return  # the write itself will say what is wrong with the folder
    if free < nbytes:
        raise OutputError(describe_os_error(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))))


def make_folder(folder: str | Path) -> None:
    """``mkdir -p`` that fails with a one-line OutputError."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(describe_os_error(folder, exc)) from None


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is fsynced and renamed to ``path``.

    On any failure the temporary file is removed and OSErrors become one-line OutputErrors.
    """
    path = Path(path)
    tmp = temp_path_for(path)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(describe_os_error(path, exc)) from None
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


@contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` for the block, against other processes
    and threads, on this host or (through NFS, which emulates flock with byte-range locks)
    on others. The file is created empty if need be and never removed: removing a lock
    file races with the processes waiting on it."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # NFS grants an exclusive lock only on a writable file
    except OSError as exc:
        raise OutputError(describe_os_error(path, exc)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as exc:
        os.close(fd)
        raise OutputError(
            f"{path}: cannot lock ({exc.strerror or exc}); the output folder must be on a "
            "filesystem with file locks (on NFS: lockd running, not mounted nolock)"
        ) from None
    try:
        yield
    finally:
        os.close(fd)  # releases the lock


def read_small_file(path: Path, what: str, error: type[InputError], max_bytes: int = 1 << 30) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``, or ``error`` naming ``path`` and ``what`` it should be.

    Checks the file type before opening: opening a FIFO would wait for a writer,
    and /dev/zero would read until memory runs out.
    """
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise error(f"{path}: is a folder, not {what}")
        if not stat.S_ISREG(mode):
            raise error(f"{path}: not {what} (not a regular file)")
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise error(f"{path}: no such file; expected {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise error(f"{path}: not {what} hrstyle can read (over {max_bytes >> 20} MB)")
    return data
