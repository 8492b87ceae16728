"""The `hrstyle` command: the typer app, and library errors turned into one line and an exit code.

Each command (tune.py, look.py, render.py, score.py) turns options into a config, calls one
library function and prints. Commands import torch and the library's heavy modules inside their
bodies, so that ``hrstyle --help``, ``COMMAND --help`` and ``hrstyle info`` answer at once.
Errors from the library arrive as `HrstyleError`s and leave as one line on stderr with their exit
code (2 bad input, 1 runtime failure, 130 interrupted by Ctrl-C or a SIGTERM, e.g. from a render
farm's scheduler); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import ctypes
import functools
import signal
import sys
from typing import Annotated, Any, Callable, NoReturn

import typer
from rich.console import Console

from .. import __version__
from ..errors import HrstyleError

app = typer.Typer(
    name="hrstyle",
    help="Relight and regrade a whole shot from one reference still.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
_state = {"debug": False, "interrupted": False}

EXIT_INTERRUPTED = 130
TUNING = "Tuning"
OUTPUT = "Output"
RENDERING = "Rendering"
FARM = "Farm"


def fail(message: str, code: int) -> NoReturn:
    err.print(f"hrstyle: error: {message}", markup=False)
    raise typer.Exit(code)


def command(*args: Any, **kwargs: Any) -> Callable:
    """app.command, with library errors turned into one-line messages and exit codes."""

    def register(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*a: Any, **k: Any) -> Any:
            try:
                return fn(*a, **k)
            except (typer.Exit, typer.Abort):
                raise
            except HrstyleError as exc:
                if _state["debug"]:
                    raise
                fail(str(exc), exc.exit_code)
            except KeyboardInterrupt:
                if _state["debug"]:
                    raise
                fail("interrupted", EXIT_INTERRUPTED)
            except Exception as exc:  # the last line of defence: never a bare traceback for a colorist
                if _state["debug"]:
                    raise
                fail(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 1)

        return app.command(*args, **kwargs)(run)

    return register


def _version(value: bool) -> None:
    if value:
        out.print(f"hrstyle {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks instead of one-line errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    _state["debug"] = debug


def interrupt_pending() -> bool:
    """Whether Ctrl-C or a SIGTERM reached this process (`main`'s handler); the progress bars check
    it at every update, since a KeyboardInterrupt raised inside torch's import can be swallowed there."""
    return _state["interrupted"]


def _on_stop(signum: int, frame: Any) -> None:
    _state["interrupted"] = True
    raise KeyboardInterrupt


def main() -> None:
    # A SIGTERM (a farm scheduler, `timeout`, `kill`) stops as Ctrl-C does: the tune keeps its best
    # look and the render its finished frames, where the default action would leave temporary files.
    # Neither is taken over where the parent set it to be ignored.
    for signum, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
        if signal.getsignal(signum) is default:
            signal.signal(signum, _on_stop)
    try:
        sys.exit(app())
    except SystemExit as exc:
        if exc.code == EXIT_INTERRUPTED:
            # A KeyboardInterrupt that passed through a C extension's own run of Python code (a
            # pybind11 exec, during start-up) leaves CPython set to kill itself by SIGINT at exit,
            # whatever the exit code. Running any code string clears that; 130 is the answer.
            ctypes.pythonapi.PyRun_SimpleString(b"")
        raise
