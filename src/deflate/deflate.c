/*
 * src/deflate/deflate.c - libwsio-deflate: the permessage-deflate codec
 * (RFC 7692 section 7.2) on zlib, behind wsio/conn.h's codec interface.
 *
 * Receiving (7.2.2): the payloads of a message are raw deflate data; at its
 * end the 0x00 0x00 0xff 0xff that the sender stripped is fed too, and
 * inflate runs with Z_SYNC_FLUSH into whatever room the connection gives,
 * never more (the connection sizes that room by max_message_size).
 * Sending (7.2.1): deflate with Z_SYNC_FLUSH, check that the output ends
 * in the empty stored block's 0x00 0x00 0xff 0xff, and strip it.
 *
 * Context takeover (7.1.1): without it on a side, that side's zlib stream
 * is ended after each message and made again for the next, so an idle
 * connection holds no zlib memory (keep_state, or a codec made with
 * WSIO_CODEC_KEEP_STATE, resets it instead: about 8 times faster for small
 * messages, for the memory); with it, the stream lives as long as the
 * connection. Every zlib allocation goes through the connection's
 * wsio_mem.
 *
 * Inflate work is bounded per byte received: a message may inflate to
 * inflate_floor + max_inflate_ratio bytes per compressed byte consumed so
 * far, checked after every inflate call (so at most one call's output,
 * INFLATE_STEP, is made past it). The floor keeps short messages that
 * repeat earlier ones (a few bytes with context takeover) legal, and is
 * small enough that a stream of tiny messages buys no more than about
 * floor / 7 bytes of output per byte on the wire.
 *
 * zlib cannot make raw deflate streams with an 8-bit window (deflateInit2
 * refuses -8 since 1.2.9). The core never agrees to 8 for our sending side;
 * a codec made for 8 anyway leaves every message uncompressed.
 */
#define ZLIB_CONST
#include <limits.h>
#include <string.h>
#include <zlib.h>

#include "../common_abi.h"
#include "wsio/deflate.h"

/* RFC 7692 section 7.2.1: what a sync flush ends with. */
static const uint8_t sync_tail[4] = {0x00, 0x00, 0xff, 0xff};

#define MIN_BITS 8
#define MIN_TX_BITS 9
#define MAX_BITS 15

/* Most bytes one inflate call makes: how far past its ratio bound a
 * message can get before the check sees it. */
#define INFLATE_STEP 16384

/*
 * One connection's codec. Invariants: inf_live/def_live say whether the
 * zlib stream is initialised; tail_left is 4 between messages.
 */
typedef struct pmd_codec {
    const wsio_mem *mem;
    z_stream inf, def;
    size_t threshold;
    int level, mem_level;
    int rx_bits, tx_bits; /* windows: the peer's sending, ours */
    uint8_t rx_reset;     /* the peer keeps no context between messages */
    uint8_t tx_reset;     /* we keep none */
    uint8_t inf_live, def_live;
    uint8_t keep;           /* reset rather than free between messages */
    uint8_t tail_left;      /* bytes of sync_tail still to inflate */
    size_t max_ratio;       /* inflate bound per compressed byte; 0: none */
    size_t floor_bytes;     /* what any message may inflate to */
    size_t msg_in, msg_out; /* this message: compressed bytes consumed,
                               bytes inflated */
    wsio_deflate *owner;    /* counts ratio failures */
} pmd_codec;

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    const wsio_mem *mem = opaque;
    if (size && items > SIZE_MAX / size)
        return Z_NULL;
    return mem->malloc((size_t)items * size, mem->user);
}

static void z_free(voidpf opaque, voidpf p)
{
    const wsio_mem *mem = opaque;
    mem->free(p, mem->user);
}

static void stream_init(const pmd_codec *p, z_stream *z)
{
    memset(z, 0, sizeof *z);
    z->zalloc = z_alloc;
    z->zfree = z_free;
    z->opaque = (voidpf)p->mem;
}

static uInt clamp_uint(size_t n)
{
    return n > UINT_MAX ? UINT_MAX : (uInt)n;
}

/* ---- receiving ---------------------------------------------------------- */

static int inflate_start(pmd_codec *p)
{
    if (p->inf_live)
        return 0;
    stream_init(p, &p->inf);
    int rc = inflateInit2(&p->inf, -p->rx_bits);
    if (rc != Z_OK)
        return rc == Z_MEM_ERROR ? WSIO_ENOMEM : WSIO_EINTERNAL;
    p->inf_live = 1;
    return 0;
}

/* Whether the message so far has inflated past its allowance. */
static int over_ratio(const pmd_codec *p)
{
    if (!p->max_ratio || p->msg_out <= p->floor_bytes)
        return 0;
    size_t over = p->msg_out - p->floor_bytes;
    return p->msg_in < SIZE_MAX / p->max_ratio &&
           over > p->msg_in * p->max_ratio;
}

/* The message is done: drop the window when the peer keeps no context,
 * and the memory with it. */
static void inflate_finish(pmd_codec *p)
{
    p->tail_left = sizeof sync_tail;
    p->msg_in = 0;
    p->msg_out = 0;
    if (p->rx_reset && p->keep) {
        inflateReset(&p->inf);
    } else if (p->rx_reset) {
        inflateEnd(&p->inf);
        p->inf_live = 0;
    }
}

static ssize_t pmd_decode(void *state, const uint8_t **in, size_t *in_len,
                          int end, uint8_t *out, size_t cap)
{
    pmd_codec *p = state;
    int err = inflate_start(p);
    if (err)
        return err;
    z_stream *z = &p->inf;
    size_t left = cap;
    while (left > 0) {
        int from_tail = *in_len == 0 && end && p->tail_left > 0;
        if (from_tail) {
            z->next_in = sync_tail + sizeof sync_tail - p->tail_left;
            z->avail_in = p->tail_left;
        } else {
            z->next_in = *in;
            z->avail_in = clamp_uint(*in_len);
        }
        z->next_out = out + (cap - left);
        z->avail_out = (uInt)(left < INFLATE_STEP ? left : INFLATE_STEP);
        uInt had_in = z->avail_in, had_out = z->avail_out;
        int rc = inflate(z, Z_SYNC_FLUSH);
        size_t used = had_in - z->avail_in;
        size_t made = had_out - z->avail_out;
        left -= made;
        if (from_tail) {
            p->tail_left = (uint8_t)(p->tail_left - used);
        } else {
            *in += used;
            *in_len -= used;
            p->msg_in += used;
        }
        /* Section 7.2.3.4: a block with BFINAL may end the data; what
         * follows (a 0x00 and our tail) starts a new stream. A kept
         * context does not survive that: a peer referring back past it
         * fails with 1007. */
        if (rc == Z_STREAM_END)
            inflateReset(z);
        else if (rc == Z_MEM_ERROR)
            return WSIO_ENOMEM;
        else if (rc != Z_OK && rc != Z_BUF_ERROR)
            return WSIO_EDEFLATE; /* Z_DATA_ERROR, Z_NEED_DICT */
        p->msg_out += made;
        if (over_ratio(p)) {
            __atomic_fetch_add(&p->owner->ratio_exceeded, 1, __ATOMIC_RELAXED);
            return WSIO_EINFLATE_RATIO;
        }
        if (used == 0 && made == 0 && rc != Z_STREAM_END)
            break; /* needs more input */
    }
    if (end && *in_len == 0 && p->tail_left == 0 && left > 0)
        inflate_finish(p);
    return (ssize_t)(cap - left);
}

/* ---- sending ------------------------------------------------------------ */

static size_t pmd_encode_bound(void *state, size_t len)
{
    const pmd_codec *p = state;
    if (len < p->threshold || p->tx_bits < MIN_TX_BITS || len > UINT_MAX / 2)
        return 0;
    /* deflateBound covers a whole stream; a sync flush adds an empty
     * stored block (5 bytes) and the bits before it, which we strip. */
    return (size_t)deflateBound(NULL, (uLong)len) + 16;
}

static ssize_t pmd_encode(void *state, const void *in, size_t len, uint8_t *out,
                          size_t cap)
{
    pmd_codec *p = state;
    if (!p->def_live) {
        stream_init(p, &p->def);
        int rc = deflateInit2(&p->def, p->level, Z_DEFLATED, -p->tx_bits,
                              p->mem_level, Z_DEFAULT_STRATEGY);
        if (rc != Z_OK)
            return rc == Z_MEM_ERROR ? WSIO_ENOMEM : WSIO_EINTERNAL;
        p->def_live = 1;
    }
    z_stream *z = &p->def;
    z->next_in = in;
    z->avail_in = (uInt)len; /* encode_bound refused larger ones */
    z->next_out = out;
    z->avail_out = clamp_uint(cap);
    int rc = deflate(z, Z_SYNC_FLUSH);
    size_t n = clamp_uint(cap) - z->avail_out;
    /* The bound holds, so all input is taken and the flush is complete
     * (room is left over); anything else is a broken invariant. */
    if (rc != Z_OK || z->avail_in != 0 || z->avail_out == 0 ||
        n < sizeof sync_tail ||
        memcmp(out + n - sizeof sync_tail, sync_tail, sizeof sync_tail) != 0)
        return WSIO_EINTERNAL;
    if (p->tx_reset && p->keep) {
        deflateReset(z);
    } else if (p->tx_reset) {
        deflateEnd(z);
        p->def_live = 0;
    }
    return (ssize_t)(n - sizeof sync_tail);
}

static void pmd_free(void *state)
{
    pmd_codec *p = state;
    if (!p)
        return;
    if (p->inf_live)
        inflateEnd(&p->inf);
    if (p->def_live)
        deflateEnd(&p->def);
    p->mem->free(p, p->mem->user);
}

static const wsio_codec_ops pmd_ops = {
    .decode = pmd_decode,
    .encode_bound = pmd_encode_bound,
    .encode = pmd_encode,
    .free = pmd_free,
};

/* ---- the extension ------------------------------------------------------ */

static int pmd_codec_new(const wsio_deflate_ext *ext,
                         const wsio_deflate_params *params, enum wsio_role role,
                         unsigned flags, const wsio_mem *mem, wsio_codec *out)
{
    /* ext is first in the caller's (writable) wsio_deflate, whose counter
     * the codec updates. */
    wsio_deflate *d = (wsio_deflate *)(uintptr_t)ext;
    if (!mem)
        mem = wsio_mem_default();
    pmd_codec *p = mem->malloc(sizeof *p, mem->user);
    if (!p)
        return WSIO_ENOMEM;
    memset(p, 0, sizeof *p);
    p->mem = mem;
    p->threshold = d->threshold;
    p->level = d->level;
    p->mem_level = d->mem_level;
    p->tail_left = sizeof sync_tail;
    p->keep = d->keep_state || (flags & WSIO_CODEC_KEEP_STATE);
    p->max_ratio = d->max_inflate_ratio;
    p->floor_bytes = d->inflate_floor;
    p->owner = d;
    int server = role == WSIO_ROLE_SERVER;
    uint8_t sbits = params->server_max_window_bits;
    uint8_t cbits = params->client_max_window_bits;
    p->tx_bits = server ? sbits : cbits;
    p->rx_bits = server ? cbits : sbits;
    p->tx_reset = server ? params->server_no_context_takeover
                         : params->client_no_context_takeover;
    p->rx_reset = server ? params->client_no_context_takeover
                         : params->server_no_context_takeover;
    if (p->rx_bits < MIN_BITS || p->rx_bits > MAX_BITS)
        p->rx_bits = MAX_BITS; /* inflating with a larger window is safe */
    if (p->tx_bits > MAX_BITS)
        p->tx_bits = 0; /* not a window zlib knows: never compress */
    out->ops = &pmd_ops;
    out->state = p;
    return 0;
}

/* The smallest struct_size wsio_deflate_init takes: the first sized
 * release's config ended with keep_state. */
#define DEFLATE_CONFIG_MIN WSIO__SIZE_THROUGH(wsio_deflate_config, keep_state)

static void deflate_defaults(wsio_deflate_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    wsio_deflate_policy_default(&cfg->policy);
    /* About 61 KiB of zlib state per connection at most (wsio/deflate.h) */
    cfg->policy.server_max_window_bits = 11;
    cfg->policy.client_max_window_bits = 11;
    cfg->threshold = 64;
    cfg->level = 6;
    cfg->mem_level = 4;
    cfg->max_connections = 1024;
    cfg->max_inflate_ratio = 128;
    cfg->inflate_floor = 1024;
}

void wsio_deflate_config_init(wsio_deflate_config *cfg, size_t size)
{
    wsio_deflate_config def;
    deflate_defaults(&def);
    wsio__config_fill(cfg, size, &def, sizeof def);
}

static int bits_ok(uint8_t b)
{
    return b >= MIN_BITS && b <= MAX_BITS;
}

int wsio_deflate_init(wsio_deflate *d, const wsio_deflate_config *cfg)
{
    wsio_deflate_config def;
    wsio_deflate_config_default(&def);
    if (!d ||
        (cfg && wsio__config_copy(&def, sizeof def, cfg, DEFLATE_CONFIG_MIN)))
        return WSIO_EINVAL;
    cfg = &def;
    if (!bits_ok(cfg->policy.server_max_window_bits) ||
        !bits_ok(cfg->policy.client_max_window_bits) || cfg->level < 1 ||
        cfg->level > 9 || cfg->mem_level < 1 || cfg->mem_level > 9)
        return WSIO_EINVAL;
    memset(d, 0, sizeof *d);
    d->ext.policy = cfg->policy;
    d->ext.max_connections = cfg->max_connections;
    d->ext.codec_new = pmd_codec_new;
    d->threshold = cfg->threshold;
    d->level = cfg->level;
    d->mem_level = cfg->mem_level;
    d->keep_state = cfg->keep_state != 0;
    d->max_inflate_ratio = cfg->max_inflate_ratio;
    d->inflate_floor = cfg->inflate_floor;
    return 0;
}

uint64_t wsio_deflate_ratio_exceeded(const wsio_deflate *d)
{
    return __atomic_load_n(&d->ratio_exceeded, __ATOMIC_RELAXED);
}
