"""Retry classification tables: ``spec/retry/<machine>.toml``, loaded, validated, generated.

A machine spec (``spec/<name>.toml``) stays generic: it never sees a status
code. A machine that reacts to classified failures (the reconnecting client)
has a classification table beside it, in ``spec/retry/``: which failure kinds,
HTTP statuses and close codes are retried (``retry``), retried with a floor
(``retry_after``) or fatal. This module is its whole pipeline:

* :func:`load` parses and validates a table (every problem as ``file:line``
  with a fix, all at once, as the spec loader does): ``[closed_by]`` names who
  may end an open connection (:data:`CLOSERS`) once each, deciding or leaving it
  to the close code (``by_code``); ``[failures]`` names every
  failure kind of :data:`FAILURE_KINDS` once; ``[http]`` covers every status
  100-599 and ``[close]`` every code 1000-4999 exactly once, by single keys or
  inclusive ``"lo-hi"`` ranges; every decision is one of :data:`DECISIONS`;
* :func:`render` writes ``src/wsstate/machines/<machine>_retry.py``: the same
  table as frozen tuples, standard library only, for the runtime
  (``wsstate.retry`` classifies with it);
* :func:`outputs` renders every table of a project (``wsstate generate`` and
  ``wsstate check`` call it beside the machine generators).

It imports nothing of the runtime and no generator (the generators import it),
only the spec loader's model.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .spec.model import Problem, SpecError

__all__ = [
    "BY_CODE",
    "CLOSERS",
    "CLOSE_RANGE",
    "DECISIONS",
    "FAILURE_KINDS",
    "HTTP_RANGE",
    "RETRY_DIR",
    "RetryTable",
    "load",
    "outputs",
    "render",
    "table_paths",
]

#: Where classification tables live, relative to a project root.
RETRY_DIR: Final = Path("spec/retry")
#: What a table may decide.
DECISIONS: Final = ("retry", "retry_after", "fatal")
#: Who may end an open connection (``wsstate.ClosedBy`` values), as ``[closed_by]`` names them.
CLOSERS: Final = ("remote", "local", "timeout", "transport")
#: The ``[closed_by]`` decision that leaves it to the close code (``[close]``).
BY_CODE: Final = "by_code"
#: Failures before any HTTP response, in the order the runtime tests them.
FAILURE_KINDS: Final = (
    "os_error",
    "timeout",
    "handshake_eof",
    "invalid_uri",
    "tls_verification",
    "invalid_handshake",
)
#: The statuses ``[http]`` must cover, inclusive.
HTTP_RANGE: Final = (100, 599)
#: The codes ``[close]`` must cover, inclusive.
CLOSE_RANGE: Final = (1000, 4999)

_REGENERATE: Final = "wsstate generate"
_KEY: Final = re.compile(r"^(\d+)(?:-(\d+))?$")


@dataclass(frozen=True, slots=True)
class RetryTable:
    """A validated classification table."""

    path: str
    machine: str
    doc: str
    closed_by: tuple[tuple[str, str], ...]
    """(closer, decision or :data:`BY_CODE`), in :data:`CLOSERS` order."""
    failures: tuple[tuple[str, str], ...]
    """(failure kind, decision), in :data:`FAILURE_KINDS` order."""
    http: tuple[tuple[int, int, str], ...]
    """(first status, last status, decision), sorted, covering :data:`HTTP_RANGE`."""
    close: tuple[tuple[int, int, str], ...]
    """(first code, last code, decision), sorted, covering :data:`CLOSE_RANGE`."""

    def decide_http(self, status: int) -> str | None:
        """The decision for an HTTP status (None outside the table's range)."""
        return _lookup(self.http, status)

    def decide_close(self, code: int) -> str | None:
        """The decision for a close code (None outside the table's range)."""
        return _lookup(self.close, code)


def _lookup(ranges: tuple[tuple[int, int, str], ...], value: int) -> str | None:
    for lo, hi, decision in ranges:
        if lo <= value <= hi:
            return decision
    return None


def table_paths(root: Path) -> list[Path]:
    """Every classification table of the project at ``root``, sorted."""
    return sorted((root / RETRY_DIR).glob("*.toml"))


def _line_of(lines: list[str], section: str | None, key: str) -> int:
    """The line of ``key`` in ``[section]`` (of the header for key ''); 1 if not found."""
    current: str | None = None
    for n, raw in enumerate(lines, start=1):
        text = raw.strip()
        m = re.match(r"^\[([^\]]+)\]", text)
        if m:
            current = m.group(1).strip()
            if key == "" and current == section:
                return n
            continue
        if current != section or not key:
            continue
        bare = text.split("=", 1)[0].strip().strip('"')
        if bare == key:
            return n
    return 1


def load(path: str | Path) -> RetryTable:
    """Load and validate the table at ``path``; raise :class:`SpecError` listing every problem."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    return loads(text, p.as_posix())


def loads(text: str, path: str = "<string>") -> RetryTable:
    """Validate the table in ``text`` (``path`` names it in problems)."""
    problems: list[Problem] = []
    lines = text.splitlines()

    def bad(section: str | None, key: str, message: str, hint: str) -> None:
        problems.append(Problem(path, _line_of(lines, section, key), message, hint))

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        line = int(m.group(1)) if m else 1
        raise SpecError([Problem(path, line, f"invalid TOML: {exc}", "fix the syntax")]) from None

    for name in data:
        if name not in ("table", "closed_by", "failures", "http", "close"):
            bad(
                name,
                "",
                f"unknown table [{name}]",
                "use [table], [closed_by], [failures], [http], [close]",
            )
    meta = data.get("table", {})
    machine = meta.get("machine")
    doc = meta.get("doc")
    if not isinstance(machine, str) or not machine:
        bad("table", "", "[table] needs machine = <name of the machine spec>", "add machine")
        machine = ""
    if not isinstance(doc, str) or not doc:
        bad("table", "", "[table] needs doc = <one line>", "add doc")
        doc = ""
    for key in meta:
        if key not in ("machine", "doc"):
            bad("table", key, f"unknown key {key!r} in [table]", "use machine and doc")

    def decision(section: str, key: str, value: object) -> str | None:
        if value not in DECISIONS:
            bad(
                section,
                key,
                f"decision {value!r} for {key} in [{section}] is not one of {', '.join(DECISIONS)}",
                "write retry, retry_after or fatal",
            )
            return None
        return str(value)

    closed_by: list[tuple[str, str]] = []
    closers = data.get("closed_by", {})
    for key in closers:
        if key not in CLOSERS:
            bad("closed_by", key, f"unknown closer {key!r}", "use one of " + ", ".join(CLOSERS))
    for closer in CLOSERS:
        value = closers.get(closer)
        if value is None:
            bad(
                "closed_by",
                "",
                f"[closed_by] does not decide for {closer}",
                f"add {closer} = <decision or {BY_CODE}>",
            )
        elif value != BY_CODE and value not in DECISIONS:
            bad(
                "closed_by",
                closer,
                f"decision {value!r} for {closer} in [closed_by] is not one of "
                f"{', '.join((*DECISIONS, BY_CODE))}",
                f"write retry, retry_after, fatal or {BY_CODE}",
            )
        else:
            closed_by.append((closer, value))

    failures: list[tuple[str, str]] = []
    given = data.get("failures", {})
    for key, value in given.items():
        if key not in FAILURE_KINDS:
            bad(
                "failures",
                key,
                f"unknown failure kind {key!r}",
                "use one of " + ", ".join(FAILURE_KINDS),
            )
            continue
        decision("failures", key, value)
    for kind in FAILURE_KINDS:
        if kind not in given:
            bad("failures", "", f"[failures] does not classify {kind}", f"add {kind} = <decision>")
        elif given[kind] in DECISIONS:
            failures.append((kind, given[kind]))

    def ranges(section: str, span: tuple[int, int]) -> tuple[tuple[int, int, str], ...]:
        out: list[tuple[int, int, str, str]] = []
        for key, value in data.get(section, {}).items():
            m = _KEY.match(key)
            if not m:
                bad(section, key, f"key {key!r} in [{section}] is not N or lo-hi", 'write "503"')
                continue
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) else lo
            if lo > hi or lo < span[0] or hi > span[1]:
                bad(
                    section,
                    key,
                    f"range {key} in [{section}] is empty or outside {span[0]}-{span[1]}",
                    "fix the bounds",
                )
                continue
            d = decision(section, key, value)
            if d is not None:
                out.append((lo, hi, d, key))
        out.sort()
        expected = span[0]
        for lo, hi, _, key in out:
            if lo < expected:
                bad(section, key, f"{key} in [{section}] overlaps an earlier key", "split it")
            elif lo > expected:
                gap = f"{expected}" if lo - 1 == expected else f"{expected}-{lo - 1}"
                bad(section, key, f"[{section}] does not classify {gap}", f'add "{gap}"')
            expected = max(expected, hi + 1)
        if expected <= span[1]:
            gap = f"{expected}-{span[1]}" if expected < span[1] else f"{expected}"
            last = max(out, key=lambda r: r[1])[3] if out else ""
            bad(section, last, f"[{section}] does not classify {gap}", f'add "{gap}"')
        return tuple((lo, hi, d) for lo, hi, d, _ in out)

    http = ranges("http", HTTP_RANGE)
    close = ranges("close", CLOSE_RANGE)
    if problems:
        raise SpecError(problems)
    return RetryTable(path, machine, doc, tuple(closed_by), tuple(failures), http, close)


def output_path(table: RetryTable) -> Path:
    """Where the generated module of ``table`` goes."""
    return Path(f"src/wsstate/machines/{table.machine}_retry.py")


def render(table: RetryTable) -> str:
    """The generated module ``wsstate.machines.<machine>_retry``."""
    o: list[str] = []
    w = o.append
    w("# GENERATED FILE - DO NOT EDIT.\n")
    w(f"# Source: {table.path}\n")
    w(f"# Regenerate with `{_REGENERATE}`; `wsstate check` fails if this file is stale.\n")
    w(f'"""The {table.machine} machine\'s retry classification, from {table.path}.\n\n')
    w(table.doc + "\n\n")
    w("Each decision is one of ``retry``, ``retry_after`` (retry; a Retry-After header or\n")
    w("the close reason's seconds are a floor for the next delay) or ``fatal``. Ranges are\n")
    w("inclusive, sorted and cover their span exactly once (checked by wsstate_tools.retry).\n")
    w('"""\n\n')
    w("from __future__ import annotations\n\n")
    w("from typing import Final\n\n")
    w('__all__ = ["CLOSE", "CLOSED_BY", "FAILURES", "HTTP"]\n\n')
    w("CLOSED_BY: Final[tuple[tuple[str, str], ...]] = (\n")
    for closer, d in table.closed_by:
        w(f"    ({_lit(closer)}, {_lit(d)}),\n")
    w(")\n")
    w('"""(who ended an open connection, decision; by_code: its close code decides)."""\n\n')
    w("FAILURES: Final[tuple[tuple[str, str], ...]] = (\n")
    for kind, d in table.failures:
        w(f"    ({_lit(kind)}, {_lit(d)}),\n")
    w(")\n")
    w('"""(failure kind, decision) of attempts that failed before any HTTP response."""\n\n')
    for name, rows, what in (
        ("HTTP", table.http, "HTTP status of a refused handshake"),
        ("CLOSE", table.close, "close code of an open connection that closed"),
    ):
        w(f"{name}: Final[tuple[tuple[int, int, str], ...]] = (\n")
        for lo, hi, d in rows:
            w(f"    ({lo}, {hi}, {_lit(d)}),\n")
        w(")\n")
        w(f'"""(first, last, decision) by {what}."""\n')
        if name == "HTTP":
            w("\n")
    return "".join(o)


def _lit(value: str) -> str:
    return '"' + value + '"'


def outputs(root: Path) -> list[tuple[Path, str]]:
    """(path, text) of the generated module of every classification table at ``root``."""
    out: list[tuple[Path, str]] = []
    for path in table_paths(root):
        try:
            rel = path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            rel = path.as_posix()
        table = loads(path.read_text(encoding="utf-8"), rel)
        out.append((output_path(table), render(table)))
    return out
