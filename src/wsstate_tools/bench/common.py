"""What every figure shares: settings, the figure record, rounds interleaved, the machine."""

from __future__ import annotations

import contextlib
import gc
import os
import platform
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Final

#: Payload sizes of figure 1.
SMALL: Final = 64
LARGE: Final = 16 * 1024
#: Connections of figure 3 (the fd limit may scale it down; the output says so).
BROADCAST_CONNECTIONS: Final = 2000
_FD_HEADROOM: Final = 256


@dataclass(frozen=True)
class Settings:
    """How much of each figure to run."""

    send_rounds: int = 31
    send_small: int = 2_000
    send_large: int = 500
    decision_rounds: int = 11
    decision_feed: int = 200_000
    decision_chart: int = 2_000
    broadcast_connections: int = BROADCAST_CONNECTIONS
    broadcast_rounds: int = 21
    memory_connections: int = 400
    memory_rounds: int = 3
    churn: int = 160
    churn_rounds: int = 61
    churn_workers: int = 8
    fuzz_seconds: float = 2.0
    fuzz_rounds: int = 3
    verify_rounds: int = 3
    verify_quick: bool = False
    import_rounds: int = 21

    @classmethod
    def quick(cls) -> Settings:
        """A smoke run: every figure, scaled down to a few seconds in all."""
        return cls(
            send_rounds=4,
            send_small=1_000,
            send_large=200,
            decision_rounds=3,
            decision_feed=20_000,
            decision_chart=200,
            broadcast_connections=100,
            broadcast_rounds=3,
            memory_connections=40,
            memory_rounds=2,
            churn=24,
            churn_rounds=3,
            churn_workers=4,
            fuzz_seconds=0.25,
            fuzz_rounds=2,
            verify_rounds=2,
            verify_quick=True,
            import_rounds=3,
        )


@dataclass
class Figure:
    """One row of the table: two variants measured round by round, and their ratio."""

    key: str
    what: str
    a_name: str
    b_name: str
    unit: str
    ratio_name: str
    a: list[float] = field(default_factory=list)
    b: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    target: str = ""
    meets: Callable[[float], bool] | None = None
    note: str = ""

    @property
    def ratio(self) -> float:
        """The median of the per-round ratios."""
        return statistics.median(self.ratios) if self.ratios else float("nan")

    @property
    def verdict(self) -> str:
        """``ok``, ``BELOW`` or empty (no target)."""
        if self.meets is None or not self.ratios:
            return ""
        return "ok" if self.meets(self.ratio) else "BELOW"


# -- helpers ----------------------------------------------------------------------------


def _per_round(a: Sequence[float], b: Sequence[float]) -> list[float]:
    """The ratio a/b of each round (both measured in it)."""
    return [x / y for x, y in zip(a, b, strict=True)]


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _fmt(value: float, unit: str) -> str:
    if value != value:  # nan
        return "-"
    if unit in ("us", "µs"):
        return f"{value:.3g} µs" if value < 100 else f"{value:,.0f} µs"
    if unit == "ms":
        return f"{value:.3g} ms"
    if unit == "B":
        return f"{value:,.0f} B"
    return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"


def _ratio_text(value: float) -> str:
    if value != value:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:,.0f}"


def machine_info() -> list[tuple[str, str]]:
    """Where the figures come from: CPU, cores, Python and library versions."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "?"

    return [
        ("cpu", cpu),
        ("cores", str(os.cpu_count())),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("os", f"{platform.system()} {platform.release()}"),
        ("websockets", version("websockets")),
        ("python-statemachine", version("python-statemachine")),
        ("wsstate", version("wsstate")),
    ]


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft limit of open files towards ``wanted`` (at most the hard limit).

    Returns the soft limit in force afterwards.
    """
    try:
        import resource
    except ImportError:  # not on this platform: assume the usual default
        return 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return wanted if soft == resource.RLIM_INFINITY else soft


async def _interleave(
    rounds: int, variants: Sequence[Callable[[], Awaitable[float]]]
) -> list[list[float]]:
    """Run each variant once per round, rotating their order; the values per variant."""
    values: list[list[float]] = [[] for _ in variants]
    n = len(variants)
    for r in range(rounds):
        for k in range(n):
            i = (r + k) % n
            gc.collect()
            values[i].append(await variants[i]())
    return values
