"""A real ``redis-server`` for tests: the Debian package, on a free loopback port.

Started, killed (SIGKILL: every connection cut, nothing said to the clients) and
started again on the same port. The Redis link's generated stateful tests
(:mod:`wsstate.testing.link_stateful`), the RedisHub tests and benchmark figure 12
run against it; nothing is persisted (no RDB, no AOF).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

__all__ = ["INSTALL_HINT", "RedisServer", "free_port"]

INSTALL_HINT = (
    "redis-server is not installed: apt-get install redis-server (.ci/run installs it when missing)"
)


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A real ``redis-server`` on loopback; :meth:`kill` and :meth:`start` again keep the port."""

    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(INSTALL_HINT)
        self.binary = binary
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> float:
        """Start it and wait until it answers PING; return when (time.time())."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return time.time()
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def kill(self) -> None:
        """SIGKILL: every connection is cut, nothing is said to the clients."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()
