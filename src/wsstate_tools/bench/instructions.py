"""Counting the Python bytecode instructions that work runs (``sys.monitoring``, 3.12+).

A count does not move with the machine's load or the scheduler, where CPU time
per connection scatters by 10% and more between runs: figures 10g and 11g use
it to say how much Python the guard adds to a connection, and how much of that
is wsstate's own code (the rest is the transport library's and asyncio's, which
the guard makes run differently). Instructions are not all equally costly, but
on figure 10's churn the ratio of the counts follows the ratio of CPU times
within a few percent (docs/performance.md).

Only the thread that entered the count is counted (the event loop's, in the
bench): ``sys.monitoring`` reports every thread's instructions, and another
thread's (a test runner's message pump, a profiler's sampler) is not the work's.
Work handed to other threads (``asyncio.to_thread``, ``run_in_executor``) is left
out with them; the bench's churn hands none.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from types import CodeType, TracebackType
from typing import Final

__all__ = ["AVAILABLE", "InstructionCount"]

#: sys.monitoring (PEP 669) came with Python 3.12.
AVAILABLE: Final = hasattr(sys, "monitoring")

#: Where wsstate's code is, as code objects name their files (not resolved). Found,
#: not imported: the command line loads this module, and ``wsstate generate`` must run
#: even when a generated module the runtime imports is broken.
_ORIGIN: Final = getattr(importlib.util.find_spec("wsstate"), "origin", None)
if _ORIGIN is None:  # pragma: no cover - the tooling is installed with the runtime
    raise ImportError("wsstate is not installed")
_WSSTATE: Final = os.path.dirname(_ORIGIN) + os.sep
#: The tool ids tried, in order: the two PEP 669 leaves unnamed, then the
#: profiler's, the optimizer's, and last the debugger's and coverage's.
_TOOL_IDS: Final = (3, 4, 2, 5, 0, 1)


class InstructionCount:
    """``with InstructionCount() as count:`` counts every instruction this thread runs meanwhile.

    ``total`` counts all of them, in the thread that entered the block only;
    ``own`` those of wsstate's package (not its tools).
    Raises RuntimeError on Python before 3.12, or if no monitoring tool id is free.
    """

    def __init__(self) -> None:
        if not AVAILABLE:
            raise RuntimeError("counting instructions needs sys.monitoring (Python 3.12+)")
        self._per_code: dict[CodeType, int] = {}
        self._tool: int | None = None
        self._thread = 0
        #: The monitoring tool id used while counting (free again after).
        self.tool_id: int | None = None
        self.total = 0
        self.own = 0

    def _count(self, code: CodeType, offset: int) -> None:
        if threading.get_ident() != self._thread:
            return  # another thread's work (module doc)
        per_code = self._per_code
        per_code[code] = per_code.get(code, 0) + 1

    def __enter__(self) -> InstructionCount:
        monitoring = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
        for tool in _TOOL_IDS:
            if monitoring.get_tool(tool) is None:
                break
        else:
            raise RuntimeError("no sys.monitoring tool id is free (a debugger or coverage?)")
        monitoring.use_tool_id(tool, "wsstate bench")
        self._tool = self.tool_id = tool
        self._thread = threading.get_ident()
        monitoring.register_callback(tool, monitoring.events.INSTRUCTION, self._count)
        monitoring.set_events(tool, monitoring.events.INSTRUCTION)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        monitoring = sys.monitoring  # type: ignore[attr-defined,unused-ignore]
        tool, self._tool = self._tool, None
        if tool is not None:
            monitoring.set_events(tool, 0)
            monitoring.register_callback(tool, monitoring.events.INSTRUCTION, None)
            monitoring.free_tool_id(tool)
        self.total = sum(self._per_code.values())
        self.own = sum(n for code, n in self._per_code.items() if _is_own(code))


def _is_own(code: CodeType) -> bool:
    return code.co_filename.startswith(_WSSTATE)
