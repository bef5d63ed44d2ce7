"""``wsstate bench --quick``: a smoke test. It runs and prints every figure; no timing is asserted.

The figures themselves are measurements, not properties: they are recorded in
docs/performance.md, never checked here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Every row of the table, by its number (DESIGN.md section 6): written out here,
#: not taken from wsstate_tools.bench, so that a row the bench stops printing fails.
ROWS = (
    "1a",
    "1b",
    "1c",
    "1d",
    "1e",
    "1f",
    "2a",
    "2b",
    "3a",
    "3b",
    "4",
    "5a",
    "5b",
    "6a",
    "6b",
    "7a",
    "7b",
    "8a",
    "8b",
    "9a",
    "9b",
)
FIGURES = {
    "1a": "send throughput, 64 B",
    "1b": "send throughput, 16 KiB",
    "1c": "sender CPU per message, 64 B",
    "1d": "sender CPU per message, 16 KiB",
    "1e": "64 B: guarded/write path",
    "1f": "16 KiB: guarded/write path",
    "2a": "Machine.feed vs ConnectionChart",
    "2b": "TABLE lookup vs ConnectionChart",
    "3a": "broadcast to",
    "3b": "live ones only",
    "4": "memory per connection",
    "5a": "churn",
    "5b": "client CPU per connection",
    "6a": "stateful fuzz steps/s",
    "6b": "verifier states/s",
    "7a": "process `import wsstate`",
    "7b": "the import alone",
    "8a": "memory per session",
    "8b": "Sessions vs Hub",
    "9a": "reconnect herd",
    "9b": "accept-then-close",
}


def test_bench_quick_prints_every_figure() -> None:
    # A process of its own: the bench raises the open-files limit and drives the
    # stateful harness, neither of which may leak into this test session.
    done = subprocess.run(
        [sys.executable, "-m", "wsstate_tools", "bench", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("wsstate bench:"), out
    for field in ("cpu", "cores", "python", "websockets", "python-statemachine"):
        assert re.search(rf"^  {re.escape(field)}\s+\S", out, re.M), f"no {field} line:\n{out}"
    for key in ROWS:
        row = re.search(rf"^{re.escape(key)}\s+(.*)$", out, re.M)
        assert row is not None, f"row {key} missing:\n{out}"
        assert FIGURES[key] in row.group(1), f"row {key} is not {FIGURES[key]!r}:\n{out}"
        value = re.search(
            r"\d[\d,]*(?:\.\d+)? (?:(?:msg/s|µs|ms|B|conn/s|steps/s|states/s|attempts)\b|%)",
            row[1],
        )
        assert value is not None, f"row {key} has no measured value:\n{out}"
    assert "Traceback" not in done.stderr, done.stderr
