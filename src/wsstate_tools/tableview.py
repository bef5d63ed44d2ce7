"""Plain-text rendering of a spec's transition table (``wsstate table``)."""

from __future__ import annotations

from .spec import Spec

__all__ = ["format_table"]


def format_table(spec: Spec) -> str:
    """Every row of ``spec`` as an aligned text table, one block per state, under a
    header naming the columns (event, next state, log level, effects)."""
    out: list[str] = []
    width = max(len(e) for e in spec.event_names)
    nwidth = max(len("next state"), *(len(s) for s in spec.state_names))
    out.append(
        f"  {'event':<{width}}  {'next state':<{nwidth}}  {'log':<7}  effects [close code]\n"
        f"  {'-' * width}  {'-' * nwidth}  {'-' * 7}  {'-' * 21}\n\n"
    )
    for state in spec.states:
        marks = []
        if state.name == spec.initial:
            marks.append("initial")
        if state.name in spec.terminal:
            marks.append("terminal")
        suffix = f"  ({', '.join(marks)})" if marks else ""
        out.append(f"{state.name}{suffix}: {state.doc}\n")
        for event in spec.events:
            row = spec.row(state.name, event.name)
            if row.impossible:
                out.append(f"  {event.name:<{width}}  {'-':<{nwidth}}  impossible: {row.note}\n")
                continue
            effects = ", ".join(row.effects) or "(none)"
            code = f" [{row.code} {row.reason!r}]" if row.code is not None else ""
            out.append(
                f"  {event.name:<{width}}  {row.next or '':<{nwidth}}  "
                f"{row.log:<7}  {effects}{code}\n"
            )
        out.append("\n")
    possible = sum(1 for r in spec.iter_rows() if not r.impossible)
    total = len(spec.state_names) * len(spec.event_names)
    out.append(
        f"{len(spec.states)} states, {len(spec.events)} events, {total} pairs: "
        f"{possible} possible, {total - possible} impossible\n"
    )
    return "".join(out)
