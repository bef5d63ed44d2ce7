"""What figures 10 (aiohttp) and 11 (tornado) share: send throughput and churn, guarded vs bare.

Each figure measures one web framework's own WebSockets the way figures 1 and
5 measure websockets':

* send throughput (``a``, ``b``; and the sending process's CPU per message,
  ``c``, ``d``): the framework's server in this process, two connections opened
  by clients in a second process (:mod:`.peer`, which read everything and
  answer a text ``END`` with ``ACK``); one connection sends with the
  framework's own call, the other is guarded and sends with
  ``GuardedConnection.send``; a fixed count of binary messages, then ``END``,
  until the ``ACK``;
* churn (``e``; and the client's CPU per connection, ``f``): the framework's
  client in this process (connect, one 64 B message, close, 8 at a time)
  against the websockets sink in the peer process, bare vs guarded (``guard()``
  on the connection the framework's client opened, then ``conn.send`` and
  ``await conn.close()``);
* Python instructions per connection of that churn (``g``, Python 3.12+:
  :mod:`.instructions`), bare and guarded, and how many of the guarded
  connection's are wsstate's own code: a count that does not scatter with
  the machine's load as CPU times do. wsstate's code that runs during a bare
  round (the guarded connections' cancelled timers, dropped whenever their
  queue's asyncio timer falls due) is counted for the guarded round of its pair;
* further churn rows (``h``, ``i``, ...: :class:`AlsoChurn`), as ``e`` in rounds
  of their own, after it: the same churn with both sides configured alike
  (figure 10: dead-peer detection on neither side, then on both).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final

from . import instructions
from .common import LARGE, SMALL, Figure, Settings, _interleave, _per_round
from .peer import _Peer

Send = Callable[[bytes | str], Awaitable[None]]
Recv = Callable[[], Awaitable[bytes | str]]


#: One churned connection of a variant: ``one(url, message)`` opens, sends, closes.
OneConnection = Callable[[str, bytes], Awaitable[None]]


@dataclass(frozen=True)
class AlsoChurn:
    """A further churn row (:func:`churn_figures`), ``a``/``b``: each a variant's name
    and its :data:`OneConnection`; a variant of row e's, or one of its own."""

    suffix: str
    what: str
    a: tuple[str, OneConnection]
    b: tuple[str, OneConnection]
    note: str


@dataclass
class Variant:
    """One way to send on one connection, and to read what the client answers."""

    name: str
    send: Send
    recv: Recv


async def send_figures(
    key: str, framework: str, s: Settings, guarded: Variant, bare: Variant, note: str
) -> list[Figure]:
    """Rows ``key``a-d: throughput and sender CPU per message, 64 B and 16 KiB."""
    rates: list[Figure] = []
    costs: list[Figure] = []
    for sub, cpu_sub, size, count in (
        ("a", "c", SMALL, s.send_small),
        ("b", "d", LARGE, s.send_large),
    ):
        payload = b"x" * size
        cpu: dict[str, list[float]] = {"bare": [], "guarded": []}

        def measure(
            name: str,
            v: Variant,
            payload: bytes = payload,
            count: int = count,
            cpu: dict[str, list[float]] = cpu,
        ) -> Callable[[], Awaitable[float]]:
            async def run() -> float:
                started, cpu_started = time.perf_counter(), time.process_time()
                for _ in range(count):
                    await v.send(payload)
                cpu[name].append((time.process_time() - cpu_started) / count * 1e6)
                await v.send("END")
                if await v.recv() != "ACK":
                    raise RuntimeError("the receiver did not acknowledge")
                return count / (time.perf_counter() - started)

            return run

        run_guarded, run_bare = measure("guarded", guarded), measure("bare", bare)
        await run_bare()  # warm-up, not counted
        await run_guarded()
        for kept in cpu.values():
            kept.clear()
        a, b = await _interleave(s.send_rounds, [run_guarded, run_bare])
        label = "64 B" if size == SMALL else "16 KiB"
        rates.append(
            Figure(
                key + sub,
                f"{framework} send throughput, {label}: guarded/bare",
                guarded.name,
                bare.name,
                "msg/s",
                "guarded/bare",
                a,
                b,
                _per_round(a, b),
                ">= 0.95",
                lambda r: r >= 0.95,
                f"{framework} server to client, {count:,} messages per round, "
                f"{s.send_rounds} rounds, until the client (another process) has read them "
                f"all; {note}",
            )
        )
        ca, cb = cpu["guarded"], cpu["bare"]
        costs.append(
            Figure(
                key + cpu_sub,
                f"{framework} sender CPU per message, {label}: guarded/bare",
                guarded.name,
                bare.name,
                "µs",
                "guarded/bare CPU",
                ca,
                cb,
                _per_round(ca, cb),
                note=f"the same rounds as {key}{sub}: CPU time of the sending process",
            )
        )
    return rates + costs


async def churn_figures(
    key: str,
    framework: str,
    s: Settings,
    guarded: tuple[str, OneConnection],
    bare: tuple[str, OneConnection],
    note: str,
    rounds: int | None = None,
    notes: list[str] | None = None,
    also: Sequence[AlsoChurn] = (),
) -> list[Figure]:
    """Rows ``key``e-g: churn against the sink (another process), client CPU, and
    Python instructions (3.12+; why not, in ``notes``, when they could not be counted);
    then a row per :class:`AlsoChurn`, each measured as row e in rounds of its own.

    ``rounds``: instead of the settings' ``churn_rounds`` (a slow client's).
    """
    rounds = s.churn_rounds if rounds is None else rounds
    sink = await _Peer.start("sink")
    try:
        url = f"ws://127.0.0.1:{await sink.line()}/"
        message = b"x" * SMALL
        cpu: dict[str, list[float]] = {"bare": [], "guarded": []}
        faults: dict[str, list[float]] = {"bare": [], "guarded": []}

        def variant(one: OneConnection, cpu_of: str | None) -> Callable[[], Awaitable[float]]:
            """A round of ``one``'s churn: connections per second; with ``cpu_of``
            ("guarded" or "bare"), its CPU and page faults per connection kept too."""

            async def run() -> float:
                per_worker = max(1, s.churn // s.churn_workers)

                async def worker() -> None:
                    for _ in range(per_worker):
                        await one(url, message)

                started, cpu_started = time.perf_counter(), time.process_time()
                faults_started = _minor_faults()
                await asyncio.gather(*(worker() for _ in range(s.churn_workers)))
                n = per_worker * s.churn_workers
                if cpu_of is not None:
                    cpu[cpu_of].append((time.process_time() - cpu_started) / n * 1e6)
                    faults[cpu_of].append((_minor_faults() - faults_started) / n)
                return n / (time.perf_counter() - started)

            return run

        run_guarded, run_bare = variant(guarded[1], "guarded"), variant(bare[1], "bare")
        await run_bare()  # warm-up rounds, not counted (figure 5 says why)
        await run_guarded()
        for kept in (*cpu.values(), *faults.values()):
            kept.clear()
        a, b = await _interleave(rounds, [run_guarded, run_bare])
        try:
            counted = await _count_instructions(s, url, message, guarded[1], bare[1])
        except RuntimeError as exc:  # no monitoring tool id free (a debugger, coverage)
            counted = None
            if notes is not None:
                notes.append(f"{key}g not measured: {exc}")
        # The further rows after e-g, each in rounds of its own, in the order given:
        # what a variant leaves behind (aiohttp's heartbeat leaves a cancelled
        # handle in asyncio's heap per connection, until it would have fallen due)
        # reaches the rows measured after it, never e-g's.
        also_rounds: list[tuple[list[float], list[float]]] = []
        for row in also:
            run_a, run_b = variant(row.a[1], None), variant(row.b[1], None)
            await run_b()  # warm-up, not counted
            await run_a()
            ra, rb = await _interleave(rounds, [run_a, run_b])
            also_rounds.append((ra, rb))
    finally:
        await sink.stop()
    ca, cb = cpu["guarded"], cpu["bare"]
    return [
        Figure(
            key + "e",
            f"{framework} churn (connect, 1 message, close): guarded/bare",
            guarded[0],
            bare[0],
            "conn/s",
            "guarded/bare",
            a,
            b,
            _per_round(a, b),
            ">= 0.95",
            lambda r: r >= 0.95,
            f"{framework}'s client, {s.churn_workers} at a time, {s.churn} connections per "
            f"round, {rounds} rounds, to a websockets server in another process; {note}",
        ),
        Figure(
            key + "f",
            f"{framework} client CPU per connection: guarded/bare",
            guarded[0],
            bare[0],
            "µs",
            "guarded/bare CPU",
            ca,
            cb,
            _per_round(ca, cb),
            note=f"the same rounds as {key}e: CPU time of the client process; "
            + _faults_note(faults),
        ),
        *_instruction_figures(key, framework, s, guarded[0], bare[0], counted),
        *(
            Figure(
                key + row.suffix,
                f"{framework} churn, {row.what}: guarded/bare",
                row.a[0],
                row.b[0],
                "conn/s",
                "guarded/bare",
                ra,
                rb,
                _per_round(ra, rb),
                ">= 0.95",
                lambda r: r >= 0.95,
                f"as {key}e, {rounds} rounds of its own after {key}e-{key}g: {row.note}",
            )
            for row, (ra, rb) in zip(also, also_rounds, strict=True)
        ),
    ]


def _minor_faults() -> int:
    """The process's minor page faults so far (0 where ``resource`` is missing: Windows)."""
    if sys.platform == "win32":
        return 0
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


#: Minor page faults per connection above which a churn round's process is taken to
#: be in the allocator regime where asyncio's receive buffer is mapped per read.
_MAPPED_READS: Final = 2.0


def _faults_note(faults: dict[str, list[float]]) -> str:
    """What the client's minor page faults per connection say about the run.

    asyncio's selector transport reads with ``sock.recv(256 KiB)``: in some processes
    glibc serves that buffer with ``mmap`` (then ``mremap`` and ``munmap``): three
    system calls per read and some five page faults per connection (two reads); in
    others from its heap, under one fault per connection. That is a regime of the
    process, the same for both variants, that moves every churn figure of the run
    (docs/performance.md); one variant alone above the line is not that regime but
    faults of its own, and is named as such.
    """
    guarded, bare = faults["guarded"], faults["bare"]
    if not guarded or not bare or sys.platform == "win32":
        return "minor page faults not measured"
    g, b = statistics.median(guarded), statistics.median(bare)
    if min(g, b) > _MAPPED_READS:
        regime = "reads mapped one by one (asyncio's 256 KiB receive buffer by mmap)"
    elif max(g, b) > _MAPPED_READS:
        alone = "guarded" if g > b else "bare"
        regime = f"mixed: the {alone} rounds alone above {_MAPPED_READS:g}, not the reads' regime"
    else:
        regime = "reads from the heap"
    return f"minor page faults per connection: guarded {g:.2f}, bare {b:.2f}: {regime}"


#: Rounds of figure ``g`` (instructions): a count barely moves from one to the next.
_COUNT_ROUNDS: Final = 3
#: Loop turns run before and at the end of a counted round.
_SETTLE_TURNS: Final = 8


async def _settle() -> None:
    for _ in range(_SETTLE_TURNS):
        await asyncio.sleep(0)


_Counted = tuple[list[float], list[float], list[float]] | None


async def _count_instructions(
    s: Settings,
    url: str,
    message: bytes,
    guarded: Callable[[str, bytes], Awaitable[None]],
    bare: Callable[[str, bytes], Awaitable[None]],
) -> _Counted:
    """Python instructions per connection of each variant, and wsstate's own share
    of the guarded one's (:mod:`.instructions`); None before Python 3.12."""
    if not instructions.AVAILABLE:
        return None
    per_worker = max(1, s.churn // s.churn_workers)
    n = per_worker * s.churn_workers
    counts: dict[str, list[float]] = {"guarded": [], "bare": [], "own": []}

    async def run(one: Callable[[str, bytes], Awaitable[None]]) -> instructions.InstructionCount:
        async def worker() -> None:
            for _ in range(per_worker):
                await one(url, message)

        await _settle()  # what the last round left to run is not counted in this one,
        gc.collect()  # nor the finalizers of its garbage
        with instructions.InstructionCount() as count:
            await asyncio.gather(*(worker() for _ in range(s.churn_workers)))
            await _settle()  # this round's closures finish (connection_lost, releases)
            gc.collect()  # and its garbage's finalizers run in it, not in the next round
        return count

    for _ in range(_COUNT_ROUNDS):
        plain = await run(bare)
        count = await run(guarded)
        # wsstate's code that runs in a bare round is the guarded connections'
        # deferred work (their cancelled timers, dropped whenever their queue's
        # asyncio timer next falls due): theirs, not the bare variant's.
        counts["bare"].append((plain.total - plain.own) / n)
        counts["guarded"].append((count.total + plain.own) / n)
        counts["own"].append((count.own + plain.own) / n)
    return counts["guarded"], counts["bare"], counts["own"]


def _instruction_figures(
    key: str, framework: str, s: Settings, a_name: str, b_name: str, counted: _Counted
) -> list[Figure]:
    if counted is None:
        return []  # the table's notes say why (Python before 3.12)
    ga, gb, own = counted
    added = statistics.median(g - b for g, b in zip(ga, gb, strict=True))
    mine = statistics.median(own)
    return [
        Figure(
            key + "g",
            f"{framework} Python instructions per connection: guarded/bare",
            a_name,
            b_name,
            "instr",
            "guarded/bare",
            ga,
            gb,
            _per_round(ga, gb),
            note=(
                f"the churn of {key}e counted with sys.monitoring, {_COUNT_ROUNDS} rounds of "
                f"{max(1, s.churn // s.churn_workers) * s.churn_workers} connections each "
                f"(wsstate's code run in a bare round counted as the guarded one's); "
                f"the guard adds {added:,.0f} instructions per connection: wsstate's own "
                f"code runs {mine:,.0f}, the transport library and asyncio "
                f"{abs(added - mine):,.0f} {'fewer' if added < mine else 'more'}"
            ),
        )
    ]


async def start_clients(n: int, port: int) -> _Peer:
    """``n`` websockets clients in the peer process, connected to 127.0.0.1:``port``."""
    peer = await _Peer.start("clients", str(n), str(port))
    try:
        if await peer.line() != "ready":
            raise RuntimeError("the bench's clients did not connect")
    except BaseException:
        await peer.stop()
        raise
    return peer
