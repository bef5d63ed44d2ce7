"""Test support: real faults on real sockets, and hygiene checks.

* :class:`FaultProxy` — a TCP proxy on loopback between a real client and a real
  server that injects resets, FINs, black holes and slow readers, and taps the
  WebSocket frames crossing it (:meth:`FaultProxy.assert_wire_clean`).
* :class:`WireTap` — the sans-I/O frame recorder the proxy uses.
* :class:`LoopWatch` — records calls of the event loop's exception handler.
* :class:`ManualClock` — an advanceable clock for the session grace timer.
* :class:`ResourceSnapshot` — open descriptors and asyncio tasks, to check that
  a test gives back everything it took.

This package is for tests; it is not imported by :mod:`wsstate`.
"""

from __future__ import annotations

from .clock import ManualClock, ManualTimer
from .faultproxy import FaultProxy, ProxiedConnection, Side
from .loopwatch import LoopWatch
from .resources import ResourceSnapshot
from .wiretap import Direction, WireFrame, WireTap

__all__ = [
    "Direction",
    "FaultProxy",
    "LoopWatch",
    "ManualClock",
    "ManualTimer",
    "ProxiedConnection",
    "ResourceSnapshot",
    "Side",
    "WireFrame",
    "WireTap",
]
