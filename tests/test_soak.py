"""``wsstate soak``, short: real connections churned with faults, nothing leaks, nothing logged.

A subprocess (the soak raises the open-files limit and installs its own logging
handler and loop exception handler). The full run (10,000 connections, 5
minutes) is in docs/performance.md; this one is CI's.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHORT = ["--connections", "300", "--minutes", "0.1", "--quiet"]


def _soak(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wsstate_tools", "soak", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _row(out: str, phase: str, at: str) -> list[str]:
    row = re.search(rf"^{phase}\s+{at}\s+(.*)$", out, re.M)
    assert row is not None, f"no {phase} {at} row:\n{out}"
    return row.group(1).split()


def test_short_soak_leaves_nothing_behind() -> None:
    # Its duration is a measurement (docs/performance.md), not asserted: _soak's timeout bounds it.
    done = _soak(*SHORT)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert out.startswith("wsstate soak: 300 connections"), out
    # columns: t conns fds tasks RSS heap ERROR handler bcasts p50 p99 max
    base, ramped, end = (
        _row(out, "ramp", "start"),
        _row(out, "ramp", "end"),
        _row(out, "drain", "end"),
    )
    assert ramped[1] == "300", out
    assert int(ramped[2].replace(",", "")) >= int(base[2]) + 300, out  # a socket per connection
    assert end[1] == "0", out
    assert end[2] == base[2], out  # fds: exactly back
    assert end[3] == base[3], out  # tasks: exactly back
    heap = re.search(r"^heap: baseline [\d,]+, end [\d,]+ \(([-+]\d+\.\d+)%\): ok$", out, re.M)
    assert heap is not None, out
    assert abs(float(heap.group(1))) <= 2.0, out
    assert end[6] == "0", out  # no ERROR record
    assert end[7] == "0", out  # no loop exception-handler call
    broadcasts = int(end[8].replace(",", ""))
    assert broadcasts >= 25, out  # a broadcast every 100 ms for 6 s, slowed by load
    assert float(end[11]) < 1000, out  # no broadcast waited on a member (write_timeout: 2 s)
    faults = re.search(r"^faults made by the clients in the churn: (.*)$", out, re.M)
    assert faults is not None, out
    made = dict(item.split("=") for item in faults.group(1).split())
    assert {"close", "reset"} <= set(made), out
    assert sum(int(v) for v in made.values()) >= 50, out
    assert out.rstrip().endswith("soak: PASS"), out


def test_soak_fails_on_an_error_record() -> None:
    done = _soak("--connections", "50", "--minutes", "0.05", "--quiet", "--inject-error")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ERROR records: 1: FAIL" in done.stdout, done.stdout
    assert "a deliberately broken handler" in done.stdout, done.stdout
    assert done.stdout.rstrip().endswith("soak: FAIL"), done.stdout


def test_soak_fails_on_a_leak() -> None:
    # The heap is checked without containers resized (a dict's or a set's
    # table keeps its last capacity: one block, its size changed); a handler
    # that keeps every connection adds blocks and must fail it.
    done = _soak("--connections", "50", "--minutes", "0.05", "--quiet", "--inject-leak")
    assert done.returncode == 1, done.stdout + done.stderr
    heap = re.search(
        r"^heap: baseline [\d,]+, end [\d,]+ \(\+(\d+\.\d+)%\): NOT within 2%$", done.stdout, re.M
    )
    assert heap is not None, done.stdout
    assert "ERROR records: 0" in done.stdout, done.stdout
    assert done.stdout.rstrip().endswith("soak: FAIL"), done.stdout
