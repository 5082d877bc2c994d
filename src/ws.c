/*
 * src/ws.c - the per-connection driver shared by servers and clients
 * (wsio/ws.h): read -> wsio_conn_feed, corked writes, the close handshake
 * and its timeout, termination, backpressure and on_drain.
 *
 * Reading: one read of up to 64 KiB per readiness into the loop's shared
 * buffer, fed to the conn, which unmasks in place and copies only frames
 * that are split between reads. Writing: sends only queue on the conn and
 * put the ws on the loop's flush list; at the end of the turn each listed
 * ws does one writev of the conn's iovs (handshake bytes first). When the
 * socket takes less, the ws watches for WRITE and tries again next turn.
 * A large message skips the queue: it is written at once, with whatever
 * is queued before it, and only what the socket does not take is copied.
 *
 * Flow control: a server's ws whose output is over its high-water mark is
 * not read from (the conn stops parsing at the next frame boundary, and the
 * socket is not watched for READ) until the output drains to the low-water
 * mark; bytes read but not parsed wait in rx_keep (at most one read's
 * worth). A ws the application paused reads ahead into rx_keep, up to
 * RX_KEEP bytes, only to look for the heartbeat's pong there.
 *
 * Ending: after on_close the ws flushes what is left (the close frame),
 * shuts down its sending side and reads until the peer's EOF, so that the
 * peer gets every byte and no reset (RFC 6455 section 7.1.1: the server
 * closes TCP first; a client waits for that). A timer bounds each phase.
 * wsio_ws_terminate closes the transport at once. The memory goes at the
 * end of the loop turn, so callers up the stack may still look at it.
 */
#include <string.h>

#include "conn_internal.h"
#include "ws_internal.h"

/* iovs handed to one writev: the conn's queue rarely has more pieces. */
#define FLUSH_IOVS 64

/* Messages from this size on are written at once (send_direct). */
#define DIRECT_SEND_MIN 16384

/* Bytes read and not yet parsed that a ws holds: one read's worth. */
#define RX_KEEP WSIO__READ_BUF
/* A paused ws reads ahead only while this much room is left, so that a
 * transport reading whole records (TLS) never keeps bytes of its own that
 * no readiness would announce. */
#define RX_AHEAD_MIN WSIO__TRANSPORT_HELD_MAX

void wsio__ws_mark_dirty(wsio_ws *ws)
{
    if (ws->state != WSIO__WS_DEAD)
        wsio__loop_at_turn_end(ws->loop, &ws->flush_task);
}

void wsio__ws_arm(wsio_ws *ws, uint32_t ms)
{
    wsio__timer_start(ws->loop, &ws->timer, wsio__loop_now(ws->loop) + ms);
}

static void release_deferred(wsio__deferred *d)
{
    wsio_ws *ws = WSIO__CONTAINER_OF(d, wsio_ws, defer);
    ws->common->cls->release(ws);
}

void wsio__ws_cleanup(wsio_ws *ws)
{
    const wsio_mem *mem = wsio__loop_mem(ws->loop);
    wsio_conn_free(ws->conn);
    ws->conn = NULL;
    wsio__free(ws->common->buffer_mem, ws->rx_keep);
    ws->rx_keep = NULL;
    wsio__free(ws->common->buffer_mem, ws->hs_in); /* counted: see server.c */
    wsio__free(mem, ws->hs_out);
    wsio__free(mem, ws->subprotocol);
    ws->hs_in = ws->hs_out = NULL;
    ws->subprotocol = NULL;
    wsio__timer_unreserve(ws->loop);
}

/* The end: no more I/O on this ws; its memory goes at the end of the turn. */
static void close_transport(wsio_ws *ws)
{
    if (ws->state == WSIO__WS_DEAD)
        return;
    if (ws->io.fd >= 0) { /* a client still dialing has no socket yet */
        wsio__io_unwatch(ws->loop, &ws->io);
        ws->tr.ops->close(&ws->tr);
    }
    wsio__timer_stop(ws->loop, &ws->timer);
    ws->state = WSIO__WS_DEAD;
    ws->common->cls->transport_closed(ws);
    wsio__defer(ws->loop, &ws->defer);
}

/* The user's on_close, for a client that never opened. */
static void report_unopened(wsio_ws *ws, int err)
{
    if (!ws->common->cb.on_close)
        return;
    wsio_close_info info;
    memset(&info, 0, sizeof info);
    /* A failed TLS handshake is reported as 1015 (RFC 6455 section 7.4.1). */
    info.code = wsio_err_close_code(err) == WSIO_CLOSE_TLS_HANDSHAKE
                    ? WSIO_CLOSE_TLS_HANDSHAKE
                    : WSIO_CLOSE_ABNORMAL;
    info.reason = "";
    info.error = err;
    ws->common->cb.on_close(ws, &info, ws->common->user);
}

void wsio__ws_finish_handshake_fail(wsio_ws *ws, int err)
{
    if (ws->state != WSIO__WS_HANDSHAKE)
        return;
    ws->state = WSIO__WS_CLOSED;
    ws->connecting = 0;
    if (!ws->common->cls->answers_handshake) {
        report_unopened(ws, err);
        close_transport(ws);
        return;
    }
    /* A server's answer (404, 400, 503 ...) still has to go out. */
    if (!ws->hs_out) {
        close_transport(ws);
        return;
    }
    wsio__ws_arm(ws, ws->common->close_timeout_ms);
    wsio__ws_mark_dirty(ws);
}

static void terminate(wsio_ws *ws, int err)
{
    switch (ws->state) {
    case WSIO__WS_HANDSHAKE:
        wsio__ws_finish_handshake_fail(ws, err);
        close_transport(ws);
        break;
    case WSIO__WS_OPEN:
        ws->terminating = 1;
        wsio_conn_abort(ws->conn, err); /* calls conn_on_close */
        ws->terminating = 0;
        close_transport(ws);
        break;
    case WSIO__WS_CLOSED:
        close_transport(ws);
        break;
    default:
        break;
    }
}

void wsio__ws_fail_soon(wsio_ws *ws, int err)
{
    if (ws->state == WSIO__WS_DEAD || ws->fail_err)
        return;
    ws->fail_err = err;
    wsio__timer_start(ws->loop, &ws->timer, 0);
}

/* ---- the conn's callbacks -------------------------------------------------
 */

static int conn_on_message(wsio_conn *c, const wsio_message *m, void *user)
{
    (void)c;
    wsio_ws *ws = user;
    if (ws->common->counters)
        ws->common->counters->messages_in++;
    if (!ws->common->cb.on_message)
        return 0;
    int rc = ws->common->cb.on_message(ws, m, ws->common->user);
    if (rc < 0)
        return rc;
    return ws->paused ? WSIO_PAUSE : 0; /* wsio_ws_pause: nothing more */
}

static uint64_t load_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* Only the pong that carries our latest heartbeat stamp is timed: an
 * unsolicited pong (RFC 6455 section 5.5.3) or a late one says nothing
 * about the round trip. */
static int conn_on_pong(wsio_conn *c, const wsio_control *pong, void *user)
{
    (void)c;
    wsio_ws *ws = user;
    ws->pong_seen = 1;
    if (ws->ping_sent_us && pong->len == 8 &&
        load_be64((const uint8_t *)pong->data) == ws->ping_sent_us) {
        uint64_t now = wsio_loop_now_us(ws->loop);
        ws->rtt_us = now > ws->ping_sent_us ? now - ws->ping_sent_us : 1;
        ws->ping_sent_us = 0;
    }
    if (ws->common->cb.on_pong)
        ws->common->cb.on_pong(ws, pong, ws->common->user);
    return ws->paused ? WSIO_PAUSE : 0;
}

static void conn_on_close(wsio_conn *c, const wsio_close_info *info, void *user)
{
    (void)c;
    wsio_ws *ws = user;
    if (ws->state != WSIO__WS_OPEN)
        return;
    ws->state = WSIO__WS_CLOSED;
    ws->common->cls->left_open(ws);
    if (ws->common->cb.on_close)
        ws->common->cb.on_close(ws, info, ws->common->user);
    if (ws->terminating || ws->state == WSIO__WS_DEAD)
        return;
    /* Flush the close frame, then linger; bounded by the close timeout. */
    wsio__ws_arm(ws, ws->common->close_timeout_ms);
    wsio__ws_mark_dirty(ws);
}

static void update_watch(wsio_ws *ws, int pending);
static void terminate(wsio_ws *ws, int err);

/* ---- reading ---------------------------------------------------------------
 */

/*
 * What the transport needs after a WSIO_EAGAIN. A TLS read may need the
 * socket writable (a record of its own to send first) and a TLS write may
 * need it readable, so the watch follows this rather than the operation.
 * 0 for transports without wants (plain).
 */
static unsigned transport_wants(wsio_ws *ws)
{
    return ws->tr.ops->wants ? ws->tr.ops->wants(&ws->tr) : 0u;
}

/* Bytes read and not yet fed. */
static size_t kept(const wsio_ws *ws)
{
    return ws->rx_keep_len - ws->rx_keep_off;
}

/* Whether the conn may parse now: not paused, output not over its mark. */
static int may_parse(const wsio_ws *ws)
{
    return !ws->paused && wsio_conn_want_read(ws->conn);
}

/* Whether the ws reads from the socket now. */
static int wants_bytes(const wsio_ws *ws)
{
    if (ws->state != WSIO__WS_OPEN)
        return 1;
    if (ws->paused)
        return RX_KEEP - kept(ws) >= RX_AHEAD_MIN;
    return kept(ws) == 0 && wsio_conn_want_read(ws->conn);
}

/* The unfed bytes at the front of rx_keep (allocated on first use), with
 * the room behind them; NULL when out of memory. */
static uint8_t *keep_room(wsio_ws *ws)
{
    if (!ws->rx_keep) {
        ws->rx_keep = wsio__malloc(ws->common->buffer_mem, RX_KEEP);
        if (!ws->rx_keep)
            return NULL;
    }
    if (ws->rx_keep_off > 0) {
        memmove(ws->rx_keep, ws->rx_keep + ws->rx_keep_off, kept(ws));
        ws->rx_keep_len -= ws->rx_keep_off;
        ws->rx_keep_off = 0;
    }
    return ws->rx_keep;
}

static void drop_keep(wsio_ws *ws)
{
    wsio__free(ws->common->buffer_mem, ws->rx_keep);
    ws->rx_keep = NULL;
    ws->rx_keep_off = ws->rx_keep_len = 0;
}

static void look_ahead(wsio_ws *ws);

/* Feed what was read; what the conn does not take now (paused, or our
 * output over the mark) is kept for later. Called with nothing kept, and
 * n at most RX_KEEP. */
static void feed(wsio_ws *ws, uint8_t *buf, size_t n)
{
    ssize_t r = may_parse(ws) ? wsio_conn_feed(ws->conn, buf, n) : 0;
    /* Failures end in on_close; after the close handshake the rest is
     * ignored (the ws is CLOSED then). */
    if (r >= 0 && (size_t)r < n && ws->state == WSIO__WS_OPEN) {
        uint8_t *keep = keep_room(ws);
        if (!keep) {
            terminate(ws, WSIO_ENOMEM);
            return;
        }
        memcpy(keep + ws->rx_keep_len, buf + r, n - (size_t)r);
        ws->rx_keep_len += (uint32_t)(n - (size_t)r);
        if (ws->paused)
            look_ahead(ws); /* a pong may have come in the same read */
    }
    /* Output to write, or the watch to change (reading stopped). */
    if (ws->state != WSIO__WS_DEAD && ws->conn &&
        (wsio_conn_want_write(ws->conn) || !wants_bytes(ws)))
        wsio__ws_mark_dirty(ws);
}

/* Feed the kept bytes while the conn may parse them. */
static void pump(wsio_ws *ws)
{
    while (ws->state == WSIO__WS_OPEN && kept(ws) > 0 && may_parse(ws)) {
        ssize_t r =
            wsio_conn_feed(ws->conn, ws->rx_keep + ws->rx_keep_off, kept(ws));
        if (r <= 0)
            break;
        ws->rx_keep_off += (uint32_t)r;
    }
    if (ws->state != WSIO__WS_OPEN)
        return;
    if (kept(ws) == 0) {
        drop_keep(ws);
        if (ws->peer_eof) { /* the peer ended without a close frame */
            terminate(ws, WSIO_ECLOSED);
            return;
        }
    }
    if (wsio_conn_want_write(ws->conn))
        wsio__ws_mark_dirty(ws);
}

/* Paused: look for the heartbeat's pong in the bytes read ahead. */
static void look_ahead(wsio_ws *ws)
{
    if (kept(ws) == 0)
        return;
    if (!ws->rx_scan_ready) {
        wsio__conn_scan_start(ws->conn, &ws->rx_scan);
        ws->rx_scan_ready = 1;
    }
    if (wsio__conn_scan_pong(&ws->rx_scan, ws->rx_keep + ws->rx_keep_off,
                             kept(ws)))
        ws->pong_seen = 1;
}

static void read_some(wsio_ws *ws)
{
    if (!wants_bytes(ws))
        return; /* readiness not asked for (a TLS retry) */
    int ahead = ws->state == WSIO__WS_OPEN && ws->paused;
    uint8_t *buf = wsio__loop_read_buf(ws->loop);
    size_t cap = WSIO__READ_BUF;
    if (ahead) {
        buf = keep_room(ws);
        if (!buf) {
            terminate(ws, WSIO_ENOMEM);
            return;
        }
        buf += ws->rx_keep_len;
        cap = RX_KEEP - ws->rx_keep_len;
    }
    ssize_t n = ws->tr.ops->read(&ws->tr, buf, cap);
    if (n == WSIO_EAGAIN) {
        /* TLS: reading may need the socket writable first. */
        if (transport_wants(ws) & WSIO_IO_WRITE) {
            ws->read_needs_write = 1;
            update_watch(ws, wsio_ws_buffered_amount(ws) > 0);
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
            update_watch(ws, 1);
            return;
        }
        if (n == 0 && ws->state == WSIO__WS_OPEN && kept(ws) > 0) {
            ws->peer_eof = 1; /* its last bytes are parsed first (pump) */
            update_watch(ws, wsio_ws_buffered_amount(ws) > 0);
            return;
        }
        if (ws->state == WSIO__WS_HANDSHAKE)
            wsio__ws_finish_handshake_fail(ws, err);
        terminate(ws, err);
        return;
    }
    ws->last_rx = wsio__loop_now(ws->loop);
    switch (ws->state) {
    case WSIO__WS_HANDSHAKE:
        ws->common->cls->handshake_bytes(ws, buf, (size_t)n);
        break;
    case WSIO__WS_OPEN:
        if (ws->common->counters)
            ws->common->counters->bytes_in += (uint64_t)n;
        if (!ahead) {
            feed(ws, buf, (size_t)n);
            break;
        }
        ws->rx_keep_len += (uint32_t)n;
        look_ahead(ws);
        if (!wants_bytes(ws))
            wsio__ws_mark_dirty(ws); /* full: stop watching READ */
        break;
    default:
        break; /* closed: discard until EOF */
    }
}

/* Drive the transport's handshake; WebSocket bytes wait until it is done. */
static void transport_handshake(wsio_ws *ws)
{
    int rc = ws->tr.ops->handshake(&ws->tr);
    if (rc == WSIO_EAGAIN) {
        unsigned want =
            ws->tr.ops->wants ? ws->tr.ops->wants(&ws->tr) : WSIO_IO_READ;
        rc = wsio__io_watch(ws->loop, &ws->io, want ? want : WSIO_IO_READ);
    } else if (rc == 0) {
        ws->tr_handshake = 0;
        wsio__ws_mark_dirty(ws); /* a client's request goes out now */
    }
    if (rc < 0)
        terminate(ws, rc);
}

void wsio__ws_start_transport(wsio_ws *ws)
{
    if (!ws->tr.ops->handshake)
        return;
    ws->tr_handshake = 1;
    transport_handshake(ws);
}

static void on_ready(wsio__io *io, unsigned events)
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
    if ((events & WSIO_IO_HUP) && !wants_bytes(ws)) {
        terminate(ws, WSIO_ECLOSED);
        return;
    }
    if ((events & (WSIO_IO_READ | WSIO_IO_HUP)) || retry_read)
        read_some(ws);
}

/* ---- writing ---------------------------------------------------------------
 */

static size_t hs_out_left(const wsio_ws *ws)
{
    return ws->hs_out ? ws->hs_out_len - ws->hs_out_off : 0;
}

size_t wsio_ws_buffered_amount(const wsio_ws *ws)
{
    return hs_out_left(ws) +
           (ws->conn ? wsio_conn_buffered_amount(ws->conn) : 0);
}

int wsio__ws_queue_raw(wsio_ws *ws, const void *data, size_t len)
{
    const wsio_mem *mem = wsio__loop_mem(ws->loop);
    size_t left = hs_out_left(ws);
    if (len > UINT32_MAX - left)
        return WSIO_ENOMEM;
    uint8_t *p = wsio__malloc(mem, left + len);
    if (!p)
        return WSIO_ENOMEM;
    if (left)
        memcpy(p, ws->hs_out + ws->hs_out_off, left);
    memcpy(p + left, data, len);
    wsio__free(mem, ws->hs_out);
    ws->hs_out = p;
    ws->hs_out_len = (uint32_t)(left + len);
    ws->hs_out_off = 0;
    wsio__ws_mark_dirty(ws);
    return 0;
}

/* Account for n bytes written: handshake bytes first, then the conn's. */
static void consume(wsio_ws *ws, size_t n)
{
    size_t hs = hs_out_left(ws);
    if (hs) {
        size_t k = n < hs ? n : hs;
        ws->hs_out_off += (uint32_t)k;
        n -= k;
        if (ws->hs_out_off == ws->hs_out_len) {
            wsio__free(wsio__loop_mem(ws->loop), ws->hs_out);
            ws->hs_out = NULL;
            ws->hs_out_len = ws->hs_out_off = 0;
        }
    }
    if (n && ws->conn) {
        wsio_conn_consume_output(ws->conn, n);
        ws->written += n;
        /* While we do not read the peer by our choice, its reading what
         * we send is what shows it is there (the idle timeout). */
        if (ws->state == WSIO__WS_OPEN && !may_parse(ws))
            ws->last_rx = wsio__loop_now(ws->loop);
        if (ws->common->counters)
            ws->common->counters->bytes_out += n;
    }
}

static void update_watch(wsio_ws *ws, int pending)
{
    /* A direction one operation waits on replaces the other's own: a TLS
     * read that needs WRITE must not spin on a readable socket. */
    int rd = (!ws->peer_eof && !ws->read_needs_write && wants_bytes(ws)) ||
             ws->write_needs_read;
    int wr = (pending && !ws->write_needs_read) || ws->read_needs_write;
    unsigned ev = (rd ? WSIO_IO_READ : 0u) | (wr ? WSIO_IO_WRITE : 0u);
    int rc = wsio__io_watch(ws->loop, &ws->io, ev);
    if (rc)
        terminate(ws, rc);
}

static void flush(wsio_ws *ws)
{
    if (ws->state == WSIO__WS_OPEN && kept(ws) > 0 && may_parse(ws)) {
        pump(ws); /* resumed, or the output drained */
        if (ws->state == WSIO__WS_DEAD)
            return;
    }
    if (ws->state == WSIO__WS_OPEN && ws->paused && !ws->rx_scan_ready)
        look_ahead(ws); /* paused with bytes kept from before */
    wsio_iov iov[FLUSH_IOVS];
    size_t n = 0;
    ssize_t w = 0;
    if (hs_out_left(ws)) {
        iov[0].base = ws->hs_out + ws->hs_out_off;
        iov[0].len = hs_out_left(ws);
        n = 1;
    }
    if (ws->conn)
        n += wsio_conn_peek_output(ws->conn, iov + n, FLUSH_IOVS - n);
    if (n) {
        w = ws->tr.ops->writev(&ws->tr, iov, n);
        if (w < 0 && w != WSIO_EAGAIN) {
            terminate(ws, (int)w);
            return;
        }
        if (w == WSIO_EAGAIN && (transport_wants(ws) & WSIO_IO_READ))
            ws->write_needs_read = 1; /* TLS: write once readable */
        if (w > 0)
            consume(ws, (size_t)w);
    }
    int pending = wsio_ws_buffered_amount(ws) > 0;
    if (ws->state == WSIO__WS_OPEN && ws->over_mark &&
        wsio_conn_buffered_amount(ws->conn) <= ws->common->low_water) {
        ws->over_mark = 0;
        if (ws->common->cb.on_drain)
            ws->common->cb.on_drain(ws, ws->common->user);
        if (ws->state == WSIO__WS_DEAD)
            return;
    }
    /* The output drained: parse what waits, in a later pass of this turn. */
    if (w > 0 && ws->state == WSIO__WS_OPEN && kept(ws) > 0 && may_parse(ws))
        wsio__ws_mark_dirty(ws);
    if (ws->state == WSIO__WS_CLOSED && !pending && ws->peer_eof) {
        close_transport(ws);
        return;
    }
    if (ws->state == WSIO__WS_CLOSED && !pending && !ws->lingering) {
        /* TLS sends its close_notify here and may have to wait for the
         * socket: try again at the next readiness. */
        int rc = ws->tr.ops->shutdown(&ws->tr);
        if (rc == WSIO_EAGAIN) {
            ws->write_needs_read = (transport_wants(ws) & WSIO_IO_READ) ? 1 : 0;
            update_watch(ws, 1);
            return;
        }
        if (rc < 0) {
            close_transport(ws);
            return;
        }
        ws->lingering = 1;
    }
    update_watch(ws, pending);
}

/* The end-of-turn task of a ws marked dirty. */
static void flush_task(wsio__turn_task *t)
{
    wsio_ws *ws = WSIO__CONTAINER_OF(t, wsio_ws, flush_task);
    if (ws->state != WSIO__WS_DEAD && !ws->connecting && !ws->tr_handshake)
        flush(ws);
}

/* ---- timers ----------------------------------------------------------------
 */

static void on_timer(wsio__timer *t)
{
    wsio_ws *ws = WSIO__CONTAINER_OF(t, wsio_ws, timer);
    if (ws->fail_err) {
        int err = ws->fail_err;
        ws->fail_err = 0;
        /* Out of memory on a broadcast: try a 1011 close frame first. */
        if (err == WSIO_ENOMEM && ws->state == WSIO__WS_OPEN &&
            wsio_conn_state(ws->conn) == WSIO_CONN_OPEN &&
            wsio_ws_close(ws, WSIO_CLOSE_INTERNAL_ERROR, NULL, 0) == 0)
            return;
        terminate(ws, err);
        return;
    }
    switch (ws->state) {
    case WSIO__WS_HANDSHAKE:
        terminate(ws, WSIO_ETIMEDOUT);
        break;
    case WSIO__WS_OPEN: {
        if (wsio_conn_state(ws->conn) == WSIO_CONN_CLOSING) {
            terminate(ws, WSIO_ETIMEDOUT); /* no close reply in time */
            break;
        }
        uint32_t idle = ws->common->idle_timeout_ms;
        uint64_t now = wsio__loop_now(ws->loop);
        /* Paused with the read-ahead full: the peer is held back by us. */
        if (ws->paused && !wants_bytes(ws))
            ws->last_rx = now;
        if (now - ws->last_rx >= idle)
            (void)wsio_ws_close(ws, WSIO_CLOSE_GOING_AWAY, "idle", 4);
        else
            wsio__timer_start(ws->loop, &ws->timer, ws->last_rx + idle);
        break;
    }
    default:
        close_transport(ws);
        break;
    }
}

/* ---- life ------------------------------------------------------------------
 */

int wsio__ws_init(wsio_ws *ws, wsio_loop *loop, const wsio__ws_common *common,
                  int fd, enum wsio_role role, unsigned events)
{
    ws->loop = loop;
    ws->common = common;
    ws->io.ready = on_ready;
    ws->timer.fire = on_timer;
    ws->defer.release = release_deferred;
    ws->flush_task.run = flush_task;
    ws->tr.ops = common->transport ? common->transport : wsio_transport_plain();
    ws->last_rx = wsio__loop_now(loop);
    int rc = wsio__timer_reserve(loop);
    if (rc)
        return rc;
    ws->io.fd = ws->tr.fd = -1;
    if (fd < 0)
        return 0;
    rc = wsio__ws_set_fd(ws, fd, role, events);
    if (rc)
        wsio__timer_unreserve(loop);
    return rc;
}

int wsio__ws_set_fd(wsio_ws *ws, int fd, enum wsio_role role, unsigned events)
{
    ws->io.fd = ws->tr.fd = fd;
    int rc = ws->tr.ops->open(&ws->tr, ws->common->transport_ctx, role);
    if (rc == 0) {
        rc = wsio__io_watch(ws->loop, &ws->io, events);
        /* Give the fd back unclosed: only release the transport state. */
        if (rc) {
            ws->tr.fd = -1;
            ws->tr.ops->close(&ws->tr);
        }
    }
    if (rc)
        ws->io.fd = ws->tr.fd = -1;
    return rc;
}

int wsio__ws_open(wsio_ws *ws, enum wsio_role role, uint8_t *rest,
                  size_t rest_len)
{
    const wsio_conn_callbacks cb = {.on_message = conn_on_message,
                                    .on_pong = conn_on_pong,
                                    .on_close = conn_on_close};
    ws->conn = wsio__conn_new_split(role, &ws->common->conn, &cb,
                                    wsio__loop_mem(ws->loop),
                                    ws->common->buffer_mem, ws);
    if (!ws->conn)
        return WSIO_ENOMEM;
    if (ws->pmd_on) { /* RFC 7692: the agreed codec, before any byte */
        const wsio_deflate_ext *ext = ws->common->deflate;
        wsio_codec codec;
        int rc = ext->codec_new(ext, &ws->pmd, role, 0, ws->common->buffer_mem,
                                &codec);
        if (rc) {
            wsio_conn_free(ws->conn);
            ws->conn = NULL;
            return rc;
        }
        (void)wsio_conn_set_codec(ws->conn, &codec);
    }
    /* A server reads each client no faster than the client reads it. A
     * client always reads (as browsers do): if both ends waited for the
     * other to read first, an echo conversation would deadlock. */
    if (ws->common->cls->answers_handshake)
        wsio_conn_set_output_marks(ws->conn, ws->common->max_output,
                                   ws->common->low_water);
    if (ws->tr.ops != wsio_transport_plain())
        wsio__conn_set_output_keep(ws->conn, WSIO__TRANSPORT_HELD_MAX);
    ws->state = WSIO__WS_OPEN;
    ws->last_rx = wsio__loop_now(ws->loop);
    wsio__timer_stop(ws->loop, &ws->timer);
    if (ws->common->idle_timeout_ms)
        wsio__ws_arm(ws, ws->common->idle_timeout_ms);
    wsio__ws_mark_dirty(ws);
    if (ws->common->cb.on_open)
        ws->common->cb.on_open(ws, ws->common->user);
    if (ws->state == WSIO__WS_OPEN && rest_len > 0)
        feed(ws, rest, rest_len);
    return 0;
}

/* ---- public API ------------------------------------------------------------
 */

/* QUEUE's hard cap on the output queue. */
static size_t queue_cap(const wsio__ws_common *c)
{
    if (c->max_queued)
        return c->max_queued;
    return c->max_output <= SIZE_MAX / 4 ? c->max_output * 4 : SIZE_MAX;
}

/* Whether a send may be queued under policy. Over the mark, QUEUE queues
 * up to its cap, CLOSE closes ws (*closed is set when this call did) and
 * DROP counts the drop. */
static int admit(wsio_ws *ws, enum wsio_backpressure_policy policy, int *closed)
{
    if (ws->state != WSIO__WS_OPEN ||
        wsio_conn_state(ws->conn) != WSIO_CONN_OPEN)
        return WSIO_ECLOSED; /* our close frame is queued: nothing after */
    size_t queued_now = wsio_conn_buffered_amount(ws->conn);
    if (queued_now <= ws->common->max_output)
        return WSIO_SEND_QUEUED;
    ws->over_mark = 1;
    if (policy == WSIO_BACKPRESSURE_QUEUE) {
        if (queued_now <= queue_cap(ws->common))
            return WSIO_SEND_QUEUED;
        if (ws->common->counters)
            ws->common->counters->messages_dropped++;
        return WSIO_EQUEUEFULL;
    }
    if (policy == WSIO_BACKPRESSURE_CLOSE) {
        if (wsio_ws_close(ws, WSIO_CLOSE_POLICY_VIOLATION, "slow reader", 11) ==
            0) {
            *closed = 1;
            if (ws->common->counters)
                ws->common->counters->slow_disconnects++;
        }
    } else if (ws->common->counters) {
        ws->common->counters->messages_dropped++;
    }
    return WSIO_EDROPPED;
}

static int queued(wsio_ws *ws)
{
    wsio__ws_mark_dirty(ws);
    if (ws->common->counters)
        ws->common->counters->messages_out++;
    if (wsio_conn_buffered_amount(ws->conn) > ws->common->max_output) {
        ws->over_mark = 1;
        return WSIO_SEND_PRESSURE;
    }
    return WSIO_SEND_QUEUED;
}

static ssize_t write_now(void *ctx, const wsio_iov *iov, size_t n)
{
    wsio_ws *ws = ctx;
    return ws->tr.ops->writev(&ws->tr, iov, n);
}

/*
 * A large message is written at once, behind what is queued and from the
 * caller's buffer: copying it into the output queue costs more than the
 * system call that corking saves. Only what the socket does not take is
 * queued. Not for transports whose writes may wait on reads (TLS), which
 * must retry a write with the same buffer.
 */
static int send_direct(wsio_ws *ws, enum wsio_opcode opcode, const void *data,
                       size_t len)
{
    size_t written = 0;
    int rc = wsio__conn_send_direct(ws->conn, opcode, data, len, write_now, ws,
                                    &written);
    ws->written += written;
    if (written && ws->common->counters)
        ws->common->counters->bytes_out += written;
    /* A frame cut short: end the connection, but not from inside the
     * application's send (its on_close comes on the next turn). */
    if (rc == WSIO_ENOMEM &&
        wsio__conn_can_take_encoded(ws->conn) == WSIO_ECLOSED)
        wsio__ws_fail_soon(ws, rc);
    return rc;
}

/* Whether the transport may take bytes it has not reported yet: TLS holds
 * up to a record's plaintext; plain sockets take nothing they do not
 * report, so their output may be written from anywhere, and changed until
 * it is. */
static int transport_holds_bytes(const wsio_ws *ws)
{
    return ws->tr.ops != wsio_transport_plain();
}

int wsio_ws_send(wsio_ws *ws, enum wsio_opcode opcode, const void *data,
                 size_t len)
{
    int closed = 0;
    int rc = admit(ws, ws->common->policy, &closed);
    if (rc != WSIO_SEND_QUEUED)
        return rc;
    /* Written at once only when the socket may take it: while we wait for
     * it to drain, the write would only fail and the copy follow anyway. */
    if (len >= DIRECT_SEND_MIN && !transport_holds_bytes(ws) &&
        !(ws->io.events & WSIO_IO_WRITE) && !hs_out_left(ws))
        rc = send_direct(ws, opcode, data, len);
    else
        rc = wsio_conn_send(ws->conn, opcode, data, len);
    return rc < 0 ? rc : queued(ws);
}

static int queue_shared(wsio_ws *ws, wsio_rcbuf *frame, uint64_t tag)
{
    int rc = wsio__conn_send_tagged(ws->conn, frame, tag);
    if (rc == WSIO_ENOMEM)
        wsio__ws_fail_soon(ws, rc);
    return rc < 0 ? rc : queued(ws);
}

int wsio__ws_send_shared(wsio_ws *ws, wsio_rcbuf *frame, uint64_t tag,
                         enum wsio_backpressure_policy policy, int *closed)
{
    if (policy == WSIO_BACKPRESSURE_QUEUE)
        policy = WSIO_BACKPRESSURE_DROP;
    int rc = admit(ws, policy, closed);
    if (rc != WSIO_SEND_QUEUED)
        return rc;
    return queue_shared(ws, frame, tag);
}

int wsio__ws_send_replay(wsio_ws *ws, wsio_rcbuf *frame)
{
    if (ws->state != WSIO__WS_OPEN)
        return WSIO_ECLOSED;
    return queue_shared(ws, frame, 0);
}

/* Unsent bytes at the front of the output that the transport may hold
 * without having reported them: after WSIO_EAGAIN it must be offered them
 * again unchanged. */
static size_t transport_held(const wsio_ws *ws)
{
    return transport_holds_bytes(ws) ? WSIO__TRANSPORT_HELD_MAX : 0;
}

int wsio__ws_send_evicting(wsio_ws *ws, wsio_rcbuf *frame, uint64_t tag,
                           int all, size_t *evicted)
{
    *evicted = 0;
    if (ws->state != WSIO__WS_OPEN)
        return WSIO_ECLOSED;
    /* Nothing is taken back for a frame that would be refused anyway
     * (our close already sent, a fragmented send in progress). */
    int rc = wsio__conn_can_take_encoded(ws->conn);
    if (rc)
        return rc;
    size_t have = wsio_conn_buffered_amount(ws->conn);
    if (have > ws->common->max_output) {
        ws->over_mark = 1;
        size_t need = all ? SIZE_MAX : have - ws->common->max_output;
        *evicted = wsio__conn_evict(ws->conn, tag, need, transport_held(ws));
    }
    return queue_shared(ws, frame, tag);
}

int wsio_ws_ping(wsio_ws *ws, const void *data, size_t len)
{
    if (ws->state != WSIO__WS_OPEN)
        return WSIO_ECLOSED;
    int rc = wsio_conn_ping(ws->conn, data, len);
    if (rc == 0)
        wsio__ws_mark_dirty(ws);
    return rc;
}

int wsio__ws_ping_timed(wsio_ws *ws)
{
    uint64_t now = wsio_loop_now_us(ws->loop);
    uint8_t stamp[8];
    for (int i = 0; i < 8; i++)
        stamp[i] = (uint8_t)(now >> (56 - 8 * i));
    int rc = wsio_ws_ping(ws, stamp, sizeof stamp);
    if (rc == 0)
        ws->ping_sent_us = now;
    return rc;
}

uint64_t wsio_ws_rtt_us(const wsio_ws *ws)
{
    return ws->rtt_us;
}

int wsio_ws_close(wsio_ws *ws, unsigned code, const char *reason,
                  size_t reason_len)
{
    if (ws->state == WSIO__WS_HANDSHAKE) {
        terminate(ws, 0); /* a client still connecting: give up */
        return 0;
    }
    /* Already closing or closed: nothing changes (not even the timer). */
    if (ws->state != WSIO__WS_OPEN ||
        wsio_conn_state(ws->conn) != WSIO_CONN_OPEN)
        return 0;
    int rc = wsio_conn_close(ws->conn, code, reason, reason_len);
    if (rc)
        return rc;
    wsio__ws_arm(ws, ws->common->close_timeout_ms);
    wsio__ws_mark_dirty(ws);
    return 0;
}

void wsio_ws_terminate(wsio_ws *ws)
{
    terminate(ws, 0);
}

void wsio_ws_pause(wsio_ws *ws)
{
    if (ws->paused)
        return;
    ws->paused = 1;
    ws->rx_scan_ready = 0; /* starts where parsing stopped */
    if (ws->state == WSIO__WS_OPEN && kept(ws) > 0)
        wsio__ws_mark_dirty(ws); /* look at them (flush), outside a feed */
}

void wsio_ws_resume(wsio_ws *ws)
{
    if (!ws->paused)
        return;
    ws->paused = 0;
    ws->rx_scan_ready = 0;
    wsio__ws_mark_dirty(ws); /* parse what waits, watch READ again */
}

int wsio_ws_is_paused(const wsio_ws *ws)
{
    return ws->paused;
}

void wsio__ws_note_ping(wsio_ws *ws)
{
    ws->pinged = 1;
    ws->pong_seen = 0;
    ws->written_at_ping = ws->written;
    ws->queued_at_ping = wsio_conn_buffered_amount(ws->conn);
}

int wsio__ws_heard_from(const wsio_ws *ws)
{
    if (ws->pong_seen)
        return 1;
    /* Paused: its pong would have been seen in the read-ahead, unless that
     * is full, and then it is our pause that holds the peer back. */
    if (ws->paused)
        return !wants_bytes(ws);
    /* Not read because our output is over the mark: its pong may wait
     * behind bytes we do not read; it is alive if it reads ours. */
    if (!wsio_conn_want_read(ws->conn))
        return ws->queued_at_ping > 0 && ws->written != ws->written_at_ping;
    return 0;
}

void *wsio_ws_get_user(const wsio_ws *ws)
{
    return ws->user;
}

void wsio_ws_set_user(wsio_ws *ws, void *user)
{
    ws->user = user;
}

const char *wsio_ws_remote_addr(const wsio_ws *ws, uint16_t *port)
{
    if (port)
        *port = ws->port;
    return ws->addr;
}

const char *wsio_ws_subprotocol(const wsio_ws *ws)
{
    return ws->subprotocol ? ws->subprotocol : "";
}

int wsio_ws_http_status(const wsio_ws *ws)
{
    return ws->http_status;
}

wsio_conn *wsio_ws_conn(wsio_ws *ws)
{
    return ws->conn;
}
