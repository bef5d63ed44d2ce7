"""What needs the ``testing`` extra says so, before it imports what it lacks.

``import wsstate`` and ``wsstate.testing``'s fault proxy need neither
python-statemachine nor Hypothesis; the fuzzers, the stateful harness and the
bench figures built on them do. Without the extra they failed with a bare
``ModuleNotFoundError`` (and ``wsstate fuzz`` with a traceback) naming no
extra.
"""

from __future__ import annotations

import importlib.util
from typing import Final

__all__ = ["missing_testing_extra", "require_testing_extra"]

#: The extra's modules and the distributions that provide them.
_MODULES: Final = (("hypothesis", "hypothesis"), ("statemachine", "python-statemachine"))
INSTALL: Final = "pip install 'wsstate[testing]'"


def missing_testing_extra() -> list[str]:
    """The distributions of the ``testing`` extra that are not installed."""
    return [dist for module, dist in _MODULES if importlib.util.find_spec(module) is None]


def require_testing_extra(what: str) -> None:
    """Raise :class:`ModuleNotFoundError` naming the extra if any of it is missing."""
    missing = missing_testing_extra()
    if missing:
        raise ModuleNotFoundError(
            f"{what} needs the testing extra ({', '.join(missing)} not installed): {INSTALL}"
        )
