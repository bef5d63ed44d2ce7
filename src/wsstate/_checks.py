"""Checks shared by the modules that take what they check: option values (connections,
shutdown) and the payloads of sends (connections, hubs, clients, sessions)."""

from __future__ import annotations

import functools
import inspect
import math
import re
import types
from typing import Any, Final, cast

from .adapters.base import Data
from .errors import InvalidOption

__all__ = [
    "callback_mismatch",
    "check_hook",
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

#: Characters a URL (a client's ``ws://`` URI, a Redis url) may not hold as they are:
#: whitespace and controls, which urllib drops or a request carries as they are
#: (RFC 3986: percent-encoded if meant).
UNSAFE_IN_URL: Final = re.compile(r"[\x00-\x20\x7f]")

#: Callables implemented in C: their signature is not read (module doc of callback_mismatch).
_BUILTIN_CALLABLES: Final = frozenset(
    {
        types.BuiltinFunctionType,
        types.BuiltinMethodType,
        types.MethodWrapperType,
        types.MethodDescriptorType,
        types.WrapperDescriptorType,
    }
)


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


def check_hook(name: str, hook: object, arguments: int, called: str) -> None:
    """Refuse a hook option that is neither None nor a callable taking ``arguments``
    positional arguments (``called``: how it is called, for the message), with
    :class:`~wsstate.InvalidOption` naming it (a :class:`TypeError` too)."""
    if hook is None:
        return
    if not callable(hook):
        raise InvalidOption.wrong_type(name, f"{name} must be callable or None, not {hook!r}")
    mismatch = callback_mismatch(hook, arguments)
    if mismatch is not None:
        raise InvalidOption.wrong_type(name, f"{name} {hook!r} is called {called}: {mismatch}")


def callback_mismatch(callback: object, arguments: int) -> str | None:
    """Why ``callback`` cannot be called with ``arguments`` positional arguments; None if
    it can, or if it cannot be told (a builtin without a signature).

    Hooks are registered long before they run (at a close, an expiry, a gap): a hook
    that cannot take its arguments would fail only then, in a log. ``on_close`` is
    registered per connection, so what is common is read without
    :func:`inspect.signature` (tens of microseconds): a plain function, a method of
    one, a callable object whose ``__call__`` is one (a ``Mock`` too), a
    ``functools.partial`` of one without keywords, off their code objects (under
    two microseconds); a builtin (C) callable through its signature, read once per
    kind (``list.append``) and kept; anything else (a class, a partial with
    keywords) through :func:`inspect.signature`.
    """
    wanted = arguments
    function: object = callback
    bound = 0
    kind = type(function)  # exact types: a Mock(spec=f) claims f's class
    if kind is functools.partial:
        partial = cast("functools.partial[object]", function)
        if not partial.keywords:
            function, kind = partial.func, type(partial.func)
            arguments += len(partial.args)
    elif kind not in (types.FunctionType, types.MethodType) and not isinstance(function, type):
        call = _raw_call(kind)  # as defined: a staticmethod's takes no instance
        if type(call) is staticmethod or type(call) is classmethod:
            # (inspect.signature drops a staticmethod __call__'s first parameter)
            bound = 0 if type(call) is staticmethod else 1
            call = call.__func__
        else:
            bound = 1
        if type(call) is types.FunctionType:
            function, kind = call, types.FunctionType
        else:
            bound = 0
    if kind is types.MethodType:
        method = cast(types.MethodType, function)
        function, kind, bound = method.__func__, type(method.__func__), bound + 1
    if kind is types.FunctionType:
        plain = cast(types.FunctionType, function)
        code = plain.__code__
        given = arguments + bound  # a method's instance and a partial's arguments too
        required = code.co_argcount - len(plain.__defaults__ or ())
        if (
            required <= given
            and (given <= code.co_argcount or code.co_flags & inspect.CO_VARARGS)
            and code.co_kwonlyargcount <= len(plain.__kwdefaults__ or {})
        ):
            return None
        # Said with the function's own signature (inspect.signature of the callable
        # itself would drop a staticmethod __call__'s first parameter).
        signature = inspect.signature(plain)
        try:
            signature.bind(*([None] * given))
        except TypeError as exc:
            return _mismatch(wanted, signature, exc)
        return None  # pragma: no cover - the code object said otherwise
    if kind in _BUILTIN_CALLABLES:
        # The verdict, read once per kind, name, owner and count (a builtin's
        # signature costs tens of microseconds to read, a few to bind).
        key = (
            kind,
            getattr(function, "__qualname__", None),
            type(getattr(function, "__self__", None)),
            arguments,
            wanted,
        )
        verdict = _BUILTIN_VERDICTS.get(key, _UNREAD)
        if verdict is _UNREAD:
            verdict = None
            try:
                read = inspect.signature(function)  # type: ignore[arg-type]
            except Exception:  # no signature to read: called as it is
                read = None
            if read is not None:
                try:
                    read.bind(*([None] * arguments))
                except TypeError as exc:
                    verdict = _mismatch(wanted, read, exc)
            if len(_BUILTIN_VERDICTS) < _KEPT_VERDICTS:
                _BUILTIN_VERDICTS[key] = verdict
        return cast("str | None", verdict)
    # The callback as it is called (a partial's own arguments and a method's self bound).
    try:
        signature = inspect.signature(callback)  # type: ignore[arg-type]
    except Exception:  # no signature to read (a builtin, an odd object): called as it is
        return None
    try:
        signature.bind(*([None] * wanted))
    except TypeError as exc:
        return _mismatch(wanted, signature, exc)
    return None


def _mismatch(arguments: int, signature: object, exc: TypeError) -> str:
    plural = "" if arguments == 1 else "s"
    return (
        f"it must take {arguments} positional argument{plural}; its signature is "
        f"{signature} ({exc})"
    )


def _raw_call(kind: type) -> object:
    """``kind``'s ``__call__`` as its class defines it (a staticmethod unwrapped is not)."""
    for klass in kind.__mro__:
        call = klass.__dict__.get("__call__")
        if call is not None:
            return call
    return None


#: A builtin callable's verdict (callback_mismatch's), by its kind, name, owner and the
#: arguments it is given.
_BUILTIN_VERDICTS: Final[dict[tuple[type, object, type, int, int], str | None]] = {}
_KEPT_VERDICTS: Final = 256
_UNREAD: Final[Any] = object()
