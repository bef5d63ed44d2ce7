"""Entry points: :func:`guard` wraps a native connection, :func:`connect` opens a client."""

from __future__ import annotations

import contextlib
import itertools
import sys
from collections.abc import AsyncIterator
from typing import Any, Final

from .connection import GuardedConnection, Options
from .errors import HandshakeFailed

__all__ = ["connect", "guard"]

_ids: Final = itertools.count(1)


def guard(ws: object, **options: Any) -> GuardedConnection:
    """Wrap a native WebSocket connection in a :class:`GuardedConnection`.

    Supported: websockets' asyncio ``ServerConnection`` and ``ClientConnection``
    (already open); a Starlette (or FastAPI) ``WebSocket``, before or after
    ``accept()`` (``pip install wsstate[starlette]``; before, the connection is
    CONNECTING until ``await conn.accept()``). ``options`` are the fields of
    :class:`Options` (``ping_interval``, ``ping_timeout``, ``close_timeout``,
    ``write_timeout``, ``open_timeout``) and ``name`` (used in log lines). Call
    it from the event loop that runs the connection.
    """
    name = options.pop("name", None) or f"ws{next(_ids)}"
    opts = Options(**options)
    from websockets.asyncio.connection import Connection

    if isinstance(ws, Connection):
        from .adapters.websockets import WebsocketsTransport

        return GuardedConnection(WebsocketsTransport(ws), opts, opened=True, name=name)
    # Only an object of an imported module can be its instance: Starlette is never
    # imported here for a type that is not its own.
    starlette_ws = sys.modules.get("starlette.websockets")
    if starlette_ws is not None and isinstance(ws, starlette_ws.WebSocket):
        from .adapters.starlette import StarletteTransport

        transport = StarletteTransport(ws)
        return GuardedConnection(transport, opts, opened=transport.accepted, name=name)
    raise TypeError(
        f"wsstate.guard() does not support {type(ws).__module__}.{type(ws).__qualname__}; "
        "supported: websockets.asyncio ServerConnection and ClientConnection, "
        "starlette.websockets.WebSocket (FastAPI's WebSocket)"
    )


@contextlib.asynccontextmanager
async def connect(uri: str, **options: Any) -> AsyncIterator[GuardedConnection]:
    """Open a client connection to ``uri``; yield it guarded; close it on exit.

    ``options`` are :func:`guard`'s, plus any keyword websockets'
    ``connect()`` takes (``additional_headers``, ``subprotocols``, ...). Keepalive
    is wsstate's (websockets' own is disabled so the table decides what a late
    pong means). Raises :class:`~wsstate.HandshakeFailed` if the connection
    cannot be opened.
    """
    from websockets.asyncio.client import connect as ws_connect
    from websockets.exceptions import InvalidHandshake

    guard_keys = {f for f in Options.__dataclass_fields__} | {"name"}
    guard_options = {k: v for k, v in options.items() if k in guard_keys}
    ws_options = {k: v for k, v in options.items() if k not in guard_keys}
    ws_options.setdefault("ping_interval", None)
    if "open_timeout" in guard_options:
        ws_options["open_timeout"] = guard_options["open_timeout"]
    if "close_timeout" in guard_options:
        ws_options["close_timeout"] = guard_options["close_timeout"]
    try:
        ws = await ws_connect(uri, **ws_options)
    except (OSError, InvalidHandshake, TimeoutError) as exc:
        raise HandshakeFailed(f"cannot open {uri}: {exc}") from exc
    conn = guard(ws, **guard_options)
    try:
        yield conn
    finally:
        await conn.close()
