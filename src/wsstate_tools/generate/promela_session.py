"""The session composition in Promela, for SPIN: ``spec/generated/session.pml``.

:func:`render_session` writes the system :mod:`wsstate_tools.verify.session`
explores: the session machine and ``G`` connection generations, one process
whose every step is one ``d_step``: the application (``app_send`` budgeted,
``app_close`` once, the next generation's attach, fresh or with its
``last_seen``, classified ``attach_resume`` or ``attach_gap`` against the
history; a generation's beacon, classified ``page_close`` or
``page_close_stale``) and the environment (an open connection fails, a closed
one's closure is fed as ``detach`` or ``detach_stale``, the grace timer fires).
The table is data filled by ``init``: ``nxt`` (next state, ``NONE`` when
impossible) and the row's effects in order (``eff``, ``neff``), interpreted by
``feed`` exactly as the Python model performs them.

Properties: each safety property of
:data:`~wsstate_tools.verify.session.SESSION_PROPERTIES` is a flag and an
assertion (``fail`` raises only the first of a step, and every step is guarded
by ``!violated``, as in the Python checker). ``abandoned_expires`` is the
branching "the environment alone can end the session" in the Python checker;
here it is two checks that together agree with it on runs of the environment
alone, which are finite unless a timer re-arms itself: the invariant that a
session with no connection open or closing and no grace timer armed has ended
(else nothing can ever end it), and ``ltl abandoned_expires``: a run left to the
environment from some point on ends the session.

Run it with ``spin -a session.pml && gcc -O1 -o pan pan.c && ./pan -a -N safety
-c0 && ./pan -a -N abandoned_expires`` (``tests/test_session_verify.py`` does).
"""

from __future__ import annotations

from typing import Final

from ..spec import Spec
from ..verify.session import SESSION_PROPERTIES, SessionBounds
from .common import header

__all__ = ["EFFECT_CODES", "render_session"]

#: Effects the model interprets, by the code ``eff`` holds (0: nothing to model).
EFFECT_CODES: Final = {
    "adopt": 1,
    "supersede": 2,
    "close_connection": 2,
    "refuse": 3,
    "replay": 4,
    "transmit": 5,
    "hold": 6,
    "expire": 7,
}
_ARM: Final = 8
_CANCEL: Final = 9
_FLAGS: Final = tuple(SESSION_PROPERTIES)


def _code(spec: Spec, effect: str) -> int:
    verb, _, arg = effect.partition(":")
    if arg in spec.timers:
        return {"arm": _ARM, "cancel": _CANCEL}.get(verb, 0)
    return EFFECT_CODES.get(effect, 0)


def render_session(spec: Spec, bounds: object = None) -> str:
    """The Promela model of the session composition built from ``spec``."""
    b = bounds if isinstance(bounds, SessionBounds) else SessionBounds()
    states = spec.state_names
    events = spec.event_names
    ns, ne = len(states), len(events)
    maxe = max((len(r.effects) for r in spec.rows.values()), default=1) or 1
    o: list[str] = [header(spec, "//")]
    w = o.append
    w(f"// The {spec.name} machine and {b.generations} connection generations; see\n")
    w("// docs/sessions.md. The same model as `wsstate verify session`\n")
    w("// (src/wsstate_tools/verify/session.py).\n")
    w(f"// Check: spin -a {spec.name}.pml && gcc -O1 -o pan pan.c\n")
    w("//        ./pan -a -N safety -c0 && ./pan -a -N abandoned_expires\n\n")
    w(f"#define SENDS {b.sends}\n#define HISTORY {b.history}\n#define G {b.generations}\n\n")
    w("// States\n")
    for i, s in enumerate(states):
        w(f"#define S_{s} {i}\n")
    w(f"#define NS {ns}\n\n// Events\n")
    for i, e in enumerate(events):
        w(f"#define E_{e} {i}\n")
    w(f"#define NE {ne}\n#define MAXE {maxe}  // effects per row, at most\n")
    w("#define NONE 255  // nxt[r] of an impossible row\n\n")
    w("// Effects the model interprets (0: nothing to model)\n")
    w("#define X_ADOPT 1\n#define X_CLOSE 2  // supersede, close_connection\n")
    w("#define X_REFUSE 3\n#define X_REPLAY 4\n#define X_TRANSMIT 5\n#define X_HOLD 6\n")
    w(f"#define X_EXPIRE 7\n#define X_ARM {_ARM}\n#define X_CANCEL {_CANCEL}\n\n")
    w("// Phases of a generation's connection\n")
    w("#define P_NONE 0\n#define P_OPEN 1\n#define P_DEAD 2\n#define P_GONE 3\n\n")
    w("#define K_APP 0\n#define K_ENV 1\n\n")
    terminal = " || ".join(f"(s) == S_{t}" for t in states if t in spec.terminal)
    w(f"#define TERMINAL(s) ({terminal or 'false'})\n")
    w(f"#define violated ({' || '.join(f'v_{p}' for p in _FLAGS)})\n")
    w("#define ended (TERMINAL(st) || cur == 0 || violated)\n\n")

    w("byte nxt[NS * NE];\nbyte neff[NS * NE];\nbyte eff[NS * NE * MAXE];\n")
    w("byte st;\nbool grace;\nbyte cur;       // current generation, 1-based; 0 before any\n")
    w("byte phase[G];\nbyte last[G];   // last message number received (last_seen at attach)\n")
    w("bool strict[G]; // resumed: messages continue from last with no hole\n")
    w("byte sent;\nbyte expired;\nbyte beacons;  // bit set of generations that sent one\n")
    w("bool closed_by_app;\nbool due;       // an expiry is due (grace, current beacon, close)\n")
    w("byte kind = K_APP;\n")
    w("byte r;\nbyte k;\nbyte x;\nbyte m;\nbyte nw;\nbyte ost;\nbool ogr;\nbyte ocur;\n")
    w("byte seen;\nbyte g;\n")
    for p in _FLAGS:
        w(f"bool v_{p};\n")
    w("\n")

    w("inline fail(flag) {\n    if\n    :: !violated ->\n        flag = true;\n")
    w("        assert(!flag)\n    :: else -> skip\n    fi\n}\n\n")

    w("// Message mm goes to the current connection (lost unless it is open).\n")
    w("inline deliver(mm) {\n    if\n    :: cur == 0 -> skip\n")
    w("    :: cur != 0 && cur < nw -> fail(v_no_send_to_superseded)\n")
    w("    :: cur != 0 && cur >= nw ->\n        if\n")
    w("        :: phase[cur - 1] != P_OPEN -> skip\n")
    w("        :: phase[cur - 1] == P_OPEN && mm <= last[cur - 1] -> fail(v_replay_in_order)\n")
    w("        :: phase[cur - 1] == P_OPEN && mm > last[cur - 1] && strict[cur - 1] &&\n")
    w("           mm != last[cur - 1] + 1 -> fail(v_replay_in_order)\n")
    w("        :: phase[cur - 1] == P_OPEN && mm > last[cur - 1] &&\n")
    w("           (!strict[cur - 1] || mm == last[cur - 1] + 1) -> last[cur - 1] = mm\n")
    w("        fi\n    fi\n}\n\n")

    w("// Invariants after a row (in the Python checker's order).\n")
    w("inline invariants(e) {\n")
    w("    if\n    :: TERMINAL(st) != (expired > 0) -> fail(v_expire_when_ended)\n")
    w("    :: else -> skip\n    fi;\n")
    w("    if\n    :: e == E_detach_stale && (st != ost || grace != ogr || cur != ocur) ->\n")
    w("        fail(v_stale_detach_ignored)\n    :: else -> skip\n    fi;\n")
    w("    if\n    :: cur != 0 && ((phase[cur - 1] == P_OPEN && st != S_ATTACHED) ||\n")
    w("                    (phase[cur - 1] == P_GONE && st == S_ATTACHED)) ->\n")
    w("        fail(v_stale_detach_ignored)\n    :: else -> skip\n    fi;\n")
    w("    if\n    :: cur != 0 && phase[cur - 1] == P_GONE &&\n")
    w("       (beacons & (1 << (cur - 1))) != 0 && !TERMINAL(st) -> fail(v_beacon_commutes)\n")
    w("    :: else -> skip\n    fi\n}\n\n")

    w("// Nothing left to wait for: no connection open or closing, no timer.\n")
    w("inline stuck_check() {\n    g = 0;\n    x = 0;\n    do\n")
    w("    :: g < G -> if\n        :: phase[g] == P_OPEN || phase[g] == P_DEAD -> x = 1\n")
    w("        :: else -> skip\n        fi; g++\n    :: else -> break\n    od;\n")
    w("    if\n    :: !ended && x == 0 && !grace -> fail(v_abandoned_expires)\n")
    w("    :: else -> skip\n    fi;\n    g = 0;\n    x = 0\n}\n\n")

    w("// Feed event e (att: the attaching generation, ls: its last_seen, sk: resumed).\n")
    w("inline feed(e, att, ls, sk) {\n    r = st * NE + e;\n    if\n")
    w("    :: nxt[r] == NONE -> fail(v_impossible_event)\n    :: else ->\n")
    w("        ost = st; ogr = grace; ocur = cur;\n        nw = att;\n        g = 0;\n")
    w("        do\n        :: g < G -> if\n")
    w("            :: phase[g] != P_NONE && g + 1 > nw -> nw = g + 1\n")
    w("            :: else -> skip\n            fi; g++\n        :: else -> break\n        od;\n")
    w("        k = 0;\n        do\n        :: k < neff[r] && !violated ->\n")
    w("            x = eff[r * MAXE + k];\n            if\n")
    w("            :: x == X_ADOPT -> phase[att - 1] = P_OPEN; last[att - 1] = ls;\n")
    w("               strict[att - 1] = sk; cur = att\n")
    w("            :: x == X_CLOSE -> if\n")
    w("                :: cur != 0 && phase[cur - 1] == P_OPEN -> phase[cur - 1] = P_DEAD\n")
    w("                :: else -> skip\n                fi\n")
    w("            :: x == X_REFUSE -> if\n")
    w("                :: att != 0 -> phase[att - 1] = P_GONE; last[att - 1] = 0;\n")
    w("                   strict[att - 1] = false\n")
    w("                :: else -> skip\n                fi\n")
    w("            :: x == X_REPLAY ->\n")
    w("                m = ls + 1;\n                if\n")
    w("                :: sent > HISTORY && m < sent - HISTORY + 1 -> m = sent - HISTORY + 1\n")
    w("                :: else -> skip\n                fi;\n")
    w("                do\n                :: m <= sent && !violated -> deliver(m); m++\n")
    w("                :: else -> break\n                od\n")
    w("            :: x == X_TRANSMIT -> sent++; deliver(sent)\n")
    w("            :: x == X_HOLD -> sent++\n")
    w("            :: x == X_EXPIRE -> if\n")
    w("                :: expired > 0 -> fail(v_expire_at_most_once)\n")
    w("                :: expired == 0 && !due -> fail(v_expire_only_when_due)\n")
    w("                :: expired == 0 && due -> expired++\n                fi\n")
    w("            :: x == X_ARM -> grace = true\n")
    w("            :: x == X_CANCEL -> grace = false\n")
    w("            :: x == 0 -> skip\n            fi;\n            k++\n")
    w("        :: else -> break\n        od;\n")
    w("        if\n        :: !violated -> st = nxt[r]; invariants(e)\n")
    w("        :: else -> skip\n        fi\n    fi;\n")
    w("    r = 0; k = 0; x = 0; m = 0; nw = 0; ost = 0; ogr = false; ocur = 0; g = 0;\n")
    w("    stuck_check()\n}\n\n")

    w("// The next generation attaches, with the page's last_seen (the highest message\n")
    w("// number any of its connections received): resume if the history covers it.\n")
    w("inline attach_with_last_seen(n) {\n    seen = 0;\n    g = 0;\n    do\n")
    w("    :: g < G -> if\n        :: last[g] > seen -> seen = last[g]\n")
    w("        :: else -> skip\n        fi; g++\n    :: else -> break\n    od;\n")
    w("    if\n    :: seen + HISTORY >= sent -> feed(E_attach_resume, n, seen, true)\n")
    w("    :: else -> feed(E_attach_gap, n, seen, false)\n    fi;\n    seen = 0\n}\n\n")

    w("proctype World() {\nend:\n    do\n")
    w("    :: d_step { !violated && (sent < SENDS || TERMINAL(st)) ->\n")
    w("        kind = K_APP; feed(E_app_send, 0, 0, false) }\n")
    w("    :: d_step { !violated && !closed_by_app ->\n")
    w("        kind = K_APP; closed_by_app = true; due = true; feed(E_app_close, 0, 0, false) }\n")
    for i in range(b.generations):
        n = i + 1
        before = " && ".join(f"phase[{j}] != P_NONE" for j in range(i)) or "true"
        w(f"    :: d_step {{ !violated && {before} && phase[{i}] == P_NONE ->\n")
        w(f"        kind = K_APP; feed(E_attach, {n}, 0, false) }}\n")
        w(f"    :: d_step {{ !violated && {before} && phase[{i}] == P_NONE ->\n")
        w(f"        kind = K_APP; attach_with_last_seen({n}) }}\n")
    for i in range(b.generations):
        n = i + 1
        w(f"    :: d_step {{ !violated && phase[{i}] != P_NONE && (beacons & {1 << i}) == 0 ->\n")
        w(f"        kind = K_APP; beacons = beacons | {1 << i};\n")
        w(f"        if\n        :: cur == {n} -> due = true; feed(E_page_close, 0, 0, false)\n")
        w("        :: else -> feed(E_page_close_stale, 0, 0, false)\n        fi }\n")
    for i in range(b.generations):
        n = i + 1
        w(f"    :: d_step {{ !violated && phase[{i}] == P_OPEN ->\n")
        w(f"        kind = K_ENV; phase[{i}] = P_DEAD }}\n")
        w(f"    :: d_step {{ !violated && phase[{i}] == P_DEAD ->\n")
        w(f"        kind = K_ENV; phase[{i}] = P_GONE;\n")
        w(f"        if\n        :: cur == {n} -> feed(E_detach, 0, 0, false)\n")
        w("        :: else -> feed(E_detach_stale, 0, 0, false)\n        fi }\n")
    w("    :: d_step { !violated && grace ->\n")
    w("        kind = K_ENV; grace = false; due = true; feed(E_grace_timeout, 0, 0, false) }\n")
    w("    od\n}\n\n")

    w("init {\n    d_step {\n        // the table\n")
    for row in spec.iter_rows():
        i = states.index(row.state) * ne + events.index(row.event)
        if row.impossible or row.next is None:
            w(f"        nxt[{i}] = NONE;  // {row.state}/{row.event}, line {row.line}\n")
            continue
        stmts = [f"nxt[{i}] = S_{row.next}", f"neff[{i}] = {len(row.effects)}"]
        for k, effect in enumerate(row.effects):
            code = _code(spec, effect)
            if code:
                stmts.append(f"eff[{i * maxe + k}] = {code}")
        w(f"        {'; '.join(stmts)};  // {row.state}/{row.event}, line {row.line}\n")
    w(f"        st = S_{spec.initial}\n    }};\n    run World()\n}}\n\n")
    w("ltl safety { [] !violated }\n")
    w("ltl abandoned_expires { (<>[] (kind == K_ENV)) -> <> (TERMINAL(st) || violated) }\n")
    return "".join(o)
