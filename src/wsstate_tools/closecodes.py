"""The runtime's close-code rules, loaded without importing the runtime package.

RFC 6455's close-code and close-reason rules live in one place,
``wsstate/closecodes.py``: the runtime enforces them, the spec validator checks
row codes against them, and the model checker and Promela model use them to
decide what may appear on the wire. That module imports nothing of the runtime.

The tooling must never import ``wsstate`` itself to generate or check: importing
the package runs ``wsstate/__init__.py``, which imports the generated tables, so
a broken generated file would stop ``wsstate generate`` from repairing it. This
module therefore finds the ``wsstate`` package without executing it
(:func:`importlib.util.find_spec` on a top-level name runs no code) and loads
``closecodes.py`` from it as a standalone module.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Final, cast

__all__ = ["ABNORMAL_CLOSURE", "MAX_REASON_BYTES", "NO_STATUS", "is_sendable_code"]

_NAME: Final = "wsstate_tools._runtime_closecodes"


def _load() -> ModuleType:
    if _NAME in sys.modules:
        return sys.modules[_NAME]
    found = importlib.util.find_spec("wsstate")
    if found is None or not found.submodule_search_locations:
        raise ImportError("the wsstate runtime package is not installed")
    path = Path(next(iter(found.submodule_search_locations))) / "closecodes.py"
    spec = importlib.util.spec_from_file_location(_NAME, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a file path always has one
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_NAME] = module
    spec.loader.exec_module(module)
    return module


_rules: Final = _load()

MAX_REASON_BYTES: Final[int] = _rules.MAX_REASON_BYTES
NO_STATUS: Final[int] = _rules.NO_STATUS
ABNORMAL_CLOSURE: Final[int] = _rules.ABNORMAL_CLOSURE
is_sendable_code: Final = cast(Callable[[int], bool], _rules.is_sendable_code)
