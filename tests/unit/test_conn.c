/*
 * tests/unit/test_conn.c - the connection state machine (layer 3): frames
 * fed in every split, failure rules with their close codes, the close
 * handshake, limits, masking, the output queue, pause, free inside
 * callbacks, out-of-memory paths and a client/server pair.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "testutil.h"
#include "internal.h"      /* wsio__conn_send_tagged, wsio__conn_evict */
#include "conn_internal.h" /* wsio__conn_new_shared */

/* The masking key of RFC 6455 section 5.7's examples. */
static const uint8_t KEY[4] = {0x37, 0xfa, 0x21, 0x3d};

/* ---- frame building and output decoding -------------------------------- */

static size_t put_frame_rsv(uint8_t *out, int fin, unsigned rsv, unsigned op,
                            const void *data, size_t len, int masked)
{
    wsio_frame_header h;
    memset(&h, 0, sizeof h);
    h.fin = (uint8_t)fin;
    h.rsv = (uint8_t)rsv;
    h.opcode = (uint8_t)op;
    h.payload_len = len;
    h.masked = (uint8_t)masked;
    memcpy(h.mask_key, KEY, 4);
    ssize_t n = wsio_frame_header_encode(out, &h);
    assert_true(n >= 2);
    if (len > 0)
        memcpy(out + n, data, len);
    if (masked)
        wsio_mask(out + n, len, KEY, 0);
    return (size_t)n + len;
}

/* A frame as a client sends it (masked) or a server (unmasked). */
static size_t put_frame(uint8_t *out, int fin, unsigned op, const void *data,
                        size_t len, int masked)
{
    return put_frame_rsv(out, fin, 0, op, data, len, masked);
}

typedef struct out_frame {
    wsio_frame_header h;
    uint8_t payload[256]; /* first bytes, unmasked */
} out_frame;

/* Drain a connection's output and decode its frames (payload unmasked). */
static size_t drain_frames(wsio_conn *c, out_frame *f, size_t max)
{
    size_t total = wsio_conn_buffered_amount(c);
    uint8_t *buf = malloc(total + 1);
    assert_non_null(buf);
    assert_int_equal(wsio_conn_write(c, buf, total + 1), total);
    assert_int_equal(wsio_conn_buffered_amount(c), 0);
    size_t pos = 0, n = 0;
    while (pos < total) {
        assert_true(n < max);
        ssize_t hl = wsio_frame_header_decode(buf + pos, total - pos, &f[n].h);
        assert_true(hl >= 2);
        pos += (size_t)hl;
        size_t len = (size_t)f[n].h.payload_len;
        assert_true(pos + len <= total);
        if (f[n].h.masked)
            wsio_mask(buf + pos, len, f[n].h.mask_key, 0);
        memcpy(f[n].payload, buf + pos, len < 256 ? len : 256);
        pos += len;
        n++;
    }
    free(buf);
    return n;
}

/* The code of the one close frame in the output: 0 for an empty body, -1
 * when there is no close frame. */
static int output_close_code(wsio_conn *c)
{
    out_frame f[16];
    size_t n = drain_frames(c, f, 16);
    int code = -1;
    for (size_t i = 0; i < n; i++) {
        if (f[i].h.opcode != WSIO_OP_CLOSE)
            continue;
        assert_int_equal(code, -1); /* only one close frame */
        code = f[i].h.payload_len >= 2 ? f[i].payload[0] << 8 | f[i].payload[1]
                                       : 0;
    }
    return code;
}

/* ---- event recorder ---------------------------------------------------- */

typedef struct rec {
    char log[8192];
    size_t len;
    int closes;
    wsio_close_info close;
    char reason[128];
    /* behaviour */
    int pause;        /* return WSIO_PAUSE from every message callback */
    int fail_with;    /* return this from on_message */
    int free_in;      /* 1: free in on_message, 2: free in on_close */
    int close_in_msg; /* call wsio_conn_close from on_message */
    int echo;         /* send every message back */
    /* zero-copy check: the fed buffer */
    const uint8_t *in_lo, *in_hi;
    int in_place;
    /* assembled streaming pieces */
    uint8_t *big;
    size_t big_len, big_cap;
    int pieces;
} rec;

static void logf_(rec *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->log + r->len, sizeof r->log - r->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof r->log - r->len);
    r->len += (size_t)n;
}

/* Payload summary: hex when short, length and FNV-1a hash when long. */
static void log_data(rec *r, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (len <= 24) {
        for (size_t i = 0; i < len; i++)
            logf_(r, "%02x", p[i]);
        return;
    }
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 16777619u;
    logf_(r, "#%zu:%08x", len, h);
}

static int on_message(wsio_conn *c, const wsio_message *m, void *user)
{
    rec *r = user;
    logf_(r, "%s(", m->opcode == WSIO_OP_TEXT ? "T" : "B");
    log_data(r, m->data, m->len);
    logf_(r, ")");
    const uint8_t *d = m->data;
    if (r->in_lo && d >= r->in_lo && d + m->len <= r->in_hi)
        r->in_place++;
    if (r->echo)
        assert_int_equal(wsio_conn_send(c, m->opcode, m->data, m->len), 0);
    if (r->close_in_msg)
        assert_int_equal(wsio_conn_close(c, 1000, NULL, 0), 0);
    if (r->free_in == 1)
        wsio_conn_free(c);
    if (r->fail_with)
        return r->fail_with;
    return r->pause ? WSIO_PAUSE : 0;
}

static int on_fragment(wsio_conn *c, const wsio_fragment *f, void *user)
{
    (void)c;
    rec *r = user;
    if (f->first)
        r->big_len = 0;
    if (r->big_len + f->len > r->big_cap) {
        r->big_cap = (r->big_len + f->len) * 2;
        r->big = realloc(r->big, r->big_cap);
        assert_non_null(r->big);
    }
    if (f->len)
        memcpy(r->big + r->big_len, f->data, f->len);
    r->big_len += f->len;
    r->pieces++;
    if (f->last) {
        logf_(r, "%s(", f->opcode == WSIO_OP_TEXT ? "T" : "B");
        log_data(r, r->big, r->big_len);
        logf_(r, ")");
    }
    return r->pause ? WSIO_PAUSE : 0;
}

static int on_ping(wsio_conn *c, const wsio_control *p, void *user)
{
    (void)c;
    rec *r = user;
    logf_(r, "PING(");
    log_data(r, p->data, p->len);
    logf_(r, ")");
    return r->pause ? WSIO_PAUSE : 0;
}

static int on_pong(wsio_conn *c, const wsio_control *p, void *user)
{
    (void)c;
    rec *r = user;
    logf_(r, "PONG(");
    log_data(r, p->data, p->len);
    logf_(r, ")");
    return r->pause ? WSIO_PAUSE : 0;
}

static void on_close(wsio_conn *c, const wsio_close_info *info, void *user)
{
    rec *r = user;
    assert_int_equal(wsio_conn_state(c), WSIO_CONN_CLOSED);
    r->closes++;
    r->close = *info;
    assert_true(info->reason_len < sizeof r->reason);
    memcpy(r->reason, info->reason, info->reason_len);
    r->reason[info->reason_len] = 0;
    r->close.reason = r->reason;
    logf_(r, "CLOSE(%u,%d,%d,%s)", info->code, info->by_peer, info->clean,
          wsio_err_name(info->error));
    if (r->free_in == 2)
        wsio_conn_free(c);
}

static const wsio_conn_callbacks CB = {on_message, NULL, on_ping, on_pong,
                                       on_close};
static const wsio_conn_callbacks CB_STREAM = {NULL, on_fragment, on_ping,
                                              on_pong, on_close};

static wsio_conn *new_conn(enum wsio_role role, const wsio_conn_config *cfg,
                           const wsio_conn_callbacks *cb, test_mem *tm, rec *r)
{
    test_mem_init(tm);
    memset(r, 0, sizeof *r);
    wsio_conn *c = wsio_conn_new(role, cfg, cb, &tm->mem, r);
    assert_non_null(c);
    return c;
}

/* Feed in pieces of at most step bytes (0: all at once), re-feeding after
 * pauses; returns the last feed result. */
static ssize_t feed_steps(wsio_conn *c, uint8_t *in, size_t len, size_t step)
{
    size_t pos = 0;
    ssize_t r = 0;
    while (pos < len) {
        size_t n = step && step < len - pos ? step : len - pos;
        r = wsio_conn_feed(c, in + pos, n);
        if (r < 0)
            return r;
        if (r == 0 && wsio_conn_state(c) == WSIO_CONN_CLOSED)
            return r;
        pos += (size_t)r;
        if ((size_t)r < n && wsio_conn_state(c) == WSIO_CONN_CLOSED)
            return r;
    }
    return r;
}

/* ---- the reference stream ------------------------------------------------ */

/* Client-to-server frames of every kind, and the log they must give. */
static size_t reference_stream(uint8_t *s, char *expect, size_t cap)
{
    static uint8_t bin[300];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (uint8_t)(i * 7);
    size_t n = 0;
    n += put_frame(s + n, 1, WSIO_OP_TEXT, "Hello", 5, 1);
    n += put_frame(s + n, 1, WSIO_OP_BINARY, bin, sizeof bin, 1);
    /* "Hello wörld" in three fragments with a ping between, the ö split
     * between the second and third. */
    n += put_frame(s + n, 0, WSIO_OP_TEXT, "Hel", 3, 1);
    n += put_frame(s + n, 1, WSIO_OP_PING, "p1", 2, 1);
    n += put_frame(s + n, 0, WSIO_OP_CONTINUATION, "lo w\xc3", 5, 1);
    n += put_frame(s + n, 1, WSIO_OP_CONTINUATION, "\xb6rld", 4, 1);
    n += put_frame(s + n, 1, WSIO_OP_PONG, "unsolicited", 11, 1);
    n += put_frame(s + n, 1, WSIO_OP_TEXT, "", 0, 1);
    /* A binary message of empty fragments around one byte. */
    n += put_frame(s + n, 0, WSIO_OP_BINARY, "", 0, 1);
    n += put_frame(s + n, 0, WSIO_OP_CONTINUATION, "\x00", 1, 1);
    n += put_frame(s + n, 1, WSIO_OP_CONTINUATION, "", 0, 1);
    n += put_frame(s + n, 1, WSIO_OP_PING, "", 0, 1);
    n += put_frame(s + n, 1, WSIO_OP_CLOSE,
                   "\x03\xe8"
                   "bye",
                   5, 1);
    assert_true(n <= cap);

    rec r;
    memset(&r, 0, sizeof r);
    logf_(&r, "T(48656c6c6f)B(");
    log_data(&r, bin, sizeof bin);
    logf_(&r, ")PING(7031)T(48656c6c6f2077c3b6726c64)PONG(");
    log_data(&r, "unsolicited", 11);
    logf_(&r, ")T()B(00)PING()CLOSE(1000,1,1,OK)");
    strcpy(expect, r.log);
    return n;
}

/* The server's output for the reference stream: two pongs and the echoed
 * close code. */
static void check_reference_output(wsio_conn *c)
{
    out_frame f[8];
    size_t n = drain_frames(c, f, 8);
    assert_int_equal(n, 3);
    assert_int_equal(f[0].h.opcode, WSIO_OP_PONG);
    assert_int_equal(f[0].h.payload_len, 2);
    assert_memory_equal(f[0].payload, "p1", 2);
    assert_int_equal(f[1].h.opcode, WSIO_OP_PONG);
    assert_int_equal(f[1].h.payload_len, 0);
    assert_int_equal(f[2].h.opcode, WSIO_OP_CLOSE);
    assert_int_equal(f[2].h.payload_len, 2);
    assert_int_equal(f[2].payload[0] << 8 | f[2].payload[1], 1000);
    for (size_t i = 0; i < n; i++)
        assert_false(f[i].h.masked);
}

static void run_reference(const uint8_t *stream, size_t len, size_t split,
                          size_t step, const char *expect)
{
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, stream, len);
    if (split) {
        assert_int_equal(wsio_conn_feed(c, copy, split), split);
        assert_int_equal(wsio_conn_feed(c, copy + split, len - split),
                         len - split);
    } else {
        feed_steps(c, copy, len, step);
    }
    assert_string_equal(r.log, expect);
    assert_int_equal(r.closes, 1);
    assert_string_equal(r.reason, "bye");
    assert_int_equal(wsio_conn_state(c), WSIO_CONN_CLOSED);
    check_reference_output(c);
    assert_int_equal(wsio_conn_feed(c, copy, 1), WSIO_ECLOSED);
    wsio_conn_free(c);
    assert_int_equal(tm.live_blocks, 0);
    free(copy);
}

static void
test_conn_feed_reference_stream_same_events_in_every_split(void **state)
{
    (void)state;
    uint8_t stream[1024];
    char expect[2048];
    size_t len = reference_stream(stream, expect, sizeof stream);
    run_reference(stream, len, 0, 0, expect); /* whole */
    run_reference(stream, len, 0, 1, expect); /* one byte at a time */
    run_reference(stream, len, 0, 7, expect);
    for (size_t split = 1; split < len; split++)
        run_reference(stream, len, split, 0, expect);
}

static void test_conn_feed_whole_message_is_zero_copy(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    uint8_t in[512];
    size_t n = put_frame(in, 1, WSIO_OP_TEXT, "whole", 5, 1);
    uint8_t bin[200];
    memset(bin, 0x42, sizeof bin);
    n += put_frame(in + n, 1, WSIO_OP_BINARY, bin, sizeof bin, 1);
    r.in_lo = in;
    r.in_hi = in + n;
    long allocs = tm.count;
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    assert_int_equal(r.in_place, 2);
    assert_int_equal(tm.count, allocs); /* nothing allocated for them */
    /* Fragmented: assembled elsewhere. */
    n = put_frame(in, 0, WSIO_OP_TEXT, "frag", 4, 1);
    n += put_frame(in + n, 1, WSIO_OP_CONTINUATION, "ment", 4, 1);
    r.in_hi = in + n;
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    assert_int_equal(r.in_place, 2);
    assert_non_null(strstr(r.log, "T(667261676d656e74)"));
    /* The receive buffer went back once the message was done. */
    assert_int_equal(tm.live_blocks, 1);
    wsio_conn_free(c);
}

/* ---- failure rules ------------------------------------------------------- */

typedef struct frame_spec {
    int fin;
    unsigned rsv;
    unsigned op;
    const char *data;
    size_t len;
} frame_spec;

typedef struct fail_case {
    const char *name;
    enum wsio_role role;
    frame_spec frames[4];
    int err;
    int code;
} fail_case;

#define F(fin, op, s)                                                          \
    {                                                                          \
        fin, 0, op, s, sizeof s - 1                                            \
    }
#define END                                                                    \
    {                                                                          \
        0, 0, 0, NULL, 0                                                       \
    }

static const fail_case fail_cases[] = {
    {"rsv1", WSIO_ROLE_SERVER, {{1, 4, 1, "a", 1}, END}, WSIO_ERSV, 1002},
    {"rsv3", WSIO_ROLE_SERVER, {{1, 1, 2, "a", 1}, END}, WSIO_ERSV, 1002},
    {"opcode 3", WSIO_ROLE_SERVER, {F(1, 3, "a"), END}, WSIO_EOPCODE, 1002},
    {"opcode B", WSIO_ROLE_SERVER, {F(1, 0xB, ""), END}, WSIO_EOPCODE, 1002},
    {"fragmented ping",
     WSIO_ROLE_SERVER,
     {F(0, 9, "x"), END},
     WSIO_ECONTROL,
     1002},
    {"lone continuation",
     WSIO_ROLE_SERVER,
     {F(1, 0, "x"), END},
     WSIO_ECONTINUATION,
     1002},
    {"new message inside one",
     WSIO_ROLE_SERVER,
     {F(0, 1, "a"), F(1, 2, "b"), END},
     WSIO_EFRAGMENT,
     1002},
    {"continuation after the end",
     WSIO_ROLE_SERVER,
     {F(1, 1, "a"), F(1, 0, "b"), END},
     WSIO_ECONTINUATION,
     1002},
    {"overlong utf-8",
     WSIO_ROLE_SERVER,
     {F(1, 1, "\xc0\x80"), END},
     WSIO_EUTF8,
     1007},
    {"surrogate across fragments",
     WSIO_ROLE_SERVER,
     {F(0, 1, "ok\xed"), F(1, 0, "\xa0\x80"), END},
     WSIO_EUTF8,
     1007},
    {"truncated character at the end",
     WSIO_ROLE_SERVER,
     {F(0, 1, "ok\xe2\x82"), F(1, 0, ""), END},
     WSIO_EUTF8,
     1007},
    {"close of one byte",
     WSIO_ROLE_SERVER,
     {F(1, 8, "\x03"), END},
     WSIO_ECLOSEPAYLOAD,
     1002},
    {"close reason not utf-8",
     WSIO_ROLE_SERVER,
     {F(1, 8, "\x03\xe8\xff"), END},
     WSIO_EUTF8,
     1007},
    {"close code 1005",
     WSIO_ROLE_SERVER,
     {F(1, 8, "\x03\xed"), END},
     WSIO_ECLOSECODE,
     1002},
    {"masked frame to a client",
     WSIO_ROLE_CLIENT,
     {F(1, 1, "a"), END},
     WSIO_EMASKED,
     1002},
};

static void on_close_count_only(wsio_conn *c, const wsio_close_info *info,
                                void *user)
{
    (void)c;
    rec *r = user;
    r->closes++;
    r->close = *info;
}

static void run_fail_case(const fail_case *fc, size_t step)
{
    uint8_t in[256];
    size_t n = 0;
    /* A server gets masked frames, a client unmasked ones, except in the
     * cases that test exactly that. */
    int masked = fc->role == WSIO_ROLE_SERVER || fc->err == WSIO_EMASKED;
    for (const frame_spec *s = fc->frames; s->data; s++)
        n += put_frame_rsv(in + n, s->fin, s->rsv, s->op, s->data, s->len,
                           masked);
    test_mem tm;
    rec r;
    wsio_conn_callbacks cb = CB;
    cb.on_close = on_close_count_only;
    wsio_conn *c = new_conn(fc->role, NULL, &cb, &tm, &r);
    ssize_t got = feed_steps(c, in, n, step);
    if (got != fc->err)
        fail_msg("%s: feed gave %s", fc->name, wsio_err_name((int)got));
    assert_int_equal(wsio_conn_state(c), WSIO_CONN_CLOSED);
    assert_int_equal(r.closes, 1);
    assert_int_equal(r.close.code, fc->code);
    assert_int_equal(r.close.clean, 0);
    assert_int_equal(r.close.by_peer, 0);
    assert_int_equal(r.close.error, fc->err);
    assert_int_equal(wsio_conn_error(c, NULL), fc->err);
    assert_int_equal(output_close_code(c), fc->code);
    /* Sticky. */
    assert_int_equal(wsio_conn_feed(c, in, n), fc->err);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_TEXT, "x", 1), WSIO_ECLOSED);
    wsio_conn_free(c);
    assert_int_equal(tm.live_blocks, 0);
}

static void test_conn_feed_fails_on_each_rule_with_its_close_code(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof fail_cases / sizeof fail_cases[0]; i++) {
        run_fail_case(&fail_cases[i], 0);
        run_fail_case(&fail_cases[i], 1);
    }
}

static void test_conn_feed_fails_on_unmasked_client_frame(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    uint8_t in[16];
    size_t n = put_frame(in, 1, WSIO_OP_TEXT, "hi", 2, 0);
    assert_int_equal(wsio_conn_feed(c, in, n), WSIO_EUNMASKED);
    assert_int_equal(output_close_code(c), 1002);
    wsio_conn_free(c);
}

static void
test_conn_feed_fails_on_length_top_bit_and_control_size(void **state)
{
    (void)state;
    uint8_t top[14] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    uint8_t ping[200], body[126];
    memset(body, 'p', sizeof body);
    size_t pn = put_frame(ping, 1, WSIO_OP_PING, body, sizeof body, 1);
    struct {
        uint8_t *in;
        size_t len;
        int err;
    } v[] = {{top, sizeof top, WSIO_ELENGTH}, {ping, pn, WSIO_ECONTROL}};
    for (size_t i = 0; i < 2; i++) {
        test_mem tm;
        rec r;
        wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
        assert_int_equal(wsio_conn_feed(c, v[i].in, v[i].len), v[i].err);
        assert_int_equal(output_close_code(c), 1002);
        assert_int_equal(r.closes, 1);
        wsio_conn_free(c);
    }
}

static void test_conn_feed_invalid_utf8_fails_mid_frame(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    /* A 1000-byte text frame whose 6th byte is invalid: only the first 10
     * bytes of payload are fed, and that is enough to fail. */
    uint8_t in[1100];
    uint8_t text[1000];
    memset(text, 'a', sizeof text);
    text[5] = 0xff;
    size_t n = put_frame(in, 1, WSIO_OP_TEXT, text, sizeof text, 1);
    size_t hl = n - sizeof text;
    assert_int_equal(wsio_conn_feed(c, in, hl + 10), WSIO_EUTF8);
    uint64_t off = 0;
    assert_int_equal(wsio_conn_error(c, &off), WSIO_EUTF8);
    assert_int_equal(off, hl + 5);
    assert_int_equal(output_close_code(c), 1007);
    wsio_conn_free(c);
}

static int fail_callback(wsio_conn *c, const wsio_message *m, void *user)
{
    (void)c;
    (void)m;
    return *(int *)user;
}

static void test_conn_callback_error_fails_with_mapped_code(void **state)
{
    (void)state;
    static const struct {
        int ret;
        int code;
    } v[] = {{WSIO_ECALLBACK, 1011},
             {-5, 1011},
             {WSIO_EUTF8, 1007},
             {WSIO_ETIMEDOUT, 1011},
             {WSIO_ETOOBIG, 1009}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        test_mem tm;
        test_mem_init(&tm);
        wsio_conn_callbacks cb = {fail_callback, NULL, NULL, NULL, NULL};
        int ret = v[i].ret;
        wsio_conn *c =
            wsio_conn_new(WSIO_ROLE_SERVER, NULL, &cb, &tm.mem, &ret);
        uint8_t in[32];
        size_t n = put_frame(in, 1, WSIO_OP_TEXT, "x", 1, 1);
        n += put_frame(in + n, 1, WSIO_OP_TEXT, "y", 1, 1);
        assert_int_equal(wsio_conn_feed(c, in, n), v[i].ret);
        assert_int_equal(output_close_code(c), v[i].code);
        assert_int_equal(wsio_conn_feed(c, in, n), v[i].ret);
        wsio_conn_free(c);
        assert_int_equal(tm.live_blocks, 0);
    }
}

/* ---- close handshake ----------------------------------------------------- */

static void test_conn_close_codes_echoed_or_rejected(void **state)
{
    (void)state;
    static const struct {
        unsigned code;
        int valid;
    } v[] = {{999, 0},  {1000, 1}, {1001, 1}, {1002, 1}, {1003, 1}, {1004, 0},
             {1005, 0}, {1006, 0}, {1007, 1}, {1008, 1}, {1009, 1}, {1010, 1},
             {1011, 1}, {1012, 1}, {1013, 1}, {1014, 1}, {1015, 0}, {1016, 0},
             {2000, 0}, {2999, 0}, {3000, 1}, {3999, 1}, {4000, 1}, {4999, 1},
             {5000, 0}, {0, 0},    {65535, 0}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        test_mem tm;
        rec r;
        wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
        uint8_t body[4] = {(uint8_t)(v[i].code >> 8), (uint8_t)v[i].code, 'o',
                           'k'};
        uint8_t in[32];
        size_t n = put_frame(in, 1, WSIO_OP_CLOSE, body, 4, 1);
        ssize_t got = wsio_conn_feed(c, in, n);
        assert_int_equal(r.closes, 1);
        if (v[i].valid) {
            assert_int_equal(got, n);
            assert_int_equal(output_close_code(c), v[i].code);
            assert_int_equal(r.close.code, v[i].code);
            assert_string_equal(r.reason, "ok");
            assert_int_equal(r.close.by_peer, 1);
            assert_int_equal(r.close.clean, 1);
            assert_int_equal(wsio_conn_feed(c, in, n), WSIO_ECLOSED);
        } else {
            assert_int_equal(got, WSIO_ECLOSECODE);
            assert_int_equal(output_close_code(c), 1002);
            assert_int_equal(r.close.clean, 0);
        }
        wsio_conn_free(c);
        assert_int_equal(tm.live_blocks, 0);
    }
}

static void test_conn_close_empty_is_answered_empty(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    uint8_t in[32];
    size_t n = put_frame(in, 1, WSIO_OP_CLOSE, "", 0, 1);
    /* Bytes after the close frame are not read. */
    size_t extra = put_frame(in + n, 1, WSIO_OP_TEXT, "late", 4, 1);
    assert_int_equal(wsio_conn_feed(c, in, n + extra), n);
    assert_string_equal(r.log, "CLOSE(1005,1,1,OK)");
    assert_int_equal(output_close_code(c), 0);
    assert_int_equal(wsio_conn_want_read(c), 0);
    assert_int_equal(wsio_conn_ping(c, NULL, 0), WSIO_ECLOSED);
    assert_int_equal(wsio_conn_pong(c, NULL, 0), WSIO_ECLOSED);
    assert_int_equal(wsio_conn_close(c, 1000, NULL, 0), 0);
    assert_int_equal(wsio_conn_buffered_amount(c), 0);
    wsio_conn_free(c);
}

static void test_conn_close_initiated_waits_for_reply(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    assert_int_equal(wsio_conn_close(c, 1001, "away", 4), 0);
    assert_int_equal(wsio_conn_state(c), WSIO_CONN_CLOSING);
    /* A second close changes nothing (issue 16): one close frame. */
    size_t queued = wsio_conn_buffered_amount(c);
    assert_int_equal(wsio_conn_close(c, 1000, NULL, 0), 0);
    assert_int_equal(wsio_conn_buffered_amount(c), queued);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_TEXT, "x", 1), WSIO_ECLOSED);
    assert_int_equal(wsio_conn_ping(c, "x", 1), WSIO_ECLOSED);
    out_frame f[4];
    assert_int_equal(drain_frames(c, f, 4), 1);
    assert_int_equal(f[0].h.opcode, WSIO_OP_CLOSE);
    assert_memory_equal(f[0].payload,
                        "\x03\xe9"
                        "away",
                        6);
    /* Data still arrives and pings are still answered while closing. */
    uint8_t in[64];
    size_t n = put_frame(in, 1, WSIO_OP_TEXT, "still", 5, 1);
    n += put_frame(in + n, 1, WSIO_OP_PING, "pi", 2, 1);
    n += put_frame(in + n, 1, WSIO_OP_CLOSE, "\x03\xe9", 2, 1);
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    assert_string_equal(r.log, "T(7374696c6c)PING(7069)CLOSE(1001,0,1,OK)");
    assert_int_equal(drain_frames(c, f, 4), 1); /* the pong, no second close */
    assert_int_equal(f[0].h.opcode, WSIO_OP_PONG);
    assert_int_equal(wsio_conn_state(c), WSIO_CONN_CLOSED);
    wsio_conn_abort(c, 0);
    assert_int_equal(r.closes, 1);
    wsio_conn_free(c);
}

static void test_conn_close_rejects_bad_arguments(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    char reason[124];
    memset(reason, 'r', sizeof reason);
    assert_int_equal(wsio_conn_close(c, 1005, NULL, 0), WSIO_EINVAL);
    assert_int_equal(wsio_conn_close(c, 1004, NULL, 0), WSIO_EINVAL);
    assert_int_equal(wsio_conn_close(c, 0, "x", 1), WSIO_EINVAL);
    assert_int_equal(wsio_conn_close(c, 1000, reason, 124), WSIO_EINVAL);
    assert_int_equal(wsio_conn_close(c, 1000, "\xc3", 1), WSIO_EUTF8);
    assert_int_equal(wsio_conn_buffered_amount(c), 0);
    assert_int_equal(wsio_conn_state(c), WSIO_CONN_OPEN);
    assert_int_equal(wsio_conn_close(c, 1000, reason, 123), 0);
    assert_int_equal(wsio_conn_buffered_amount(c), 2 + 125);
    wsio_conn_free(c);
}

/* Receive state is held only while input ends inside a header, a frame or
 * a message: whole frames take no memory, and a split one gives it back
 * once it completes. */
static void test_conn_holds_receive_state_only_while_split(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    uint8_t in[64];
    size_t n = put_frame(in, 1, WSIO_OP_TEXT, "whole", 5, 1);
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    assert_int_equal(tm.live_blocks, 1); /* only the conn itself */
    n = put_frame(in, 1, WSIO_OP_TEXT, "split", 5, 1);
    assert_int_equal(wsio_conn_feed(c, in, 1), 1); /* inside the header */
    assert_true(tm.live_blocks > 1);
    assert_int_equal(wsio_conn_feed(c, in + 1, 7), 7); /* inside the frame */
    assert_true(tm.live_blocks > 1);
    assert_int_equal(wsio_conn_feed(c, in + 8, n - 8), n - 8);
    assert_int_equal(tm.live_blocks, 1);
    n = put_frame(in, 0, WSIO_OP_TEXT, "fra", 3, 1); /* inside a message */
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    assert_true(tm.live_blocks > 1);
    n = put_frame(in, 1, WSIO_OP_CONTINUATION, "g", 1, 1);
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    assert_int_equal(tm.live_blocks, 1);
    assert_string_equal(r.log, "T(77686f6c65)T(73706c6974)T(66726167)");
    wsio_conn_free(c);
}

/* Without memory to keep a split frame's state the connection fails with
 * 1011 and says why; nothing of the split message is delivered. */
static void test_conn_fails_1011_without_memory_for_split_state(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    uint8_t in[64];
    size_t n = put_frame(in, 1, WSIO_OP_TEXT, "whole", 5, 1);
    n += put_frame(in + n, 1, WSIO_OP_TEXT, "split", 5, 1);
    test_mem_fail_at(&tm, 0);
    assert_int_equal(wsio_conn_feed(c, in, n - 2), WSIO_ENOMEM);
    assert_string_equal(r.log, "T(77686f6c65)CLOSE(1011,0,0,ENOMEM)");
    assert_int_equal(wsio_conn_error(c, NULL), WSIO_ENOMEM);
    assert_int_equal(output_close_code(c), 1011);
    wsio_conn_free(c);
}

/* An allocator over a test_mem that aborts victim at its next malloc, as a
 * server's memory budget shedding the connection does. */
typedef struct shedding_mem {
    wsio_mem mem;
    test_mem *base;
    wsio_conn *victim;
} shedding_mem;

static void *shedding_malloc(size_t n, void *user)
{
    shedding_mem *m = user;
    wsio_conn *c = m->victim;
    m->victim = NULL;
    if (c)
        (void)wsio_conn_abort(c, WSIO_ENOMEM);
    return m->base->mem.malloc(n, m->base->mem.user);
}

static void *shedding_realloc(void *p, size_t n, void *user)
{
    shedding_mem *m = user;
    return m->base->mem.realloc(p, n, m->base->mem.user);
}

static void shedding_free(void *p, void *user)
{
    shedding_mem *m = user;
    m->base->mem.free(p, m->base->mem.user);
}

/* The connection shed while the block for a split frame's state is being
 * taken (the feed's only malloc): it closes once, and nothing of the
 * feed's own copy of that state is kept or freed twice. */
static void test_conn_shed_while_keeping_split_state(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    test_mem_init(&tm);
    memset(&r, 0, sizeof r);
    shedding_mem sm = {
        {shedding_malloc, shedding_realloc, shedding_free, NULL}, &tm, NULL};
    sm.mem.user = &sm;
    wsio_conn *c = wsio_conn_new(WSIO_ROLE_SERVER, NULL, &CB, &sm.mem, &r);
    assert_non_null(c);
    uint8_t in[64];
    size_t n = put_frame(in, 1, WSIO_OP_TEXT, "split", 5, 1);
    sm.victim = c;
    assert_int_equal(wsio_conn_feed(c, in, n - 2), n - 2);
    assert_null(sm.victim); /* the shedding ran */
    assert_int_equal(wsio_conn_state(c), WSIO_CONN_CLOSED);
    assert_string_equal(r.log, "CLOSE(1006,0,0,ENOMEM)");
    assert_int_equal(tm.live_blocks, 1); /* only the conn itself */
    wsio_conn_free(c);
    assert_int_equal(tm.live_blocks, 0);
}

static void test_conn_abort_reports_1006_once_and_drops_output(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_TEXT, "queued", 6), 0);
    /* Half a message in the receive buffer, too. */
    uint8_t in[32];
    size_t n = put_frame(in, 1, WSIO_OP_TEXT, "partial", 7, 1);
    assert_int_equal(wsio_conn_feed(c, in, n - 3), n - 3);
    assert_int_equal(wsio_conn_abort(c, WSIO_ETIMEDOUT), 0);
    assert_int_equal(tm.live_blocks, 1); /* only the conn itself */
    assert_int_equal(wsio_conn_buffered_amount(c), 0);
    assert_string_equal(r.log, "CLOSE(1006,0,0,ETIMEDOUT)");
    assert_int_equal(wsio_conn_abort(c, WSIO_ETIMEDOUT), 0);
    assert_int_equal(r.closes, 1);
    assert_int_equal(wsio_conn_feed(c, in, 1), WSIO_ETIMEDOUT);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_TEXT, "x", 1), WSIO_ECLOSED);
    wsio_conn_free(c);
}

/* ---- limits -------------------------------------------------------------- */

typedef struct limit_case {
    size_t max_message, max_frame, max_frags;
    size_t frames[6]; /* payload sizes; 0 ends unless first */
    size_t nframes;
    int err;
} limit_case;

static const limit_case limit_cases[] = {
    {10, 100, 10, {10}, 1, 0},
    {10, 100, 10, {11}, 1, WSIO_ETOOBIG},
    {10, 100, 10, {5, 5}, 2, 0},
    {10, 100, 10, {5, 6}, 2, WSIO_ETOOBIG},
    {100, 8, 10, {8}, 1, 0},
    {100, 8, 10, {9}, 1, WSIO_ETOOBIG},
    {100, 8, 10, {8, 8, 8}, 3, 0},
    {100, 100, 3, {1, 0, 1}, 3, 0},
    {100, 100, 3, {0, 0, 0, 0}, 4, WSIO_ETOOMANYFRAGS},
    {100, 100, 3, {1, 1, 1, 1}, 4, WSIO_ETOOMANYFRAGS},
};

static void run_limit_case(const limit_case *lc, const wsio_conn_callbacks *cb)
{
    wsio_conn_config cfg;
    wsio_conn_config_default(&cfg);
    cfg.max_message_size = lc->max_message;
    cfg.max_frame_size = lc->max_frame;
    cfg.max_fragments = lc->max_frags;
    uint8_t payload[128], in[1024];
    memset(payload, 'z', sizeof payload);
    size_t n = 0, total = 0;
    for (size_t i = 0; i < lc->nframes; i++) {
        unsigned op = i ? WSIO_OP_CONTINUATION : WSIO_OP_BINARY;
        n += put_frame(in + n, i + 1 == lc->nframes, op, payload, lc->frames[i],
                       1);
        total += lc->frames[i];
    }
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, &cfg, cb, &tm, &r);
    ssize_t got = wsio_conn_feed(c, in, n);
    if (lc->err) {
        assert_int_equal(got, lc->err);
        assert_int_equal(output_close_code(c), 1009);
    } else {
        assert_int_equal(got, n);
        char want[64];
        snprintf(want, sizeof want, "B(%.*s)", (int)(2 * total),
                 "7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a");
        assert_true(total <= 24);
        assert_string_equal(r.log, want);
    }
    free(r.big);
    wsio_conn_free(c);
    assert_int_equal(tm.live_blocks, 0);
}

static void test_conn_limits_at_and_one_over(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof limit_cases / sizeof limit_cases[0]; i++) {
        run_limit_case(&limit_cases[i], &CB);
        run_limit_case(&limit_cases[i], &CB_STREAM);
    }
}

static void test_conn_limits_checked_before_allocating(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    /* A header announcing 2^40 bytes, and nothing else. */
    uint8_t in[14] = {0x82, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    long before = tm.count;
    assert_int_equal(wsio_conn_feed(c, in, sizeof in), WSIO_ETOOBIG);
    /* The close frame's output: the send side's block, which holds it. */
    assert_int_equal(tm.count - before, 1);
    assert_int_equal(output_close_code(c), 1009);
    wsio_conn_free(c);
}

/* ---- streaming ----------------------------------------------------------- */

static void test_conn_stream_pieces_follow_bytes(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB_STREAM, &tm, &r);
    uint8_t in[2048], text[1000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (uint8_t)('a' + i % 26);
    size_t n = put_frame(in, 0, WSIO_OP_TEXT, text, 600, 1);
    n += put_frame(in + n, 1, WSIO_OP_PING, "", 0, 1);
    n += put_frame(in + n, 1, WSIO_OP_CONTINUATION, text + 600, 400, 1);
    feed_steps(c, in, n, 100);
    rec want;
    memset(&want, 0, sizeof want);
    logf_(&want, "PING()T(");
    log_data(&want, text, sizeof text);
    logf_(&want, ")");
    assert_string_equal(r.log, want.log);
    assert_true(r.pieces >= 10);                /* one per fed run at least */
    assert_int_equal(output_close_code(c), -1); /* drains the pong */
    assert_int_equal(tm.live_blocks, 1);        /* nothing assembled */
    free(r.big);
    wsio_conn_free(c);
}

static void test_conn_stream_fails_utf8_before_delivering(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB_STREAM, &tm, &r);
    uint8_t in[64];
    size_t n = put_frame(in, 1, WSIO_OP_TEXT, "good\xf5", 5, 1);
    assert_int_equal(wsio_conn_feed(c, in, n), WSIO_EUTF8);
    assert_int_equal(r.pieces, 0);
    assert_int_equal(output_close_code(c), 1007);
    free(r.big);
    wsio_conn_free(c);
}

/* ---- pings and pongs ----------------------------------------------------- */

static void test_conn_ping_burst_gets_a_pong_each(void **state)
{
    (void)state;
    for (int auto_pong = 0; auto_pong <= 1; auto_pong++) {
        wsio_conn_config cfg;
        wsio_conn_config_default(&cfg);
        cfg.auto_pong = auto_pong;
        test_mem tm;
        rec r;
        wsio_conn *c = new_conn(WSIO_ROLE_SERVER, &cfg, &CB, &tm, &r);
        uint8_t in[512], big[125];
        memset(big, 0xAB, sizeof big);
        size_t n = put_frame(in, 1, WSIO_OP_PING, "1", 1, 1);
        n += put_frame(in + n, 1, WSIO_OP_PING, "22", 2, 1);
        n += put_frame(in + n, 1, WSIO_OP_PING, big, sizeof big, 1);
        n += put_frame(in + n, 1, WSIO_OP_PONG, "u", 1, 1);
        assert_int_equal(wsio_conn_feed(c, in, n), n);
        out_frame f[8];
        size_t k = drain_frames(c, f, 8);
        /* Our output keeps up (nothing left unsent): a pong each, as
         * Autobahn 2.10 expects. */
        assert_int_equal(k, auto_pong ? 3 : 0);
        for (size_t i = 0; i < k; i++)
            assert_int_equal(f[i].h.opcode, WSIO_OP_PONG);
        if (auto_pong) {
            assert_memory_equal(f[0].payload, "1", 1);
            assert_memory_equal(f[1].payload, "22", 2);
            assert_int_equal(f[2].h.payload_len, 125);
            assert_memory_equal(f[2].payload, big, 125);
        }
        assert_int_equal(strncmp(r.log, "PING(31)PING(3232)PING(#125:", 28), 0);
        assert_non_null(strstr(r.log, "PONG(75)"));
        wsio_conn_free(c);
    }
}

/* While the peer does not keep up (the last write left output unsent),
 * a burst of pings gets one pong: the latest (section 5.5.3). */
static void test_conn_pongs_coalesce_while_output_stalls(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    static uint8_t payload[100];
    assert_int_equal(wsio_conn_send(c, WSIO_OP_BINARY, payload, 100), 0);
    uint8_t out[256];
    assert_int_equal(wsio_conn_write(c, out, 10), 10); /* 92 left */
    uint8_t in[2048];
    size_t n = 0;
    for (int i = 0; i < 200; i++) {
        char seq[8];
        int k = snprintf(seq, sizeof seq, "%d", i);
        n += put_frame(in + n, 1, WSIO_OP_PING, seq, (size_t)k, 1);
    }
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    assert_int_equal(wsio_conn_buffered_amount(c), 92 + 2 + 3);
    assert_int_equal(wsio_conn_write(c, out, sizeof out), 97);
    assert_memory_equal(out + 92,
                        "\x8a\x03"
                        "199",
                        5);
    wsio_conn_free(c);
    assert_int_equal(tm.live_blocks, 0);
}

/* A pong already started (a byte of it consumed) is never rewritten; one
 * with something queued after it is not the newest and stays too. */
static void test_conn_pong_replaced_only_while_last_and_unstarted(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    uint8_t in[64];
    size_t n = put_frame(in, 1, WSIO_OP_PING, "aa", 2, 1);
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    uint8_t byte;
    assert_int_equal(wsio_conn_write(c, &byte, 1), 1); /* started */
    n = put_frame(in, 1, WSIO_OP_PING, "b", 1, 1);
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_TEXT, "m", 1), 0);
    n = put_frame(in, 1, WSIO_OP_PING, "c", 1, 1);
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    n = put_frame(in, 1, WSIO_OP_PING, "dd", 2, 1);
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    /* Left: the rest of pong "aa" (3 bytes), pong "b", the message, and
     * pong "dd" (which replaced "c"). */
    assert_int_equal(wsio_conn_buffered_amount(c), 3 + 3 + 3 + 4);
    uint8_t out[64];
    assert_int_equal(wsio_conn_write(c, out, sizeof out), 13);
    static const uint8_t want[] = {0x02, 'a', 'a',  0x8a, 0x01, 'b', 0x81,
                                   0x01, 'm', 0x8a, 0x02, 'd',  'd'};
    assert_memory_equal(out, want, sizeof want);
    wsio_conn_free(c);
    assert_int_equal(tm.live_blocks, 0);
}

/* ---- read-side flow control --------------------------------------------- */

/* Over the high-water mark, feed stops at the next frame boundary and
 * want_read says 0 until the output is back at the low-water mark. */
static void test_conn_output_marks_stop_and_resume_reading(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    r.echo = 1;
    wsio_conn_set_output_marks(c, 100, 20);
    static uint8_t payload[150];
    memset(payload, 'x', sizeof payload);
    uint8_t in[1024];
    size_t first = put_frame(in, 1, WSIO_OP_BINARY, payload, 60, 1);
    size_t n = first + put_frame(in + first, 1, WSIO_OP_BINARY, payload, 60, 1);
    n += put_frame(in + n, 1, WSIO_OP_BINARY, payload, 60, 1);
    /* Two echoes of 62 bytes go over 100: the third message waits. */
    size_t second = n - first - (n - first) / 2;
    ssize_t got = wsio_conn_feed(c, in, n);
    assert_int_equal(got, first + second);
    assert_int_equal(wsio_conn_want_read(c), 0);
    assert_int_equal(wsio_conn_feed(c, in + got, n - (size_t)got), 0);
    uint8_t out[256];
    assert_int_equal(wsio_conn_write(c, out, 60), 60); /* 64 left: > 20 */
    assert_int_equal(wsio_conn_want_read(c), 0);
    assert_int_equal(wsio_conn_write(c, out, 44), 44); /* 20 left */
    assert_int_equal(wsio_conn_want_read(c), 1);
    assert_int_equal(wsio_conn_feed(c, in + got, n - (size_t)got),
                     n - (size_t)got);
    assert_int_equal(strncmp(r.log, "B(#60", 5), 0);
    /* Sends of our own over the mark stop reading too; 0 turns it off. */
    assert_int_equal(wsio_conn_send(c, WSIO_OP_BINARY, payload, 150), 0);
    assert_int_equal(wsio_conn_want_read(c), 0);
    wsio_conn_set_output_marks(c, 0, 0);
    assert_int_equal(wsio_conn_want_read(c), 1);
    wsio_conn_free(c);
    assert_int_equal(tm.live_blocks, 0);
}

/* ---- the send side's block ---------------------------------------------- */

/* Output takes a block (the send state, which holds small output itself)
 * and, for more, a buffer; both go back as soon as the last byte is
 * consumed, however it is consumed. */
static void test_conn_send_block_released_when_output_drains(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    size_t idle = tm.live_blocks;
    assert_int_equal(wsio__conn_held_bytes(c, 1), 0);
    uint8_t out[64];
    for (int round = 0; round < 3; round++) {
        assert_int_equal(wsio_conn_send(c, WSIO_OP_TEXT, "hello", 5), 0);
        assert_int_equal(wsio_conn_ping(c, "p", 1), 0);
        assert_int_equal(tm.live_blocks, idle + 1);
        assert_true(wsio__conn_held_bytes(c, 1) > 0);
        assert_int_equal(wsio_conn_write(c, out, 3), 3); /* partly sent */
        assert_int_equal(tm.live_blocks, idle + 1);
        if (round == 0) {
            assert_int_equal(wsio_conn_write(c, out, sizeof out), 7);
        } else {
            wsio_iov iov[4];
            assert_int_equal(wsio_conn_peek_output(c, iov, 4), 1);
            wsio_conn_consume_output(c, iov[0].len);
        }
        assert_int_equal(wsio_conn_want_write(c), 0);
        assert_int_equal(tm.live_blocks, idle);
        assert_int_equal(wsio__conn_held_bytes(c, 1), 0);
    }
    /* More than the block holds: the queued bytes move to a buffer of
     * their own, in order, and both go when drained. */
    static uint8_t big[300];
    memset(big, 'b', sizeof big);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_TEXT, "small", 5), 0);
    assert_int_equal(wsio_conn_write(c, out, 2), 2); /* the header */
    assert_int_equal(wsio_conn_send(c, WSIO_OP_BINARY, big, sizeof big), 0);
    assert_int_equal(tm.live_blocks, idle + 2);
    assert_int_equal(wsio_conn_write(c, out, 5), 5); /* the rest of it */
    assert_memory_equal(out, "small", 5);
    out_frame f[2];
    assert_int_equal(drain_frames(c, f, 2), 1);
    assert_int_equal(f[0].h.payload_len, sizeof big);
    assert_memory_equal(f[0].payload, big, 256);
    assert_int_equal(tm.live_blocks, idle);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_TEXT, "small", 5), 0);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_BINARY, big, sizeof big), 0);
    assert_int_equal(drain_frames(c, f, 2), 2);
    assert_memory_equal(f[0].payload, "small", 5);
    assert_int_equal(f[1].h.payload_len, sizeof big);
    assert_memory_equal(f[1].payload, big, 256);
    assert_int_equal(tm.live_blocks, idle);
    /* A shared frame alone, then evicted: the block goes with it. */
    wsio_rcbuf *rc = wsio_message_encode(&tm.mem, WSIO_OP_TEXT, "v", 1);
    assert_non_null(rc);
    assert_int_equal(wsio__conn_send_tagged(c, rc, 7), 0);
    assert_int_equal(tm.live_blocks, idle + 3); /* block, entries, rc */
    assert_int_equal(wsio__conn_evict(c, 7, SIZE_MAX, 0), 1);
    assert_int_equal(tm.live_blocks, idle + 1);
    wsio_rcbuf_unref(rc);
    wsio_conn_free(c);
    assert_int_equal(tm.live_blocks, 0);
}

/* A fragmented message keeps the block between its frames even when the
 * queue drains (its opcode and the UTF-8 state of its text), and gives it
 * back with its final frame's last byte. */
static void test_conn_fragmented_send_spans_drains(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    size_t idle = tm.live_blocks;
    out_frame f[4];
    assert_int_equal(wsio_conn_send_fragment(c, WSIO_OP_TEXT, "caf\xc3", 4, 0),
                     0);
    assert_int_equal(drain_frames(c, f, 4), 1);
    assert_int_equal(tm.live_blocks, idle + 1); /* the block, no buffer */
    /* In the middle of a message: no whole frame, no new message. */
    wsio_rcbuf *rc = wsio_message_encode(&tm.mem, WSIO_OP_TEXT, "v", 1);
    assert_non_null(rc);
    assert_int_equal(wsio_conn_send_encoded(c, rc), WSIO_ESTATE);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_TEXT, "x", 1), WSIO_ESTATE);
    /* The UTF-8 check goes on where the last frame stopped. */
    assert_int_equal(
        wsio_conn_send_fragment(c, WSIO_OP_CONTINUATION, "\x41", 1, 1),
        WSIO_EUTF8);
    assert_int_equal(wsio_conn_buffered_amount(c), 0);
    assert_int_equal(
        wsio_conn_send_fragment(c, WSIO_OP_CONTINUATION, "\xa9!", 2, 0), 0);
    assert_int_equal(drain_frames(c, f + 1, 3), 1);
    assert_int_equal(tm.live_blocks, idle + 2); /* the block and rc */
    assert_int_equal(wsio_conn_send_fragment(c, WSIO_OP_CONTINUATION, "", 0, 1),
                     0);
    assert_int_equal(drain_frames(c, f + 2, 2), 1);
    assert_int_equal(tm.live_blocks, idle + 1); /* rc only */
    assert_int_equal(f[0].h.opcode, WSIO_OP_TEXT);
    assert_int_equal(f[0].h.fin, 0);
    assert_int_equal(f[1].h.opcode, WSIO_OP_CONTINUATION);
    assert_int_equal(f[1].h.fin, 0);
    assert_memory_equal(f[1].payload, "\xa9!", 2);
    assert_int_equal(f[2].h.opcode, WSIO_OP_CONTINUATION);
    assert_int_equal(f[2].h.fin, 1);
    /* Whole frames again. */
    assert_int_equal(wsio_conn_send_encoded(c, rc), 0);
    assert_int_equal(drain_frames(c, f, 4), 1);
    assert_int_equal(tm.live_blocks, idle + 1);
    wsio_rcbuf_unref(rc);
    wsio_conn_free(c);
    assert_int_equal(tm.live_blocks, 0);
}

/* Which queued pong is the newest is counted per block: after the block
 * went and came back, a pong of the old one is never taken for the newest
 * frame, so a stalled message is never cut. */
static void test_conn_pong_replacement_across_block_release(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    size_t idle = tm.live_blocks;
    uint8_t in[64], out[256];
    size_t n = put_frame(in, 1, WSIO_OP_PING, "a", 1, 1);
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    assert_int_equal(wsio_conn_write(c, out, 1), 1); /* stalled */
    assert_int_equal(wsio_conn_write(c, out, sizeof out), 2);
    assert_int_equal(tm.live_blocks, idle);
    /* A new block: the message is its first frame, as the pong was the
     * old block's; the peer is not keeping up. */
    static uint8_t payload[100];
    memset(payload, 'm', sizeof payload);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_BINARY, payload, 100), 0);
    assert_int_equal(wsio_conn_write(c, out, 10), 10); /* 92 left */
    n = put_frame(in, 1, WSIO_OP_PING, "b", 1, 1);
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    assert_int_equal(wsio_conn_buffered_amount(c), 92 + 3);
    /* Now the pong is the newest: the next one replaces it. */
    n = put_frame(in, 1, WSIO_OP_PING, "cc", 2, 1);
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    assert_int_equal(wsio_conn_buffered_amount(c), 92 + 4);
    assert_int_equal(wsio_conn_write(c, out, sizeof out), 96);
    assert_memory_equal(out, payload, 92);
    assert_memory_equal(out + 92,
                        "\x8a\x02"
                        "cc",
                        4);
    assert_int_equal(tm.live_blocks, idle);
    /* Drained and made again, nothing stalls: a pong each. */
    n = put_frame(in, 1, WSIO_OP_PING, "d", 1, 1);
    n += put_frame(in + n, 1, WSIO_OP_PING, "e", 1, 1);
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    assert_int_equal(wsio_conn_buffered_amount(c), 6);
    wsio_conn_free(c);
    assert_int_equal(tm.live_blocks, 0);
}

/* Each place that makes the block, its allocation failing (then, for
 * output the block cannot hold, the buffer's or a shared frame's entry):
 * WSIO_ENOMEM, nothing queued or held, and the next call works. */
static void test_conn_send_block_oom_at_each_place(void **state)
{
    (void)state;
    for (long fail = 0; fail <= 1; fail++) {
        for (int place = 0; place < 6; place++) {
            if (fail && place >= 2 && place <= 4)
                continue; /* control frames fit in the block */
            static uint8_t big[300];
            test_mem tm;
            rec r;
            wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
            size_t idle = tm.live_blocks;
            wsio_rcbuf *rc = wsio_message_encode(&tm.mem, WSIO_OP_TEXT, "v", 1);
            assert_non_null(rc);
            int again = 1;
            while (again >= 0) {
                if (again)
                    test_mem_fail_at(&tm, fail);
                int err = 0;
                switch (place) {
                case 0:
                    err = wsio_conn_send(c, WSIO_OP_BINARY, big,
                                         fail ? sizeof big : 2);
                    break;
                case 1:
                    err = wsio_conn_send_fragment(c, WSIO_OP_BINARY, big,
                                                  fail ? sizeof big : 1, 0);
                    break;
                case 2:
                    err = wsio_conn_pong(c, "p", 1);
                    break;
                case 3:
                    err = wsio_conn_ping(c, "p", 1);
                    break;
                case 4:
                    err = wsio_conn_close(c, 1000, "", 0);
                    break;
                default: /* a shared frame's entry is the second block */
                    err = wsio_conn_send_encoded(c, rc);
                    break;
                }
                if (again) {
                    assert_int_equal(err, WSIO_ENOMEM);
                    assert_int_equal(wsio_conn_buffered_amount(c), 0);
                    assert_int_equal(tm.live_blocks, idle + 1); /* rc */
                    assert_int_equal(rc->refcount, 1);
                    assert_int_equal(wsio_conn_state(c), WSIO_CONN_OPEN);
                    /* A failed first fragment started no message. */
                    assert_int_equal(wsio_conn_send_fragment(
                                         c, WSIO_OP_CONTINUATION, "", 0, 1),
                                     WSIO_ESTATE);
                } else {
                    assert_int_equal(err, 0);
                    assert_true(wsio_conn_buffered_amount(c) > 0);
                }
                again--;
            }
            wsio_rcbuf_unref(rc);
            wsio_conn_free(c);
            assert_int_equal(tm.live_blocks, 0);
        }
    }
}

/* An automatic pong or the reply to the peer's close that cannot be
 * queued ends the connection as any failed allocation does: 1011, and
 * the host told WSIO_ENOMEM. */
static void test_conn_auto_replies_without_a_block_fail_1011(void **state)
{
    (void)state;
    for (int close = 0; close <= 1; close++) {
        test_mem tm;
        rec r;
        wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
        uint8_t in[64];
        size_t n = close ? put_frame(in, 1, WSIO_OP_CLOSE, "\x03\xe8", 2, 1)
                         : put_frame(in, 1, WSIO_OP_PING, "p", 1, 1);
        test_mem_fail_at(&tm, 0); /* the block */
        assert_int_equal(wsio_conn_feed(c, in, n), WSIO_ENOMEM);
        assert_int_equal(wsio_conn_state(c), WSIO_CONN_CLOSED);
        assert_int_equal(r.closes, 1);
        assert_int_equal(r.close.error, WSIO_ENOMEM);
        assert_int_equal(r.close.code, 1011);
        uint64_t at = 99;
        assert_int_equal(wsio_conn_error(c, &at), WSIO_ENOMEM);
        assert_int_equal(at, 6); /* the payload, after a masked header */
        /* The close frame got the next block: 1011 to the peer. */
        assert_int_equal(output_close_code(c), 1011);
        assert_int_equal(tm.live_blocks, 1);
        wsio_conn_free(c);
        assert_int_equal(tm.live_blocks, 0);
    }
}

/* A server's connections read the marks where the server keeps them: a
 * peer that never reads makes the output stop at them, with no block of
 * the marks' own, and once drained the connection holds nothing. */
static void test_conn_shared_marks_bound_a_peer_that_never_reads(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    test_mem_init(&tm);
    memset(&r, 0, sizeof r);
    r.echo = 1;
    wsio_conn_config cfg;
    wsio_conn_config_default(&cfg);
    wsio__conn_env env = {&tm.mem, &CB, &cfg, 200, 50};
    static uint64_t place[32];
    assert_true(wsio__conn_size(WSIO_ROLE_SERVER) <= sizeof place);
    wsio_conn *c = wsio__conn_new_shared(place, WSIO_ROLE_SERVER, &env, &r);
    assert_int_equal(tm.live_blocks, 0); /* all of it is the caller's */
    static uint8_t payload[40];
    memset(payload, 'e', sizeof payload);
    static uint8_t in[100 * 48];
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        n += put_frame(in + n, 1, WSIO_OP_BINARY, payload, sizeof payload, 1);
    size_t fed = 0;
    for (int turn = 0; turn < 100 && fed < n; turn++) {
        ssize_t got = wsio_conn_feed(c, in + fed, n - fed);
        assert_true(got >= 0);
        fed += (size_t)got;
        assert_true(wsio_conn_buffered_amount(c) <= 200 + 42);
        if (got == 0)
            break; /* the peer never reads: we stop too */
    }
    assert_true(fed < n);
    assert_int_equal(wsio_conn_want_read(c), 0);
    assert_int_equal(tm.live_blocks, 1); /* the block, holding it all */
    /* The peer reads at last: reading resumes at the low mark, and the
     * drained connection holds nothing. */
    uint8_t out[512];
    while (wsio_conn_buffered_amount(c) > 50)
        assert_true(wsio_conn_write(c, out, 42) > 0);
    assert_int_equal(wsio_conn_want_read(c), 1);
    (void)wsio_conn_write(c, out, sizeof out);
    assert_int_equal(tm.live_blocks, 0);
    assert_int_equal(wsio_conn_want_read(c), 1);
    /* Marks of its own keep the block; back at the shared ones, it goes. */
    wsio_conn_set_output_marks(c, 10, 0);
    assert_int_equal(tm.live_blocks, 1);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_BINARY, payload, 40), 0);
    assert_int_equal(wsio_conn_want_read(c), 0);
    assert_int_equal(wsio_conn_write(c, out, sizeof out), 42);
    assert_int_equal(wsio_conn_want_read(c), 1);
    assert_int_equal(tm.live_blocks, 1);
    wsio_conn_set_output_marks(c, 200, 50);
    assert_int_equal(tm.live_blocks, 0);
    /* Out of memory for the block: the marks stay the shared ones. */
    test_mem_fail_at(&tm, 0);
    wsio_conn_set_output_marks(c, 10, 0);
    assert_int_equal(tm.live_blocks, 0);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_BINARY, payload, 40), 0);
    assert_int_equal(wsio_conn_want_read(c), 1);
    wsio_conn_free(c);
    assert_int_equal(tm.live_blocks, 0);
}

static ssize_t null_decode(void *state, const uint8_t **in, size_t *in_len,
                           int end, uint8_t *out, size_t cap)
{
    (void)state, (void)in, (void)in_len, (void)end, (void)out, (void)cap;
    return WSIO_EDEFLATE;
}

static size_t null_bound(void *state, size_t len)
{
    (void)state, (void)len;
    return 0; /* always plain */
}

static ssize_t null_encode(void *state, const void *in, size_t len,
                           uint8_t *out, size_t cap)
{
    (void)state, (void)in, (void)len, (void)out, (void)cap;
    return WSIO_EDEFLATE;
}

static void null_free(void *state)
{
    (*(int *)state)++;
}

/* The codec is a block of its own: without memory for it the caller keeps
 * the state, and the connection has no codec; with it, the state is freed
 * with the connection. */
static void test_conn_codec_block_oom(void **state)
{
    (void)state;
    static const wsio_codec_ops ops = {null_decode, null_bound, null_encode,
                                       null_free};
    int freed = 0;
    wsio_codec codec = {&ops, &freed};
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    test_mem_fail_at(&tm, 0);
    assert_int_equal(wsio_conn_set_codec(c, &codec), WSIO_ENOMEM);
    assert_int_equal(wsio_conn_has_codec(c), 0);
    assert_int_equal(tm.live_blocks, 1);
    assert_int_equal(wsio_conn_set_codec(c, &codec), 0);
    assert_int_equal(wsio_conn_has_codec(c), 1);
    assert_int_equal(wsio_conn_set_codec(c, &codec), WSIO_ESTATE);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_TEXT, "plain", 5), 0);
    assert_int_equal(freed, 0);
    wsio_conn_free(c);
    assert_int_equal(freed, 1);
    assert_int_equal(tm.live_blocks, 0);
}

/* ---- the fragment cost rule ---------------------------------------------- */

/* Autobahn 9.3.1 / 9.4.1: 4 MiB in 64-byte fragments, with a 16 MiB
 * limit: accepted (each fragment is charged 64 bytes: 4 MiB in all). */
static void test_conn_small_fragments_of_a_big_message_pass(void **state)
{
    (void)state;
    wsio_conn_config cfg;
    wsio_conn_config_default(&cfg);
    cfg.max_message_size = (size_t)16 << 20;
    const size_t total = (size_t)4 << 20, frag = 64;
    uint8_t *msg = malloc(total);
    uint8_t *in = malloc(total / frag * (frag + 6));
    assert_non_null(msg);
    assert_non_null(in);
    for (size_t i = 0; i < total; i++)
        msg[i] = (uint8_t)i;
    size_t n = 0;
    for (size_t off = 0; off < total; off += frag)
        n += put_frame(in + n, off + frag >= total,
                       off ? WSIO_OP_CONTINUATION : WSIO_OP_BINARY, msg + off,
                       frag, 1);
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, &cfg, &CB, &tm, &r);
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    rec want;
    memset(&want, 0, sizeof want);
    logf_(&want, "B(");
    log_data(&want, msg, total);
    logf_(&want, ")");
    assert_string_equal(r.log, want.log);
    wsio_conn_free(c);
    free(in);
    free(msg);
}

/* 10 million empty continuation frames: refused with 1009 once their
 * charges pass the limit (16 MiB / 64 = 262144 frames), after reading no
 * more than those frames; every later feed returns at once. */
static void test_conn_ten_million_empty_fragments_are_refused(void **state)
{
    (void)state;
    wsio_conn_config cfg;
    wsio_conn_config_default(&cfg);
    cfg.max_message_size = (size_t)16 << 20;
    enum { CHUNK = 100000 };
    uint8_t *chunk = malloc(CHUNK * 6);
    assert_non_null(chunk);
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, &cfg, &CB, &tm, &r);
    uint8_t first[8];
    size_t n = put_frame(first, 0, WSIO_OP_BINARY, NULL, 0, 1);
    assert_int_equal(wsio_conn_feed(c, first, n), n);
    size_t fed_frames = 1;
    ssize_t got = 0;
    int feeds = 0;
    for (long sent = 0; sent < 10000000; sent += CHUNK) {
        size_t len = 0;
        for (int i = 0; i < CHUNK; i++)
            len += put_frame(chunk + len, 0, WSIO_OP_CONTINUATION, NULL, 0, 1);
        got = wsio_conn_feed(c, chunk, len);
        feeds++;
        if (got < 0)
            break;
        fed_frames += (size_t)got / 6;
    }
    assert_int_equal(got, WSIO_ETOOMANYFRAGS);
    assert_int_equal(output_close_code(c), 1009);
    uint64_t offset = 0;
    assert_int_equal(wsio_conn_error(c, &offset), WSIO_ETOOMANYFRAGS);
    /* The first frame costs its payload (0), each continuation 64. */
    assert_int_equal(offset / 6, ((size_t)16 << 20) / 64 + 1);
    assert_true(fed_frames <= ((size_t)16 << 20) / 64 + 1);
    assert_int_equal(feeds, 3);
    assert_int_equal(wsio_conn_feed(c, chunk, 6), WSIO_ETOOMANYFRAGS);
    wsio_conn_free(c);
    free(chunk);
}

/* max_fragments, when set, is an extra cap on top of the charge. */
static void test_conn_max_fragments_is_an_optional_cap(void **state)
{
    (void)state;
    wsio_conn_config cfg;
    wsio_conn_config_default(&cfg);
    uint8_t in[64];
    size_t n = 0;
    for (int i = 0; i < 5; i++)
        n += put_frame(in + n, i == 4, i ? WSIO_OP_CONTINUATION : WSIO_OP_TEXT,
                       "a", 1, 1);
    for (int cap = 0; cap <= 4; cap += 4) {
        cfg.max_fragments = (size_t)cap;
        test_mem tm;
        rec r;
        wsio_conn *c = new_conn(WSIO_ROLE_SERVER, &cfg, &CB, &tm, &r);
        uint8_t copy[64];
        memcpy(copy, in, n);
        ssize_t got = wsio_conn_feed(c, copy, n);
        if (cap)
            assert_int_equal(got, WSIO_ETOOMANYFRAGS);
        else
            assert_int_equal(got, n);
        wsio_conn_free(c);
    }
}

/* ---- sending ------------------------------------------------------------- */

static void test_conn_send_fragment_checks_order_and_utf8(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    assert_int_equal(
        wsio_conn_send_fragment(c, WSIO_OP_CONTINUATION, "x", 1, 1),
        WSIO_ESTATE);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_CONTINUATION, "x", 1),
                     WSIO_EINVAL);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_PING, "x", 1), WSIO_EINVAL);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_TEXT, "\xc3(", 2), WSIO_EUTF8);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_TEXT, "\xc3", 1), WSIO_EUTF8);
    assert_int_equal(wsio_conn_buffered_amount(c), 0);
    /* "ö" split between two fragments, a ping between them. */
    assert_int_equal(wsio_conn_send_fragment(c, WSIO_OP_TEXT, "w\xc3", 2, 0),
                     0);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_BINARY, "b", 1), WSIO_ESTATE);
    assert_int_equal(wsio_conn_send_fragment(c, WSIO_OP_TEXT, "x", 1, 0),
                     WSIO_ESTATE);
    assert_int_equal(wsio_conn_ping(c, "p", 1), 0);
    assert_int_equal(
        wsio_conn_send_fragment(c, WSIO_OP_CONTINUATION, "(", 1, 1),
        WSIO_EUTF8);
    assert_int_equal(
        wsio_conn_send_fragment(c, WSIO_OP_CONTINUATION, "\xb6", 1, 0), 0);
    assert_int_equal(
        wsio_conn_send_fragment(c, WSIO_OP_CONTINUATION, "\xe2", 1, 1),
        WSIO_EUTF8);
    assert_int_equal(
        wsio_conn_send_fragment(c, WSIO_OP_CONTINUATION, "!", 1, 1), 0);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_BINARY, "\xff", 1), 0);
    out_frame f[8];
    assert_int_equal(drain_frames(c, f, 8), 5);
    static const struct {
        unsigned op, fin;
        const char *p;
        size_t len;
    } want[] = {{WSIO_OP_TEXT, 0, "w\xc3", 2},
                {WSIO_OP_PING, 1, "p", 1},
                {WSIO_OP_CONTINUATION, 0, "\xb6", 1},
                {WSIO_OP_CONTINUATION, 1, "!", 1},
                {WSIO_OP_BINARY, 1, "\xff", 1}};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(f[i].h.opcode, want[i].op);
        assert_int_equal(f[i].h.fin, want[i].fin);
        assert_int_equal(f[i].h.payload_len, want[i].len);
        assert_memory_equal(f[i].payload, want[i].p, want[i].len);
    }
    /* With the check off, invalid text goes out. */
    wsio_conn_config cfg;
    wsio_conn_config_default(&cfg);
    cfg.check_outgoing_utf8 = 0;
    wsio_conn *d = wsio_conn_new(WSIO_ROLE_SERVER, &cfg, NULL, &tm.mem, NULL);
    assert_int_equal(wsio_conn_send(d, WSIO_OP_TEXT, "\xc3", 1), 0);
    char big[126] = {0};
    assert_int_equal(wsio_conn_ping(d, big, 126), WSIO_EINVAL);
    assert_int_equal(wsio_conn_pong(d, big, 126), WSIO_EINVAL);
    assert_int_equal(wsio_conn_ping(d, big, 125), 0);
    wsio_conn_free(d);
    wsio_conn_free(c);
}

static int counting_mask(uint8_t key[4], void *user)
{
    unsigned *n = user;
    if (*n == 99)
        return WSIO_ECALLBACK;
    ++*n;
    key[0] = (uint8_t)*n;
    key[1] = 0x5a;
    key[2] = (uint8_t) ~*n;
    key[3] = 0xa5;
    return 0;
}

static void test_conn_client_masks_each_frame_with_fresh_key(void **state)
{
    (void)state;
    for (int own = 0; own <= 1; own++) {
        wsio_conn_config cfg;
        wsio_conn_config_default(&cfg);
        unsigned made = 0;
        if (own) {
            cfg.make_mask = counting_mask;
            cfg.make_mask_user = &made;
        }
        test_mem tm;
        rec r;
        wsio_conn *c = new_conn(WSIO_ROLE_CLIENT, &cfg, &CB, &tm, &r);
        /* More frames than one pool of random bytes serves. */
        for (int i = 0; i < 40; i++)
            assert_int_equal(wsio_conn_send(c, WSIO_OP_TEXT, "masked!", 7), 0);
        assert_int_equal(wsio_conn_ping(c, "pp", 2), 0);
        assert_int_equal(wsio_conn_close(c, 1000, "end", 3), 0);
        uint8_t raw[64];
        wsio_iov iov[2];
        assert_int_equal(wsio_conn_peek_output(c, iov, 2), 1);
        memcpy(raw, iov[0].base, 13);
        assert_memory_not_equal(raw + 6, "masked!", 7); /* masked on the wire */
        out_frame f[48];
        assert_int_equal(drain_frames(c, f, 48), 42);
        for (int i = 0; i < 42; i++) {
            assert_true(f[i].h.masked);
            for (int j = 0; j < i; j++)
                assert_memory_not_equal(f[i].h.mask_key, f[j].h.mask_key, 4);
        }
        assert_memory_equal(f[0].payload, "masked!", 7);
        assert_memory_equal(f[40].payload, "pp", 2);
        assert_memory_equal(f[41].payload,
                            "\x03\xe8"
                            "end",
                            5);
        if (own)
            assert_int_equal(made, 42);
        /* A client refuses shared (unmasked) frames. */
        wsio_rcbuf *rc = wsio_message_encode(&tm.mem, WSIO_OP_TEXT, "x", 1);
        assert_int_equal(wsio_conn_send_encoded(c, rc), WSIO_ECLOSED);
        wsio_rcbuf_unref(rc);
        wsio_conn_free(c);
        assert_int_equal(tm.live_blocks, 0);
    }
}

static void test_conn_client_mask_hook_failure_fails_the_send(void **state)
{
    (void)state;
    wsio_conn_config cfg;
    wsio_conn_config_default(&cfg);
    unsigned made = 99;
    cfg.make_mask = counting_mask;
    cfg.make_mask_user = &made;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_CLIENT, &cfg, &CB, &tm, &r);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_BINARY, "x", 1), WSIO_ECALLBACK);
    assert_int_equal(wsio_conn_buffered_amount(c), 0);
    wsio_rcbuf *rc = wsio_message_encode(NULL, WSIO_OP_TEXT, "x", 1);
    assert_int_equal(wsio_conn_send_encoded(c, rc), WSIO_ESTATE);
    wsio_rcbuf_unref(rc);
    /* Server frames to a client are unmasked; a client reads them. */
    uint8_t in[16];
    size_t n = put_frame(in, 1, WSIO_OP_TEXT, "srv", 3, 0);
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    assert_string_equal(r.log, "T(737276)");
    wsio_conn_free(c);
}

/* ---- output queue -------------------------------------------------------- */

/* Queue copied and shared frames alternately; return the expected bytes. */
static size_t queue_mixed(wsio_conn *c, wsio_rcbuf **rc, uint8_t *want)
{
    uint8_t big[300];
    memset(big, 'B', sizeof big);
    size_t n = 0;
    assert_int_equal(wsio_conn_send(c, WSIO_OP_TEXT, "one", 3), 0);
    n += put_frame(want + n, 1, WSIO_OP_TEXT, "one", 3, 0);
    assert_int_equal(wsio_conn_send_encoded(c, rc[0]), 0);
    memcpy(want + n, rc[0]->data, rc[0]->len);
    n += rc[0]->len;
    assert_int_equal(wsio_conn_send_encoded(c, rc[1]), 0); /* back to back */
    memcpy(want + n, rc[1]->data, rc[1]->len);
    n += rc[1]->len;
    assert_int_equal(wsio_conn_ping(c, "p", 1), 0);
    n += put_frame(want + n, 1, WSIO_OP_PING, "p", 1, 0);
    assert_int_equal(wsio_conn_send(c, WSIO_OP_BINARY, big, sizeof big), 0);
    n += put_frame(want + n, 1, WSIO_OP_BINARY, big, sizeof big, 0);
    assert_int_equal(wsio_conn_send_encoded(c, rc[0]), 0); /* last */
    memcpy(want + n, rc[0]->data, rc[0]->len);
    n += rc[0]->len;
    return n;
}

static size_t gather(wsio_conn *c, uint8_t *out, size_t max_iov)
{
    wsio_iov iov[16];
    size_t k = wsio_conn_peek_output(c, iov, max_iov);
    size_t n = 0;
    for (size_t i = 0; i < k; i++) {
        assert_true(iov[i].len > 0);
        memcpy(out + n, iov[i].base, iov[i].len);
        n += iov[i].len;
    }
    return n;
}

static void test_conn_output_partial_consumption_at_every_byte(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    wsio_rcbuf *rc[2];
    rc[0] = wsio_message_encode(&tm.mem, WSIO_OP_TEXT, "shared", 6);
    uint8_t mid[200];
    memset(mid, 'm', sizeof mid);
    rc[1] = wsio_message_encode(&tm.mem, WSIO_OP_BINARY, mid, sizeof mid);
    assert_non_null(rc[0]);
    assert_non_null(rc[1]);
    uint8_t want[1024], got[1024];
    size_t total = queue_mixed(c, rc, want);
    wsio_conn_free(c);
    assert_int_equal(rc[0]->refcount, 1); /* free dropped the queue's refs */

    for (size_t k = 0; k <= total; k++) {
        c = wsio_conn_new(WSIO_ROLE_SERVER, NULL, NULL, &tm.mem, NULL);
        assert_int_equal(queue_mixed(c, rc, want), total);
        assert_int_equal(rc[0]->refcount, 3);
        assert_int_equal(wsio_conn_buffered_amount(c), total);
        assert_int_equal(gather(c, got, 16), total);
        assert_int_equal(gather(c, got, 1) > 0, 1);
        /* Consume k bytes, then the rest one byte at a time, checking what
         * is left at every step. */
        wsio_conn_consume_output(c, k);
        for (size_t done = k; done < total; done++) {
            assert_int_equal(wsio_conn_buffered_amount(c), total - done);
            assert_int_equal(gather(c, got, 16), total - done);
            assert_memory_equal(got, want + done, total - done);
            assert_int_equal(wsio_conn_want_write(c), 1);
            wsio_conn_consume_output(c, 1);
        }
        assert_int_equal(wsio_conn_buffered_amount(c), 0);
        assert_int_equal(wsio_conn_peek_output(c, NULL, 0), 0);
        assert_int_equal(wsio_conn_want_write(c), 0);
        assert_int_equal(rc[0]->refcount, 1);
        assert_int_equal(tm.live_blocks, 3); /* conn + two rcbufs */
        wsio_conn_free(c);
    }
    /* wsio_conn_write with every buffer size gives the same bytes. */
    for (size_t cap = 1; cap <= total + 1; cap += 7) {
        c = wsio_conn_new(WSIO_ROLE_SERVER, NULL, NULL, &tm.mem, NULL);
        queue_mixed(c, rc, want);
        size_t n = 0, k;
        while ((k = wsio_conn_write(c, got + n, cap)) > 0)
            n += k;
        assert_int_equal(n, total);
        assert_memory_equal(got, want, total);
        wsio_conn_free(c);
    }
    wsio_rcbuf_unref(rc[0]);
    wsio_rcbuf_unref(rc[1]);
    assert_int_equal(tm.live_blocks, 0);
}

static void test_conn_output_queue_grows_without_reordering(void **state)
{
    (void)state;
    test_mem tm;
    test_mem_init(&tm);
    wsio_conn *c = wsio_conn_new(WSIO_ROLE_SERVER, NULL, NULL, &tm.mem, NULL);
    wsio_rcbuf *rc = wsio_message_encode(&tm.mem, WSIO_OP_TEXT, "r", 1);
    /* Interleave sends, shared frames and partial consumption, so that the
     * buffer compacts and the shared entries shift, and check the order of
     * every frame that comes out. */
    uint8_t out[64];
    unsigned sent = 0, seen = 0;
    for (int round = 0; round < 200; round++) {
        char msg[8];
        int len = snprintf(msg, sizeof msg, "%u", sent++);
        assert_int_equal(wsio_conn_send(c, WSIO_OP_TEXT, msg, (size_t)len), 0);
        assert_int_equal(wsio_conn_send_encoded(c, rc), 0);
        if (round % 3 == 2) {
            out_frame f[1024];
            size_t n = drain_frames(c, f, 1024);
            for (size_t i = 0; i < n; i += 2) {
                char num[8] = {0};
                memcpy(num, f[i].payload, f[i].h.payload_len);
                int v = atoi(num);
                assert_int_equal(v, seen++);
                assert_int_equal(f[i + 1].payload[0], 'r');
            }
        } else {
            /* Leave a partial frame at the head. */
            assert_int_equal(wsio_conn_write(c, out, 1), 1);
            assert_int_equal(wsio_conn_write(c, out + 1, 1), 1);
            /* Re-queue what was taken would break framing; instead finish
             * the frame so the drain above stays aligned. */
            wsio_iov iov;
            assert_int_equal(wsio_conn_peek_output(c, &iov, 1), 1);
            wsio_conn_consume_output(c, iov.len); /* rest of the first frame */
            assert_int_equal(wsio_conn_peek_output(c, &iov, 1), 1);
            assert_int_equal(iov.len, rc->len); /* then the shared one */
            wsio_conn_consume_output(c, iov.len);
            seen++;
        }
    }
    assert_int_equal(seen, sent);
    wsio_conn_free(c);
    wsio_rcbuf_unref(rc);
    assert_int_equal(tm.live_blocks, 0);
}

/* ---- pause, re-entrancy, free inside callbacks --------------------------- */

/* ---- tagged frames: eviction for per-topic slow-consumer policies ------- */

enum { TAG_X = 1, TAG_Y = 2 };

/* One entry of an eviction scenario: a copied frame (tag 0, sent with
 * wsio_conn_send) or a shared one with its tag. */
typedef struct evict_item {
    const char *payload;
    uint64_t tag;
} evict_item;

/* Queue items on c; shared frames are made here and their one own
 * reference kept in rc[i] (NULL for copied ones). */
static void queue_items(wsio_conn *c, test_mem *tm, const evict_item *it,
                        size_t n, wsio_rcbuf **rc)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(it[i].payload);
        rc[i] = NULL;
        if (!it[i].tag) {
            assert_int_equal(
                wsio_conn_send(c, WSIO_OP_TEXT, it[i].payload, len), 0);
            continue;
        }
        rc[i] = wsio_message_encode(&tm->mem, WSIO_OP_TEXT, it[i].payload, len);
        assert_non_null(rc[i]);
        assert_int_equal(wsio__conn_send_tagged(c, rc[i], it[i].tag), 0);
    }
}

/* The payloads of the whole frames c would send, joined with '|'. */
static void drained_payloads(wsio_conn *c, char *out, size_t cap)
{
    out_frame f[32];
    size_t n = drain_frames(c, f, 32);
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t len = (size_t)f[i].h.payload_len;
        assert_true(at + len + 2 <= cap);
        if (i)
            out[at++] = '|';
        memcpy(out + at, f[i].payload, len);
        at += len;
        out[at] = '\0';
    }
}

static void unref_items(wsio_rcbuf **rc, size_t n)
{
    for (size_t i = 0; i < n; i++)
        wsio_rcbuf_unref(rc[i]);
}

static void test_conn_evict_takes_oldest_of_tag_until_need(void **state)
{
    (void)state;
    static const evict_item items[] = {
        {"c1", 0},     {"x1", TAG_X}, {"y1", TAG_Y}, {"c2", 0},
        {"x2", TAG_X}, {"x3", TAG_X}, {"y2", TAG_Y},
    };
    static const struct {
        size_t need;
        size_t removed;
        const char *left;
    } cases[] = {
        {1, 1, "c1|y1|c2|x2|x3|y2"}, /* one frame frees enough */
        {5, 2, "c1|y1|c2|x3|y2"},    /* each frame is 4 bytes */
        {8, 2, "c1|y1|c2|x3|y2"},     {9, 3, "c1|y1|c2|y2"},
        {SIZE_MAX, 3, "c1|y1|c2|y2"}, /* all of them, and no more */
    };
    enum { N = sizeof items / sizeof items[0] };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        test_mem tm;
        test_mem_init(&tm);
        wsio_conn *c =
            wsio_conn_new(WSIO_ROLE_SERVER, NULL, NULL, &tm.mem, NULL);
        wsio_rcbuf *rc[N];
        queue_items(c, &tm, items, N, rc);
        size_t before = wsio_conn_buffered_amount(c);
        assert_int_equal(wsio__conn_evict(c, TAG_X, cases[k].need, 0),
                         cases[k].removed);
        /* Each removed frame is 4 bytes on the wire ("81 02 x n"). */
        assert_int_equal(wsio_conn_buffered_amount(c),
                         before - 4 * cases[k].removed);
        /* The queue's references to removed frames are gone. */
        assert_int_equal(rc[1]->refcount, 1);
        assert_int_equal(rc[2]->refcount, 2);
        char got[128];
        drained_payloads(c, got, sizeof got);
        assert_string_equal(got, cases[k].left);
        unref_items(rc, N);
        wsio_conn_free(c);
        assert_int_equal(tm.live_blocks, 0);
    }
}

static void
test_conn_evict_keeps_started_and_transport_held_frames(void **state)
{
    (void)state;
    static const evict_item items[] = {
        {"x1", TAG_X},
        {"x2", TAG_X},
        {"x3", TAG_X},
    };
    enum { N = 3 };
    /* consumed: bytes already written; keep: unsent bytes the transport
     * may hold. Every frame is 4 bytes. */
    static const struct {
        size_t consumed, keep, removed;
        const char *left; /* whole frames after the partial one */
    } cases[] = {
        {0, 0, 3, ""},      {1, 0, 2, ""}, /* x1 started: it stays, whole */
        {0, 4, 2, "x1"},                   /* x2 starts exactly at keep */
        {0, 5, 1, "x1|x2"},                /* x2 starts inside the held bytes */
        {4, 1, 1, "x2"},                   /* x1 gone; x2 is now at the front */
        {12, 0, 0, ""},                    /* nothing left to take */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        test_mem tm;
        test_mem_init(&tm);
        wsio_conn *c =
            wsio_conn_new(WSIO_ROLE_SERVER, NULL, NULL, &tm.mem, NULL);
        wsio_rcbuf *rc[N];
        queue_items(c, &tm, items, N, rc);
        wsio_conn_consume_output(c, cases[k].consumed);
        assert_int_equal(wsio__conn_evict(c, TAG_X, SIZE_MAX, cases[k].keep),
                         cases[k].removed);
        /* Finish a started frame by hand, then read whole frames. */
        size_t partial = cases[k].consumed % 4;
        if (partial) {
            uint8_t rest[4];
            assert_int_equal(wsio_conn_write(c, rest, 4 - partial),
                             4 - partial);
            assert_memory_equal(rest, rc[cases[k].consumed / 4]->data + partial,
                                4 - partial);
        }
        char got[64];
        drained_payloads(c, got, sizeof got);
        assert_string_equal(got, cases[k].left);
        for (size_t i = 0; i < N; i++)
            assert_int_equal(rc[i]->refcount, 1);
        unref_items(rc, N);
        wsio_conn_free(c);
        assert_int_equal(tm.live_blocks, 0);
    }
}

static void test_conn_evict_all_releases_queue_memory(void **state)
{
    (void)state;
    test_mem tm;
    test_mem_init(&tm);
    wsio_conn *c = wsio_conn_new(WSIO_ROLE_SERVER, NULL, NULL, &tm.mem, NULL);
    wsio_rcbuf *rc = wsio_message_encode(&tm.mem, WSIO_OP_TEXT, "v", 1);
    assert_non_null(rc);
    for (int i = 0; i < 10; i++)
        assert_int_equal(wsio__conn_send_tagged(c, rc, TAG_X), 0);
    assert_int_equal(rc->refcount, 11);
    assert_true(wsio__conn_held_bytes(c, 1) > 0);
    assert_int_equal(wsio__conn_evict(c, TAG_Y, SIZE_MAX, 0), 0);
    assert_int_equal(rc->refcount, 11);
    assert_int_equal(wsio__conn_evict(c, TAG_X, SIZE_MAX, 0), 10);
    assert_int_equal(rc->refcount, 1);
    assert_int_equal(wsio_conn_buffered_amount(c), 0);
    assert_int_equal(wsio_conn_want_write(c), 0);
    /* A drained queue holds nothing, as after consumption. */
    assert_int_equal(wsio__conn_held_bytes(c, 1), 0);
    assert_int_equal(tm.live_blocks, 2); /* the conn and rc */
    /* Untagged shared frames (broadcasts) are never taken. */
    assert_int_equal(wsio_conn_send_encoded(c, rc), 0);
    assert_int_equal(wsio__conn_evict(c, TAG_X, SIZE_MAX, 0), 0);
    assert_int_equal(wsio_conn_buffered_amount(c), rc->len);
    wsio_conn_free(c);
    assert_int_equal(rc->refcount, 1);
    wsio_rcbuf_unref(rc);
    assert_int_equal(tm.live_blocks, 0);
}

static void test_conn_pause_returns_consumed_and_resumes(void **state)
{
    (void)state;
    for (int streaming = 0; streaming <= 1; streaming++) {
        test_mem tm;
        rec r;
        wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL,
                                streaming ? &CB_STREAM : &CB, &tm, &r);
        r.pause = 1;
        uint8_t in[128];
        size_t a = put_frame(in, 1, WSIO_OP_TEXT, "first", 5, 1);
        size_t b = put_frame(in + a, 1, WSIO_OP_PING, "pp", 2, 1);
        size_t d = put_frame(in + a + b, 1, WSIO_OP_BINARY, "third", 5, 1);
        size_t n = a + b + d;
        assert_int_equal(wsio_conn_feed(c, in, n), a);
        assert_int_equal(wsio_conn_feed(c, in + a, n - a), b);
        assert_int_equal(wsio_conn_feed(c, in + a + b, n - a - b), d);
        /* Each payload unmasked exactly once. */
        assert_string_equal(r.log, "T(6669727374)PING(7070)B(7468697264)");
        free(r.big);
        wsio_conn_free(c);
        assert_int_equal(tm.live_blocks, 0);
    }
}

static int feed_again(wsio_conn *c, const wsio_message *m, void *user)
{
    (void)m;
    (void)user;
    uint8_t x = 0;
    assert_int_equal(wsio_conn_feed(c, &x, 1), WSIO_ESTATE);
    return 0;
}

static void test_conn_feed_inside_callback_is_refused(void **state)
{
    (void)state;
    test_mem tm;
    test_mem_init(&tm);
    wsio_conn_callbacks cb = {feed_again, NULL, NULL, NULL, NULL};
    wsio_conn *c = wsio_conn_new(WSIO_ROLE_SERVER, NULL, &cb, &tm.mem, NULL);
    uint8_t in[16];
    size_t n = put_frame(in, 1, WSIO_OP_TEXT, "x", 1, 1);
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    wsio_conn_free(c);
}

static void test_conn_free_inside_callbacks_is_deferred(void **state)
{
    (void)state;
    /* Free from on_message, from on_close after a failure, from on_close
     * after a peer close, from on_close after abort: no leak, no use after
     * free (the sanitizer run checks the latter). */
    for (int how = 0; how < 4; how++) {
        test_mem tm;
        rec r;
        wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
        r.free_in = how == 0 ? 1 : 2;
        uint8_t in[64];
        size_t n = 0;
        if (how == 0) {
            n += put_frame(in + n, 0, WSIO_OP_TEXT, "split", 5, 1);
            n += put_frame(in + n, 1, WSIO_OP_CONTINUATION, "!", 1, 1);
            n += put_frame(in + n, 1, WSIO_OP_TEXT, "never", 5, 1);
        } else if (how == 1) {
            n += put_frame(in + n, 1, WSIO_OP_TEXT, "\xff", 1, 1);
        } else {
            n += put_frame(in + n, 1, WSIO_OP_CLOSE, "\x03\xe8", 2, 1);
        }
        if (how == 3)
            wsio_conn_abort(c, 0);
        else
            wsio_conn_feed(c, in, n);
        assert_null(strstr(r.log, "6e65766572")); /* "never" not delivered */
        assert_int_equal(tm.live_blocks, 0);
    }
}

static void test_conn_close_inside_callback_keeps_reading(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    r.close_in_msg = 1;
    uint8_t in[64];
    size_t n = put_frame(in, 1, WSIO_OP_TEXT, "a", 1, 1);
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    assert_int_equal(wsio_conn_state(c), WSIO_CONN_CLOSING);
    r.close_in_msg = 0;
    n = put_frame(in, 1, WSIO_OP_TEXT, "b", 1, 1);
    n += put_frame(in + n, 1, WSIO_OP_CLOSE, "\x03\xe8", 2, 1);
    assert_int_equal(wsio_conn_feed(c, in, n), n);
    assert_string_equal(r.log, "T(61)T(62)CLOSE(1000,0,1,OK)");
    assert_int_equal(output_close_code(c), 1000);
    wsio_conn_free(c);
}

static void test_conn_user_role_and_want_read(void **state)
{
    (void)state;
    int a, b;
    wsio_conn *c = wsio_conn_new(WSIO_ROLE_CLIENT, NULL, NULL, NULL, &a);
    assert_non_null(c);
    assert_ptr_equal(wsio_conn_get_user(c), &a);
    wsio_conn_set_user(c, &b);
    assert_ptr_equal(wsio_conn_get_user(c), &b);
    assert_int_equal(wsio_conn_role(c), WSIO_ROLE_CLIENT);
    assert_int_equal(wsio_conn_want_read(c), 1);
    assert_int_equal(wsio_conn_feed(c, NULL, 0), 0);
    assert_int_equal(wsio_conn_feed(c, NULL, 3), WSIO_EINVAL);
    assert_int_equal(wsio_conn_error(c, NULL), 0);
    wsio_conn_free(c);
    wsio_conn_free(NULL);
    wsio_conn_config cfg;
    wsio_conn_config_default(&cfg);
    assert_int_equal(cfg.max_message_size, 1 << 20);
    assert_int_equal(cfg.max_frame_size, 1 << 20);
    assert_int_equal(cfg.max_fragments, 0);
    assert_int_equal(cfg.auto_pong, 1);
    assert_int_equal(cfg.check_outgoing_utf8, 1);
    assert_null(wsio_message_encode(NULL, WSIO_OP_PING, "x", 1));
}

/* ---- out of memory ------------------------------------------------------- */

/* A scenario touching every allocation: the conn, a split fragmented
 * message (receive buffer), pongs and sends (output), a shared frame, a
 * split ping. Returns 1 when it ran to the end without an error. */
static int oom_scenario(test_mem *tm, rec *r)
{
    memset(r, 0, sizeof *r);
    wsio_conn *c = wsio_conn_new(WSIO_ROLE_SERVER, NULL, &CB, &tm->mem, r);
    if (!c)
        return 0;
    r->echo = 0;
    uint8_t in[512];
    size_t n = put_frame(in, 0, WSIO_OP_TEXT, "frag", 4, 1);
    n += put_frame(in + n, 1, WSIO_OP_PING, "ping", 4, 1);
    n += put_frame(in + n, 1, WSIO_OP_CONTINUATION, "ment", 4, 1);
    uint8_t bin[100];
    memset(bin, 0x42, sizeof bin);
    n += put_frame(in + n, 1, WSIO_OP_BINARY, bin, sizeof bin, 1);
    int ok = 1;
    for (size_t pos = 0; pos < n && ok; pos += 5) {
        size_t k = n - pos < 5 ? n - pos : 5;
        ssize_t got = wsio_conn_feed(c, in + pos, k);
        if (got < 0) {
            /* Out of memory fails the connection cleanly. */
            assert_int_equal(got, WSIO_ENOMEM);
            assert_int_equal(wsio_conn_state(c), WSIO_CONN_CLOSED);
            assert_int_equal(r->close.error, WSIO_ENOMEM);
            int code = output_close_code(c);
            assert_true(code == 1011 || code == -1);
            ok = 0;
        }
    }
    if (ok) {
        int e = wsio_conn_send(c, WSIO_OP_TEXT, "reply", 5);
        wsio_rcbuf *rc = wsio_message_encode(&tm->mem, WSIO_OP_TEXT, "all", 3);
        if (rc) {
            int e2 = wsio_conn_send_encoded(c, rc);
            assert_true(e2 == 0 || e2 == WSIO_ENOMEM);
            ok = ok && e2 == 0;
            wsio_rcbuf_unref(rc);
        }
        assert_true(e == 0 || e == WSIO_ENOMEM);
        ok = ok && rc && e == 0;
    }
    wsio_conn_free(c);
    return ok;
}

static void test_conn_oom_every_allocation_fails_cleanly(void **state)
{
    (void)state;
    test_mem tm;
    rec r;
    test_mem_init(&tm);
    assert_int_equal(oom_scenario(&tm, &r), 1);
    long needed = tm.count;
    assert_true(needed >= 4);
    for (long i = 0; i < needed; i++) {
        test_mem_init(&tm);
        test_mem_fail_at(&tm, i);
        assert_int_equal(oom_scenario(&tm, &r), 0);
        assert_int_equal(tm.live_blocks, 0);
    }
}

/* ---- a client and a server talking ------------------------------------- */

static void pump(wsio_conn *from, wsio_conn *to, uint8_t *buf, size_t chunk)
{
    size_t n;
    while ((n = wsio_conn_write(from, buf, chunk)) > 0)
        assert_int_equal(wsio_conn_feed(to, buf, n), n);
}

static void test_conn_pair_client_server_round_trip(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 125, 126, 65535, 65536, 4u << 20};
    wsio_conn_config cfg;
    wsio_conn_config_default(&cfg);
    cfg.max_message_size = cfg.max_frame_size = 8u << 20;
    test_mem tm;
    rec rs, rcl;
    test_mem_init(&tm);
    memset(&rs, 0, sizeof rs);
    memset(&rcl, 0, sizeof rcl);
    rs.echo = 1;
    wsio_conn *srv = wsio_conn_new(WSIO_ROLE_SERVER, &cfg, &CB, &tm.mem, &rs);
    wsio_conn *cli = wsio_conn_new(WSIO_ROLE_CLIENT, &cfg, &CB, &tm.mem, &rcl);
    uint8_t *msg = malloc(4u << 20);
    uint8_t *buf = malloc(70000);
    assert_non_null(msg);
    assert_non_null(buf);
    for (size_t i = 0; i < (4u << 20); i++)
        msg[i] = (uint8_t)(i * 31 + (i >> 12));
    rec want;
    memset(&want, 0, sizeof want);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        assert_int_equal(wsio_conn_send(cli, WSIO_OP_BINARY, msg, sizes[i]), 0);
        logf_(&want, "B(");
        log_data(&want, msg, sizes[i]);
        logf_(&want, ")");
        /* Odd chunk sizes split headers and payloads alike. */
        size_t chunk = i % 2 ? 4093 : 65536 + 7;
        pump(cli, srv, buf, chunk);
        pump(srv, cli, buf, chunk);
    }
    assert_string_equal(rs.log, want.log);
    assert_string_equal(rcl.log, want.log);
    /* Everything went back after the last message. */
    assert_int_equal(tm.live_blocks, 2);
    assert_int_equal(wsio_conn_close(cli, 1000, "done", 4), 0);
    pump(cli, srv, buf, 3);
    pump(srv, cli, buf, 3);
    assert_int_equal(rs.closes, 1);
    assert_int_equal(rcl.closes, 1);
    assert_int_equal(rs.close.by_peer, 1);
    assert_int_equal(rs.close.clean, 1);
    assert_int_equal(rcl.close.by_peer, 0);
    assert_int_equal(rcl.close.clean, 1);
    assert_int_equal(rcl.close.code, 1000);
    assert_int_equal(wsio_conn_state(srv), WSIO_CONN_CLOSED);
    assert_int_equal(wsio_conn_state(cli), WSIO_CONN_CLOSED);
    wsio_conn_free(srv);
    wsio_conn_free(cli);
    free(msg);
    free(buf);
    assert_int_equal(tm.live_blocks, 0);
}

/* An allocator that tracks the largest block it was asked for. */
typedef struct biggest_mem {
    wsio_mem mem;
    size_t biggest;
} biggest_mem;

static void *big_malloc(size_t n, void *user)
{
    biggest_mem *b = user;
    if (n > b->biggest)
        b->biggest = n;
    return malloc(n);
}

static void *big_realloc(void *p, size_t n, void *user)
{
    biggest_mem *b = user;
    if (n > b->biggest)
        b->biggest = n;
    return realloc(p, n);
}

static void big_free(void *p, void *user)
{
    (void)user;
    free(p);
}

static void test_conn_split_frame_holds_only_what_arrived(void **state)
{
    (void)state;
    biggest_mem b = {{big_malloc, big_realloc, big_free, NULL}, 0};
    b.mem.user = &b;
    wsio_conn *c = wsio_conn_new(WSIO_ROLE_SERVER, NULL, NULL, &b.mem, NULL);
    assert_non_null(c);
    /* A masked binary frame announcing 1 MiB (the default limit), then a
     * single payload byte: the peer must not make us hold a megabyte for
     * fifteen bytes. */
    uint8_t in[] = {0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4, 'x'};
    assert_int_equal(wsio_conn_feed(c, in, sizeof in), (ssize_t)sizeof in);
    assert_int_equal(wsio_conn_state(c), WSIO_CONN_OPEN);
    assert_true(b.biggest < 4096);
    wsio_conn_free(c);
}

/* ---- direct send (wsio__conn_send_direct) -------------------------------- */

/* A socket that takes at most `take` bytes per write (0: would block). */
typedef struct sink {
    uint8_t *buf;
    size_t len, take, calls;
} sink;

static ssize_t sink_write(void *ctx, const wsio_iov *iov, size_t n)
{
    sink *s = ctx;
    s->calls++;
    size_t room = s->take;
    for (size_t i = 0; i < n && room > 0; i++) {
        size_t k = iov[i].len < room ? iov[i].len : room;
        memcpy(s->buf + s->len, iov[i].base, k);
        s->len += k;
        room -= k;
    }
    size_t took = s->take - room;
    return took ? (ssize_t)took : WSIO_EAGAIN;
}

/* The whole output of c: what the sink took, then the queue. */
static size_t sink_and_queue(wsio_conn *c, sink *s, uint8_t *out)
{
    memcpy(out, s->buf, s->len);
    size_t q = wsio_conn_buffered_amount(c);
    assert_int_equal(wsio_conn_write(c, out + s->len, q), q);
    return s->len + q;
}

static void test_conn_send_direct_same_bytes_at_every_split(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 125, 126, 300, 65535, 70000};
    enum { CAP = 70100 };
    uint8_t *payload = malloc(CAP), *want = malloc(CAP), *got = malloc(CAP);
    uint8_t *sent = malloc(CAP);
    assert_true(payload && want && got && sent);
    for (size_t i = 0; i < CAP; i++)
        payload[i] = (uint8_t)('a' + i % 26);
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        size_t len = sizes[z];
        for (int k = 0; k < 4; k++) {
            int op = k & 1 ? WSIO_OP_BINARY : WSIO_OP_TEXT;
            int before = k >> 1;
            test_mem tm;
            rec r;
            /* What queued sends put on the wire; with `before`, a ping and
             * a small message are queued first. */
            wsio_conn *c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
            if (before) {
                assert_int_equal(wsio_conn_ping(c, "p", 1), 0);
                assert_int_equal(wsio_conn_send(c, WSIO_OP_TEXT, "first", 5),
                                 0);
            }
            size_t old = wsio_conn_buffered_amount(c);
            assert_int_equal(
                wsio_conn_send(c, (enum wsio_opcode)op, payload, len), 0);
            size_t total = wsio_conn_buffered_amount(c);
            assert_int_equal(wsio_conn_write(c, want, total), total);
            wsio_conn_free(c);
            size_t hlen = total - old - len;
            size_t takes[] = {0,          1,
                              old,        old + hlen - 1,
                              old + hlen, old + hlen + 1,
                              total / 2,  total - 1,
                              total,      total + 10};
            for (size_t t = 0; t < sizeof takes / sizeof takes[0]; t++) {
                sink s = {sent, 0, takes[t], 0};
                size_t written = 99;
                c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
                if (before) {
                    assert_int_equal(wsio_conn_ping(c, "p", 1), 0);
                    assert_int_equal(
                        wsio_conn_send(c, WSIO_OP_TEXT, "first", 5), 0);
                }
                assert_int_equal(
                    wsio__conn_send_direct(c, (enum wsio_opcode)op, payload,
                                           len, sink_write, &s, &written),
                    0);
                assert_int_equal(s.calls, 1);
                assert_int_equal(written, s.len);
                assert_int_equal(written, takes[t] < total ? takes[t] : total);
                assert_int_equal(wsio_conn_buffered_amount(c), total - written);
                assert_int_equal(sink_and_queue(c, &s, got), total);
                assert_memory_equal(got, want, total);
                wsio_conn_free(c);
                assert_int_equal(tm.live_blocks, 0);
            }
        }
    }
    free(payload);
    free(want);
    free(got);
    free(sent);
}

static void
test_conn_send_direct_refuses_or_queues_what_it_cannot_write(void **state)
{
    (void)state;
    uint8_t buf[256], out[256];
    test_mem tm;
    rec r;
    size_t written = 99;
    out_frame f[4];
    /* A client masks: queued, with a key. */
    wsio_conn *c = new_conn(WSIO_ROLE_CLIENT, NULL, &CB, &tm, &r);
    sink s = {buf, 0, sizeof buf, 0};
    assert_int_equal(wsio__conn_send_direct(c, WSIO_OP_BINARY, "xy", 2,
                                            sink_write, &s, &written),
                     0);
    assert_int_equal(s.calls, 0);
    assert_int_equal(written, 0);
    assert_int_equal(drain_frames(c, f, 4), 1);
    assert_int_equal(f[0].h.masked, 1);
    assert_memory_equal(f[0].payload, "xy", 2);
    wsio_conn_free(c);
    /* Invalid text, or a close already queued: refused, nothing written. */
    c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
    assert_int_equal(wsio__conn_send_direct(c, WSIO_OP_TEXT, "\xC0\x80", 2,
                                            sink_write, &s, &written),
                     WSIO_EUTF8);
    assert_int_equal(wsio_conn_close(c, WSIO_CLOSE_NORMAL, NULL, 0), 0);
    size_t q = wsio_conn_buffered_amount(c);
    assert_int_equal(wsio_conn_write(c, out, sizeof out), q);
    assert_int_equal(wsio__conn_send_direct(c, WSIO_OP_TEXT, "late", 4,
                                            sink_write, &s, &written),
                     WSIO_ECLOSED);
    assert_int_equal(s.calls, 0);
    assert_int_equal(written, 0);
    wsio_conn_free(c);
    /* Out of memory for the rest of the frame: with none of it written,
     * refused and the connection intact; with part of it written, nothing
     * more is sent (nothing after would make sense) and the caller is left
     * to end the connection: no close is reported from inside the send. */
    for (size_t take = 0; take <= 3; take += 3) {
        c = new_conn(WSIO_ROLE_SERVER, NULL, &CB, &tm, &r);
        s.len = 0;
        s.take = take;
        test_mem_fail_at(&tm, 0);
        assert_int_equal(wsio__conn_send_direct(c, WSIO_OP_BINARY, "payload", 7,
                                                sink_write, &s, &written),
                         WSIO_ENOMEM);
        assert_int_equal(written, take);
        assert_int_equal(r.closes, 0);
        assert_int_equal(wsio_conn_buffered_amount(c), 0);
        assert_int_equal(wsio_conn_send(c, WSIO_OP_BINARY, "x", 1),
                         take ? WSIO_ECLOSED : 0);
        wsio_conn_free(c);
    }
    assert_int_equal(tm.live_blocks, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_conn_feed_reference_stream_same_events_in_every_split),
        cmocka_unit_test(test_conn_feed_whole_message_is_zero_copy),
        cmocka_unit_test(test_conn_feed_fails_on_each_rule_with_its_close_code),
        cmocka_unit_test(test_conn_feed_fails_on_unmasked_client_frame),
        cmocka_unit_test(
            test_conn_feed_fails_on_length_top_bit_and_control_size),
        cmocka_unit_test(test_conn_feed_invalid_utf8_fails_mid_frame),
        cmocka_unit_test(test_conn_callback_error_fails_with_mapped_code),
        cmocka_unit_test(test_conn_close_codes_echoed_or_rejected),
        cmocka_unit_test(test_conn_close_empty_is_answered_empty),
        cmocka_unit_test(test_conn_close_initiated_waits_for_reply),
        cmocka_unit_test(test_conn_close_rejects_bad_arguments),
        cmocka_unit_test(test_conn_holds_receive_state_only_while_split),
        cmocka_unit_test(test_conn_fails_1011_without_memory_for_split_state),
        cmocka_unit_test(test_conn_shed_while_keeping_split_state),
        cmocka_unit_test(test_conn_abort_reports_1006_once_and_drops_output),
        cmocka_unit_test(test_conn_limits_at_and_one_over),
        cmocka_unit_test(test_conn_limits_checked_before_allocating),
        cmocka_unit_test(test_conn_split_frame_holds_only_what_arrived),
        cmocka_unit_test(test_conn_stream_pieces_follow_bytes),
        cmocka_unit_test(test_conn_stream_fails_utf8_before_delivering),
        cmocka_unit_test(test_conn_ping_burst_gets_a_pong_each),
        cmocka_unit_test(test_conn_pongs_coalesce_while_output_stalls),
        cmocka_unit_test(test_conn_pong_replaced_only_while_last_and_unstarted),
        cmocka_unit_test(test_conn_output_marks_stop_and_resume_reading),
        cmocka_unit_test(test_conn_send_block_released_when_output_drains),
        cmocka_unit_test(test_conn_fragmented_send_spans_drains),
        cmocka_unit_test(test_conn_pong_replacement_across_block_release),
        cmocka_unit_test(test_conn_send_block_oom_at_each_place),
        cmocka_unit_test(test_conn_auto_replies_without_a_block_fail_1011),
        cmocka_unit_test(test_conn_shared_marks_bound_a_peer_that_never_reads),
        cmocka_unit_test(test_conn_codec_block_oom),
        cmocka_unit_test(test_conn_small_fragments_of_a_big_message_pass),
        cmocka_unit_test(test_conn_ten_million_empty_fragments_are_refused),
        cmocka_unit_test(test_conn_max_fragments_is_an_optional_cap),
        cmocka_unit_test(test_conn_send_fragment_checks_order_and_utf8),
        cmocka_unit_test(test_conn_client_masks_each_frame_with_fresh_key),
        cmocka_unit_test(test_conn_client_mask_hook_failure_fails_the_send),
        cmocka_unit_test(test_conn_output_partial_consumption_at_every_byte),
        cmocka_unit_test(test_conn_output_queue_grows_without_reordering),
        cmocka_unit_test(test_conn_evict_takes_oldest_of_tag_until_need),
        cmocka_unit_test(
            test_conn_evict_keeps_started_and_transport_held_frames),
        cmocka_unit_test(test_conn_evict_all_releases_queue_memory),
        cmocka_unit_test(test_conn_send_direct_same_bytes_at_every_split),
        cmocka_unit_test(
            test_conn_send_direct_refuses_or_queues_what_it_cannot_write),
        cmocka_unit_test(test_conn_pause_returns_consumed_and_resumes),
        cmocka_unit_test(test_conn_feed_inside_callback_is_refused),
        cmocka_unit_test(test_conn_free_inside_callbacks_is_deferred),
        cmocka_unit_test(test_conn_close_inside_callback_keeps_reading),
        cmocka_unit_test(test_conn_user_role_and_want_read),
        cmocka_unit_test(test_conn_oom_every_allocation_fails_cleanly),
        cmocka_unit_test(test_conn_pair_client_server_round_trip),
    };
    return cmocka_run_group_tests_name("conn", tests, NULL, NULL);
}
