"""Checks shared by the modules that take what they check: option values (connections,
shutdown) and the payloads of sends (connections, hubs, clients, sessions)."""

from __future__ import annotations

import inspect
import math
import types

from .adapters.base import Data
from .errors import InvalidOption

__all__ = [
    "callback_mismatch",
    "check_seconds",
    "check_text",
    "checked_at_least",
    "checked_payload",
]


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


def checked_at_least(name: str, value: object, minimum: float) -> float:
    """An option that is a finite int or float ``>= minimum`` (a delay that may be 0,
    a backoff factor >= 1), as a float.

    Raises :class:`~wsstate.InvalidOption` naming it (also a :class:`TypeError` for
    a bool, a string, None); a NaN, an infinity and an int too large for a float
    are refused.
    """
    what = f"{name} must be a finite number >= {minimum:g}"
    if value.__class__ is bool or not isinstance(value, _NUMBER):
        raise InvalidOption.wrong_type(name, f"{what}, not {value!r}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not minimum <= number < math.inf:  # a NaN is refused too
        raise InvalidOption(name, f"{what}, not {value!r}")
    return number


def checked_payload(data: object) -> Data:
    """A send's payload as it is sent: a ``str`` or ``bytes`` as is, a bytes-like
    (``bytearray``, ``memoryview``, ``array.array``, anything with the buffer
    protocol) copied to ``bytes``, its bytes in C order.

    Every public send checks its payload with this at the call, before anything
    changes or is queued: :class:`TypeError` for what is neither ``str`` nor
    bytes-like, :class:`ValueError` for a ``str`` that is not text UTF-8 can
    encode (a lone surrogate, ``"\\ud800"``), which no transport can send
    (:func:`check_text`).
    """
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        check_text(data)
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"data must be str or bytes-like, not {type(data).__name__}") from None
    with view:
        return view.tobytes()


def check_text(text: str) -> None:
    """Raise :class:`ValueError` if ``text`` cannot be sent as a text message (UTF-8).

    An ASCII string, most of them, is known to be without looking at it
    (``str.isascii()`` reads a flag); any other is encoded once to find out.
    """
    if text.isascii():
        return
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"a text message must be encodable as UTF-8: {exc.reason} at position "
            f"{exc.start} ({text[exc.start : exc.start + 1]!r})"
        ) from None


def callback_mismatch(callback: object, arguments: int) -> str | None:
    """Why ``callback`` cannot be called with ``arguments`` positional arguments; None if
    it can, or if it cannot be told (a builtin without a signature).

    Hooks are registered long before they run (at a close, an expiry, a gap): a hook
    that cannot take its arguments would fail only then, in a log. A plain function
    or method is read off its code object (a microsecond: ``on_close`` is registered
    per connection); anything else through :func:`inspect.signature`.
    """
    function: object = callback
    bound = 0
    if isinstance(function, types.MethodType):
        function, bound = function.__func__, 1
    if isinstance(function, types.FunctionType):
        code = function.__code__
        given = arguments + bound
        required = code.co_argcount - len(function.__defaults__ or ())
        kw_required = code.co_kwonlyargcount - len(function.__kwdefaults__ or {})
        if (
            required <= given
            and (given <= code.co_argcount or code.co_flags & inspect.CO_VARARGS)
            and kw_required <= 0
        ):
            return None
    try:
        signature = inspect.signature(callback)  # type: ignore[arg-type]
    except (TypeError, ValueError):  # no signature to read: called as it is
        return None
    try:
        signature.bind(*([None] * arguments))
    except TypeError as exc:
        plural = "" if arguments == 1 else "s"
        return (
            f"it must take {arguments} positional argument{plural}; its signature is "
            f"{signature} ({exc})"
        )
    return None
