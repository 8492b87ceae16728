"""Re-export a package's public names without importing its modules until a name is used.

A subpackage's ``__init__`` names what it offers (``hrstyle.look.load_look``), but
importing ``hrstyle.look.meta`` must not load torch through ``hrstyle.look``: the
CLI's help and ``hrstyle info`` stay instant (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose name N lives in its module ``exports[N]``."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
