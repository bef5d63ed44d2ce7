// GENERATED FILE - DO NOT EDIT.
// Source: spec/client.toml
// Regenerate with `wsstate generate`; `wsstate check` fails if this file is stale.
// The reconnecting client with a server that accepts, refuses, closes or vanishes,
// and its timers; see docs/verification.md. The same model as `wsstate verify client`
// (src/wsstate_tools/verify/client_model.py).
// Check: spin -a client.pml && gcc -O1 -o pan pan.c && ./pan -a -N safety -c0

#define MSGS 3
#define BUF 2
#define LEVEL 3

#define S_IDLE 0
#define S_CONNECTING 1
#define S_OPENING 2
#define S_OPEN 3
#define S_BACKOFF 4
#define S_CLOSING 5
#define S_STOPPED 6

#define T_backoff_timer 1
#define T_uptime_timer 2
#define violated (v_stopped_absorbing || v_impossible_event || v_no_attempt_when_stopping || v_no_attempt_after_close || v_single_attempt || v_fatal_stops || v_backoff_between_attempts || v_backoff_resets_only_after_min_uptime || v_buffer_bounded || v_sent_at_most_once || v_no_deadlock)
#define STUCK (st != S_IDLE && st != S_STOPPED && !pending && !live && !flushing && timers == 0)

byte st;
byte timers;
byte attempts;
bool pending;
bool live;
bool flushing;
byte buf[BUF];
byte nbuf;
byte sent;
byte received;  // bit set of message ids
byte msg;       // the message being sent, 0 between steps
byte fails;     // ghost: failures since the last connection that stayed up
bool gap;       // ghost: a delay (or an uptime) ran out since the last attempt
bool closedg;   // ghost: the application called close()
bool fatal;     // ghost: the server answered fatally
bool v_stopped_absorbing;
bool v_impossible_event;
bool v_no_attempt_when_stopping;
bool v_no_attempt_after_close;
bool v_single_attempt;
bool v_fatal_stops;
bool v_backoff_between_attempts;
bool v_backoff_resets_only_after_min_uptime;
bool v_buffer_bounded;
bool v_sent_at_most_once;
bool v_no_deadlock;

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
    :: STUCK -> fail(v_no_deadlock)
    :: else -> skip
    fi
}

inline failed() {
    if
    :: fails < LEVEL -> fails++
    :: else -> skip
    fi
}

inline on_start() {
    if
    :: st == S_IDLE ->  // line 88
        if :: closedg -> fail(v_no_attempt_after_close) :: else -> skip fi;
        if :: fatal -> fail(v_fatal_stops) :: else -> skip fi;
        if :: pending || live -> fail(v_single_attempt) :: else -> skip fi;
        if :: !gap -> fail(v_backoff_between_attempts) :: else -> skip fi;
        pending = true; gap = false;
        st = S_CONNECTING
    :: st == S_CONNECTING ->  // line 105
        st = S_CONNECTING
    :: st == S_OPENING ->  // line 122
        st = S_OPENING
    :: st == S_OPEN ->  // line 139
        st = S_OPEN
    :: st == S_BACKOFF ->  // line 156
        st = S_BACKOFF
    :: st == S_CLOSING ->  // line 173
        st = S_CLOSING
    :: st == S_STOPPED ->  // line 190
        st = S_STOPPED
    fi
}

inline on_app_send() {
    if
    :: st == S_IDLE ->  // line 89
        if :: nbuf >= BUF -> fail(v_buffer_bounded) :: else -> buf[nbuf] = msg; nbuf++ fi;
        st = S_IDLE
    :: st == S_CONNECTING ->  // line 106
        if :: nbuf >= BUF -> fail(v_buffer_bounded) :: else -> buf[nbuf] = msg; nbuf++ fi;
        st = S_CONNECTING
    :: st == S_OPENING ->  // line 123
        if :: nbuf >= BUF -> fail(v_buffer_bounded) :: else -> buf[nbuf] = msg; nbuf++ fi;
        st = S_OPENING
    :: st == S_OPEN ->  // line 140
        if :: (received & (1 << msg)) != 0 -> fail(v_sent_at_most_once) :: else -> received = received | (1 << msg) fi;
        st = S_OPEN
    :: st == S_BACKOFF ->  // line 157
        if :: nbuf >= BUF -> fail(v_buffer_bounded) :: else -> buf[nbuf] = msg; nbuf++ fi;
        st = S_BACKOFF
    :: st == S_CLOSING ->  // line 174
        st = S_CLOSING
    :: st == S_STOPPED ->  // line 191
        st = S_STOPPED
    fi
}

inline on_app_send_full() {
    if
    :: st == S_IDLE ->  // line 90
        st = S_IDLE
    :: st == S_CONNECTING ->  // line 107
        st = S_CONNECTING
    :: st == S_OPENING ->  // line 124
        st = S_OPENING
    :: st == S_OPEN ->  // line 141
        if :: (received & (1 << msg)) != 0 -> fail(v_sent_at_most_once) :: else -> received = received | (1 << msg) fi;
        st = S_OPEN
    :: st == S_BACKOFF ->  // line 158
        st = S_BACKOFF
    :: st == S_CLOSING ->  // line 175
        st = S_CLOSING
    :: st == S_STOPPED ->  // line 192
        st = S_STOPPED
    fi
}

inline on_app_close() {
    if
    :: st == S_IDLE ->  // line 91
        buf[0] = 0;
        buf[1] = 0;
        nbuf = 0;
        st = S_STOPPED
    :: st == S_CONNECTING ->  // line 108
        st = S_CLOSING
    :: st == S_OPENING ->  // line 125
        timers = timers & ~T_uptime_timer;
        st = S_CLOSING
    :: st == S_OPEN ->  // line 142
        timers = timers & ~T_uptime_timer;
        st = S_CLOSING
    :: st == S_BACKOFF ->  // line 159
        timers = timers & ~T_backoff_timer;
        buf[0] = 0;
        buf[1] = 0;
        nbuf = 0;
        st = S_STOPPED
    :: st == S_CLOSING ->  // line 176
        st = S_CLOSING
    :: st == S_STOPPED ->  // line 193
        st = S_STOPPED
    fi
}

inline on_connected() {
    if
    :: st == S_IDLE ->  // line 92
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 109
        live = true;
        timers = timers | T_uptime_timer;
        if :: nbuf > 0 -> if :: (received & (1 << buf[0])) != 0 -> fail(v_sent_at_most_once) :: else -> received = received | (1 << buf[0]) fi :: else -> skip fi;
        if :: nbuf > 1 -> if :: (received & (1 << buf[1])) != 0 -> fail(v_sent_at_most_once) :: else -> received = received | (1 << buf[1]) fi :: else -> skip fi;
        buf[0] = 0;
        buf[1] = 0;
        nbuf = 0;
        flushing = true;
        st = S_OPENING
    :: st == S_OPENING ->  // line 126
        fail(v_impossible_event)
    :: st == S_OPEN ->  // line 143
        fail(v_impossible_event)
    :: st == S_BACKOFF ->  // line 160
        fail(v_impossible_event)
    :: st == S_CLOSING ->  // line 177
        live = true;
        st = S_CLOSING
    :: st == S_STOPPED ->  // line 194
        fail(v_impossible_event)
    fi
}

inline on_ready() {
    if
    :: st == S_IDLE ->  // line 93
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 110
        fail(v_impossible_event)
    :: st == S_OPENING ->  // line 127
        st = S_OPEN
    :: st == S_OPEN ->  // line 144
        fail(v_impossible_event)
    :: st == S_BACKOFF ->  // line 161
        fail(v_impossible_event)
    :: st == S_CLOSING ->  // line 178
        st = S_CLOSING
    :: st == S_STOPPED ->  // line 195
        fail(v_impossible_event)
    fi
}

inline on_refused_retryable() {
    if
    :: st == S_IDLE ->  // line 94
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 111
        if :: attempts < LEVEL -> attempts++ :: else -> skip fi;
        timers = timers | T_backoff_timer;
        if :: attempts != fails -> fail(v_backoff_resets_only_after_min_uptime) :: else -> skip fi;
        st = S_BACKOFF
    :: st == S_OPENING ->  // line 128
        fail(v_impossible_event)
    :: st == S_OPEN ->  // line 145
        fail(v_impossible_event)
    :: st == S_BACKOFF ->  // line 162
        fail(v_impossible_event)
    :: st == S_CLOSING ->  // line 179
        buf[0] = 0;
        buf[1] = 0;
        nbuf = 0;
        st = S_STOPPED
    :: st == S_STOPPED ->  // line 196
        fail(v_impossible_event)
    fi
}

inline on_refused_retry_after() {
    if
    :: st == S_IDLE ->  // line 95
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 112
        if :: attempts < LEVEL -> attempts++ :: else -> skip fi;
        timers = timers | T_backoff_timer;
        if :: attempts != fails -> fail(v_backoff_resets_only_after_min_uptime) :: else -> skip fi;
        st = S_BACKOFF
    :: st == S_OPENING ->  // line 129
        fail(v_impossible_event)
    :: st == S_OPEN ->  // line 146
        fail(v_impossible_event)
    :: st == S_BACKOFF ->  // line 163
        fail(v_impossible_event)
    :: st == S_CLOSING ->  // line 180
        buf[0] = 0;
        buf[1] = 0;
        nbuf = 0;
        st = S_STOPPED
    :: st == S_STOPPED ->  // line 197
        fail(v_impossible_event)
    fi
}

inline on_refused_fatal() {
    if
    :: st == S_IDLE ->  // line 96
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 113
        buf[0] = 0;
        buf[1] = 0;
        nbuf = 0;
        st = S_STOPPED
    :: st == S_OPENING ->  // line 130
        fail(v_impossible_event)
    :: st == S_OPEN ->  // line 147
        fail(v_impossible_event)
    :: st == S_BACKOFF ->  // line 164
        fail(v_impossible_event)
    :: st == S_CLOSING ->  // line 181
        buf[0] = 0;
        buf[1] = 0;
        nbuf = 0;
        st = S_STOPPED
    :: st == S_STOPPED ->  // line 198
        fail(v_impossible_event)
    fi
}

inline on_closed_retryable() {
    if
    :: st == S_IDLE ->  // line 97
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 114
        fail(v_impossible_event)
    :: st == S_OPENING ->  // line 131
        timers = timers & ~T_uptime_timer;
        if :: attempts < LEVEL -> attempts++ :: else -> skip fi;
        timers = timers | T_backoff_timer;
        if :: attempts != fails -> fail(v_backoff_resets_only_after_min_uptime) :: else -> skip fi;
        st = S_BACKOFF
    :: st == S_OPEN ->  // line 148
        timers = timers & ~T_uptime_timer;
        if :: attempts < LEVEL -> attempts++ :: else -> skip fi;
        timers = timers | T_backoff_timer;
        if :: attempts != fails -> fail(v_backoff_resets_only_after_min_uptime) :: else -> skip fi;
        st = S_BACKOFF
    :: st == S_BACKOFF ->  // line 165
        fail(v_impossible_event)
    :: st == S_CLOSING ->  // line 182
        buf[0] = 0;
        buf[1] = 0;
        nbuf = 0;
        st = S_STOPPED
    :: st == S_STOPPED ->  // line 199
        fail(v_impossible_event)
    fi
}

inline on_closed_retry_after() {
    if
    :: st == S_IDLE ->  // line 98
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 115
        fail(v_impossible_event)
    :: st == S_OPENING ->  // line 132
        timers = timers & ~T_uptime_timer;
        if :: attempts < LEVEL -> attempts++ :: else -> skip fi;
        timers = timers | T_backoff_timer;
        if :: attempts != fails -> fail(v_backoff_resets_only_after_min_uptime) :: else -> skip fi;
        st = S_BACKOFF
    :: st == S_OPEN ->  // line 149
        timers = timers & ~T_uptime_timer;
        if :: attempts < LEVEL -> attempts++ :: else -> skip fi;
        timers = timers | T_backoff_timer;
        if :: attempts != fails -> fail(v_backoff_resets_only_after_min_uptime) :: else -> skip fi;
        st = S_BACKOFF
    :: st == S_BACKOFF ->  // line 166
        fail(v_impossible_event)
    :: st == S_CLOSING ->  // line 183
        buf[0] = 0;
        buf[1] = 0;
        nbuf = 0;
        st = S_STOPPED
    :: st == S_STOPPED ->  // line 200
        fail(v_impossible_event)
    fi
}

inline on_closed_fatal() {
    if
    :: st == S_IDLE ->  // line 99
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 116
        fail(v_impossible_event)
    :: st == S_OPENING ->  // line 133
        timers = timers & ~T_uptime_timer;
        buf[0] = 0;
        buf[1] = 0;
        nbuf = 0;
        st = S_STOPPED
    :: st == S_OPEN ->  // line 150
        timers = timers & ~T_uptime_timer;
        buf[0] = 0;
        buf[1] = 0;
        nbuf = 0;
        st = S_STOPPED
    :: st == S_BACKOFF ->  // line 167
        fail(v_impossible_event)
    :: st == S_CLOSING ->  // line 184
        buf[0] = 0;
        buf[1] = 0;
        nbuf = 0;
        st = S_STOPPED
    :: st == S_STOPPED ->  // line 201
        fail(v_impossible_event)
    fi
}

inline on_give_up() {
    if
    :: st == S_IDLE ->  // line 100
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 117
        buf[0] = 0;
        buf[1] = 0;
        nbuf = 0;
        st = S_STOPPED
    :: st == S_OPENING ->  // line 134
        timers = timers & ~T_uptime_timer;
        buf[0] = 0;
        buf[1] = 0;
        nbuf = 0;
        st = S_STOPPED
    :: st == S_OPEN ->  // line 151
        timers = timers & ~T_uptime_timer;
        buf[0] = 0;
        buf[1] = 0;
        nbuf = 0;
        st = S_STOPPED
    :: st == S_BACKOFF ->  // line 168
        fail(v_impossible_event)
    :: st == S_CLOSING ->  // line 185
        buf[0] = 0;
        buf[1] = 0;
        nbuf = 0;
        st = S_STOPPED
    :: st == S_STOPPED ->  // line 202
        fail(v_impossible_event)
    fi
}

inline on_backoff_elapsed() {
    if
    :: st == S_IDLE ->  // line 101
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 118
        fail(v_impossible_event)
    :: st == S_OPENING ->  // line 135
        fail(v_impossible_event)
    :: st == S_OPEN ->  // line 152
        fail(v_impossible_event)
    :: st == S_BACKOFF ->  // line 169
        if :: closedg -> fail(v_no_attempt_after_close) :: else -> skip fi;
        if :: fatal -> fail(v_fatal_stops) :: else -> skip fi;
        if :: pending || live -> fail(v_single_attempt) :: else -> skip fi;
        if :: !gap -> fail(v_backoff_between_attempts) :: else -> skip fi;
        pending = true; gap = false;
        st = S_CONNECTING
    :: st == S_CLOSING ->  // line 186
        fail(v_impossible_event)
    :: st == S_STOPPED ->  // line 203
        fail(v_impossible_event)
    fi
}

inline on_min_uptime_elapsed() {
    if
    :: st == S_IDLE ->  // line 102
        fail(v_impossible_event)
    :: st == S_CONNECTING ->  // line 119
        fail(v_impossible_event)
    :: st == S_OPENING ->  // line 136
        attempts = 0;
        st = S_OPENING
    :: st == S_OPEN ->  // line 153
        attempts = 0;
        st = S_OPEN
    :: st == S_BACKOFF ->  // line 170
        fail(v_impossible_event)
    :: st == S_CLOSING ->  // line 187
        fail(v_impossible_event)
    :: st == S_STOPPED ->  // line 204
        fail(v_impossible_event)
    fi
}

proctype Client() {
end:
    do
    :: d_step { !violated -> on_start(); invariants() }
    :: d_step { !violated -> closedg = true; on_app_close(); invariants() }
    :: d_step { !violated && sent < MSGS -> sent++; msg = sent;
        if
        :: nbuf < BUF -> on_app_send()
        :: else -> on_app_send_full()
        fi;
        msg = 0; invariants() }
    :: d_step { !violated && pending -> pending = false; on_connected(); invariants() }
    :: d_step { !violated && pending -> pending = false; failed(); on_refused_retryable(); invariants() }
    :: d_step { !violated && pending -> pending = false; failed(); on_refused_retry_after(); invariants() }
    :: d_step { !violated && pending -> pending = false; failed(); fatal = true; on_refused_fatal(); invariants() }
    :: d_step { !violated && pending -> pending = false; failed(); on_give_up(); invariants() }
    :: d_step { !violated && live -> live = false; flushing = false; failed(); on_closed_retryable(); invariants() }
    :: d_step { !violated && live -> live = false; flushing = false; failed(); on_closed_retry_after(); invariants() }
    :: d_step { !violated && live -> live = false; flushing = false; failed(); fatal = true; on_closed_fatal(); invariants() }
    :: d_step { !violated && live -> live = false; flushing = false; failed(); on_give_up(); invariants() }
    :: d_step { !violated && flushing -> flushing = false; on_ready(); invariants() }
    :: d_step { !violated && (timers & T_backoff_timer) != 0 -> timers = timers & ~T_backoff_timer; gap = true; on_backoff_elapsed(); invariants() }
    :: d_step { !violated && (timers & T_uptime_timer) != 0 -> timers = timers & ~T_uptime_timer; fails = 0; gap = true; on_min_uptime_elapsed(); invariants() }
    od
}

init {
    d_step { st = S_IDLE; gap = true };
    run Client()
}

ltl safety { [] !violated }
