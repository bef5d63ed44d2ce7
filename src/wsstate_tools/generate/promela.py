"""The model checker's model in Promela, for SPIN: ``spec/generated/connection.pml``.

:func:`render` writes the same system :mod:`wsstate.verify` explores: two
``Peer`` processes (client and server) built from the table, one ``Faults``
process, two bounded channels (``wire[0]`` client to server, ``wire[1]``
server to client) with an end-of-stream marker and a black-hole flag each, the
timers as bit sets, and the application's calls as always-enabled
alternatives (``app_send``/``app_ping`` budgeted). Every transition is one
``d_step``; the table is one inline per event, ``on_<event>(me)``, an ``if``
ladder with one branch per state (per row).

Properties:

* the safety properties are assertions on a flag named after the property
  (``v_no_data_after_close``...), so SPIN's report names the one that broke;
  ``no_deadlock`` and ``clean_handshake`` are state invariants checked after
  every step (``clean_handshake`` in its safety form: a run with no fault, no
  timer and no abort that ends with both peers CLOSED has both clean with one
  code); ``timers_cleared`` is checked at the end of every row that enters a
  terminal state (``timers[me] != 0``); ``ltl safety`` is ``[] !violated``;
* as in the Python checker, a step that breaks a property is not followed:
  every step is guarded by ``!violated``, and ``fail`` raises a flag only when
  none is raised yet (one property per step, the first it breaks). The safety
  search can then run past its first error (``-c0``) and report every
  property the spec breaks, and nothing that only follows another violation;
* ``ltl termination`` is ``(<>[] env_step) -> <> all_closed``: every run that
  from some point on is left to deliveries and timers (no application call,
  no fault) ends with both peers CLOSED. A run that gets stuck is not such a
  run (the application may still act), so, as in the Python checker, stuck
  states belong to ``no_deadlock``. The Python checker's termination is the
  branching "every reachable state *can* end"; the two agree whenever runs of
  deliveries and timers alone are finite or never end, which holds for every
  spec whose timers are not re-armed by their own timeout (SPIN is the
  stricter of the two otherwise).

Run it with ``spin -a connection.pml && gcc -O1 -o pan pan.c && ./pan -a -N safety
-c0 && ./pan -a -N termination`` (``tests/test_spin.py`` does).
"""

from __future__ import annotations

from typing import Final

from ..closecodes import ABNORMAL_CLOSURE, NO_STATUS, is_sendable_code
from ..spec import Row, Spec
from ..verify.machine import WELLFORMED, ambiguous_timers, timer_ops
from ..verify.model import APP_CLOSE_CODE, INVALID_CLOSE_CODE, PROPERTIES, Bounds, opening_states
from .common import header
from .promela_client import render_client
from .promela_link import render_link
from .promela_session import render_session

__all__ = ["COMPOSED", "render", "render_connection", "render_machine", "sendable_ranges"]

_APP_CODES: Final = {"app_close": APP_CLOSE_CODE, "app_close_invalid": INVALID_CLOSE_CODE}
#: Properties with a flag and an assertion in the model (termination is the LTL claim).
_FLAGS: Final = tuple(p for p in PROPERTIES if p != "termination")


def sendable_ranges() -> list[tuple[int, int]]:
    """The sendable close codes as inclusive ranges, from :func:`is_sendable_code`."""
    ranges: list[tuple[int, int]] = []
    start = None
    for code in range(0, 65537):
        ok = code <= 65535 and is_sendable_code(code)
        if ok and start is None:
            start = code
        elif not ok and start is not None:
            ranges.append((start, code - 1))
            start = None
    return ranges


def render(spec: Spec, bounds: Bounds | None = None) -> str:
    """The Promela model of ``spec``: its composition's if it has one, else the machine alone.

    ``bounds`` bound the composition (the machine alone needs none).
    """
    composed = COMPOSED.get(spec.name)
    if composed is None:
        return render_machine(spec)
    return composed(spec, bounds)


def render_connection(spec: Spec, bounds: Bounds | None = None) -> str:
    """The Promela model of two connection peers built from ``spec``, within ``bounds``."""
    b = bounds or Bounds()
    o: list[str] = [header(spec, "//")]
    w = o.append
    w(f"// Two {spec.name} machines (client, server) over a faulty channel; see\n")
    w("// docs/verification.md. The same model as `wsstate verify` (src/wsstate/verify.py).\n")
    w("// Check: spin -a connection.pml && gcc -O1 -o pan pan.c\n")
    w("//        ./pan -a -N safety -c0 && ./pan -a -N termination\n\n")

    w("// Bounds\n")
    w(f"#define SENDS {b.sends}\n#define PINGS {b.pings}\n")
    w(f"#define FAULTS {b.faults}\n#define CAP {b.pipe_capacity}\n\n")

    w("// States\n")
    for i, s in enumerate(spec.states):
        w(f"#define S_{s.name} {i}\n")
    w("\n// Events\n")
    for i, e in enumerate(spec.events):
        w(f"#define E_{e.name} {i}\n")
    w("\n// Timers (bits)\n")
    for i, timer in enumerate(spec.timers):
        w(f"#define T_{timer} {1 << i}\n")
    w("\n// Frames\n#define F_REQ 1\n#define F_RESP 2\n#define F_DATA 3\n#define F_PING 4\n")
    w("#define F_CLOSE 5\n")
    w("\n// End of a direction: open, FIN pending, RST pending, seen (or no longer read)\n")
    w("#define LIVE 0\n#define FIN 1\n#define RST 2\n#define DONE 3\n")
    w("\n// Kind of the last step, for the termination claim\n")
    w("#define K_APP 0\n#define K_ENV 1\n#define K_FAULT 2\n\n")

    ranges = " || ".join(f"((c) >= {lo} && (c) <= {hi})" for lo, hi in sendable_ranges())
    w("// wsstate.closecodes.is_sendable_code\n")
    w(f"#define SENDABLE(c) ({ranges})\n")
    w("#define VALID_CLOSE(c) ((c) == 0 || SENDABLE(c))\n")
    terminal = " || ".join(f"(s) == S_{t}" for t in spec.state_names if t in spec.terminal)
    w(f"#define TERMINAL(s) ({terminal or 'false'})\n")
    w("#define all_closed (TERMINAL(st[0]) && TERMINAL(st[1]))\n")
    w("#define due(d) (!hole[d] && (len(wire[d]) > 0 || wend[d] == FIN || wend[d] == RST))\n")
    w("#define env_enabled (due(0) || due(1) || timers[0] != 0 || timers[1] != 0)\n")
    for event, effect, macro in (
        ("app_send", "transmit", "SEND_TX"),
        ("app_ping", "transmit_ping", "PING_TX"),
    ):
        states = [
            f"(s) == S_{s}"
            for s in spec.state_names
            if event in spec.event_names and effect in spec.row(s, event).effects
        ]
        w(f"#define {macro}(s) ({' || '.join(states) or 'false'})\n")
    w(f"#define violated ({' || '.join(f'v_{p}' for p in _FLAGS)})\n\n")

    w("chan wire[2] = [CAP] of { byte, short };  // wire[i]: what peer i writes\n")
    w("byte wend[2];   // end marker of wire[i]\n")
    w("bool hole[2];   // wire[i] black-holed\n")
    w("byte hs[2];     // handshake frames queued in wire[i]\n")
    w("byte st[2];     // peer 0 client, 1 server\n")
    w("byte timers[2];\nbyte sends[2];\nbyte pings[2];\nbyte closes[2];\n")
    w("short rec[2];   // recorded close code, 0 before\n")
    w("bool clean[2];\n")
    w("byte faults;\n")
    w("short rcvd = -1;  // code of the Close being delivered (0: none), else -1\n")
    w("short tmp;        // scratch (inline arguments cannot be conditional expressions)\n")
    w("byte last = K_APP;\n")
    w("bool pristine = true;  // no fault, no timer, no abort, no close during the handshake\n")
    for p in _FLAGS:
        w(f"bool v_{p};\n")
    w("\n")

    w("// Report a broken property: only the first of a step, as the Python checker does\n")
    w("// (every step is guarded by !violated: a violating step is not followed further).\n")
    w("inline fail(flag) {\n    if\n    :: !violated ->\n        flag = true;\n")
    w("        assert(!flag)\n    :: else -> skip\n    fi\n}\n\n")
    w("inline clear(d) {\n    do\n    :: len(wire[d]) > 0 -> wire[d]?_, _\n")
    w("    :: else -> break\n    od;\n    hs[d] = 0\n}\n\n")
    w("// Put a frame on peer me's direction, checking the wire properties first.\n")
    w("inline emit(me, fk, fc) {\n")
    w("    if\n")
    w("    :: closes[me] > 0 && fk == F_CLOSE -> fail(v_single_close_per_direction)\n")
    w("    :: closes[me] > 0 && fk != F_CLOSE -> fail(v_no_data_after_close)\n")
    w("    :: else -> skip\n    fi;\n")
    w("    if\n    :: fk == F_CLOSE && !VALID_CLOSE(fc) -> fail(v_no_reserved_code_on_wire)\n")
    w("    :: else -> skip\n    fi;\n")
    w("    if\n    :: fk == F_CLOSE -> closes[me]++\n    :: else -> skip\n    fi;\n")
    w("    if\n    :: wend[me] == LIVE && len(wire[me]) >= CAP -> fail(v_channel_bound)\n")
    w("    :: wend[me] == LIVE && len(wire[me]) < CAP -> wire[me]!fk, fc\n")
    w("    :: else -> skip  // the direction has ended: the frame is lost\n    fi\n}\n\n")
    w("inline record(me, code) {\n    if\n    :: rec[me] == 0 -> rec[me] = code\n")
    w("    :: else -> skip\n    fi\n}\n\n")
    w("inline abort(me) {\n    clear(me);\n    if\n    :: wend[me] != DONE -> wend[me] = RST\n")
    w("    :: else -> skip\n    fi;\n    clear(1 - me);\n    wend[1 - me] = DONE\n}\n\n")
    w("// Invariants, checked after every step.\n")
    w("inline invariants() {\n    if\n")
    w("    :: pristine && all_closed && !(clean[0] && clean[1] && rec[0] == rec[1]) ->\n")
    w("        fail(v_clean_handshake)\n    :: else -> skip\n    fi;\n")
    w("    if\n    :: !all_closed && !env_enabled -> fail(v_no_deadlock)\n")
    w("    :: else -> skip\n    fi\n}\n\n")

    w(_render_step(spec))

    w(_render_peer(spec))
    w(_render_faults())
    init_timers = 0
    for effect in spec.initial_effects:
        verb, _, arg = effect.partition(":")
        if verb == "arm" and arg in spec.timers:
            init_timers |= 1 << list(spec.timers).index(arg)
    w("init {\n    d_step {\n")
    for i in (0, 1):
        w(f"        st[{i}] = S_{spec.initial};\n        timers[{i}] = {init_timers};\n")
        w(f"        sends[{i}] = SENDS;\n        pings[{i}] = PINGS;\n")
    w("        faults = FAULTS;\n        wire[0]!F_REQ, 0;\n        hs[0] = 1\n    };\n")
    w("    atomic {\n        run Peer(0);\n        run Peer(1);\n")
    w("        run Faults()\n    }\n}\n\n")

    w("ltl safety { [] !violated }\n")
    w("ltl termination { (<>[] (last == K_ENV)) -> <> all_closed }\n")
    return "".join(o)


def _render_step(spec: Spec) -> str:
    # One inline per event, each an if ladder over the states: a d_step holds only the
    # rows it can reach (SPIN bounds the size of a d_step).
    o = ["// The table, one inline per event: feed the event to peer me, perform its row.\n"]
    for e in spec.events:
        o.append(f"inline on_{e.name}(me) {{\n    if\n")
        for s in spec.states:
            row = spec.row(s.name, e.name)
            body = _row_body(spec, row)
            o.append(f"    :: st[me] == S_{s.name} ->  // line {row.line}\n")
            o.extend(
                f"        {stmt}{';' if i < len(body) - 1 else ''}\n" for i, stmt in enumerate(body)
            )
        o.append("    fi\n}\n\n")
    return "".join(o)


def _row_body(spec: Spec, row: Row) -> list[str]:
    if row.impossible or row.next is None:
        return ["fail(v_impossible_event)"]
    out: list[str] = []
    if row.state in spec.terminal and row.next != row.state:
        out.append("fail(v_terminal_left)")
    emit_code = None
    if "emit_close_frame" in row.effects:
        emit_code = row.code if row.code is not None else _APP_CODES.get(row.event, 0)
    if emit_code is not None:
        local = str(emit_code or NO_STATUS)
    elif "echo_close_frame" in row.effects:
        local = f"(rcvd > 0 -> rcvd : {NO_STATUS})"
    else:
        local = str(_APP_CODES.get(row.event, ABNORMAL_CLOSURE))
    for effect in row.effects:
        verb, _, arg = effect.partition(":")
        if verb == "arm" and arg in spec.timers:
            out.append(f"timers[me] = timers[me] | T_{arg}")
        elif verb == "cancel" and arg in spec.timers:
            out.append(f"timers[me] = timers[me] & ~T_{arg}")
        elif effect == "transmit":
            if row.event == "app_send":
                out.append("sends[me]--")
            out.append("emit(me, F_DATA, 0)")
        elif effect == "transmit_ping":
            if row.event == "app_ping":
                out.append("pings[me]--")
            out.append("emit(me, F_PING, 0)")
        elif effect == "emit_close_frame":
            out.append(f"emit(me, F_CLOSE, {emit_code})")
        elif effect == "echo_close_frame":
            out.append("tmp = (rcvd > 0 -> rcvd : 0)")
            out.append("emit(me, F_CLOSE, tmp)")
            out.append("tmp = 0")
        elif effect == "close_transport":
            out.append("if :: wend[me] == LIVE -> wend[me] = FIN :: else -> skip fi")
        elif effect == "abort_transport":
            out.append("abort(me)")
        elif effect == "mark_clean":
            out.append("clean[me] = true")
        elif effect == "record_close:local":
            out.append(f"tmp = {local}")
            out.append("record(me, tmp)")
            out.append("tmp = 0")
        elif effect == "record_close:remote":
            out.append(
                f"tmp = (rcvd > 0 -> rcvd : (rcvd == 0 -> {NO_STATUS} : {ABNORMAL_CLOSURE}))"
            )
            out.append("record(me, tmp)")
            out.append("tmp = 0")
        elif effect == "record_close:transport":
            out.append(f"record(me, {ABNORMAL_CLOSURE})")
        elif effect == "record_close:timeout":
            code = row.code if row.code is not None else ABNORMAL_CLOSURE
            out.append(f"record(me, {code})")
    if row.state not in spec.terminal and row.next in spec.terminal:
        # timers_cleared: the row entering the terminal state cancelled every timer armed.
        out.append("if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi")
    out.append(f"st[me] = S_{row.next}")
    return out


def _render_peer(spec: Spec) -> str:
    o = ["// One peer: its application's calls, what it reads, its timers, a slow reader.\n"]
    o.append("proctype Peer(byte me) {\n    byte k;\n    short c;\nend:\n    do\n")
    for e in spec.events:
        if e.kind != "local":
            continue
        guard = "!violated"
        if e.name == "app_send":
            guard = "!violated && (sends[me] > 0 || !SEND_TX(st[me]))"
        elif e.name == "app_ping":
            guard = "!violated && (pings[me] > 0 || !PING_TX(st[me]))"
        o.append(f"    :: d_step {{ {guard} ->\n        last = K_APP;\n")
        if e.name == "app_abort":
            o.append("        pristine = false;\n")
        elif e.name == "app_close":
            # Closing before the opening handshake completed is not a clean run.
            opening = opening_states(spec)
            during = " || ".join(f"st[me] == S_{s}" for s in spec.state_names if s in opening)
            if len(opening) > 1:
                during = f"({during})"
            o.append(f"        if :: {during} -> pristine = false :: else -> skip fi;\n")
        o.append(f"        on_{e.name}(me);\n        invariants()\n    }}\n")
    # Deliveries into me: the head frame of wire[1 - me], then its end marker.
    o.append("    :: d_step { !violated && !hole[1 - me] && len(wire[1 - me]) > 0 ->\n")
    o.append("        last = K_ENV;\n        wire[1 - me]?k, c;\n        if\n")
    o.append("        :: k == F_REQ ->\n            hs[1 - me] = 0;\n")
    o.append("            // the server accepting the handshake writes the 101 response first\n")
    o.append("            if\n            :: wend[me] == LIVE && len(wire[me]) >= CAP -> ")
    o.append("fail(v_channel_bound)\n")
    o.append("            :: wend[me] == LIVE && len(wire[me]) < CAP -> wire[me]!F_RESP, 0; ")
    o.append("hs[me] = 1\n")
    o.append("            :: else -> skip\n            fi;\n")
    o.append("            on_handshake_ok(me)\n")
    o.append("        :: k == F_RESP -> hs[1 - me] = 0; on_handshake_ok(me)\n")
    o.append("        :: k == F_DATA -> on_peer_data(me)\n")
    o.append("        :: k == F_PING -> skip  // answered below the machine\n")
    o.append("        :: k == F_CLOSE && VALID_CLOSE(c) -> rcvd = c; on_peer_close(me)\n")
    o.append("        :: k == F_CLOSE && !VALID_CLOSE(c) -> rcvd = c; on_peer_close_invalid(me)\n")
    o.append(
        "        fi;\n        k = 0;\n        c = 0;\n        rcvd = -1;\n        invariants()\n"
    )
    o.append("    }\n")
    o.append(
        "    :: d_step { !violated && !hole[1 - me] && len(wire[1 - me]) == 0 && "
        "(wend[1 - me] == FIN || wend[1 - me] == RST) ->\n"
    )
    o.append("        last = K_ENV;\n        if\n")
    o.append("        :: wend[1 - me] == FIN -> wend[1 - me] = DONE; on_transport_eof(me)\n")
    o.append("        :: else -> wend[1 - me] = DONE; on_transport_error(me)\n")
    o.append("        fi;\n        invariants()\n    }\n")
    for timer, event in spec.timers.items():
        o.append(f"    :: d_step {{ !violated && (timers[me] & T_{timer}) != 0 ->\n")
        o.append("        last = K_ENV;\n        pristine = false;\n")
        o.append(f"        timers[me] = timers[me] & ~T_{timer};\n")
        o.append(f"        on_{event}(me);\n        invariants()\n    }}\n")
    o.append(
        "    :: d_step { !violated && (faults > 0 || hole[me]) "
        "&& (wend[me] == LIVE || wend[me] == FIN) && len(wire[me]) > hs[me] ->\n"
    )
    o.append("        last = K_FAULT;\n        pristine = false;\n")
    o.append("        if :: !hole[me] -> faults-- :: else -> skip fi;\n")
    o.append("        on_transport_stalled(me);\n        invariants()\n    }\n")
    o.append("    od\n}\n\n")
    return "".join(o)


def _render_faults() -> str:
    o = ["// Faults: at most FAULTS of them, at any point.\n"]
    o.append("proctype Faults() {\n    byte k;\n    short c;\nend:\n    do\n")
    o.append(
        "    :: d_step { !violated && faults > 0 "
        "&& (wend[0] == LIVE || wend[0] == FIN || wend[1] == LIVE || wend[1] == FIN) ->\n"
    )
    o.append("        // TCP reset: frames in flight are lost, both peers see transport_error\n")
    o.append("        last = K_FAULT;\n        pristine = false;\n        faults--;\n")
    o.append("        clear(0);\n        clear(1);\n")
    o.append("        if :: wend[0] != DONE -> wend[0] = RST :: else -> skip fi;\n")
    o.append("        if :: wend[1] != DONE -> wend[1] = RST :: else -> skip fi;\n")
    o.append("        invariants()\n    }\n")
    for d in (0, 1):
        o.append(f"    :: d_step {{ !violated && faults > 0 && wend[{d}] == LIVE ->\n")
        o.append(f"        // FIN without a Close on wire[{d}]\n")
        o.append("        last = K_FAULT;\n        pristine = false;\n        faults--;\n")
        o.append(f"        wend[{d}] = FIN;\n        invariants()\n    }}\n")
    for d in (0, 1):
        o.append(
            f"    :: d_step {{ !violated && faults > 0 && !hole[{d}] && wend[{d}] != DONE ->\n"
        )
        o.append(f"        // black hole: wire[{d}] silently stops delivering\n")
        o.append("        last = K_FAULT;\n        pristine = false;\n        faults--;\n")
        o.append(f"        hole[{d}] = true;\n        invariants()\n    }}\n")
    o.append(
        "    :: d_step { !violated && faults > 0 && !hole[0] && !hole[1] && wend[0] != DONE "
        "&& wend[1] != DONE ->\n"
    )
    o.append("        // black hole both ways\n")
    o.append("        last = K_FAULT;\n        pristine = false;\n        faults--;\n")
    o.append("        hole[0] = true;\n        hole[1] = true;\n        invariants()\n    }\n")
    for d in (0, 1):
        r = 1 - d
        o.append(
            f"    :: d_step {{ !violated && faults > 0 && !hole[{d}] && len(wire[{d}]) > 0 ->\n"
        )
        o.append(f"        // the frame at the head of wire[{d}] arrives corrupted\n")
        o.append("        last = K_FAULT;\n        pristine = false;\n        faults--;\n")
        o.append(f"        wire[{d}]?k, c;\n        if\n")
        o.append(f"        :: k == F_REQ || k == F_RESP -> hs[{d}] = 0; on_handshake_fail({r})\n")
        o.append(f"        :: k == F_DATA || k == F_PING -> on_peer_protocol_error({r})\n")
        o.append(f"        :: k == F_CLOSE -> rcvd = c; on_peer_close_invalid({r})\n")
        o.append("        fi;\n        k = 0;\n        c = 0;\n        rcvd = -1;\n")
        o.append("        invariants()\n    }\n")
    o.append("    :: faults == 0 -> break\n    od\n}\n\n")
    return "".join(o)


#: Machines whose Promela model is a composition (the same names as
#: ``wsstate_tools.verify.compositions.COMPOSITIONS``): name -> renderer.
COMPOSED: Final = {
    "connection": render_connection,
    "client": render_client,
    "session": render_session,
    "link": render_link,
}

#: The machine alone: properties with a flag and an assertion (all of them).
_MACHINE_FLAGS: Final = tuple(WELLFORMED)


def render_machine(spec: Spec) -> str:
    """The Promela model of ``spec`` alone: one process feeding it any event that can occur.

    The same model as :class:`wsstate_tools.verify.machine.MachineModel`: a local
    event at any time, a timer's event when the timer is armed (disarmed first),
    any other event where its row is possible. The table is data (arrays filled
    by ``init``): ``nxt`` (next state, ``NONE`` when impossible) and the timer
    masks ``tclr``/``tarm`` of row ``s * NE + e``. Every property of
    :data:`~wsstate_tools.verify.machine.WELLFORMED` is a flag and an assertion:
    the safety ones are checked in every step; ``termination`` (from every
    reachable configuration some run reaches a terminal state) is a branching
    property LTL cannot state, so ``init`` computes the configurations that can
    reach a terminal state (a least fixpoint over the same arrays, ``ok``) and
    every step asserts the configuration it reaches is one of them.
    """
    states = spec.state_names
    events = spec.event_names
    timers = list(spec.timers)
    ns, ne, nt = len(states), len(events), len(timers)
    nt2 = 1 << nt
    word = "byte" if nt <= 8 else "int"
    o: list[str] = [header(spec, "//")]
    w = o.append
    w(f"// The {spec.name} machine alone: one process feeds it every event that can occur;\n")
    w("// see docs/verification.md. The same model as `wsstate verify " + spec.name + "`\n")
    w("// (src/wsstate_tools/verify/machine.py).\n")
    w(f"// Check: spin -a {spec.name}.pml && gcc -O1 -o pan pan.c && ./pan -a -N safety -c0\n\n")

    w("// States\n")
    for i, s in enumerate(states):
        w(f"#define S_{s} {i}\n")
    w(f"#define NS {ns}\n\n// Events\n")
    for i, e in enumerate(events):
        w(f"#define E_{e} {i}\n")
    w(f"#define NE {ne}\n\n// Timers (bits)\n")
    for i, t in enumerate(timers):
        w(f"#define T_{t} {1 << i}\n")
    w(f"#define NT {nt}\n#define NT2 {nt2}  // timer sets\n")
    w(f"#define NC {ns * nt2}  // configurations: state * NT2 + timers\n")
    w("#define NONE 255  // nxt[r] of an impossible row\n\n")

    local = [e.name for e in spec.events if e.kind == "local"]
    timed = set(spec.timers.values())
    free = [
        e.name
        for e in spec.events
        if e.kind != "local" and not (e.kind == "timer" and e.name in timed)
    ]
    w("// Events fed at any time (local), and where their row is possible (the others no\n")
    w("// timer fires)\n")
    w(f"#define LOCAL(e) ({' || '.join(f'(e) == E_{e}' for e in local) or 'false'})\n")
    w(f"#define FREE(e) ({' || '.join(f'(e) == E_{e}' for e in free) or 'false'})\n")
    pairs: list[str] = []
    for mask in ambiguous_timers(spec).values():
        bits = [1 << i for i in range(nt) if mask & 1 << i]
        pairs.extend(
            f"(((t) & {a}) != 0 && ((t) & {b}) != 0)"
            for n, a in enumerate(bits)
            for b in bits[n + 1 :]
        )
    w("// Two armed timers that fire the same event\n")
    w(f"#define AMBIGUOUS(t) ({' || '.join(pairs) or 'false'})\n")
    w(f"#define violated ({' || '.join(f'v_{p}' for p in _MACHINE_FLAGS)})\n\n")

    w("byte nxt[NS * NE];   // row s * NE + e: the next state, NONE when impossible\n")
    w(f"{word} tclr[NS * NE];  // timers the row's effects cancel\n")
    w(f"{word} tarm[NS * NE];  // timers the row's effects arm (the last effect on a timer wins)\n")
    w("bool term[NS];       // terminal states\n")
    if nt:
        w("byte tev[NT];        // the event each timer fires\n")
    w("bool ok[NC];         // the configuration can reach a terminal state\n")
    w(f"byte st;\n{word} timers;\n")
    w(f"int r;     // scratch: a row\n{word} tmp;  // scratch: timers after a row\n")
    for p in _MACHINE_FLAGS:
        w(f"bool v_{p};\n")
    w("\n")

    w("// Report a broken property: only the first of a step, as the Python checker does\n")
    w("// (every step is guarded by !violated: a violating step is not followed further).\n")
    w("inline fail(flag) {\n    if\n    :: !violated ->\n        flag = true;\n")
    w("        assert(!flag)\n    :: else -> skip\n    fi\n}\n\n")

    w("inline invariants() {\n    if\n")
    w("    :: !ok[st * NT2 + timers] -> fail(v_termination)\n")
    w("    :: else -> skip\n    fi\n}\n\n")

    w("// Feed event e (timer bit fired, 0 for none, already run out) and perform its row.\n")
    w("inline step(e, fired) {\n    r = st * NE + e;\n    if\n")
    w("    :: nxt[r] == NONE -> fail(v_impossible_event)\n    :: else ->\n")
    w("        if\n        :: term[st] && nxt[r] != st -> fail(v_terminal_left)\n")
    w("        :: else -> skip\n        fi;\n")
    w("        tmp = ((timers & ~(fired)) & ~tclr[r]) | tarm[r];\n")
    w("        if\n        :: !term[st] && term[nxt[r]] && tmp != 0 -> fail(v_timers_cleared)\n")
    w("        :: else -> skip\n        fi;\n")
    w("        if\n        :: AMBIGUOUS(tmp) -> fail(v_deterministic)\n")
    w("        :: else -> skip\n        fi;\n")
    w("        if\n        :: !violated -> st = nxt[r]; timers = tmp\n")
    w("        :: else -> skip\n        fi\n    fi;\n")
    w("    r = 0;\n    tmp = 0;\n    invariants()\n}\n\n")

    w("// Configuration c can reach a terminal state through an edge (s, t, e, fired)? A\n")
    w("// violating edge is cut: it counts as an end, as in the Python checker.\n")
    w("inline edge(s, t, e, fired) {\n    r = s * NE + e;\n    if\n")
    w("    :: nxt[r] == NONE -> ok[c] = true\n    :: else ->\n")
    w("        nt = ((t & ~(fired)) & ~tclr[r]) | tarm[r];\n")
    w("        if\n")
    w("        :: term[s] && nxt[r] != s -> ok[c] = true\n")
    w("        :: else -> if\n")
    w("            :: !term[s] && term[nxt[r]] && nt != 0 -> ok[c] = true\n")
    w("            :: else -> if\n")
    w("                :: AMBIGUOUS(nt) -> ok[c] = true\n")
    w("                :: else -> if\n")
    w("                    :: ok[nxt[r] * NT2 + nt] -> ok[c] = true\n")
    w("                    :: else -> skip\n")
    w("                    fi\n                fi\n            fi\n        fi\n    fi;\n")
    w("    r = 0\n}\n\n")

    w("// ok: the least fixpoint of 'terminal, or an edge to an ok configuration'.\n")
    w("inline fixpoint() {\n    c = 0;\n    do\n    :: c < NC -> ok[c] = term[c / NT2]; c++\n")
    w("    :: else -> break\n    od;\n    changed = true;\n    do\n    :: changed ->\n")
    w("        changed = false;\n        c = 0;\n        do\n        :: c < NC ->\n")
    w("            if\n            :: !ok[c] ->\n")
    w("                s = c / NT2;\n                t = c % NT2;\n                e = 0;\n")
    w("                do\n                :: e < NE ->\n                    if\n")
    w("                    :: LOCAL(e) || (FREE(e) && nxt[s * NE + e] != NONE) -> ")
    w("edge(s, t, e, 0)\n")
    w("                    :: else -> skip\n                    fi;\n                    e++\n")
    w("                :: else -> break\n                od;\n")
    if nt:
        w("                k = 0;\n                do\n                :: k < NT ->\n")
        w("                    if\n                    :: (t & (1 << k)) != 0 -> ")
        w("edge(s, t, tev[k], 1 << k)\n")
        w("                    :: else -> skip\n                    fi;\n                    k++\n")
        w("                :: else -> break\n                od;\n")
    w("                if\n                :: ok[c] -> changed = true\n")
    w("                :: else -> skip\n                fi\n")
    w("            :: else -> skip\n            fi;\n            c++\n")
    w("        :: else -> break\n        od\n    :: else -> break\n    od\n}\n\n")

    w("proctype Machine() {\nend:\n    do\n")
    for e in local:
        w(f"    :: d_step {{ !violated -> step(E_{e}, 0) }}\n")
    for e in free:
        w(f"    :: d_step {{ !violated && nxt[st * NE + E_{e}] != NONE -> step(E_{e}, 0) }}\n")
    for t, e in spec.timers.items():
        w(f"    :: d_step {{ !violated && (timers & T_{t}) != 0 -> step(E_{e}, T_{t}) }}\n")
    w("    od\n}\n\n")

    init_clear, init_arm = timer_ops(spec, spec.initial_effects)
    w(f"init {{\n    int c, s, t, e, k;\n    {word} nt;\n    bool changed;\n    d_step {{\n")
    w("        // the table\n")
    for row in spec.iter_rows():
        i = states.index(row.state) * ne + events.index(row.event)
        nxt = "NONE" if row.impossible or row.next is None else f"S_{row.next}"
        clear, arm = timer_ops(spec, row.effects)
        stmts = [f"nxt[{i}] = {nxt}"]
        if clear:
            stmts.append(f"tclr[{i}] = {clear}")
        if arm:
            stmts.append(f"tarm[{i}] = {arm}")
        w(f"        {'; '.join(stmts)};  // {row.state}/{row.event}, line {row.line}\n")
    for s in states:
        if s in spec.terminal:
            w(f"        term[S_{s}] = true;\n")
    for i, e in enumerate(spec.timers.values()):
        w(f"        tev[{i}] = E_{e};\n")
    w("        fixpoint();\n        c = 0; s = 0; t = 0; e = 0; k = 0; nt = 0; changed = false;\n")
    w(f"        st = S_{spec.initial};\n        timers = {init_arm & ~init_clear};\n")
    w("        if\n        :: AMBIGUOUS(timers) -> fail(v_deterministic)\n")
    w("        :: else -> skip\n        fi;\n        invariants()\n    };\n")
    w("    run Machine()\n}\n\n")
    w("ltl safety { [] !violated }\n")
    return "".join(o)
