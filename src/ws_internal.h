/*
 * src/ws_internal.h - the connection driver (ws.c) as the server and the
 * client use it (internal, never installed).
 *
 * A wsio_ws is one connection of a server or a client. Its state only moves
 * forward: HANDSHAKE (opening handshake, or client TCP connect) -> OPEN
 * (conn exists, on_open was called) -> CLOSED (on_close was called, or the
 * peer never saw a WebSocket: the remaining output is flushed, our sending
 * side shut down and the socket read until EOF, bounded by a timer) -> DEAD
 * (transport closed, waiting for the end of the turn to be released).
 */
#ifndef WSIO_WS_INTERNAL_H
#define WSIO_WS_INTERNAL_H

#include "conn_internal.h"
#include "internal.h"
#include "loop_internal.h"
#include "wsio/conn.h"
#include "wsio/transport.h"
#include "wsio/ws.h"

/* ---- peer addresses (ws_addr.c) ------------------------------------------ */

/* An IP address, binary, as the socket or a proxy gave it: IPv4-mapped
 * IPv6 stays IPv6 (its text is what inet_ntop writes for the socket's). */
typedef struct wsio__addr {
    uint8_t family;  /* 4 or 6; 0: none (a client not yet connected) */
    uint8_t bin[16]; /* network order; 4 bytes used for IPv4 */
} wsio__addr;

/* Room for an address as text (INET6_ADDRSTRLEN). */
#define WSIO__ADDR_TEXT 46

/* A struct sockaddr_in or _in6 (sa) to *out and *port. Returns 1, or 0
 * (out zeroed, *port 0) for another family. */
int wsio__addr_from_sockaddr(const void *sa, wsio__addr *out, uint16_t *port);
/* inet_pton of IPv4 or IPv6 text, nothing folded. Returns 1 or 0. */
int wsio__addr_from_text(const char *text, wsio__addr *out);
/* inet_ntop's text of a into out; "" for none. Returns out. */
const char *wsio__addr_format(const wsio__addr *a, char out[WSIO__ADDR_TEXT]);
/* a with IPv4-mapped IPv6 (::ffff:a.b.c.d) folded to IPv4, so that a
 * dual-stack listener's peers match IPv4 rules and groups. */
wsio__addr wsio__addr_unmapped(const wsio__addr *a);

/* ---- the connection driver (ws.c) ---------------------------------------- */

enum wsio__ws_state {
    WSIO__WS_HANDSHAKE = 0,
    WSIO__WS_OPEN = 1,
    WSIO__WS_CLOSED = 2,
    WSIO__WS_DEAD = 3
};

/* What differs between a server's connections and a client. */
typedef struct wsio__ws_class {
    /* HANDSHAKE: readiness while ws->connecting: a client's TCP connect
     * in progress, or a server's wait for the PROXY header. */
    void (*connected)(wsio_ws *ws, unsigned events);
    /* HANDSHAKE: bytes of the request (server) or response (client). buf
     * may be modified and is valid only during the call. */
    void (*handshake_bytes)(wsio_ws *ws, uint8_t *buf, size_t n);
    /* The ws leaves OPEN, before the user's on_close. */
    void (*left_open)(wsio_ws *ws);
    /* The transport was closed (the ws is DEAD). */
    void (*transport_closed)(wsio_ws *ws);
    /* Free the memory; runs at the end of the turn. */
    void (*release)(wsio_ws *ws);
    /* Read each peer no faster than it reads us (the output marks), and
     * answer a failed handshake over HTTP (the server); or always read and
     * report a failed handshake to on_close (the client). */
    uint8_t answers_handshake;
    /* Where the ws's conn goes: this many bytes after the start of the
     * ws, in the role's own allocation, room for wsio__conn_size of its
     * role (one block per connection). */
    size_t conn_room;
} wsio__ws_class;

/* What the connections of one server or client did, summed: the role owns
 * it and reads it (wsio_server_get_stats). */
typedef struct wsio__ws_counters {
    uint64_t messages_in, messages_out;
    uint64_t bytes_in, bytes_out;
    uint64_t messages_dropped; /* by the backpressure policy */
    uint64_t slow_disconnects; /* closed with 1008 for reading slowly */
} wsio__ws_counters;

/* Settings shared by every connection of one server, or one client. */
typedef struct wsio__ws_common {
    const wsio__ws_class *cls;
    wsio_loop *loop; /* every connection's (one role object, one loop) */
    wsio_ws_callbacks cb;
    void *user; /* the server's or client's user pointer */
    wsio_conn_config conn;
    wsio_http_limits http;
    uint32_t close_timeout_ms;
    uint32_t idle_timeout_ms; /* 0: off */
    uint32_t handshake_timeout_ms;
    size_t max_output;
    size_t low_water;
    enum wsio_backpressure_policy policy;
    size_t max_queued; /* QUEUE's hard cap; 0: 4 x max_output */
    const wsio_transport_ops *transport;
    void *transport_ctx;
    wsio__ws_counters *counters;     /* the role's, or NULL: not counted */
    const wsio_deflate_ext *deflate; /* permessage-deflate, or NULL */
    const wsio_mem *buffer_mem;      /* for each connection's wsio_conn */
    wsio__conn_env conn_env;         /* what each wsio_conn reads where it is
                                        (wsio__ws_common_ready) */
} wsio__ws_common;

/* Fill m->conn_env from the rest of m: the role calls it once every other
 * field is set, before any connection opens. */
void wsio__ws_common_ready(wsio__ws_common *m);

/*
 * One connection, embedded in its role's wrapper (server_conn.h, the
 * client's in client.c). Field order keeps the hot fields together.
 */
struct wsio_ws {
    /* The first 64 bytes: what every read and flush looks at. */
    wsio__io io;
    wsio_transport tr;
    const wsio__ws_common *common; /* and its loop: common->loop */
    /* State and flags, in bits (every connection holds them). */
    unsigned state : 2;         /* enum wsio__ws_state */
    _Bool has_conn : 1;         /* the conn is built at common->cls->conn_room
                                   (wsio__ws_conn) */
    _Bool over_mark : 1;        /* went over max_output: on_drain due */
    _Bool paused : 1;           /* wsio_ws_pause */
    _Bool peer_eof : 1;         /* closed: the peer's EOF came first */
    _Bool read_needs_write : 1; /* a read waits for WRITE readiness (TLS) */
    _Bool write_needs_read : 1; /* a write waits for READ readiness (TLS) */
    _Bool pinged : 1;           /* heartbeat: a ping went out ... */
    _Bool pong_seen : 1;        /* ... and its pong came back */
    _Bool queued_at_ping : 1;   /* heartbeat: conn bytes were queued when
                                   it last pinged ... */
    _Bool wrote_since_ping : 1; /* ... and the transport took some since */
    _Bool ping_out : 1;         /* heartbeat: ping_sent_us is its stamp */
    _Bool lingering : 1;        /* our sending side is shut down */
    _Bool terminating : 1;      /* inside wsio_ws_terminate */
    _Bool connecting : 1;       /* class's connected hook gets readiness:
                                   client TCP connect, server PROXY header */
    _Bool tr_handshake : 1;     /* the transport's handshake (TLS) runs */
    _Bool pmd_on : 1;           /* permessage-deflate was agreed (its
                                   parameters: wsio__ws_pmd) */
    unsigned cls_bits : 2;      /* the class's own (server_conn.h) */
    _Bool side_is_raw : 1;      /* side is the raw output */
    /* The clocks keep 32 bits (wsio__since32): intervals up to 49.7 days
     * in ms, 71.5 minutes in us. */
    uint32_t last_rx; /* wsio__loop_now (ms) of the last read (idle) */
    void *user;       /* wsio_ws_get_user */
    /* Bytes read and not yet fed, or NULL (most of the time: made when
     * the conn does not take a read whole, freed once fed; ws_shared.h). */
    struct wsio__rx_keep *rx_keep;
    wsio__turn_task flush_task; /* flush at the end of the turn */
    /* One at a time: the timer until the ws is DEAD (stopped there, never
     * started again), then its release at the end of the turn. */
    union {
        wsio__timer timer; /* handshake, idle, close or linger */
        wsio__deferred defer;
    };
    uint32_t ping_sent_us; /* heartbeat ping in flight (ping_out): stamp */
    uint32_t rtt_us;       /* last heartbeat round trip, or 0 */
    /* One pointer for two things most connections hold neither of for
     * long: the raw output (wsio__ws_raw) while side_is_raw, else the
     * extras (wsio__ws_extras), which then hold the raw output; or NULL. */
    void *side;
    uint16_t port;
    int16_t fail_err; /* terminate with this (an error code: -4999 to -1)
                         at the next timer */
    wsio__addr addr;  /* the peer's (text: ws_extras.c) */
};

/* The ws's conn (from OPEN on, in its role's block; freed with the ws), or
 * NULL. */
static inline wsio_conn *wsio__ws_conn(const wsio_ws *ws)
{
    return ws->has_conn ? (wsio_conn *)((char *)ws + ws->common->cls->conn_room)
                        : NULL;
}

/* Time from a 32-bit stamp (the low bits of a clock) to now on that clock:
 * exact across the stamp's wrap for intervals below 2^32 units. */
static inline uint32_t wsio__since32(uint64_t now, uint32_t stamp)
{
    return (uint32_t)now - stamp;
}

/* Whether payload, a 64-bit microsecond stamp, is the one kept as stamp
 * (its low 32 bits): equal low bits and at most 2^32 - 1 us old. */
static inline int wsio__stamp_is(uint64_t payload, uint32_t stamp, uint64_t now)
{
    return (uint32_t)payload == stamp && payload <= now &&
           now - payload <= UINT32_MAX;
}

/*
 * HANDSHAKE's own state. Until OPEN builds the conn in the conn's room of
 * the block (common->cls->conn_room), that room is unused: the handshake
 * keeps its state there (zeroed by wsio__ws_init), so no connection carries
 * it after OPEN. wsio__ws_open moves what it still needs to the stack.
 */
typedef struct wsio__ws_handshake {
    uint8_t *in; /* handshake bytes received, or NULL */
    uint32_t in_len;
    uint16_t http_status; /* client: the server's status */
} wsio__ws_handshake;

/* The handshake state: only while !has_conn. */
static inline wsio__ws_handshake *wsio__ws_hs(const wsio_ws *ws)
{
    return (wsio__ws_handshake *)((char *)ws + ws->common->cls->conn_room);
}

/* Free the handshake's received bytes, if the handshake state is there. */
void wsio__ws_hs_drop(wsio_ws *ws);

/* Bytes sent before the conn's output: the handshake's request or
 * answer (the 101 may still be going out after OPEN). */
typedef struct wsio__raw_out {
    uint32_t len, off; /* bytes[off..len) are still to send */
    uint8_t bytes[];
} wsio__raw_out;

/* What only some connections need, in one block (ws_extras.c). */
struct wsio__ws_extras {
    wsio__raw_out *raw_out;  /* the ws's, while it has extras */
    char *addr_text;         /* wsio_ws_remote_addr's, or NULL */
    wsio_deflate_params pmd; /* when ws->pmd_on */
    char subprotocol[];      /* "" when none */
};

/* The ws's extras, or NULL. */
static inline struct wsio__ws_extras *wsio__ws_extras(const wsio_ws *ws)
{
    return ws->side_is_raw ? NULL : (struct wsio__ws_extras *)ws->side;
}

/* The bytes to send before the conn's, or NULL. */
static inline wsio__raw_out *wsio__ws_raw(const wsio_ws *ws)
{
    if (ws->side_is_raw)
        return (wsio__raw_out *)ws->side;
    return ws->side ? ((struct wsio__ws_extras *)ws->side)->raw_out : NULL;
}

/* Room for len bytes to send before anything else, replacing what was not
 * sent yet; the caller writes them at the pointer returned. NULL (nothing
 * changed) without memory. */
uint8_t *wsio__ws_raw_new(wsio_ws *ws, size_t len);
/* Forget the bytes not sent yet. */
void wsio__ws_raw_drop(wsio_ws *ws);
/* Make r (or NULL) the ws's raw output, in ws->side or its extras. */
void wsio__ws_raw_set(wsio_ws *ws, wsio__raw_out *r);

/* Set up ws (zeroed memory) for fd on loop (common->loop); watch it for
 * events (0: not yet, see wsio__ws_accepted). fd -1: no socket yet (a
 * client still resolving or dialing; wsio__ws_set_fd gives it one).
 * Returns 0 or an error (the fd is then still the caller's). */
int wsio__ws_init(wsio_ws *ws, wsio_loop *loop, const wsio__ws_common *common,
                  int fd, enum wsio_role role, unsigned events);
/* Give an initialised ws without a socket its fd: open the transport
 * (server_name: the transport's open) and watch fd for events. Returns 0
 * or an error (fd is still the caller's). */
int wsio__ws_set_fd(wsio_ws *ws, int fd, enum wsio_role role,
                    const char *server_name, unsigned events);
/* HANDSHAKE -> OPEN: make the conn (over the handshake state, whose
 * received bytes, which rest may point into, are freed once rest is fed),
 * call on_open, then feed rest (bytes that followed the handshake head).
 * Returns 0, or WSIO_ENOMEM with the handshake state as it was. */
int wsio__ws_open(wsio_ws *ws, enum wsio_role role, uint8_t *rest,
                  size_t rest_len);
/* Queue raw handshake bytes (copied) before anything else. */
int wsio__ws_queue_raw(wsio_ws *ws, const void *data, size_t len);
/* HANDSHAKE ends without a WebSocket: flush what is queued, then close.
 * A client's on_close reports err. */
void wsio__ws_finish_handshake_fail(wsio_ws *ws, int err);
/* Terminate ws from a later timer tick (for loops that must not run user
 * callbacks, such as broadcast and heartbeat). */
void wsio__ws_fail_soon(wsio_ws *ws, int err);
/* Start the transport's own handshake (TLS), if it has one, before any
 * WebSocket bytes; a client calls this once TCP is connected. */
void wsio__ws_start_transport(wsio_ws *ws);
/* A server socket just accepted, plain, not watched yet. data_waiting
 * (TCP_DEFER_ACCEPT: its first bytes are there): read it now rather than
 * after a readiness round, which would cost a wake-up; without, a read
 * would mostly find nothing. Either way the end of the turn watches it
 * once, for what is left to do (the answer queued or not). */
void wsio__ws_accepted(wsio_ws *ws, int data_waiting);
/* Add ws to the loop's flush list. */
void wsio__ws_mark_dirty(wsio_ws *ws);
/* Heartbeat (server.c): a ping goes out now; and whether the peer has
 * shown it is alive since the last one: its pong, or, while we do not read
 * it by our own choice (paused, output over the mark), that it is held
 * back by us or reads what we send (docs/limits.md). */
void wsio__ws_note_ping(wsio_ws *ws);
int wsio__ws_heard_from(const wsio_ws *ws);
/* Send an encoded broadcast frame with the backpressure policy; returns a
 * wsio_send_result or an error. */
int wsio__ws_send_encoded(wsio_ws *ws, wsio_rcbuf *frame);
/* Queue an encoded frame whatever the output holds, untagged (no topic
 * policy removes it): a stream's replay (server_stream.c), which its
 * window bounds. Returns a wsio_send_result or an error. */
int wsio__ws_send_replay(wsio_ws *ws, wsio_rcbuf *frame);
/* The most unsent bytes a transport may hold unreported (one TLS record's
 * plaintext, RFC 8446 section 5.1): topic policies never remove messages
 * that start within them. */
#define WSIO__TRANSPORT_HELD_MAX 16384u
/* Send an encoded frame tagged tag (0: none) under policy (over the mark,
 * DROP drops it, CLOSE closes ws with 1008 and sets *closed; QUEUE is
 * DROP: a frame for many never queues past the mark). Returns a
 * wsio_send_result or an error. */
int wsio__ws_send_shared(wsio_ws *ws, wsio_rcbuf *frame, uint64_t tag,
                         enum wsio_backpressure_policy policy, int *closed);
/* Queue an encoded frame tagged tag (not 0) even over the mark, first
 * removing queued messages with the same tag: all of them (all), or as
 * many as takes the output back to the mark. Never removes a message
 * partly written or that the transport may hold. *evicted: how many went.
 * Returns a wsio_send_result or an error. */
int wsio__ws_send_evicting(wsio_ws *ws, wsio_rcbuf *frame, uint64_t tag,
                           int all, size_t *evicted);
/* Queue a heartbeat ping whose payload (8 bytes, the loop's microsecond
 * clock, big-endian) identifies it, so its pong gives the round trip.
 * Returns what wsio_ws_ping does. */
int wsio__ws_ping_timed(wsio_ws *ws);
/* Arm the ws timer for the current state. */
void wsio__ws_arm(wsio_ws *ws, uint32_t ms);
/* ---- the extras (ws_extras.c) ---------------------------------------------
 */

/* What the handshake agreed: the subprotocol (sub_len bytes at sub; 0:
 * none) and the permessage-deflate parameters (pmd, or NULL: none; sets
 * pmd_on). Kept in the ws's extras block, made only when there is one of
 * them. Returns 0, or WSIO_ENOMEM with nothing changed. */
int wsio__ws_set_agreed(wsio_ws *ws, const char *sub, size_t sub_len,
                        const wsio_deflate_params *pmd);
/* The agreed permessage-deflate parameters (only while pmd_on). */
const wsio_deflate_params *wsio__ws_pmd(const wsio_ws *ws);
/* Free the extras (wsio__ws_cleanup). */
void wsio__ws_extras_free(wsio_ws *ws);

/* Release the ws's own resources (conn, buffers); used by release. */
void wsio__ws_cleanup(wsio_ws *ws);

#endif /* WSIO_WS_INTERNAL_H */
