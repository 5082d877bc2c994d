/*
 * tests/unit/test_deflate.c - libwsio-deflate (permessage-deflate on zlib,
 * RFC 7692) through a pair of connections: round trips of compressible
 * and incompressible messages with and without context takeover, RFC 7692
 * section 7.2.3's example frames, fragmented and streamed messages, RSV1
 * rules, decompression bombs, limits at their exact edge, windows outside
 * 8..15, idle memory, shared broadcast frames, corrupt data and every
 * allocation failing in turn. Built only when zlib is found.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "testutil.h"
#include "wsio/deflate.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- an allocator that counts bytes ------------------------------------ */

/* Bytes live and the peak, over cmocka's allocator (so leaks still fail). */
typedef struct byte_mem {
    wsio_mem mem;
    size_t live, peak;
} byte_mem;

static void *bm_malloc(size_t size, void *user)
{
    byte_mem *bm = user;
    size_t *p = test_malloc(sizeof(size_t) * 2 + size);
    if (!p)
        return NULL;
    p[0] = size;
    bm->live += size;
    if (bm->live > bm->peak)
        bm->peak = bm->live;
    return p + 2;
}

static void bm_free(void *ptr, void *user)
{
    byte_mem *bm = user;
    if (!ptr)
        return;
    size_t *p = (size_t *)ptr - 2;
    bm->live -= p[0];
    test_free(p);
}

static void *bm_realloc(void *ptr, size_t size, void *user)
{
    if (!ptr)
        return bm_malloc(size, user);
    size_t old = ((size_t *)ptr)[-2];
    void *n = bm_malloc(size, user);
    if (!n)
        return NULL;
    memcpy(n, ptr, old < size ? old : size);
    bm_free(ptr, user);
    return n;
}

static void byte_mem_init(byte_mem *bm)
{
    memset(bm, 0, sizeof *bm);
    bm->mem.malloc = bm_malloc;
    bm->mem.realloc = bm_realloc;
    bm->mem.free = bm_free;
    bm->mem.user = bm;
}

/* ---- a recording peer --------------------------------------------------- */

#define MAX_MSGS 16

typedef struct rec {
    int count;
    enum wsio_opcode op[MAX_MSGS];
    uint8_t *data[MAX_MSGS];
    size_t len[MAX_MSGS];
    size_t piece_bytes; /* streaming: bytes delivered so far */
    size_t largest_piece;
    int lasts; /* streaming: pieces with last set */
    int closed;
    wsio_close_info info;
} rec;

static int on_message(wsio_conn *c, const wsio_message *m, void *user)
{
    (void)c;
    rec *r = user;
    if (!r)
        return 0;
    assert_true(r->count < MAX_MSGS);
    r->op[r->count] = m->opcode;
    r->data[r->count] = malloc(m->len + 1);
    memcpy(r->data[r->count], m->data, m->len);
    r->len[r->count] = m->len;
    r->count++;
    return 0;
}

static int on_fragment(wsio_conn *c, const wsio_fragment *f, void *user)
{
    (void)c;
    rec *r = user;
    r->piece_bytes += f->len;
    if (f->len > r->largest_piece)
        r->largest_piece = f->len;
    r->lasts += f->last;
    return 0;
}

static void on_close(wsio_conn *c, const wsio_close_info *info, void *user)
{
    (void)c;
    rec *r = user;
    r->closed++;
    r->info = *info;
}

static void rec_free(rec *r)
{
    for (int i = 0; i < r->count; i++)
        free(r->data[i]);
    memset(r, 0, sizeof *r);
}

static const wsio_conn_callbacks whole_cb = {.on_message = on_message,
                                             .on_close = on_close};
static const wsio_conn_callbacks stream_cb = {.on_fragment = on_fragment,
                                              .on_close = on_close};

static int fixed_mask(uint8_t key[4], void *user)
{
    (void)user;
    memcpy(key, "\x37\xfa\x21\x3d", 4);
    return 0;
}

/* An extension without the inflate ratio bound (its own tests set it),
 * so that the other limits are what these tests meet. */
static wsio_deflate make_ext(size_t threshold)
{
    wsio_deflate_config dc;
    wsio_deflate_config_default(&dc);
    dc.threshold = threshold;
    dc.max_inflate_ratio = 0;
    wsio_deflate d;
    assert_int_equal(wsio_deflate_init(&d, &dc), 0);
    return d;
}

/* A connection of role with the codec for params (no codec when params is
 * NULL). */
static wsio_conn *conn_with(enum wsio_role role, const wsio_deflate *d,
                            const wsio_deflate_params *params,
                            const wsio_conn_config *cfg,
                            const wsio_conn_callbacks *cb, const wsio_mem *mem,
                            rec *r)
{
    wsio_conn_config def;
    if (!cfg) {
        wsio_conn_config_default(&def);
        def.make_mask = fixed_mask;
        cfg = &def;
    }
    wsio_conn *c = wsio_conn_new(role, cfg, cb, mem, r);
    assert_non_null(c);
    if (params) {
        wsio_codec codec;
        assert_int_equal(
            d->ext.codec_new(&d->ext, params, role, 0, mem, &codec), 0);
        assert_int_equal(wsio_conn_set_codec(c, &codec), 0);
        assert_int_equal(wsio_conn_set_codec(c, &codec), WSIO_ESTATE);
        assert_true(wsio_conn_has_codec(c));
    }
    return c;
}

/* Move everything from's output holds into to; returns the bytes moved
 * (what went over the wire). */
static size_t pump(wsio_conn *from, wsio_conn *to, ssize_t *fed)
{
    size_t n = wsio_conn_buffered_amount(from);
    uint8_t *buf = malloc(n + 1);
    assert_int_equal(wsio_conn_write(from, buf, n), n);
    ssize_t r = wsio_conn_feed(to, buf, n);
    if (fed)
        *fed = r;
    free(buf);
    return n;
}

/* The first frame header in c's output. */
static wsio_frame_header peek_header(wsio_conn *c)
{
    wsio_iov iov;
    wsio_frame_header h;
    assert_int_equal(wsio_conn_peek_output(c, &iov, 1), 1);
    assert_true(wsio_frame_header_decode(iov.base, iov.len, &h) >= 2);
    return h;
}

/* Compressible chat-like text of about len bytes. */
static char *json_text(size_t len)
{
    char *s = malloc(len + 1);
    size_t n = 0;
    for (int i = 0; n < len; i++) {
        char line[96];
        int k = snprintf(
            line, sizeof line,
            "{\"type\":\"chat\",\"name\":\"user%d\",\"text\":\"hello %d\"}",
            i % 7, i);
        size_t take = (size_t)k < len - n ? (size_t)k : len - n;
        memcpy(s + n, line, take);
        n += take;
    }
    s[len] = '\0';
    return s;
}

static uint8_t *random_bytes(size_t len, unsigned seed)
{
    uint8_t *p = malloc(len ? len : 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

/* ---- round trips -----------------------------------------------------------
 */

static void test_deflate_round_trip_every_takeover_combination(void **state)
{
    (void)state;
    wsio_deflate d = make_ext(16);
    char *text = json_text(20000);
    uint8_t *noise = random_bytes(70000, 1);
    static const struct {
        uint8_t snct, cnct, sbits, cbits;
    } params[] = {{0, 0, 15, 15}, {1, 0, 15, 15}, {0, 1, 15, 15},
                  {1, 1, 15, 15}, {0, 0, 9, 9},   {1, 1, 10, 12}};
    for (size_t i = 0; i < ARRAY_LEN(params); i++) {
        wsio_deflate_params p = {params[i].snct, params[i].cnct,
                                 params[i].sbits, params[i].cbits};
        test_mem tm;
        test_mem_init(&tm);
        rec rs, rc;
        memset(&rs, 0, sizeof rs);
        memset(&rc, 0, sizeof rc);
        wsio_conn *s =
            conn_with(WSIO_ROLE_SERVER, &d, &p, NULL, &whole_cb, &tm.mem, &rs);
        wsio_conn *c =
            conn_with(WSIO_ROLE_CLIENT, &d, &p, NULL, &whole_cb, &tm.mem, &rc);
        /* The same messages three times, so a kept context matters. */
        for (int round = 0; round < 3; round++) {
            struct {
                enum wsio_opcode op;
                const void *data;
                size_t len;
                int compressed;
            } msgs[] = {
                {WSIO_OP_TEXT, text, 20000, 1},
                {WSIO_OP_BINARY, noise, 70000, 1},
                {WSIO_OP_TEXT, "short", 5, 0}, /* under the threshold */
                {WSIO_OP_BINARY, "", 0, 0},
            };
            for (size_t m = 0; m < ARRAY_LEN(msgs); m++) {
                wsio_conn *from = m % 2 ? s : c, *to = m % 2 ? c : s;
                rec *r = m % 2 ? &rc : &rs;
                int before = r->count;
                assert_int_equal(
                    wsio_conn_send(from, msgs[m].op, msgs[m].data, msgs[m].len),
                    0);
                wsio_frame_header h = peek_header(from);
                assert_int_equal(h.rsv, msgs[m].compressed ? WSIO_RSV1 : 0);
                ssize_t fed;
                size_t wire = pump(from, to, &fed);
                assert_int_equal(fed, (ssize_t)wire);
                if (msgs[m].op == WSIO_OP_TEXT && msgs[m].compressed)
                    assert_true(wire < msgs[m].len / 3); /* JSON shrinks */
                /* Incompressible: little growth (zlib's worst, at 9 bits
                 * and memLevel 4, is about 5%). */
                if (msgs[m].data == noise)
                    assert_true(wire < msgs[m].len + msgs[m].len / 16 + 32);
                assert_int_equal(r->count, before + 1);
                assert_int_equal(r->op[before], msgs[m].op);
                assert_int_equal(r->len[before], msgs[m].len);
                assert_memory_equal(r->data[before], msgs[m].data, msgs[m].len);
            }
        }
        assert_int_equal(rs.closed + rc.closed, 0);
        wsio_conn_free(s);
        wsio_conn_free(c);
        assert_int_equal(tm.live_blocks, 0);
        rec_free(&rs);
        rec_free(&rc);
    }
    free(text);
    free(noise);
}

/* Context takeover pays off on repeated messages; without it, each
 * message is compressed alone. */
static void test_deflate_context_takeover_shrinks_repeats(void **state)
{
    (void)state;
    wsio_deflate d = make_ext(16);
    char *text = json_text(400);
    size_t second[2];
    for (int nct = 0; nct < 2; nct++) {
        wsio_deflate_params p = {(uint8_t)nct, 0, 15, 15};
        rec rc;
        memset(&rc, 0, sizeof rc);
        wsio_conn *s =
            conn_with(WSIO_ROLE_SERVER, &d, &p, NULL, &whole_cb, NULL, NULL);
        wsio_conn *c =
            conn_with(WSIO_ROLE_CLIENT, &d, &p, NULL, &whole_cb, NULL, &rc);
        assert_int_equal(wsio_conn_send(s, WSIO_OP_TEXT, text, 400), 0);
        pump(s, c, NULL);
        assert_int_equal(wsio_conn_send(s, WSIO_OP_TEXT, text, 400), 0);
        second[nct] = pump(s, c, NULL);
        assert_int_equal(rc.count, 2);
        assert_memory_equal(rc.data[1], text, 400);
        wsio_conn_free(s);
        wsio_conn_free(c);
        rec_free(&rc);
    }
    assert_true(second[0] < 20); /* one back-reference */
    assert_true(second[1] > second[0] * 3);
    free(text);
}

/* RFC 7692 section 7.2.3: the example frames, as a client receives them. */
static void test_deflate_rfc7692_examples_decode(void **state)
{
    (void)state;
    static const struct {
        const char *hex;
        int takeover; /* the frames share one context */
        int messages;
    } cases[] = {
        {"c1 07 f2 48 cd c9 c9 07 00", 0, 1},       /* 7.2.3.1 */
        {"41 03 f2 48 cd 80 04 c9 c9 07 00", 0, 1}, /* fragmented */
        {"c1 07 f2 48 cd c9 c9 07 00 c1 05 f2 00 11 00 00", 1, 2}, /* 7.2.3.2 */
        {"c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00", 0, 1},          /* 7.2.3.3 */
        {"c1 08 f3 48 cd c9 c9 07 00 00", 0, 1},                   /* 7.2.3.4 */
        {"c1 0d f2 48 05 00 00 00 ff ff ca c9 c9 07 00", 0, 1},    /* 7.2.3.5 */
    };
    wsio_deflate d = make_ext(64);
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        wsio_deflate_params p = {(uint8_t)!cases[i].takeover, 0, 15, 15};
        for (int stream = 0; stream < 2; stream++) {
            test_mem tm;
            test_mem_init(&tm);
            rec r;
            memset(&r, 0, sizeof r);
            wsio_conn *c =
                conn_with(WSIO_ROLE_CLIENT, &d, &p, NULL,
                          stream ? &stream_cb : &whole_cb, &tm.mem, &r);
            uint8_t buf[64];
            size_t n = test_hex(cases[i].hex, buf, sizeof buf);
            /* Byte by byte: every split of the compressed data. */
            for (size_t k = 0; k < n; k++)
                assert_int_equal(wsio_conn_feed(c, buf + k, 1), 1);
            if (stream) {
                assert_int_equal(r.lasts, cases[i].messages);
                assert_int_equal(r.piece_bytes, 5 * (size_t)cases[i].messages);
            } else {
                assert_int_equal(r.count, cases[i].messages);
                for (int m = 0; m < r.count; m++) {
                    assert_int_equal(r.len[m], 5);
                    assert_memory_equal(r.data[m], "Hello", 5);
                }
            }
            wsio_conn_free(c);
            assert_int_equal(tm.live_blocks, 0);
            rec_free(&r);
        }
    }
}

/* Raw deflate of data with a sync flush and the tail stripped, as a peer
 * sends it (zlib directly, independent of the codec under test). */
static size_t raw_deflate(const void *data, size_t len, uint8_t *out,
                          size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(
        deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_SYNC_FLUSH), Z_OK);
    assert_int_equal(z.avail_in, 0);
    size_t n = cap - z.avail_out;
    deflateEnd(&z);
    assert_memory_equal(out + n - 4, "\x00\x00\xff\xff", 4);
    return n - 4;
}

/* A server-bound (masked) frame. */
static size_t put_frame(uint8_t *out, int fin, unsigned rsv, unsigned op,
                        const void *data, size_t len)
{
    wsio_frame_header h;
    memset(&h, 0, sizeof h);
    h.fin = (uint8_t)fin;
    h.rsv = (uint8_t)rsv;
    h.opcode = (uint8_t)op;
    h.payload_len = len;
    h.masked = 1;
    memcpy(h.mask_key, "\x11\x22\x33\x44", 4);
    ssize_t n = wsio_frame_header_encode(out, &h);
    if (len)
        wsio_mask_copy(out + n, data, len, h.mask_key, 0);
    return (size_t)n + len;
}

/* A compressed message split into frames of step bytes, RSV1 on the first
 * only, with empty frames between when empties is set. */
static void test_deflate_fragmented_compressed_message(void **state)
{
    (void)state;
    wsio_deflate d = make_ext(64);
    wsio_deflate_params p = {0, 0, 15, 15};
    char *text = json_text(30000);
    uint8_t *z = malloc(40000);
    size_t zlen = raw_deflate(text, 30000, z, 40000);
    static const size_t steps[] = {1, 7, 1000, 40000};
    for (size_t i = 0; i < ARRAY_LEN(steps); i++) {
        for (int stream = 0; stream < 2; stream++) {
            rec r;
            memset(&r, 0, sizeof r);
            wsio_conn_config cfg;
            wsio_conn_config_default(&cfg);
            cfg.max_fragments = 100000;
            wsio_conn *s = conn_with(WSIO_ROLE_SERVER, &d, &p, &cfg,
                                     stream ? &stream_cb : &whole_cb, NULL, &r);
            uint8_t *wire = malloc(zlen * 16 + 64);
            size_t n = 0;
            for (size_t at = 0; at < zlen; at += steps[i]) {
                size_t k = zlen - at < steps[i] ? zlen - at : steps[i];
                int first = at == 0, last = at + k == zlen;
                n += put_frame(wire + n, last, first ? WSIO_RSV1 : 0,
                               first ? WSIO_OP_TEXT : WSIO_OP_CONTINUATION,
                               z + at, k);
                if (first && steps[i] == 1000) /* an empty fragment too */
                    n += put_frame(wire + n, 0, 0, WSIO_OP_CONTINUATION, NULL,
                                   0);
            }
            assert_int_equal(wsio_conn_feed(s, wire, n), (ssize_t)n);
            if (stream) {
                assert_int_equal(r.piece_bytes, 30000);
                assert_int_equal(r.lasts, 1);
                assert_true(r.largest_piece <= 16384);
            } else {
                assert_int_equal(r.count, 1);
                assert_int_equal(r.len[0], 30000);
                assert_memory_equal(r.data[0], text, 30000);
            }
            assert_int_equal(r.closed, 0);
            free(wire);
            wsio_conn_free(s);
            rec_free(&r);
        }
    }
    free(z);
    free(text);
}

/* ---- protocol rules -------------------------------------------------------
 */

static void test_deflate_rsv1_rules(void **state)
{
    (void)state;
    wsio_deflate d = make_ext(64);
    wsio_deflate_params p = {0, 0, 15, 15};
    uint8_t hello[16];
    size_t zl = raw_deflate("Hello", 5, hello, sizeof hello);
    static const struct {
        int with_codec;
        int second_rsv1; /* 1: RSV1 on the continuation; 2: on a ping */
        int err;
    } cases[] = {
        {0, 0, WSIO_ERSV}, /* RSV1 without the extension */
        {1, 1, WSIO_ERSV}, /* RSV1 on a continuation */
        {1, 2, WSIO_ERSV}, /* RSV1 on a control frame */
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        rec r;
        memset(&r, 0, sizeof r);
        wsio_conn *s =
            conn_with(WSIO_ROLE_SERVER, &d, cases[i].with_codec ? &p : NULL,
                      NULL, &whole_cb, NULL, &r);
        uint8_t wire[64];
        size_t n = put_frame(wire, 0, WSIO_RSV1, WSIO_OP_TEXT, hello, 2);
        if (cases[i].second_rsv1 == 2)
            n += put_frame(wire + n, 1, WSIO_RSV1, WSIO_OP_PING, NULL, 0);
        n += put_frame(wire + n, 1, cases[i].second_rsv1 == 1 ? WSIO_RSV1 : 0,
                       WSIO_OP_CONTINUATION, hello + 2, zl - 2);
        assert_int_equal(wsio_conn_feed(s, wire, n), cases[i].err);
        assert_int_equal(r.closed, 1);
        assert_int_equal(r.info.code, 1002);
        assert_int_equal(r.count, 0);
        wsio_conn_free(s);
        rec_free(&r);
    }
}

static void test_deflate_corrupt_data_fails_with_1007(void **state)
{
    (void)state;
    wsio_deflate d = make_ext(64);
    wsio_deflate_params p = {0, 0, 15, 15};
    static const char *const bad[] = {
        "ff ff ff ff",             /* reserved block type 3 */
        "f3 48 cd c9 c9 07 00 ff", /* a bad block after a final one */
        "00 05 00 fa fe 48 65",    /* stored block with NLEN not ~LEN */
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        uint8_t z[16], wire[32];
        size_t zl = test_hex(bad[i], z, sizeof z);
        rec r;
        memset(&r, 0, sizeof r);
        wsio_conn *s =
            conn_with(WSIO_ROLE_SERVER, &d, &p, NULL, &whole_cb, NULL, &r);
        size_t n = put_frame(wire, 1, WSIO_RSV1, WSIO_OP_BINARY, z, zl);
        assert_int_equal(wsio_conn_feed(s, wire, n), WSIO_EDEFLATE);
        assert_int_equal(r.info.code, 1007);
        assert_int_equal(r.count, 0);
        wsio_conn_free(s);
        rec_free(&r);
    }
}

/* Text is UTF-8 after inflating: a bad byte fails with 1007 too. */
static void test_deflate_inflated_text_must_be_utf8(void **state)
{
    (void)state;
    wsio_deflate d = make_ext(64);
    wsio_deflate_params p = {0, 0, 15, 15};
    uint8_t z[64], wire[96];
    size_t zl = raw_deflate("ok \xff no", 7, z, sizeof z);
    rec r;
    memset(&r, 0, sizeof r);
    wsio_conn *s =
        conn_with(WSIO_ROLE_SERVER, &d, &p, NULL, &whole_cb, NULL, &r);
    size_t n = put_frame(wire, 1, WSIO_RSV1, WSIO_OP_TEXT, z, zl);
    assert_int_equal(wsio_conn_feed(s, wire, n), WSIO_EUTF8);
    assert_int_equal(r.info.code, 1007);
    wsio_conn_free(s);
}

/* ---- limits and bombs ------------------------------------------------------
 */

/* A frame of about 64 KiB that inflates to 64 MiB, against a 1 MiB limit:
 * 1009 after at most the limit of output, and memory stays near it. */
static void test_deflate_bomb_fails_at_the_limit(void **state)
{
    (void)state;
    wsio_deflate d = make_ext(64);
    wsio_deflate_params p = {0, 0, 15, 15};
    size_t big = (size_t)64 << 20;
    uint8_t *zeros = calloc(1, big);
    uint8_t *z = malloc(big / 512);
    size_t zl = raw_deflate(zeros, big, z, big / 512);
    free(zeros);
    assert_true(zl < 128 * 1024);
    uint8_t *wire = malloc(zl + 16);
    size_t n = put_frame(wire, 1, WSIO_RSV1, WSIO_OP_BINARY, z, zl);
    for (int stream = 0; stream < 2; stream++) {
        byte_mem bm;
        byte_mem_init(&bm);
        rec r;
        memset(&r, 0, sizeof r);
        wsio_conn_config cfg;
        wsio_conn_config_default(&cfg);
        wsio_conn *s = conn_with(WSIO_ROLE_SERVER, &d, &p, &cfg,
                                 stream ? &stream_cb : &whole_cb, &bm.mem, &r);
        uint8_t *copy = malloc(n);
        memcpy(copy, wire, n);
        assert_int_equal(wsio_conn_feed(s, copy, n), WSIO_ETOOBIG);
        assert_int_equal(r.info.code, 1009);
        assert_int_equal(r.count, 0);
        /* The host saw at most the limit. */
        assert_true(r.piece_bytes <= cfg.max_message_size);
        /* zlib's inflate state and window (about 40 KiB), plus the message
         * buffer: one decode chunk when streaming; the limit when
         * assembling, twice while the buffer's last growth moves it. */
        if (stream)
            assert_true(bm.peak < 16384 + 64 * 1024);
        else
            assert_true(bm.peak < 2 * (cfg.max_message_size + 125) + 64 * 1024);
        free(copy);
        wsio_conn_free(s);
        assert_int_equal(bm.live, 0);
        rec_free(&r);
    }
    free(wire);
    free(z);
}

/* The limits at their exact edge: a message that inflates to exactly
 * max_message_size is accepted even when it is incompressible (its wire
 * size is over the limit by deflate's framing, and the 4-byte tail is
 * never counted), one byte more fails with 1009. */
static void test_deflate_limit_edges_count_inflated_bytes(void **state)
{
    (void)state;
    wsio_deflate d = make_ext(16);
    static const size_t limits[] = {100, 4096, 65536};
    for (size_t i = 0; i < ARRAY_LEN(limits); i++) {
        size_t lim = limits[i];
        for (int extra = 0; extra < 2; extra++) {
            for (int compressible = 0; compressible < 2; compressible++) {
                wsio_deflate_params p = {1, 1, 15, 15};
                wsio_conn_config cfg;
                wsio_conn_config_default(&cfg);
                cfg.make_mask = fixed_mask;
                cfg.max_message_size = lim;
                cfg.max_frame_size = lim + lim / 16 + 64;
                rec r;
                memset(&r, 0, sizeof r);
                wsio_conn *c = conn_with(WSIO_ROLE_CLIENT, &d, &p, NULL,
                                         &whole_cb, NULL, NULL);
                wsio_conn *s = conn_with(WSIO_ROLE_SERVER, &d, &p, &cfg,
                                         &whole_cb, NULL, &r);
                size_t len = lim + (size_t)extra;
                uint8_t *data = compressible ? (uint8_t *)json_text(len)
                                             : random_bytes(len, 7);
                assert_int_equal(wsio_conn_send(c, WSIO_OP_BINARY, data, len),
                                 0);
                assert_int_equal(peek_header(c).rsv, WSIO_RSV1);
                ssize_t fed;
                pump(c, s, &fed);
                if (extra) {
                    assert_int_equal(fed, WSIO_ETOOBIG);
                    assert_int_equal(r.info.code, 1009);
                } else {
                    assert_true(fed > 0);
                    assert_int_equal(r.count, 1);
                    assert_int_equal(r.len[0], len);
                    assert_memory_equal(r.data[0], data, len);
                }
                free(data);
                wsio_conn_free(c);
                wsio_conn_free(s);
                rec_free(&r);
            }
        }
    }
}

/* Empty compressed fragments count against max_fragments like any. */
static void test_deflate_empty_fragments_count(void **state)
{
    (void)state;
    wsio_deflate d = make_ext(64);
    wsio_deflate_params p = {0, 0, 15, 15};
    wsio_conn_config cfg;
    wsio_conn_config_default(&cfg);
    cfg.max_fragments = 8;
    for (size_t frames = 8; frames <= 9; frames++) {
        rec r;
        memset(&r, 0, sizeof r);
        wsio_conn *s =
            conn_with(WSIO_ROLE_SERVER, &d, &p, &cfg, &whole_cb, NULL, &r);
        uint8_t wire[256];
        size_t n = put_frame(wire, 0, WSIO_RSV1, WSIO_OP_TEXT, NULL, 0);
        for (size_t i = 1; i + 1 < frames; i++)
            n += put_frame(wire + n, 0, 0, WSIO_OP_CONTINUATION, NULL, 0);
        uint8_t z[16];
        size_t zl = raw_deflate("Hello", 5, z, sizeof z);
        n += put_frame(wire + n, 1, 0, WSIO_OP_CONTINUATION, z, zl);
        ssize_t fed = wsio_conn_feed(s, wire, n);
        if (frames <= cfg.max_fragments) {
            assert_int_equal(fed, (ssize_t)n);
            assert_int_equal(r.count, 1);
            assert_memory_equal(r.data[0], "Hello", 5);
        } else {
            assert_int_equal(fed, WSIO_ETOOMANYFRAGS);
            assert_int_equal(r.info.code, 1009);
        }
        wsio_conn_free(s);
        rec_free(&r);
    }
}

/* Windows outside 8..15 from a hand-made params struct never crash: the
 * codec inflates with 15 and leaves its own messages uncompressed. */
static void test_deflate_window_bits_outside_range_are_safe(void **state)
{
    (void)state;
    wsio_deflate d = make_ext(16);
    static const uint8_t bits[] = {0, 7, 8, 16, 255};
    char *text = json_text(1000);
    for (size_t i = 0; i < ARRAY_LEN(bits); i++) {
        wsio_deflate_params odd = {0, 0, bits[i], bits[i]};
        wsio_deflate_params full = {0, 0, 15, 15};
        rec r;
        memset(&r, 0, sizeof r);
        wsio_conn *s =
            conn_with(WSIO_ROLE_SERVER, &d, &odd, NULL, &whole_cb, NULL, &r);
        wsio_conn *c =
            conn_with(WSIO_ROLE_CLIENT, &d, &full, NULL, &whole_cb, NULL, NULL);
        assert_int_equal(wsio_conn_send(s, WSIO_OP_TEXT, text, 1000), 0);
        assert_int_equal(peek_header(s).rsv, 0);
        assert_int_equal(wsio_conn_send(c, WSIO_OP_TEXT, text, 1000), 0);
        ssize_t fed;
        pump(c, s, &fed);
        assert_true(fed > 0);
        assert_int_equal(r.count, 1);
        assert_memory_equal(r.data[0], text, 1000);
        wsio_conn_free(s);
        wsio_conn_free(c);
        rec_free(&r);
    }
    free(text);
    /* And the extension refuses such windows in its config. */
    wsio_deflate_config dc;
    wsio_deflate_config_default(&dc);
    dc.policy.server_max_window_bits = 16;
    wsio_deflate bad;
    assert_int_equal(wsio_deflate_init(&bad, &dc), WSIO_EINVAL);
    wsio_deflate_config_default(&dc);
    dc.policy.client_max_window_bits = 7;
    assert_int_equal(wsio_deflate_init(&bad, &dc), WSIO_EINVAL);
    wsio_deflate_config_default(&dc);
    dc.mem_level = 0;
    assert_int_equal(wsio_deflate_init(&bad, &dc), WSIO_EINVAL);
    assert_int_equal(wsio_deflate_init(NULL, NULL), WSIO_EINVAL);
    assert_int_equal(wsio_deflate_init(&bad, NULL), 0);
    /* A config not filled by wsio_deflate_config_default (ABI). */
    wsio_deflate_config_default(&dc);
    dc.struct_size = 0;
    assert_int_equal(wsio_deflate_init(&bad, &dc), WSIO_EINVAL);
}

/* ---- inflate work per byte received ------------------------------------- */

static wsio_deflate make_ratio_ext(size_t ratio, size_t floor)
{
    wsio_deflate_config dc;
    wsio_deflate_config_default(&dc);
    dc.max_inflate_ratio = ratio;
    dc.inflate_floor = floor;
    wsio_deflate d;
    assert_int_equal(wsio_deflate_init(&d, &dc), 0);
    return d;
}

/* 4 MiB of zeros (about 4 KiB compressed), under a 16 MiB message limit:
 * the default bound fails it with 1009 and WSIO_EINFLATE_RATIO after at
 * most floor + ratio x input + one inflate step of output, counted once;
 * with the bound off, the same message is accepted. */
static void test_deflate_ratio_bound_fails_a_bomb_with_1009(void **state)
{
    (void)state;
    wsio_deflate_config dc;
    wsio_deflate_config_default(&dc);
    assert_int_equal(dc.max_inflate_ratio, 128);
    assert_int_equal(dc.inflate_floor, 1024);
    size_t big = (size_t)4 << 20;
    uint8_t *zeros = calloc(1, big);
    uint8_t *z = malloc(big / 256);
    size_t zl = raw_deflate(zeros, big, z, big / 256);
    uint8_t *wire = malloc(zl + 16);
    size_t n = put_frame(wire, 1, WSIO_RSV1, WSIO_OP_BINARY, z, zl);
    for (int bounded = 0; bounded < 2; bounded++) {
        for (int stream = 0; stream < 2; stream++) {
            wsio_deflate d = bounded ? make_ratio_ext(128, 1024) : make_ext(64);
            wsio_deflate_params p = {0, 0, 15, 15};
            rec r;
            memset(&r, 0, sizeof r);
            wsio_conn_config cfg;
            wsio_conn_config_default(&cfg);
            cfg.max_message_size = (size_t)16 << 20;
            cfg.max_frame_size = (size_t)16 << 20;
            wsio_conn *s = conn_with(WSIO_ROLE_SERVER, &d, &p, &cfg,
                                     stream ? &stream_cb : &whole_cb, NULL, &r);
            uint8_t *copy = malloc(n);
            memcpy(copy, wire, n);
            ssize_t fed = wsio_conn_feed(s, copy, n);
            if (bounded) {
                assert_int_equal(fed, WSIO_EINFLATE_RATIO);
                assert_int_equal(r.info.code, 1009);
                assert_int_equal(r.info.error, WSIO_EINFLATE_RATIO);
                assert_int_equal(r.count, 0);
                assert_int_equal(r.lasts, 0);
                assert_true(r.piece_bytes <= 1024 + 128 * zl + 16384);
                assert_int_equal(wsio_deflate_ratio_exceeded(&d), 1);
            } else {
                assert_int_equal(fed, (ssize_t)n);
                assert_int_equal(r.closed, 0);
                if (stream)
                    assert_int_equal(r.piece_bytes, big);
                else
                    assert_int_equal(r.len[0], big);
                assert_int_equal(wsio_deflate_ratio_exceeded(&d), 0);
            }
            free(copy);
            wsio_conn_free(s);
            rec_free(&r);
        }
    }
    /* The same bomb as a stream of tiny reads (7 bytes each) and as frames
     * of one compressed byte each: the bound holds however it arrives. */
    for (int shape = 0; shape < 2; shape++) {
        wsio_deflate d = make_ratio_ext(128, 1024);
        wsio_deflate_params p = {0, 0, 15, 15};
        rec r;
        memset(&r, 0, sizeof r);
        wsio_conn_config cfg;
        wsio_conn_config_default(&cfg);
        cfg.max_message_size = (size_t)16 << 20;
        cfg.max_frame_size = (size_t)16 << 20;
        cfg.max_fragments = 1u << 20;
        wsio_conn *s =
            conn_with(WSIO_ROLE_SERVER, &d, &p, &cfg, &stream_cb, NULL, &r);
        uint8_t *in = malloc(zl * 16 + 16);
        size_t in_len = 0;
        if (shape == 0) {
            memcpy(in, wire, n);
            in_len = n;
        } else {
            for (size_t i = 0; i < zl; i++)
                in_len += put_frame(in + in_len, i + 1 == zl, i ? 0 : WSIO_RSV1,
                                    i ? WSIO_OP_CONTINUATION : WSIO_OP_BINARY,
                                    z + i, 1);
        }
        ssize_t fed = 0;
        size_t at = 0;
        while (at < in_len && fed >= 0) {
            size_t take = in_len - at < 7 ? in_len - at : 7;
            fed = wsio_conn_feed(s, in + at, shape == 0 ? take : in_len - at);
            at += shape == 0 ? take : in_len - at;
        }
        assert_int_equal(fed, WSIO_EINFLATE_RATIO);
        assert_int_equal(r.info.code, 1009);
        assert_true(r.piece_bytes <= 1024 + 128 * zl + 16384);
        assert_int_equal(wsio_deflate_ratio_exceeded(&d), 1);
        free(in);
        wsio_conn_free(s);
        rec_free(&r);
    }
    free(wire);
    free(z);
    free(zeros);
}

/* What legitimate peers send stays under the default bound: JSON (about
 * 10:1), a 4 KiB message repeated with context takeover (about 100:1),
 * and short messages that compress to almost nothing (under the floor),
 * many in a row, whole and in fragments of one compressed byte. */
static void test_deflate_ratio_bound_passes_compressible_messages(void **state)
{
    (void)state;
    wsio_deflate d = make_ratio_ext(128, 1024);
    wsio_deflate_params p = {0, 0, 15, 15};
    wsio_conn_config cfg;
    wsio_conn_config_default(&cfg);
    cfg.make_mask = fixed_mask;
    rec r;
    memset(&r, 0, sizeof r);
    wsio_conn *c =
        conn_with(WSIO_ROLE_CLIENT, &d, &p, NULL, &whole_cb, NULL, NULL);
    wsio_conn *s =
        conn_with(WSIO_ROLE_SERVER, &d, &p, &cfg, &whole_cb, NULL, &r);
    char *json = json_text(200000);
    uint8_t zeros[1024];
    memset(zeros, 0, sizeof zeros);
    struct {
        const void *data;
        size_t len;
    } msgs[] = {{json, 200000}, {json, 4096},  {json, 4096}, {json, 4096},
                {zeros, 1024},  {zeros, 1024}, {json, 4096}};
    for (size_t m = 0; m < ARRAY_LEN(msgs); m++) {
        assert_int_equal(
            wsio_conn_send(c, WSIO_OP_BINARY, msgs[m].data, msgs[m].len), 0);
        ssize_t fed;
        size_t wire = pump(c, s, &fed);
        assert_int_equal(fed, (ssize_t)wire);
        if (m == 3)
            assert_true(wire < 4096 / 50); /* a repeat: about 100:1 */
        assert_int_equal(r.count, (int)m + 1);
        assert_memory_equal(r.data[m], msgs[m].data, msgs[m].len);
    }
    assert_int_equal(r.closed, 0);
    assert_int_equal(wsio_deflate_ratio_exceeded(&d), 0);
    wsio_conn_free(c);
    wsio_conn_free(s);
    rec_free(&r);

    /* The floor is per message, so a message of 1 KiB of zeros in frames
     * of one compressed byte passes too, and the next message gets the
     * floor afresh. */
    uint8_t z[64];
    size_t zl = raw_deflate(zeros, sizeof zeros, z, sizeof z);
    memset(&r, 0, sizeof r);
    s = conn_with(WSIO_ROLE_SERVER, &d, &p, &cfg, &whole_cb, NULL, &r);
    for (int round = 0; round < 3; round++) {
        uint8_t frames[64 * 8];
        size_t n = 0;
        for (size_t i = 0; i < zl; i++)
            n += put_frame(frames + n, i + 1 == zl, i ? 0 : WSIO_RSV1,
                           i ? WSIO_OP_CONTINUATION : WSIO_OP_BINARY, z + i, 1);
        assert_int_equal(wsio_conn_feed(s, frames, n), (ssize_t)n);
        assert_int_equal(r.count, round + 1);
        assert_int_equal(r.len[round], sizeof zeros);
    }
    wsio_conn_free(s);
    rec_free(&r);
    free(json);
}

/* The bound is on every prefix of the message: output past floor + ratio
 * x input consumed so far fails, whatever comes after; one byte under
 * that passes. Checked against a ratio small enough to reach with JSON. */
static void test_deflate_ratio_bound_edge(void **state)
{
    (void)state;
    char *json = json_text(100000);
    uint8_t *z = malloc(100000);
    size_t zl = raw_deflate(json, 100000, z, 100000);
    size_t ratio = 100000 / zl; /* JSON's own ratio, rounded down */
    assert_true(ratio >= 4);
    for (int tight = 0; tight < 2; tight++) {
        /* Loose: the whole message is within floor + ratio x zl. Tight: a
         * ratio of a quarter of that fails somewhere in the message. */
        wsio_deflate d =
            tight ? make_ratio_ext(ratio / 4, 0) : make_ratio_ext(ratio + 1, 0);
        wsio_deflate_params p = {0, 0, 15, 15};
        rec r;
        memset(&r, 0, sizeof r);
        wsio_conn *s =
            conn_with(WSIO_ROLE_SERVER, &d, &p, NULL, &whole_cb, NULL, &r);
        uint8_t *wire = malloc(zl + 16);
        size_t n = put_frame(wire, 1, WSIO_RSV1, WSIO_OP_TEXT, z, zl);
        ssize_t fed = wsio_conn_feed(s, wire, n);
        if (tight) {
            assert_int_equal(fed, WSIO_EINFLATE_RATIO);
            assert_int_equal(r.info.code, 1009);
        } else {
            assert_int_equal(fed, (ssize_t)n);
            assert_int_equal(r.count, 1);
            assert_memory_equal(r.data[0], json, 100000);
        }
        free(wire);
        wsio_conn_free(s);
        rec_free(&r);
    }
    free(z);
    free(json);
}

/* ---- memory ----------------------------------------------------------------
 */

/* Without context takeover a side's zlib state is freed after each
 * message: an idle connection holds only the codec's small struct. With
 * it, the state stays, and under the defaults (our window 11, memLevel 4;
 * a client that did not offer client_max_window_bits keeps 15) it is at
 * most the 62,264 bytes wsio/deflate.h documents. */
static void test_deflate_idle_memory_without_takeover(void **state)
{
    (void)state;
    wsio_deflate d = make_ext(16);
    char *text = json_text(5000);
    size_t idle[2], base[2];
    for (int nct = 0; nct < 2; nct++) {
        wsio_deflate_params p = {(uint8_t)nct, (uint8_t)nct, 11, 15};
        byte_mem bm;
        byte_mem_init(&bm);
        rec rs, rc;
        memset(&rs, 0, sizeof rs);
        memset(&rc, 0, sizeof rc);
        wsio_conn *s =
            conn_with(WSIO_ROLE_SERVER, &d, &p, NULL, &whole_cb, &bm.mem, &rs);
        base[nct] = bm.live;
        wsio_conn *c =
            conn_with(WSIO_ROLE_CLIENT, &d, &p, NULL, &whole_cb, NULL, &rc);
        /* Both directions through s: it inflates and deflates. */
        assert_int_equal(wsio_conn_send(c, WSIO_OP_TEXT, text, 5000), 0);
        pump(c, s, NULL);
        assert_int_equal(wsio_conn_send(s, WSIO_OP_TEXT, text, 5000), 0);
        pump(s, c, NULL);
        idle[nct] = bm.live;
        assert_int_equal(rs.count, 1);
        assert_int_equal(rc.count, 1);
        wsio_conn_free(s);
        wsio_conn_free(c);
        assert_int_equal(bm.live, 0);
        rec_free(&rs);
        rec_free(&rc);
    }
    printf("idle zlib state with context takeover: %zu bytes\n",
           idle[0] - base[0]);
    assert_int_equal(idle[1], base[1]);         /* nothing kept */
    assert_true(idle[0] > base[0] + 48 * 1024); /* both zlib states */
    assert_true(idle[0] <= base[0] + 62264);
    free(text);
}

/* Every allocation failing in turn: an error, never a crash or a leak. */
static void test_deflate_allocation_failures(void **state)
{
    (void)state;
    wsio_deflate d = make_ext(16);
    char *text = json_text(3000);
    for (long fail = 0; fail < 40; fail++) {
        wsio_deflate_params p = {0, 0, 15, 15};
        test_mem tm;
        test_mem_init(&tm);
        rec r;
        memset(&r, 0, sizeof r);
        wsio_conn *s =
            conn_with(WSIO_ROLE_SERVER, &d, &p, NULL, &whole_cb, &tm.mem, &r);
        wsio_conn *c =
            conn_with(WSIO_ROLE_CLIENT, &d, &p, NULL, &whole_cb, NULL, NULL);
        test_mem_fail_at(&tm, fail);
        assert_int_equal(wsio_conn_send(c, WSIO_OP_TEXT, text, 3000), 0);
        ssize_t fed;
        pump(c, s, &fed);
        int sent = wsio_conn_send(s, WSIO_OP_TEXT, text, 3000);
        assert_true(sent == 0 || sent == WSIO_ENOMEM || sent == WSIO_ECLOSED);
        if (fed < 0) {
            assert_int_equal(fed, WSIO_ENOMEM);
            assert_int_equal(r.count, 0);
        } else {
            assert_int_equal(r.count, 1);
            assert_memory_equal(r.data[0], text, 3000);
        }
        wsio_conn_free(s);
        wsio_conn_free(c);
        assert_int_equal(tm.live_blocks, 0);
        rec_free(&r);
    }
    free(text);
}

/* ---- shared frames (broadcast) ---------------------------------------------
 */

static void test_deflate_shared_frame_decodes_on_every_recipient(void **state)
{
    (void)state;
    wsio_deflate d = make_ext(16);
    char *text = json_text(3000);
    wsio_deflate_params shared_p = {1, 0, 15, 15};
    wsio_codec shared;
    assert_int_equal(d.ext.codec_new(&d.ext, &shared_p, WSIO_ROLE_SERVER,
                                     WSIO_CODEC_KEEP_STATE, NULL, &shared),
                     0);
    wsio_rcbuf *frame = NULL;
    assert_int_equal(wsio_message_encode_compressed(NULL, WSIO_OP_TEXT, text,
                                                    3000, &shared, &frame),
                     1);
    assert_non_null(frame);
    assert_true(frame->len < 3000 / 3);
    assert_int_equal(frame->data[0], 0xc1); /* FIN, RSV1, text */
    /* Under the threshold: not compressed. */
    wsio_rcbuf *none = (wsio_rcbuf *)1;
    assert_int_equal(wsio_message_encode_compressed(NULL, WSIO_OP_TEXT, "hi", 2,
                                                    &shared, &none),
                     0);
    assert_null(none);
    assert_int_equal(wsio_message_encode_compressed(NULL, WSIO_OP_CLOSE, "hi",
                                                    2, &shared, &none),
                     WSIO_EINVAL);

    /* Three recipients, each with a context of its own messages. */
    for (int i = 0; i < 3; i++) {
        wsio_deflate_params p = {1, (uint8_t)(i & 1), 15, 15};
        rec r;
        memset(&r, 0, sizeof r);
        wsio_conn *s =
            conn_with(WSIO_ROLE_SERVER, &d, &p, NULL, &whole_cb, NULL, NULL);
        wsio_conn *c =
            conn_with(WSIO_ROLE_CLIENT, &d, &p, NULL, &whole_cb, NULL, &r);
        for (int k = 0; k < i; k++) /* some traffic of its own first */
            assert_int_equal(wsio_conn_send(s, WSIO_OP_TEXT, text, 1000), 0);
        assert_int_equal(wsio_conn_send_encoded(s, frame), 0);
        assert_int_equal(wsio_conn_send(s, WSIO_OP_TEXT, text, 2000), 0);
        pump(s, c, NULL);
        assert_int_equal(r.count, i + 2);
        assert_int_equal(r.len[i], 3000);
        assert_memory_equal(r.data[i], text, 3000);
        assert_memory_equal(r.data[i + 1], text, 2000);
        wsio_conn_free(s);
        wsio_conn_free(c);
        rec_free(&r);
    }
    /* A connection without the extension cannot take it. */
    wsio_conn *plain =
        conn_with(WSIO_ROLE_SERVER, &d, NULL, NULL, &whole_cb, NULL, NULL);
    assert_int_equal(wsio_conn_send_encoded(plain, frame), WSIO_EINVAL);
    wsio_conn_free(plain);
    wsio_rcbuf_unref(frame);
    shared.ops->free(shared.state);
    free(text);
}

/* ---- servers and clients on a loop ----------------------------------------
 */

#define CLIENTS 3

typedef struct net {
    wsio_server *srv;
    wsio_ws *server_side[CLIENTS + 1];
    int server_opened;
    int opened, closed;
    int got[CLIENTS];
    size_t got_len[CLIENTS][4];
    int ok[CLIENTS][4];
    const char *expect[4];
    size_t expect_len[4];
    int codec[CLIENTS];
} net;

static void srv_open(wsio_ws *ws, void *user)
{
    net *n = user;
    n->server_side[n->server_opened++] = ws;
}

/* The server echoes. */
static int srv_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)user;
    return wsio_ws_send(ws, m->opcode, m->data, m->len) < 0 ? -1 : 0;
}

/* Clients carry their index + 1 as their user pointer. */
static int client_index(wsio_ws *ws)
{
    return (int)(intptr_t)wsio_ws_get_user(ws) - 1;
}

static void cli_open(wsio_ws *ws, void *user)
{
    net *n = user;
    n->opened++;
    n->codec[client_index(ws)] = wsio_conn_has_codec(wsio_ws_conn(ws));
}

static int cli_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    net *n = user;
    int i = client_index(ws);
    int k = n->got[i]++;
    if (k < 4) {
        n->got_len[i][k] = m->len;
        n->ok[i][k] = m->len == n->expect_len[k] &&
                      memcmp(m->data, n->expect[k], m->len) == 0;
    }
    return 0;
}

static void cli_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    (void)ws;
    (void)info;
    net *n = user;
    n->closed++;
}

/* Turn the loop until cond, for at most 5 s. */
#define TURN_UNTIL(loop, cond)                                                 \
    do {                                                                       \
        for (int t_ = 0; t_ < 5000 && !(cond); t_++)                           \
            wsio_loop_run_once((loop), 1);                                     \
        assert_true(cond);                                                     \
    } while (0)

/* A server with compression (no server context takeover, capped at two
 * connections) and three clients: two offer compression, one does not.
 * Echoes come back intact; a broadcast reaches everyone; the third
 * offerer over the cap gets no compression. */
static void
test_deflate_server_and_clients_negotiate_and_broadcast(void **state)
{
    (void)state;
    int err = 0;
    wsio_loop *loop = wsio_loop_new(NULL, &err);
    assert_non_null(loop);
    wsio_deflate_config dc;
    wsio_deflate_config_default(&dc);
    dc.policy.server_no_context_takeover = 1;
    dc.max_connections = 1;
    dc.threshold = 16;
    wsio_deflate d;
    assert_int_equal(wsio_deflate_init(&d, &dc), 0);
    wsio_deflate dcli;
    assert_int_equal(wsio_deflate_init(&dcli, NULL), 0);

    net n;
    memset(&n, 0, sizeof n);
    char *json = json_text(10000);
    n.expect[0] = json;
    n.expect_len[0] = 10000;
    n.expect[1] = json + 100;
    n.expect_len[1] = 5000;

    wsio_server_config sc;
    wsio_server_config_default(&sc);
    sc.deflate = &d.ext;
    wsio_ws_callbacks scb = {.on_open = srv_open, .on_message = srv_message};
    n.srv = wsio_server_new(loop, &sc, &scb, NULL, &n, &err);
    assert_non_null(n.srv);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/",
             (unsigned)wsio_server_port(n.srv));

    wsio_ws_callbacks ccb = {
        .on_open = cli_open, .on_message = cli_message, .on_close = cli_close};
    wsio_ws *cli[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        wsio_client_config cc;
        wsio_client_config_default(&cc);
        cc.deflate = i == 2 ? NULL : &dcli.ext;
        cli[i] = wsio_client_connect(loop, url, &cc, &ccb, &n, &err);
        assert_non_null(cli[i]);
        wsio_ws_set_user(cli[i], (void *)(intptr_t)(i + 1));
        /* One at a time, so the cap applies in order. */
        TURN_UNTIL(loop, n.opened == i + 1);
    }
    assert_int_equal(n.codec[0], 1);
    assert_int_equal(n.codec[1], 0); /* over the server's cap */
    assert_int_equal(n.codec[2], 0); /* did not offer */
    assert_int_equal(wsio_conn_has_codec(wsio_ws_conn(n.server_side[0])), 1);
    assert_int_equal(wsio_conn_has_codec(wsio_ws_conn(n.server_side[1])), 0);

    for (int i = 0; i < CLIENTS; i++)
        assert_true(wsio_ws_send(cli[i], WSIO_OP_TEXT, json, 10000) >= 0);
    TURN_UNTIL(loop, n.got[0] == 1 && n.got[1] == 1 && n.got[2] == 1);
    assert_int_equal(
        wsio_server_broadcast(n.srv, WSIO_OP_TEXT, json + 100, 5000, NULL),
        CLIENTS);
    TURN_UNTIL(loop, n.got[0] == 2 && n.got[1] == 2 && n.got[2] == 2);
    for (int i = 0; i < CLIENTS; i++)
        for (int k = 0; k < 2; k++)
            assert_true(n.ok[i][k]);
    wsio_server_stats st;
    wsio_server_get_stats(n.srv, &st);
    /* Two plain echoes and broadcasts of 10000 and 5000, one compressed
     * pair far smaller. */
    assert_true(st.bytes_out < 2 * 15000 + 15000 / 3);

    for (int i = 0; i < CLIENTS; i++)
        wsio_ws_close(cli[i], 1000, NULL, 0);
    TURN_UNTIL(loop, n.closed == CLIENTS);
    wsio_server_free(n.srv);
    while (wsio_loop_alive(loop))
        wsio_loop_run_once(loop, 10);
    wsio_loop_free(loop);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deflate_round_trip_every_takeover_combination),
        cmocka_unit_test(test_deflate_context_takeover_shrinks_repeats),
        cmocka_unit_test(test_deflate_rfc7692_examples_decode),
        cmocka_unit_test(test_deflate_fragmented_compressed_message),
        cmocka_unit_test(test_deflate_rsv1_rules),
        cmocka_unit_test(test_deflate_corrupt_data_fails_with_1007),
        cmocka_unit_test(test_deflate_inflated_text_must_be_utf8),
        cmocka_unit_test(test_deflate_bomb_fails_at_the_limit),
        cmocka_unit_test(test_deflate_limit_edges_count_inflated_bytes),
        cmocka_unit_test(test_deflate_empty_fragments_count),
        cmocka_unit_test(test_deflate_window_bits_outside_range_are_safe),
        cmocka_unit_test(test_deflate_ratio_bound_fails_a_bomb_with_1009),
        cmocka_unit_test(test_deflate_ratio_bound_passes_compressible_messages),
        cmocka_unit_test(test_deflate_ratio_bound_edge),
        cmocka_unit_test(test_deflate_idle_memory_without_takeover),
        cmocka_unit_test(test_deflate_allocation_failures),
        cmocka_unit_test(test_deflate_shared_frame_decodes_on_every_recipient),
        cmocka_unit_test(
            test_deflate_server_and_clients_negotiate_and_broadcast),
    };
    return cmocka_run_group_tests_name("deflate", tests, NULL, NULL);
}
