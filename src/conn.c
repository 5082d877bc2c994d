/*
 * src/conn.c - layer 3: the state machine of one connection (RFC 6455
 * sections 5 and 7), sans I/O. See wsio/conn.h for the contract.
 *
 * Receiving. wsio_conn_feed walks the input frame by frame. A header that
 * is split between two inputs waits in a 14-byte array; payload bytes are
 * handled where they lie:
 *
 *   - a data frame that holds a whole message and lies entirely in this
 *     input is unmasked in place and handed to on_message as a pointer into
 *     the caller's buffer (no copy, no allocation: the common case);
 *   - in streaming mode (on_fragment set) every run of payload bytes is
 *     unmasked in place and handed on as it arrives, never assembled;
 *   - otherwise (a fragmented message, or a frame split between inputs)
 *     the bytes are unmasked while being copied into the one receive buffer
 *     of the connection, which is kept while a message is in progress and
 *     released when a feed ends between messages, so an idle connection
 *     holds none;
 *   - a control frame split between inputs is gathered right after the
 *     message bytes in that same buffer (at most 125 bytes).
 *
 * Limits are checked on the header, which announces the length, before any
 * memory is taken for the frame. UTF-8 of text is checked on every run of
 * bytes as it arrives, so an invalid byte fails the connection at once.
 *
 * Sending. Frames are encoded straight into the output queue
 * (conn_output.c); a client masks each with a fresh key (section 5.3).
 *
 * Compression (a codec, wsio_conn_set_codec; RFC 7692). A compressed
 * message's payload is unmasked in place and decoded as it arrives, in
 * chunks into the receive buffer, each chunk no larger than what
 * max_message_size still allows plus one byte: the inflated size is
 * checked while it is inflated, never after. Whole messages sent are
 * compressed straight into the output queue: room for the codec's bound
 * behind the largest header it may need, then the payload slides down
 * when the real header is shorter.
 *
 * Lifetime. Callbacks may free their own connection: feed and abort count
 * their nesting in `depth`, and wsio_conn_free inside only sets `freed`;
 * the memory goes when the outermost of them returns.
 */
#include <string.h>

#include "abi.h"
#include "conn_internal.h"
#include "conn_output.h"
#include "internal.h"
#include "wsio/conn.h"

/* OS random bytes drawn at once for client masking keys: one system call
 * serves 16 frames. */
#define MASK_POOL 64
/* Smallest receive buffer worth allocating. */
#define RBUF_MIN 256
/* Largest close reason: 125 bytes of control payload minus the code. */
#define CLOSE_REASON_MAX (WSIO_CONTROL_PAYLOAD_MAX - 2)
/* Internal result of an event: stop reading (the connection closed or was
 * freed). Distinct from 0 (go on), WSIO_PAUSE and negative codes. */
#define STOP 2
/* The least a continuation frame is charged against max_message_size: a
 * message's frames cost CPU whatever their payload, so the limit also
 * bounds how many there are (docs/limits.md). */
#define FRAME_CHARGE 64
/* What the charges of one message may add up to at least, whatever
 * max_message_size: 1024 tiny fragments are always accepted. */
#define CHARGE_BUDGET_MIN (FRAME_CHARGE * 1024)
/* Most bytes decoded per codec call (the receive buffer grows by at most
 * this much at a time, and a streaming host gets pieces of this size). */
#define DECODE_CHUNK 16384

/*
 * Invariants: state only moves forward (OPEN -> CLOSING -> CLOSED or OPEN
 * -> CLOSED); close_sent once a close frame is queued, after which only
 * pongs are; err != 0 implies state CLOSED; msg_opcode != 0 exactly while a
 * received message is in progress, and then msg_len <= max_message_size,
 * msg_charged within its budget and rbuf[0, rlen) holds its bytes when it is
 * being assembled; rlen <= rcap.
 */
struct wsio_conn {
    const wsio_mem *mem;
    const wsio_mem *self_mem; /* where this struct came from */
    void *user;
    wsio_conn_callbacks cb;
    wsio_conn_config cfg;

    /* Receive side. */
    uint64_t rx_offset;   /* bytes consumed by earlier feeds */
    uint64_t err_offset;  /* stream offset of the byte that failed it */
    uint64_t frame_pos;   /* payload bytes of the current frame read */
    wsio_frame_header fh; /* the frame being read, while rx_in_frame */
    size_t msg_len;       /* payload bytes of the message so far */
    size_t msg_frags;     /* its frames so far, empty ones included */
    size_t msg_charged;   /* its frames' charges (FRAME_CHARGE) */
    uint8_t *rbuf;        /* assembly buffer, or NULL */
    size_t rcap;          /* bytes allocated at rbuf */
    size_t rlen;          /* message bytes assembled at rbuf */
    wsio_utf8 rx_utf8;    /* over the text message being received */
    size_t msg_out;       /* compressed message: bytes decoded so far */
    wsio_codec codec;     /* message codec, or ops NULL */
    int err;              /* sticky failure code, or 0 */
    uint8_t hdr[WSIO_FRAME_HEADER_MAX]; /* a header split between inputs */
    uint8_t hdr_have;                   /* bytes of it in hdr */
    uint8_t rx_in_frame;    /* payload bytes of fh are still to come */
    uint8_t msg_opcode;     /* TEXT or BINARY in progress, or 0 */
    uint8_t msg_first;      /* streaming: the next piece is the first */
    uint8_t msg_compressed; /* the message in progress had RSV1 */

    /* Send side. */
    wsio__outq out;
    wsio_utf8 tx_utf8;    /* over the fragmented text being sent */
    uint8_t tx_opcode;    /* fragmented message being sent, or 0 */
    uint8_t pool_left;    /* unused bytes at the end of pool */
    uint64_t pong_commit; /* out.commits when the last automatic pong
                             was queued */
    size_t pong_size;     /* that pong frame's bytes */
    size_t out_keep;      /* unsent front bytes never rewritten */

    uint8_t role;           /* enum wsio_role */
    uint8_t state;          /* enum wsio_conn_state */
    uint8_t close_sent;     /* a close frame is queued */
    uint8_t close_reported; /* on_close was called */
    uint8_t in_feed;        /* inside wsio_conn_feed (no re-entry) */
    uint8_t freed;          /* wsio_conn_free ran inside a callback */
    uint8_t depth;          /* nesting of feed and abort calls */
    uint8_t pool[];         /* client masking keys, drawn in bulk:
                               MASK_POOL bytes, allocated for a client
                               only (a server never masks) */
};

size_t wsio__conn_held_bytes(const wsio_conn *c, int with_output)
{
    size_t n = c->rcap;
    if (with_output)
        n += c->out.cap + c->out.rc_cap * sizeof *c->out.rc;
    return n;
}

/* The smallest struct_size wsio_conn_new takes: the first sized
 * release's config ended with make_mask_user. */
#define CONN_CONFIG_MIN WSIO__SIZE_THROUGH(wsio_conn_config, make_mask_user)

static void conn_defaults(wsio_conn_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_message_size = (size_t)1 << 20;
    cfg->max_frame_size = (size_t)1 << 20;
    cfg->auto_pong = 1;
    cfg->check_outgoing_utf8 = 1;
}

void wsio_conn_config_init(wsio_conn_config *cfg, size_t size)
{
    wsio_conn_config def;
    conn_defaults(&def);
    wsio__config_fill(cfg, size, &def, sizeof def);
}

wsio_conn *wsio_conn_new(enum wsio_role role, const wsio_conn_config *cfg,
                         const wsio_conn_callbacks *cb, const wsio_mem *mem,
                         void *user)
{
    return wsio__conn_new_split(role, cfg, cb, mem, mem, user);
}

wsio_conn *wsio__conn_new_split(enum wsio_role role,
                                const wsio_conn_config *cfg,
                                const wsio_conn_callbacks *cb,
                                const wsio_mem *self_mem, const wsio_mem *mem,
                                void *user)
{
    wsio_conn_config def;
    wsio_conn_config_default(&def);
    if (cfg && wsio__config_copy(&def, sizeof def, cfg, CONN_CONFIG_MIN))
        return NULL;
    mem = wsio__mem_or_default(mem);
    self_mem = wsio__mem_or_default(self_mem);
    wsio_conn *c = wsio__calloc(
        self_mem, 1, sizeof *c + (role == WSIO_ROLE_CLIENT ? MASK_POOL : 0));
    if (!c)
        return NULL;
    c->mem = mem;
    c->self_mem = self_mem;
    c->user = user;
    if (cb)
        c->cb = *cb;
    c->cfg = def;
    c->role = (uint8_t)role;
    c->state = WSIO_CONN_OPEN;
    return c;
}

static void release_rx(wsio_conn *c)
{
    wsio__free(c->mem, c->rbuf);
    c->rbuf = NULL;
    c->rcap = 0;
    c->rlen = 0;
}

static void destroy(wsio_conn *c)
{
    wsio__outq_clear(&c->out, c->mem);
    release_rx(c);
    if (c->codec.ops)
        c->codec.ops->free(c->codec.state);
    wsio__free(c->self_mem, c);
}

void wsio_conn_free(wsio_conn *c)
{
    if (!c)
        return;
    if (c->depth > 0) {
        c->freed = 1; /* a callback of ours is running */
        return;
    }
    destroy(c);
}

/* enter/leave bracket every call that may run callbacks. */
static void enter(wsio_conn *c)
{
    c->depth++;
}

static void leave(wsio_conn *c)
{
    if (--c->depth == 0 && c->freed)
        destroy(c);
}

void *wsio_conn_get_user(const wsio_conn *c)
{
    return c->user;
}

void wsio_conn_set_user(wsio_conn *c, void *user)
{
    c->user = user;
}

enum wsio_role wsio_conn_role(const wsio_conn *c)
{
    return (enum wsio_role)c->role;
}

enum wsio_conn_state wsio_conn_state(const wsio_conn *c)
{
    return (enum wsio_conn_state)c->state;
}

int wsio_conn_error(const wsio_conn *c, uint64_t *offset)
{
    if (offset)
        *offset = c->err_offset;
    return c->err;
}

int wsio_conn_set_codec(wsio_conn *c, const wsio_codec *codec)
{
    if (!codec || !codec->ops)
        return WSIO_EINVAL;
    if (c->codec.ops)
        return WSIO_ESTATE;
    c->codec = *codec;
    c->cfg.allowed_rsv |= WSIO_RSV1; /* RFC 7692 section 6 */
    return 0;
}

int wsio_conn_has_codec(const wsio_conn *c)
{
    return c->codec.ops != NULL;
}

/* ---- sending ------------------------------------------------------------ */

/* A fresh masking key (section 5.3, section 10.3: unpredictable). */
static int next_mask(wsio_conn *c, uint8_t key[4])
{
    if (c->cfg.make_mask)
        return c->cfg.make_mask(key, c->cfg.make_mask_user);
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

/* Encode one frame into the output queue, copying (and for a client,
 * masking) the payload. Nothing is queued on failure. */
static int queue_frame(wsio_conn *c, unsigned opcode, int fin, const void *data,
                       size_t len)
{
    wsio_frame_header h;
    int err = start_header(c, &h, opcode, fin, 0);
    if (err)
        return err;
    h.payload_len = len;
    size_t hlen = wsio_frame_header_size(len, h.masked);
    if (len > SIZE_MAX - hlen)
        return WSIO_ENOMEM;
    uint8_t *out = wsio__outq_reserve(&c->out, c->mem, hlen + len);
    if (!out)
        return WSIO_ENOMEM;
    (void)wsio_frame_header_encode(out, &h);
    if (len > 0 && h.masked)
        wsio_mask_copy(out + hlen, data, len, h.mask_key, 0);
    else if (len > 0)
        memcpy(out + hlen, data, len);
    wsio__outq_commit(&c->out, hlen + len);
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
    size_t bound = c->codec.ops->encode_bound(c->codec.state, len);
    if (bound == 0)
        return queue_frame(c, opcode, 1, data, len);
    wsio_frame_header h;
    int err = start_header(c, &h, opcode, 1, WSIO_RSV1);
    if (err)
        return err;
    size_t hmax = wsio_frame_header_size(bound, h.masked);
    if (bound > SIZE_MAX - hmax)
        return WSIO_ENOMEM;
    uint8_t *out = wsio__outq_reserve(&c->out, c->mem, hmax + bound);
    if (!out)
        return WSIO_ENOMEM;
    ssize_t n = encode_compressed(&c->codec, &h, data, len, out, hmax, bound);
    if (n < 0)
        return (int)n;
    wsio__outq_commit(&c->out, (size_t)n);
    return 0;
}

/* Queue a close frame (section 5.5.1): no body when code is 0, else the
 * code in network order and the reason. */
static int queue_close(wsio_conn *c, unsigned code, const char *reason,
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
    int err = queue_frame(c, WSIO_OP_CLOSE, 1, body, len);
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
    if ((opcode == WSIO_OP_CONTINUATION) != (c->tx_opcode != 0))
        return WSIO_ESTATE;
    unsigned message = opcode == WSIO_OP_CONTINUATION ? c->tx_opcode : opcode;
    *utf8 = c->tx_utf8;
    if (message == WSIO_OP_TEXT && c->cfg.check_outgoing_utf8) {
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
    unsigned message = opcode == WSIO_OP_CONTINUATION ? c->tx_opcode : opcode;
    /* Only whole messages are compressed: a fragmented one would need the
     * codec to stream (RFC 7692 allows either, per message). */
    err = c->codec.ops && fin && opcode != WSIO_OP_CONTINUATION
              ? queue_message(c, opcode, data, len)
              : queue_frame(c, opcode, fin, data, len);
    if (err)
        return err;
    c->tx_utf8 = utf8;
    c->tx_opcode = (uint8_t)(fin ? 0 : message);
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
    if (c->role != WSIO_ROLE_SERVER || c->codec.ops ||
        (opcode != WSIO_OP_TEXT && opcode != WSIO_OP_BINARY))
        return wsio_conn_send(c, opcode, data, len);
    /* What is queued goes first, in the same write. */
    wsio_iov iov[DIRECT_QUEUED_IOVS + 2];
    size_t n = wsio__outq_peek(&c->out, iov, DIRECT_QUEUED_IOVS);
    size_t queued = 0;
    for (size_t i = 0; i < n; i++)
        queued += iov[i].len;
    if (queued < c->out.queued) /* too many pieces: rare, just queue */
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
    wsio__outq_consume(&c->out, c->mem, old);
    sent -= old;
    size_t total = hlen + len;
    if (sent < total) {
        /* Queue the rest of the frame (a copy), as wsio_conn_send would
         * have queued all of it. */
        uint8_t *out = wsio__outq_reserve(&c->out, c->mem, total - sent);
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
        wsio__outq_commit(&c->out, total - sent);
    }
    c->tx_utf8 = utf8;
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
    if (c->role == WSIO_ROLE_CLIENT || c->tx_opcode)
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
    if (frame->len > 0 && (frame->data[0] & 0x40) && !c->codec.ops)
        return WSIO_EINVAL; /* RSV1 without the extension (section 5.2) */
    return wsio__outq_push_rc(&c->out, c->mem, frame, tag);
}

int wsio_conn_ping(wsio_conn *c, const void *data, size_t len)
{
    if (len > WSIO_CONTROL_PAYLOAD_MAX || (len > 0 && !data))
        return WSIO_EINVAL;
    if (!can_send_data(c))
        return WSIO_ECLOSED;
    return queue_frame(c, WSIO_OP_PING, 1, data, len);
}

int wsio_conn_pong(wsio_conn *c, const void *data, size_t len)
{
    if (len > WSIO_CONTROL_PAYLOAD_MAX || (len > 0 && !data))
        return WSIO_EINVAL;
    /* Pongs may still answer pings while our close awaits its reply. */
    if (c->state == WSIO_CONN_CLOSED)
        return WSIO_ECLOSED;
    return queue_frame(c, WSIO_OP_PONG, 1, data, len);
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
    if (c->cfg.check_outgoing_utf8 && wsio_utf8_validate(reason, reason_len))
        return WSIO_EUTF8;
    int err = queue_close(c, code, reason, reason_len);
    if (err)
        return err;
    c->state = WSIO_CONN_CLOSING; /* section 7.1.2 */
    return 0;
}

/* ---- output ------------------------------------------------------------- */

size_t wsio_conn_buffered_amount(const wsio_conn *c)
{
    return c->out.queued;
}

size_t wsio_conn_peek_output(const wsio_conn *c, wsio_iov *iov, size_t max)
{
    return wsio__outq_peek(&c->out, iov, max);
}

size_t wsio__conn_evict(wsio_conn *c, uint64_t tag, size_t need, size_t keep)
{
    return wsio__outq_evict(&c->out, c->mem, tag, need, keep);
}

void wsio_conn_consume_output(wsio_conn *c, size_t n)
{
    wsio__outq_consume(&c->out, c->mem, n);
}

size_t wsio_conn_write(wsio_conn *c, void *buf, size_t cap)
{
    uint8_t *dst = buf;
    size_t done = 0;
    wsio_iov iov;
    while (done < cap && wsio__outq_peek(&c->out, &iov, 1) == 1) {
        size_t n = iov.len < cap - done ? iov.len : cap - done;
        memcpy(dst + done, iov.base, n);
        done += n;
        wsio__outq_consume(&c->out, c->mem, n);
    }
    return done;
}

int wsio_conn_want_read(const wsio_conn *c)
{
    return c->state != WSIO_CONN_CLOSED && !c->out.over;
}

void wsio_conn_set_output_marks(wsio_conn *c, size_t high, size_t low)
{
    c->out.high = high;
    c->out.low = low < high ? low : high;
    c->out.over = 0;
}

void wsio__conn_set_output_keep(wsio_conn *c, size_t keep)
{
    c->out_keep = keep;
}

int wsio_conn_want_write(const wsio_conn *c)
{
    return c->out.queued > 0;
}

/* ---- closing ------------------------------------------------------------ */

static void report_close(wsio_conn *c, unsigned code, const char *reason,
                         size_t reason_len, int by_peer, int clean, int err)
{
    if (c->close_reported)
        return;
    c->close_reported = 1;
    if (!c->cb.on_close)
        return;
    wsio_close_info info;
    info.code = code;
    info.reason = reason;
    info.reason_len = reason_len;
    info.by_peer = by_peer;
    info.clean = clean;
    info.error = err;
    c->cb.on_close(c, &info, c->user);
}

/*
 * Fail the connection (section 7.1.7): queue a close frame with the code err
 * maps to (unless one was sent already), stop reading, report. Returns err.
 */
static int fail(wsio_conn *c, int err, uint64_t offset)
{
    if (!c->err) {
        c->err = err;
        c->err_offset = offset;
    }
    if (c->state == WSIO_CONN_CLOSED)
        return err;
    unsigned code = (unsigned)wsio_err_close_code(err);
    if (!wsio_close_code_is_valid(code))
        code = WSIO_CLOSE_INTERNAL_ERROR;
    /* Best effort: without memory for it, closing the transport is what
     * tells the peer. */
    if (!c->close_sent)
        (void)queue_close(c, code, NULL, 0);
    c->state = WSIO_CONN_CLOSED;
    report_close(c, code, "", 0, 0, 0, err);
    return err;
}

int wsio_conn_abort(wsio_conn *c, int err)
{
    enter(c);
    wsio__outq_clear(&c->out, c->mem);
    if (c->state != WSIO_CONN_CLOSED) {
        c->state = WSIO_CONN_CLOSED;
        if (err < 0 && !c->err) {
            c->err = err;
            c->err_offset = c->rx_offset;
        }
        report_close(c, WSIO_CLOSE_ABNORMAL, "", 0, 0, 0, err);
    }
    /* Inside a feed, a callback may still hold a pointer into the receive
     * buffer: feed releases it on the way out. */
    if (!c->in_feed)
        release_rx(c);
    leave(c);
    return 0;
}

/* ---- receiving ---------------------------------------------------------- */

/* What a callback's return means for the reading loop. */
static int after_callback(wsio_conn *c, int rc, uint64_t offset)
{
    if (c->freed)
        return STOP;
    if (rc < 0)
        return fail(c, rc, offset);
    if (c->state == WSIO_CONN_CLOSED)
        return STOP; /* the callback aborted */
    return rc == WSIO_PAUSE ? WSIO_PAUSE : 0;
}

/* Make room for need bytes at rbuf. need never exceeds the limits already
 * checked on the header, plus one control payload. */
static int rbuf_reserve(wsio_conn *c, size_t need)
{
    if (need <= c->rcap)
        return 0;
    size_t cap = c->rcap ? c->rcap * 2 : RBUF_MIN;
    size_t limit = c->cfg.max_message_size;
    limit += limit <= SIZE_MAX - WSIO_CONTROL_PAYLOAD_MAX
                 ? WSIO_CONTROL_PAYLOAD_MAX
                 : 0;
    if (cap > limit || cap < c->rcap)
        cap = limit;
    if (cap < need)
        cap = need;
    uint8_t *p = wsio__realloc(c->mem, c->rbuf, cap);
    if (!p)
        return WSIO_ENOMEM;
    c->rbuf = p;
    c->rcap = cap;
    return 0;
}

/* Unmask in place when the peer masked. */
static void unmask(const wsio_conn *c, uint8_t *p, size_t n, uint64_t at)
{
    if (c->fh.masked && n > 0)
        wsio_mask(p, n, c->fh.mask_key, at);
}

/* Copy payload bytes to dst, unmasking on the way. */
static void copy_payload(const wsio_conn *c, uint8_t *dst, const uint8_t *p,
                         size_t n, uint64_t at)
{
    if (n == 0)
        return;
    if (c->fh.masked)
        wsio_mask_copy(dst, p, n, c->fh.mask_key, at);
    else
        memcpy(dst, p, n);
}

static void end_message(wsio_conn *c)
{
    c->msg_opcode = 0;
    c->msg_compressed = 0;
    c->msg_out = 0;
    c->msg_len = 0;
    c->msg_frags = 0;
    c->msg_charged = 0;
    c->rlen = 0;
}

/* Section 8.1: text must be UTF-8; check each run as it arrives, and that
 * the message does not end inside a character. */
static int check_text(wsio_conn *c, const uint8_t *data, size_t n, int end,
                      uint64_t offset)
{
    size_t bad = 0;
    if (wsio_utf8_feed(&c->rx_utf8, data, n, &bad))
        return fail(c, WSIO_EUTF8, offset + bad);
    if (end && wsio_utf8_finish(&c->rx_utf8))
        return fail(c, WSIO_EUTF8, offset + n);
    return 0;
}

static int deliver_piece(wsio_conn *c, const uint8_t *data, size_t n, int end,
                         uint64_t offset)
{
    if (n == 0 && !end)
        return 0; /* pieces follow bytes, not frames */
    wsio_fragment f;
    f.opcode = (enum wsio_opcode)c->msg_opcode;
    f.data = data;
    f.len = n;
    f.first = c->msg_first;
    f.last = end;
    c->msg_first = 0;
    if (end)
        end_message(c);
    return after_callback(c, c->cb.on_fragment(c, &f, c->user), offset);
}

/* Deliver a whole message: data[0, len) is borrowed until the callback
 * returns (rbuf stays allocated until feed returns). */
static int deliver_message(wsio_conn *c, const uint8_t *data, size_t len,
                           uint64_t offset)
{
    wsio_message m;
    m.opcode = (enum wsio_opcode)c->msg_opcode;
    m.data = data ? (const void *)data : "";
    m.len = len;
    end_message(c);
    if (!c->cb.on_message)
        return 0;
    return after_callback(c, c->cb.on_message(c, &m, c->user), offset);
}

/* Where the codec may write next, and how much: the receive buffer (after
 * the message so far, or from its start for a streaming host), at most
 * what max_message_size still allows plus one byte, so that going over
 * is seen after the least output. */
static int decode_room(wsio_conn *c, uint8_t **out, size_t *room)
{
    size_t allowed = c->cfg.max_message_size - c->msg_out;
    size_t want = allowed < DECODE_CHUNK ? allowed + 1 : DECODE_CHUNK;
    size_t at = c->cb.on_fragment ? 0 : c->rlen;
    int err = rbuf_reserve(c, at + want);
    if (err)
        return err;
    *out = c->rbuf + at;
    *room = allowed >= c->rcap - at ? c->rcap - at : allowed + 1;
    return 0;
}

/* n payload bytes of a compressed message (RFC 7692 section 7.2.2): decode
 * them in bounded chunks, checking size and UTF-8 as the output appears. */
static int read_compressed(wsio_conn *c, uint8_t *p, size_t n, uint64_t at,
                           int last, uint64_t offset)
{
    int end = last && c->fh.fin;
    unmask(c, p, n, at);
    c->msg_len += n;
    const uint8_t *in = p;
    size_t left = n;
    int paused = 0;
    for (;;) {
        uint8_t *out;
        size_t room;
        int err = decode_room(c, &out, &room);
        if (err)
            return fail(c, err, offset);
        size_t before = left;
        ssize_t got =
            c->codec.ops->decode(c->codec.state, &in, &left, end, out, room);
        uint64_t here = offset + (n - left);
        if (got < 0)
            return fail(c, (int)got, here);
        if ((size_t)got > room || (got == 0 && left > 0 && left == before))
            return fail(c, WSIO_EINTERNAL, here); /* a codec that stalls */
        if ((size_t)got > c->cfg.max_message_size - c->msg_out)
            return fail(c, WSIO_ETOOBIG, here);
        c->msg_out += (size_t)got;
        if (c->msg_opcode == WSIO_OP_TEXT) {
            err = check_text(c, out, (size_t)got, 0, here);
            if (err)
                return err;
        }
        if (c->cb.on_fragment) {
            /* A pause takes effect once this input is decoded. */
            int rc = deliver_piece(c, out, (size_t)got, 0, here);
            if (rc < 0 || rc == STOP)
                return rc;
            paused |= rc == WSIO_PAUSE;
        } else {
            c->rlen += (size_t)got;
        }
        if ((size_t)got < room && left == 0)
            break;
    }
    if (!end)
        return paused ? WSIO_PAUSE : 0;
    uint64_t here = offset + n;
    if (c->msg_opcode == WSIO_OP_TEXT) {
        int err = check_text(c, (const uint8_t *)"", 0, 1, here);
        if (err)
            return err;
    }
    if (c->cb.on_fragment) {
        int rc = deliver_piece(c, (const uint8_t *)"", 0, 1, here);
        return rc == 0 && paused ? WSIO_PAUSE : rc;
    }
    return deliver_message(c, c->rbuf, c->rlen, here);
}

/* n payload bytes of a data frame at p, starting at payload offset at;
 * last when they end the frame. offset is the stream offset of p. */
static int read_data(wsio_conn *c, uint8_t *p, size_t n, uint64_t at, int last,
                     uint64_t offset)
{
    if (c->msg_compressed)
        return read_compressed(c, p, n, at, last, offset);
    int end = last && c->fh.fin;
    /* Zero copy when the message's bytes are all here in one piece, or
     * when the host streams. */
    int in_place = c->cb.on_fragment || (end && at == 0 && c->msg_len == 0);
    uint8_t *data = p;
    if (in_place) {
        unmask(c, p, n, at);
    } else if (n > 0) {
        /* Room for what arrived, not for what the header announces: a
         * peer must send the bytes it makes us hold. */
        int err = rbuf_reserve(c, c->rlen + n);
        if (err)
            return fail(c, err, offset);
        data = c->rbuf + c->rlen;
        copy_payload(c, data, p, n, at);
        c->rlen += n;
    }
    c->msg_len += n;
    if (c->msg_opcode == WSIO_OP_TEXT) {
        int err = check_text(c, data, n, end, offset);
        if (err)
            return err;
    }
    if (c->cb.on_fragment)
        return deliver_piece(c, data, n, end, offset + n);
    if (!end)
        return 0;
    if (in_place || !c->rbuf)
        return deliver_message(c, p, n, offset + n);
    return deliver_message(c, c->rbuf, c->rlen, offset + n);
}

static int read_ping(wsio_conn *c, const uint8_t *data, size_t len,
                     uint64_t offset)
{
    /* Section 5.5.2: answer with a pong carrying the same payload. Section
     * 5.5.3 allows answering only the latest of several pings: while the
     * peer is not keeping up with our output, a pong of ours still waiting
     * at the end of the queue is replaced, so a peer that pings without
     * reading makes us hold one pong, not one per ping. A peer that reads
     * gets every pong. */
    if (c->cfg.auto_pong) {
        if (c->out.stalled && c->pong_commit == c->out.commits && c->pong_size)
            (void)wsio__outq_untail(&c->out, c->pong_size, c->out_keep);
        int err = queue_frame(c, WSIO_OP_PONG, 1, data, len);
        if (err)
            return fail(c, err, offset);
        c->pong_commit = c->out.commits;
        c->pong_size =
            wsio_frame_header_size(len, c->role == WSIO_ROLE_CLIENT) + len;
    }
    if (!c->cb.on_ping)
        return 0;
    wsio_control ping = {data, len};
    return after_callback(c, c->cb.on_ping(c, &ping, c->user), offset + len);
}

static int read_pong(wsio_conn *c, const uint8_t *data, size_t len,
                     uint64_t offset)
{
    /* Section 5.5.3: a pong may be unsolicited; it needs no answer. */
    if (!c->cb.on_pong)
        return 0;
    wsio_control pong = {data, len};
    return after_callback(c, c->cb.on_pong(c, &pong, c->user), offset + len);
}

/* The peer's close frame (sections 5.5.1, 7.1.5, 7.4). */
static int read_close(wsio_conn *c, const uint8_t *data, size_t len,
                      uint64_t offset)
{
    unsigned code = WSIO_CLOSE_NO_STATUS;
    const char *reason = "";
    size_t reason_len = 0;
    if (len >= 2) {
        code = (unsigned)data[0] << 8 | data[1];
        if (!wsio_close_code_is_valid(code))
            return fail(c, WSIO_ECLOSECODE, offset);
        reason = (const char *)data + 2;
        reason_len = len - 2;
        wsio_utf8 utf8;
        size_t bad = reason_len;
        wsio_utf8_init(&utf8);
        if (wsio_utf8_feed(&utf8, reason, reason_len, &bad) ||
            wsio_utf8_finish(&utf8))
            return fail(c, WSIO_EUTF8, offset + 2 + bad);
    }
    int by_peer = !c->close_sent;
    if (by_peer) {
        /* Section 5.5.1: reply with a close frame, echoing the code. */
        int err = queue_close(c, len >= 2 ? code : 0, NULL, 0);
        if (err)
            return fail(c, err, offset);
    }
    c->state = WSIO_CONN_CLOSED;
    report_close(c, code, reason, reason_len, by_peer, 1, 0);
    return STOP;
}

/* n payload bytes of a control frame; see read_data. */
static int read_control(wsio_conn *c, uint8_t *p, size_t n, uint64_t at,
                        int last, uint64_t offset)
{
    size_t len = (size_t)c->fh.payload_len; /* <= 125, checked */
    const uint8_t *data = p;
    if (at == 0 && last) {
        unmask(c, p, n, 0);
    } else {
        /* Split between inputs: gather it after the message bytes. */
        int err = rbuf_reserve(c, c->rlen + len);
        if (err)
            return fail(c, err, offset);
        copy_payload(c, c->rbuf + c->rlen + at, p, n, at);
        if (!last)
            return 0;
        data = c->rbuf + c->rlen;
    }
    uint64_t start = offset + n - len; /* stream offset of the payload */
    switch (c->fh.opcode) {
    case WSIO_OP_PING:
        return read_ping(c, data, len, start);
    case WSIO_OP_PONG:
        return read_pong(c, data, len, start);
    default:
        return read_close(c, data, len, start);
    }
}

/* n payload bytes of the current frame, at p (stream offset offset). */
static int read_payload(wsio_conn *c, uint8_t *p, size_t n, uint64_t offset)
{
    uint64_t at = c->frame_pos;
    c->frame_pos += n;
    int last = c->frame_pos == c->fh.payload_len;
    if (last)
        c->rx_in_frame = 0;
    if (c->fh.opcode & 0x8u)
        return read_control(c, p, n, at, last, offset);
    return read_data(c, p, n, at, last, offset);
}

/* The most payload bytes one message may take on the wire. A compressed
 * one may exceed max_message_size by deflate's expansion of incompressible
 * data (5 bytes per stored block; zlib at a small memLevel ends a block
 * every 1 KiB of input or less, and with 9- or 10-bit windows grows such
 * data by up to 6%), so that a message that inflates to exactly the limit
 * is accepted; what it inflates to is held to the limit itself
 * (read_compressed). */
static size_t wire_limit(const wsio_conn *c, int compressed)
{
    size_t limit = c->cfg.max_message_size;
    size_t slack = (limit >> 4) + 64;
    if (!compressed)
        return limit;
    return limit <= SIZE_MAX - slack ? limit + slack : SIZE_MAX;
}

/* Section 5.4 order and the configured limits, for a data frame's header.
 * Nothing is allocated before this passes. */
static int start_data_frame(wsio_conn *c)
{
    const wsio_frame_header *h = &c->fh;
    int cont = h->opcode == WSIO_OP_CONTINUATION;
    if (cont && !c->msg_opcode)
        return WSIO_ECONTINUATION;
    if (!cont && c->msg_opcode)
        return WSIO_EFRAGMENT;
    size_t so_far = cont ? c->msg_len : 0;
    size_t frags = cont ? c->msg_frags : 0;
    size_t charged = cont ? c->msg_charged : 0;
    int compressed =
        cont ? c->msg_compressed : c->codec.ops && (h->rsv & WSIO_RSV1);
    size_t limit = wire_limit(c, compressed);
    if (h->payload_len > c->cfg.max_frame_size ||
        h->payload_len > limit - so_far)
        return WSIO_ETOOBIG;
    /* A continuation is charged its payload, and at least FRAME_CHARGE:
     * tiny or empty fragments use up the message's budget too. */
    size_t charge = (size_t)h->payload_len;
    if (cont && charge < FRAME_CHARGE)
        charge = FRAME_CHARGE;
    size_t budget = limit > CHARGE_BUDGET_MIN ? limit : CHARGE_BUDGET_MIN;
    if (charge > budget - charged ||
        (c->cfg.max_fragments && frags >= c->cfg.max_fragments))
        return WSIO_ETOOMANYFRAGS;
    if (!cont) {
        c->msg_opcode = h->opcode;
        c->msg_compressed = (uint8_t)compressed;
        c->msg_len = 0;
        c->msg_first = 1;
        wsio_utf8_init(&c->rx_utf8);
    }
    c->msg_frags = frags + 1;
    c->msg_charged = charged + charge;
    return 0;
}

/* A whole header is in c->fh; p is where its payload starts, offset the
 * stream offset of the header's first byte. */
static int start_frame(wsio_conn *c, uint8_t *p, uint64_t offset)
{
    const wsio_frame_header *h = &c->fh;
    int err =
        wsio_frame_header_check(h, (enum wsio_role)c->role, c->cfg.allowed_rsv);
    /* RFC 7692 section 6.1: RSV1 marks a compressed message on its first
     * frame only, never on a continuation or a control frame. */
    if (!err && c->codec.ops && (h->rsv & WSIO_RSV1) &&
        ((h->opcode & 0x8u) || h->opcode == WSIO_OP_CONTINUATION))
        err = WSIO_ERSV;
    if (!err && h->opcode == WSIO_OP_CLOSE && h->payload_len == 1)
        err = WSIO_ECLOSEPAYLOAD; /* section 5.5.1: a code is 2 bytes */
    if (!err && !(h->opcode & 0x8u))
        err = start_data_frame(c);
    if (err)
        return fail(c, err, offset);
    c->frame_pos = 0;
    c->rx_in_frame = h->payload_len > 0;
    if (h->payload_len > 0)
        return 0;
    return read_payload(c, p, 0, offset + h->header_len);
}

/*
 * Take header bytes from in: sets *done when c->fh holds a whole header.
 * Returns the bytes used, or a negative code.
 */
static ssize_t read_header(wsio_conn *c, const uint8_t *in, size_t len,
                           int *done)
{
    size_t have = c->hdr_have;
    ssize_t r;
    size_t take;
    if (have == 0) {
        /* Fast path: the header is decoded where it lies. */
        r = wsio_frame_header_decode(in, len, &c->fh);
        take = len; /* when incomplete, all of it is header */
    } else {
        take = sizeof c->hdr - have;
        if (take > len)
            take = len;
        memcpy(c->hdr + have, in, take);
        r = wsio_frame_header_decode(c->hdr, have + take, &c->fh);
    }
    if (r == WSIO_EAGAIN) {
        if (have == 0)
            memcpy(c->hdr, in, len);
        c->hdr_have = (uint8_t)(have + take);
        *done = 0;
        return (ssize_t)take;
    }
    if (r < 0)
        return r;
    c->hdr_have = 0;
    *done = 1;
    return r - (ssize_t)have;
}

static ssize_t read_frames(wsio_conn *c, uint8_t *in, size_t len)
{
    size_t pos = 0;
    int rc = 0;
    while (pos < len && rc == 0) {
        uint64_t offset = c->rx_offset + pos;
        /* Our output is over its high-water mark: no next frame until the
         * peer has read some of it (wsio_conn_set_output_marks). */
        if (!c->rx_in_frame && c->hdr_have == 0 && c->out.over)
            break;
        if (c->rx_in_frame) {
            uint64_t left = c->fh.payload_len - c->frame_pos;
            size_t n = left < len - pos ? (size_t)left : len - pos;
            rc = read_payload(c, in + pos, n, offset);
            pos += n;
        } else {
            int done = 0;
            ssize_t used = read_header(c, in + pos, len - pos, &done);
            if (used < 0)
                return fail(c, (int)used, offset - c->hdr_have);
            pos += (size_t)used;
            if (done)
                rc = start_frame(c, in + pos,
                                 c->rx_offset + pos - c->fh.header_len);
        }
    }
    if (rc < 0)
        return rc;
    return (ssize_t)pos;
}

void wsio__conn_scan_start(const wsio_conn *c, wsio__rx_scan *s)
{
    memset(s, 0, sizeof *s);
    if (c->rx_in_frame)
        s->skip = c->fh.payload_len - c->frame_pos;
    memcpy(s->hdr, c->hdr, c->hdr_have);
    s->have = c->hdr_have;
}

int wsio__conn_scan_pong(wsio__rx_scan *s, const uint8_t *in, size_t len)
{
    int found = 0;
    while (s->at < len && !s->lost) {
        size_t left = len - s->at;
        if (s->skip) {
            size_t n = s->skip < left ? (size_t)s->skip : left;
            s->at += n;
            s->skip -= n;
            continue;
        }
        size_t take = sizeof s->hdr - s->have;
        take = take < left ? take : left;
        memcpy(s->hdr + s->have, in + s->at, take);
        wsio_frame_header h;
        ssize_t r = wsio_frame_header_decode(s->hdr, s->have + take, &h);
        if (r == WSIO_EAGAIN) { /* all of in is header: wait for more */
            s->have = (uint8_t)(s->have + take);
            s->at = len;
            break;
        }
        if (r < 0) {
            s->lost = 1; /* the connection fails on it when fed */
            break;
        }
        s->at += (size_t)r - s->have;
        s->have = 0;
        s->skip = h.payload_len;
        found |= h.opcode == WSIO_OP_PONG;
    }
    return found;
}

ssize_t wsio_conn_feed(wsio_conn *c, void *in, size_t len)
{
    if (c->err)
        return c->err;
    if (c->state == WSIO_CONN_CLOSED)
        return WSIO_ECLOSED;
    if (c->in_feed || (len > 0 && !in))
        return c->in_feed ? WSIO_ESTATE : WSIO_EINVAL;
    enter(c);
    c->in_feed = 1;
    ssize_t r = read_frames(c, in, len);
    c->in_feed = 0;
    if (r > 0)
        c->rx_offset += (uint64_t)r;
    /* Between messages (or once closed) nothing needs the receive buffer:
     * give it back, so an idle connection holds none. A message or control
     * frame split across inputs keeps it until a later feed ends it. */
    int split_control =
        c->rx_in_frame && (c->fh.opcode & 0x8u) && c->frame_pos > 0;
    if (c->state == WSIO_CONN_CLOSED || (c->rlen == 0 && !split_control))
        release_rx(c);
    leave(c);
    return r;
}
