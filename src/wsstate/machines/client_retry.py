# GENERATED FILE - DO NOT EDIT.
# Source: spec/retry/client.toml
# Regenerate with `wsstate generate`; `wsstate check` fails if this file is stale.
"""The client machine's retry classification, from spec/retry/client.toml.

Which failed attempts and which closures the reconnecting client retries.

Each decision is one of ``retry``, ``retry_after`` (retry; a Retry-After header or
the close reason's seconds are a floor for the next delay) or ``fatal``. Ranges are
inclusive, sorted and cover their span exactly once (checked by wsstate_tools.retry).
"""

from __future__ import annotations

from typing import Final

__all__ = ["CLOSE", "CLOSED_BY", "FAILURES", "HTTP"]

CLOSED_BY: Final[tuple[tuple[str, str], ...]] = (
    ("remote", "by_code"),
    ("local", "retry"),
    ("timeout", "retry"),
    ("transport", "retry"),
)
"""(who ended an open connection, decision; by_code: its close code decides)."""

FAILURES: Final[tuple[tuple[str, str], ...]] = (
    ("os_error", "retry"),
    ("timeout", "retry"),
    ("handshake_eof", "retry"),
    ("invalid_uri", "fatal"),
    ("tls_verification", "fatal"),
    ("invalid_handshake", "fatal"),
)
"""(failure kind, decision) of attempts that failed before any HTTP response."""

HTTP: Final[tuple[tuple[int, int, str], ...]] = (
    (100, 399, "fatal"),
    (400, 407, "fatal"),
    (408, 408, "retry"),
    (409, 428, "fatal"),
    (429, 429, "retry_after"),
    (430, 499, "fatal"),
    (500, 500, "retry"),
    (501, 501, "fatal"),
    (502, 502, "retry"),
    (503, 503, "retry_after"),
    (504, 504, "retry"),
    (505, 599, "fatal"),
)
"""(first, last, decision) by HTTP status of a refused handshake."""

CLOSE: Final[tuple[tuple[int, int, str], ...]] = (
    (1000, 1000, "retry"),
    (1001, 1001, "retry"),
    (1002, 1003, "fatal"),
    (1004, 1004, "retry"),
    (1005, 1006, "retry"),
    (1007, 1010, "fatal"),
    (1011, 1012, "retry"),
    (1013, 1013, "retry_after"),
    (1014, 1014, "retry"),
    (1015, 2999, "retry"),
    (3000, 3999, "retry"),
    (4000, 4999, "fatal"),
)
"""(first, last, decision) by close code of an open connection that closed."""
