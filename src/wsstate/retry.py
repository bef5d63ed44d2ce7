"""Retry classification of the reconnecting client: a failure or a closure in, a decision out.

The decisions are the generated table :mod:`wsstate.machines.client_retry`
(from ``spec/retry/client.toml``); this module only reads facts off an
exception or a close code and looks them up. It is pure: no I/O, no state, no
time (the Retry-After date is compared with the ``now`` it is given).

An application overrides any decision with one predicate,
``ReconnectingClient(retry=...)``: called with the :class:`Refusal`, it returns
True (retry), False (stop) or None (keep the table's decision).
"""

from __future__ import annotations

import email.utils
import inspect
import math
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from .machines.client_retry import CLOSE, CLOSED_BY, FAILURES, HTTP

__all__ = [
    "Decision",
    "Refusal",
    "RetryPredicate",
    "classify_close",
    "classify_failure",
    "decide",
    "parse_retry_after",
    "unclassified",
]

Decision = Literal["retry", "retry_after", "fatal"]

_FAILURES: Final[Mapping[str, str]] = dict(FAILURES)
_CLOSED_BY: Final[Mapping[str, str]] = dict(CLOSED_BY)


@dataclass(frozen=True, slots=True)
class Refusal:
    """What ended an attempt or a connection, as the classification sees it."""

    kind: Literal["failure", "http", "close"]
    """``failure``: no HTTP response (``value`` is the failure kind); ``http``: a status
    other than 101 (``value`` is the status); ``close``: an open connection closed
    (``value`` is its close code)."""
    value: str | int
    decision: Decision
    """The table's decision (``retry_on_1000`` applied)."""
    floor: float | None = None
    """Seconds the next delay may not be shorter than (Retry-After, or 1013's reason)."""
    reason: str = ""
    """One line for the log."""
    exception: BaseException | None = field(default=None, compare=False)


RetryPredicate = Callable[[Refusal], bool | None]
"""``retry=``: True retries, False stops, None keeps the table's decision."""


def _lookup(ranges: tuple[tuple[int, int, str], ...], value: int) -> Decision:
    for lo, hi, decision in ranges:
        if lo <= value <= hi:
            return decision  # type: ignore[return-value]
    return "fatal"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    None for no header or one that is neither (never raises: the value is the
    server's, read as ISO-8859-1, so ``"²"`` is a digit to ``str.isdigit`` but no
    number; nor is a number too large for a float). A far date or a large number
    is honoured as it is: the server asked for it.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        if text.isascii() and text.isdigit():
            return float(int(text))
        when = email.utils.parsedate_to_datetime(text)
        return max(0.0, when.timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None


def _retry_after(headers: object, now: float) -> float | None:
    """The floor of a response's ``Retry-After`` headers: the longest of those that
    parse (a proxy and the application may each add one), None if none does."""
    get_all = getattr(headers, "get_all", None)
    values = get_all("Retry-After") if callable(get_all) else []
    floors = [f for f in (parse_retry_after(v, now) for v in values) if f is not None]
    return max(floors) if floors else None


def classify_failure(exc: BaseException, now: float) -> Refusal:
    """Classify why an attempt failed (the exception wsstate.connect raised, or its cause)."""
    from websockets.exceptions import InvalidMessage, InvalidStatus, InvalidURI

    cause = exc.__cause__ if exc.__cause__ is not None else exc
    if isinstance(cause, InvalidStatus):
        status = cause.response.status_code
        decision = _lookup(HTTP, status)
        floor = None
        if decision == "retry_after":
            floor = _retry_after(cause.response.headers, now)
        reason = f"HTTP {status}" + (f", Retry-After {floor:g} s" if floor is not None else "")
        return Refusal("http", status, decision, floor, reason, cause)
    if isinstance(cause, InvalidURI):
        kind = "invalid_uri"
    elif isinstance(cause, ssl.SSLCertVerificationError):
        kind = "tls_verification"
    elif isinstance(cause, InvalidMessage) and isinstance(cause.__cause__, EOFError):
        kind = "handshake_eof"
    elif isinstance(cause, TimeoutError):
        kind = "timeout"
    elif isinstance(cause, OSError):
        kind = "os_error"
    else:
        kind = "invalid_handshake"
    decision = _FAILURES[kind]  # type: ignore[assignment]
    text = str(cause) or type(cause).__name__
    return Refusal("failure", kind, decision, None, f"{kind}: {text}", cause)


def unclassified(exc: BaseException) -> Refusal:
    """The refusal of a failure the classification itself could not read (a bug of
    its own, logged by the caller): the table's decision for an invalid handshake."""
    kind = "invalid_handshake"
    decision: Decision = _FAILURES[kind]  # type: ignore[assignment]
    return Refusal("failure", kind, decision, None, f"{kind}: unclassified {exc!r}", exc)


def classify_close(
    code: int | None, reason: str, *, closed_by: str = "remote", retry_on_1000: bool = True
) -> Refusal:
    """Classify the closure of an open connection: by who ended it (a ``wsstate.ClosedBy``
    value), and for a Close the server sent, by its close code (None: 1006)."""
    value = 1006 if code is None else code
    by = _CLOSED_BY[closed_by]
    decision: Decision
    if by != "by_code":
        decision = by  # type: ignore[assignment]
    elif 1000 <= value <= 4999:
        decision = "fatal" if value == 1000 and not retry_on_1000 else _lookup(CLOSE, value)
    else:
        decision = "retry"
    floor = None
    if decision == "retry_after":
        try:
            seconds = float(reason.strip())
        except ValueError:
            seconds = math.nan
        # "inf" or "nan" is no number of seconds: the backoff alone decides.
        floor = max(0.0, seconds) if math.isfinite(seconds) else None
    text = f"close {value}" + (f" ({reason})" if reason else "")
    if closed_by != "remote":
        text += f", closed by {closed_by}"
    return Refusal("close", value, decision, floor, text)


def decide(refusal: Refusal, predicate: RetryPredicate | None) -> Refusal:
    """Apply the application's predicate to the table's decision.

    A verdict that is not True, False or None (a coroutine of an ``async def``
    predicate, a truthy string) raises :class:`TypeError`: the client logs it and
    keeps the table's decision.
    """
    if predicate is None:
        return refusal
    verdict = predicate(refusal)
    if verdict is None:
        return refusal
    if verdict.__class__ is not bool:
        if inspect.isawaitable(verdict) and hasattr(verdict, "close"):
            verdict.close()  # never awaited: no "coroutine was never awaited" warning
        raise TypeError(
            f"the retry predicate {predicate!r} answered {verdict!r}: it must return "
            "True (retry), False (stop) or None (the table decides)"
        )
    if not verdict:
        decision: Decision = "fatal"
    elif refusal.decision == "fatal":
        decision = "retry"
    else:
        decision = refusal.decision
    return Refusal(
        refusal.kind,
        refusal.value,
        decision,
        refusal.floor,
        refusal.reason + " (by the retry predicate)",
        refusal.exception,
    )
