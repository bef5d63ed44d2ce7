"""Figure 7: what ``import wsstate`` costs, against ``import websockets.asyncio.server``.

A framework that imports wsstate already imports websockets; the runtime package
should add little beyond it (it loads neither python-statemachine nor
hypothesis nor any tooling). Two rows, each of fresh interpreter processes, the
two variants interleaved round by round:

* 7a: the whole process (``python -c "import X"``), wall time: what a worker's
  start-up pays;
* 7b: the import alone, as ``python -X importtime`` reports it: the
  cumulative microseconds of the top-level imports the statement made (the
  interpreter's own start-up imports left out).
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Final

from .common import Figure, Settings, _interleave, _per_round

__all__ = ["RUNTIME", "WEBSOCKETS", "_import_time", "import_cost_us"]

RUNTIME: Final = "wsstate"
WEBSOCKETS: Final = "websockets.asyncio.server"


async def _run(*args: str) -> tuple[float, str]:
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}: {err.decode()[-500:]}")
    return elapsed, err.decode()


def _top_level(report: str) -> dict[str, int]:
    """Top-level modules of a ``-X importtime`` report -> cumulative microseconds."""
    out: dict[str, int] = {}
    for line in report.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split(":", 1)[1].split("|")
        if name.startswith(" ") and not name.startswith("  "):  # depth 0: one space
            try:
                out[name.strip()] = int(cumulative)
            except ValueError:  # the header line
                continue
    return out


async def import_cost_us(module: str) -> int:
    """Microseconds ``import module`` takes in a fresh process, by ``-X importtime``."""
    _, base = await _run("-X", "importtime", "-c", "pass")
    _, report = await _run("-X", "importtime", "-c", f"import {module}")
    startup = _top_level(base)
    return sum(us for name, us in _top_level(report).items() if name not in startup)


async def _import_time(s: Settings) -> list[Figure]:
    async def whole(module: str) -> float:
        return (await _run("-c", f"import {module}"))[0] * 1e3

    async def alone(module: str) -> float:
        return (await import_cost_us(module)) / 1e3

    a, b = await _interleave(s.import_rounds, [lambda: whole(RUNTIME), lambda: whole(WEBSOCKETS)])
    c, d = await _interleave(s.import_rounds, [lambda: alone(RUNTIME), lambda: alone(WEBSOCKETS)])
    return [
        Figure(
            "7a",
            f"process `import {RUNTIME}` vs `import {WEBSOCKETS}`",
            "wsstate",
            "websockets",
            "ms",
            "wsstate/websockets",
            a,
            b,
            _per_round(a, b),
            note="whole interpreter processes, wall time (start-up included in both)",
        ),
        Figure(
            "7b",
            "the import alone (-X importtime, cumulative)",
            "wsstate",
            "websockets",
            "ms",
            "wsstate/websockets",
            c,
            d,
            _per_round(c, d),
            note="wsstate imports websockets' connection classes it guards: >= 1 by design",
        ),
    ]
