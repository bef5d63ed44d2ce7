// GENERATED FILE - DO NOT EDIT.
// Source: spec/connection.toml
// Regenerate with `wsstate generate`; `wsstate check` fails if this file is stale.
// Two connection machines (client, server) over a faulty channel; see
// docs/verification.md. The same model as `wsstate verify` (src/wsstate/verify.py).
// Check: spin -a connection.pml && gcc -O1 -o pan pan.c
//        ./pan -a -N safety -c0 && ./pan -a -N termination

// Bounds
#define SENDS 1
#define PINGS 1
#define FAULTS 1
#define CAP 4

// States
#define S_CONNECTING 0
#define S_OPEN 1
#define S_CLOSING 2
#define S_CLOSE_RECEIVED 3
#define S_CLOSED 4

// Events
#define E_app_send 0
#define E_app_ping 1
#define E_app_recv 2
#define E_app_accept 3
#define E_app_close 4
#define E_app_close_invalid 5
#define E_app_abort 6
#define E_handshake_ok 7
#define E_handshake_fail 8
#define E_peer_data 9
#define E_peer_close 10
#define E_peer_close_invalid 11
#define E_peer_protocol_error 12
#define E_transport_eof 13
#define E_transport_error 14
#define E_transport_stalled 15
#define E_open_timeout 16
#define E_close_timeout 17
#define E_keepalive_timeout 18
#define E_library_close 19
#define E_app_accept_again 20
#define E_library_close_peer_fault 21

// Timers (bits)
#define T_open_timer 1
#define T_close_timer 2
#define T_keepalive 4

// Frames
#define F_REQ 1
#define F_RESP 2
#define F_DATA 3
#define F_PING 4
#define F_CLOSE 5

// End of a direction: open, FIN pending, RST pending, seen (or no longer read)
#define LIVE 0
#define FIN 1
#define RST 2
#define DONE 3

// Kind of the last step, for the termination claim
#define K_APP 0
#define K_ENV 1
#define K_FAULT 2

// wsstate.closecodes.is_sendable_code
#define SENDABLE(c) (((c) >= 1000 && (c) <= 1003) || ((c) >= 1007 && (c) <= 1014) || ((c) >= 3000 && (c) <= 4999))
#define VALID_CLOSE(c) ((c) == 0 || SENDABLE(c))
#define TERMINAL(s) ((s) == S_CLOSED)
#define all_closed (TERMINAL(st[0]) && TERMINAL(st[1]))
#define due(d) (!hole[d] && (len(wire[d]) > 0 || wend[d] == FIN || wend[d] == RST))
#define env_enabled (due(0) || due(1) || timers[0] != 0 || timers[1] != 0)
#define SEND_TX(s) ((s) == S_OPEN)
#define PING_TX(s) ((s) == S_OPEN)
#define violated (v_no_data_after_close || v_single_close_per_direction || v_no_reserved_code_on_wire || v_impossible_event || v_terminal_left || v_timers_cleared || v_no_deadlock || v_clean_handshake || v_channel_bound)

chan wire[2] = [CAP] of { byte, short };  // wire[i]: what peer i writes
byte wend[2];   // end marker of wire[i]
bool hole[2];   // wire[i] black-holed
byte hs[2];     // handshake frames queued in wire[i]
byte st[2];     // peer 0 client, 1 server
byte timers[2];
byte sends[2];
byte pings[2];
byte closes[2];
short rec[2];   // recorded close code, 0 before
bool clean[2];
byte faults;
short rcvd = -1;  // code of the Close being delivered (0: none), else -1
short tmp;        // scratch (inline arguments cannot be conditional expressions)
byte last = K_APP;
bool pristine = true;  // no fault, no timer, no abort, no close during the handshake
bool v_no_data_after_close;
bool v_single_close_per_direction;
bool v_no_reserved_code_on_wire;
bool v_impossible_event;
bool v_terminal_left;
bool v_timers_cleared;
bool v_no_deadlock;
bool v_clean_handshake;
bool v_channel_bound;

// Report a broken property: only the first of a step, as the Python checker does
// (every step is guarded by !violated: a violating step is not followed further).
inline fail(flag) {
    if
    :: !violated ->
        flag = true;
        assert(!flag)
    :: else -> skip
    fi
}

inline clear(d) {
    do
    :: len(wire[d]) > 0 -> wire[d]?_, _
    :: else -> break
    od;
    hs[d] = 0
}

// Put a frame on peer me's direction, checking the wire properties first.
inline emit(me, fk, fc) {
    if
    :: closes[me] > 0 && fk == F_CLOSE -> fail(v_single_close_per_direction)
    :: closes[me] > 0 && fk != F_CLOSE -> fail(v_no_data_after_close)
    :: else -> skip
    fi;
    if
    :: fk == F_CLOSE && !VALID_CLOSE(fc) -> fail(v_no_reserved_code_on_wire)
    :: else -> skip
    fi;
    if
    :: fk == F_CLOSE -> closes[me]++
    :: else -> skip
    fi;
    if
    :: wend[me] == LIVE && len(wire[me]) >= CAP -> fail(v_channel_bound)
    :: wend[me] == LIVE && len(wire[me]) < CAP -> wire[me]!fk, fc
    :: else -> skip  // the direction has ended: the frame is lost
    fi
}

inline record(me, code) {
    if
    :: rec[me] == 0 -> rec[me] = code
    :: else -> skip
    fi
}

inline abort(me) {
    clear(me);
    if
    :: wend[me] != DONE -> wend[me] = RST
    :: else -> skip
    fi;
    clear(1 - me);
    wend[1 - me] = DONE
}

// Invariants, checked after every step.
inline invariants() {
    if
    :: pristine && all_closed && !(clean[0] && clean[1] && rec[0] == rec[1]) ->
        fail(v_clean_handshake)
    :: else -> skip
    fi;
    if
    :: !all_closed && !env_enabled -> fail(v_no_deadlock)
    :: else -> skip
    fi
}

// The table, one inline per event: feed the event to peer me, perform its row.
inline on_app_send(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 111
        st[me] = S_CONNECTING
    :: st[me] == S_OPEN ->  // line 135
        sends[me]--;
        emit(me, F_DATA, 0);
        st[me] = S_OPEN
    :: st[me] == S_CLOSING ->  // line 159
        st[me] = S_CLOSING
    :: st[me] == S_CLOSE_RECEIVED ->  // line 183
        st[me] = S_CLOSE_RECEIVED
    :: st[me] == S_CLOSED ->  // line 208
        st[me] = S_CLOSED
    fi
}

inline on_app_ping(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 112
        st[me] = S_CONNECTING
    :: st[me] == S_OPEN ->  // line 136
        pings[me]--;
        emit(me, F_PING, 0);
        st[me] = S_OPEN
    :: st[me] == S_CLOSING ->  // line 160
        st[me] = S_CLOSING
    :: st[me] == S_CLOSE_RECEIVED ->  // line 184
        st[me] = S_CLOSE_RECEIVED
    :: st[me] == S_CLOSED ->  // line 209
        st[me] = S_CLOSED
    fi
}

inline on_app_recv(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 113
        st[me] = S_CONNECTING
    :: st[me] == S_OPEN ->  // line 137
        st[me] = S_OPEN
    :: st[me] == S_CLOSING ->  // line 161
        st[me] = S_CLOSING
    :: st[me] == S_CLOSE_RECEIVED ->  // line 185
        st[me] = S_CLOSE_RECEIVED
    :: st[me] == S_CLOSED ->  // line 210
        st[me] = S_CLOSED
    fi
}

inline on_app_accept(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 114
        st[me] = S_CONNECTING
    :: st[me] == S_OPEN ->  // line 138
        st[me] = S_OPEN
    :: st[me] == S_CLOSING ->  // line 162
        st[me] = S_CLOSING
    :: st[me] == S_CLOSE_RECEIVED ->  // line 186
        st[me] = S_CLOSE_RECEIVED
    :: st[me] == S_CLOSED ->  // line 211
        st[me] = S_CLOSED
    fi
}

inline on_app_close(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 116
        timers[me] = timers[me] & ~T_open_timer;
        abort(me);
        tmp = 1000;
        record(me, tmp);
        tmp = 0;
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_OPEN ->  // line 140
        timers[me] = timers[me] & ~T_keepalive;
        emit(me, F_CLOSE, 1000);
        timers[me] = timers[me] | T_close_timer;
        tmp = 1000;
        record(me, tmp);
        tmp = 0;
        st[me] = S_CLOSING
    :: st[me] == S_CLOSING ->  // line 164
        st[me] = S_CLOSING
    :: st[me] == S_CLOSE_RECEIVED ->  // line 188
        st[me] = S_CLOSE_RECEIVED
    :: st[me] == S_CLOSED ->  // line 213
        st[me] = S_CLOSED
    fi
}

inline on_app_close_invalid(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 117
        st[me] = S_CONNECTING
    :: st[me] == S_OPEN ->  // line 141
        st[me] = S_OPEN
    :: st[me] == S_CLOSING ->  // line 165
        st[me] = S_CLOSING
    :: st[me] == S_CLOSE_RECEIVED ->  // line 189
        st[me] = S_CLOSE_RECEIVED
    :: st[me] == S_CLOSED ->  // line 214
        st[me] = S_CLOSED
    fi
}

inline on_app_abort(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 118
        timers[me] = timers[me] & ~T_open_timer;
        abort(me);
        tmp = 1006;
        record(me, tmp);
        tmp = 0;
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_OPEN ->  // line 142
        timers[me] = timers[me] & ~T_keepalive;
        abort(me);
        tmp = 1006;
        record(me, tmp);
        tmp = 0;
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSING ->  // line 166
        timers[me] = timers[me] & ~T_close_timer;
        abort(me);
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSE_RECEIVED ->  // line 190
        timers[me] = timers[me] & ~T_close_timer;
        abort(me);
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSED ->  // line 215
        st[me] = S_CLOSED
    fi
}

inline on_handshake_ok(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 119
        timers[me] = timers[me] & ~T_open_timer;
        timers[me] = timers[me] | T_keepalive;
        st[me] = S_OPEN
    :: st[me] == S_OPEN ->  // line 143
        fail(v_impossible_event)
    :: st[me] == S_CLOSING ->  // line 167
        fail(v_impossible_event)
    :: st[me] == S_CLOSE_RECEIVED ->  // line 191
        fail(v_impossible_event)
    :: st[me] == S_CLOSED ->  // line 216
        st[me] = S_CLOSED
    fi
}

inline on_handshake_fail(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 120
        timers[me] = timers[me] & ~T_open_timer;
        abort(me);
        tmp = (rcvd > 0 -> rcvd : (rcvd == 0 -> 1005 : 1006));
        record(me, tmp);
        tmp = 0;
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_OPEN ->  // line 144
        fail(v_impossible_event)
    :: st[me] == S_CLOSING ->  // line 168
        fail(v_impossible_event)
    :: st[me] == S_CLOSE_RECEIVED ->  // line 192
        fail(v_impossible_event)
    :: st[me] == S_CLOSED ->  // line 217
        st[me] = S_CLOSED
    fi
}

inline on_peer_data(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 121
        fail(v_impossible_event)
    :: st[me] == S_OPEN ->  // line 145
        st[me] = S_OPEN
    :: st[me] == S_CLOSING ->  // line 169
        st[me] = S_CLOSING
    :: st[me] == S_CLOSE_RECEIVED ->  // line 193
        fail(v_impossible_event)
    :: st[me] == S_CLOSED ->  // line 207
        st[me] = S_CLOSED
    fi
}

inline on_peer_close(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 122
        fail(v_impossible_event)
    :: st[me] == S_OPEN ->  // line 146
        timers[me] = timers[me] & ~T_keepalive;
        tmp = (rcvd > 0 -> rcvd : 0);
        emit(me, F_CLOSE, tmp);
        tmp = 0;
        if :: wend[me] == LIVE -> wend[me] = FIN :: else -> skip fi;
        timers[me] = timers[me] | T_close_timer;
        tmp = (rcvd > 0 -> rcvd : (rcvd == 0 -> 1005 : 1006));
        record(me, tmp);
        tmp = 0;
        clean[me] = true;
        st[me] = S_CLOSE_RECEIVED
    :: st[me] == S_CLOSING ->  // line 170
        timers[me] = timers[me] & ~T_close_timer;
        if :: wend[me] == LIVE -> wend[me] = FIN :: else -> skip fi;
        clean[me] = true;
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSE_RECEIVED ->  // line 194
        fail(v_impossible_event)
    :: st[me] == S_CLOSED ->  // line 207
        st[me] = S_CLOSED
    fi
}

inline on_peer_close_invalid(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 123
        fail(v_impossible_event)
    :: st[me] == S_OPEN ->  // line 147
        timers[me] = timers[me] & ~T_keepalive;
        emit(me, F_CLOSE, 1002);
        if :: wend[me] == LIVE -> wend[me] = FIN :: else -> skip fi;
        tmp = (rcvd > 0 -> rcvd : (rcvd == 0 -> 1005 : 1006));
        record(me, tmp);
        tmp = 0;
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSING ->  // line 171
        timers[me] = timers[me] & ~T_close_timer;
        if :: wend[me] == LIVE -> wend[me] = FIN :: else -> skip fi;
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSE_RECEIVED ->  // line 195
        fail(v_impossible_event)
    :: st[me] == S_CLOSED ->  // line 207
        st[me] = S_CLOSED
    fi
}

inline on_peer_protocol_error(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 124
        fail(v_impossible_event)
    :: st[me] == S_OPEN ->  // line 148
        timers[me] = timers[me] & ~T_keepalive;
        emit(me, F_CLOSE, 1002);
        if :: wend[me] == LIVE -> wend[me] = FIN :: else -> skip fi;
        tmp = (rcvd > 0 -> rcvd : (rcvd == 0 -> 1005 : 1006));
        record(me, tmp);
        tmp = 0;
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSING ->  // line 172
        timers[me] = timers[me] & ~T_close_timer;
        if :: wend[me] == LIVE -> wend[me] = FIN :: else -> skip fi;
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSE_RECEIVED ->  // line 196
        timers[me] = timers[me] & ~T_close_timer;
        abort(me);
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSED ->  // line 207
        st[me] = S_CLOSED
    fi
}

inline on_transport_eof(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 125
        timers[me] = timers[me] & ~T_open_timer;
        if :: wend[me] == LIVE -> wend[me] = FIN :: else -> skip fi;
        record(me, 1006);
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_OPEN ->  // line 149
        timers[me] = timers[me] & ~T_keepalive;
        if :: wend[me] == LIVE -> wend[me] = FIN :: else -> skip fi;
        record(me, 1006);
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSING ->  // line 173
        timers[me] = timers[me] & ~T_close_timer;
        if :: wend[me] == LIVE -> wend[me] = FIN :: else -> skip fi;
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSE_RECEIVED ->  // line 197
        timers[me] = timers[me] & ~T_close_timer;
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSED ->  // line 207
        st[me] = S_CLOSED
    fi
}

inline on_transport_error(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 126
        timers[me] = timers[me] & ~T_open_timer;
        abort(me);
        record(me, 1006);
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_OPEN ->  // line 150
        timers[me] = timers[me] & ~T_keepalive;
        abort(me);
        record(me, 1006);
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSING ->  // line 174
        timers[me] = timers[me] & ~T_close_timer;
        abort(me);
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSE_RECEIVED ->  // line 198
        timers[me] = timers[me] & ~T_close_timer;
        abort(me);
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSED ->  // line 207
        st[me] = S_CLOSED
    fi
}

inline on_transport_stalled(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 127
        fail(v_impossible_event)
    :: st[me] == S_OPEN ->  // line 151
        timers[me] = timers[me] & ~T_keepalive;
        emit(me, F_CLOSE, 1008);
        timers[me] = timers[me] | T_close_timer;
        record(me, 1008);
        st[me] = S_CLOSING
    :: st[me] == S_CLOSING ->  // line 175
        st[me] = S_CLOSING
    :: st[me] == S_CLOSE_RECEIVED ->  // line 199
        timers[me] = timers[me] & ~T_close_timer;
        abort(me);
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSED ->  // line 207
        st[me] = S_CLOSED
    fi
}

inline on_open_timeout(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 128
        abort(me);
        record(me, 1006);
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_OPEN ->  // line 152
        fail(v_impossible_event)
    :: st[me] == S_CLOSING ->  // line 176
        fail(v_impossible_event)
    :: st[me] == S_CLOSE_RECEIVED ->  // line 200
        fail(v_impossible_event)
    :: st[me] == S_CLOSED ->  // line 207
        st[me] = S_CLOSED
    fi
}

inline on_close_timeout(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 129
        fail(v_impossible_event)
    :: st[me] == S_OPEN ->  // line 153
        fail(v_impossible_event)
    :: st[me] == S_CLOSING ->  // line 177
        abort(me);
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSE_RECEIVED ->  // line 201
        abort(me);
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSED ->  // line 207
        st[me] = S_CLOSED
    fi
}

inline on_keepalive_timeout(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 130
        fail(v_impossible_event)
    :: st[me] == S_OPEN ->  // line 154
        timers[me] = timers[me] & ~T_keepalive;
        emit(me, F_CLOSE, 1011);
        timers[me] = timers[me] | T_close_timer;
        record(me, 1011);
        st[me] = S_CLOSING
    :: st[me] == S_CLOSING ->  // line 178
        fail(v_impossible_event)
    :: st[me] == S_CLOSE_RECEIVED ->  // line 202
        fail(v_impossible_event)
    :: st[me] == S_CLOSED ->  // line 207
        st[me] = S_CLOSED
    fi
}

inline on_library_close(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 131
        fail(v_impossible_event)
    :: st[me] == S_OPEN ->  // line 155
        timers[me] = timers[me] & ~T_keepalive;
        emit(me, F_CLOSE, 0);
        timers[me] = timers[me] | T_close_timer;
        tmp = 1005;
        record(me, tmp);
        tmp = 0;
        st[me] = S_CLOSING
    :: st[me] == S_CLOSING ->  // line 179
        st[me] = S_CLOSING
    :: st[me] == S_CLOSE_RECEIVED ->  // line 203
        fail(v_impossible_event)
    :: st[me] == S_CLOSED ->  // line 207
        st[me] = S_CLOSED
    fi
}

inline on_app_accept_again(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 115
        st[me] = S_CONNECTING
    :: st[me] == S_OPEN ->  // line 139
        st[me] = S_OPEN
    :: st[me] == S_CLOSING ->  // line 163
        st[me] = S_CLOSING
    :: st[me] == S_CLOSE_RECEIVED ->  // line 187
        st[me] = S_CLOSE_RECEIVED
    :: st[me] == S_CLOSED ->  // line 212
        st[me] = S_CLOSED
    fi
}

inline on_library_close_peer_fault(me) {
    if
    :: st[me] == S_CONNECTING ->  // line 132
        fail(v_impossible_event)
    :: st[me] == S_OPEN ->  // line 156
        timers[me] = timers[me] & ~T_keepalive;
        emit(me, F_CLOSE, 0);
        if :: wend[me] == LIVE -> wend[me] = FIN :: else -> skip fi;
        tmp = (rcvd > 0 -> rcvd : (rcvd == 0 -> 1005 : 1006));
        record(me, tmp);
        tmp = 0;
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSING ->  // line 180
        timers[me] = timers[me] & ~T_close_timer;
        if :: wend[me] == LIVE -> wend[me] = FIN :: else -> skip fi;
        if :: timers[me] != 0 -> fail(v_timers_cleared) :: else -> skip fi;
        st[me] = S_CLOSED
    :: st[me] == S_CLOSE_RECEIVED ->  // line 204
        fail(v_impossible_event)
    :: st[me] == S_CLOSED ->  // line 207
        st[me] = S_CLOSED
    fi
}

// One peer: its application's calls, what it reads, its timers, a slow reader.
proctype Peer(byte me) {
    byte k;
    short c;
end:
    do
    :: d_step { !violated && (sends[me] > 0 || !SEND_TX(st[me])) ->
        last = K_APP;
        on_app_send(me);
        invariants()
    }
    :: d_step { !violated && (pings[me] > 0 || !PING_TX(st[me])) ->
        last = K_APP;
        on_app_ping(me);
        invariants()
    }
    :: d_step { !violated ->
        last = K_APP;
        on_app_recv(me);
        invariants()
    }
    :: d_step { !violated ->
        last = K_APP;
        on_app_accept(me);
        invariants()
    }
    :: d_step { !violated ->
        last = K_APP;
        if :: st[me] == S_CONNECTING -> pristine = false :: else -> skip fi;
        on_app_close(me);
        invariants()
    }
    :: d_step { !violated ->
        last = K_APP;
        on_app_close_invalid(me);
        invariants()
    }
    :: d_step { !violated ->
        last = K_APP;
        pristine = false;
        on_app_abort(me);
        invariants()
    }
    :: d_step { !violated ->
        last = K_APP;
        on_app_accept_again(me);
        invariants()
    }
    :: d_step { !violated && !hole[1 - me] && len(wire[1 - me]) > 0 ->
        last = K_ENV;
        wire[1 - me]?k, c;
        if
        :: k == F_REQ ->
            hs[1 - me] = 0;
            // the server accepting the handshake writes the 101 response first
            if
            :: wend[me] == LIVE && len(wire[me]) >= CAP -> fail(v_channel_bound)
            :: wend[me] == LIVE && len(wire[me]) < CAP -> wire[me]!F_RESP, 0; hs[me] = 1
            :: else -> skip
            fi;
            on_handshake_ok(me)
        :: k == F_RESP -> hs[1 - me] = 0; on_handshake_ok(me)
        :: k == F_DATA -> on_peer_data(me)
        :: k == F_PING -> skip  // answered below the machine
        :: k == F_CLOSE && VALID_CLOSE(c) -> rcvd = c; on_peer_close(me)
        :: k == F_CLOSE && !VALID_CLOSE(c) -> rcvd = c; on_peer_close_invalid(me)
        fi;
        k = 0;
        c = 0;
        rcvd = -1;
        invariants()
    }
    :: d_step { !violated && !hole[1 - me] && len(wire[1 - me]) == 0 && (wend[1 - me] == FIN || wend[1 - me] == RST) ->
        last = K_ENV;
        if
        :: wend[1 - me] == FIN -> wend[1 - me] = DONE; on_transport_eof(me)
        :: else -> wend[1 - me] = DONE; on_transport_error(me)
        fi;
        invariants()
    }
    :: d_step { !violated && (timers[me] & T_open_timer) != 0 ->
        last = K_ENV;
        pristine = false;
        timers[me] = timers[me] & ~T_open_timer;
        on_open_timeout(me);
        invariants()
    }
    :: d_step { !violated && (timers[me] & T_close_timer) != 0 ->
        last = K_ENV;
        pristine = false;
        timers[me] = timers[me] & ~T_close_timer;
        on_close_timeout(me);
        invariants()
    }
    :: d_step { !violated && (timers[me] & T_keepalive) != 0 ->
        last = K_ENV;
        pristine = false;
        timers[me] = timers[me] & ~T_keepalive;
        on_keepalive_timeout(me);
        invariants()
    }
    :: d_step { !violated && (faults > 0 || hole[me]) && (wend[me] == LIVE || wend[me] == FIN) && len(wire[me]) > hs[me] ->
        last = K_FAULT;
        pristine = false;
        if :: !hole[me] -> faults-- :: else -> skip fi;
        on_transport_stalled(me);
        invariants()
    }
    od
}

// Faults: at most FAULTS of them, at any point.
proctype Faults() {
    byte k;
    short c;
end:
    do
    :: d_step { !violated && faults > 0 && (wend[0] == LIVE || wend[0] == FIN || wend[1] == LIVE || wend[1] == FIN) ->
        // TCP reset: frames in flight are lost, both peers see transport_error
        last = K_FAULT;
        pristine = false;
        faults--;
        clear(0);
        clear(1);
        if :: wend[0] != DONE -> wend[0] = RST :: else -> skip fi;
        if :: wend[1] != DONE -> wend[1] = RST :: else -> skip fi;
        invariants()
    }
    :: d_step { !violated && faults > 0 && wend[0] == LIVE ->
        // FIN without a Close on wire[0]
        last = K_FAULT;
        pristine = false;
        faults--;
        wend[0] = FIN;
        invariants()
    }
    :: d_step { !violated && faults > 0 && wend[1] == LIVE ->
        // FIN without a Close on wire[1]
        last = K_FAULT;
        pristine = false;
        faults--;
        wend[1] = FIN;
        invariants()
    }
    :: d_step { !violated && faults > 0 && !hole[0] && wend[0] != DONE ->
        // black hole: wire[0] silently stops delivering
        last = K_FAULT;
        pristine = false;
        faults--;
        hole[0] = true;
        invariants()
    }
    :: d_step { !violated && faults > 0 && !hole[1] && wend[1] != DONE ->
        // black hole: wire[1] silently stops delivering
        last = K_FAULT;
        pristine = false;
        faults--;
        hole[1] = true;
        invariants()
    }
    :: d_step { !violated && faults > 0 && !hole[0] && !hole[1] && wend[0] != DONE && wend[1] != DONE ->
        // black hole both ways
        last = K_FAULT;
        pristine = false;
        faults--;
        hole[0] = true;
        hole[1] = true;
        invariants()
    }
    :: d_step { !violated && faults > 0 && !hole[0] && len(wire[0]) > 0 ->
        // the frame at the head of wire[0] arrives corrupted
        last = K_FAULT;
        pristine = false;
        faults--;
        wire[0]?k, c;
        if
        :: k == F_REQ || k == F_RESP -> hs[0] = 0; on_handshake_fail(1)
        :: k == F_DATA || k == F_PING -> on_peer_protocol_error(1)
        :: k == F_CLOSE -> rcvd = c; on_peer_close_invalid(1)
        fi;
        k = 0;
        c = 0;
        rcvd = -1;
        invariants()
    }
    :: d_step { !violated && faults > 0 && !hole[1] && len(wire[1]) > 0 ->
        // the frame at the head of wire[1] arrives corrupted
        last = K_FAULT;
        pristine = false;
        faults--;
        wire[1]?k, c;
        if
        :: k == F_REQ || k == F_RESP -> hs[1] = 0; on_handshake_fail(0)
        :: k == F_DATA || k == F_PING -> on_peer_protocol_error(0)
        :: k == F_CLOSE -> rcvd = c; on_peer_close_invalid(0)
        fi;
        k = 0;
        c = 0;
        rcvd = -1;
        invariants()
    }
    :: faults == 0 -> break
    od
}

init {
    d_step {
        st[0] = S_CONNECTING;
        timers[0] = 1;
        sends[0] = SENDS;
        pings[0] = PINGS;
        st[1] = S_CONNECTING;
        timers[1] = 1;
        sends[1] = SENDS;
        pings[1] = PINGS;
        faults = FAULTS;
        wire[0]!F_REQ, 0;
        hs[0] = 1
    };
    atomic {
        run Peer(0);
        run Peer(1);
        run Faults()
    }
}

ltl safety { [] !violated }
ltl termination { (<>[] (last == K_ENV)) -> <> all_closed }
