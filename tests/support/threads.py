"""Running code in several threads at once, with thread switches as frequent as CPython allows."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable


def race(work: Callable[[int], None], threads: int) -> None:
    """Run ``work(0)`` ... ``work(threads - 1)`` each in its own thread, started together.

    The switch interval is at its minimum meanwhile (1 µs), so that a gap between
    two steps that should be one is hit; restored after. An exception in a thread
    is raised here.
    """
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def run(index: int) -> None:
        start.wait()
        try:
            work(index)
        except BaseException as exc:  # reported to the caller below
            failures.append(exc)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(switch)
    if failures:
        raise failures[0]
