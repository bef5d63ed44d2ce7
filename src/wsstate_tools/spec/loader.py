"""Load a spec: read it (:mod:`.parse`), then check it (:mod:`.validate`).

Parsing problems stop the load before the rules run: the rules need every name
a spec uses to resolve. All problems of a stage are reported at once, in file
order.
"""

from __future__ import annotations

from pathlib import Path

from .model import Problem, Spec, SpecError, sort_problems
from .parse import Parser
from .validate import check

__all__ = ["load", "load_unvalidated", "loads"]


def load(path: str | Path) -> Spec:
    """Load, expand and validate the spec at ``path``; raise :class:`SpecError` if malformed."""
    p = Path(path)
    return loads(_read(p), str(p))


def loads(text: str, path: str = "<spec>") -> Spec:
    """Parse and validate spec ``text``; ``path`` names it in error messages."""
    parser = Parser(text, path)
    data = parser.read()
    if data is None:
        raise SpecError(parser.problems)
    spec = parser.build(data)
    if parser.problems:
        raise SpecError(parser.problems)
    problems = check(spec, parser.lines)
    if problems:
        raise SpecError(problems)
    return spec


def load_unvalidated(path: str | Path) -> tuple[Spec, tuple[Problem, ...]]:
    """Load the spec at ``path`` even if the validator rejects it; return it and the problems.

    For the model checker's mutants (``tests/fixtures/mutants``): a spec whose
    terminal state can be left, or whose row carries a close code that may not be
    sent, is rejected by :func:`load`, yet the checker must be able to show what
    goes wrong when it runs. The problems :func:`load` would raise are returned
    alongside the spec (empty for a valid spec). A spec that cannot be built at
    all (unreadable, invalid TOML, a missing row, an unknown state) still raises
    :class:`SpecError`.
    """
    try:
        return load(path), ()
    except SpecError as exc:
        error = exc
    parser = Parser(_read(Path(path)), str(path))
    data = parser.read()
    if data is None:
        raise error
    spec = parser.build(data)
    names = set(spec.state_names)
    usable = (
        spec.initial in names
        and spec.terminal <= names
        and len(spec.rows) == len(spec.states) * len(spec.events)
        and all(row.next is None or row.next in names for row in spec.rows.values())
    )
    if not usable:
        raise error
    return spec, sort_problems(parser.problems + check(spec, parser.lines))


def _read(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(
            [Problem(str(p), 1, f"cannot read spec: {exc}", "check the path")]
        ) from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            [Problem(str(p), 1, f"spec is not UTF-8: {exc}", "save the file as UTF-8")]
        ) from None
