"""The link composition in Promela, for SPIN: ``spec/generated/link.pml``.

The same system as :class:`wsstate_tools.verify.link.LinkModel`: one ``Link``
process whose every alternative is one ``d_step``: an application call
(start, close, a broadcast), the remote publisher P publishing its next
number, the broker acknowledging one of A's publishes (its echo comes back),
A's listener reading the next message (classified as the runtime does), an
attempt ending, the broker coming back, the backoff timer running out, and the
broker's faults (drop the link, restart, lose or double a message). The table
is one inline per event, ``on_<event>()``, an ``if`` with one branch per
state; each effect is the statement the Python model performs, in the row's
order.

Every property of :data:`~wsstate_tools.verify.link.LINK_PROPERTIES` is a flag
``v_<property>`` and an assertion (``fail``: only the first of a step is
raised, and every step is guarded by ``!violated``, so a violating step is not
followed, as in the Python checker); ``no_dead_listener`` is an invariant
checked after every step. ``ltl safety`` is ``[] !violated``.

Run it with ``spin -a link.pml && gcc -O1 -o pan pan.c && ./pan -a -N safety -c0``
(``tests/test_link_model.py`` does, for the shipped spec and every mutant in
``tests/fixtures/mutants/link``).
"""

from __future__ import annotations

from ..spec import Row, Spec
from ..verify.link import LINK_PROPERTIES, RESTING, LinkBounds
from .common import header

__all__ = ["render_link"]


def render_link(spec: Spec, bounds: object = None) -> str:
    """The Promela model of the link composition built from ``spec``.

    ``bounds`` is accepted for the renderer table's signature and ignored: the
    link composition has bounds of its own (:class:`LinkBounds` defaults).
    """
    b = LinkBounds()
    o: list[str] = [header(spec, "//")]
    w = o.append
    w("// A process' link to a broker that drops it, restarts, loses and doubles messages,\n")
    w("// a remote publisher and the backoff timer; see docs/verification.md. The same model\n")
    w("// as `wsstate verify link` (src/wsstate_tools/verify/link.py).\n")
    w("// Check: spin -a link.pml && gcc -O1 -o pan pan.c && ./pan -a -N safety -c0\n\n")
    w(f"#define MSGS {b.messages}\n#define BCASTS {b.broadcasts}\n")
    w(f"#define FAULTS {b.faults}\n#define CAP {b.capacity}\n#define OWN 0\n\n")
    for i, s in enumerate(spec.states):
        w(f"#define S_{s.name} {i}\n")
    w("\n")
    for i, t in enumerate(spec.timers):
        w(f"#define T_{t} {1 << i}\n")
    flags = list(LINK_PROPERTIES)
    w(f"#define violated ({' || '.join(f'v_{p}' for p in flags)})\n")
    resting = " && ".join(f"st != S_{s}" for s in spec.state_names if s in RESTING) or "true"
    w(f"#define STUCK ({resting} && !pending && !live && timers == 0)\n\n")
    w("byte st;\nbyte timers;\nbool pending;\nbool live;\nbool up;\nbyte faults;\n")
    w("byte inflight;  // A's publishes not yet acknowledged\n")
    w("byte sent;      // A's broadcasts so far\nbyte published; // P's numbers so far\n")
    w("byte wire[CAP]; // to A's listener: P's numbers, OWN for A's own echo\nbyte nwire;\n")
    w("byte last;      // the last number of P that A recorded\n")
    w("byte msg;       // the message being read, OWN between steps\n")
    w("byte nlocal;    // deliver_local effects of this step\n")
    w("byte nremote;   // publish and count_lost effects of this step\n")
    w("byte delivered; // ghost: bit set of P's numbers delivered to A's members\n")
    w("byte reported;  // ghost: bit set of P's numbers reported missed\n")
    w("bool gap;       // ghost: a backoff delay ran out since the last attempt\n")
    for p in flags:
        w(f"bool v_{p};\n")
    w("\ninline fail(flag) {\n    if\n    :: !violated ->\n        flag = true;\n")
    w("        assert(!flag)\n    :: else -> skip\n    fi\n}\n\n")
    w("inline invariants() {\n    if\n    :: STUCK -> fail(v_no_dead_listener)\n")
    w("    :: else -> skip\n    fi\n}\n\n")
    w("inline clear_wire() {\n")
    w("".join(f"    wire[{i}] = 0;\n" for i in range(b.capacity)))
    w("    nwire = 0\n}\n\n")
    w("inline pop_wire() {\n")
    w("".join(f"    wire[{i}] = wire[{i + 1}];\n" for i in range(b.capacity - 1)))
    w(f"    wire[{b.capacity - 1}] = 0;\n    nwire--\n}}\n\n")
    for e in spec.events:
        w(f"inline on_{e.name}() {{\n    nlocal = 0; nremote = 0;\n    if\n")
        for name in spec.state_names:
            row = spec.row(name, e.name)
            body = _row_body(spec, row)
            w(f"    :: st == S_{name} ->  // line {row.line}\n")
            w("".join(f"        {line}\n" for line in body))
        w("    fi\n}\n\n")

    w("proctype Link() {\nend:\n    do\n")
    w("    :: d_step { !violated -> on_start(); invariants() }\n")
    w("    :: d_step { !violated -> on_app_close(); invariants() }\n")
    w("    :: d_step { !violated && sent < BCASTS -> sent++; on_app_broadcast(); invariants() }\n")
    w("    :: d_step { !violated && published < MSGS && (nwire < CAP || !live) -> published++;\n")
    w("        if :: live -> wire[nwire] = published; nwire++ :: else -> skip fi }\n")
    w("    :: d_step { !violated && inflight > 0 && live && nwire < CAP -> inflight--;\n")
    w("        wire[nwire] = OWN; nwire++ }\n")
    w("    :: d_step { !violated && live && nwire > 0 -> msg = wire[0]; pop_wire();\n")
    w("        if\n        :: msg == OWN -> on_own_message()\n")
    w("        :: msg != OWN && msg == last + 1 -> on_peer_message()\n")
    w("        :: msg != OWN && msg > last + 1 -> on_peer_message_gap()\n")
    w("        :: msg != OWN && msg <= last -> on_peer_message_stale()\n")
    w("        fi;\n        msg = OWN; invariants() }\n")
    w("    :: d_step { !violated && pending && up -> pending = false; live = true; ")
    w("on_subscribed(); invariants() }\n")
    w("    :: d_step { !violated && pending && up -> pending = false; on_attempt_refused(); ")
    w("invariants() }\n")
    w("    :: d_step { !violated && pending -> pending = false; on_attempt_failed(); ")
    w("invariants() }\n")
    w("    :: d_step { !violated && !up -> up = true }\n")
    for timer, event in spec.timers.items():
        w(f"    :: d_step {{ !violated && (timers & T_{timer}) != 0 -> ")
        w(f"timers = timers & ~T_{timer}; gap = true; on_{event}(); invariants() }}\n")
    w("    :: d_step { !violated && faults < FAULTS && live -> faults++; live = false; ")
    w("clear_wire(); on_link_lost(); invariants() }\n")
    w("    :: d_step { !violated && faults < FAULTS && up && live -> faults++; up = false; ")
    w("live = false; clear_wire(); on_link_lost(); invariants() }\n")
    w("    :: d_step { !violated && faults < FAULTS && up && !live -> faults++; up = false }\n")
    w("    :: d_step { !violated && faults < FAULTS && nwire > 0 && wire[0] != OWN -> ")
    w("faults++; pop_wire() }\n")
    w("    :: d_step { !violated && faults < FAULTS && nwire > 0 && nwire < CAP && ")
    w("wire[0] != OWN -> faults++;\n")
    w("".join(f"        wire[{i}] = wire[{i - 1}];\n" for i in range(b.capacity - 1, 0, -1)))
    w("        nwire++ }\n")
    w("    od\n}\n\n")
    w(f"init {{\n    d_step {{ st = S_{spec.initial}; up = true; gap = true }};\n")
    w("    run Link()\n}\n\n")
    w("ltl safety { [] !violated }\n")
    return "".join(o)


def _row_body(spec: Spec, row: Row) -> list[str]:
    if row.impossible or row.next is None:
        return ["fail(v_impossible_event)"]
    if row.state in spec.terminal and row.next != row.state:
        return ["fail(v_closed_absorbing)"]
    out: list[str] = []
    for effect in row.effects:
        verb, _, arg = effect.partition(":")
        if verb == "arm" and arg in spec.timers:
            out.append(f"timers = timers | T_{arg};")
        elif verb == "cancel" and arg in spec.timers:
            out.append(f"timers = timers & ~T_{arg};")
        elif effect == "attempt":
            out.append("if :: pending || live -> fail(v_single_link) :: else -> skip fi;")
            out.append("if :: !gap -> fail(v_backoff_between_attempts) :: else -> skip fi;")
            out.append("pending = true; gap = false;")
        elif effect == "cancel_attempt":
            out.append("pending = false;")
        elif effect == "drop_link":
            out.append("live = false; clear_wire(); inflight = 0;")
        elif effect == "deliver_local":
            out.append("nlocal++;")
        elif effect == "publish":
            if row.state != "CONNECTED":
                out.append("fail(v_publish_only_connected);")
            out.append("inflight++; nremote++;")
        elif effect == "count_lost":
            out.append("nremote++;")
        elif effect == "report_gap":
            out.append(
                "if :: msg > last + 1 -> reported = reported | ((1 << msg) - (1 << (last + 1))) "
                ":: else -> skip fi;"
            )
        elif effect == "deliver_remote":
            out.append("if :: msg == OWN -> fail(v_local_delivered_once) :: else -> skip fi;")
            out.append(
                "if :: (delivered & (1 << msg)) != 0 -> fail(v_delivered_at_most_once) "
                ":: else -> skip fi;"
            )
            out.append(
                "if :: ((delivered | reported) & ((1 << msg) - 2)) != ((1 << msg) - 2) -> "
                "fail(v_gap_always_reported) :: else -> skip fi;"
            )
            out.append("delivered = delivered | (1 << msg); last = msg;")
    if row.event == "app_broadcast":
        out.append("if :: nlocal != 1 -> fail(v_local_delivery_always) :: else -> skip fi;")
        out.append("if :: nremote != 1 -> fail(v_remote_accounted) :: else -> skip fi;")
    if row.next != "CONNECTED":
        out.append("if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;")
    if row.next in spec.terminal:
        out.append("if :: pending -> fail(v_link_released) :: else -> skip fi;")
    out.append(f"st = S_{row.next}")
    return out
