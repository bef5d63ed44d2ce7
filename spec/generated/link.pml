// GENERATED FILE - DO NOT EDIT.
// Source: spec/link.toml
// Regenerate with `wsstate generate`; `wsstate check` fails if this file is stale.
// A process' link to a broker that drops it, restarts, loses and doubles messages,
// a remote publisher and the backoff timer; see docs/verification.md. The same model
// as `wsstate verify link` (src/wsstate_tools/verify/link.py).
// Check: spin -a link.pml && gcc -O1 -o pan pan.c && ./pan -a -N safety -c0

#define MSGS 4
#define BCASTS 2
#define FAULTS 3
#define CAP 3
#define OWN 0

#define S_IDLE 0
#define S_CONNECTING 1
#define S_CONNECTED 2
#define S_BACKOFF 3
#define S_CLOSED 4

#define T_backoff_timer 1
#define violated (v_closed_absorbing || v_impossible_event || v_local_delivery_always || v_local_delivered_once || v_remote_accounted || v_publish_only_connected || v_gap_always_reported || v_delivered_at_most_once || v_backoff_between_attempts || v_single_link || v_link_released || v_no_dead_listener)
#define STUCK (st != S_IDLE && st != S_CLOSED && !pending && !live && timers == 0)

byte st;
byte timers;
bool pending;
bool live;
bool up;
byte faults;
byte inflight;  // A's publishes not yet acknowledged
byte sent;      // A's broadcasts so far
byte published; // P's numbers so far
byte wire[CAP]; // to A's listener: P's numbers, OWN for A's own echo
byte nwire;
byte last;      // the last number of P that A recorded
byte msg;       // the message being read, OWN between steps
byte nlocal;    // deliver_local effects of this step
byte nremote;   // publish and count_lost effects of this step
byte delivered; // ghost: bit set of P's numbers delivered to A's members
byte reported;  // ghost: bit set of P's numbers reported missed
bool gap;       // ghost: a backoff delay ran out since the last attempt
bool v_closed_absorbing;
bool v_impossible_event;
bool v_local_delivery_always;
bool v_local_delivered_once;
bool v_remote_accounted;
bool v_publish_only_connected;
bool v_gap_always_reported;
bool v_delivered_at_most_once;
bool v_backoff_between_attempts;
bool v_single_link;
bool v_link_released;
bool v_no_dead_listener;

inline fail(flag) {
    if
    :: !violated ->
        flag = true;
        assert(!flag)
    :: else -> skip
    fi
}

inline invariants() {
    if
    :: STUCK -> fail(v_no_dead_listener)
    :: else -> skip
    fi
}

inline clear_wire() {
    wire[0] = 0;
    wire[1] = 0;
    wire[2] = 0;
    nwire = 0
}

inline pop_wire() {
    wire[0] = wire[1];
    wire[1] = wire[2];
    wire[2] = 0;
    nwire--
}

inline on_start() {
    nlocal = 0; nremote = 0;
    if
    :: st == S_IDLE ->  // line 84
        if :: pending || live -> fail(v_single_link) :: else -> skip fi;
        if :: !gap -> fail(v_backoff_between_attempts) :: else -> skip fi;
        pending = true; gap = false;
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        st = S_CONNECTING
    :: st == S_CONNECTING ->  // line 98
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        st = S_CONNECTING
    :: st == S_CONNECTED ->  // line 112
        st = S_CONNECTED
    :: st == S_BACKOFF ->  // line 126
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        st = S_BACKOFF
    :: st == S_CLOSED ->  // line 140
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        if :: pending -> fail(v_link_released) :: else -> skip fi;
        st = S_CLOSED
    fi
}

inline on_app_broadcast() {
    nlocal = 0; nremote = 0;
    if
    :: st == S_IDLE ->  // line 85
        nlocal++;
        nremote++;
        if :: nlocal != 1 -> fail(v_local_delivery_always) :: else -> skip fi;
        if :: nremote != 1 -> fail(v_remote_accounted) :: else -> skip fi;
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        st = S_IDLE
    :: st == S_CONNECTING ->  // line 99
        nlocal++;
        nremote++;
        if :: nlocal != 1 -> fail(v_local_delivery_always) :: else -> skip fi;
        if :: nremote != 1 -> fail(v_remote_accounted) :: else -> skip fi;
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        st = S_CONNECTING
    :: st == S_CONNECTED ->  // line 113
        nlocal++;
        inflight++; nremote++;
        if :: nlocal != 1 -> fail(v_local_delivery_always) :: else -> skip fi;
        if :: nremote != 1 -> fail(v_remote_accounted) :: else -> skip fi;
        st = S_CONNECTED
    :: st == S_BACKOFF ->  // line 127
        nlocal++;
        nremote++;
        if :: nlocal != 1 -> fail(v_local_delivery_always) :: else -> skip fi;
        if :: nremote != 1 -> fail(v_remote_accounted) :: else -> skip fi;
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        st = S_BACKOFF
    :: st == S_CLOSED ->  // line 141
        nlocal++;
        nremote++;
        if :: nlocal != 1 -> fail(v_local_delivery_always) :: else -> skip fi;
        if :: nremote != 1 -> fail(v_remote_accounted) :: else -> skip fi;
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        if :: pending -> fail(v_link_released) :: else -> skip fi;
        st = S_CLOSED
    fi
}

inline on_app_close() {
    nlocal = 0; nremote = 0;
    if
    :: st == S_IDLE ->  // line 86
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        if :: pending -> fail(v_link_released) :: else -> skip fi;
        st = S_CLOSED
    :: st == S_CONNECTING ->  // line 100
        pending = false;
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        if :: pending -> fail(v_link_released) :: else -> skip fi;
        st = S_CLOSED
    :: st == S_CONNECTED ->  // line 114
        live = false; clear_wire(); inflight = 0;
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        if :: pending -> fail(v_link_released) :: else -> skip fi;
        st = S_CLOSED
    :: st == S_BACKOFF ->  // line 128
        timers = timers & ~T_backoff_timer;
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        if :: pending -> fail(v_link_released) :: else -> skip fi;
        st = S_CLOSED
    :: st == S_CLOSED ->  // line 142
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        if :: pending -> fail(v_link_released) :: else -> skip fi;
        st = S_CLOSED
    fi
}

inline on_subscribed() {
    nlocal = 0; nremote = 0;
    if
    :: st == S_IDLE ->  // line 87
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 101
        st = S_CONNECTED
    :: st == S_CONNECTED ->  // line 115
        fail(v_impossible_event)
    :: st == S_BACKOFF ->  // line 129
        fail(v_impossible_event)
    :: st == S_CLOSED ->  // line 143
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        if :: pending -> fail(v_link_released) :: else -> skip fi;
        st = S_CLOSED
    fi
}

inline on_attempt_failed() {
    nlocal = 0; nremote = 0;
    if
    :: st == S_IDLE ->  // line 88
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 102
        timers = timers | T_backoff_timer;
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        st = S_BACKOFF
    :: st == S_CONNECTED ->  // line 116
        fail(v_impossible_event)
    :: st == S_BACKOFF ->  // line 130
        fail(v_impossible_event)
    :: st == S_CLOSED ->  // line 143
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        if :: pending -> fail(v_link_released) :: else -> skip fi;
        st = S_CLOSED
    fi
}

inline on_attempt_refused() {
    nlocal = 0; nremote = 0;
    if
    :: st == S_IDLE ->  // line 89
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 103
        timers = timers | T_backoff_timer;
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        st = S_BACKOFF
    :: st == S_CONNECTED ->  // line 117
        fail(v_impossible_event)
    :: st == S_BACKOFF ->  // line 131
        fail(v_impossible_event)
    :: st == S_CLOSED ->  // line 143
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        if :: pending -> fail(v_link_released) :: else -> skip fi;
        st = S_CLOSED
    fi
}

inline on_link_lost() {
    nlocal = 0; nremote = 0;
    if
    :: st == S_IDLE ->  // line 90
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 104
        fail(v_impossible_event)
    :: st == S_CONNECTED ->  // line 118
        live = false; clear_wire(); inflight = 0;
        timers = timers | T_backoff_timer;
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        st = S_BACKOFF
    :: st == S_BACKOFF ->  // line 132
        fail(v_impossible_event)
    :: st == S_CLOSED ->  // line 143
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        if :: pending -> fail(v_link_released) :: else -> skip fi;
        st = S_CLOSED
    fi
}

inline on_peer_message() {
    nlocal = 0; nremote = 0;
    if
    :: st == S_IDLE ->  // line 91
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 105
        fail(v_impossible_event)
    :: st == S_CONNECTED ->  // line 119
        if :: msg == OWN -> fail(v_local_delivered_once) :: else -> skip fi;
        if :: (delivered & (1 << msg)) != 0 -> fail(v_delivered_at_most_once) :: else -> skip fi;
        if :: ((delivered | reported) & ((1 << msg) - 2)) != ((1 << msg) - 2) -> fail(v_gap_always_reported) :: else -> skip fi;
        delivered = delivered | (1 << msg); last = msg;
        st = S_CONNECTED
    :: st == S_BACKOFF ->  // line 133
        fail(v_impossible_event)
    :: st == S_CLOSED ->  // line 143
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        if :: pending -> fail(v_link_released) :: else -> skip fi;
        st = S_CLOSED
    fi
}

inline on_peer_message_gap() {
    nlocal = 0; nremote = 0;
    if
    :: st == S_IDLE ->  // line 92
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 106
        fail(v_impossible_event)
    :: st == S_CONNECTED ->  // line 120
        if :: msg > last + 1 -> reported = reported | ((1 << msg) - (1 << (last + 1))) :: else -> skip fi;
        if :: msg == OWN -> fail(v_local_delivered_once) :: else -> skip fi;
        if :: (delivered & (1 << msg)) != 0 -> fail(v_delivered_at_most_once) :: else -> skip fi;
        if :: ((delivered | reported) & ((1 << msg) - 2)) != ((1 << msg) - 2) -> fail(v_gap_always_reported) :: else -> skip fi;
        delivered = delivered | (1 << msg); last = msg;
        st = S_CONNECTED
    :: st == S_BACKOFF ->  // line 134
        fail(v_impossible_event)
    :: st == S_CLOSED ->  // line 143
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        if :: pending -> fail(v_link_released) :: else -> skip fi;
        st = S_CLOSED
    fi
}

inline on_peer_message_stale() {
    nlocal = 0; nremote = 0;
    if
    :: st == S_IDLE ->  // line 93
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 107
        fail(v_impossible_event)
    :: st == S_CONNECTED ->  // line 121
        st = S_CONNECTED
    :: st == S_BACKOFF ->  // line 135
        fail(v_impossible_event)
    :: st == S_CLOSED ->  // line 143
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        if :: pending -> fail(v_link_released) :: else -> skip fi;
        st = S_CLOSED
    fi
}

inline on_own_message() {
    nlocal = 0; nremote = 0;
    if
    :: st == S_IDLE ->  // line 94
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 108
        fail(v_impossible_event)
    :: st == S_CONNECTED ->  // line 122
        st = S_CONNECTED
    :: st == S_BACKOFF ->  // line 136
        fail(v_impossible_event)
    :: st == S_CLOSED ->  // line 143
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        if :: pending -> fail(v_link_released) :: else -> skip fi;
        st = S_CLOSED
    fi
}

inline on_backoff_elapsed() {
    nlocal = 0; nremote = 0;
    if
    :: st == S_IDLE ->  // line 95
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 109
        fail(v_impossible_event)
    :: st == S_CONNECTED ->  // line 123
        fail(v_impossible_event)
    :: st == S_BACKOFF ->  // line 137
        if :: pending || live -> fail(v_single_link) :: else -> skip fi;
        if :: !gap -> fail(v_backoff_between_attempts) :: else -> skip fi;
        pending = true; gap = false;
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        st = S_CONNECTING
    :: st == S_CLOSED ->  // line 143
        if :: live || inflight > 0 -> fail(v_link_released) :: else -> skip fi;
        if :: pending -> fail(v_link_released) :: else -> skip fi;
        st = S_CLOSED
    fi
}

proctype Link() {
end:
    do
    :: d_step { !violated -> on_start(); invariants() }
    :: d_step { !violated -> on_app_close(); invariants() }
    :: d_step { !violated && sent < BCASTS -> sent++; on_app_broadcast(); invariants() }
    :: d_step { !violated && published < MSGS && (nwire < CAP || !live) -> published++;
        if :: live -> wire[nwire] = published; nwire++ :: else -> skip fi }
    :: d_step { !violated && inflight > 0 && live && nwire < CAP -> inflight--;
        wire[nwire] = OWN; nwire++ }
    :: d_step { !violated && live && nwire > 0 -> msg = wire[0]; pop_wire();
        if
        :: msg == OWN -> on_own_message()
        :: msg != OWN && msg == last + 1 -> on_peer_message()
        :: msg != OWN && msg > last + 1 -> on_peer_message_gap()
        :: msg != OWN && msg <= last -> on_peer_message_stale()
        fi;
        msg = OWN; invariants() }
    :: d_step { !violated && pending && up -> pending = false; live = true; on_subscribed(); invariants() }
    :: d_step { !violated && pending && up -> pending = false; on_attempt_refused(); invariants() }
    :: d_step { !violated && pending -> pending = false; on_attempt_failed(); invariants() }
    :: d_step { !violated && !up -> up = true }
    :: d_step { !violated && (timers & T_backoff_timer) != 0 -> timers = timers & ~T_backoff_timer; gap = true; on_backoff_elapsed(); invariants() }
    :: d_step { !violated && faults < FAULTS && live -> faults++; live = false; clear_wire(); on_link_lost(); invariants() }
    :: d_step { !violated && faults < FAULTS && up && live -> faults++; up = false; live = false; clear_wire(); on_link_lost(); invariants() }
    :: d_step { !violated && faults < FAULTS && up && !live -> faults++; up = false }
    :: d_step { !violated && faults < FAULTS && nwire > 0 && wire[0] != OWN -> faults++; pop_wire() }
    :: d_step { !violated && faults < FAULTS && nwire > 0 && nwire < CAP && wire[0] != OWN -> faults++;
        wire[2] = wire[1];
        wire[1] = wire[0];
        nwire++ }
    od
}

init {
    d_step { st = S_IDLE; up = true; gap = true };
    run Link()
}

ltl safety { [] !violated }
