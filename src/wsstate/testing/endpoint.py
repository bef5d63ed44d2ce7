"""Fuzz a WebSocket endpoint against what the connection table lets a client observe.

:func:`fuzz` points real websockets clients, driven by Hypothesis, through a
real :class:`~wsstate.testing.FaultProxy` at a target (a ``ws://`` URL, an ASGI
app or a websockets handler; :mod:`wsstate.testing.targets`)::

    from wsstate.testing import fuzz

    fuzz(app, path="/ws")            # raises EndpointFailure with a counterexample

Theory of operation
-------------------

Each Hypothesis example is a *program*: up to ``steps`` client events, each
one of

=============  =================================================================
``open``       a new client connection through the proxy (at most
               ``connections`` at once);
``send``       a text, binary or 64 KiB message from a client;
``close``      a clean close from a client with a valid code: the server's Close
               must come back within ``close_timeout``;
``leave``      the client ends TCP without a Close frame (a closed tab);
``reset``      the proxy resets both TCP legs (RST);
``half_open``  the proxy drops everything both ways, TCP stays up (a sleeping
               laptop); the connection is reset at the end of the example;
``slow``       the client stops (or resumes) reading: the server's sends back up;
``pause``      nothing for 0-150 ms: the server's own timers, ticks and
               broadcasts run.
=============  =================================================================

Which connection an event acts on and whether it applies depend only on what
the harness did before, never on timing, so a seed replays the same events.

After every event, and once more after the example's teardown (every client
closed cleanly, faults lifted, every TCP connection ended), the harness checks
what the connection table (``spec/connection.toml``) lets a client observe:

* on the wire (the proxy's :class:`~wsstate.testing.WireTap`): no data frame
  after the server's Close, no second Close, only sendable close codes
  (:func:`wsstate.closecodes.is_sendable_code`), a stream that parses;
* a client's Close is answered by the server's within ``close_timeout``;
* the server never ends TCP (FIN, half-close included, RST or another socket
  loss: :meth:`~wsstate.testing.ProxiedConnection.tcp_end`) without a Close
  frame on a connection whose client did nothing wrong: a Close was due. A
  client that stopped reading (``slow``) excuses it: the table lets a server
  give up on a slow reader (``transport_stalled``: Close 1008, stuck behind
  the data it cannot write, then an abort when the close timer fires);

and, for an in-process target, what the server's process shows:

* no log record at ERROR or above, from any logger;
* no call of the event loop's exception handler
  (:class:`~wsstate.testing.LoopWatch`: ``Task exception was never retrieved``);
* after the teardown, its tasks and sockets back to the example's baseline
  (:class:`~wsstate.testing.ResourceSnapshot`).

The first problem ends the run with :class:`EndpointFailure`, whose message is
the counterexample: the problems, the events, the frames on the wire, the
ERROR records, the seed and a one-line command that replays it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import gc
import logging
import math
import os
import random
import shlex
import sysconfig
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Opcode

from ._extra import require_testing_extra
from .faultproxy import FaultProxy, ProxiedConnection, Side
from .loopwatch import LoopWatch
from .resources import ResourceSnapshot
from .targets import UVICORN_WS, Kind, Server, Target, resolve_target
from .wiretap import Direction, WireFrame

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

__all__ = [
    "ACTIONS",
    "EndpointFailure",
    "FuzzReport",
    "Step",
    "TargetError",
    "fuzz",
    "replay_command",
]

#: The client events a program is made of (see the module's docstring).
ACTIONS: Final = ("open", "send", "close", "leave", "reset", "half_open", "slow", "pause")
_CLOSE_CODES: Final = (1000, 1001, 3000, 4999)
_PAUSES_MS: Final = (0, 20, 60, 150)
_SENDS: Final = ("text", "binary", "large text", "text")
_LARGE: Final = 64 * 1024
#: fuzz()'s defaults of the options a replay must repeat when they differ.
_DEFAULTS: Final[dict[str, object]] = {
    "path": "/",
    "kind": None,
    "uvicorn_ws": "websockets-sansio",
    "lifespan": True,
    "close_timeout": 2.0,
    "settle": 0.005,
    "connections": 3,
    "database": None,
}


class TargetError(RuntimeError):
    """The target cannot be fuzzed: it answered an opening handshake with an HTTP
    status instead of 101 (a wrong path, most often; the run stops at the first), or
    it did not start."""


class EndpointFailure(AssertionError):
    """The endpoint did something the connection table forbids; the message is the counterexample.

    Attributes hold the parts of the message: ``problems`` (one sentence each),
    ``events`` (what the clients did, in order), ``wire`` (frames per
    connection), ``errors`` (ERROR records and loop exception-handler calls),
    ``seed`` and ``replay`` (a one-line command that runs the same examples);
    ``program``, the failing program's :class:`Step` s, runs that one program
    again with ``fuzz(target, program=failure.program)``; ``searched`` is False
    when the run was such an explicit program (no seed is shown then).
    """

    def __init__(
        self,
        *,
        target: str,
        problems: Sequence[str],
        events: Sequence[str],
        wire: Sequence[str],
        errors: Sequence[str],
        seed: int,
        replay: str,
        example: int,
        when: str = "",
        program: Sequence[Step] = (),
        searched: bool = True,
    ) -> None:
        self.target = target
        self.program = tuple(program)
        self.searched = searched
        self.when = when
        self.problems = list(problems)
        self.events = list(events)
        self.wire = list(wire)
        self.errors = list(errors)
        self.seed = seed
        self.replay = replay
        self.example = example
        super().__init__(self.render())

    def render(self) -> str:
        """The counterexample as text."""
        when = f", {self.when}" if self.when else ""
        lines = [f"{self.target}: {len(self.problems)} problem(s) in example {self.example}{when}"]
        lines += [f"  - {p}" for p in self.problems]
        lines.append("events:")
        lines += [f"  {i}. {e}" for i, e in enumerate(self.events, 1)] or ["  (none)"]
        lines.append("wire when the problem was seen (what each peer sent, by the fault proxy):")
        lines += [f"  {w}" for w in self.wire] or ["  (no connection)"]
        if self.errors:
            lines.append("ERROR records and loop exception-handler calls until then:")
            lines += [f"  {e}" for e in self.errors]
        if self.searched:  # an explicit program's run has no search to seed
            lines.append(f"seed: {self.seed}")
        lines.append(f"replay: {self.replay}")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class FuzzReport:
    """What a run that found nothing did."""

    target: str
    examples: int
    steps: int
    seconds: float
    seed: int

    @property
    def steps_per_second(self) -> float:
        """Client events per second of wall time."""
        return self.steps / self.seconds if self.seconds > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class Step:
    """One client event of a program, as Hypothesis drew it (or as a test writes it,
    for :func:`fuzz`'s ``program``).

    ``action`` is one of ``ACTIONS`` (the module's docstring says what each does:
    ``open``, ``send``, ``close``, ``leave``, ``reset``, ``half_open``, ``slow``,
    ``pause``); ``conn`` picks a live connection (modulo how many are open); ``arg``
    picks the variant (modulo how many there are): the close code (1000, 1001, 3000,
    4999), the pause (0, 20, 60, 150 ms), the message (text, binary, 64 KiB text,
    text). ``slow`` toggles; other actions ignore ``arg``.
    An unknown action or a negative or non-int ``conn``/``arg`` raises at once.
    """

    action: str
    conn: int = 0
    arg: int = 0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(
                f"Step action must be one of {', '.join(ACTIONS)}, not {self.action!r}"
            )
        for name in ("conn", "arg"):
            _count(f"Step {name}", getattr(self, name), low=0)


def _positive(name: str, value: object, *, zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (number == 0 and not zero):
        above = "0 or above" if zero else "above 0"
        raise ValueError(f"{name} must be a finite number {above}, not {value!r}")
    return number


def _count(name: str, value: object, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be at least {low}, not {value}")
    return value


class _ErrorRecords(logging.Handler):
    """Collects records at ERROR and above from every logger: the root logger and each
    logger that does not pass records up to it, those an application makes while it
    runs included (:meth:`watch` again before each event and each check)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self._watched: dict[logging.Logger, None] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def watch(self) -> None:
        """Attach to the root logger and to every non-propagating logger not yet watched."""
        for logger in _loggers_to_watch():
            if logger not in self._watched:
                self._watched[logger] = None
                logger.addHandler(self)

    def unwatch(self) -> None:
        for logger in self._watched:
            logger.removeHandler(self)
        self._watched.clear()


_LIBRARY_PATHS: Final = tuple(
    {
        str(Path(p).resolve())
        for name in ("stdlib", "platstdlib", "purelib", "platlib")
        if (p := sysconfig.get_paths().get(name))
    }
)


def _is_library(filename: str) -> bool:
    """True for a frame of the standard library or an installed package, not the app's."""
    path = str(Path(filename).resolve())
    return "site-packages" in path or path.startswith(_LIBRARY_PATHS)


def _where(exc: BaseException) -> tuple[str, str]:
    """Where ``exc`` was raised (``at websockets.py:95 in send``) and, when that is in a
    library, the application's line that led there (``naive.py:76 in endpoint:
    await websocket.close()``), else ``""``."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "", ""
    last = frames[-1]
    raised = f"at {Path(last.filename).name}:{last.lineno} in {last.name}"
    mine = [f for f in frames if not _is_library(f.filename)]
    if not _is_library(last.filename) or not mine:
        return raised, ""
    caller = mine[-1]
    line = f": {caller.line.strip()}" if caller.line else ""
    return raised, f"{Path(caller.filename).name}:{caller.lineno} in {caller.name}{line}"


def _describe_record(record: logging.LogRecord) -> str:
    """A record's first line, and its exception: where it was raised, the application's
    line that led there, and what it interrupted (``while handling``)."""
    text = f"{record.levelname} {record.name}: {record.getMessage().strip()}"
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        raised, caller = _where(exc)
        at = f" ({raised})" if raised else ""
        text += f"\n      {''.join(traceback.format_exception_only(exc)).strip()}{at}"
        if caller:
            text += f"\n      called from {caller}"
        cause = exc.__cause__ or exc.__context__
        if cause is not None:
            during = "".join(traceback.format_exception_only(cause)).strip()
            text += f"\n      while handling {during}"
    return text


def _describe_call(context: dict[str, Any]) -> str:
    exc = context.get("exception")
    detail = f": {''.join(traceback.format_exception_only(exc)).strip()}" if exc else ""
    return f"loop exception handler: {context.get('message', '')}{detail}"


def _frames(frames: list[WireFrame]) -> str:
    """Frames in order, runs of the same kind folded: ``TEXT x3, CLOSE 1000``."""
    parts: list[str] = []
    run_name, run_count = "", 0
    for frame in frames:
        if frame.opcode is Opcode.CLOSE:
            name = "CLOSE" if frame.close_code is None else f"CLOSE {frame.close_code}"
        else:
            name = frame.opcode.name
        if name == run_name:
            run_count += 1
            continue
        if run_count:
            parts.append(run_name if run_count == 1 else f"{run_name} x{run_count}")
        run_name, run_count = name, 1
    if run_count:
        parts.append(run_name if run_count == 1 else f"{run_name} x{run_count}")
    return ", ".join(parts) or "nothing"


@dataclasses.dataclass(eq=False)
class _Conn:
    """One client connection the harness opened."""

    name: str
    ws: ClientConnection
    pair: ProxiedConnection
    reader: asyncio.Task[None]
    #: "open", "closed" (clean close by the client), "left", "reset", "half-open"
    state: str = "open"
    slow: bool = False
    #: The client's Close was answered: the closing handshake is done, TCP must end.
    answered: bool = False
    #: The client stopped reading at some point. The table lets a server give up on a
    #: slow reader (``transport_stalled``: Close 1008, then abort when the close timer
    #: fires), and a Close stuck behind a full buffer never reaches the wire.
    stalled: bool = False

    @property
    def blameless(self) -> bool:
        """True while nothing the harness did excuses the server from a Close."""
        return self.state in ("open", "closed") and not self.stalled

    def server_closed(self) -> bool:
        return any(f.opcode is Opcode.CLOSE for f in self.pair.tap.frames(Direction.S2C))


class _Session:
    """Runs programs against one served target, in one event loop."""

    def __init__(
        self,
        target: Target,
        server: Server,
        *,
        path: str,
        close_timeout: float,
        settle: float,
        connections: int,
    ) -> None:
        self.target = target
        self.server = server
        self.path = path
        self.close_timeout = close_timeout
        self.settle = settle
        self.max_connections = connections
        self.records = _ErrorRecords()
        self.watch: LoopWatch | None = None
        self.steps = 0
        self.examples = 0
        # per example
        self.proxy: FaultProxy | None = None
        self.conns: list[_Conn] = []
        self.events: list[str] = []
        self.reported: dict[int, int] = {}
        self.reported_tcp: set[_Conn] = set()
        self.first_record = self.next_record = 0
        self.first_call = self.next_call = 0
        self.failure_wire: list[str] = []
        self.failure_errors: list[str] = []
        self.when = ""

    # setup

    async def start(self) -> None:
        await self.server.start()
        self.watch = LoopWatch().__enter__()

    async def stop(self) -> None:
        try:
            await self.server.stop()
        finally:
            if self.watch is not None:
                self.watch.__exit__(None, None, None)

    # one example

    async def run(self, program: Sequence[Step]) -> list[str]:
        """Run one program; return the problems found (none: it passed)."""
        self.examples += 1
        self.conns, self.events, self.reported, self.reported_tcp = [], [], {}, set()
        self.first_record = self.next_record = len(self.records.records)
        self.first_call = self.next_call = len(self.watch.calls) if self.watch else 0
        proxy = FaultProxy(self.server.host, self.server.port)
        await proxy.start()
        self.proxy = proxy
        baseline = ResourceSnapshot.take() if self.target.in_process else None
        problems: list[str] = []
        self.failure_wire, self.failure_errors = [], []
        self.when = ""
        try:
            for step in program:
                problems += await self._do(step)
                self.steps += 1
                if not problems:
                    await asyncio.sleep(self.settle)
                    problems += self._inspect()
                if problems:
                    self.when = f"after event {len(self.events)}"
                    # as they were when the problem was seen: the forced teardown's
                    # resets make more records, the example's consequence, not its cause
                    self.failure_wire = self.wire()
                    self.failure_errors = self.errors()
                    break
            if not problems:
                self.when = "in the teardown (each client closing cleanly), or after it"
            problems += await self._teardown(check=not problems)
            if not problems and baseline is not None:
                gc.collect()  # unretrieved task exceptions are reported on collection
                problems += self._inspect()
                try:
                    await baseline.assert_restored(settle=self.close_timeout + 1.0)
                except AssertionError as exc:
                    problems.append(str(exc).replace("\n", "\n    "))
        finally:
            if problems:
                # The wire and records as they were when the problem was seen (before
                # the forced teardown).
                self.failure_wire = self.failure_wire or self.wire()
                self.failure_errors = self.failure_errors or self.errors()
                with contextlib.suppress(Exception):
                    await self._teardown(check=False)
            await proxy.close()
        return problems

    def wire(self) -> list[str]:
        """Each connection's frames both ways and how each peer ended TCP."""
        lines = []
        for conn in self.conns:
            pair = conn.pair
            lines.append(
                f"{conn.name}: client sent {_frames(pair.tap.frames(Direction.C2S))}; "
                f"server sent {_frames(pair.tap.frames(Direction.S2C))}; "
                f"client TCP {pair.tcp_end(Side.CLIENT)}, "
                f"server TCP {pair.tcp_end(Side.SERVER)}"
            )
        return lines

    def errors(self) -> list[str]:
        if not self.target.in_process:
            return []  # records here are not the target's
        found = [_describe_record(r) for r in self.records.records[self.first_record :]]
        if self.watch is not None:
            found += [_describe_call(c) for c in self.watch.calls[self.first_call :]]
        return found

    # events

    def _live(self) -> list[_Conn]:
        return [c for c in self.conns if c.state == "open"]

    async def _do(self, step: Step) -> list[str]:
        self.records.watch()  # loggers the application made meanwhile
        live = self._live()
        action = step.action
        if action == "pause":
            ms = _PAUSES_MS[step.arg % len(_PAUSES_MS)]
            self.events.append(f"pause {ms} ms")
            await asyncio.sleep(ms / 1000)
            return []
        if action == "open" and len(live) >= self.max_connections:
            action = "send"  # as many connections as allowed: use one
        if action != "open" and not live:
            action = "open"
        if action == "open":
            return await self._open()
        conn = live[step.conn % len(live)]
        if action == "send":
            return await self._send(conn, _SENDS[step.arg % len(_SENDS)])
        if action == "close":
            return await self._close(conn, _CLOSE_CODES[step.arg % len(_CLOSE_CODES)])
        if action == "leave":
            self.events.append(f"{conn.name}: leave (TCP FIN, no Close frame: a closed tab)")
            conn.state = "left"
            self._read_again(conn)  # a client that left reads nothing: its kernel answers
            conn.ws.transport.close()
            await self._end_reader(conn)
            return []
        if action == "reset":
            self.events.append(f"{conn.name}: reset (RST both ways)")
            conn.state = "reset"
            await conn.pair.reset()
            await self._end_reader(conn)
            return []
        if action == "half_open":
            self.events.append(f"{conn.name}: half-open (everything dropped both ways)")
            conn.state = "half-open"
            conn.pair.blackhole(True)
            return []
        conn.slow = not conn.slow
        conn.stalled = conn.stalled or conn.slow
        conn.pair.slow_reader(conn.slow, Direction.S2C)
        what = "stops reading" if conn.slow else "reads again"
        self.events.append(f"{conn.name}: {what} (slow reader {'on' if conn.slow else 'off'})")
        return []

    async def _open(self) -> list[str]:
        assert self.proxy is not None
        name = f"c{len(self.conns) + 1}"
        url = f"ws://127.0.0.1:{self.proxy.port}{self.path}"
        try:
            ws = await connect(
                url,
                open_timeout=self.close_timeout + 5.0,
                close_timeout=self.close_timeout,
                ping_interval=None,
                max_size=None,
                compression=None,
                proxy=None,
            )
        except InvalidStatus as exc:
            raise TargetError(
                f"{self.target.label} at {self.server.url} refused the opening handshake "
                f"(HTTP {exc.response.status_code}): is the path {self.path!r} right?"
            ) from None
        except (OSError, TimeoutError) as exc:
            self.events.append(f"{name}: open failed")
            return [f"{name}: the opening handshake failed: {exc!r}"]
        pair = self.proxy.accepted[-1]
        conn = _Conn(name, ws, pair, asyncio.get_running_loop().create_task(self._read(ws)))
        conn.reader.add_done_callback(lambda _t: None)
        self.conns.append(conn)
        self.events.append(f"{name}: open")
        return []

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for _ in ws:
                pass

    async def _end_reader(self, conn: _Conn) -> None:
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            async with asyncio.timeout(self.close_timeout + 1.0):
                await conn.reader
        if not conn.reader.done():
            conn.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await conn.reader

    async def _send(self, conn: _Conn, kind: str) -> list[str]:
        message: str | bytes
        if kind == "binary":
            message = bytes(range(16))
        elif kind == "large text":
            message = "x" * _LARGE
        else:
            message = f"hello {self.steps}"
        size = len(message)
        try:
            async with asyncio.timeout(self.close_timeout):
                await conn.ws.send(message)
        except ConnectionClosed as exc:
            self.events.append(f"{conn.name}: send {kind} ({size} B): already closed ({exc})")
        except TimeoutError:
            self.events.append(f"{conn.name}: send {kind} ({size} B): blocked (server not reading)")
        else:
            self.events.append(f"{conn.name}: send {kind} ({size} B)")
        return []

    def _read_again(self, conn: _Conn) -> None:
        if conn.slow:
            conn.slow = False
            conn.pair.slow_reader(False, Direction.S2C)

    async def _close(self, conn: _Conn, code: int) -> list[str]:
        self._read_again(conn)
        closed_before = conn.server_closed()
        conn.state = "closed"
        started = time.monotonic()
        await conn.ws.close(code)
        took = time.monotonic() - started
        await self._end_reader(conn)
        answer = conn.ws.protocol.close_rcvd
        conn.answered = answer is not None
        if answer is not None:
            how = "closed first by the server" if closed_before else f"answered in {took:.3f} s"
            self.events.append(f"{conn.name}: close {code} ({how}: {answer.code})")
            return []
        end = conn.pair.tcp_end(Side.SERVER)
        if end.by_peer and conn.stalled:
            self.events.append(
                f"{conn.name}: close {code} (no Close came back: the server had ended TCP "
                f"({end}) after this client stopped reading, as the table allows)"
            )
            return []
        self.events.append(f"{conn.name}: close {code} (no Close came back)")
        if end.by_peer:
            self.reported_tcp.add(conn)  # one problem, not a second 'a Close was due'
            return [f"{conn.name}: the server ended TCP ({end}) instead of answering Close {code}"]
        return [
            f"{conn.name}: the client's Close {code} was not answered within the close "
            f"timeout ({self.close_timeout} s)"
        ]

    async def _teardown(self, *, check: bool) -> list[str]:
        """Close every client (cleanly where possible), end every TCP connection."""
        problems: list[str] = []
        for conn in self.conns:
            if conn.state == "open":
                if check:
                    problems += await self._close(conn, 1000)
                else:
                    conn.state = "reset"
                    await conn.pair.reset()
            elif conn.state == "half-open":
                await conn.pair.reset()
            await self._end_reader(conn)
        for conn in self.conns:
            if conn.answered and check:
                try:
                    async with asyncio.timeout(self.close_timeout + 1.0):
                        await conn.pair.wait_closed()  # cancel-safe
                except TimeoutError:
                    problems.append(
                        f"{conn.name}: TCP still open {self.close_timeout + 1.0} s after the "
                        "closing handshake"
                    )
            with contextlib.suppress(Exception):
                await conn.ws.close()
        if check:
            await asyncio.sleep(self.settle)
            problems += self._inspect()
        return problems

    # checks

    def _inspect(self) -> list[str]:
        self.records.watch()
        problems: list[str] = []
        for conn in self.conns:
            found = conn.pair.tap.problems()
            seen = self.reported.get(id(conn), 0)
            problems += [f"{conn.name} {p}" for p in found[seen:]]
            self.reported[id(conn)] = len(found)
            end = conn.pair.tcp_end(Side.SERVER)
            if (
                conn.blameless
                and end.by_peer
                and not conn.server_closed()  # the tap sees a Close before the FIN after it
                and conn not in self.reported_tcp
            ):
                self.reported_tcp.add(conn)
                problems.append(
                    f"{conn.name}: the server ended TCP ({end}) without a Close frame "
                    "while the client did nothing wrong: a Close was due"
                )
        if self.target.in_process:
            records = self.records.records
            problems += [
                f"ERROR record: {_describe_record(r).splitlines()[0]}"
                for r in records[self.next_record :]
            ]
            self.next_record = len(records)
            if self.watch is not None:
                problems += [_describe_call(c) for c in self.watch.calls[self.next_call :]]
                self.next_call = len(self.watch.calls)
        return problems


_thread: Final = threading.local()


def _runner() -> asyncio.Runner:
    """This thread's event loop for :func:`fuzz`, the same for every call.

    An application keeps loop-bound state at module level (a :class:`wsstate.Hub`,
    a lock, a queue made at import): serving it on a new loop for each call would
    fail where a real server, with one loop, does not. Closed at exit.
    """
    runner: asyncio.Runner | None = getattr(_thread, "runner", None)
    if runner is None:
        runner = asyncio.Runner()
        _thread.runner = runner
        atexit.register(runner.close)
    return runner


def _loggers_to_watch() -> list[logging.Logger]:
    """The root logger and every logger that does not pass records up to it."""
    loggers = [logging.getLogger()]
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and not logger.propagate:
            loggers.append(logger)
    return loggers


def _strategy(steps: int) -> SearchStrategy[list[Step]]:
    from hypothesis import strategies as st

    step = st.builds(
        Step,
        action=st.sampled_from(ACTIONS),
        conn=st.integers(0, 7),
        arg=st.integers(0, 7),
    )
    return st.lists(step, min_size=max(1, steps // 2), max_size=steps)


def replay_command(
    target: str,
    *,
    seed: int,
    examples: int,
    steps: int,
    path: str | None = None,
    app_dir: str | None = None,
    kind: Kind | None = None,
    uvicorn_ws: str = "websockets-sansio",
    lifespan: bool = True,
    close_timeout: float = 2.0,
    settle: float = 0.005,
    connections: int = 3,
    database: str | None = None,
) -> str:
    """The ``wsstate fuzz --replay`` command line that runs the same programs against
    ``target`` (a ``ws://`` URL or ``module:attribute``) with the same options: every
    option that changes a program or a check is on it, defaults left out."""
    words = ["wsstate", "fuzz", "--target", target]
    if "://" not in target:
        if app_dir:
            words += ["--app-dir", app_dir]
        if path and path != "/":
            words += ["--path", path]
        if kind is not None:
            words += ["--kind", kind]
        if uvicorn_ws != "websockets-sansio":
            words += ["--ws", uvicorn_ws]
        if not lifespan:
            words.append("--no-lifespan")
    if close_timeout != 2.0:
        words += ["--close-timeout", f"{close_timeout:g}"]
    if settle != 0.005:
        words += ["--settle", f"{settle:g}"]
    if connections != 3:
        words += ["--connections", str(connections)]
    if database:
        words += ["--database", database]
    words += ["--replay", str(seed), "--examples", str(examples), "--steps", str(steps)]
    return shlex.join(words)


def _name(target: Target, server: Server) -> str:
    """The target as a message names it: a URL once, else what it is and where it ran."""
    return target.label if target.kind == "url" else f"{target.label} ({server.url})"


def _search(
    run_program: Callable[[list[Step]], None],
    steps: int,
    examples: int,
    seed: int,
    database: str | None,
    shrink: bool,
) -> Callable[[], None]:
    """Hypothesis' search: ``examples`` programs of up to ``steps`` events, from ``seed``."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as with_seed
    from hypothesis.database import DirectoryBasedExampleDatabase

    phases = [Phase.explicit, Phase.reuse, Phase.generate]
    if shrink:
        phases.append(Phase.shrink)
    given_test = given(_strategy(steps))(run_program)
    test: Callable[[], None] = settings(
        max_examples=examples,
        deadline=None,
        database=DirectoryBasedExampleDatabase(database) if database else None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        print_blob=False,
    )(given_test)
    if database is None:
        return with_seed(seed)(test)
    # @seed turns the example database off. Set the seed the way Hypothesis' own
    # run_state_machine_as_test does for a seeded machine, which keeps it: a failure
    # saved by one run (one `wsstate fuzz` worker) is replayed first by the next
    # (tests/test_fuzz_endpoint.py checks both).
    test._hypothesis_internal_use_seed = seed  # type: ignore[attr-defined]
    return test


def _program(program: object) -> list[Step]:
    if isinstance(program, str | bytes) or not isinstance(program, Sequence):
        raise TypeError(f"program must be a sequence of Step, not {type(program).__name__}")
    if not program:
        raise ValueError("program must hold at least one Step")
    for item in program:
        if not isinstance(item, Step):
            raise TypeError(f"program must hold Step objects, not {type(item).__name__}")
    return list(program)


def _default_replay(target: Target, *, program: list[Step] | None, **options: Any) -> str:
    """A ``wsstate fuzz`` command for a URL or an importable target, else (and for an
    explicit program) the call."""
    if target.kind == "url":
        options.pop("path")  # the URL carries it
    if program is None and target.kind == "url":
        return replay_command(str(target.obj), **options)
    if program is None and target.import_name is not None:
        return replay_command(target.import_name, app_dir=target.app_dir, **options)
    if program is not None:
        for name in ("seed", "examples", "steps"):
            options.pop(name)
    given = [
        f"{name}={value!r}"
        for name, value in options.items()
        if name in ("seed", "examples", "steps") or value != _DEFAULTS.get(name)
    ]
    if program is not None:
        steps = ", ".join(f"Step({s.action!r}, {s.conn}, {s.arg})" for s in program)
        given.insert(0, f"program=[{steps}]")
    named = str(target.obj) if target.kind == "url" else target.import_name
    first = repr(named) if named else "<the target>"
    return f"wsstate.testing.fuzz({first}, {', '.join(given)})"


def fuzz(
    target: object,
    *,
    path: str | None = None,
    examples: int = 20,
    steps: int = 12,
    seed: int | None = None,
    close_timeout: float = 2.0,
    settle: float = 0.005,
    connections: int = 3,
    kind: Kind | None = None,
    uvicorn_ws: str = "websockets-sansio",
    lifespan: bool = True,
    database: str | None = None,
    shrink: bool = False,
    replay: str | Callable[[int], str] | None = None,
    program: Sequence[Step] | None = None,
) -> FuzzReport:
    """Fuzz ``target``'s WebSocket endpoint; raise :class:`EndpointFailure` on a problem.

    Arguments:

    * ``target``: a ``ws://`` URL of a running server, an ASGI app, a websockets
      handler, or ``"module:attribute"`` naming one of the two (see
      ``wsstate.testing.targets``). In-process targets are served on 127.0.0.1
      by the harness for the duration of the call.
    * ``path``: the endpoint's path for an in-process target (default ``/``); a
      URL target carries its own.
    * ``examples``: how many programs Hypothesis runs; ``steps``: most client
      events per program; ``connections``: most client connections at once.
    * ``seed``: Hypothesis' seed; the same seed replays the same programs
      (default: a random one, printed with any failure).
    * ``close_timeout``: how long the server may take to answer a client's
      Close (seconds, finite, above 0); ``settle``: seconds to let the server
      react after each event before the checks (finite, 0 or above).
    * ``kind``: ``"asgi"`` or ``"websockets"`` for a callable whose signature
      does not tell (or ``"url"``).
    * ``uvicorn_ws``: uvicorn's WebSocket implementation for an ASGI app
      (``websockets-sansio``, ``websockets`` or ``wsproto``); ``lifespan``: run
      an ASGI app's lifespan (start-up and shut-down).
    * ``database``: a directory for Hypothesis' example database, shared by
      runs (and processes) so that a failure found by one is replayed first by
      the others; default: none.
    * ``shrink``: let Hypothesis shrink a failing program (slower; the smallest
      failure seen is reported).
    * ``replay``: the replay line to print with a failure, or a function of the
      seed returning it (default: a ``wsstate fuzz`` command when the target
      can be imported by name or is a URL).
    * ``program``: run this one program (a sequence of :class:`Step`) instead
      of Hypothesis' search: a failure's ``program`` again, or one interleaving
      as a regression test. ``examples``, ``steps``, ``seed``, ``database`` and
      ``shrink`` do not apply; the replay line is the call with the program.

    Returns a :class:`FuzzReport` (examples, steps, seconds, seed). Raises
    :class:`EndpointFailure` with the counterexample as its message;
    :class:`TargetError` when the target refused the handshake or did not
    start; ``TypeError`` or ``ValueError`` for a bad argument, before anything
    runs; ``RuntimeError`` when called from a running event loop (it runs its
    own: one per thread, the same for every call).
    """
    require_testing_extra("wsstate.testing.fuzz()")
    resolved = resolve_target(target, kind)
    explicit = _program(program) if program is not None else None
    examples = _count("examples", examples)
    steps = _count("steps", steps)
    connections = _count("connections", connections)
    close_timeout = _positive("close_timeout", close_timeout)
    settle = _positive("settle", settle, zero=True)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an int, not {type(seed).__name__}")
    if uvicorn_ws not in UVICORN_WS:
        raise ValueError(f"uvicorn_ws must be one of {', '.join(UVICORN_WS)}, not {uvicorn_ws!r}")
    if resolved.kind == "url":
        if path is not None:
            raise ValueError("path is for in-process targets: a URL target carries its own")
        parts = urlsplit(str(resolved.obj))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    elif path is None:
        path = "/"
    elif not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"path must be a string starting with '/', not {path!r}")
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "wsstate.testing.fuzz() runs its own event loop: call it from synchronous code "
            "(or in a thread: await asyncio.to_thread(fuzz, ...))"
        )
    if seed is None:
        seed = random.randrange(2**32)
    if callable(replay):
        replay_line = replay(seed)
    elif replay is not None:
        replay_line = replay
    else:
        replay_line = _default_replay(
            resolved,
            seed=seed,
            examples=examples,
            steps=steps,
            path=path,
            kind=kind,
            uvicorn_ws=uvicorn_ws,
            lifespan=lifespan,
            close_timeout=close_timeout,
            settle=settle,
            connections=connections,
            database=os.fspath(database) if database else None,
            program=explicit,
        )
    server = Server(resolved, path=path, uvicorn_ws=uvicorn_ws, lifespan=lifespan)
    session = _Session(
        resolved,
        server,
        path=path,
        close_timeout=close_timeout,
        settle=settle,
        connections=connections,
    )
    failures: list[EndpointFailure] = []

    def run_program(program: list[Step]) -> None:
        problems = runner.run(session.run(program))
        if problems:
            failure = EndpointFailure(
                target=_name(resolved, server),
                problems=problems,
                events=session.events,
                wire=session.failure_wire,
                errors=session.failure_errors,
                seed=seed,
                replay=replay_line,
                example=session.examples,
                when=session.when,
                program=program,
                searched=explicit is None,
            )
            failures.append(failure)
            raise failure

    if explicit is not None:
        test: Callable[[], None] = lambda: run_program(explicit)  # noqa: E731
    else:
        directory = os.fspath(database) if database else None
        test = _search(run_program, steps, examples, seed, directory, shrink)
    session.records.watch()
    started = time.monotonic()
    runner = _runner()
    try:
        runner.run(session.start())
        try:
            test()
        except TargetError:
            raise
        except BaseException as exc:
            if not failures:
                raise
            best = min(failures, key=lambda f: len(f.events))
            raise best from (exc if not isinstance(exc, EndpointFailure) else None)
        finally:
            runner.run(session.stop())
    finally:
        session.records.unwatch()
    return FuzzReport(
        target=_name(resolved, server),
        examples=session.examples,
        steps=session.steps,
        seconds=time.monotonic() - started,
        seed=seed,
    )
