"""Entry points: :func:`guard` wraps a native connection, :func:`connect` opens a client."""

from __future__ import annotations

import functools
import inspect
import itertools
import sys
import urllib.parse
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

from ._checks import UNSAFE_IN_URL
from .adapters.base import Transport
from .connection import GuardedConnection, Options
from .errors import HandshakeFailed, InvalidOption

if TYPE_CHECKING:
    from websockets.asyncio.connection import Connection

    from .adapters.aiohttp import AiohttpTransport
    from .adapters.websockets import WebsocketsTransport

__all__ = ["connect", "guard"]

_ids: Final = itertools.count(1)


def guard(ws: object, **options: Any) -> GuardedConnection:
    """Wrap a native WebSocket connection in a :class:`GuardedConnection`.

    Supported: websockets' asyncio ``ServerConnection`` and ``ClientConnection``
    (already open); a Starlette (or FastAPI) ``WebSocket``, before or after
    ``accept()`` (``pip install wsstate[starlette]``; before, the connection is
    CONNECTING until ``await conn.accept()``); an aiohttp ``web.WebSocketResponse``
    once ``prepare()`` returned, or the ``ClientWebSocketResponse`` of
    ``ws_connect()`` (``pip install wsstate[aiohttp]``); a tornado
    ``WebSocketHandler`` in its ``open()``, or the ``WebSocketClientConnection``
    of ``websocket_connect()`` (``pip install wsstate[tornado]``). ``options`` are the fields of
    :class:`Options` (``ping_interval``, ``ping_timeout``, ``close_timeout``,
    ``write_timeout``, ``open_timeout``) and ``name`` (used in log lines). Call
    it from the event loop that runs the connection.

    Every mistake is raised here: an unknown option (TypeError), an invalid
    timeout (:class:`~wsstate.InvalidOption`, naming it), an unsupported object
    (TypeError), a connection guarded already (:class:`~wsstate.AlreadyGuarded`).
    """
    if not options:  # the common call: nothing to check
        return _guard(ws, _DEFAULTS, None)
    name = _check_name(options.pop("name", None)) if "name" in options else None
    return _guard(ws, _options(options) if options else _DEFAULTS, name)


def _options(options: dict[str, Any]) -> Options:
    """The :class:`Options` of these keywords (``name`` taken out), checked once.

    A framework passes the same options to every ``guard()`` call: the ones checked
    already are kept, keyed by each value's type as well as the value (``True``
    equals ``1`` but is refused; a NaN equals nothing, so it is never found and is
    refused each time), the last :data:`_KEPT_OPTIONS` sets checked. Only sets of
    ``int``, ``float`` and ``None`` values are kept: a subclass decides its own
    equality and hash, so a kept set of it could be found for another value.
    """
    key = tuple([(k, v.__class__, v) for k, v in options.items()])
    keep = True
    for _, cls, _ in key:
        if cls not in _KEPT_TYPES:  # a subclass, or another type (refused below)
            keep = False
            break
    if keep:
        kept = _kept_options.get(key)
        if kept is not None:
            return kept
    unknown = sorted(set(options) - _GUARD_KEYS)
    if unknown:
        raise TypeError(
            f"guard() got unknown option(s) {', '.join(map(repr, unknown))}; "
            f"options: {', '.join(sorted(_GUARD_KEYS))}"
        )
    made = Options(**options)
    if keep:
        if len(_kept_options) >= _KEPT_OPTIONS:  # the oldest goes: the sets in use stay
            del _kept_options[next(iter(_kept_options))]
        _kept_options[key] = made
    return made


def _check_name(name: object) -> str | None:
    if name is not None and not isinstance(name, str):
        raise InvalidOption.wrong_type("name", f"name must be a str, not {name!r}")
    if name == "":
        raise InvalidOption(
            "name", "name must not be empty: it prefixes the connection's log lines"
        )
    return name


def _guard(ws: object, options: Options, name: str | None) -> GuardedConnection:
    name = name or f"ws{next(_ids)}"
    adapt = _ADAPTERS.get(type(ws))
    if adapt is None:
        adapt = _adapter_for(ws)
    transport, opened = adapt(ws)
    return GuardedConnection(transport, options, opened=opened, name=name)


Adapt = Callable[[Any], tuple[Transport, bool]]
#: Per native class, how to adapt its objects (found once per class: the checks
#: and imports below cost a few microseconds per connection otherwise).
_ADAPTERS: Final[dict[type, Adapt]] = {}


def _adapter_for(ws: object) -> Adapt:
    """How to adapt ``ws`` (its transport, and whether it is open), kept for its class.

    Only an object of an imported module can be its instance: Starlette, aiohttp
    and tornado are never imported here for a type that is not their own.
    """
    adapt: Adapt | None = None
    if isinstance(ws, _websockets_connection()):
        adapt = _adapt_websockets
    starlette_ws = sys.modules.get("starlette.websockets")
    if adapt is None and starlette_ws is not None and isinstance(ws, starlette_ws.WebSocket):
        adapt = _adapt_starlette
    aiohttp_server = sys.modules.get("aiohttp.web_ws")
    aiohttp_client = sys.modules.get("aiohttp.client_ws")
    if adapt is None and (
        (aiohttp_server is not None and isinstance(ws, aiohttp_server.WebSocketResponse))
        or (aiohttp_client is not None and isinstance(ws, aiohttp_client.ClientWebSocketResponse))
    ):
        adapt = _adapt_aiohttp
    tornado_ws = sys.modules.get("tornado.websocket")
    if (
        adapt is None
        and tornado_ws is not None
        and isinstance(ws, tornado_ws.WebSocketHandler | tornado_ws.WebSocketClientConnection)
    ):
        adapt = _adapt_tornado
    if adapt is None:
        raise TypeError(
            f"wsstate.guard() does not support {type(ws).__module__}.{type(ws).__qualname__}; "
            "supported: websockets.asyncio ServerConnection and ClientConnection, "
            "starlette.websockets.WebSocket (FastAPI's WebSocket), aiohttp WebSocketResponse "
            "and ClientWebSocketResponse, tornado WebSocketHandler and WebSocketClientConnection"
        )
    _ADAPTERS[type(ws)] = adapt
    return adapt


def _adapt_websockets(ws: Any) -> tuple[Transport, bool]:
    return _websockets_transport()(ws), True


def _adapt_starlette(ws: Any) -> tuple[Transport, bool]:
    from .adapters.starlette import StarletteTransport

    transport = StarletteTransport(ws)
    return transport, transport.accepted


def _adapt_aiohttp(ws: Any) -> tuple[Transport, bool]:
    return _aiohttp_transport()(ws), True


def _adapt_tornado(ws: Any) -> tuple[Transport, bool]:
    from .adapters.tornado import TornadoTransport

    return TornadoTransport(ws), True


@functools.cache
def _aiohttp_transport() -> type[AiohttpTransport]:
    from .adapters.aiohttp import AiohttpTransport

    return AiohttpTransport


def connect(uri: str, **options: Any) -> AbstractAsyncContextManager[GuardedConnection]:
    """Open a client connection to ``uri``; yield it guarded; close it on exit.

    Use it as ``async with wsstate.connect(uri) as conn:``. ``options`` are
    :func:`guard`'s, plus any keyword websockets' ``connect()`` takes
    (``additional_headers``, ``subprotocols``, ...). Keepalive is wsstate's
    (websockets' own is disabled so the table decides what a late pong means).
    Invalid options raise at once, at this call: a ``uri`` that is not a
    ``ws://`` or ``wss://`` URI, an invalid timeout, or a websockets option
    websockets itself would refuse only once connecting (``max_size``,
    ``max_queue``, ``write_limit``, ``origin``, ``user_agent_header``,
    ``additional_headers``, ``proxy``, ``proxy_ssl``, ``logger``,
    ``process_exception``, ``create_connection``; ``reconnect_delays``, which
    only websockets' reconnecting iterator uses): :class:`~wsstate.InvalidOption`,
    naming it, also a TypeError for a value of the wrong type; a keyword neither
    wsstate nor websockets takes (TypeError); and what websockets checks when its
    ``connect()`` is made (``subprotocols`` not a list: TypeError; ``ssl`` for a
    ``ws://`` URI: ValueError). What websockets passes on to asyncio's
    ``create_connection()`` (``local_addr``, ``family``, ``happy_eyeballs_delay``,
    ``server_hostname``, ...) is checked here too, by its type and range, and
    the TLS options are refused for a ``ws://`` URI.
    :class:`~wsstate.HandshakeFailed` on entry if the connection cannot be
    opened; no exception of websockets' own reaches the caller.
    """
    _check_uri(uri)
    # websockets' own, those it passes on to create_connection(), and its four for TLS
    # to an https:// proxy.
    unknown = sorted(set(options) - _GUARD_KEYS - _websockets_connect_keys())
    if unknown:
        raise TypeError(
            f"connect() got unknown option(s) {', '.join(map(repr, unknown))}: neither "
            "wsstate's (guard()) nor websockets' connect() or loop.create_connection() takes them"
        )
    guard_options: dict[str, Any] = {}
    ws_options: dict[str, Any] = {"ping_interval": None}
    for key, value in options.items():
        if key in _GUARD_KEYS:
            guard_options[key] = value
            if key in _SHARED_KEYS:  # websockets' handshake and close obey them too
                ws_options[key] = value
        else:
            ws_options[key] = value
    name = _check_name(guard_options.pop("name", None))
    opts = _options(guard_options) if guard_options else _DEFAULTS
    again = options
    if len(ws_options) > 1:  # more than the keepalive turned off
        from ._websockets_options import checked

        ws_options = checked(ws_options, secure=uri[:4].lower() == "wss:")
        # What a reconnecting client passes again: an iterator of headers read once.
        again = {**options, **{k: v for k, v in ws_options.items() if k not in _GUARD_KEYS}}
    # websockets checks what it can of its own options when its connect() is made
    # (subprotocols a list, no ssl for ws://...): made now, so those errors come
    # from this call; it connects only when awaited, on entry.
    connection = _Connection(uri, opts, name, _websockets_client().connect(uri, **ws_options))
    connection.keywords = again
    return connection


def checked_keywords(uri: str, options: dict[str, Any]) -> dict[str, Any]:
    """``connect(uri, **options)``'s checks; the keywords to pass to each later call
    (a reconnecting client's attempts: an iterator of headers as the list read)."""
    made = connect(uri, **options)
    assert isinstance(made, _Connection)
    return made.keywords


def _check_uri(uri: object) -> None:
    if not isinstance(uri, str):
        raise InvalidOption.wrong_type("uri", f"uri must be a str, not {uri!r}")
    _check_uri_text(uri)


#: A client connects to a few URIs again and again: each is checked once (a failed
#: check raises, and is not kept).
@functools.lru_cache(maxsize=64)
def _check_uri_text(uri: str) -> None:
    # What urllib drops (CR, LF, tab) or websockets sends as it is (a space, a NUL)
    # would make another request than the URI says, or a malformed one.
    bad = UNSAFE_IN_URL.search(uri)
    if bad is not None:
        raise InvalidOption(
            "uri",
            f"uri must not contain whitespace or control characters ({bad.group()!r} at "
            f"{bad.start()}; percent-encode it): {uri!r}",
        )
    try:
        if urllib.parse.urlsplit(uri).port == 0:  # websockets would connect to 80 or 443
            raise ValueError("port 0 is no port to connect to")
        _websockets_uri().parse_uri(uri)
    # A port out of range or not a number, a bracket left open: urllib's ValueError.
    except (_websockets_exceptions().InvalidURI, ValueError) as exc:
        raise InvalidOption(
            "uri", f"uri must be a ws:// or wss:// URI, not {uri!r} ({exc})"
        ) from None


@functools.cache
def _websockets_connect_keys() -> frozenset[str]:
    """Keywords websockets' connect() takes: its own, those it passes on to
    ``loop.create_connection()``, and its four for TLS to an ``https://`` proxy."""
    import asyncio

    names: set[str] = set()
    for function in (
        _websockets_client().connect.__init__,
        asyncio.BaseEventLoop.create_connection,
    ):
        for p in inspect.signature(function).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                names.add(p.name)
    from ._websockets_options import PROXY_TLS

    return frozenset(names - {"self", "uri", "host", "port", "protocol_factory"}) | PROXY_TLS


class _Connection(AbstractAsyncContextManager[GuardedConnection]):
    """What :func:`connect` returns: opens on entry, closes on exit."""

    __slots__ = ("_conn", "_connector", "_name", "_options", "_uri", "keywords")

    def __init__(
        self, uri: str, options: Options, name: str | None, connector: Awaitable[Connection]
    ) -> None:
        self._uri = uri
        self._options = options
        self._name = name
        self._connector = connector  # websockets' connect(): each await opens one
        self._conn: GuardedConnection | None = None
        #: The keywords to make the same connection again, as checked (an iterator of
        #: headers as the list read from it): a reconnecting client's.
        self.keywords: dict[str, Any] = {}

    async def __aenter__(self) -> GuardedConnection:
        if self._conn is not None:
            raise RuntimeError("this wsstate.connect() context is already in use")
        try:
            ws = await self._connector
        except (OSError, _websockets_exceptions().WebSocketException, TimeoutError) as exc:
            # Every websockets exception (InvalidHandshake, InvalidURI of a
            # redirect, a proxy's...): none of its own types reaches the caller.
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
def _websockets_uri() -> ModuleType:
    from websockets import uri

    return uri


@functools.cache
def _websockets_exceptions() -> ModuleType:
    from websockets import exceptions

    return exceptions


_DEFAULTS: Final = Options()
#: How many distinct sets of guard() options are kept checked (:func:`_options`).
_KEPT_OPTIONS: Final = 64
#: The types of the values a kept set may hold (exactly: no subclass).
_KEPT_TYPES: Final = frozenset({int, float, type(None)})
_kept_options: Final[dict[tuple[tuple[str, type, object], ...], Options]] = {}
_GUARD_KEYS: Final = frozenset(Options.__dataclass_fields__) | {"name"}
_SHARED_KEYS: Final = frozenset({"open_timeout", "close_timeout"})
