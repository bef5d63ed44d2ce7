"""Snapshots of this process's open file descriptors and asyncio tasks.

A test takes a baseline at its start (inside its event loop, so the loop's own
descriptors are part of it) and, at its end, waits a short while for everything
it opened to be released::

    baseline = ResourceSnapshot.take()
    ...
    await baseline.assert_restored(settle=1.0)

A *leak* is a descriptor open now that was not open (to the same target) in the
baseline, or a task not done now that was not in the baseline. Closing
something that was open in the baseline is not a leak. Sockets are described
with their TCP endpoints and state (from ``/proc/self/net/tcp{,6}``) so a
failure says which connection stayed open. Descriptors come from
``/proc/self/fd`` (Linux); elsewhere only tasks are compared.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import struct
from collections.abc import Mapping
from typing import Any, Final, Self

__all__ = ["ResourceSnapshot"]

_FD_DIR: Final = "/proc/self/fd"
_TCP_STATES: Final = {
    "01": "ESTABLISHED",
    "02": "SYN_SENT",
    "03": "SYN_RECV",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
}


@dataclasses.dataclass(frozen=True)
class ResourceSnapshot:
    """Open descriptors (fd -> link target) and unfinished asyncio tasks."""

    fds: Mapping[int, str]
    tasks: frozenset[asyncio.Task[Any]]

    @classmethod
    def take(cls) -> Self:
        """Snapshot now. Tasks are those of the running loop, if any."""
        try:
            current = asyncio.current_task()
            tasks = frozenset(t for t in asyncio.all_tasks() if t is not current)
        except RuntimeError:  # no running loop
            tasks = frozenset()
        return cls(_open_fds(), tasks)

    @property
    def sockets(self) -> dict[int, str]:
        """The descriptors that are sockets."""
        return {fd: target for fd, target in self.fds.items() if target.startswith("socket:")}

    def leaks(self, now: ResourceSnapshot | None = None) -> list[str]:
        """What is open in ``now`` (default: a new snapshot) but not in this baseline."""
        now = now if now is not None else type(self).take()
        found: list[str] = []
        tcp: dict[str, str] | None = None
        for fd, target in sorted(now.fds.items()):
            if self.fds.get(fd) == target:
                continue
            if target.startswith("socket:"):
                tcp = tcp if tcp is not None else _tcp_by_inode()
                detail = tcp.get(target[len("socket:[") : -1], "not TCP")
                found.append(f"fd {fd} -> {target} ({detail})")
            else:
                found.append(f"fd {fd} -> {target}")
        for task in sorted(now.tasks - self.tasks, key=repr):
            if not task.done():
                found.append(f"task {task!r}")
        return found

    async def assert_restored(self, settle: float = 1.0, poll: float = 0.01) -> None:
        """Wait up to ``settle`` seconds for no leaks; else raise AssertionError listing them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settle
        while True:
            leaks = self.leaks()
            if not leaks:
                return
            if loop.time() >= deadline:
                raise AssertionError(
                    f"resources not back to baseline after {settle} s:\n  " + "\n  ".join(leaks)
                )
            await asyncio.sleep(poll)


def _open_fds() -> dict[int, str]:
    try:
        names = os.listdir(_FD_DIR)
    except OSError:  # pragma: no cover - not Linux
        return {}
    fds: dict[int, str] = {}
    for name in names:
        try:
            fds[int(name)] = os.readlink(f"{_FD_DIR}/{name}")
        except OSError:  # closed since (e.g. the directory listing's own fd)
            continue
    return fds


def _tcp_by_inode() -> dict[str, str]:
    """Map socket inode -> "tcp local -> remote STATE" for this process's namespace."""
    table: dict[str, str] = {}
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            with open(f"/proc/self/net/{name}") as file:
                lines = file.read().splitlines()[1:]
        except OSError:  # pragma: no cover - not Linux
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:  # pragma: no cover - malformed line
                continue
            local, remote = _endpoint(fields[1], family), _endpoint(fields[2], family)
            state = _TCP_STATES.get(fields[3], fields[3])
            table[fields[9]] = f"tcp {local} -> {remote} {state}"
    return table


def _endpoint(hex_address: str, family: socket.AddressFamily) -> str:
    host_hex, port_hex = hex_address.split(":")
    raw = bytes.fromhex(host_hex)
    # The kernel prints each 32-bit word in host byte order.
    words = struct.unpack(f"={len(raw) // 4}I", raw)
    host = socket.inet_ntop(family, struct.pack(f"!{len(words)}I", *words))
    return f"{host}:{int(port_hex, 16)}"
