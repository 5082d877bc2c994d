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
    wsio__io io;
    wsio_transport tr;
    wsio_conn *conn;               /* from OPEN on; freed with the ws */
    const wsio__ws_common *common; /* and its loop: common->loop */
    void *user;                    /* wsio_ws_get_user */
    wsio__turn_task flush_task;    /* flush at the end of the turn */
    /* One at a time: the timer until the ws is DEAD (stopped there, never
     * started again), then its release at the end of the turn. */
    union {
        wsio__timer timer; /* handshake, idle, close or linger */
        wsio__deferred defer;
    };
    uint64_t last_rx;      /* loop clock of the last read (idle) */
    uint64_t ping_sent_us; /* heartbeat ping in flight: its stamp, or 0 */
    uint64_t rtt_us;       /* last heartbeat round trip, or 0 */
    /* Bytes read and not yet fed, or NULL (most of the time: made when
     * the conn does not take a read whole, freed once fed; ws_shared.h). */
    struct wsio__rx_keep *rx_keep;
    uint8_t *hs_in;  /* handshake bytes received, or NULL */
    uint8_t *hs_out; /* handshake bytes to send, or NULL */
    uint32_t hs_in_len, hs_out_len, hs_out_off;
    wsio_deflate_params pmd; /* permessage-deflate, when pmd_on */
    char *subprotocol;       /* negotiated, or NULL */
    uint16_t port;
    uint16_t http_status; /* client: the server's status */
    int16_t fail_err;     /* terminate with this (an error code: -4999 to
                             -1) at the next timer */
    /* State and flags, in bits (every connection holds them). */
    unsigned state : 2;         /* enum wsio__ws_state */
    _Bool over_mark : 1;        /* went over max_output: on_drain due */
    _Bool pinged : 1;           /* heartbeat: a ping went out ... */
    _Bool pong_seen : 1;        /* ... and its pong came back */
    _Bool lingering : 1;        /* our sending side is shut down */
    _Bool terminating : 1;      /* inside wsio_ws_terminate */
    _Bool connecting : 1;       /* class's connected hook gets readiness:
                                   client TCP connect, server PROXY header */
    _Bool peer_eof : 1;         /* closed: the peer's EOF came first */
    _Bool tr_handshake : 1;     /* the transport's handshake (TLS) runs */
    _Bool read_needs_write : 1; /* a read waits for WRITE readiness (TLS) */
    _Bool write_needs_read : 1; /* a write waits for READ readiness (TLS) */
    _Bool pmd_on : 1;           /* permessage-deflate was agreed */
    _Bool paused : 1;           /* wsio_ws_pause */
    _Bool queued_at_ping : 1;   /* heartbeat: conn bytes were queued when
                                   it last pinged ... */
    _Bool wrote_since_ping : 1; /* ... and the transport took some since */
    unsigned cls_bits : 2;      /* the class's own (server_conn.h) */
    char addr[46];              /* peer address as text */
};

/* Set up ws (zeroed memory) for fd on loop (common->loop); watch it for
 * events (0: not yet, see wsio__ws_accepted). fd -1: no socket yet (a
 * client still resolving or dialing; wsio__ws_set_fd gives it one).
 * Returns 0 or an error (the fd is then still the caller's). */
int wsio__ws_init(wsio_ws *ws, wsio_loop *loop, const wsio__ws_common *common,
                  int fd, enum wsio_role role, unsigned events);
/* Give an initialised ws without a socket its fd: open the transport and
 * watch fd for events. Returns 0 or an error (fd is still the caller's). */
int wsio__ws_set_fd(wsio_ws *ws, int fd, enum wsio_role role, unsigned events);
/* HANDSHAKE -> OPEN: make the conn, call on_open, then feed rest (bytes
 * that followed the handshake head). Returns 0 or WSIO_ENOMEM. */
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
/* Release the ws's own resources (conn, buffers); used by release. */
void wsio__ws_cleanup(wsio_ws *ws);

#endif /* WSIO_WS_INTERNAL_H */
