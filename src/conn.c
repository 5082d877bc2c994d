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
#include <stddef.h>
#include <string.h>

#include "common_abi.h"
#include "conn_internal.h"
#include "conn_shared.h"

size_t wsio__conn_held_bytes(const wsio_conn *c, int with_output)
{
    size_t n = c->rx ? sizeof *c->rx + c->rx->rcap : 0;
    if (with_output && c->tx) {
        const wsio__outq *q = &c->tx->out;
        n += sizeof *c->tx + (q->buf != q->first ? q->cap : 0) +
             q->rc_cap * sizeof *q->rc;
    }
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

/* What wsio_conn_new copies for its connection, placed right after the
 * struct (and a client's mask pool) in the same allocation. */
typedef struct conn_settings {
    wsio__conn_env env;
    wsio_conn_config cfg;
    wsio_conn_callbacks cb;
} conn_settings;

size_t wsio__conn_size(enum wsio_role role)
{
    return sizeof(wsio_conn) + (role == WSIO_ROLE_CLIENT ? MASK_POOL : 0);
}

static void conn_init(wsio_conn *c, enum wsio_role role,
                      const wsio__conn_env *env, void *user)
{
    c->env = env;
    c->user = user;
    c->allowed_rsv = (uint8_t)env->cfg->allowed_rsv; /* RSV bits: 0x70 */
    c->role = (uint8_t)role;
    c->state = WSIO_CONN_OPEN;
}

wsio_conn *wsio_conn_new(enum wsio_role role, const wsio_conn_config *cfg,
                         const wsio_conn_callbacks *cb, const wsio_mem *mem,
                         void *user)
{
    wsio_conn_config def;
    wsio_conn_config_default(&def);
    if (cfg && wsio__config_copy(&def, sizeof def, cfg, CONN_CONFIG_MIN))
        return NULL;
    mem = wsio__mem_or_default(mem);
    /* wsio__conn_size is a multiple of the struct's alignment, which
     * covers conn_settings' (pointers and size_t). */
    size_t at = wsio__conn_size(role);
    wsio_conn *c = wsio__calloc(mem, 1, at + sizeof(conn_settings));
    if (!c)
        return NULL;
    conn_settings *own = (conn_settings *)((char *)c + at);
    own->cfg = def;
    if (cb)
        own->cb = *cb;
    own->env.mem = mem;
    own->env.cb = &own->cb;
    own->env.cfg = &own->cfg;
    conn_init(c, role, &own->env, user);
    c->owns_memory = 1;
    return c;
}

wsio_conn *wsio__conn_new_shared(void *place, enum wsio_role role,
                                 const wsio__conn_env *env, void *user)
{
    wsio_conn *c = memset(place, 0, wsio__conn_size(role));
    conn_init(c, role, env, user);
    return c;
}

void wsio__conn_release_rx(wsio_conn *c)
{
    if (!c->rx)
        return;
    wsio__free(c->env->mem, c->rx->rbuf);
    wsio__free(c->env->mem, c->rx);
    c->rx = NULL;
}

/* The env's low mark, clamped to its high one as wsio_conn_set_output_marks
 * clamps a connection's own. */
static size_t env_low(const wsio__conn_env *env)
{
    return env->out_low < env->out_high ? env->out_low : env->out_high;
}

wsio__conn_tx *wsio__conn_tx_make(wsio_conn *c)
{
    if (c->tx)
        return c->tx;
    wsio__conn_tx *tx = wsio__malloc(c->env->mem, sizeof *tx);
    if (!tx)
        return NULL;
    /* Made once per burst of output on a hot path: the room for the
     * bytes needs no zeroing. */
    memset(tx, 0, offsetof(wsio__conn_tx, first));
    tx->out.first = tx->first;
    tx->out.first_cap = sizeof tx->first;
    tx->out.high = c->env->out_high;
    tx->out.low = env_low(c->env);
    c->tx = tx;
    return tx;
}

/* Drop all output and the block, own marks included. */
static void tx_release(wsio_conn *c)
{
    if (!c->tx)
        return;
    wsio__outq_clear(&c->tx->out, c->env->mem);
    wsio__free(c->env->mem, c->tx);
    c->tx = NULL;
    c->own_marks = 0;
}

void wsio__conn_tx_settle(wsio_conn *c)
{
    /* With the block go pong_commit and pong_size: a pong already written
     * out is never taken back, and the next block's count starts over. */
    if (c->tx && c->tx->out.queued == 0 && !c->tx->tx_opcode && !c->own_marks)
        tx_release(c);
}

static void destroy(wsio_conn *c)
{
    tx_release(c);
    wsio__conn_release_rx(c);
    if (c->codec) {
        c->codec->ops->free(c->codec->state);
        wsio__free(c->env->mem, c->codec);
    }
    if (c->owns_memory) /* else it is the caller's */
        wsio__free(c->env->mem, c);
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
void wsio__conn_enter(wsio_conn *c)
{
    c->depth++;
}

void wsio__conn_leave(wsio_conn *c)
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
        *offset = c->err ? c->rx_offset : 0;
    return c->err;
}

int wsio_conn_set_codec(wsio_conn *c, const wsio_codec *codec)
{
    if (!codec || !codec->ops)
        return WSIO_EINVAL;
    if (c->codec)
        return WSIO_ESTATE;
    wsio_codec *own = wsio__malloc(c->env->mem, sizeof *own);
    if (!own)
        return WSIO_ENOMEM;
    *own = *codec;
    c->codec = own;
    c->allowed_rsv |= WSIO_RSV1; /* RFC 7692 section 6 */
    return 0;
}

int wsio_conn_has_codec(const wsio_conn *c)
{
    return c->codec != NULL;
}

/* ---- output ------------------------------------------------------------- */

size_t wsio_conn_buffered_amount(const wsio_conn *c)
{
    return c->tx ? c->tx->out.queued : 0;
}

size_t wsio_conn_peek_output(const wsio_conn *c, wsio_iov *iov, size_t max)
{
    return c->tx ? wsio__outq_peek(&c->tx->out, iov, max) : 0;
}

size_t wsio__conn_evict(wsio_conn *c, uint64_t tag, size_t need, size_t keep)
{
    if (!c->tx)
        return 0;
    size_t n = wsio__outq_evict(&c->tx->out, c->env->mem, tag, need, keep);
    wsio__conn_tx_settle(c);
    return n;
}

void wsio_conn_consume_output(wsio_conn *c, size_t n)
{
    if (!c->tx)
        return;
    wsio__outq_consume(&c->tx->out, c->env->mem, n);
    wsio__conn_tx_settle(c);
}

size_t wsio_conn_write(wsio_conn *c, void *buf, size_t cap)
{
    uint8_t *dst = buf;
    size_t done = 0;
    wsio_iov iov;
    while (done < cap && wsio_conn_peek_output(c, &iov, 1) == 1) {
        size_t n = iov.len < cap - done ? iov.len : cap - done;
        memcpy(dst + done, iov.base, n);
        done += n;
        wsio_conn_consume_output(c, n);
    }
    return done;
}

int wsio_conn_want_read(const wsio_conn *c)
{
    return c->state != WSIO_CONN_CLOSED && !(c->tx && c->tx->out.over);
}

void wsio_conn_set_output_marks(wsio_conn *c, size_t high, size_t low)
{
    low = low < high ? low : high;
    int shared = high == c->env->out_high && low == env_low(c->env);
    /* The env's marks need no block of their own; other ones keep it.
     * Without memory for it the marks stay as they were. */
    wsio__conn_tx *tx = shared ? c->tx : wsio__conn_tx_make(c);
    if (tx) {
        tx->out.high = high;
        tx->out.low = low;
        tx->out.over = 0;
        c->own_marks = !shared;
    }
    wsio__conn_tx_settle(c);
}

void wsio__conn_set_output_keep(wsio_conn *c, size_t keep)
{
    /* WSIO__TRANSPORT_HELD_MAX at most */
    c->out_keep = (uint16_t)(keep < UINT16_MAX ? keep : UINT16_MAX);
}

int wsio_conn_want_write(const wsio_conn *c)
{
    return wsio_conn_buffered_amount(c) > 0;
}

/* ---- closing ------------------------------------------------------------ */

void wsio__conn_report_close(wsio_conn *c, unsigned code, const char *reason,
                             size_t reason_len, int by_peer, int clean, int err)
{
    if (c->close_reported)
        return;
    c->close_reported = 1;
    if (!c->env->cb->on_close)
        return;
    wsio_close_info info;
    info.code = code;
    info.reason = reason;
    info.reason_len = reason_len;
    info.by_peer = by_peer;
    info.clean = clean;
    info.error = err;
    c->env->cb->on_close(c, &info, c->user);
}

/*
 * Fail the connection (section 7.1.7): queue a close frame with the code err
 * maps to (unless one was sent already), stop reading, report. Returns err.
 */
int wsio__conn_fail(wsio_conn *c, int err, uint64_t offset)
{
    if (!c->err) {
        c->err = err;
        c->rx_offset = offset;
    }
    if (c->state == WSIO_CONN_CLOSED)
        return err;
    unsigned code = (unsigned)wsio_err_close_code(err);
    if (!wsio_close_code_is_valid(code))
        code = WSIO_CLOSE_INTERNAL_ERROR;
    /* Best effort: without memory for it, closing the transport is what
     * tells the peer. */
    if (!c->close_sent)
        (void)wsio__conn_queue_close(c, code, NULL, 0);
    c->state = WSIO_CONN_CLOSED;
    wsio__conn_report_close(c, code, "", 0, 0, 0, err);
    return err;
}

int wsio_conn_abort(wsio_conn *c, int err)
{
    wsio__conn_enter(c);
    tx_release(c);
    if (c->state != WSIO_CONN_CLOSED) {
        c->state = WSIO_CONN_CLOSED;
        if (err < 0 && !c->err)
            c->err = err; /* at rx_offset, where reading stopped */
        wsio__conn_report_close(c, WSIO_CLOSE_ABNORMAL, "", 0, 0, 0, err);
    }
    /* Inside a feed, a callback may still hold a pointer into the receive
     * buffer: feed releases it on the way out. */
    if (!c->in_feed)
        wsio__conn_release_rx(c);
    wsio__conn_leave(c);
    return 0;
}
