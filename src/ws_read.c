/*
 * src/ws_read.c - the reading side of the ws driver (ws.c): reads fed to
 * the conn, flow control and read-ahead, the transport's handshake and
 * readiness.
 */
#include <string.h>

#include "ws_shared.h"

/* ---- reading ---------------------------------------------------------------
 */

/*
 * What the transport needs after a WSIO_EAGAIN. A TLS read may need the
 * socket writable (a record of its own to send first) and a TLS write may
 * need it readable, so the watch follows this rather than the operation.
 * 0 for transports without wants (plain).
 */
unsigned wsio__ws_transport_wants(wsio_ws *ws)
{
    return ws->tr.ops->wants ? ws->tr.ops->wants(&ws->tr) : 0u;
}

/* Bytes read and not yet fed. */
size_t wsio__ws_kept(const wsio_ws *ws)
{
    return ws->rx_keep ? ws->rx_keep->len - ws->rx_keep->off : 0;
}

/* Whether the conn may parse now: not paused, output not over its mark. */
int wsio__ws_may_parse(const wsio_ws *ws)
{
    return !ws->paused && wsio_conn_want_read(wsio__ws_conn(ws));
}

/* Whether the ws reads from the socket now. */
int wsio__ws_wants_bytes(const wsio_ws *ws)
{
    if (ws->state != WSIO__WS_OPEN)
        return 1;
    if (ws->paused)
        return RX_KEEP - wsio__ws_kept(ws) >= RX_AHEAD_MIN;
    return wsio__ws_kept(ws) == 0 && wsio_conn_want_read(wsio__ws_conn(ws));
}

/* The unfed bytes at the front of rx_keep's buffer (both allocated on
 * first use), with the room behind them; NULL when out of memory. */
static uint8_t *keep_room(wsio_ws *ws)
{
    struct wsio__rx_keep *k = ws->rx_keep;
    if (!k) {
        const wsio_mem *mem = ws->common->buffer_mem;
        k = wsio__calloc(mem, 1, sizeof *k);
        if (!k)
            return NULL;
        k->buf = wsio__malloc(mem, RX_KEEP);
        if (!k->buf) {
            wsio__free(mem, k);
            return NULL;
        }
        ws->rx_keep = k;
    }
    if (k->off > 0) {
        memmove(k->buf, k->buf + k->off, wsio__ws_kept(ws));
        k->len -= k->off;
        k->off = 0;
    }
    return k->buf;
}

void wsio__ws_drop_keep(wsio_ws *ws)
{
    if (!ws->rx_keep)
        return;
    wsio__free(ws->common->buffer_mem, ws->rx_keep->buf);
    wsio__free(ws->common->buffer_mem, ws->rx_keep);
    ws->rx_keep = NULL;
}

/* Feed what was read; what the conn does not take now (paused, or our
 * output over the mark) is kept for later. Called with nothing wsio__ws_kept,
 * and n at most RX_KEEP. */
void wsio__ws_feed(wsio_ws *ws, uint8_t *buf, size_t n)
{
    ssize_t r =
        wsio__ws_may_parse(ws) ? wsio_conn_feed(wsio__ws_conn(ws), buf, n) : 0;
    /* Failures end in on_close; after the close handshake the rest is
     * ignored (the ws is CLOSED then). */
    if (r >= 0 && (size_t)r < n && ws->state == WSIO__WS_OPEN) {
        uint8_t *keep = keep_room(ws);
        if (!keep) {
            wsio__ws_terminate(ws, WSIO_ENOMEM);
            return;
        }
        memcpy(keep + ws->rx_keep->len, buf + r, n - (size_t)r);
        ws->rx_keep->len += (uint32_t)(n - (size_t)r);
        if (ws->paused)
            wsio__ws_look_ahead(ws); /* a pong may have come in the same read */
    }
    /* Output to write, or the watch to change (reading stopped). */
    if (ws->state != WSIO__WS_DEAD && wsio__ws_conn(ws) &&
        (wsio_conn_want_write(wsio__ws_conn(ws)) || !wsio__ws_wants_bytes(ws)))
        wsio__ws_mark_dirty(ws);
}

/* Feed the kept bytes while the conn may parse them. */
void wsio__ws_pump(wsio_ws *ws)
{
    while (ws->state == WSIO__WS_OPEN && wsio__ws_kept(ws) > 0 &&
           wsio__ws_may_parse(ws)) {
        struct wsio__rx_keep *k = ws->rx_keep;
        ssize_t r =
            wsio_conn_feed(wsio__ws_conn(ws), k->buf + k->off, k->len - k->off);
        if (r <= 0)
            break;
        k->off += (uint32_t)r;
    }
    if (ws->state != WSIO__WS_OPEN)
        return;
    if (wsio__ws_kept(ws) == 0) {
        wsio__ws_drop_keep(ws);
        if (ws->peer_eof) { /* the peer ended without a close frame */
            wsio__ws_terminate(ws, WSIO_ECLOSED);
            return;
        }
    }
    if (wsio_conn_want_write(wsio__ws_conn(ws)))
        wsio__ws_mark_dirty(ws);
}

/* Paused: look for the heartbeat's pong in the bytes read ahead. */
void wsio__ws_look_ahead(wsio_ws *ws)
{
    if (wsio__ws_kept(ws) == 0)
        return;
    struct wsio__rx_keep *k = ws->rx_keep;
    if (!k->scan_ready) {
        wsio__conn_scan_start(wsio__ws_conn(ws), &k->scan);
        k->scan_ready = 1;
    }
    if (wsio__conn_scan_pong(&k->scan, k->buf + k->off, k->len - k->off))
        ws->pong_seen = 1;
}

static void read_some(wsio_ws *ws)
{
    if (!wsio__ws_wants_bytes(ws))
        return; /* readiness not asked for (a TLS retry) */
    int ahead = ws->state == WSIO__WS_OPEN && ws->paused;
    uint8_t *buf = wsio__loop_read_buf(ws->common->loop);
    size_t cap = WSIO__READ_BUF;
    if (ahead) {
        buf = keep_room(ws);
        if (!buf) {
            wsio__ws_terminate(ws, WSIO_ENOMEM);
            return;
        }
        buf += ws->rx_keep->len;
        cap = RX_KEEP - ws->rx_keep->len;
    }
    ssize_t n = ws->tr.ops->read(&ws->tr, buf, cap);
    if (n == WSIO_EAGAIN) {
        /* TLS: reading may need the socket writable first. */
        if (wsio__ws_transport_wants(ws) & WSIO_IO_WRITE) {
            ws->read_needs_write = 1;
            wsio__ws_update_watch(ws, wsio_ws_buffered_amount(ws) > 0);
        }
        return;
    }
    if (n <= 0) {
        /* EOF while lingering is the normal end; otherwise the peer went
         * away without a close frame (1006). */
        int err = n == 0 ? WSIO_ECLOSED : (int)n;
        if (n == 0 && ws->state == WSIO__WS_CLOSED &&
            wsio_ws_buffered_amount(ws) > 0) {
            ws->peer_eof = 1; /* it may still read: finish the flush */
            wsio__ws_update_watch(ws, 1);
            return;
        }
        if (n == 0 && ws->state == WSIO__WS_OPEN && wsio__ws_kept(ws) > 0) {
            ws->peer_eof =
                1; /* its last bytes are parsed first (wsio__ws_pump) */
            wsio__ws_update_watch(ws, wsio_ws_buffered_amount(ws) > 0);
            return;
        }
        if (ws->state == WSIO__WS_HANDSHAKE)
            wsio__ws_finish_handshake_fail(ws, err);
        wsio__ws_terminate(ws, err);
        return;
    }
    ws->last_rx = (uint32_t)wsio__loop_now(ws->common->loop);
    switch (ws->state) {
    case WSIO__WS_HANDSHAKE:
        ws->common->cls->handshake_bytes(ws, buf, (size_t)n);
        break;
    case WSIO__WS_OPEN:
        if (ws->common->counters)
            ws->common->counters->bytes_in += (uint64_t)n;
        if (!ahead) {
            wsio__ws_feed(ws, buf, (size_t)n);
            break;
        }
        ws->rx_keep->len += (uint32_t)n;
        wsio__ws_look_ahead(ws);
        if (!wsio__ws_wants_bytes(ws))
            wsio__ws_mark_dirty(ws); /* full: stop watching READ */
        break;
    default:
        break; /* closed: discard until EOF */
    }
}

void wsio__ws_accepted(wsio_ws *ws, int data_waiting)
{
    if (data_waiting)
        read_some(ws);
    /* The flush sets the watch: READ, and WRITE if the answer did not fit. */
    wsio__ws_mark_dirty(ws);
}

/* Drive the transport's handshake; WebSocket bytes wait until it is done. */
static void transport_handshake(wsio_ws *ws)
{
    int rc = ws->tr.ops->handshake(&ws->tr);
    if (rc == WSIO_EAGAIN) {
        unsigned want =
            ws->tr.ops->wants ? ws->tr.ops->wants(&ws->tr) : WSIO_IO_READ;
        rc = wsio__io_watch(ws->common->loop, &ws->io,
                            want ? want : WSIO_IO_READ);
    } else if (rc == 0) {
        ws->tr_handshake = 0;
        wsio__ws_mark_dirty(ws); /* a client's request goes out now */
    }
    if (rc < 0)
        wsio__ws_terminate(ws, rc);
}

void wsio__ws_start_transport(wsio_ws *ws)
{
    if (!ws->tr.ops->handshake)
        return;
    ws->tr_handshake = 1;
    transport_handshake(ws);
}

void wsio__ws_on_ready(wsio__io *io, unsigned events)
{
    wsio_ws *ws = WSIO__CONTAINER_OF(io, wsio_ws, io);
    if (ws->connecting) {
        ws->common->cls->connected(ws, events);
        return;
    }
    if (ws->tr_handshake) {
        transport_handshake(ws);
        return;
    }
    /* A read or a write waiting on the other direction (TLS) retries on
     * this readiness. */
    int retry_read = ws->read_needs_write && (events & WSIO_IO_WRITE);
    int retry_write = ws->write_needs_read && (events & WSIO_IO_READ);
    ws->read_needs_write = retry_read ? 0 : ws->read_needs_write;
    ws->write_needs_read = retry_write ? 0 : ws->write_needs_read;
    if ((events & WSIO_IO_WRITE) || retry_write)
        wsio__ws_mark_dirty(ws);
    /* A hang-up (reset) while we do not read: nothing more will come. */
    if ((events & WSIO_IO_HUP) && !wsio__ws_wants_bytes(ws)) {
        wsio__ws_terminate(ws, WSIO_ECLOSED);
        return;
    }
    if ((events & (WSIO_IO_READ | WSIO_IO_HUP)) || retry_read)
        read_some(ws);
}
