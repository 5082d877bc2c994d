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
#include "conn_shared.h"
#include "ws_shared.h"

/* The handshake state lives where the conn goes (ws_internal.h); every
 * role's room holds at least a wsio_conn (wsio__conn_size). */
_Static_assert(sizeof(wsio__ws_handshake) <= sizeof(wsio_conn),
               "the handshake state must fit the conn's room");

void wsio__ws_mark_dirty(wsio_ws *ws)
{
    if (ws->state != WSIO__WS_DEAD)
        wsio__loop_at_turn_end(ws->common->loop, &ws->flush_task);
}

void wsio__ws_arm(wsio_ws *ws, uint32_t ms)
{
    if (ws->state != WSIO__WS_DEAD) /* the timer is the release's now */
        wsio__timer_start(ws->common->loop, &ws->timer,
                          wsio__loop_now(ws->common->loop) + ms);
}

static void release_deferred(wsio__deferred *d)
{
    wsio_ws *ws = WSIO__CONTAINER_OF(d, wsio_ws, defer);
    ws->common->cls->release(ws);
}

void wsio__ws_hs_drop(wsio_ws *ws)
{
    if (ws->has_conn)
        return; /* the conn is where the state was; OPEN freed it */
    wsio__ws_handshake *hs = wsio__ws_hs(ws);
    wsio__free(ws->common->buffer_mem, hs->in); /* counted: see server.c */
    hs->in = NULL;
    hs->in_len = 0;
}

void wsio__ws_cleanup(wsio_ws *ws)
{
    wsio__ws_hs_drop(ws);
    wsio_conn_free(wsio__ws_conn(ws));
    ws->has_conn = 0;
    wsio__ws_drop_keep(ws);
    wsio__ws_raw_drop(ws);
    wsio__ws_extras_free(ws);
    wsio__timer_unreserve(ws->common->loop);
}

/* The end: no more I/O on this ws; its memory goes at the end of the turn. */
void wsio__ws_close_transport(wsio_ws *ws)
{
    if (ws->state == WSIO__WS_DEAD)
        return;
    if (ws->io.fd >= 0) { /* a client still dialing has no socket yet */
        wsio__io_unwatch(ws->common->loop, &ws->io);
        ws->tr.ops->close(&ws->tr);
    }
    wsio__timer_stop(ws->common->loop, &ws->timer);
    ws->state = WSIO__WS_DEAD;
    ws->common->cls->transport_closed(ws);
    /* The timer's memory from now on (ws_internal.h). */
    ws->defer = (wsio__deferred){.kind = WSIO__KIND_CONN};
    wsio__defer(ws->common->loop, &ws->defer);
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
        wsio__ws_close_transport(ws);
        return;
    }
    /* A server's answer (404, 400, 503 ...) still has to go out. */
    if (!wsio__ws_raw(ws)) {
        wsio__ws_close_transport(ws);
        return;
    }
    wsio__ws_arm(ws, ws->common->close_timeout_ms);
    wsio__ws_mark_dirty(ws);
}

void wsio__ws_terminate(wsio_ws *ws, int err)
{
    switch (ws->state) {
    case WSIO__WS_HANDSHAKE:
        wsio__ws_finish_handshake_fail(ws, err);
        wsio__ws_close_transport(ws);
        break;
    case WSIO__WS_OPEN:
        ws->terminating = 1;
        wsio_conn_abort(wsio__ws_conn(ws), err); /* calls conn_on_close */
        ws->terminating = 0;
        wsio__ws_close_transport(ws);
        break;
    case WSIO__WS_CLOSED:
        wsio__ws_close_transport(ws);
        break;
    default:
        break;
    }
}

void wsio__ws_fail_soon(wsio_ws *ws, int err)
{
    if (ws->state == WSIO__WS_DEAD || ws->fail_err)
        return;
    ws->fail_err = (int16_t)err; /* error codes fit (ws_internal.h) */
    wsio__timer_start(ws->common->loop, &ws->timer, 0);
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
    uint64_t now = wsio_loop_now_us(ws->common->loop);
    if (ws->ping_out && pong->len == 8 &&
        wsio__stamp_is(load_be64((const uint8_t *)pong->data), ws->ping_sent_us,
                       now)) {
        uint32_t rtt = wsio__since32(now, ws->ping_sent_us);
        ws->rtt_us = rtt ? rtt : 1; /* 0 means none yet */
        ws->ping_out = 0;
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
            wsio_conn_state(wsio__ws_conn(ws)) == WSIO_CONN_OPEN &&
            wsio_ws_close(ws, WSIO_CLOSE_INTERNAL_ERROR, NULL, 0) == 0)
            return;
        wsio__ws_terminate(ws, err);
        return;
    }
    switch (ws->state) {
    case WSIO__WS_HANDSHAKE:
        wsio__ws_terminate(ws, WSIO_ETIMEDOUT);
        break;
    case WSIO__WS_OPEN: {
        if (wsio_conn_state(wsio__ws_conn(ws)) == WSIO_CONN_CLOSING) {
            wsio__ws_terminate(ws, WSIO_ETIMEDOUT); /* no close reply in time */
            break;
        }
        uint32_t idle = ws->common->idle_timeout_ms;
        uint64_t now = wsio__loop_now(ws->common->loop);
        /* Paused with the read-ahead full: the peer is held back by us. */
        if (ws->paused && !wsio__ws_wants_bytes(ws))
            ws->last_rx = (uint32_t)now;
        uint32_t quiet = wsio__since32(now, ws->last_rx);
        if (quiet >= idle)
            (void)wsio_ws_close(ws, WSIO_CLOSE_GOING_AWAY, "idle", 4);
        else
            wsio__timer_start(ws->common->loop, &ws->timer,
                              now + (idle - quiet));
        break;
    }
    default:
        wsio__ws_close_transport(ws);
        break;
    }
}

/* ---- life ------------------------------------------------------------------
 */

/* Every connection's loop objects call these (no pointer in each ws). */
static const wsio__conn_hooks hooks = {.ready = wsio__ws_on_ready,
                                       .fire = on_timer,
                                       .run = wsio__ws_flush_task,
                                       .release = release_deferred};

int wsio__ws_init(wsio_ws *ws, wsio_loop *loop, const wsio__ws_common *common,
                  int fd, enum wsio_role role, unsigned events)
{
    ws->common = common;
    /* The handshake state, in the conn's room (ws_internal.h). */
    memset(wsio__ws_hs(ws), 0, sizeof(wsio__ws_handshake));
    wsio__loop_set_conn_hooks(loop, &hooks);
    ws->io.kind = WSIO__KIND_CONN;
    ws->timer.kind = WSIO__KIND_CONN;
    ws->tr.ops = common->transport ? common->transport : wsio_transport_plain();
    ws->last_rx = (uint32_t)wsio__loop_now(loop);
    int rc = wsio__timer_reserve(loop);
    if (rc)
        return rc;
    ws->io.fd = ws->tr.fd = -1;
    if (fd < 0)
        return 0;
    rc = wsio__ws_set_fd(ws, fd, role, NULL, events);
    if (rc)
        wsio__timer_unreserve(loop);
    return rc;
}

int wsio__ws_set_fd(wsio_ws *ws, int fd, enum wsio_role role,
                    const char *server_name, unsigned events)
{
    ws->io.fd = ws->tr.fd = fd;
    int rc =
        ws->tr.ops->open(&ws->tr, ws->common->transport_ctx, role, server_name);
    if (rc == 0 && events) {
        rc = wsio__io_watch(ws->common->loop, &ws->io, events);
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

void wsio__ws_common_ready(wsio__ws_common *m)
{
    static const wsio_conn_callbacks cb = {.on_message = conn_on_message,
                                           .on_pong = conn_on_pong,
                                           .on_close = conn_on_close};
    m->conn_env.mem = wsio__mem_or_default(m->buffer_mem);
    m->conn_env.cb = &cb;
    m->conn_env.cfg = &m->conn;
    /* A server reads each client no faster than the client reads it. A
     * client always reads (as browsers do): if both ends waited for the
     * other to read first, an echo conversation would deadlock. */
    if (m->cls->answers_handshake) {
        m->conn_env.out_high = m->max_output;
        m->conn_env.out_low = m->low_water;
    }
}

int wsio__ws_open(wsio_ws *ws, enum wsio_role role, uint8_t *rest,
                  size_t rest_len)
{
    wsio__ws_handshake hs = *wsio__ws_hs(ws); /* the conn goes over it */
    wsio_conn *conn =
        wsio__conn_new_shared((char *)ws + ws->common->cls->conn_room, role,
                              &ws->common->conn_env, ws);
    ws->has_conn = 1;
    if (ws->pmd_on) { /* RFC 7692: the agreed codec, before any byte */
        const wsio_deflate_ext *ext = ws->common->deflate;
        wsio_codec codec;
        int rc = ext->codec_new(ext, wsio__ws_pmd(ws), role, 0,
                                ws->common->buffer_mem, &codec);
        if (rc == 0) {
            rc = wsio_conn_set_codec(conn, &codec);
            if (rc) /* out of memory for the codec's block */
                codec.ops->free(codec.state);
        }
        if (rc) {
            wsio_conn_free(conn);
            ws->has_conn = 0;
            *wsio__ws_hs(ws) = hs; /* still HANDSHAKE */
            return rc;
        }
    }
    if (ws->tr.ops != wsio_transport_plain())
        wsio__conn_set_output_keep(conn, WSIO__TRANSPORT_HELD_MAX);
    ws->state = WSIO__WS_OPEN;
    ws->last_rx = (uint32_t)wsio__loop_now(ws->common->loop);
    wsio__timer_stop(ws->common->loop, &ws->timer);
    if (ws->common->idle_timeout_ms)
        wsio__ws_arm(ws, ws->common->idle_timeout_ms);
    wsio__ws_mark_dirty(ws);
    if (ws->common->cb.on_open)
        ws->common->cb.on_open(ws, ws->common->user);
    if (ws->state == WSIO__WS_OPEN && rest_len > 0)
        wsio__ws_feed(ws, rest, rest_len); /* keeps what it does not take */
    wsio__free(ws->common->buffer_mem, hs.in);
    return 0;
}

/* ---- public API ------------------------------------------------------------
 */

int wsio_ws_ping(wsio_ws *ws, const void *data, size_t len)
{
    if (ws->state != WSIO__WS_OPEN)
        return WSIO_ECLOSED;
    int rc = wsio_conn_ping(wsio__ws_conn(ws), data, len);
    if (rc == 0)
        wsio__ws_mark_dirty(ws);
    return rc;
}

int wsio__ws_ping_timed(wsio_ws *ws)
{
    uint64_t now = wsio_loop_now_us(ws->common->loop);
    uint8_t stamp[8];
    for (int i = 0; i < 8; i++)
        stamp[i] = (uint8_t)(now >> (56 - 8 * i));
    int rc = wsio_ws_ping(ws, stamp, sizeof stamp);
    if (rc == 0) {
        ws->ping_sent_us = (uint32_t)now;
        ws->ping_out = 1;
    }
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
        wsio__ws_terminate(ws, 0); /* a client still connecting: give up */
        return 0;
    }
    /* Already closing or closed: nothing changes (not even the timer). */
    if (ws->state != WSIO__WS_OPEN ||
        wsio_conn_state(wsio__ws_conn(ws)) != WSIO_CONN_OPEN)
        return 0;
    int rc = wsio_conn_close(wsio__ws_conn(ws), code, reason, reason_len);
    if (rc)
        return rc;
    wsio__ws_arm(ws, ws->common->close_timeout_ms);
    wsio__ws_mark_dirty(ws);
    return 0;
}

void wsio_ws_terminate(wsio_ws *ws)
{
    wsio__ws_terminate(ws, 0);
}

void wsio_ws_pause(wsio_ws *ws)
{
    if (ws->paused)
        return;
    ws->paused = 1;
    if (ws->rx_keep)
        ws->rx_keep->scan_ready = 0; /* starts where parsing stopped */
    if (ws->state == WSIO__WS_OPEN && wsio__ws_kept(ws) > 0)
        wsio__ws_mark_dirty(
            ws); /* look at them (wsio__ws_flush), outside a feed */
}

void wsio_ws_resume(wsio_ws *ws)
{
    if (!ws->paused)
        return;
    ws->paused = 0;
    if (ws->rx_keep)
        ws->rx_keep->scan_ready = 0;
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
    ws->queued_at_ping = wsio_conn_buffered_amount(wsio__ws_conn(ws)) > 0;
    ws->wrote_since_ping = 0;
}

int wsio__ws_heard_from(const wsio_ws *ws)
{
    if (ws->pong_seen)
        return 1;
    /* Paused: its pong would have been seen in the read-ahead, unless that
     * is full, and then it is our pause that holds the peer back. */
    if (ws->paused)
        return !wsio__ws_wants_bytes(ws);
    /* Not read because our output is over the mark: its pong may wait
     * behind bytes we do not read; it is alive if it reads ours. */
    if (!wsio_conn_want_read(wsio__ws_conn(ws)))
        return ws->queued_at_ping && ws->wrote_since_ping;
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

int wsio_ws_http_status(const wsio_ws *ws)
{
    if (ws->common->cls->answers_handshake)
        return 0; /* a server's own ws */
    return ws->has_conn ? 101 : wsio__ws_hs(ws)->http_status;
}

wsio_conn *wsio_ws_conn(wsio_ws *ws)
{
    return wsio__ws_conn(ws);
}
