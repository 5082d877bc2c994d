/*
 * src/ws_shared.h - what ws.c, ws_read.c and ws_write.c share: limits and
 * the functions one file calls in another (internal, ws layer only).
 */
#ifndef WSIO_WS_SHARED_H
#define WSIO_WS_SHARED_H

#include "ws_internal.h"

/* iovs handed to one writev: the conn's queue rarely has more pieces. */
#define FLUSH_IOVS 64

/* Messages from this size on are written at once (send_direct). */
#define DIRECT_SEND_MIN 16384

/* Bytes read and not yet parsed that a ws holds: one read's worth. */
#define RX_KEEP WSIO__READ_BUF
/* Bytes read and not yet fed (a ws's rx_keep), with the look-ahead for a
 * pong over them while the ws is paused. Apart from the ws: most of the
 * time none is needed. */
struct wsio__rx_keep {
    uint8_t *buf;       /* RX_KEEP bytes */
    uint32_t off;       /* fed up to here */
    uint32_t len;       /* ... and held up to here */
    wsio__rx_scan scan; /* paused: looking ahead for a pong */
    uint8_t scan_ready; /* scan starts at off */
};
/* A paused ws reads ahead only while this much room is left, so that a
 * transport reading whole records (TLS) never keeps bytes of its own that
 * no readiness would announce. */
#define RX_AHEAD_MIN WSIO__TRANSPORT_HELD_MAX

/* The end: no more I/O on this ws; its memory goes at the end of the turn. */
void wsio__ws_close_transport(wsio_ws *ws);

/* End the ws at once with err, whatever its state (ws.c). */
void wsio__ws_terminate(wsio_ws *ws, int err);

/*
 * What the transport needs after a WSIO_EAGAIN. A TLS read may need the
 * socket writable (a record of its own to send first) and a TLS write may
 * need it readable, so the watch follows this rather than the operation.
 * 0 for transports without wants (plain).
 */
unsigned wsio__ws_transport_wants(wsio_ws *ws);

/* Bytes read and not yet fed. */
size_t wsio__ws_kept(const wsio_ws *ws);

/* Whether the conn may parse now: not paused, output not over its mark. */
int wsio__ws_may_parse(const wsio_ws *ws);

/* Whether the ws reads from the socket now. */
int wsio__ws_wants_bytes(const wsio_ws *ws);

/* Feed what was read; what the conn does not take now (paused, or our
 * output over the mark) is kept for later. Called with nothing kept, and
 * n at most RX_KEEP. */
void wsio__ws_feed(wsio_ws *ws, uint8_t *buf, size_t n);

/* Feed the kept bytes while the conn may parse them. */
void wsio__ws_pump(wsio_ws *ws);

/* Free the kept bytes, if any. */
void wsio__ws_drop_keep(wsio_ws *ws);

/* Paused: look for the heartbeat's pong in the bytes read ahead. */
void wsio__ws_look_ahead(wsio_ws *ws);

/* The socket's readiness (ws_read.c). */
void wsio__ws_on_ready(wsio__io *io, unsigned events);

/* Watch the directions the ws and its transport wait on now; pending:
 * output is left to write (ws_write.c). */
void wsio__ws_update_watch(wsio_ws *ws, int pending);

/* Write what is queued, handshake bytes first (ws_write.c). */
void wsio__ws_flush(wsio_ws *ws);

/* The end-of-turn task of a ws marked dirty. */
void wsio__ws_flush_task(wsio__turn_task *t);

/* A message was queued: count it, flush at the turn's end, and say
 * whether the output went over its mark (ws_write.c). */
int wsio__ws_queued(wsio_ws *ws);

#endif /* WSIO_WS_SHARED_H */
