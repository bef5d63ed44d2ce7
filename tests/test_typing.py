"""The public API's types, as a user's ``mypy --strict`` sees them.

A send takes what the runtime takes: str or any bytes-like payload (bytearray,
memoryview: copied when given); ``recv()`` gives str or bytes only. Annotations
narrower than the runtime made a correct program fail its type check (a
bytearray broadcast was an ``arg-type`` error); wider ones would hide misuse.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api as mypy_api

PROGRAM = """
from __future__ import annotations

import wsstate


async def user(
    conn: wsstate.GuardedConnection,
    hub: wsstate.Hub,
    client: wsstate.ReconnectingClient,
    session: wsstate.Session,
    sessions: wsstate.Sessions,
    redis_hub: wsstate.RedisHub,
) -> str | bytes:
    frame = bytearray(b"frame")
    view = memoryview(b"view")
    await conn.send(frame)
    assert await conn.try_send(view)
    assert conn.send_threadsafe(frame)
    await hub.broadcast(frame)
    assert hub.broadcast_threadsafe(view)
    await client.send(frame)
    assert await client.try_send(view)
    await session.send(frame)
    assert await session.try_send(view)
    await sessions.broadcast(frame)
    await redis_hub.broadcast(view)
    message: str | bytes = await conn.recv()
    data: wsstate.Data = message  # the aliases, for code passing messages through
    payload: wsstate.Payload = frame
    await conn.send(payload)
    return data
"""

MISUSE = """
from __future__ import annotations

import wsstate


async def user(conn: wsstate.GuardedConnection) -> bytearray:
    await conn.send(123)
    return await conn.recv()
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """mypy's cache, shared by this module's checks (the first one fills it: ~10 s)."""
    return tmp_path_factory.mktemp("mypy-cache")


def _check(tmp_path: Path, cache: Path, source: str) -> tuple[str, int]:
    path = tmp_path / "user.py"
    path.write_text(source)
    out, err, status = mypy_api.run(
        ["--strict", "--no-error-summary", "--cache-dir", str(cache), str(path)]
    )
    return out + err, status


def test_sends_take_bytes_like_payloads_and_recv_gives_str_or_bytes(
    tmp_path: Path, cache: Path
) -> None:
    out, status = _check(tmp_path, cache, PROGRAM)
    assert status == 0, out


def test_a_wrong_payload_and_a_wider_message_type_are_type_errors(
    tmp_path: Path, cache: Path
) -> None:
    out, status = _check(tmp_path, cache, MISUSE)
    assert status == 1, out
    assert 'Argument 1 to "send" of "GuardedConnection" has incompatible type "int"' in out
    assert 'Incompatible return value type (got "str | bytes", expected "bytearray")' in out
