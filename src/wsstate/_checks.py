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
    what = "a positive number of seconds" + (" or None" if optional else "")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidOption.wrong_type(name, f"{name} must be {what}, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidOption(name, f"{name} must be {what}, not {value!r}")
