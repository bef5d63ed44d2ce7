"""Bad input is refused by the call that made it (session 16's audit of the public API).

Each case here was accepted before and failed later, or never: a callback that
cannot take its arguments failed at close, expiry or gap time, in a log; a
payload with the buffer protocol (``array.array``) was refused as not
bytes-like; an empty ``name`` was replaced; a close beacon naming a generation
never issued ended the session; ``Machine.feed`` of an unknown event raised a
bare ``KeyError``. Connections are real (websockets over loopback).
"""

from __future__ import annotations

import array
import functools
from typing import Any
from unittest.mock import MagicMock, Mock

import pytest
from support.harness import Harness, Role, eventually

import wsstate
from wsstate import Event, InvalidOption, Machine, RedisHub, Sessions, State
from wsstate._checks import callback_mismatch
from wsstate.machines.session import State as SessionState


class _Hook:
    def method(self, x: object) -> None:
        pass

    def __call__(self, x: object, y: object = None) -> None:
        pass


async def _coroutine(x: object) -> None:
    pass


class _StaticCall:
    @staticmethod
    def __call__(x: object) -> None:
        pass


class _StaticCall2:
    @staticmethod
    def __call__(x: object, y: object) -> None:
        pass


# (callback, arguments it is called with, can it take them)
SIGNATURES: list[tuple[Any, int, bool]] = [
    (lambda: None, 1, False),
    (lambda x: None, 1, True),
    (lambda x, y: None, 1, False),
    (lambda x, y=1: None, 1, True),
    (lambda *args: None, 1, True),
    (lambda x, *, k: None, 1, False),
    (lambda x, *, k=1: None, 1, True),
    (_Hook().method, 1, True),
    (_Hook.method, 1, False),  # unbound: self and x
    (_Hook(), 1, True),
    (_Hook(), 2, True),
    (_Hook(), 3, False),
    (_coroutine, 1, True),  # an async hook is awaited by the hooks that take one
    (functools.partial(lambda a, b: None, 1), 1, True),
    (functools.partial(lambda a, b: None, 1, 2), 1, False),
    (print, 1, True),  # a builtin (C): its signature read once per kind, and kept
    (len, 2, False),
    ([].append, 1, True),
    ([].insert, 1, False),
    (functools.partial(len), 2, False),
    (functools.partial(divmod, 7), 1, True),
    (_StaticCall(), 1, True),  # __call__ a staticmethod: no instance passed
    (_StaticCall(), 2, False),
    (_StaticCall2(), 1, False),  # inspect.signature reads it as (y): it was accepted
    (_StaticCall2(), 2, True),
    (Mock(spec=_coroutine), 1, True),  # claims a function's class: it crashed the check
    (MagicMock(spec_set=_coroutine), 1, True),
    (functools.partial(lambda a, b: None, b=1), 1, True),  # keywords: by its signature
    (functools.partial(lambda a, b, c: None, 1), 1, False),
    (_Hook, 1, False),  # a class: its __init__ takes no argument
    (lambda publisher, missed: None, 2, True),
    (lambda publisher: None, 2, False),
]


@pytest.mark.parametrize(
    ("callback", "arguments", "fits"),
    SIGNATURES,
    ids=[
        f"{i}-{getattr(c, '__name__', type(c).__name__)}-{n}"
        for i, (c, n, _) in enumerate(SIGNATURES)
    ],
)
def test_callback_mismatch_table(callback: Any, arguments: int, fits: bool) -> None:
    mismatch = callback_mismatch(callback, arguments)
    assert (mismatch is None) is fits, mismatch
    if mismatch is not None:
        assert "positional argument" in mismatch


async def test_on_close_refuses_a_callback_that_cannot_take_the_connection(
    h: Harness, role: Role
) -> None:
    pair = await h.pair(role)
    with pytest.raises(TypeError, match="called with the connection"):
        pair.conn.on_close(lambda: None)  # type: ignore[arg-type,misc]
    called: list[object] = []
    pair.conn.on_close(called.append)  # a builtin method: taken
    await pair.conn.close()
    await eventually(lambda: called == [pair.conn])
    assert pair.conn.stats.callback_errors == 0


def test_hooks_of_sessions_and_the_redis_hub_are_checked_when_given() -> None:
    with pytest.raises(InvalidOption, match="on_expire") as info:
        Sessions(on_expire=lambda: None)  # type: ignore[arg-type,misc]
    assert isinstance(info.value, TypeError)
    sessions = Sessions()
    with pytest.raises(InvalidOption, match="on_expire"):
        sessions.on_expire = lambda a, b: None  # type: ignore[assignment]
    assert sessions.on_expire is None  # the old value kept
    with pytest.raises(InvalidOption, match="on_gap") as info:
        RedisHub("redis://127.0.0.1:1", "chan", on_gap=lambda publisher: None)  # type: ignore[arg-type,misc]
    assert info.value.option == "on_gap"
    RedisHub("redis://127.0.0.1:1", "chan", on_gap=lambda publisher, missed: None)


async def test_a_buffer_is_sent_as_binary_on_every_send(h: Harness, role: Role) -> None:
    pair = await h.pair(role)
    payload = array.array("H", [0x6968, 0x2121])  # bytes-like: its buffer, b"hi!!"
    assert await pair.conn.try_send(payload)
    await pair.conn.send(array.array("b", b"x"))
    hub = wsstate.Hub()
    hub.add(pair.conn)
    await hub.broadcast(array.array("b", b"hub"))
    got = [await pair.peer.recv() for _ in range(3)]
    assert got == [payload.tobytes(), b"x", b"hub"]
    with pytest.raises(TypeError, match="str or bytes-like, not int"):
        await pair.conn.send(5)  # type: ignore[arg-type]
    await pair.conn.close()


async def test_an_empty_name_is_refused(h: Harness, role: Role) -> None:
    pair = await h.pair(role, proxy=False)
    native = pair.conn.transport.connection  # type: ignore[attr-defined]
    with pytest.raises(InvalidOption, match="name"):
        wsstate.guard(native, name="")
    with pytest.raises(InvalidOption, match="name"):
        wsstate.connect("ws://127.0.0.1:1/", name="")
    with pytest.raises(InvalidOption, match="name"):
        wsstate.ReconnectingClient("ws://127.0.0.1:1/", name="")
    await pair.conn.close()


async def test_a_beacon_of_another_generation_is_a_no_op(h: Harness) -> None:
    sessions = Sessions()
    pair = await h.pair("server")
    session = sessions.attach("page", pair.conn)
    assert session.generation == 1
    with pytest.raises(TypeError, match="session_id"):
        sessions.page_close(["page"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="session_id"):
        sessions.page_close(123)  # type: ignore[arg-type]
    # A generation never issued to this session (an earlier session's under the id):
    # it used to end the session.
    assert sessions.page_close("page", generation=2)
    assert session.state is SessionState.ATTACHED
    assert sessions.page_close("page", generation=1)
    assert session.closed


def test_machine_feed_refuses_what_is_not_an_event_or_a_code() -> None:
    m = Machine()
    with pytest.raises(TypeError, match=r"wsstate\.Event, not 'bogus'"):
        m.feed("bogus")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="int code"):
        m.feed(Event.APP_CLOSE, "not a code", 5)  # type: ignore[arg-type]
    assert m.state is State.CONNECTING  # nothing changed
    m.feed(Event.HANDSHAKE_OK)
    m.feed(Event.APP_CLOSE, 4000, "bye")
    assert (m.state, m.close_code, m.close_reason) == (State.CLOSING, 4000, "bye")
