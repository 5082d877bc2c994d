/*
 * src/conn_send.c - the send path of a connection (conn.c): frames and
 * whole messages encoded into the output queue, client masking, direct
 * and pre-encoded sends, close (RFC 6455 sections 5.2-5.5, 5.3, 7.1.2).
 */
#include <string.h>

#include "conn_shared.h"

/* ---- sending ------------------------------------------------------------ */

/* A fresh masking key (section 5.3, section 10.3: unpredictable). */
static int next_mask(wsio_conn *c, uint8_t key[4])
{
    if (c->env->cfg->make_mask)
        return c->env->cfg->make_mask(key, c->env->cfg->make_mask_user);
    if (c->pool_left < 4) {
        int err = wsio__random_bytes(c->pool, MASK_POOL);
        if (err)
            return err;
        c->pool_left = MASK_POOL;
    }
    memcpy(key, c->pool + MASK_POOL - c->pool_left, 4);
    c->pool_left = (uint8_t)(c->pool_left - 4);
    return 0;
}

/* A header for an outgoing frame, with a fresh masking key for a client
 * (section 5.1). */
static int start_header(wsio_conn *c, wsio_frame_header *h, unsigned opcode,
                        int fin, unsigned rsv)
{
    memset(h, 0, sizeof *h);
    h->opcode = (uint8_t)opcode;
    h->fin = (uint8_t)(fin != 0);
    h->rsv = (uint8_t)rsv;
    h->masked = c->role == WSIO_ROLE_CLIENT;
    return h->masked ? next_mask(c, h->mask_key) : 0;
}

/* Room for n more bytes of output, in the send side's block (made now if
 * needed). Out of memory: NULL, and nothing is left held for it. */
static uint8_t *reserve(wsio_conn *c, size_t n)
{
    wsio__conn_tx *tx = wsio__conn_tx_make(c);
    uint8_t *out = tx ? wsio__outq_reserve(&tx->out, c->env->mem, n) : NULL;
    if (!out)
        wsio__conn_tx_settle(c);
    return out;
}

/* Encode one frame into the output queue, copying (and for a client,
 * masking) the payload. Nothing is queued on failure. */
int wsio__conn_queue_frame(wsio_conn *c, unsigned opcode, int fin,
                           const void *data, size_t len)
{
    wsio_frame_header h;
    int err = start_header(c, &h, opcode, fin, 0);
    if (err)
        return err;
    h.payload_len = len;
    size_t hlen = wsio_frame_header_size(len, h.masked);
    if (len > SIZE_MAX - hlen)
        return WSIO_ENOMEM;
    uint8_t *out = reserve(c, hlen + len);
    if (!out)
        return WSIO_ENOMEM;
    (void)wsio_frame_header_encode(out, &h);
    if (len > 0 && h.masked)
        wsio_mask_copy(out + hlen, data, len, h.mask_key, 0);
    else if (len > 0)
        memcpy(out + hlen, data, len);
    wsio__outq_commit(&c->tx->out, hlen + len);
    return 0;
}

/*
 * Compress a whole message through codec into out, which has room for the
 * largest header the codec's bound may need (hmax) and the bound behind
 * it; h is the header, with RSV1 (RFC 7692 section 6). Returns the frame's
 * length, or the codec's negative code.
 */
static ssize_t encode_compressed(const wsio_codec *codec, wsio_frame_header *h,
                                 const void *data, size_t len, uint8_t *out,
                                 size_t hmax, size_t bound)
{
    ssize_t clen =
        codec->ops->encode(codec->state, data, len, out + hmax, bound);
    if (clen < 0)
        return clen;
    h->payload_len = (uint64_t)clen;
    size_t hlen = wsio_frame_header_size((uint64_t)clen, h->masked);
    if (hlen != hmax)
        memmove(out + hlen, out + hmax, (size_t)clen);
    (void)wsio_frame_header_encode(out, h);
    if (h->masked)
        wsio_mask(out + hlen, (size_t)clen, h->mask_key, 0);
    return (ssize_t)hlen + clen;
}

/* A whole data message: compressed when the codec wants it, else plain. */
static int queue_message(wsio_conn *c, unsigned opcode, const void *data,
                         size_t len)
{
    size_t bound = c->codec->ops->encode_bound(c->codec->state, len);
    if (bound == 0)
        return wsio__conn_queue_frame(c, opcode, 1, data, len);
    wsio_frame_header h;
    int err = start_header(c, &h, opcode, 1, WSIO_RSV1);
    if (err)
        return err;
    size_t hmax = wsio_frame_header_size(bound, h.masked);
    if (bound > SIZE_MAX - hmax)
        return WSIO_ENOMEM;
    uint8_t *out = reserve(c, hmax + bound);
    if (!out)
        return WSIO_ENOMEM;
    ssize_t n = encode_compressed(c->codec, &h, data, len, out, hmax, bound);
    if (n < 0) {
        wsio__conn_tx_settle(c);
        return (int)n;
    }
    wsio__outq_commit(&c->tx->out, (size_t)n);
    return 0;
}

/* Queue a close frame (section 5.5.1): no body when code is 0, else the
 * code in network order and the reason. */
int wsio__conn_queue_close(wsio_conn *c, unsigned code, const char *reason,
                           size_t reason_len)
{
    uint8_t body[WSIO_CONTROL_PAYLOAD_MAX];
    size_t len = 0;
    if (code) {
        body[0] = (uint8_t)(code >> 8);
        body[1] = (uint8_t)code;
        if (reason_len)
            memcpy(body + 2, reason, reason_len);
        len = 2 + reason_len;
    }
    int err = wsio__conn_queue_frame(c, WSIO_OP_CLOSE, 1, body, len);
    if (!err)
        c->close_sent = 1;
    return err;
}

/* Data frames may go out until a close frame has been queued (section
 * 5.5.1: nothing after it). */
static int can_send_data(const wsio_conn *c)
{
    return !c->close_sent && c->state != WSIO_CONN_CLOSED;
}

/* Whether a frame may be sent now (sections 5.4, 8.1): on success *utf8
 * is the outgoing text validator's state after it. */
static int check_send(const wsio_conn *c, enum wsio_opcode opcode,
                      const void *data, size_t len, int fin, wsio_utf8 *utf8)
{
    if (opcode != WSIO_OP_CONTINUATION && opcode != WSIO_OP_TEXT &&
        opcode != WSIO_OP_BINARY)
        return WSIO_EINVAL;
    if (len > 0 && !data)
        return WSIO_EINVAL;
    if (!can_send_data(c))
        return WSIO_ECLOSED;
    /* Section 5.4: continuations only inside a message, a new message only
     * after the last one's final frame. */
    unsigned sending = c->tx ? c->tx->tx_opcode : 0;
    if ((opcode == WSIO_OP_CONTINUATION) != (sending != 0))
        return WSIO_ESTATE;
    unsigned message = opcode == WSIO_OP_CONTINUATION ? sending : opcode;
    if (sending)
        *utf8 = c->tx->tx_utf8;
    else
        wsio_utf8_init(utf8);
    if (message == WSIO_OP_TEXT && c->env->cfg->check_outgoing_utf8) {
        if (opcode != WSIO_OP_CONTINUATION)
            wsio_utf8_init(utf8);
        if (wsio_utf8_feed(utf8, data, len, NULL) ||
            (fin && wsio_utf8_finish(utf8)))
            return WSIO_EUTF8;
    }
    return 0;
}

int wsio_conn_send_fragment(wsio_conn *c, enum wsio_opcode opcode,
                            const void *data, size_t len, int fin)
{
    wsio_utf8 utf8;
    int err = check_send(c, opcode, data, len, fin, &utf8);
    if (err)
        return err;
    unsigned message =
        opcode == WSIO_OP_CONTINUATION ? c->tx->tx_opcode : opcode;
    /* Only whole messages are compressed: a fragmented one would need the
     * codec to stream (RFC 7692 allows either, per message). */
    err = c->codec && fin && opcode != WSIO_OP_CONTINUATION
              ? queue_message(c, opcode, data, len)
              : wsio__conn_queue_frame(c, opcode, fin, data, len);
    if (err)
        return err;
    /* Queued: the block is there, and keeps the message's state until its
     * final frame. */
    c->tx->tx_utf8 = utf8;
    c->tx->tx_opcode = (uint8_t)(fin ? 0 : message);
    return 0;
}

/* Pieces of queued output wsio__conn_send_direct writes along. */
#define DIRECT_QUEUED_IOVS 14

int wsio__conn_send_direct(wsio_conn *c, enum wsio_opcode opcode,
                           const void *data, size_t len, wsio__write_fn write,
                           void *ctx, size_t *written)
{
    *written = 0;
    /* Masking (a client) or compressing would rewrite the payload. */
    if (c->role != WSIO_ROLE_SERVER || c->codec ||
        (opcode != WSIO_OP_TEXT && opcode != WSIO_OP_BINARY))
        return wsio_conn_send(c, opcode, data, len);
    /* What is queued goes first, in the same write. */
    wsio_iov iov[DIRECT_QUEUED_IOVS + 2];
    size_t n = wsio_conn_peek_output(c, iov, DIRECT_QUEUED_IOVS);
    size_t queued = 0;
    for (size_t i = 0; i < n; i++)
        queued += iov[i].len;
    if (queued < wsio_conn_buffered_amount(c)) /* too many pieces: rare */
        return wsio_conn_send(c, opcode, data, len);
    wsio_utf8 utf8;
    int err = check_send(c, opcode, data, len, 1, &utf8);
    if (err)
        return err;
    wsio_frame_header h;
    (void)start_header(c, &h, opcode, 1, 0); /* unmasked: cannot fail */
    h.payload_len = len;
    uint8_t hdr[WSIO_FRAME_HEADER_MAX];
    size_t hlen = (size_t)wsio_frame_header_encode(hdr, &h);
    iov[n].base = hdr;
    iov[n].len = hlen;
    iov[n + 1].base = (void *)(uintptr_t)data;
    iov[n + 1].len = len;
    ssize_t w = write(ctx, iov, len > 0 ? n + 2 : n + 1);
    size_t sent = w > 0 ? (size_t)w : 0;
    *written = sent;
    size_t old = sent < queued ? sent : queued;
    wsio_conn_consume_output(c, old);
    sent -= old;
    size_t total = hlen + len;
    if (sent < total) {
        /* Queue the rest of the frame (a copy), as wsio_conn_send would
         * have queued all of it. */
        uint8_t *out = reserve(c, total - sent);
        if (!out && sent > 0) {
            /* Part of the frame left and the rest cannot follow: nothing
             * the peer reads from here on would make sense, so nothing more
             * is sent. The caller ends the connection; aborting here would
             * report the close from inside its send. */
            c->close_sent = 1;
            return WSIO_ENOMEM;
        }
        if (!out)
            return WSIO_ENOMEM;
        size_t hrest = sent < hlen ? hlen - sent : 0;
        memcpy(out, hdr + (hlen - hrest), hrest);
        size_t from = sent > hlen ? sent - hlen : 0;
        memcpy(out + hrest, (const uint8_t *)data + from, len - from);
        wsio__outq_commit(&c->tx->out, total - sent);
    }
    return 0;
}

int wsio_conn_send(wsio_conn *c, enum wsio_opcode opcode, const void *data,
                   size_t len)
{
    if (opcode != WSIO_OP_TEXT && opcode != WSIO_OP_BINARY)
        return WSIO_EINVAL;
    return wsio_conn_send_fragment(c, opcode, data, len, 1);
}

wsio_rcbuf *wsio_message_encode(const wsio_mem *mem, enum wsio_opcode opcode,
                                const void *data, size_t len)
{
    if ((opcode != WSIO_OP_TEXT && opcode != WSIO_OP_BINARY) ||
        (len > 0 && !data))
        return NULL;
    size_t hlen = wsio_frame_header_size(len, 0);
    if (len > SIZE_MAX - hlen)
        return NULL;
    wsio_rcbuf *buf = wsio_rcbuf_new(mem, hlen + len);
    if (!buf)
        return NULL;
    wsio_frame_header h;
    memset(&h, 0, sizeof h);
    h.payload_len = len;
    h.opcode = (uint8_t)opcode;
    h.fin = 1;
    (void)wsio_frame_header_encode(buf->data, &h);
    if (len > 0)
        memcpy(buf->data + hlen, data, len);
    buf->len = hlen + len;
    return buf;
}

int wsio_message_encode_compressed(const wsio_mem *mem, enum wsio_opcode opcode,
                                   const void *data, size_t len,
                                   const wsio_codec *codec, wsio_rcbuf **out)
{
    if (out)
        *out = NULL;
    if ((opcode != WSIO_OP_TEXT && opcode != WSIO_OP_BINARY) ||
        (len > 0 && !data) || !codec || !codec->ops || !out)
        return WSIO_EINVAL;
    size_t bound = codec->ops->encode_bound(codec->state, len);
    if (bound == 0)
        return 0;
    size_t hmax = wsio_frame_header_size(bound, 0);
    if (bound > SIZE_MAX - hmax)
        return WSIO_ENOMEM;
    wsio_rcbuf *buf = wsio_rcbuf_new(mem, hmax + bound);
    if (!buf)
        return WSIO_ENOMEM;
    wsio_frame_header h;
    memset(&h, 0, sizeof h);
    h.opcode = (uint8_t)opcode;
    h.fin = 1;
    h.rsv = WSIO_RSV1;
    ssize_t n = encode_compressed(codec, &h, data, len, buf->data, hmax, bound);
    if (n < 0) {
        wsio_rcbuf_unref(buf);
        return (int)n;
    }
    buf->len = (size_t)n;
    /* Every recipient's queue holds it: give back what the bound
     * over-reserved (a failed shrink keeps the larger block). */
    if (buf->capacity - buf->len > buf->len) {
        wsio_rcbuf *small =
            wsio__realloc(buf->mem, buf, sizeof *buf + buf->len);
        if (small) {
            buf = small;
            buf->capacity = buf->len;
        }
    }
    *out = buf;
    return 1;
}

int wsio_conn_send_encoded(wsio_conn *c, wsio_rcbuf *frame)
{
    return wsio__conn_send_tagged(c, frame, 0);
}

int wsio__conn_can_take_encoded(const wsio_conn *c)
{
    if (!can_send_data(c))
        return WSIO_ECLOSED;
    /* A client must mask every frame with its own key (section 5.3), and a
     * whole frame cannot go between the frames of a fragmented message. */
    if (c->role == WSIO_ROLE_CLIENT || (c->tx && c->tx->tx_opcode))
        return WSIO_ESTATE;
    return 0;
}

int wsio__conn_send_tagged(wsio_conn *c, wsio_rcbuf *frame, uint64_t tag)
{
    if (!frame)
        return WSIO_EINVAL;
    int rc = wsio__conn_can_take_encoded(c);
    if (rc)
        return rc;
    if (frame->len > 0 && (frame->data[0] & 0x40) && !c->codec)
        return WSIO_EINVAL; /* RSV1 without the extension (section 5.2) */
    if (frame->len == 0)
        return 0; /* nothing to queue, no block to make */
    wsio__conn_tx *tx = wsio__conn_tx_make(c);
    rc = tx ? wsio__outq_push_rc(&tx->out, c->env->mem, frame, tag)
            : WSIO_ENOMEM;
    if (rc)
        wsio__conn_tx_settle(c);
    return rc;
}

int wsio_conn_ping(wsio_conn *c, const void *data, size_t len)
{
    if (len > WSIO_CONTROL_PAYLOAD_MAX || (len > 0 && !data))
        return WSIO_EINVAL;
    if (!can_send_data(c))
        return WSIO_ECLOSED;
    return wsio__conn_queue_frame(c, WSIO_OP_PING, 1, data, len);
}

int wsio_conn_pong(wsio_conn *c, const void *data, size_t len)
{
    if (len > WSIO_CONTROL_PAYLOAD_MAX || (len > 0 && !data))
        return WSIO_EINVAL;
    /* Pongs may still answer pings while our close awaits its reply. */
    if (c->state == WSIO_CONN_CLOSED)
        return WSIO_ECLOSED;
    return wsio__conn_queue_frame(c, WSIO_OP_PONG, 1, data, len);
}

int wsio_conn_close(wsio_conn *c, unsigned code, const char *reason,
                    size_t reason_len)
{
    if (!can_send_data(c))
        return 0; /* already closing or closed: nothing to change */
    if (code == 0
            ? reason_len != 0
            : !wsio_close_code_is_valid(code) ||
                  reason_len > CLOSE_REASON_MAX || (reason_len > 0 && !reason))
        return WSIO_EINVAL;
    if (c->env->cfg->check_outgoing_utf8 &&
        wsio_utf8_validate(reason, reason_len))
        return WSIO_EUTF8;
    int err = wsio__conn_queue_close(c, code, reason, reason_len);
    if (err)
        return err;
    c->state = WSIO_CONN_CLOSING; /* section 7.1.2 */
    return 0;
}
