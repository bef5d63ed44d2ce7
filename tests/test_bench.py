"""``wsstate bench --quick``: a smoke test. It runs and prints every figure; no timing is asserted.

The figures themselves are measurements, not properties: they are recorded in
docs/performance.md, never checked here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from wsstate_tools.bench import instructions
from wsstate_tools.bench.framework import _faults_note

ROOT = Path(__file__).resolve().parent.parent

#: Every row of the table, by its number (DESIGN.md section 6): written out here,
#: not taken from wsstate_tools.bench, so that a row the bench stops printing fails.
ROWS: tuple[str, ...] = (
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
    "10a",
    "10b",
    "10c",
    "10d",
    "10e",
    "10f",
    "10h",
    "10i",
    "11a",
    "11b",
    "11c",
    "11d",
    "11e",
    "11f",
    "12a",
    "12b",
    "13a",
    "13b",
    "13c",
)
if instructions.AVAILABLE:  # counted with sys.monitoring (Python 3.12+)
    ROWS = tuple(sorted((*ROWS, "10g", "11g"), key=lambda k: (int(k.rstrip("abcdefghi")), k)))
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
    "10a": "aiohttp send throughput, 64 B",
    "10b": "aiohttp send throughput, 16 KiB",
    "10c": "aiohttp sender CPU per message, 64 B",
    "10d": "aiohttp sender CPU per message, 16 KiB",
    "10e": "aiohttp churn",
    "10f": "aiohttp client CPU per connection",
    "10g": "aiohttp Python instructions per connection",
    "10h": "aiohttp churn, both without dead-peer detection",
    "10i": "aiohttp churn, both with dead-peer detection",
    "11a": "tornado send throughput, 64 B",
    "11b": "tornado send throughput, 16 KiB",
    "11c": "tornado sender CPU per message, 64 B",
    "11d": "tornado sender CPU per message, 16 KiB",
    "11e": "tornado churn",
    "11f": "tornado client CPU per connection",
    "11g": "tornado Python instructions per connection",
    "12a": "cross-process broadcast latency p50",
    "12b": "cross-process broadcast latency p99",
    "13a": "all live: Hub vs websockets.broadcast",
    "13b": "half dead: Hub vs websockets.broadcast",
    "13c": "1% stalled: duration stalled/none",
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
            r"\d[\d,]*(?:\.\d+)? (?:(?:msg/s|µs|ms|B|conn/s|steps/s|states/s|attempts|instr)\b|%)",
            row[1],
        )
        assert value is not None, f"row {key} has no measured value:\n{out}"
    assert "Traceback" not in done.stderr, done.stderr


def test_bench_only_runs_the_figures_named() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wsstate_tools", "bench", "--quick", "--only", "10,11"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    keys = re.findall(r"^(\d+[a-z]?)\s", out, re.M)
    assert keys == [k for k in ROWS if k[:2] in ("10", "11")], out
    _check_instruction_rows(out)
    if sys.platform != "win32":
        for key in ("10f", "11f"):  # the allocator regime the churn ran in (_faults_note)
            note = re.search(
                rf"^  {key}: .*minor page faults per connection: guarded (\d+\.\d\d), "
                r"bare (\d+\.\d\d): (?:reads mapped one by one|reads from the heap|mixed)",
                out,
                re.M,
            )
            assert note is not None, out
    refused = subprocess.run(
        [sys.executable, "-m", "wsstate_tools", "bench", "--only", "14"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "figure numbers are 1 to 13" in refused.stderr, refused.stderr


def _check_instruction_rows(out: str) -> None:
    """Rows 10g/11g (Python 3.12+), or the note saying why they are missing."""
    if not instructions.AVAILABLE:
        assert "10g and 11g (Python instructions per connection) not measured" in out, out
        return
    for key in ("10g", "11g"):
        row = re.search(rf"^{key}\s+(.*)$", out, re.M)
        assert row is not None, out
        guarded, bare = (float(v.replace(",", "")) for v in re.findall(r"([\d,]+) instr", row[1]))
        # A connection of either framework's client runs thousands of instructions,
        # and the guarded one some of wsstate's on top.
        assert bare > 1000, row[1]
        assert guarded > 1000, row[1]
        note = re.search(
            rf"{key}: .*the guard adds (-?[\d,]+) instructions per connection: wsstate's own "
            r"code runs ([\d,]+), the transport library and asyncio ([\d,]+) (fewer|more)",
            out,
        )
        assert note is not None, out
        own = int(note[2].replace(",", ""))
        assert 0 < own < guarded, note[0]


def test_faults_note_names_the_allocator_regime() -> None:
    # (guarded, bare) minor page faults per connection per round -> the regime named.
    cases = [
        ([0.9, 0.8, 1.0], [0.85, 0.9, 0.8], "guarded 0.90, bare 0.85: reads from the heap"),
        ([4.9, 5.0, 4.8], [4.9, 4.7, 5.1], "guarded 4.90, bare 4.90: reads mapped one by one"),
        # One variant alone above the line is not the process's regime.
        ([4.9, 5.0, 4.8], [0.9, 0.9, 0.9], "guarded 4.90, bare 0.90: mixed: the guarded rounds"),
        ([0.9, 0.9, 0.9], [4.9, 5.0, 4.8], "guarded 0.90, bare 4.90: mixed: the bare rounds"),
        ([2.0], [2.5], "guarded 2.00, bare 2.50: mixed: the bare rounds"),
        ([2.0], [2.0], "guarded 2.00, bare 2.00: reads from the heap"),
        # The median of the rounds, not their mean: one round's outlier moves nothing.
        ([0.5, 0.6, 9.0], [0.5, 0.6, 9.0], "guarded 0.60, bare 0.60: reads from the heap"),
    ]
    if sys.platform != "win32":  # no getrusage there: every note says "not measured"
        for guarded, bare, said in cases:
            assert said in _faults_note({"guarded": guarded, "bare": bare}), (guarded, bare)
    assert _faults_note({"guarded": [], "bare": [1.0]}) == "minor page faults not measured"
