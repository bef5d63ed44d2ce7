"""Entry points: :func:`guard` wraps a native connection, :func:`connect` opens a client."""

from __future__ import annotations

import functools
import itertools
import sys
from contextlib import AbstractAsyncContextManager
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

from .connection import GuardedConnection, Options
from .errors import HandshakeFailed

if TYPE_CHECKING:
    from websockets.asyncio.connection import Connection

    from .adapters.websockets import WebsocketsTransport

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
    name = options.pop("name", None)
    return _guard(ws, Options(**options) if options else _DEFAULTS, name)


def _guard(ws: object, options: Options, name: str | None) -> GuardedConnection:
    name = name or f"ws{next(_ids)}"
    if isinstance(ws, _websockets_connection()):
        transport = _websockets_transport()(ws)
        return GuardedConnection(transport, options, opened=True, name=name)
    # Only an object of an imported module can be its instance: Starlette is never
    # imported here for a type that is not its own.
    starlette_ws = sys.modules.get("starlette.websockets")
    if starlette_ws is not None and isinstance(ws, starlette_ws.WebSocket):
        from .adapters.starlette import StarletteTransport

        starlette = StarletteTransport(ws)
        return GuardedConnection(starlette, options, opened=starlette.accepted, name=name)
    raise TypeError(
        f"wsstate.guard() does not support {type(ws).__module__}.{type(ws).__qualname__}; "
        "supported: websockets.asyncio ServerConnection and ClientConnection, "
        "starlette.websockets.WebSocket (FastAPI's WebSocket)"
    )


def connect(uri: str, **options: Any) -> AbstractAsyncContextManager[GuardedConnection]:
    """Open a client connection to ``uri``; yield it guarded; close it on exit.

    Use it as ``async with wsstate.connect(uri) as conn:``. ``options`` are
    :func:`guard`'s, plus any keyword websockets' ``connect()`` takes
    (``additional_headers``, ``subprotocols``, ...). Keepalive is wsstate's
    (websockets' own is disabled so the table decides what a late pong means).
    Invalid options raise at once; :class:`~wsstate.HandshakeFailed` on entry
    if the connection cannot be opened.
    """
    guard_options: dict[str, Any] = {}
    ws_options: dict[str, Any] = {"ping_interval": None}
    for key, value in options.items():
        if key in _GUARD_KEYS:
            guard_options[key] = value
            if key in _SHARED_KEYS:  # websockets' handshake and close obey them too
                ws_options[key] = value
        else:
            ws_options[key] = value
    name = guard_options.pop("name", None)
    opts = Options(**guard_options) if guard_options else _DEFAULTS
    return _Connection(uri, opts, name, ws_options)


class _Connection(AbstractAsyncContextManager[GuardedConnection]):
    """What :func:`connect` returns: opens on entry, closes on exit."""

    __slots__ = ("_conn", "_name", "_options", "_uri", "_ws_options")

    def __init__(
        self, uri: str, options: Options, name: str | None, ws_options: dict[str, Any]
    ) -> None:
        self._uri = uri
        self._options = options
        self._name = name
        self._ws_options = ws_options
        self._conn: GuardedConnection | None = None

    async def __aenter__(self) -> GuardedConnection:
        if self._conn is not None:
            raise RuntimeError("this wsstate.connect() context is already in use")
        client = _websockets_client()
        try:
            ws = await client.connect(self._uri, **self._ws_options)
        except (OSError, _websockets_exceptions().InvalidHandshake, TimeoutError) as exc:
            raise HandshakeFailed(f"cannot open {self._uri}: {exc}") from exc
        self._conn = _guard(ws, self._options, self._name)
        return self._conn

    async def __aexit__(self, *exc_info: object) -> None:
        if self._conn is not None:
            await self._conn.close()


# websockets is imported on first use (a Starlette application may never need it),
# once: an import statement costs about a microsecond even when the module is
# loaded, and these run for every connection (docs/performance.md, churn).


@functools.cache
def _websockets_connection() -> type[Connection]:
    from websockets.asyncio.connection import Connection

    return Connection


@functools.cache
def _websockets_transport() -> type[WebsocketsTransport]:
    from .adapters.websockets import WebsocketsTransport

    return WebsocketsTransport


@functools.cache
def _websockets_client() -> ModuleType:
    from websockets.asyncio import client

    return client


@functools.cache
def _websockets_exceptions() -> ModuleType:
    from websockets import exceptions

    return exceptions


_DEFAULTS: Final = Options()
_GUARD_KEYS: Final = frozenset(Options.__dataclass_fields__) | {"name"}
_SHARED_KEYS: Final = frozenset({"open_timeout", "close_timeout"})
