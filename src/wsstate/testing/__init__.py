"""Test support: real faults on real sockets, and hygiene checks.

* :class:`FaultProxy` — a TCP proxy on loopback between a real client and a real
  server that injects resets, FINs, black holes and slow readers, and taps the
  WebSocket frames crossing it (:meth:`FaultProxy.assert_wire_clean`).
* :class:`WireTap` — the sans-I/O frame recorder the proxy uses.
* :class:`LoopWatch` — records calls of the event loop's exception handler.
* :class:`ManualClock` — an advanceable clock for the session grace timer.
* :class:`ResourceSnapshot` — open descriptors and asyncio tasks, to check that
  a test gives back everything it took.
* :func:`fuzz` — fuzz any WebSocket endpoint (a ``ws://`` URL, an ASGI app, a
  websockets handler) with real clients through the fault proxy, against what
  the connection table lets a client observe; :class:`EndpointFailure` carries
  the counterexample and its replay command (``wsstate.testing.endpoint``).
  The pytest plugin's ``wsstate_fuzz`` fixture does the same from a test.
* :func:`check_adapter` — check a transport adapter written outside wsstate (an
  :class:`AdapterRole`: its :class:`~wsstate.adapters.base.Transport` and how to
  open a server or client connection of its kind) with the stateful harness's
  checks: both roles' drivers, the reference chart as oracle, per-connection
  hygiene; returns a :class:`CoverageReport`, raises :class:`AdapterCheckFailure`
  with a replay command (``wsstate.testing.adapter_check``).

This package is for tests; it is not imported by :mod:`wsstate`.
"""

from __future__ import annotations

from .adapter_check import AdapterCheckFailure, CoverageReport, check_adapter
from .clock import ManualClock, ManualTimer
from .endpoint import EndpointFailure, FuzzReport, Step, TargetError, fuzz
from .faultproxy import FaultProxy, ProxiedConnection, Side, TcpEnd
from .loopwatch import LoopWatch
from .resources import ResourceSnapshot
from .sites import AdapterRole
from .wiretap import Direction, WireFrame, WireTap

__all__ = [
    "AdapterCheckFailure",
    "AdapterRole",
    "CoverageReport",
    "Direction",
    "EndpointFailure",
    "FaultProxy",
    "FuzzReport",
    "LoopWatch",
    "ManualClock",
    "ManualTimer",
    "ProxiedConnection",
    "ResourceSnapshot",
    "Side",
    "Step",
    "TargetError",
    "TcpEnd",
    "WireFrame",
    "WireTap",
    "check_adapter",
    "fuzz",
]
