"""Checks of option values shared by the modules that take them (connections, shutdown)."""

from __future__ import annotations

import math

from .errors import InvalidOption

__all__ = ["check_seconds"]


def check_seconds(name: str, value: object, *, optional: bool) -> None:
    """Check a timeout option: a finite positive int or float (or None if ``optional``).

    Raises :class:`~wsstate.InvalidOption` naming the option (also a
    :class:`TypeError` for a value that is not a number: a bool, a string). A
    NaN or infinite delay is refused here, before it can reach a timer: a timer
    that never falls due would also hold up every timer of the same delay
    queued after it (``_timers``).
    """
    if value is None and optional:
        return
    # A float first, checked without building anything (every option of every
    # guard() call comes here).
    if value.__class__ is float:
        if 0 < value < math.inf:  # False for a NaN
            return
    elif value.__class__ is not bool and isinstance(value, _NUMBER):
        try:
            seconds = float(value)  # an int too large for a float is no delay either
        except OverflowError:
            seconds = math.inf
        if 0 < seconds < math.inf:
            return
    else:
        raise InvalidOption.wrong_type(name, f"{name} must be {_what(optional)}, not {value!r}")
    raise InvalidOption(name, f"{name} must be {_what(optional)}, not {value!r}")


_NUMBER = (int, float)


def _what(optional: bool) -> str:
    return "a positive number of seconds" + (" or None" if optional else "")
