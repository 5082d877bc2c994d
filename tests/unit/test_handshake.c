/*
 * tests/unit/test_handshake.c - layer 1: SHA-1, base64, HTTP head parsing,
 * upgrade validation, the handshake's messages, and the client's checks.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "testutil.h"

#include "handshake_base64.h"
#include "handshake_sha1.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define S(lit) lit, sizeof(lit) - 1

/* RFC 6455 section 5.7: a masked "Hello" frame, which a client may send
 * right behind its request. */
static const char frame_bytes[] =
    "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
#define FRAME_LEN (sizeof frame_bytes - 1)

/* RFC 6455 section 1.2, the client's handshake. */
static const char rfc_request[] =
    "GET /chat HTTP/1.1\r\n"
    "Host: server.example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: http://example.com\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

/* RFC 6455 section 1.2, the server's handshake (plus Connection's case as
 * the RFC writes it). */
static const char rfc_response[] =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "Sec-WebSocket-Protocol: chat\r\n"
    "\r\n";

static int slice_is(wsio_slice s, const char *str)
{
    return s.len == strlen(str) && memcmp(s.ptr, str, s.len) == 0;
}

/* ---- SHA-1 and base64 ---------------------------------------------------- */

static void test_handshake_sha1_matches_fips_vectors(void **state)
{
    (void)state;
    /* FIPS 180 examples (and the NIST "SHA1ShortMsg"-style empty string). */
    static const struct {
        const char *msg;
        const char *digest;
    } vectors[] = {
        {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
        {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
         "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "a49b2446a02c645bf419f995b67091253a04a259"},
    };
    for (size_t i = 0; i < ARRAY_LEN(vectors); i++) {
        uint8_t expect[20], got[20];
        test_hex(vectors[i].digest, expect, sizeof expect);
        wsio__sha1(vectors[i].msg, strlen(vectors[i].msg), got);
        assert_memory_equal(got, expect, 20);

        /* The same digest when fed one byte at a time. */
        wsio__sha1_ctx ctx;
        wsio__sha1_init(&ctx);
        for (const char *p = vectors[i].msg; *p; p++)
            wsio__sha1_update(&ctx, p, 1);
        wsio__sha1_final(&ctx, got);
        assert_memory_equal(got, expect, 20);
    }
}

static void test_handshake_sha1_hashes_one_million_a(void **state)
{
    (void)state;
    uint8_t expect[20], got[20];
    test_hex("34aa973cd4c4daa4f61eeb2bdbad27316534016f", expect, sizeof expect);
    char chunk[1000];
    memset(chunk, 'a', sizeof chunk);
    /* Uneven chunks cross block boundaries at every offset. */
    wsio__sha1_ctx ctx;
    wsio__sha1_init(&ctx);
    size_t left = 1000000, step = 1;
    while (left > 0) {
        size_t n = step < left ? step : left;
        wsio__sha1_update(&ctx, chunk, n);
        left -= n;
        step = step % 997 + 1;
    }
    wsio__sha1_final(&ctx, got);
    assert_memory_equal(got, expect, 20);
}

/* RFC 4648 section 10. */
static const struct {
    const char *plain;
    const char *encoded;
} base64_vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_handshake_base64_matches_rfc4648_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(base64_vectors); i++) {
        const char *plain = base64_vectors[i].plain;
        const char *enc = base64_vectors[i].encoded;
        char out[16];
        size_t n =
            wsio__base64_encode((const uint8_t *)plain, strlen(plain), out);
        assert_int_equal(n, strlen(enc));
        assert_int_equal(n, WSIO__BASE64_ENCODED_LEN(strlen(plain)));
        assert_memory_equal(out, enc, n);

        uint8_t dec[16];
        ssize_t d = wsio__base64_decode(enc, strlen(enc), dec, sizeof dec);
        assert_int_equal(d, (ssize_t)strlen(plain));
        assert_memory_equal(dec, plain, strlen(plain));
    }
}

static void test_handshake_base64_decode_rejects_non_strict_input(void **state)
{
    (void)state;
    static const char *bad[] = {
        "Zg=",      /* length not a multiple of 4 */
        "Zg",       /* unpadded */
        "Zg=a",     /* '=' before the end */
        "Z===",     /* three pads */
        "====",     /* nothing but padding */
        "=m9v",     /* padding first */
        "Zh==",     /* non-zero bits under the padding */
        "Zm9=",     /* same, one pad */
        "Zm 9",     /* whitespace */
        "Zm9v\r\n", /* line break */
        "Zm9-",     /* base64url alphabet */
        "Zm9\x80",  /* high byte */
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        uint8_t out[16];
        assert_int_equal(
            wsio__base64_decode(bad[i], strlen(bad[i]), out, sizeof out),
            WSIO_EINVAL);
    }
    uint8_t small[5];
    assert_int_equal(wsio__base64_decode(S("Zm9vYmFy"), small, sizeof small),
                     WSIO_ENOSPC);
}

static void test_handshake_accept_key_matches_rfc_example(void **state)
{
    (void)state;
    char out[WSIO_HANDSHAKE_ACCEPT_LEN + 1];
    memset(out, 'x', sizeof out);
    /* RFC 6455 section 1.3. */
    assert_int_equal(
        wsio_handshake_accept_key(S("dGhlIHNhbXBsZSBub25jZQ=="), out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");

    char long_key[257];
    memset(long_key, 'A', sizeof long_key);
    assert_int_equal(wsio_handshake_accept_key(long_key, 256, out), 0);
    assert_int_equal(wsio_handshake_accept_key(long_key, 257, out),
                     WSIO_EINVAL);
    assert_int_equal(wsio_handshake_accept_key(NULL, 0, out), WSIO_EINVAL);
}

static void test_handshake_make_key_encodes_nonce(void **state)
{
    (void)state;
    char key[WSIO_HANDSHAKE_KEY_LEN + 1];
    /* RFC 6455 section 1.3: the nonce "the sample nonce". */
    assert_int_equal(
        wsio_handshake_make_key((const uint8_t *)"the sample nonce", key), 0);
    assert_string_equal(key, "dGhlIHNhbXBsZSBub25jZQ==");

    char other[WSIO_HANDSHAKE_KEY_LEN + 1];
    assert_int_equal(wsio_handshake_make_key(NULL, key), 0);
    assert_int_equal(wsio_handshake_make_key(NULL, other), 0);
    assert_int_equal(strlen(key), WSIO_HANDSHAKE_KEY_LEN);
    assert_string_not_equal(key, other);
    uint8_t nonce[16];
    assert_int_equal(wsio__base64_decode(key, strlen(key), nonce, sizeof nonce),
                     16);
}

/* ---- parsing: every vector whole, byte by byte, and split ------------------
 */

static int parse_request_copy(const char *bytes, size_t len)
{
    /* An exact-size heap copy, so a sanitizer build sees any over-read. */
    char *copy = test_malloc(len ? len : 1);
    memcpy(copy, bytes, len);
    wsio_http_header hdrs[64];
    wsio_http_request req;
    ssize_t rc = wsio_http_request_parse(copy, len, &req, hdrs, 64, NULL);
    test_free(copy);
    return (int)rc;
}

static int parse_response_copy(const char *bytes, size_t len)
{
    char *copy = test_malloc(len ? len : 1);
    memcpy(copy, bytes, len);
    wsio_http_header hdrs[64];
    wsio_http_response resp;
    ssize_t rc = wsio_http_response_parse(copy, len, &resp, hdrs, 64, NULL);
    test_free(copy);
    return (int)rc;
}

typedef int (*parse_fn)(const char *bytes, size_t len);

/*
 * Feeds head + a frame the three ways a reader may see it. expect is the
 * head's length for a valid head, or the error it must give.
 *  - whole, with the frame behind it: expect, and the frame left over;
 *  - one byte at a time: EAGAIN until the answer is known, then expect
 *    from there on;
 *  - split at every offset: the first part alone is EAGAIN or expect, the
 *    whole gives expect.
 */
static void feed_all_ways(parse_fn parse, const char *head, size_t head_len,
                          int expect)
{
    size_t total = head_len + FRAME_LEN;
    char *buf = test_malloc(total);
    memcpy(buf, head, head_len);
    memcpy(buf + head_len, frame_bytes, FRAME_LEN);

    int whole = parse(buf, total);
    assert_int_equal(whole, expect);
    if (expect > 0)
        assert_int_equal((size_t)expect, head_len);

    int answered = 0;
    for (size_t k = 0; k <= total; k++) {
        int rc = parse(buf, k);
        if (answered) {
            assert_int_equal(rc, expect);
        } else if (rc != WSIO_EAGAIN) {
            assert_int_equal(rc, expect);
            answered = 1;
        }
        if (expect > 0)
            assert_int_equal(rc, k < head_len ? WSIO_EAGAIN : expect);
    }
    assert_true(answered);

    for (size_t split = 0; split <= head_len; split++) {
        int first = parse(buf, split);
        assert_true(first == WSIO_EAGAIN || first == expect);
        assert_int_equal(parse(buf, total), expect);
    }
    test_free(buf);
}

typedef struct parse_vector {
    const char *name;
    const char *bytes;
    int expect; /* 0: valid, the whole string is the head */
} parse_vector;

static const parse_vector request_vectors[] = {
    {"rfc 6455 1.2", rfc_request, 0},
    {"no headers", "GET / HTTP/1.1\r\n\r\n", 0},
    {"http/1.0 parses", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", 0},
    {"empty value", "GET / HTTP/1.1\r\nX-Empty:\r\n\r\n", 0},
    {"ows around value", "GET / HTTP/1.1\r\nX: \t v \t\r\n\r\n", 0},
    {"obs-text value", "GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n", 0},
    {"token chars",
     "M-1!#$%&'*+.^_`|~ /x?y=1&z HTTP/1.1\r\n"
     "A-b_c.d!#$%&'*+^`|~9: v\r\n\r\n",
     0},
    {"absolute target", "GET http://h/p?q HTTP/1.1\r\n\r\n", 0},
    {"bare LF ends request line", "GET / HTTP/1.1\n\r\n", WSIO_EHS_MALFORMED},
    {"bare LF ends header", "GET / HTTP/1.1\r\nHost: a\n\r\n",
     WSIO_EHS_MALFORMED},
    {"bare LF ends head", "GET / HTTP/1.1\r\nHost: a\r\n\n",
     WSIO_EHS_MALFORMED},
    {"CR inside value", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
     WSIO_EHS_MALFORMED},
    {"CR alone as blank line", "GET / HTTP/1.1\r\n\rX: a\r\n\r\n",
     WSIO_EHS_MALFORMED},
    {"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
     WSIO_EHS_MALFORMED},
    {"obs-fold", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", WSIO_EHS_MALFORMED},
    {"obs-fold tab", "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n",
     WSIO_EHS_MALFORMED},
    {"empty name", "GET / HTTP/1.1\r\n: a\r\n\r\n", WSIO_EHS_MALFORMED},
    {"no colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", WSIO_EHS_MALFORMED},
    {"non-token name", "GET / HTTP/1.1\r\nX@Y: a\r\n\r\n", WSIO_EHS_MALFORMED},
    {"control in value", "GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n",
     WSIO_EHS_MALFORMED},
    {"DEL in value", "GET / HTTP/1.1\r\nX: a\x7fz\r\n\r\n", WSIO_EHS_MALFORMED},
    {"non-token method", "G(T / HTTP/1.1\r\n\r\n", WSIO_EHS_MALFORMED},
    {"empty method", " / HTTP/1.1\r\n\r\n", WSIO_EHS_MALFORMED},
    {"two spaces", "GET  / HTTP/1.1\r\n\r\n", WSIO_EHS_MALFORMED},
    {"no version", "GET /\r\n\r\n", WSIO_EHS_MALFORMED},
    {"no target", "GET HTTP/1.1\r\n\r\n", WSIO_EHS_MALFORMED},
    {"http/2.0", "GET / HTTP/2.0\r\n\r\n", WSIO_EHS_MALFORMED},
    {"two-digit minor", "GET / HTTP/1.10\r\n\r\n", WSIO_EHS_MALFORMED},
    {"lowercase http", "GET / http/1.1\r\n\r\n", WSIO_EHS_MALFORMED},
    {"space after version", "GET / HTTP/1.1 \r\n\r\n", WSIO_EHS_MALFORMED},
    {"DEL in target", "GET /\x7f HTTP/1.1\r\n\r\n", WSIO_EHS_MALFORMED},
    {"high byte in target", "GET /\xc3\xa9 HTTP/1.1\r\n\r\n",
     WSIO_EHS_MALFORMED},
    {"leading blank line", "\r\nGET / HTTP/1.1\r\n\r\n", WSIO_EHS_MALFORMED},
    {"tls hello", "\x16\x03\x01\x02\x05\x01\x02\x01\xfc\x03\x03\r\n\r\n",
     WSIO_EHS_MALFORMED},
};

static void test_handshake_request_parse_vectors_any_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(request_vectors); i++) {
        const parse_vector *v = &request_vectors[i];
        size_t len = strlen(v->bytes);
        print_message("request vector: %s\n", v->name);
        feed_all_ways(parse_request_copy, v->bytes, len,
                      v->expect ? v->expect : (int)len);
    }
    /* A NUL byte in a value is a control character too. */
    static const char nul_value[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
    feed_all_ways(parse_request_copy, nul_value, sizeof nul_value - 1,
                  WSIO_EHS_MALFORMED);
}

static const parse_vector response_vectors[] = {
    {"rfc 6455 1.2", rfc_response, 0},
    {"empty reason", "HTTP/1.1 101 \r\n\r\n", 0},
    {"reject", "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", 0},
    {"no space after status", "HTTP/1.1 101\r\n\r\n", WSIO_EHS_MALFORMED},
    {"two-digit status", "HTTP/1.1 10 x\r\n\r\n", WSIO_EHS_MALFORMED},
    {"letter in status", "HTTP/1.1 1o1 x\r\n\r\n", WSIO_EHS_MALFORMED},
    {"control in reason", "HTTP/1.1 101 a\x02\r\n\r\n", WSIO_EHS_MALFORMED},
    {"http/1.x only", "HTTP/2.0 101 x\r\n\r\n", WSIO_EHS_MALFORMED},
    {"not http", "ICY 200 OK\r\n\r\n", WSIO_EHS_MALFORMED},
    {"obs-fold", "HTTP/1.1 101 x\r\nUpgrade: a\r\n b\r\n\r\n",
     WSIO_EHS_MALFORMED},
    {"bare LF", "HTTP/1.1 101 x\nUpgrade: a\r\n\r\n", WSIO_EHS_MALFORMED},
};

static void test_handshake_response_parse_vectors_any_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(response_vectors); i++) {
        const parse_vector *v = &response_vectors[i];
        size_t len = strlen(v->bytes);
        print_message("response vector: %s\n", v->name);
        feed_all_ways(parse_response_copy, v->bytes, len,
                      v->expect ? v->expect : (int)len);
    }
}

static void test_handshake_request_parse_fills_fields(void **state)
{
    (void)state;
    static const char head[] = "GET /chat?room=1&x HTTP/1.1\r\n"
                               "host:  example.com:8080 \t\r\n"
                               "X-Empty:\r\n"
                               "\r\n";
    wsio_http_header hdrs[4];
    wsio_http_request req;
    ssize_t n = wsio_http_request_parse(S(head), &req, hdrs, 4, NULL);
    assert_int_equal(n, sizeof head - 1);
    assert_true(slice_is(req.method, "GET"));
    assert_true(slice_is(req.target, "/chat?room=1&x"));
    assert_true(slice_is(req.path, "/chat"));
    assert_true(slice_is(req.query, "room=1&x"));
    assert_int_equal(req.version_major, 1);
    assert_int_equal(req.version_minor, 1);
    assert_ptr_equal(req.headers, hdrs);
    assert_int_equal(req.num_headers, 2);
    assert_true(slice_is(hdrs[0].name, "host"));              /* case kept */
    assert_true(slice_is(hdrs[0].value, "example.com:8080")); /* trimmed */
    assert_true(slice_is(hdrs[1].name, "X-Empty"));
    assert_int_equal(hdrs[1].value.len, 0);

    wsio_slice v;
    assert_true(wsio_http_header_find(hdrs, 2, "HOST", &v));
    assert_true(slice_is(v, "example.com:8080"));
    assert_false(wsio_http_header_find(hdrs, 2, "Origin", &v));

    assert_int_equal(wsio_http_request_parse(S("GET /p HTTP/1.1\r\n\r\n"), &req,
                                             hdrs, 4, NULL),
                     19);
    assert_true(slice_is(req.path, "/p"));
    assert_int_equal(req.query.len, 0);

    wsio_http_response resp;
    assert_int_equal(
        wsio_http_response_parse(S(rfc_response), &resp, hdrs, 4, NULL),
        sizeof rfc_response - 1);
    assert_int_equal(resp.status, 101);
    assert_true(slice_is(resp.reason, "Switching Protocols"));
    assert_int_equal(resp.num_headers, 4);
}

static void test_handshake_parse_rejects_null_arguments(void **state)
{
    (void)state;
    wsio_http_header hdrs[4];
    wsio_http_request req;
    wsio_http_response resp;
    assert_int_equal(wsio_http_request_parse(NULL, 3, &req, hdrs, 4, NULL),
                     WSIO_EINVAL);
    assert_int_equal(wsio_http_request_parse("GET", 3, NULL, hdrs, 4, NULL),
                     WSIO_EINVAL);
    assert_int_equal(wsio_http_request_parse("GET", 3, &req, NULL, 4, NULL),
                     WSIO_EINVAL);
    assert_int_equal(wsio_http_response_parse(NULL, 3, &resp, hdrs, 4, NULL),
                     WSIO_EINVAL);
    assert_int_equal(wsio_handshake_validate_request(NULL, NULL), WSIO_EINVAL);
}

/* ---- limits -------------------------------------------------------------- */

/* "GET / HTTP/1.1\r\n", n header lines "H<i>: v\r\n", the blank line. */
static size_t make_head_with_headers(char *out, size_t cap, size_t n)
{
    size_t len = 0;
    len += (size_t)snprintf(out + len, cap - len, "GET / HTTP/1.1\r\n");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, cap - len, "H%zu: v\r\n", i);
    len += (size_t)snprintf(out + len, cap - len, "\r\n");
    assert_true(len < cap);
    return len;
}

/* A head of exactly size bytes: one X header padded to fit. */
static void make_head_of_size(char *out, size_t size)
{
    static const char start[] = "GET / HTTP/1.1\r\nX: ";
    size_t fixed = sizeof start - 1 + 4; /* value's CRLF + blank line */
    assert_true(size > fixed);
    memcpy(out, start, sizeof start - 1);
    memset(out + sizeof start - 1, 'a', size - fixed);
    memcpy(out + size - 4, "\r\n\r\n", 4);
}

static void test_handshake_parse_limits_header_count(void **state)
{
    (void)state;
    static char head[4096];
    wsio_http_header hdrs[100];
    wsio_http_request req;

    size_t len = make_head_with_headers(head, sizeof head, 64);
    assert_int_equal(wsio_http_request_parse(head, len, &req, hdrs, 100, NULL),
                     (ssize_t)len);
    assert_int_equal(req.num_headers, 64);
    feed_all_ways(parse_request_copy, head, len, (int)len);

    len = make_head_with_headers(head, sizeof head, 65);
    assert_int_equal(wsio_http_request_parse(head, len, &req, hdrs, 100, NULL),
                     WSIO_EHS_TOOMANYHEADERS);
    feed_all_ways(parse_request_copy, head, len, WSIO_EHS_TOOMANYHEADERS);

    /* The smaller of the array size and the configured limit wins. */
    wsio_http_limits lim;
    wsio_http_limits_default(&lim);
    assert_int_equal(lim.max_header_bytes, 8192);
    assert_int_equal(lim.max_headers, 64);
    lim.max_headers = 3;
    len = make_head_with_headers(head, sizeof head, 3);
    assert_int_equal(wsio_http_request_parse(head, len, &req, hdrs, 100, &lim),
                     (ssize_t)len);
    assert_int_equal(wsio_http_request_parse(head, len, &req, hdrs, 2, NULL),
                     WSIO_EHS_TOOMANYHEADERS);
    len = make_head_with_headers(head, sizeof head, 4);
    assert_int_equal(wsio_http_request_parse(head, len, &req, hdrs, 100, &lim),
                     WSIO_EHS_TOOMANYHEADERS);
    assert_int_equal(wsio_http_request_parse(head, len, &req, hdrs, 4, NULL),
                     (ssize_t)len);
}

static void test_handshake_parse_limits_header_bytes(void **state)
{
    (void)state;
    static char head[8193 + FRAME_LEN];
    wsio_http_header hdrs[4];
    wsio_http_request req;

    /* Exactly 8192 bytes, with frame bytes behind it. */
    make_head_of_size(head, 8192);
    memcpy(head + 8192, frame_bytes, FRAME_LEN);
    assert_int_equal(
        wsio_http_request_parse(head, 8192 + FRAME_LEN, &req, hdrs, 4, NULL),
        8192);
    assert_int_equal(wsio_http_request_parse(head, 8191, &req, hdrs, 4, NULL),
                     WSIO_EAGAIN);

    /* One over: known as soon as 8192 bytes hold no end of head. */
    make_head_of_size(head, 8193);
    assert_int_equal(wsio_http_request_parse(head, 8191, &req, hdrs, 4, NULL),
                     WSIO_EAGAIN);
    assert_int_equal(wsio_http_request_parse(head, 8192, &req, hdrs, 4, NULL),
                     WSIO_EHS_TOOLARGE);
    assert_int_equal(wsio_http_request_parse(head, 8193, &req, hdrs, 4, NULL),
                     WSIO_EHS_TOOLARGE);

    /* A configured limit, at and one over, byte by byte. */
    wsio_http_limits lim = {100, 64};
    make_head_of_size(head, 100);
    for (size_t k = 0; k < 100; k++)
        assert_int_equal(wsio_http_request_parse(head, k, &req, hdrs, 4, &lim),
                         WSIO_EAGAIN);
    assert_int_equal(wsio_http_request_parse(head, 100, &req, hdrs, 4, &lim),
                     100);
    make_head_of_size(head, 101);
    for (size_t k = 0; k < 100; k++)
        assert_int_equal(wsio_http_request_parse(head, k, &req, hdrs, 4, &lim),
                         WSIO_EAGAIN);
    assert_int_equal(wsio_http_request_parse(head, 100, &req, hdrs, 4, &lim),
                     WSIO_EHS_TOOLARGE);
    assert_int_equal(wsio_http_request_parse(head, 101, &req, hdrs, 4, &lim),
                     WSIO_EHS_TOOLARGE);

    /* Same for responses. */
    wsio_http_response resp;
    static const char resp_head[] = "HTTP/1.1 101 x\r\n\r\n"; /* 18 bytes */
    lim.max_header_bytes = 18;
    assert_int_equal(
        wsio_http_response_parse(S(resp_head), &resp, hdrs, 4, &lim), 18);
    lim.max_header_bytes = 17;
    assert_int_equal(
        wsio_http_response_parse(S(resp_head), &resp, hdrs, 4, &lim),
        WSIO_EHS_TOOLARGE);
}

/* ---- header lists ----------------------------------------------------------
 */

static void test_handshake_token_iter_spans_repeated_headers(void **state)
{
    (void)state;
    static const char head[] =
        "GET / HTTP/1.1\r\n"
        "Connection: keep-alive, Upgrade\r\n"
        "Host: a\r\n"
        "connection: ,  x-foo ,, \t\r\n"
        "CONNECTION:\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; x=\"a,b\", "
        "x-bar;q=\"\\\"\"\r\n"
        "\r\n";
    wsio_http_header hdrs[8];
    wsio_http_request req;
    assert_int_equal(wsio_http_request_parse(S(head), &req, hdrs, 8, NULL),
                     sizeof head - 1);

    static const char *conn_expect[] = {"keep-alive", "Upgrade", "x-foo"};
    wsio_http_token_iter it;
    wsio_slice tok;
    wsio_http_token_iter_init(&it, hdrs, req.num_headers, "Connection");
    for (size_t i = 0; i < ARRAY_LEN(conn_expect); i++) {
        assert_true(wsio_http_token_iter_next(&it, &tok));
        assert_true(slice_is(tok, conn_expect[i]));
    }
    assert_false(wsio_http_token_iter_next(&it, &tok));
    assert_false(wsio_http_token_iter_next(&it, &tok));

    /* A comma inside a quoted parameter does not split the element. */
    static const char *ext_expect[] = {"permessage-deflate; x=\"a,b\"",
                                       "x-bar;q=\"\\\"\""};
    wsio_http_token_iter_init(&it, hdrs, req.num_headers,
                              "sec-websocket-extensions");
    for (size_t i = 0; i < ARRAY_LEN(ext_expect); i++) {
        assert_true(wsio_http_token_iter_next(&it, &tok));
        assert_true(slice_is(tok, ext_expect[i]));
    }
    assert_false(wsio_http_token_iter_next(&it, &tok));

    wsio_http_token_iter_init(&it, hdrs, req.num_headers, "Upgrade");
    assert_false(wsio_http_token_iter_next(&it, &tok));

    assert_true(wsio_http_header_has_token(hdrs, req.num_headers, "connection",
                                           "upgrade"));
    assert_true(wsio_http_header_has_token(hdrs, req.num_headers, "Connection",
                                           "X-FOO"));
    assert_false(wsio_http_header_has_token(hdrs, req.num_headers, "Connection",
                                            "keep"));
    assert_true(wsio_http_header_has_token(hdrs, req.num_headers,
                                           "Sec-WebSocket-Extensions",
                                           "permessage-deflate"));
    assert_true(wsio_http_header_has_token(
        hdrs, req.num_headers, "Sec-WebSocket-Extensions", "x-bar"));
}

/* ---- validating a request -------------------------------------------------
 */

typedef struct validate_vector {
    const char *name;
    const char *head;
    int expect;
} validate_vector;

#define REQ_LINE "GET /chat HTTP/1.1\r\n"
#define HOST "Host: server.example.com\r\n"
#define UPGRADE "Upgrade: websocket\r\n"
#define CONNECTION "Connection: Upgrade\r\n"
#define KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define VERSION "Sec-WebSocket-Version: 13\r\n"

static const validate_vector validate_vectors[] = {
    {"rfc", rfc_request, 0},
    {"minimal", REQ_LINE HOST UPGRADE CONNECTION KEY VERSION "\r\n", 0},
    {"case and lists",
     "GET / HTTP/1.1\r\nhost: h\r\nUPGRADE: WebSocket\r\n"
     "connection: keep-alive, upgrade\r\nsec-websocket-key: "
     "dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n",
     0},
    {"http/1.9",
     "GET / HTTP/1.9\r\n" HOST UPGRADE CONNECTION KEY VERSION "\r\n", 0},
    {"post",
     "POST /chat HTTP/1.1\r\n" HOST UPGRADE CONNECTION KEY VERSION "\r\n",
     WSIO_EHS_METHOD},
    {"lowercase get",
     "get /chat HTTP/1.1\r\n" HOST UPGRADE CONNECTION KEY VERSION "\r\n",
     WSIO_EHS_METHOD},
    {"method before key", "PUT / HTTP/1.1\r\n\r\n", WSIO_EHS_METHOD},
    {"http/1.0",
     "GET /chat HTTP/1.0\r\n" HOST UPGRADE CONNECTION KEY VERSION "\r\n",
     WSIO_EHS_HTTPVERSION},
    {"no host", REQ_LINE UPGRADE CONNECTION KEY VERSION "\r\n", WSIO_EHS_HOST},
    {"empty host", REQ_LINE "Host:\r\n" UPGRADE CONNECTION KEY VERSION "\r\n",
     WSIO_EHS_HOST},
    {"two hosts",
     REQ_LINE HOST "Host: b\r\n" UPGRADE CONNECTION KEY VERSION "\r\n",
     WSIO_EHS_HOST},
    {"no upgrade", REQ_LINE HOST CONNECTION KEY VERSION "\r\n",
     WSIO_EHS_UPGRADE},
    {"upgrade h2c",
     REQ_LINE HOST "Upgrade: h2c\r\n" CONNECTION KEY VERSION "\r\n",
     WSIO_EHS_UPGRADE},
    {"no connection", REQ_LINE HOST UPGRADE KEY VERSION "\r\n",
     WSIO_EHS_CONNECTION},
    {"connection keep-alive",
     REQ_LINE HOST UPGRADE "Connection: keep-alive\r\n" KEY VERSION "\r\n",
     WSIO_EHS_CONNECTION},
    {"no key", REQ_LINE HOST UPGRADE CONNECTION VERSION "\r\n", WSIO_EHS_KEY},
    {"two keys", REQ_LINE HOST UPGRADE CONNECTION KEY KEY VERSION "\r\n",
     WSIO_EHS_KEY},
    {"key of 15 bytes",
     REQ_LINE HOST UPGRADE CONNECTION
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n" VERSION "\r\n",
     WSIO_EHS_KEY},
    {"key of 17 bytes",
     REQ_LINE HOST UPGRADE CONNECTION
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZWU=\r\n" VERSION "\r\n",
     WSIO_EHS_KEY},
    {"key not base64",
     REQ_LINE HOST UPGRADE CONNECTION
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j*Q==\r\n" VERSION "\r\n",
     WSIO_EHS_KEY},
    {"key non-canonical",
     REQ_LINE HOST UPGRADE CONNECTION
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\n" VERSION "\r\n",
     WSIO_EHS_KEY},
    {"key unpadded",
     REQ_LINE HOST UPGRADE CONNECTION
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n" VERSION "\r\n",
     WSIO_EHS_KEY},
    {"no version", REQ_LINE HOST UPGRADE CONNECTION KEY "\r\n",
     WSIO_EHS_VERSION},
    {"version 8",
     REQ_LINE HOST UPGRADE CONNECTION KEY "Sec-WebSocket-Version: 8\r\n\r\n",
     WSIO_EHS_VERSION},
    {"version 013",
     REQ_LINE HOST UPGRADE CONNECTION KEY "Sec-WebSocket-Version: 013\r\n\r\n",
     WSIO_EHS_VERSION},
    {"version list",
     REQ_LINE HOST UPGRADE CONNECTION KEY
     "Sec-WebSocket-Version: 13, 8\r\n\r\n",
     WSIO_EHS_VERSION},
    {"two versions",
     REQ_LINE HOST UPGRADE CONNECTION KEY VERSION
     "Sec-WebSocket-Version: 8\r\n\r\n",
     WSIO_EHS_VERSION},
    {"body by length",
     REQ_LINE HOST UPGRADE CONNECTION KEY VERSION "Content-Length: 5\r\n\r\n",
     WSIO_EHS_BODY},
    {"chunked body",
     REQ_LINE HOST UPGRADE CONNECTION KEY VERSION
     "Transfer-Encoding: chunked\r\n\r\n",
     WSIO_EHS_BODY},
    {"two lengths",
     REQ_LINE HOST UPGRADE CONNECTION KEY VERSION
     "Content-Length: 0\r\nContent-Length: 0\r\n\r\n",
     WSIO_EHS_BODY},
    {"length not a number",
     REQ_LINE HOST UPGRADE CONNECTION KEY VERSION "Content-Length: x\r\n\r\n",
     WSIO_EHS_BODY},
};

static void test_handshake_validate_request_reports_each_failure(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(validate_vectors); i++) {
        const validate_vector *v = &validate_vectors[i];
        print_message("validate vector: %s\n", v->name);
        wsio_http_header hdrs[16];
        wsio_http_request req;
        size_t len = strlen(v->head);
        assert_int_equal(
            wsio_http_request_parse(v->head, len, &req, hdrs, 16, NULL),
            (ssize_t)len);
        wsio_slice key = {NULL, 0};
        assert_int_equal(wsio_handshake_validate_request(&req, &key),
                         v->expect);
        if (v->expect == 0) {
            assert_true(slice_is(key, "dGhlIHNhbXBsZSBub25jZQ=="));
            assert_true(wsio_handshake_is_upgrade(&req));
        }
    }
}

static void test_handshake_is_upgrade_spots_websocket(void **state)
{
    (void)state;
    wsio_http_header hdrs[4];
    wsio_http_request req;
    static const char plain[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    static const char h2c[] = "GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n";
    static const char ws[] =
        "GET / HTTP/1.1\r\nUpgrade: h2c, WebSocket\r\n\r\n";
    assert_true(wsio_http_request_parse(S(plain), &req, hdrs, 4, NULL) > 0);
    assert_false(wsio_handshake_is_upgrade(&req));
    assert_true(wsio_http_request_parse(S(h2c), &req, hdrs, 4, NULL) > 0);
    assert_false(wsio_handshake_is_upgrade(&req));
    assert_true(wsio_http_request_parse(S(ws), &req, hdrs, 4, NULL) > 0);
    assert_true(wsio_handshake_is_upgrade(&req));
}

/* ---- building
 * ---------------------------------------------------------------- */

static const wsio_slice rfc_key = {"dGhlIHNhbXBsZSBub25jZQ==", 24};

static void test_handshake_build_accept_matches_rfc_example(void **state)
{
    (void)state;
    char out[256];
    wsio_handshake_answer ans = {"chat", NULL, NULL, 0};
    ssize_t n = wsio_handshake_build_accept(out, sizeof out, rfc_key, &ans);
    assert_int_equal(n, sizeof rfc_response - 1);
    assert_memory_equal(out, rfc_response, (size_t)n);

    /* No answer: no subprotocol header. */
    n = wsio_handshake_build_accept(out, sizeof out, rfc_key, NULL);
    wsio_http_header hdrs[8];
    wsio_http_response resp;
    assert_int_equal(
        wsio_http_response_parse(out, (size_t)n, &resp, hdrs, 8, NULL), n);
    assert_false(wsio_http_header_find(hdrs, resp.num_headers,
                                       "Sec-WebSocket-Protocol", NULL));
    assert_false(
        wsio_http_header_find(hdrs, resp.num_headers, "Content-Length", NULL));

    wsio_slice bad_key = {"dGhlIHNhbXBsZSBub25jZQ", 22};
    assert_int_equal(
        wsio_handshake_build_accept(out, sizeof out, bad_key, NULL),
        WSIO_EINVAL);
    wsio_handshake_answer bad_proto = {"two words", NULL, NULL, 0};
    assert_int_equal(
        wsio_handshake_build_accept(out, sizeof out, rfc_key, &bad_proto),
        WSIO_EINVAL);
}

static void test_handshake_build_reject_sets_status_and_close(void **state)
{
    (void)state;
    static const struct {
        int err;
        int status;
    } rejects[] = {
        {WSIO_EHS_MALFORMED, 400},
        {WSIO_EHS_TOOLARGE, 431},
        {WSIO_EHS_TOOMANYHEADERS, 431},
        {WSIO_EHS_METHOD, 405},
        {WSIO_EHS_HTTPVERSION, 505},
        {WSIO_EHS_HOST, 400},
        {WSIO_EHS_UPGRADE, 400},
        {WSIO_EHS_CONNECTION, 400},
        {WSIO_EHS_KEY, 400},
        {WSIO_EHS_VERSION, 426},
        {WSIO_ENOMEM, 503},
    };
    for (size_t i = 0; i < ARRAY_LEN(rejects); i++) {
        char out[512];
        ssize_t n =
            wsio_handshake_build_reject(out, sizeof out, rejects[i].err);
        assert_true(n > 0 && (size_t)n < sizeof out);

        wsio_http_header hdrs[8];
        wsio_http_response resp;
        ssize_t head =
            wsio_http_response_parse(out, (size_t)n, &resp, hdrs, 8, NULL);
        assert_true(head > 0);
        assert_int_equal(resp.status, rejects[i].status);
        assert_true(
            slice_is(resp.reason, wsio_http_status_reason(rejects[i].status)));
        assert_true(wsio_http_header_has_token(hdrs, resp.num_headers,
                                               "Connection", "close"));
        wsio_slice v;
        assert_true(
            wsio_http_header_find(hdrs, resp.num_headers, "Content-Type", &v));
        assert_true(v.len >= 10 && memcmp(v.ptr, "text/plain", 10) == 0);
        assert_true(wsio_http_header_find(hdrs, resp.num_headers,
                                          "Content-Length", &v));
        size_t body_len = (size_t)(n - head);
        assert_true(body_len > 0);
        assert_int_equal(strtoul(v.ptr, NULL, 10), body_len);
        int has_version = wsio_http_header_find(hdrs, resp.num_headers,
                                                "Sec-WebSocket-Version", &v);
        assert_int_equal(has_version, rejects[i].err == WSIO_EHS_VERSION);
        if (has_version)
            assert_true(slice_is(v, "13"));
    }
    char out[512];
    assert_int_equal(wsio_handshake_build_reject(out, sizeof out, WSIO_EUTF8),
                     WSIO_EINVAL);
    assert_int_equal(wsio_handshake_build_reject(out, sizeof out, 0),
                     WSIO_EINVAL);
}

static void test_handshake_build_response_writes_length_and_body(void **state)
{
    (void)state;
    char out[256];
    wsio_http_header h[] = {{{"Content-Type", 12}, {"text/html", 9}}};
    ssize_t n = wsio_http_build_response(out, sizeof out, 404, h, 1, "nope", 4);
    static const char expect[] = "HTTP/1.1 404 Not Found\r\n"
                                 "Content-Type: text/html\r\n"
                                 "Content-Length: 4\r\n"
                                 "\r\n"
                                 "nope";
    assert_int_equal(n, sizeof expect - 1);
    assert_memory_equal(out, expect, sizeof expect - 1);

    n = wsio_http_build_response(out, sizeof out, 599, NULL, 0, NULL, 0);
    assert_int_equal(n, sizeof "HTTP/1.1 599 Unknown\r\nContent-Length: 0\r\n"
                               "\r\n" -
                            1);
    assert_string_equal(wsio_http_status_reason(503), "Service Unavailable");
    assert_string_equal(wsio_http_status_reason(426), "Upgrade Required");
    assert_string_equal(wsio_http_status_reason(299), "Unknown");

    assert_int_equal(
        wsio_http_build_response(out, sizeof out, 99, NULL, 0, NULL, 0),
        WSIO_EINVAL);
    assert_int_equal(
        wsio_http_build_response(out, sizeof out, 600, NULL, 0, NULL, 0),
        WSIO_EINVAL);
    assert_int_equal(
        wsio_http_build_response(out, sizeof out, 204, NULL, 0, "x", 1),
        WSIO_EINVAL);
    wsio_http_header cl[] = {{{"content-length", 14}, {"9", 1}}};
    assert_int_equal(
        wsio_http_build_response(out, sizeof out, 200, cl, 1, "x", 1),
        WSIO_EINVAL);
}

static void test_handshake_builders_reject_header_injection(void **state)
{
    (void)state;
    char out[512];
    static const wsio_http_header bad_headers[][1] = {
        {{{"X-A", 3}, {"a\r\nX-Evil: 1", 13}}},
        {{{"X-A", 3}, {"a\nb", 3}}},
        {{{"X-A", 3}, {"a\rb", 3}}},
        {{{"X-A", 3}, {"a\0b", 3}}},
        {{{"X-A\r\nB", 6}, {"v", 1}}},
        {{{"X-A\0", 4}, {"v", 1}}},
        {{{"X A", 3}, {"v", 1}}},
        {{{"X:A", 3}, {"v", 1}}},
        {{{"", 0}, {"v", 1}}},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad_headers); i++) {
        wsio_handshake_answer ans = {NULL, NULL, bad_headers[i], 1};
        assert_int_equal(
            wsio_handshake_build_accept(out, sizeof out, rfc_key, &ans),
            WSIO_EINVAL);
        assert_int_equal(wsio_http_build_response(out, sizeof out, 200,
                                                  bad_headers[i], 1, NULL, 0),
                         WSIO_EINVAL);
        wsio_handshake_request req = {"h",  "/",  rfc_key.ptr,    NULL,
                                      NULL, NULL, bad_headers[i], 1};
        assert_int_equal(wsio_handshake_build_request(out, sizeof out, &req),
                         WSIO_EINVAL);
    }

    wsio_handshake_answer ans_proto = {"chat\r\nX: y", NULL, NULL, 0};
    wsio_handshake_answer ans_ext = {NULL, "a\r\nX: y", NULL, 0};
    assert_int_equal(
        wsio_handshake_build_accept(out, sizeof out, rfc_key, &ans_proto),
        WSIO_EINVAL);
    assert_int_equal(
        wsio_handshake_build_accept(out, sizeof out, rfc_key, &ans_ext),
        WSIO_EINVAL);

    const char *key = rfc_key.ptr;
    const wsio_handshake_request bad_reqs[] = {
        {"h\r\nX: y", "/", key, NULL, NULL, NULL, NULL, 0},
        {"h", "/ HTTP/1.1\r\nX: y", key, NULL, NULL, NULL, NULL, 0},
        {"h", "/a b", key, NULL, NULL, NULL, NULL, 0},
        {"h", "", key, NULL, NULL, NULL, NULL, 0},
        {"h", "/", key, "o\nX: y", NULL, NULL, NULL, 0},
        {"h", "/", key, NULL, "chat\r\n", NULL, NULL, 0},
        {"h", "/", key, NULL, NULL, "e\r", NULL, 0},
        {"h", "/", "dGhlIHNhbXBsZSBub25jZQ==\r\nX: y", NULL, NULL, NULL, NULL,
         0},
        {NULL, "/", key, NULL, NULL, NULL, NULL, 0},
        {"", "/", key, NULL, NULL, NULL, NULL, 0},
        {"h", "/", NULL, NULL, NULL, NULL, NULL, 0},
        {"h", "/", key, NULL, NULL, NULL, NULL, 1}, /* NULL extras, n 1 */
    };
    for (size_t i = 0; i < ARRAY_LEN(bad_reqs); i++)
        assert_int_equal(
            wsio_handshake_build_request(out, sizeof out, &bad_reqs[i]),
            WSIO_EINVAL);
}

/* ---- the snprintf contract, for every builder -------------------------------
 */

typedef ssize_t (*build_fn)(char *out, size_t cap);

static ssize_t build_accept_full(char *out, size_t cap)
{
    wsio_http_header extra[] = {{{"Set-Cookie", 10}, {"a=b", 3}}};
    wsio_handshake_answer ans = {"chat", "permessage-deflate", extra, 1};
    return wsio_handshake_build_accept(out, cap, rfc_key, &ans);
}

static ssize_t build_reject_version(char *out, size_t cap)
{
    return wsio_handshake_build_reject(out, cap, WSIO_EHS_VERSION);
}

static ssize_t build_response_404(char *out, size_t cap)
{
    return wsio_http_build_response(out, cap, 404, NULL, 0, "gone\n", 5);
}

static ssize_t build_request_full(char *out, size_t cap)
{
    wsio_handshake_request req = {"example.com:8080",
                                  "/chat?x=1",
                                  rfc_key.ptr,
                                  "http://example.com",
                                  "chat, superchat",
                                  "permessage-deflate",
                                  NULL,
                                  0};
    return wsio_handshake_build_request(out, cap, &req);
}

static void test_handshake_builders_follow_snprintf_contract(void **state)
{
    (void)state;
    static const build_fn builders[] = {build_accept_full, build_reject_version,
                                        build_response_404, build_request_full};
    for (size_t b = 0; b < ARRAY_LEN(builders); b++) {
        ssize_t need = builders[b](NULL, 0);
        assert_true(need > 0);
        size_t n = (size_t)need;
        char *buf = test_malloc(n + 16);
        char *ref = test_malloc(n);
        assert_int_equal(builders[b](ref, n), need);

        for (size_t cap = 0; cap <= n; cap++) {
            memset(buf, 0xA5, n + 16);
            assert_int_equal(builders[b](buf, cap), need);
            /* Too small: nothing written. Big enough: exactly n bytes. */
            size_t written = cap == n ? n : 0;
            assert_memory_equal(buf, ref, written);
            for (size_t i = written; i < n + 16; i++)
                assert_int_equal((unsigned char)buf[i], 0xA5);
        }
        memset(buf, 0xA5, n + 16);
        assert_int_equal(builders[b](buf, n + 16), need);
        assert_memory_equal(buf, ref, n);
        assert_int_equal((unsigned char)buf[n], 0xA5); /* no NUL */
        test_free(ref);
        test_free(buf);
    }
    assert_int_equal(wsio_handshake_build_reject(NULL, 10, WSIO_EHS_KEY),
                     WSIO_EINVAL);
}

/* ---- client and server together
 * ----------------------------------------------- */

static void test_handshake_round_trip_client_to_server(void **state)
{
    (void)state;
    char key[WSIO_HANDSHAKE_KEY_LEN + 1];
    assert_int_equal(wsio_handshake_make_key(NULL, key), 0);
    wsio_http_header extra[] = {{{"Authorization", 13}, {"Bearer t", 8}}};
    wsio_handshake_request creq = {
        "example.com:8080",
        "/chat?room=7",
        key,
        "http://example.com",
        "chat, superchat",
        "permessage-deflate; client_max_window_bits, x-a",
        extra,
        1};

    /* Client: the request, with the first frame right behind it. */
    char wire[1024];
    ssize_t req_len = wsio_handshake_build_request(wire, sizeof wire, &creq);
    assert_true(req_len > 0 && (size_t)req_len + FRAME_LEN <= sizeof wire);
    memcpy(wire + req_len, frame_bytes, FRAME_LEN);

    /* Server: parse, validate, answer. */
    wsio_http_header hdrs[16];
    wsio_http_request req;
    assert_int_equal(wsio_http_request_parse(wire, (size_t)req_len + FRAME_LEN,
                                             &req, hdrs, 16, NULL),
                     req_len);
    assert_memory_equal(wire + req_len, frame_bytes, FRAME_LEN);
    assert_true(slice_is(req.path, "/chat"));
    assert_true(slice_is(req.query, "room=7"));
    wsio_slice v;
    assert_true(
        wsio_http_header_find(hdrs, req.num_headers, "Authorization", &v));
    assert_true(slice_is(v, "Bearer t"));
    assert_true(wsio_http_header_find(hdrs, req.num_headers, "Origin", &v));
    assert_true(slice_is(v, "http://example.com"));
    wsio_slice got_key;
    assert_int_equal(wsio_handshake_validate_request(&req, &got_key), 0);
    assert_true(slice_is(got_key, key));
    assert_true(wsio_http_header_has_token(
        hdrs, req.num_headers, "Sec-WebSocket-Protocol", "superchat"));

    char answer[512];
    wsio_handshake_answer ans = {"superchat", "permessage-deflate", NULL, 0};
    ssize_t resp_len =
        wsio_handshake_build_accept(answer, sizeof answer, got_key, &ans);
    assert_true(resp_len > 0);

    /* Client: parse and check the answer. */
    wsio_http_header rh[16];
    wsio_http_response resp;
    assert_int_equal(
        wsio_http_response_parse(answer, (size_t)resp_len, &resp, rh, 16, NULL),
        resp_len);
    wsio_handshake_result result;
    assert_int_equal(wsio_handshake_validate_response(&resp, &creq, &result),
                     0);
    assert_true(slice_is(result.subprotocol, "superchat"));
    assert_true(slice_is(result.extensions, "permessage-deflate"));

    /* And the RFC's own answer to the RFC's own request. */
    wsio_handshake_request rfc_creq = {
        "server.example.com", "/chat", rfc_key.ptr, NULL,
        "chat, superchat",    NULL,    NULL,        0};
    assert_int_equal(
        wsio_http_response_parse(S(rfc_response), &resp, rh, 16, NULL),
        sizeof rfc_response - 1);
    assert_int_equal(
        wsio_handshake_validate_response(&resp, &rfc_creq, &result), 0);
    assert_true(slice_is(result.subprotocol, "chat"));
    assert_int_equal(result.extensions.len, 0);
}

#define R101 "HTTP/1.1 101 Switching Protocols\r\n"
#define RUPG "Upgrade: websocket\r\n"
#define RCONN "Connection: Upgrade\r\n"
#define RACC "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"

static const validate_vector response_checks[] = {
    {"bare 101", R101 RUPG RCONN RACC "\r\n", 0},
    {"case and lists",
     R101 "upgrade: WEBSOCKET\r\nconnection: x, upgrade\r\n"
          "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
          "Sec-WebSocket-Extensions: permessage-deflate; server_no_context\r\n"
          "Sec-WebSocket-Extensions: x-a\r\n\r\n",
     0},
    {"chosen protocol",
     R101 RUPG RCONN RACC "Sec-WebSocket-Protocol: superchat\r\n\r\n", 0},
    {"not 101", "HTTP/1.1 403 Forbidden\r\n" RUPG RCONN RACC "\r\n",
     WSIO_EHS_STATUS},
    {"200", "HTTP/1.1 200 OK\r\n\r\n", WSIO_EHS_STATUS},
    {"no upgrade", R101 RCONN RACC "\r\n", WSIO_EHS_UPGRADE},
    {"upgrade h2c", R101 "Upgrade: h2c\r\n" RCONN RACC "\r\n",
     WSIO_EHS_UPGRADE},
    {"no connection", R101 RUPG RACC "\r\n", WSIO_EHS_CONNECTION},
    {"no accept", R101 RUPG RCONN "\r\n", WSIO_EHS_ACCEPT},
    {"wrong accept",
     R101 RUPG RCONN
     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOp=\r\n\r\n",
     WSIO_EHS_ACCEPT},
    {"accept of another key",
     R101 RUPG RCONN "Sec-WebSocket-Accept: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
     WSIO_EHS_ACCEPT},
    {"two accepts", R101 RUPG RCONN RACC RACC "\r\n", WSIO_EHS_ACCEPT},
    {"unoffered protocol",
     R101 RUPG RCONN RACC "Sec-WebSocket-Protocol: mqtt\r\n\r\n",
     WSIO_EHS_SUBPROTOCOL},
    {"protocol case differs",
     R101 RUPG RCONN RACC "Sec-WebSocket-Protocol: Chat\r\n\r\n",
     WSIO_EHS_SUBPROTOCOL},
    {"two protocols",
     R101 RUPG RCONN RACC "Sec-WebSocket-Protocol: chat, superchat\r\n\r\n",
     WSIO_EHS_SUBPROTOCOL},
    {"unoffered extension",
     R101 RUPG RCONN RACC
     "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n\r\n",
     WSIO_EHS_EXTENSION},
    {"unoffered among offered",
     R101 RUPG RCONN RACC
     "Sec-WebSocket-Extensions: permessage-deflate, x-b\r\n\r\n",
     WSIO_EHS_EXTENSION},
};

static void test_handshake_validate_response_reports_each_failure(void **state)
{
    (void)state;
    wsio_handshake_request creq = {"server.example.com",
                                   "/chat",
                                   rfc_key.ptr,
                                   NULL,
                                   "chat, superchat",
                                   "permessage-deflate; client_max_window_bits,"
                                   " x-a",
                                   NULL,
                                   0};
    for (size_t i = 0; i < ARRAY_LEN(response_checks); i++) {
        const validate_vector *v = &response_checks[i];
        print_message("response check: %s\n", v->name);
        wsio_http_header hdrs[16];
        wsio_http_response resp;
        size_t len = strlen(v->head);
        assert_int_equal(
            wsio_http_response_parse(v->head, len, &resp, hdrs, 16, NULL),
            (ssize_t)len);
        assert_int_equal(wsio_handshake_validate_response(&resp, &creq, NULL),
                         v->expect);
    }

    /* Nothing offered: any protocol or extension is a failure. */
    wsio_handshake_request bare = {"h",  "/",  rfc_key.ptr, NULL,
                                   NULL, NULL, NULL,        0};
    static const char with_proto[] =
        R101 RUPG RCONN RACC "Sec-WebSocket-Protocol: chat\r\n\r\n";
    static const char with_ext[] =
        R101 RUPG RCONN RACC "Sec-WebSocket-Extensions: x-a\r\n\r\n";
    wsio_http_header hdrs[16];
    wsio_http_response resp;
    assert_true(wsio_http_response_parse(S(with_proto), &resp, hdrs, 16, NULL) >
                0);
    assert_int_equal(wsio_handshake_validate_response(&resp, &bare, NULL),
                     WSIO_EHS_SUBPROTOCOL);
    assert_true(wsio_http_response_parse(S(with_ext), &resp, hdrs, 16, NULL) >
                0);
    assert_int_equal(wsio_handshake_validate_response(&resp, &bare, NULL),
                     WSIO_EHS_EXTENSION);
    assert_int_equal(wsio_handshake_validate_response(&resp, NULL, NULL),
                     WSIO_EINVAL);
}

/* ---- no over-read: input that ends right before a PROT_NONE page
 * -------------- */

static void test_handshake_parse_stops_at_guard_page(void **state)
{
    (void)state;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(map != MAP_FAILED);
    assert_int_equal(mprotect(map + page, page, PROT_NONE), 0);
    char *end = map + page; /* first byte that faults */

    static const char *heads[] = {rfc_request, "GET / HTTP/1.1\r\nX: a\r\n b",
                                  "GET / HTTP/1.1\r\nX: a\r"};
    for (size_t h = 0; h < ARRAY_LEN(heads); h++) {
        size_t len = strlen(heads[h]);
        for (size_t k = 0; k <= len; k++) {
            char *p = end - k;
            memcpy(p, heads[h], k);
            wsio_http_header hdrs[16];
            wsio_http_request req;
            ssize_t rc = wsio_http_request_parse(p, k, &req, hdrs, 16, NULL);
            if (h == 0 && k == len) {
                assert_int_equal(rc, (ssize_t)len);
                /* Everything downstream reads only inside the head too. */
                wsio_slice key;
                assert_int_equal(wsio_handshake_validate_request(&req, &key),
                                 0);
                char out[512];
                assert_true(wsio_handshake_build_accept(out, sizeof out, key,
                                                        NULL) > 0);
            } else {
                assert_true(rc == WSIO_EAGAIN || rc == WSIO_EHS_MALFORMED);
            }
        }
    }

    size_t len = sizeof rfc_response - 1;
    for (size_t k = 0; k <= len; k++) {
        char *p = end - k;
        memcpy(p, rfc_response, k);
        wsio_http_header hdrs[16];
        wsio_http_response resp;
        ssize_t rc = wsio_http_response_parse(p, k, &resp, hdrs, 16, NULL);
        assert_int_equal(rc, k == len ? (ssize_t)len : WSIO_EAGAIN);
        if (k == len) {
            wsio_handshake_request creq = {"h",    "/",  rfc_key.ptr, NULL,
                                           "chat", NULL, NULL,        0};
            assert_int_equal(
                wsio_handshake_validate_response(&resp, &creq, NULL), 0);
        }
    }

    /* base64 of a key that ends at the guard. */
    memcpy(end - 24, rfc_key.ptr, 24);
    uint8_t nonce[16];
    assert_int_equal(wsio__base64_decode(end - 24, 24, nonce, sizeof nonce),
                     16);
    assert_int_equal(munmap(map, 2 * page), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_sha1_matches_fips_vectors),
        cmocka_unit_test(test_handshake_sha1_hashes_one_million_a),
        cmocka_unit_test(test_handshake_base64_matches_rfc4648_vectors),
        cmocka_unit_test(test_handshake_base64_decode_rejects_non_strict_input),
        cmocka_unit_test(test_handshake_accept_key_matches_rfc_example),
        cmocka_unit_test(test_handshake_make_key_encodes_nonce),
        cmocka_unit_test(test_handshake_request_parse_vectors_any_split),
        cmocka_unit_test(test_handshake_response_parse_vectors_any_split),
        cmocka_unit_test(test_handshake_request_parse_fills_fields),
        cmocka_unit_test(test_handshake_parse_rejects_null_arguments),
        cmocka_unit_test(test_handshake_parse_limits_header_count),
        cmocka_unit_test(test_handshake_parse_limits_header_bytes),
        cmocka_unit_test(test_handshake_token_iter_spans_repeated_headers),
        cmocka_unit_test(test_handshake_validate_request_reports_each_failure),
        cmocka_unit_test(test_handshake_is_upgrade_spots_websocket),
        cmocka_unit_test(test_handshake_build_accept_matches_rfc_example),
        cmocka_unit_test(test_handshake_build_reject_sets_status_and_close),
        cmocka_unit_test(test_handshake_build_response_writes_length_and_body),
        cmocka_unit_test(test_handshake_builders_reject_header_injection),
        cmocka_unit_test(test_handshake_builders_follow_snprintf_contract),
        cmocka_unit_test(test_handshake_round_trip_client_to_server),
        cmocka_unit_test(test_handshake_validate_response_reports_each_failure),
        cmocka_unit_test(test_handshake_parse_stops_at_guard_page),
    };
    return cmocka_run_group_tests_name("handshake", tests, NULL, NULL);
}
