"""Close codes and reasons: which may go on the wire (RFC 6455 §7.4, IANA registry).

A close code is *sendable* when an endpoint may put it in a Close frame:

* 1000-1003 and 1007-1014 (the assigned codes an endpoint may send);
* 3000-3999 (registered with IANA for libraries and frameworks);
* 4000-4999 (private use).

Everything else is rejected: codes below 1000, the reserved 1004, the codes that
must never appear on the wire (1005 "no status", 1006 "abnormal closure", 1015
"TLS failure"), the unassigned 1016-2999, and 5000 and above.

A close reason must encode to at most 123 bytes of strict UTF-8 (a Close frame's
payload is at most 125 bytes, two of which hold the code); a lone surrogate is
not valid UTF-8.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ABNORMAL_CLOSURE",
    "MAX_REASON_BYTES",
    "NO_STATUS",
    "InvalidCloseArgs",
    "InvalidCloseCode",
    "InvalidCloseReason",
    "is_sendable_code",
    "validate_close",
]

#: Largest encoded size of a close reason, in bytes.
MAX_REASON_BYTES: Final = 123
#: Reported when the peer's Close frame carried no code. Never sent.
NO_STATUS: Final = 1005
#: Reported when the connection ended without a Close frame. Never sent.
ABNORMAL_CLOSURE: Final = 1006

_ASSIGNED_SENDABLE: Final = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015)})


class InvalidCloseArgs(ValueError):
    """A close code or reason that may not be sent; raised before any state change."""


class InvalidCloseCode(InvalidCloseArgs):
    """The close code is reserved, unassigned or out of range."""


class InvalidCloseReason(InvalidCloseArgs):
    """The close reason is not a string, not strict UTF-8, or longer than 123 bytes."""


def is_sendable_code(code: int) -> bool:
    """Return True if ``code`` may appear in a Close frame we send."""
    return code in _ASSIGNED_SENDABLE or 3000 <= code <= 4999


def validate_close(code: object, reason: object) -> bytes:
    """Check a close code and reason; return the reason encoded as UTF-8.

    Raises :class:`InvalidCloseCode` or :class:`InvalidCloseReason` (both
    :class:`ValueError` subclasses) with a message that says what is allowed.
    """
    if isinstance(code, bool) or not isinstance(code, int):
        raise InvalidCloseCode(f"close code must be an int, not {type(code).__name__}")
    if not is_sendable_code(code):
        raise InvalidCloseCode(
            f"close code {code} may not be sent: use 1000-1003, 1007-1014 or 3000-4999 "
            "(1004, 1005, 1006, 1015 are reserved; 1016-2999 are unassigned)"
        )
    if not isinstance(reason, str):
        raise InvalidCloseReason(f"close reason must be a str, not {type(reason).__name__}")
    try:
        encoded = reason.encode("utf-8", errors="strict")
    except UnicodeEncodeError as exc:
        raise InvalidCloseReason(
            f"close reason is not valid UTF-8 (character at index {exc.start}): {reason!r}"
        ) from None
    if len(encoded) > MAX_REASON_BYTES:
        raise InvalidCloseReason(
            f"close reason is {len(encoded)} bytes in UTF-8; at most {MAX_REASON_BYTES} are allowed"
        )
    return encoded
