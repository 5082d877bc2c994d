/*
 * src/ws_write.c - the writing side of the ws driver (ws.c): corked
 * writes flushed at the end of a turn, the write watch, and the sends
 * (backpressure policies, direct writes of large messages, shared and
 * evicting sends).
 */
#include <string.h>

#include "ws_shared.h"

/* ---- writing ---------------------------------------------------------------
 */

static size_t raw_left(const wsio_ws *ws)
{
    const wsio__raw_out *r = wsio__ws_raw(ws);
    return r ? r->len - r->off : 0;
}

void wsio__ws_raw_drop(wsio_ws *ws)
{
    wsio__free(wsio__loop_mem(ws->common->loop), wsio__ws_raw(ws));
    wsio__ws_raw_set(ws, NULL);
}

uint8_t *wsio__ws_raw_new(wsio_ws *ws, size_t len)
{
    if (len > UINT32_MAX)
        return NULL;
    wsio__raw_out *r =
        wsio__malloc(wsio__loop_mem(ws->common->loop), sizeof *r + len);
    if (!r)
        return NULL;
    wsio__ws_raw_drop(ws);
    r->len = (uint32_t)len;
    r->off = 0;
    wsio__ws_raw_set(ws, r);
    return r->bytes;
}

size_t wsio_ws_buffered_amount(const wsio_ws *ws)
{
    return raw_left(ws) + (wsio__ws_conn(ws)
                               ? wsio_conn_buffered_amount(wsio__ws_conn(ws))
                               : 0);
}

int wsio__ws_queue_raw(wsio_ws *ws, const void *data, size_t len)
{
    size_t left = raw_left(ws);
    if (len > UINT32_MAX - left)
        return WSIO_ENOMEM;
    wsio__raw_out *old = wsio__ws_raw(ws);
    wsio__ws_raw_set(ws, NULL); /* kept from wsio__ws_raw_new's drop */
    uint8_t *p = wsio__ws_raw_new(ws, left + len);
    if (!p) {
        wsio__ws_raw_set(ws, old);
        return WSIO_ENOMEM;
    }
    if (left)
        memcpy(p, old->bytes + old->off, left);
    memcpy(p + left, data, len);
    wsio__free(wsio__loop_mem(ws->common->loop), old);
    wsio__ws_mark_dirty(ws);
    return 0;
}

/* Account for n bytes written: handshake bytes first, then the conn's. */
static void consume(wsio_ws *ws, size_t n)
{
    size_t raw = raw_left(ws);
    if (raw) {
        size_t k = n < raw ? n : raw;
        wsio__raw_out *r = wsio__ws_raw(ws);
        r->off += (uint32_t)k;
        n -= k;
        if (r->off == r->len)
            wsio__ws_raw_drop(ws);
    }
    if (n && wsio__ws_conn(ws)) {
        wsio_conn_consume_output(wsio__ws_conn(ws), n);
        ws->wrote_since_ping = 1;
        /* While we do not read the peer by our choice, its reading what
         * we send is what shows it is there (the idle timeout). */
        if (ws->state == WSIO__WS_OPEN && !wsio__ws_may_parse(ws))
            ws->last_rx = (uint32_t)wsio__loop_now(ws->common->loop);
        if (ws->common->counters)
            ws->common->counters->bytes_out += n;
    }
}

void wsio__ws_update_watch(wsio_ws *ws, int pending)
{
    /* A direction one operation waits on replaces the other's own: a TLS
     * read that needs WRITE must not spin on a readable socket. */
    int rd =
        (!ws->peer_eof && !ws->read_needs_write && wsio__ws_wants_bytes(ws)) ||
        ws->write_needs_read;
    int wr = (pending && !ws->write_needs_read) || ws->read_needs_write;
    unsigned ev = (rd ? WSIO_IO_READ : 0u) | (wr ? WSIO_IO_WRITE : 0u);
    int rc = wsio__io_watch(ws->common->loop, &ws->io, ev);
    if (rc)
        wsio__ws_terminate(ws, rc);
}

void wsio__ws_flush(wsio_ws *ws)
{
    if (ws->state == WSIO__WS_OPEN && wsio__ws_kept(ws) > 0 &&
        wsio__ws_may_parse(ws)) {
        wsio__ws_pump(ws); /* resumed, or the output drained */
        if (ws->state == WSIO__WS_DEAD)
            return;
    }
    if (ws->state == WSIO__WS_OPEN && ws->paused && ws->rx_keep &&
        !ws->rx_keep->scan_ready)
        wsio__ws_look_ahead(ws); /* paused with bytes kept from before */
    wsio_iov iov[FLUSH_IOVS];
    size_t n = 0;
    ssize_t w = 0;
    if (raw_left(ws)) {
        iov[0].base = wsio__ws_raw(ws)->bytes + wsio__ws_raw(ws)->off;
        iov[0].len = raw_left(ws);
        n = 1;
    }
    if (wsio__ws_conn(ws))
        n += wsio_conn_peek_output(wsio__ws_conn(ws), iov + n, FLUSH_IOVS - n);
    if (n) {
        w = ws->tr.ops->writev(&ws->tr, iov, n);
        if (w < 0 && w != WSIO_EAGAIN) {
            wsio__ws_terminate(ws, (int)w);
            return;
        }
        if (w == WSIO_EAGAIN && (wsio__ws_transport_wants(ws) & WSIO_IO_READ))
            ws->write_needs_read = 1; /* TLS: write once readable */
        if (w > 0)
            consume(ws, (size_t)w);
    }
    int pending = wsio_ws_buffered_amount(ws) > 0;
    if (ws->state == WSIO__WS_OPEN && ws->over_mark &&
        wsio_conn_buffered_amount(wsio__ws_conn(ws)) <= ws->common->low_water) {
        ws->over_mark = 0;
        if (ws->common->cb.on_drain)
            ws->common->cb.on_drain(ws, ws->common->user);
        if (ws->state == WSIO__WS_DEAD)
            return;
    }
    /* The output drained: parse what waits, in a later pass of this turn. */
    if (w > 0 && ws->state == WSIO__WS_OPEN && wsio__ws_kept(ws) > 0 &&
        wsio__ws_may_parse(ws))
        wsio__ws_mark_dirty(ws);
    if (ws->state == WSIO__WS_CLOSED && !pending && ws->peer_eof) {
        wsio__ws_close_transport(ws);
        return;
    }
    if (ws->state == WSIO__WS_CLOSED && !pending && !ws->lingering) {
        /* TLS sends its close_notify here and may have to wait for the
         * socket: try again at the next readiness. */
        int rc = ws->tr.ops->shutdown(&ws->tr);
        if (rc == WSIO_EAGAIN) {
            ws->write_needs_read =
                (wsio__ws_transport_wants(ws) & WSIO_IO_READ) ? 1 : 0;
            wsio__ws_update_watch(ws, 1);
            return;
        }
        if (rc < 0) {
            wsio__ws_close_transport(ws);
            return;
        }
        ws->lingering = 1;
    }
    wsio__ws_update_watch(ws, pending);
}

/* The end-of-turn task of a ws marked dirty. */
void wsio__ws_flush_task(wsio__turn_task *t)
{
    wsio_ws *ws = WSIO__CONTAINER_OF(t, wsio_ws, flush_task);
    if (ws->state != WSIO__WS_DEAD && !ws->connecting && !ws->tr_handshake)
        wsio__ws_flush(ws);
}

/* ---- sending ---------------------------------------------------------------
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
        wsio_conn_state(wsio__ws_conn(ws)) != WSIO_CONN_OPEN)
        return WSIO_ECLOSED; /* our close frame is queued: nothing after */
    size_t queued_now = wsio_conn_buffered_amount(wsio__ws_conn(ws));
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

int wsio__ws_queued(wsio_ws *ws)
{
    wsio__ws_mark_dirty(ws);
    if (ws->common->counters)
        ws->common->counters->messages_out++;
    if (wsio_conn_buffered_amount(wsio__ws_conn(ws)) > ws->common->max_output) {
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
    int rc = wsio__conn_send_direct(wsio__ws_conn(ws), opcode, data, len,
                                    write_now, ws, &written);
    if (written)
        ws->wrote_since_ping = 1;
    if (written && ws->common->counters)
        ws->common->counters->bytes_out += written;
    /* A frame cut short: end the connection, but not from inside the
     * application's send (its on_close comes on the next turn). */
    if (rc == WSIO_ENOMEM &&
        wsio__conn_can_take_encoded(wsio__ws_conn(ws)) == WSIO_ECLOSED)
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
        !(ws->io.events & WSIO_IO_WRITE) && !raw_left(ws))
        rc = send_direct(ws, opcode, data, len);
    else
        rc = wsio_conn_send(wsio__ws_conn(ws), opcode, data, len);
    return rc < 0 ? rc : wsio__ws_queued(ws);
}

static int queue_shared(wsio_ws *ws, wsio_rcbuf *frame, uint64_t tag)
{
    int rc = wsio__conn_send_tagged(wsio__ws_conn(ws), frame, tag);
    if (rc == WSIO_ENOMEM)
        wsio__ws_fail_soon(ws, rc);
    return rc < 0 ? rc : wsio__ws_queued(ws);
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
    int rc = wsio__conn_can_take_encoded(wsio__ws_conn(ws));
    if (rc)
        return rc;
    size_t have = wsio_conn_buffered_amount(wsio__ws_conn(ws));
    if (have > ws->common->max_output) {
        ws->over_mark = 1;
        size_t need = all ? SIZE_MAX : have - ws->common->max_output;
        *evicted =
            wsio__conn_evict(wsio__ws_conn(ws), tag, need, transport_held(ws));
    }
    return queue_shared(ws, frame, tag);
}
