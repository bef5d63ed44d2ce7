"""The client composition in Promela, for SPIN: ``spec/generated/client.pml``.

The same system as :class:`wsstate_tools.verify.client_model.ClientModel`: one
``Client`` process whose every alternative is one ``d_step``: an application
call (start, close, a message classified ``app_send`` or ``app_send_full`` by
the buffer's fill), the server ending an attempt in flight or a live
connection, a flush finishing (``ready``), a timer running out. The table is
one inline per event, ``on_<event>()``, an ``if`` with one branch per state;
each effect is the statement the Python model performs, in the row's order.

Every property of
:data:`~wsstate_tools.verify.client_model.CLIENT_PROPERTIES` is a flag
``v_<property>`` and an assertion (``fail``: only the first of a step is
raised, and every step is guarded by ``!violated``, so a violating step is not
followed, as in the Python checker); ``no_deadlock`` is an invariant checked
after every step. ``ltl safety`` is ``[] !violated``.

Run it with ``spin -a client.pml && gcc -O1 -o pan pan.c && ./pan -a -N safety -c0``
(``tests/test_client_model.py`` does, for the shipped spec and every mutant in
``tests/fixtures/mutants/client``).
"""

from __future__ import annotations

from ..spec import Row, Spec
from ..verify.client_model import (
    ATTEMPT_ENDS,
    CLIENT_PROPERTIES,
    CLOSURES,
    RESTING,
    STOPPING,
    ClientBounds,
)
from .common import header

__all__ = ["render_client"]

_FAILS = (
    "refused_retryable",
    "refused_retry_after",
    "refused_fatal",
    "closed_retryable",
    "closed_retry_after",
    "closed_fatal",
    "give_up",
)
_FATAL = ("refused_fatal", "closed_fatal")


def render_client(spec: Spec, bounds: object = None) -> str:
    """The Promela model of the client composition built from ``spec``.

    ``bounds`` is accepted for the renderer table's signature and ignored: the
    client composition has bounds of its own (:class:`ClientBounds` defaults).
    """
    b = ClientBounds()
    o: list[str] = [header(spec, "//")]
    w = o.append
    w("// The reconnecting client with a server that accepts, refuses, closes or vanishes,\n")
    w("// and its timers; see docs/verification.md. The same model as `wsstate verify client`\n")
    w("// (src/wsstate_tools/verify/client_model.py).\n")
    w("// Check: spin -a client.pml && gcc -O1 -o pan pan.c && ./pan -a -N safety -c0\n\n")
    w(f"#define MSGS {b.messages}\n#define BUF {b.buffered}\n#define LEVEL {b.level}\n\n")
    for i, s in enumerate(spec.states):
        w(f"#define S_{s.name} {i}\n")
    w("\n")
    for i, t in enumerate(spec.timers):
        w(f"#define T_{t} {1 << i}\n")
    flags = list(CLIENT_PROPERTIES)
    w(f"#define violated ({' || '.join(f'v_{p}' for p in flags)})\n")
    resting = " && ".join(f"st != S_{s}" for s in spec.state_names if s in RESTING) or "true"
    w(f"#define STUCK ({resting} && !pending && !live && !flushing && timers == 0)\n\n")
    w("byte st;\nbyte timers;\nbyte attempts;\nbool pending;\nbool live;\nbool flushing;\n")
    w("byte buf[BUF];\nbyte nbuf;\nbyte sent;\nbyte received;  // bit set of message ids\n")
    w("byte msg;       // the message being sent, 0 between steps\n")
    w("byte fails;     // ghost: failures since the last connection that stayed up\n")
    w("bool gap;       // ghost: a delay (or an uptime) ran out since the last attempt\n")
    w("bool closedg;   // ghost: the application called close()\n")
    w("bool fatal;     // ghost: the server answered fatally\n")
    for p in flags:
        w(f"bool v_{p};\n")
    w("\ninline fail(flag) {\n    if\n    :: !violated ->\n        flag = true;\n")
    w("        assert(!flag)\n    :: else -> skip\n    fi\n}\n\n")
    w("inline invariants() {\n    if\n    :: STUCK -> fail(v_no_deadlock)\n")
    w("    :: else -> skip\n    fi\n}\n\n")
    w("inline failed() {\n    if\n    :: fails < LEVEL -> fails++\n    :: else -> skip\n")
    w("    fi\n}\n\n")
    for e in spec.events:
        w(f"inline on_{e.name}() {{\n    if\n")
        for name in spec.state_names:
            row = spec.row(name, e.name)
            body = _row_body(spec, row)
            w(f"    :: st == S_{name} ->  // line {row.line}\n")
            w("".join(f"        {line}\n" for line in body))
        w("    fi\n}\n\n")

    w("proctype Client() {\nend:\n    do\n")
    w("    :: d_step { !violated -> on_start(); invariants() }\n")
    w("    :: d_step { !violated -> closedg = true; on_app_close(); invariants() }\n")
    w("    :: d_step { !violated && sent < MSGS -> sent++; msg = sent;\n")
    w("        if\n        :: nbuf < BUF -> on_app_send()\n        :: else -> on_app_send_full()\n")
    w("        fi;\n        msg = 0; invariants() }\n")
    for event in ATTEMPT_ENDS:
        pre = _pre(event)
        w(f"    :: d_step {{ !violated && pending -> pending = false; {pre}on_{event}(); ")
        w("invariants() }\n")
    for event in CLOSURES:
        pre = _pre(event)
        w("    :: d_step { !violated && live -> live = false; flushing = false; ")
        w(f"{pre}on_{event}(); invariants() }}\n")
    w("    :: d_step { !violated && flushing -> flushing = false; on_ready(); invariants() }\n")
    for timer, event in spec.timers.items():
        ghost = ""
        if timer == "uptime_timer":
            ghost = "fails = 0; gap = true; "
        elif timer == "backoff_timer":
            ghost = "gap = true; "
        w(f"    :: d_step {{ !violated && (timers & T_{timer}) != 0 -> ")
        w(f"timers = timers & ~T_{timer}; {ghost}on_{event}(); invariants() }}\n")
    w("    od\n}\n\n")
    w(f"init {{\n    d_step {{ st = S_{spec.initial}; gap = true }};\n    run Client()\n}}\n\n")
    w("ltl safety { [] !violated }\n")
    return "".join(o)


def _pre(event: str) -> str:
    pre = ""
    if event in _FAILS:
        pre += "failed(); "
    if event in _FATAL:
        pre += "fatal = true; "
    return pre


def _row_body(spec: Spec, row: Row) -> list[str]:
    if row.impossible or row.next is None:
        return ["fail(v_impossible_event)"]
    if row.state in spec.terminal and row.next != row.state:
        return ["fail(v_stopped_absorbing)"]
    out: list[str] = []
    for effect in row.effects:
        verb, _, arg = effect.partition(":")
        if verb == "arm" and arg in spec.timers:
            out.append(f"timers = timers | T_{arg};")
            if arg == "backoff_timer":
                out.append(
                    "if :: attempts != fails -> fail(v_backoff_resets_only_after_min_uptime) "
                    ":: else -> skip fi;"
                )
        elif verb == "cancel" and arg in spec.timers:
            out.append(f"timers = timers & ~T_{arg};")
        elif effect == "attempt":
            if row.state in STOPPING or row.next in STOPPING:
                out.append("fail(v_no_attempt_when_stopping);")
            out.append("if :: closedg -> fail(v_no_attempt_after_close) :: else -> skip fi;")
            out.append("if :: fatal -> fail(v_fatal_stops) :: else -> skip fi;")
            out.append("if :: pending || live -> fail(v_single_attempt) :: else -> skip fi;")
            out.append("if :: !gap -> fail(v_backoff_between_attempts) :: else -> skip fi;")
            out.append("pending = true; gap = false;")
        elif effect == "adopt_connection":
            out.append("live = true;")
        elif effect == "flush_buffer":
            for i in range(ClientBounds().buffered):
                out.append(
                    f"if :: nbuf > {i} -> if :: (received & (1 << buf[{i}])) != 0 -> "
                    f"fail(v_sent_at_most_once) :: else -> received = received | (1 << buf[{i}]) "
                    "fi :: else -> skip fi;"
                )
            out.extend(_clear_buffer())
            out.append("flushing = true;")
        elif effect == "transmit":
            out.append(
                "if :: (received & (1 << msg)) != 0 -> fail(v_sent_at_most_once) "
                ":: else -> received = received | (1 << msg) fi;"
            )
        elif effect == "buffer":
            out.append(
                "if :: nbuf >= BUF -> fail(v_buffer_bounded) :: else -> buf[nbuf] = msg; nbuf++ fi;"
            )
        elif effect == "drop_buffer":
            out.extend(_clear_buffer())
        elif effect == "count_attempt":
            out.append("if :: attempts < LEVEL -> attempts++ :: else -> skip fi;")
        elif effect == "reset_attempts":
            out.append("attempts = 0;")
    out.append(f"st = S_{row.next}")
    return out


def _clear_buffer() -> list[str]:
    return [f"buf[{i}] = 0;" for i in range(ClientBounds().buffered)] + ["nbuf = 0;"]
