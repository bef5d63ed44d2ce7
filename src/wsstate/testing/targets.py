"""What :func:`wsstate.testing.fuzz` can point at, and how it serves an in-process target.

A *target* is one of:

* a ``ws://`` URL of a server that is already running (in this process or
  not): only what a client can observe is checked;
* an ASGI application (``async def app(scope, receive, send)``, or an object
  whose ``__call__`` takes those three arguments: Starlette, FastAPI), served
  by the harness on a real uvicorn on 127.0.0.1 in the harness's event loop;
* a websockets handler (``async def handler(connection)``), served by
  :func:`websockets.asyncio.server.serve` on 127.0.0.1 likewise;
* a ``"module:attribute"`` string naming one of the two (what ``wsstate fuzz
  --target`` takes), imported as uvicorn does.

In-process targets are also checked from the inside: ERROR records of any
logger, calls of the loop's exception handler, tasks and sockets back to their
baseline after each example.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import socket
import sys
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

__all__ = ["Kind", "Server", "Target", "resolve_target"]

#: The kinds of target: a running server's URL, an ASGI app, a websockets handler.
Kind = Literal["url", "asgi", "websockets"]

_KINDS: Final = ("url", "asgi", "websockets")
#: uvicorn's WebSocket implementations the harness can serve an ASGI app with.
UVICORN_WS: Final = ("websockets-sansio", "websockets", "wsproto")


@dataclass(frozen=True)
class Target:
    """A resolved target: its kind, the object or URL, and how to name it in a replay."""

    kind: Kind
    #: The ``ws://`` URL (kind ``url``), else the ASGI app or websockets handler.
    obj: Any
    #: ``module:attribute`` when the object can be imported by that name, else None.
    import_name: str | None
    #: A short description for messages.
    label: str
    #: The directory to put on ``sys.path`` to import ``import_name`` (a script's), or None.
    app_dir: str | None = None

    @property
    def in_process(self) -> bool:
        """True when the harness serves the target itself (and can look inside)."""
        return self.kind != "url"


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "wss":
        raise ValueError(
            f"target {url!r}: wss:// is not supported, the fault proxy's wire tap reads "
            "plaintext frames; point the harness at the ws:// endpoint behind TLS"
        )
    if parts.scheme != "ws":
        raise ValueError(
            f"target {url!r} is not a ws:// URL (scheme {parts.scheme!r}); give a ws:// URL, "
            "an ASGI app, a websockets handler or 'module:attribute'"
        )
    if not parts.hostname:
        raise ValueError(f"target {url!r} has no host")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(f"target {url!r} has an invalid port") from None
    return url


def _positional(obj: Callable[..., Any]) -> int | None:
    """How many positional parameters ``obj`` takes, or None if it cannot be told."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    count = 0
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return None
        if parameter.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            count += 1
    return count


def _import_name(obj: object) -> tuple[str | None, str | None]:
    """(``module:name`` under which ``obj`` can be imported again, the directory to put on
    ``sys.path`` for it when it lives in a script run as ``__main__``), or (None, None).

    Looks in the module that defined it, then in every loaded module (an app object's
    ``__module__`` is its class's: FastAPI's, not the module that made it).
    """
    defining = getattr(obj, "__module__", None)
    first = [sys.modules[defining]] if isinstance(defining, str) and defining in sys.modules else []
    script: tuple[str | None, str | None] = (None, None)
    for module in [*first, *list(sys.modules.values())]:
        names = getattr(module, "__dict__", None)
        if not isinstance(names, dict):
            continue
        for name, value in list(names.items()):
            if value is not obj or name.startswith("_"):
                continue
            module_name = module.__name__
            if module_name != "__main__":
                return f"{module_name}:{name}", None  # an importable module before a script
            file = getattr(module, "__file__", None)
            if file and script[0] is None:
                path = Path(file).resolve()
                script = f"{path.stem}:{name}", str(path.parent)
    return script


def _load(spec: str) -> object:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"target {spec!r}: expected 'module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"target {spec!r}: cannot import {module_name!r}: {exc}") from exc
    obj: object = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"target {spec!r}: {module_name!r} has no {attribute!r}") from None
    return obj


def resolve_target(target: object, kind: Kind | None = None) -> Target:
    """Classify ``target`` (see the module's docstring); raise a clear error if it is none.

    ``kind`` forces the classification of a callable whose signature does not
    tell (``"asgi"`` or ``"websockets"``).
    """
    if kind is not None and kind not in _KINDS:
        raise ValueError(f"kind must be one of {', '.join(_KINDS)}, not {kind!r}")
    if isinstance(target, str):
        if "://" in target:
            if kind not in (None, "url"):
                raise ValueError(f"target {target!r} is a URL, but kind={kind!r}")
            url = _check_url(target)
            return Target("url", url, None, url)
        if ":" in target and " " not in target and "/" not in target:
            obj = _load(target)
            resolved = resolve_target(obj, kind)
            what = "ASGI app" if resolved.kind == "asgi" else "websockets handler"
            return Target(resolved.kind, resolved.obj, target, f"{what} {target}")
        raise ValueError(
            f"target {target!r} is neither a ws:// URL nor 'module:attribute' "
            "(an ASGI app or a websockets handler)"
        )
    if kind == "url":
        raise TypeError(f"kind='url' needs a ws:// URL string, not {type(target).__name__}")
    if not callable(target):
        raise TypeError(
            "target must be a ws:// URL, an ASGI app, a websockets handler or "
            f"'module:attribute', not {type(target).__name__}"
        )
    if kind is None:
        count = _positional(target)
        if count == 3:
            kind = "asgi"
        elif count == 1:
            kind = "websockets"
        else:
            raise TypeError(
                f"cannot tell what {target!r} is: an ASGI app takes (scope, receive, send), a "
                "websockets handler takes (connection); pass kind='asgi' or kind='websockets'"
            )
    name, app_dir = _import_name(target)
    what = "ASGI app" if kind == "asgi" else "websockets handler"
    label = f"{what} {name}" if name else f"{what} {target!r}"
    return Target(kind, target, name, label, app_dir)


class Server:
    """Serves an in-process target on 127.0.0.1 in the running loop (or stands for a URL)."""

    def __init__(self, target: Target, *, path: str, uvicorn_ws: str, lifespan: bool) -> None:
        self.target = target
        self.path = path
        self.uvicorn_ws = uvicorn_ws
        self.lifespan = lifespan
        self.host = "127.0.0.1"
        self.port = 0
        self._stop: Callable[[], Awaitable[None]] | None = None

    @property
    def url(self) -> str:
        """The endpoint's URL (a URL target's own, else the served one with ``path``)."""
        if self.target.kind == "url":
            return str(self.target.obj)
        return f"ws://{self.host}:{self.port}{self.path}"

    async def start(self, limit: float = 10.0) -> None:
        """Start serving (nothing for a URL target); return once it listens."""
        if self.target.kind == "url":
            parts = urlsplit(str(self.target.obj))
            self.host = parts.hostname or "127.0.0.1"
            self.port = parts.port or 80
        elif self.target.kind == "websockets":
            await self._start_websockets()
        else:
            await self._start_asgi(limit)

    async def _start_websockets(self) -> None:
        from websockets.asyncio.server import serve

        sock = socket.create_server((self.host, 0))
        self.port = sock.getsockname()[1]
        server = await serve(self.target.obj, sock=sock)

        async def stop() -> None:
            server.close()
            await server.wait_closed()

        self._stop = stop

    async def _start_asgi(self, limit: float) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # uvicorn's legacy implementation warns
                import uvicorn

            from .asgi import QuietServer
        except ImportError as exc:  # pragma: no cover - the starlette extra is missing
            raise RuntimeError(
                "serving an ASGI app needs uvicorn: pip install 'wsstate[starlette]'"
            ) from exc
        config = uvicorn.Config(
            self.target.obj,
            ws=self.uvicorn_ws,
            lifespan="on" if self.lifespan else "off",
            log_config=None,  # records reach the root logger, and the ERROR check
            ws_ping_interval=None,
            timeout_graceful_shutdown=3,
        )
        server = QuietServer(config)
        sock = socket.create_server((self.host, 0))
        self.port = sock.getsockname()[1]
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        try:
            async with asyncio.timeout(limit):
                while not server.started:
                    if task.done():
                        break
                    await asyncio.sleep(0.005)
        except TimeoutError:
            pass
        if not server.started:
            server.stop()
            with contextlib.suppress(BaseException):
                await task
            sock.close()
            raise RuntimeError(
                f"{self.target.label} did not start on uvicorn within {limit} s "
                "(its lifespan start-up failed? see the log above)"
            )

        async def stop() -> None:
            server.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            sock.close()

        self._stop = stop

    async def stop(self) -> None:
        """Stop serving; idempotent."""
        stop, self._stop = self._stop, None
        if stop is not None:
            await stop()
