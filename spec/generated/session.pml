// GENERATED FILE - DO NOT EDIT.
// Source: spec/session.toml
// Regenerate with `wsstate generate`; `wsstate check` fails if this file is stale.
// The session machine and 2 connection generations; see
// docs/sessions.md. The same model as `wsstate verify session`
// (src/wsstate_tools/verify/session.py).
// Check: spin -a session.pml && gcc -O1 -o pan pan.c
//        ./pan -a -N safety -c0 && ./pan -a -N abandoned_expires

#define SENDS 2
#define HISTORY 1
#define G 2

// States
#define S_NEW 0
#define S_ATTACHED 1
#define S_DETACHED 2
#define S_CLOSED 3
#define NS 4

// Events
#define E_attach 0
#define E_attach_resume 1
#define E_attach_gap 2
#define E_app_send 3
#define E_app_close 4
#define E_page_close 5
#define E_page_close_stale 6
#define E_detach 7
#define E_detach_stale 8
#define E_grace_timeout 9
#define NE 10
#define MAXE 3  // effects per row, at most
#define NONE 255  // nxt[r] of an impossible row

// Effects the model interprets (0: nothing to model)
#define X_ADOPT 1
#define X_CLOSE 2  // supersede, close_connection
#define X_REFUSE 3
#define X_REPLAY 4
#define X_TRANSMIT 5
#define X_HOLD 6
#define X_EXPIRE 7
#define X_ARM 8
#define X_CANCEL 9

// Phases of a generation's connection
#define P_NONE 0
#define P_OPEN 1
#define P_DEAD 2
#define P_GONE 3

#define K_APP 0
#define K_ENV 1

#define TERMINAL(s) ((s) == S_CLOSED)
#define violated (v_impossible_event || v_stale_detach_ignored || v_expire_at_most_once || v_expire_when_ended || v_expire_only_when_due || v_beacon_commutes || v_no_send_to_superseded || v_replay_in_order || v_abandoned_expires)
#define ended (TERMINAL(st) || cur == 0 || violated)

byte nxt[NS * NE];
byte neff[NS * NE];
byte eff[NS * NE * MAXE];
byte st;
bool grace;
byte cur;       // current generation, 1-based; 0 before any
byte phase[G];
byte last[G];   // last message number received (last_seen at attach)
bool strict[G]; // resumed: messages continue from last with no hole
byte sent;
byte expired;
byte beacons;  // bit set of generations that sent one
bool closed_by_app;
bool due;       // an expiry is due (grace, current beacon, close)
byte kind = K_APP;
byte r;
byte k;
byte x;
byte m;
byte nw;
byte ost;
bool ogr;
byte ocur;
byte seen;
byte g;
bool v_impossible_event;
bool v_stale_detach_ignored;
bool v_expire_at_most_once;
bool v_expire_when_ended;
bool v_expire_only_when_due;
bool v_beacon_commutes;
bool v_no_send_to_superseded;
bool v_replay_in_order;
bool v_abandoned_expires;

inline fail(flag) {
    if
    :: !violated ->
        flag = true;
        assert(!flag)
    :: else -> skip
    fi
}

// Message mm goes to the current connection (lost unless it is open).
inline deliver(mm) {
    if
    :: cur == 0 -> skip
    :: cur != 0 && cur < nw -> fail(v_no_send_to_superseded)
    :: cur != 0 && cur >= nw ->
        if
        :: phase[cur - 1] != P_OPEN -> skip
        :: phase[cur - 1] == P_OPEN && mm <= last[cur - 1] -> fail(v_replay_in_order)
        :: phase[cur - 1] == P_OPEN && mm > last[cur - 1] && strict[cur - 1] &&
           mm != last[cur - 1] + 1 -> fail(v_replay_in_order)
        :: phase[cur - 1] == P_OPEN && mm > last[cur - 1] &&
           (!strict[cur - 1] || mm == last[cur - 1] + 1) -> last[cur - 1] = mm
        fi
    fi
}

// Invariants after a row (in the Python checker's order).
inline invariants(e) {
    if
    :: TERMINAL(st) != (expired > 0) -> fail(v_expire_when_ended)
    :: else -> skip
    fi;
    if
    :: e == E_detach_stale && (st != ost || grace != ogr || cur != ocur) ->
        fail(v_stale_detach_ignored)
    :: else -> skip
    fi;
    if
    :: cur != 0 && ((phase[cur - 1] == P_OPEN && st != S_ATTACHED) ||
                    (phase[cur - 1] == P_GONE && st == S_ATTACHED)) ->
        fail(v_stale_detach_ignored)
    :: else -> skip
    fi;
    if
    :: cur != 0 && phase[cur - 1] == P_GONE &&
       (beacons & (1 << (cur - 1))) != 0 && !TERMINAL(st) -> fail(v_beacon_commutes)
    :: else -> skip
    fi
}

// Nothing left to wait for: no connection open or closing, no timer.
inline stuck_check() {
    g = 0;
    x = 0;
    do
    :: g < G -> if
        :: phase[g] == P_OPEN || phase[g] == P_DEAD -> x = 1
        :: else -> skip
        fi; g++
    :: else -> break
    od;
    if
    :: !ended && x == 0 && !grace -> fail(v_abandoned_expires)
    :: else -> skip
    fi;
    g = 0;
    x = 0
}

// Feed event e (att: the attaching generation, ls: its last_seen, sk: resumed).
inline feed(e, att, ls, sk) {
    r = st * NE + e;
    if
    :: nxt[r] == NONE -> fail(v_impossible_event)
    :: else ->
        ost = st; ogr = grace; ocur = cur;
        nw = att;
        g = 0;
        do
        :: g < G -> if
            :: phase[g] != P_NONE && g + 1 > nw -> nw = g + 1
            :: else -> skip
            fi; g++
        :: else -> break
        od;
        k = 0;
        do
        :: k < neff[r] && !violated ->
            x = eff[r * MAXE + k];
            if
            :: x == X_ADOPT -> phase[att - 1] = P_OPEN; last[att - 1] = ls;
               strict[att - 1] = sk; cur = att
            :: x == X_CLOSE -> if
                :: cur != 0 && phase[cur - 1] == P_OPEN -> phase[cur - 1] = P_DEAD
                :: else -> skip
                fi
            :: x == X_REFUSE -> if
                :: att != 0 -> phase[att - 1] = P_GONE; last[att - 1] = 0;
                   strict[att - 1] = false
                :: else -> skip
                fi
            :: x == X_REPLAY ->
                m = ls + 1;
                if
                :: sent > HISTORY && m < sent - HISTORY + 1 -> m = sent - HISTORY + 1
                :: else -> skip
                fi;
                do
                :: m <= sent && !violated -> deliver(m); m++
                :: else -> break
                od
            :: x == X_TRANSMIT -> sent++; deliver(sent)
            :: x == X_HOLD -> sent++
            :: x == X_EXPIRE -> if
                :: expired > 0 -> fail(v_expire_at_most_once)
                :: expired == 0 && !due -> fail(v_expire_only_when_due)
                :: expired == 0 && due -> expired++
                fi
            :: x == X_ARM -> grace = true
            :: x == X_CANCEL -> grace = false
            :: x == 0 -> skip
            fi;
            k++
        :: else -> break
        od;
        if
        :: !violated -> st = nxt[r]; invariants(e)
        :: else -> skip
        fi
    fi;
    r = 0; k = 0; x = 0; m = 0; nw = 0; ost = 0; ogr = false; ocur = 0; g = 0;
    stuck_check()
}

// The next generation attaches, with the page's last_seen (the highest message
// number any of its connections received): resume if the history covers it.
inline attach_with_last_seen(n) {
    seen = 0;
    g = 0;
    do
    :: g < G -> if
        :: last[g] > seen -> seen = last[g]
        :: else -> skip
        fi; g++
    :: else -> break
    od;
    if
    :: seen + HISTORY >= sent -> feed(E_attach_resume, n, seen, true)
    :: else -> feed(E_attach_gap, n, seen, false)
    fi;
    seen = 0
}

proctype World() {
end:
    do
    :: d_step { !violated && (sent < SENDS || TERMINAL(st)) ->
        kind = K_APP; feed(E_app_send, 0, 0, false) }
    :: d_step { !violated && !closed_by_app ->
        kind = K_APP; closed_by_app = true; due = true; feed(E_app_close, 0, 0, false) }
    :: d_step { !violated && true && phase[0] == P_NONE ->
        kind = K_APP; feed(E_attach, 1, 0, false) }
    :: d_step { !violated && true && phase[0] == P_NONE ->
        kind = K_APP; attach_with_last_seen(1) }
    :: d_step { !violated && phase[0] != P_NONE && phase[1] == P_NONE ->
        kind = K_APP; feed(E_attach, 2, 0, false) }
    :: d_step { !violated && phase[0] != P_NONE && phase[1] == P_NONE ->
        kind = K_APP; attach_with_last_seen(2) }
    :: d_step { !violated && phase[0] != P_NONE && (beacons & 1) == 0 ->
        kind = K_APP; beacons = beacons | 1;
        if
        :: cur == 1 -> due = true; feed(E_page_close, 0, 0, false)
        :: else -> feed(E_page_close_stale, 0, 0, false)
        fi }
    :: d_step { !violated && phase[1] != P_NONE && (beacons & 2) == 0 ->
        kind = K_APP; beacons = beacons | 2;
        if
        :: cur == 2 -> due = true; feed(E_page_close, 0, 0, false)
        :: else -> feed(E_page_close_stale, 0, 0, false)
        fi }
    :: d_step { !violated && phase[0] == P_OPEN ->
        kind = K_ENV; phase[0] = P_DEAD }
    :: d_step { !violated && phase[0] == P_DEAD ->
        kind = K_ENV; phase[0] = P_GONE;
        if
        :: cur == 1 -> feed(E_detach, 0, 0, false)
        :: else -> feed(E_detach_stale, 0, 0, false)
        fi }
    :: d_step { !violated && phase[1] == P_OPEN ->
        kind = K_ENV; phase[1] = P_DEAD }
    :: d_step { !violated && phase[1] == P_DEAD ->
        kind = K_ENV; phase[1] = P_GONE;
        if
        :: cur == 2 -> feed(E_detach, 0, 0, false)
        :: else -> feed(E_detach_stale, 0, 0, false)
        fi }
    :: d_step { !violated && grace ->
        kind = K_ENV; grace = false; due = true; feed(E_grace_timeout, 0, 0, false) }
    od
}

init {
    d_step {
        // the table
        nxt[0] = S_ATTACHED; neff[0] = 1; eff[0] = 1;  // NEW/attach, line 75
        nxt[1] = S_ATTACHED; neff[1] = 2; eff[3] = 1; eff[4] = 4;  // NEW/attach_resume, line 76
        nxt[2] = S_ATTACHED; neff[2] = 2; eff[6] = 1;  // NEW/attach_gap, line 77
        nxt[3] = S_NEW; neff[3] = 1; eff[9] = 6;  // NEW/app_send, line 78
        nxt[4] = S_CLOSED; neff[4] = 2; eff[12] = 7;  // NEW/app_close, line 79
        nxt[5] = NONE;  // NEW/page_close, line 80
        nxt[6] = NONE;  // NEW/page_close_stale, line 81
        nxt[7] = NONE;  // NEW/detach, line 82
        nxt[8] = NONE;  // NEW/detach_stale, line 83
        nxt[9] = NONE;  // NEW/grace_timeout, line 84
        nxt[10] = S_ATTACHED; neff[10] = 2; eff[30] = 2; eff[31] = 1;  // ATTACHED/attach, line 87
        nxt[11] = S_ATTACHED; neff[11] = 3; eff[33] = 2; eff[34] = 1; eff[35] = 4;  // ATTACHED/attach_resume, line 88
        nxt[12] = S_ATTACHED; neff[12] = 3; eff[36] = 2; eff[37] = 1;  // ATTACHED/attach_gap, line 89
        nxt[13] = S_ATTACHED; neff[13] = 1; eff[39] = 5;  // ATTACHED/app_send, line 90
        nxt[14] = S_CLOSED; neff[14] = 3; eff[42] = 2; eff[43] = 7;  // ATTACHED/app_close, line 91
        nxt[15] = S_CLOSED; neff[15] = 2; eff[45] = 2; eff[46] = 7;  // ATTACHED/page_close, line 92
        nxt[16] = S_ATTACHED; neff[16] = 0;  // ATTACHED/page_close_stale, line 93
        nxt[17] = S_DETACHED; neff[17] = 1; eff[51] = 8;  // ATTACHED/detach, line 94
        nxt[18] = S_ATTACHED; neff[18] = 0;  // ATTACHED/detach_stale, line 95
        nxt[19] = NONE;  // ATTACHED/grace_timeout, line 96
        nxt[20] = S_ATTACHED; neff[20] = 2; eff[60] = 9; eff[61] = 1;  // DETACHED/attach, line 99
        nxt[21] = S_ATTACHED; neff[21] = 3; eff[63] = 9; eff[64] = 1; eff[65] = 4;  // DETACHED/attach_resume, line 100
        nxt[22] = S_ATTACHED; neff[22] = 3; eff[66] = 9; eff[67] = 1;  // DETACHED/attach_gap, line 101
        nxt[23] = S_DETACHED; neff[23] = 1; eff[69] = 6;  // DETACHED/app_send, line 102
        nxt[24] = S_CLOSED; neff[24] = 3; eff[72] = 9; eff[73] = 7;  // DETACHED/app_close, line 103
        nxt[25] = S_CLOSED; neff[25] = 2; eff[75] = 9; eff[76] = 7;  // DETACHED/page_close, line 104
        nxt[26] = S_DETACHED; neff[26] = 0;  // DETACHED/page_close_stale, line 105
        nxt[27] = NONE;  // DETACHED/detach, line 106
        nxt[28] = S_DETACHED; neff[28] = 0;  // DETACHED/detach_stale, line 107
        nxt[29] = S_CLOSED; neff[29] = 1; eff[87] = 7;  // DETACHED/grace_timeout, line 108
        nxt[30] = S_CLOSED; neff[30] = 1; eff[90] = 3;  // CLOSED/attach, line 111
        nxt[31] = S_CLOSED; neff[31] = 1; eff[93] = 3;  // CLOSED/attach_resume, line 112
        nxt[32] = S_CLOSED; neff[32] = 1; eff[96] = 3;  // CLOSED/attach_gap, line 113
        nxt[33] = S_CLOSED; neff[33] = 1;  // CLOSED/app_send, line 114
        nxt[34] = S_CLOSED; neff[34] = 1;  // CLOSED/app_close, line 115
        nxt[35] = S_CLOSED; neff[35] = 0;  // CLOSED/page_close, line 116
        nxt[36] = S_CLOSED; neff[36] = 0;  // CLOSED/page_close_stale, line 116
        nxt[37] = S_CLOSED; neff[37] = 0;  // CLOSED/detach, line 116
        nxt[38] = S_CLOSED; neff[38] = 0;  // CLOSED/detach_stale, line 116
        nxt[39] = S_CLOSED; neff[39] = 0;  // CLOSED/grace_timeout, line 116
        st = S_NEW
    };
    run World()
}

ltl safety { [] !violated }
ltl abandoned_expires { (<>[] (kind == K_ENV)) -> <> (TERMINAL(st) || violated) }
