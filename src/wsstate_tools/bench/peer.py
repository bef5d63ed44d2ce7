"""The bench's second process: a sink server or a crowd of clients, and the server under test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import sys
import time
from collections.abc import Callable, Sized
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from websockets.asyncio.server import Server, ServerConnection


from .common import _FD_HEADROOM, raise_fd_limit

_PEER_ENTRY: Final = "from wsstate_tools.bench.peer import _peer_main; _peer_main()"
#: Where this wsstate is imported from, for the peer process.
_SRC: Final = str(Path(__file__).resolve().parents[2])


class _Peer:
    """A helper process: a sink server (figure 5) or a crowd of clients (figures 1, 3, 4)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, *args: str, entry: str = _PEER_ENTRY) -> _Peer:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_SRC, env.get("PYTHONPATH")) if p)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            entry,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        return cls(proc)

    async def line(self) -> str:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), 120)
        if not raw:
            raise RuntimeError("the bench's peer process exited unexpectedly")
        return raw.decode().strip()

    def tell(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")

    async def stop(self) -> None:
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 10.0)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


def _peer_main() -> None:
    """Entry point of the peer process: ``sink`` or ``clients N PORT``."""
    args = sys.argv[1:]
    if args[0] == "sink":
        asyncio.run(_sink())
    else:
        asyncio.run(_clients(int(args[1]), int(args[2])))


async def _stdin_line() -> str:
    return await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def _sink() -> None:
    """Serve on loopback: read every message; answer a text ``END`` with ``ACK``."""
    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    raise_fd_limit(4096)

    async def handler(ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                if isinstance(message, str) and message == "END":
                    await ws.send("ACK")

    async with serve(
        handler, "127.0.0.1", 0, compression=None, ping_interval=None, max_size=None, backlog=1024
    ) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        while await _stdin_line():  # until EOF
            pass


async def _clients(n: int, port: int) -> None:
    """Open ``n`` clients that read everything (and answer a text ``END`` with ``ACK``).

    On ``kill K``, end K of them: every other victim sends a Close (closed by
    the peer), the others reset the TCP connection (SO_LINGER 0, abort). On
    ``stall K``, the last K stop reading (their local ports are printed). Until
    EOF.
    """
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.exceptions import ConnectionClosed

    raise_fd_limit(n + _FD_HEADROOM)
    gate = asyncio.Semaphore(64)

    async def open_one() -> ClientConnection:
        async with gate:
            return await connect(
                f"ws://127.0.0.1:{port}/", compression=None, ping_interval=None, close_timeout=2
            )

    async def drain(ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                if isinstance(message, str) and message == "END":
                    await ws.send("ACK")

    conns = await asyncio.gather(*(open_one() for _ in range(n)))
    readers = [asyncio.create_task(drain(ws)) for ws in conns]
    print("ready", flush=True)
    while command := (await _stdin_line()).split():
        if command[0] == "kill":
            victims = conns[: int(command[1])]
            closes = []
            for i, ws in enumerate(victims):
                if i % 2:
                    sock = ws.transport.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    ws.transport.abort()
                else:
                    closes.append(ws.close())
            await asyncio.gather(*closes)
            print("killed", flush=True)
        elif command[0] == "stall":
            # The last K stop reading (taken from the end: kill takes from the
            # start); their local ports name them to the server.
            k = int(command[1])
            stalled = conns[len(conns) - k :] if k else []
            for ws, task in zip(stalled, readers[len(conns) - k :], strict=True):
                task.cancel()
                ws.transport.pause_reading()
            ports = " ".join(str(ws.local_address[1]) for ws in stalled)
            print(f"stalled {ports}".rstrip(), flush=True)
    for task in readers:
        task.cancel()
    for ws in conns:
        ws.transport.abort()


# -- a server in this process, its clients in the peer ---------------------------------------


class _Server:
    """A websockets server in this process, its connections opened by a peer process's clients."""

    def __init__(self, n: int, on_connect: Callable[[ServerConnection], None] | None = None):
        self.n = n
        self.conns: list[ServerConnection] = []
        self.on_connect = on_connect
        self.all_in = asyncio.Event()
        self.server: Server | None = None
        self.peer: _Peer | None = None

    async def _handler(self, ws: ServerConnection) -> None:
        self.conns.append(ws)
        if self.on_connect is not None:
            self.on_connect(ws)
        if len(self.conns) == self.n:
            self.all_in.set()
        await ws.wait_closed()

    async def __aenter__(self) -> _Server:
        from websockets.asyncio.server import serve

        # As wsstate recommends: no websockets keepalive (the guard has its own).
        self.server = await serve(
            self._handler, "127.0.0.1", 0, compression=None, ping_interval=None, backlog=1024
        )
        try:
            port = self.server.sockets[0].getsockname()[1]
            self.peer = await _Peer.start("clients", str(self.n), str(port))
            if await self.peer.line() != "ready":
                raise RuntimeError("the bench's clients did not connect")
            await asyncio.wait_for(self.all_in.wait(), 60)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def end_clients(self, dead: int, hub: Sized) -> None:
        """Have the peer end ``dead`` of its clients (peer.py's ``kill``); return once the
        hub of their guarded connections and the server's own connections have seen it."""
        from websockets.protocol import State as WSState

        assert self.peer is not None
        self.peer.tell(f"kill {dead}")
        if await self.peer.line() != "killed":
            raise RuntimeError("the bench's clients did not die")
        deadline = time.monotonic() + 30
        while (
            len(hub) > self.n - dead or sum(ws.state is WSState.CLOSED for ws in self.conns) < dead
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the killed connections were not seen closing in 30 s")
            await asyncio.sleep(0.01)

    async def __aexit__(self, *exc: object) -> None:
        if self.peer is not None:
            await self.peer.stop()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


# -- 1. send throughput -------------------------------------------------------------------
