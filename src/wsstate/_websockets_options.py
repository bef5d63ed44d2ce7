"""The options :func:`wsstate.connect` passes on to websockets' ``connect()``, checked at the call.

websockets 17 checks some of its options when its ``connect()`` is made
(``subprotocols``, ``compression``, ``extensions``, ``ssl`` for a ``ws://``
URI), and the rest only once it connects: ``max_size="big"`` fails on entry
with "too many values to unpack", ``max_queue=(4, 16)`` raises inside asyncio's
``connection_made`` (a traceback logged by the loop, then an ``AttributeError``
on entry), ``additional_headers={"a\\n": "b"}`` sends a request the server
refuses, ``logger="name"`` fails on the first log line. :func:`checked` refuses
each of those here, with :class:`~wsstate.InvalidOption` naming the option (also
a :class:`TypeError` for a value of the wrong type), by the rules websockets
applies later, so that a value it would take is taken and nothing that
reaches it fails for being malformed.

What websockets passes on to asyncio's ``create_connection()`` (``family``,
``local_addr``, ``happy_eyeballs_delay``, ``server_hostname``, ...) asyncio
checks only once connecting too (``'<=' not supported between instances of
'str' and 'int'`` on entry): each is checked here by its type and range.
"""

from __future__ import annotations

import re
import socket
import ssl
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, Final

from ._checks import check_seconds, checked_at_least
from .errors import InvalidOption

__all__ = ["checked"]

#: An HTTP header name (RFC 9110 token), as websockets parses one.
_TOKEN: Final = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
#: An HTTP header value websockets sends and parses (no CR, LF or other control).
_VALUE: Final = re.compile(r"[\x09\x20-\x7e\x80-\xff]*")


def _limit(
    name: str, part: object, value: object, shape: str, *, minimum: int, optional: bool
) -> int | None:
    """One size or count (``part``) of a limit option's ``value``: an int >= ``minimum``
    (or None if ``optional``)."""
    if part is None and optional:
        return None
    if not isinstance(part, int) or part.__class__ is bool:
        raise InvalidOption.wrong_type(name, f"{name} must be {shape}, not {value!r}")
    if part < minimum:
        raise InvalidOption(name, f"{name} must be {shape}, not {value!r}")
    return part


def _parts(name: str, value: object, shape: str) -> tuple[object, object] | None:
    """A limit's tuple form as its two parts; None if ``value`` is not a tuple."""
    if not isinstance(value, tuple):
        return None
    if len(value) != 2:
        raise InvalidOption(name, f"{name} must be {shape}, not {value!r}")
    return value[0], value[1]


def _max_size(value: object) -> object:
    # websockets: None (no limit), an int, or (max message size, max fragment size).
    shape = "an int >= 1, None, or a (message, fragment) tuple of those"
    for part in _parts("max_size", value, shape) or (value,):
        _limit("max_size", part, value, shape, minimum=1, optional=True)
    return value


def _marks(name: str, shape: str, *, high_optional: bool) -> Callable[[object], object]:
    """A (high, low) option: an int high-water mark, or a tuple of both, low <= high."""

    def check(value: object) -> object:
        high, low = _parts(name, value, shape) or (value, None)
        high = _limit(name, high, value, shape, minimum=0, optional=high_optional)
        low = _limit(name, low, value, shape, minimum=0, optional=True)
        if high is not None and low is not None and high < low:
            raise InvalidOption(name, f"{name} must be {shape}, not {value!r}")
        return value

    return check


#: websockets: None (no flow control), an int high-water mark (its low one a
#: quarter), or (high, low), either None (derived from the other), high >= low.
_max_queue: Final = _marks(
    "max_queue",
    "an int >= 0, None, or a (high, low) tuple of those with high >= low",
    high_optional=True,
)
#: websockets: an int high-water mark of the write buffer, or (high, low) with low
#: None (asyncio's default) or <= high (asyncio's set_write_buffer_limits).
_write_limit: Final = _marks(
    "write_limit",
    "an int >= 0, or a (high, low) tuple with low an int <= high or None",
    high_optional=False,
)


def _header_value(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidOption.wrong_type(name, f"{name} must be a str or None, not {value!r}")
    if not _VALUE.fullmatch(value):
        raise InvalidOption(name, f"{name} is not a valid HTTP header value: {value!r}")
    return value


def _optional_header(name: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        return None if value is None else _header_value(name, value)

    return check


def _additional_headers(value: object) -> object:
    """A mapping (or anything with ``keys()``) or an iterable of (name, value) pairs,
    each a str; an iterable that is not a sequence is read once, here, and passed on
    as the list read (nothing lost)."""
    if value is None:
        return None
    what = "a mapping or an iterable of (name, value) pairs of str"
    if isinstance(value, str | bytes) or not (hasattr(value, "keys") or hasattr(value, "__iter__")):
        raise InvalidOption.wrong_type(
            "additional_headers", f"additional_headers must be {what}, not {value!r}"
        )
    passed: object = value
    raw_items = getattr(value, "raw_items", None)
    if callable(raw_items):  # websockets' Headers: a name may come more than once
        pairs = list(raw_items())
    elif hasattr(value, "keys"):
        # keys(), not iteration: what websockets' Headers.update() reads of a mapping
        names = value.keys()
        pairs = [(key, value[key]) for key in names]  # type: ignore[index]
    else:
        items = list(value)  # type: ignore[call-overload]
        if not isinstance(value, list | tuple):
            passed = items  # a generator: what was read goes on
        pairs = []
        for item in items:
            if not isinstance(item, tuple | list) or len(item) != 2:
                raise InvalidOption.wrong_type(
                    "additional_headers",
                    f"additional_headers must be {what}: {item!r} is not a pair",
                )
            pairs.append((item[0], item[1]))
    for key, header in pairs:
        if not isinstance(key, str) or not isinstance(header, str):
            raise InvalidOption.wrong_type(
                "additional_headers",
                f"additional_headers must be {what}, not ({key!r}, {header!r})",
            )
        if not _TOKEN.fullmatch(key):
            raise InvalidOption(
                "additional_headers", f"additional_headers: {key!r} is not an HTTP header name"
            )
        if not _VALUE.fullmatch(header):
            raise InvalidOption(
                "additional_headers",
                f"additional_headers: the value of {key!r} is not a valid HTTP header value: "
                f"{header!r}",
            )
    return passed


def _proxy(value: object) -> object:
    # websockets: True (the system's proxy, if any), None (none), or a proxy's URL.
    if value is True or value is None:
        return value
    if not isinstance(value, str):
        raise InvalidOption.wrong_type(
            "proxy", f"proxy must be a proxy's URL, True or None, not {value!r}"
        )
    from websockets.exceptions import InvalidProxy
    from websockets.proxy import parse_proxy

    try:
        parse_proxy(value)
        urllib.parse.urlsplit(value).port  # noqa: B018 - a bad port raises (as on entry)
    except (InvalidProxy, ValueError) as exc:
        raise InvalidOption("proxy", f"proxy must be a proxy's URL: {exc}") from None
    return value


def _logger(value: object) -> object:
    # websockets asks isEnabledFor() and logs through debug() ... error(): anything
    # with those (a Logger, a LoggerAdapter, a structlog-style wrapper) is one.
    if value is None or all(callable(getattr(value, name, None)) for name in _LOGGER_METHODS):
        return value
    raise InvalidOption.wrong_type(
        "logger", f"logger must be a logging.Logger (or alike) or None, not {value!r}"
    )


_LOGGER_METHODS: Final = ("isEnabledFor", "debug", "info", "warning", "error")


def _process_exception(value: object) -> object:
    if not callable(value):
        raise InvalidOption.wrong_type(
            "process_exception", f"process_exception must be callable, not {value!r}"
        )
    return value


def _create_connection(value: object) -> object:
    # websockets calls it to make the connection: a ClientConnection subclass, or a
    # wrapper that returns one (a functools.partial, a function).
    if value is None or callable(value):
        return value
    raise InvalidOption.wrong_type(
        "create_connection",
        f"create_connection must be a subclass of websockets' ClientConnection (or a "
        f"callable returning one) or None, not {value!r}",
    )


def _subprotocols(value: object) -> object:
    # websockets refuses what is not a list (TypeError, at its connect() call); its
    # items it reads as header tokens only then.
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, str):
                raise InvalidOption.wrong_type(
                    "subprotocols", f"subprotocols must be a list of str, not {value!r}"
                )
            if not _TOKEN.fullmatch(item):
                raise InvalidOption(
                    "subprotocols", f"subprotocols: {item!r} is not a subprotocol name (a token)"
                )
    return value


def _int(name: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if value.__class__ is bool or not isinstance(value, int):
            raise InvalidOption.wrong_type(name, f"{name} must be an int, not {value!r}")
        return value

    return check


def _seconds(name: str, *, positive: bool) -> Callable[[object], object]:
    def check(value: object) -> object:
        if value is None:
            return None
        if positive:
            check_seconds(name, value, optional=False)
        else:
            checked_at_least(name, value, 0)
        return value

    return check


def _local_addr(value: object) -> object:
    # What asyncio hands getaddrinfo(): a host (or None) and a port: an int 0-65535,
    # a service name or number as a str, or None.
    what = "a (host, port) tuple (port an int 0-65535, a str or None), or None"
    if value is None:
        return None
    if not isinstance(value, tuple | list) or len(value) < 2:
        raise InvalidOption.wrong_type("local_addr", f"local_addr must be {what}, not {value!r}")
    host, port = value[0], value[1]
    if not (host is None or isinstance(host, str)) or not (
        port is None
        or isinstance(port, str)
        or (isinstance(port, int) and port.__class__ is not bool)
    ):
        raise InvalidOption.wrong_type("local_addr", f"local_addr must be {what}, not {value!r}")
    if isinstance(port, int) and not 0 <= port <= 65535:
        raise InvalidOption("local_addr", f"local_addr must be {what}, not {value!r}")
    return value


def _interleave(value: object) -> object:
    if value is None:
        return None
    if value.__class__ is bool or not isinstance(value, int):
        raise InvalidOption.wrong_type(
            "interleave", f"interleave must be an int >= 0 or None, not {value!r}"
        )
    if value < 0:
        raise InvalidOption("interleave", f"interleave must be an int >= 0 or None, not {value!r}")
    return value


def _sock(value: object) -> object:
    if value is None or isinstance(value, socket.socket):
        return value
    raise InvalidOption.wrong_type("sock", f"sock must be a socket.socket or None, not {value!r}")


def _ssl(value: object) -> object:
    if value is None or value.__class__ is bool or isinstance(value, ssl.SSLContext):
        return value
    raise InvalidOption.wrong_type(
        "ssl", f"ssl must be an ssl.SSLContext, True, False or None, not {value!r}"
    )


def _server_hostname(value: object) -> object:
    if value is None or isinstance(value, str):
        return value
    raise InvalidOption.wrong_type(
        "server_hostname", f"server_hostname must be a str or None, not {value!r}"
    )


def _all_errors(value: object) -> object:
    if value.__class__ is bool:
        return value
    raise InvalidOption.wrong_type("all_errors", f"all_errors must be a bool, not {value!r}")


def _reconnect_delays(value: object) -> object:
    raise InvalidOption(
        "reconnect_delays",
        "reconnect_delays is websockets' reconnecting iterator's: wsstate.connect() opens "
        "one connection; reconnect with wsstate.ReconnectingClient or wsstate.reconnect()",
    )


#: Per option websockets checks only once it connects: its check, which returns the
#: value to pass on (the same, or an iterator's items read once).
CHECKS: Final[Mapping[str, Callable[[object], object]]] = {
    "max_size": _max_size,
    "max_queue": _max_queue,
    "write_limit": _write_limit,
    "origin": _optional_header("origin"),
    "user_agent_header": _optional_header("user_agent_header"),
    "additional_headers": _additional_headers,
    "proxy": _proxy,
    "logger": _logger,
    "process_exception": _process_exception,
    "create_connection": _create_connection,
    "reconnect_delays": _reconnect_delays,
    "subprotocols": _subprotocols,
    # What websockets passes on to asyncio's create_connection(), which checks it
    # only once connecting (a raw '<=' not supported... on entry).
    "ssl": _ssl,
    "family": _int("family"),
    "proto": _int("proto"),
    "flags": _int("flags"),
    "sock": _sock,
    "local_addr": _local_addr,
    "server_hostname": _server_hostname,
    "ssl_handshake_timeout": _seconds("ssl_handshake_timeout", positive=True),
    "ssl_shutdown_timeout": _seconds("ssl_shutdown_timeout", positive=True),
    "happy_eyeballs_delay": _seconds("happy_eyeballs_delay", positive=False),
    "interleave": _interleave,
    "all_errors": _all_errors,
}

#: What websockets takes for TLS to an ``https://`` proxy (its docs: these four).
PROXY_TLS: Final = frozenset(
    {
        "proxy_ssl",
        "proxy_server_hostname",
        "proxy_ssl_handshake_timeout",
        "proxy_ssl_shutdown_timeout",
    }
)

#: Options only a TLS connection (a ``wss://`` URI) can use: asyncio refuses them
#: without TLS, on entry.
_TLS_ONLY: Final = ("server_hostname", "ssl_handshake_timeout", "ssl_shutdown_timeout")


def checked(options: dict[str, Any], *, secure: bool = True) -> dict[str, Any]:
    """websockets' options of a :func:`wsstate.connect` call, checked (module doc).

    Returns what to pass on; raises :class:`~wsstate.InvalidOption` at the first
    invalid one. ``secure``: the URI is ``wss://``; without it the options of a
    TLS connection are refused (asyncio's rule). A ``proxy_ssl`` that contradicts
    an explicit ``proxy``'s scheme (websockets' rule: TLS to an ``https://`` proxy
    only) is refused too.
    """
    passed = dict(options)
    for key, value in options.items():
        check = CHECKS.get(key)
        if check is None and key in PROXY_TLS:
            check = CHECKS[key[6:]]  # TLS to the proxy: checked as its own
        if check is not None:
            passed[key] = check(value)
    proxy_tls = sorted(set(options) & PROXY_TLS)
    if proxy_tls and not isinstance(options.get("proxy"), str):
        # Without a proxy websockets hands them to create_connection(), which refuses them.
        raise InvalidOption(
            proxy_tls[0], f"{proxy_tls[0]} applies to an https:// proxy given as proxy=..."
        )
    if not secure:
        for key in _TLS_ONLY:
            if options.get(key) is not None:
                raise InvalidOption(key, f"{key} applies to a wss:// URI only")
    proxy = options.get("proxy")
    if isinstance(proxy, str) and "proxy_ssl" in options:
        tls = proxy.lower().startswith("https:")
        if tls and options["proxy_ssl"] is None:
            raise InvalidOption(
                "proxy_ssl", "proxy_ssl=None is incompatible with an https:// proxy"
            )
        if not tls and options["proxy_ssl"] is not None:
            raise InvalidOption(
                "proxy_ssl", f"proxy_ssl applies to an https:// proxy only, not {proxy!r}"
            )
    return passed
