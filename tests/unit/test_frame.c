/*
 * tests/unit/test_frame.c - layer 2: frame header decode, check and encode,
 * masking, and the incremental UTF-8 validator.
 */
#include <stdlib.h>
#include <string.h>

#include "frame_simd.h"
#include "testutil.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- header decode: RFC 6455 section 5.7 ------------------------------ */

struct rfc_frame {
    const char *hex; /* the frame (header and, when short, payload) */
    uint8_t fin, opcode, masked;
    const char *key_hex; /* masking key, or NULL */
    uint64_t payload_len;
    uint8_t header_len;
    const char *payload; /* the unmasked payload when it is in hex, or NULL */
};

static const struct rfc_frame rfc_frames[] = {
    /* A single-frame unmasked text message. */
    {"81 05 48 65 6c 6c 6f", 1, WSIO_OP_TEXT, 0, NULL, 5, 2, "Hello"},
    /* A single-frame masked text message. */
    {"81 85 37 fa 21 3d 7f 9f 4d 51 58", 1, WSIO_OP_TEXT, 1, "37 fa 21 3d", 5,
     6, "Hello"},
    /* A fragmented unmasked text message. */
    {"01 03 48 65 6c", 0, WSIO_OP_TEXT, 0, NULL, 3, 2, "Hel"},
    {"80 02 6c 6f", 1, WSIO_OP_CONTINUATION, 0, NULL, 2, 2, "lo"},
    /* Unmasked ping, masked pong. */
    {"89 05 48 65 6c 6c 6f", 1, WSIO_OP_PING, 0, NULL, 5, 2, "Hello"},
    {"8a 85 37 fa 21 3d 7f 9f 4d 51 58", 1, WSIO_OP_PONG, 1, "37 fa 21 3d", 5,
     6, "Hello"},
    /* 256 bytes binary message, 64 KiB binary message (headers only). */
    {"82 7E 01 00", 1, WSIO_OP_BINARY, 0, NULL, 256, 4, NULL},
    {"82 7F 00 00 00 00 00 01 00 00", 1, WSIO_OP_BINARY, 0, NULL, 65536, 10,
     NULL},
};

static void test_frame_decode_rfc_examples(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(rfc_frames); i++) {
        const struct rfc_frame *f = &rfc_frames[i];
        uint8_t buf[64], key[4] = {0};
        size_t n = test_hex(f->hex, buf, sizeof buf);
        if (f->key_hex)
            test_hex(f->key_hex, key, sizeof key);
        wsio_frame_header h;
        memset(&h, 0xAA, sizeof h);
        assert_int_equal(wsio_frame_header_decode(buf, n, &h), f->header_len);
        assert_int_equal(h.header_len, f->header_len);
        assert_int_equal(h.fin, f->fin);
        assert_int_equal(h.opcode, f->opcode);
        assert_int_equal(h.rsv, 0);
        assert_int_equal(h.masked, f->masked);
        assert_true(h.payload_len == f->payload_len);
        if (f->masked)
            assert_memory_equal(h.mask_key, key, 4);
        /* Section 5.1: client frames are masked, server frames are not. */
        assert_int_equal(
            wsio_frame_header_check(
                &h, f->masked ? WSIO_ROLE_SERVER : WSIO_ROLE_CLIENT, 0),
            0);
        if (f->payload) {
            uint8_t *payload = buf + h.header_len;
            assert_int_equal(n - h.header_len, h.payload_len);
            if (h.masked)
                wsio_mask(payload, (size_t)h.payload_len, h.mask_key, 0);
            assert_memory_equal(payload, f->payload, strlen(f->payload));
        }
    }
}

/* Every prefix shorter than the header asks for more, and says how much. */
static void check_every_prefix(const uint8_t *buf, size_t header_len)
{
    for (size_t k = 0; k < header_len; k++) {
        wsio_frame_header h;
        memset(&h, 0, sizeof h);
        assert_int_equal(wsio_frame_header_decode(buf, k, &h), WSIO_EAGAIN);
        assert_int_equal(h.header_len, k < 2 ? 2 : header_len);
    }
}

static void test_frame_decode_every_prefix_needs_more(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(rfc_frames); i++) {
        uint8_t buf[64];
        test_hex(rfc_frames[i].hex, buf, sizeof buf);
        check_every_prefix(buf, rfc_frames[i].header_len);
    }
    /* The largest header: 64-bit length and a masking key. */
    uint8_t big[WSIO_FRAME_HEADER_MAX];
    size_t n =
        test_hex("82 FF 00 00 00 01 00 00 00 00 01 02 03 04", big, sizeof big);
    assert_int_equal(n, 14);
    check_every_prefix(big, 14);
    wsio_frame_header h;
    assert_int_equal(wsio_frame_header_decode(big, 14, &h), 14);
    assert_true(h.payload_len == (uint64_t)1 << 32);
}

static void test_frame_decode_rejects_length_top_bit(void **state)
{
    (void)state;
    uint8_t buf[16];
    wsio_frame_header h;
    size_t n = test_hex("82 7F 80 00 00 00 00 00 00 00", buf, sizeof buf);
    assert_int_equal(wsio_frame_header_decode(buf, n, &h), WSIO_ELENGTH);
    n = test_hex("82 FF FF FF FF FF FF FF FF FF 01 02 03 04", buf, sizeof buf);
    assert_int_equal(wsio_frame_header_decode(buf, n, &h), WSIO_ELENGTH);
    /* The largest allowed length is 2^63 - 1. */
    n = test_hex("82 7F 7F FF FF FF FF FF FF FF", buf, sizeof buf);
    assert_int_equal(wsio_frame_header_decode(buf, n, &h), 10);
    assert_true(h.payload_len == UINT64_MAX >> 1);
}

static void test_frame_decode_reads_rsv_and_opcode_bits(void **state)
{
    (void)state;
    static const struct {
        uint8_t b0, fin, rsv, opcode;
    } cases[] = {
        {0xC1, 1, WSIO_RSV1, 0x1}, {0x22, 0, WSIO_RSV2, 0x2},
        {0x13, 0, WSIO_RSV3, 0x3}, {0xFF, 1, 7, 0xF},
        {0x00, 0, 0, 0x0},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        uint8_t buf[2] = {cases[i].b0, 0x00};
        wsio_frame_header h;
        assert_int_equal(wsio_frame_header_decode(buf, 2, &h), 2);
        assert_int_equal(h.fin, cases[i].fin);
        assert_int_equal(h.rsv, cases[i].rsv);
        assert_int_equal(h.opcode, cases[i].opcode);
        assert_true(h.payload_len == 0);
    }
}

static void test_frame_decode_accepts_longer_length_form(void **state)
{
    (void)state;
    /* Section 5.2 asks senders for the shortest form; a longer one still
     * says what the length is, and the decoder takes it. */
    static const struct {
        const char *hex;
        uint64_t len;
        uint8_t header_len;
    } cases[] = {
        {"81 7E 00 05", 5, 4},
        {"81 7F 00 00 00 00 00 00 00 05", 5, 10},
        {"82 FF 00 00 00 00 00 00 01 00 01 02 03 04", 256, 14},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        uint8_t buf[WSIO_FRAME_HEADER_MAX];
        size_t n = test_hex(cases[i].hex, buf, sizeof buf);
        wsio_frame_header h;
        assert_int_equal(wsio_frame_header_decode(buf, n, &h),
                         cases[i].header_len);
        assert_true(h.payload_len == cases[i].len);
        assert_true(wsio_frame_header_size(h.payload_len, h.masked) <
                    h.header_len);
    }
}

static void test_frame_decode_rejects_null(void **state)
{
    (void)state;
    uint8_t buf[2] = {0x81, 0x00};
    wsio_frame_header h;
    assert_int_equal(wsio_frame_header_decode(NULL, 2, &h), WSIO_EINVAL);
    assert_int_equal(wsio_frame_header_decode(buf, 2, NULL), WSIO_EINVAL);
}

/* ---- header encode ---------------------------------------------------- */

static void test_frame_encode_round_trips_every_length_form(void **state)
{
    (void)state;
    static const struct {
        uint64_t len;
        size_t ext; /* extended length bytes, section 5.2 */
    } lens[] = {
        {0, 0},
        {1, 0},
        {125, 0},
        {126, 2},
        {127, 2},
        {65535, 2},
        {65536, 8},
        {(uint64_t)1 << 32, 8},
        {(uint64_t)3 << 20, 8},
        {((uint64_t)5 << 20) + 7, 8},
        {UINT64_MAX >> 1, 8},
    };
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    for (size_t i = 0; i < COUNT(lens); i++) {
        for (int masked = 0; masked <= 1; masked++) {
            wsio_frame_header in = {0}, out;
            in.payload_len = lens[i].len;
            in.opcode = WSIO_OP_BINARY;
            in.fin = 1;
            in.masked = (uint8_t)masked;
            if (masked)
                memcpy(in.mask_key, key, 4);
            size_t want = 2 + lens[i].ext + (masked ? 4u : 0u);
            uint8_t buf[WSIO_FRAME_HEADER_MAX + 2];
            memset(buf, 0xEE, sizeof buf);
            assert_int_equal(wsio_frame_header_size(lens[i].len, masked), want);
            assert_int_equal(wsio_frame_header_encode(buf, &in), want);
            assert_int_equal(buf[want], 0xEE); /* nothing written past it */
            check_every_prefix(buf, want);
            assert_int_equal(wsio_frame_header_decode(buf, want, &out), want);
            assert_true(out.payload_len == in.payload_len);
            assert_int_equal(out.opcode, in.opcode);
            assert_int_equal(out.fin, 1);
            assert_int_equal(out.rsv, 0);
            assert_int_equal(out.masked, masked);
            assert_int_equal(out.header_len, want);
            if (masked)
                assert_memory_equal(out.mask_key, key, 4);
        }
    }
}

static void test_frame_encode_writes_wire_bytes(void **state)
{
    (void)state;
    static const struct {
        uint8_t fin, rsv, opcode, masked;
        uint64_t len;
        const char *hex;
    } cases[] = {
        {1, 0, WSIO_OP_TEXT, 0, 5, "81 05"},
        {1, 0, WSIO_OP_TEXT, 1, 5, "81 85 37 fa 21 3d"},
        {0, 0, WSIO_OP_TEXT, 0, 3, "01 03"},
        {1, 0, WSIO_OP_BINARY, 0, 256, "82 7E 01 00"},
        {1, 0, WSIO_OP_BINARY, 0, 65536, "82 7F 00 00 00 00 00 01 00 00"},
        {1, WSIO_RSV1, WSIO_OP_TEXT, 0, 0, "C1 00"},
        {0, WSIO_RSV2 | WSIO_RSV3, 0xF, 0, 126, "3F 7E 00 7E"},
        {1, 0, WSIO_OP_CLOSE, 1, 65535, "88 FE FF FF 37 fa 21 3d"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        wsio_frame_header h = {0};
        h.fin = cases[i].fin;
        h.rsv = cases[i].rsv;
        h.opcode = cases[i].opcode;
        h.masked = cases[i].masked;
        h.payload_len = cases[i].len;
        h.header_len = 99; /* ignored */
        test_hex("37 fa 21 3d", h.mask_key, 4);
        uint8_t want[WSIO_FRAME_HEADER_MAX], got[WSIO_FRAME_HEADER_MAX];
        size_t n = test_hex(cases[i].hex, want, sizeof want);
        assert_int_equal(wsio_frame_header_encode(got, &h), n);
        assert_memory_equal(got, want, n);
    }
}

static void test_frame_encode_rejects_invalid_header(void **state)
{
    (void)state;
    uint8_t buf[WSIO_FRAME_HEADER_MAX];
    wsio_frame_header h = {0};
    h.opcode = 0x10;
    assert_int_equal(wsio_frame_header_encode(buf, &h), WSIO_EINVAL);
    h.opcode = WSIO_OP_TEXT;
    h.rsv = 8;
    assert_int_equal(wsio_frame_header_encode(buf, &h), WSIO_EINVAL);
    h.rsv = 0;
    h.payload_len = (uint64_t)1 << 63;
    assert_int_equal(wsio_frame_header_encode(buf, &h), WSIO_EINVAL);
    h.payload_len = 0;
    assert_int_equal(wsio_frame_header_encode(NULL, &h), WSIO_EINVAL);
    assert_int_equal(wsio_frame_header_encode(buf, NULL), WSIO_EINVAL);
    assert_int_equal(wsio_frame_header_encode(buf, &h), 2);
}

/* ---- header check ----------------------------------------------------- */

static void test_frame_check_applies_each_rule(void **state)
{
    (void)state;
    enum { S = WSIO_ROLE_SERVER, C = WSIO_ROLE_CLIENT };
    static const struct {
        uint8_t fin, rsv, opcode, masked;
        uint64_t len;
        int role;
        unsigned allowed_rsv;
        int want;
    } cases[] = {
        /* Section 5.1: masking by role. */
        {1, 0, WSIO_OP_TEXT, 1, 5, S, 0, 0},
        {1, 0, WSIO_OP_TEXT, 0, 5, C, 0, 0},
        {1, 0, WSIO_OP_TEXT, 0, 5, S, 0, WSIO_EUNMASKED},
        {1, 0, WSIO_OP_TEXT, 1, 5, C, 0, WSIO_EMASKED},
        /* Section 5.2: RSV bits only when negotiated. */
        {1, WSIO_RSV1, WSIO_OP_TEXT, 1, 5, S, 0, WSIO_ERSV},
        {1, WSIO_RSV2, WSIO_OP_TEXT, 1, 5, S, 0, WSIO_ERSV},
        {1, WSIO_RSV3, WSIO_OP_TEXT, 1, 5, S, 0, WSIO_ERSV},
        {1, WSIO_RSV1, WSIO_OP_TEXT, 1, 5, S, WSIO_RSV1, 0},
        {1, WSIO_RSV1 | WSIO_RSV2, WSIO_OP_TEXT, 1, 5, S, WSIO_RSV1, WSIO_ERSV},
        /* Section 5.2: reserved opcodes. */
        {1, 0, 0x3, 1, 0, S, 0, WSIO_EOPCODE},
        {1, 0, 0x7, 1, 0, S, 0, WSIO_EOPCODE},
        {1, 0, 0xB, 0, 0, C, 0, WSIO_EOPCODE},
        {1, 0, 0xF, 0, 0, C, 0, WSIO_EOPCODE},
        {0, 0, WSIO_OP_CONTINUATION, 1, 9, S, 0, 0},
        {1, 0, WSIO_OP_BINARY, 1, 1 << 20, S, 0, 0},
        /* Section 5.5: control frames unfragmented and at most 125. */
        {1, 0, WSIO_OP_CLOSE, 1, 125, S, 0, 0},
        {1, 0, WSIO_OP_PING, 0, 0, C, 0, 0},
        {1, 0, WSIO_OP_PONG, 0, 125, C, 0, 0},
        {0, 0, WSIO_OP_PING, 1, 5, S, 0, WSIO_ECONTROL},
        {1, 0, WSIO_OP_CLOSE, 1, 126, S, 0, WSIO_ECONTROL},
        {1, 0, WSIO_OP_PONG, 0, 65536, C, 0, WSIO_ECONTROL},
        /* The first rule that applies wins, in the documented order. */
        {0, WSIO_RSV1, 0xB, 0, 200, S, 0, WSIO_EUNMASKED},
        {0, WSIO_RSV1, 0xB, 1, 200, C, 0, WSIO_EMASKED},
        {0, WSIO_RSV1, 0xB, 1, 200, S, 0, WSIO_ERSV},
        {0, 0, 0xB, 1, 200, S, 0, WSIO_EOPCODE},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        wsio_frame_header h = {0};
        h.fin = cases[i].fin;
        h.rsv = cases[i].rsv;
        h.opcode = cases[i].opcode;
        h.masked = cases[i].masked;
        h.payload_len = cases[i].len;
        assert_int_equal(wsio_frame_header_check(&h,
                                                 (enum wsio_role)cases[i].role,
                                                 cases[i].allowed_rsv),
                         cases[i].want);
    }
}

/* ---- masking ---------------------------------------------------------- */

/* The definition of section 5.3, byte by byte. */
static void ref_mask(uint8_t *buf, size_t len, const uint8_t key[4],
                     uint64_t offset)
{
    for (size_t i = 0; i < len; i++)
        buf[i] ^= key[(offset + i) % 4];
}

static void fill_pattern(uint8_t *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seed + i * 131u + (i >> 8));
}

static const uint8_t mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Mask len bytes placed at src_align in one buffer and written at
 * dst_align in another (or in place when in_place), and compare with the
 * reference, including the guard bytes around the output. */
static void check_mask_at(size_t len, size_t src_align, size_t dst_align,
                          uint64_t offset, int in_place)
{
    enum { GUARD = 16 };
    size_t cap = len + 2 * GUARD + 16;
    uint8_t *src = malloc(cap), *dst = malloc(cap), *want = malloc(cap);
    assert_non_null(src);
    assert_non_null(dst);
    assert_non_null(want);
    fill_pattern(src, cap, (unsigned)(len + offset));
    memset(dst, 0x5A, cap);
    memcpy(want, in_place ? src : dst, cap);
    uint8_t *s = src + GUARD + src_align;
    if (in_place) {
        ref_mask(want + GUARD + src_align, len, mask_key, offset);
        wsio_mask(s, len, mask_key, offset);
        assert_memory_equal(src, want, cap);
    } else {
        memcpy(want + GUARD + dst_align, s, len);
        ref_mask(want + GUARD + dst_align, len, mask_key, offset);
        wsio_mask_copy(dst + GUARD + dst_align, s, len, mask_key, offset);
        assert_memory_equal(dst, want, cap);
    }
    free(src);
    free(dst);
    free(want);
}

static void test_frame_mask_matches_reference_at_every_alignment(void **state)
{
    (void)state;
    for (size_t align = 0; align < 16; align++)
        for (uint64_t offset = 0; offset < 8; offset++)
            for (size_t len = 0; len <= 300; len++) {
                check_mask_at(len, align, 0, offset, 1);
                check_mask_at(len, align, (align * 7 + len) % 16, offset, 0);
            }
    static const size_t large[] = {4096, 65536 + 3, (1u << 20) + 5};
    for (size_t i = 0; i < COUNT(large); i++)
        for (size_t align = 0; align < 4; align++) {
            check_mask_at(large[i], align, 0, align + 1, 1);
            check_mask_at(large[i], align, 3 - align, align, 0);
        }
}

static void test_frame_mask_piecewise_equals_whole(void **state)
{
    (void)state;
    /* A payload unmasked in pieces, as it arrives from reads, gives the
     * same bytes as unmasking it at once. */
    enum { N = 1000 };
    uint8_t whole[N], pieces[N];
    fill_pattern(whole, N, 3);
    memcpy(pieces, whole, N);
    wsio_mask(whole, N, mask_key, 0);
    static const size_t cuts[] = {0, 1, 2, 5, 13, 14, 64, 65, 333, 999, N};
    for (size_t i = 0; i + 1 < COUNT(cuts); i++)
        wsio_mask(pieces + cuts[i], cuts[i + 1] - cuts[i], mask_key, cuts[i]);
    assert_memory_equal(pieces, whole, N);
    /* Masking is its own inverse. */
    uint8_t orig[N];
    fill_pattern(orig, N, 3);
    wsio_mask(whole, N, mask_key, 0);
    assert_memory_equal(whole, orig, N);
    /* The offset counts past 2^32. */
    uint8_t a[8] = {0}, b[8] = {0};
    wsio_mask(a, 8, mask_key, ((uint64_t)1 << 32) + 2);
    ref_mask(b, 8, mask_key, 2);
    assert_memory_equal(a, b, 8);
}

/* ---- UTF-8 ------------------------------------------------------------ */

#define UTF8_VALID (-1)     /* valid text */
#define UTF8_TRUNCATED (-2) /* every byte fine, but a sequence is open */

/* Markus Kuhn's "UTF-8 decoder capability and stress test", by section,
 * with the index of the first byte that makes each input invalid. */
static const struct utf8_case {
    const char *name;
    const char *hex;
    long want; /* UTF8_VALID, UTF8_TRUNCATED, or the index of the bad byte */
} utf8_cases[] = {
    {"1 kosme", "CE BA E1 BD B9 CF 83 CE BC CE B5", UTF8_VALID},
    {"2.1 first 1 byte U+0000", "00", UTF8_VALID},
    {"2.1 first 2 bytes U+0080", "C2 80", UTF8_VALID},
    {"2.1 first 3 bytes U+0800", "E0 A0 80", UTF8_VALID},
    {"2.1 first 4 bytes U+10000", "F0 90 80 80", UTF8_VALID},
    {"2.1 first 5 bytes", "F8 88 80 80 80", 0},
    {"2.1 first 6 bytes", "FC 84 80 80 80 80", 0},
    {"2.2 last 1 byte U+007F", "7F", UTF8_VALID},
    {"2.2 last 2 bytes U+07FF", "DF BF", UTF8_VALID},
    {"2.2 last 3 bytes U+FFFF", "EF BF BF", UTF8_VALID},
    {"2.2 last 4 bytes U+1FFFFF", "F7 BF BF BF", 0},
    {"2.2 last 5 bytes", "FB BF BF BF BF", 0},
    {"2.2 last 6 bytes", "FD BF BF BF BF BF", 0},
    {"2.3 U+D7FF", "ED 9F BF", UTF8_VALID},
    {"2.3 U+E000", "EE 80 80", UTF8_VALID},
    {"2.3 U+FFFD", "EF BF BD", UTF8_VALID},
    {"2.3 U+10FFFF", "F4 8F BF BF", UTF8_VALID},
    {"2.3 U+110000", "F4 90 80 80", 1},
    {"3.1 first continuation 80", "80", 0},
    {"3.1 last continuation BF", "BF", 0},
    {"3.1 2 continuations", "80 BF", 0},
    {"3.1 continuation after ASCII", "61 62 63 80 BF", 3},
    {"3.1 all 64 continuations 80..BF",
     "80 81 82 83 84 85 86 87 88 89 8A 8B 8C 8D 8E 8F "
     "90 91 92 93 94 95 96 97 98 99 9A 9B 9C 9D 9E 9F "
     "A0 A1 A2 A3 A4 A5 A6 A7 A8 A9 AA AB AC AD AE AF "
     "B0 B1 B2 B3 B4 B5 B6 B7 B8 B9 BA BB BC BD BE BF",
     0},
    {"3.2 lonely C0", "C0 20", 0},
    {"3.2 lonely C2", "C2 20", 1},
    {"3.2 lonely DF", "DF 20", 1},
    {"3.2 lonely E0", "E0 20", 1},
    {"3.2 lonely EF", "EF 20", 1},
    {"3.2 lonely F0", "F0 20", 1},
    {"3.2 lonely F4", "F4 20", 1},
    {"3.2 lonely F8", "F8 20", 0},
    {"3.2 lonely FC", "FC 20", 0},
    {"3.3 2-byte missing last", "C2", UTF8_TRUNCATED},
    {"3.3 3-byte missing last", "E0 A0", UTF8_TRUNCATED},
    {"3.3 3-byte missing 2", "E1", UTF8_TRUNCATED},
    {"3.3 4-byte missing last", "F0 90 80", UTF8_TRUNCATED},
    {"3.3 4-byte U+10FFFF missing last", "F4 8F BF", UTF8_TRUNCATED},
    {"3.3 U+07FF missing last", "DF", UTF8_TRUNCATED},
    {"3.3 U+FFFF missing last", "EF BF", UTF8_TRUNCATED},
    {"3.3 U+1FFFFF missing last", "F7 BF BF", 0},
    {"3.3 truncated then ASCII", "E1 80 41", 2},
    {"3.3 truncated 4 then ASCII", "41 F1 80 80 42", 4},
    {"3.4 concatenated incomplete", "C2 E0 80 F0 80 80 DF EF BF", 1},
    {"3.4 truncated then lead", "E1 80 E1 80 80", 2},
    {"3.5 impossible FE", "FE", 0},
    {"3.5 impossible FF", "FF", 0},
    {"3.5 impossible FE FE FF FF", "FE FE FF FF", 0},
    {"3.5 impossible after text", "48 69 FF", 2},
    {"4.1 overlong / 2 bytes", "C0 AF", 0},
    {"4.1 overlong / 3 bytes", "E0 80 AF", 1},
    {"4.1 overlong / 4 bytes", "F0 80 80 AF", 1},
    {"4.1 overlong / 5 bytes", "F8 80 80 80 AF", 0},
    {"4.1 overlong / 6 bytes", "FC 80 80 80 80 AF", 0},
    {"4.2 max overlong 2 bytes", "C1 BF", 0},
    {"4.2 max overlong 3 bytes", "E0 9F BF", 1},
    {"4.2 max overlong 4 bytes", "F0 8F BF BF", 1},
    {"4.3 overlong NUL 2 bytes", "C0 80", 0},
    {"4.3 overlong NUL 3 bytes", "E0 80 80", 1},
    {"4.3 overlong NUL 4 bytes", "F0 80 80 80", 1},
    {"5.1 U+D800", "ED A0 80", 1},
    {"5.1 U+DB7F", "ED AD BF", 1},
    {"5.1 U+DB80", "ED AE 80", 1},
    {"5.1 U+DBFF", "ED AF BF", 1},
    {"5.1 U+DC00", "ED B0 80", 1},
    {"5.1 U+DF80", "ED BE 80", 1},
    {"5.1 U+DFFF", "ED BF BF", 1},
    {"5.2 U+D800 U+DC00", "ED A0 80 ED B0 80", 1},
    {"5.2 U+DBFF U+DFFF", "ED AF BF ED BF BF", 1},
    {"5.2 surrogate pair after text", "61 ED AF BF ED BF BF", 2},
    {"5.3 U+FFFE", "EF BF BE", UTF8_VALID},
    {"5.3 U+FFFF", "EF BF BF", UTF8_VALID},
    {"5.3 U+FDD0", "EF B7 90", UTF8_VALID},
    {"5.3 U+1FFFF", "F0 9F BF BF", UTF8_VALID},
    {"5.3 U+10FFFE", "F4 8F BF BE", UTF8_VALID},
    {"mixed text", "48 65 6C 6C 6F 2D C2 B5 40 C3 9F C3 B6 E2 82 AC 21",
     UTF8_VALID},
    {"empty", "", UTF8_VALID},
};

/* Feed text in pieces ending at cuts[0..ncuts-1] (the last is len) and
 * return what the validator concluded, in the form of utf8_case.want. */
static long feed_pieces(const uint8_t *text, size_t len, const size_t *cuts,
                        size_t ncuts)
{
    wsio_utf8 v;
    wsio_utf8_init(&v);
    size_t start = 0;
    for (size_t i = 0; i < ncuts; i++) {
        size_t bad = SIZE_MAX;
        int rc = wsio_utf8_feed(&v, text + start, cuts[i] - start, &bad);
        if (rc != 0) {
            assert_int_equal(rc, WSIO_EUTF8);
            assert_true(bad < cuts[i] - start);
            long pos = (long)(start + bad);
            /* Failure is sticky until wsio_utf8_init. */
            assert_int_equal(wsio_utf8_feed(&v, "a", 1, &bad), WSIO_EUTF8);
            assert_int_equal(bad, 0);
            assert_int_equal(wsio_utf8_finish(&v), WSIO_EUTF8);
            return pos;
        }
        start = cuts[i];
    }
    assert_int_equal(start, len);
    return wsio_utf8_finish(&v) == 0 ? UTF8_VALID : UTF8_TRUNCATED;
}

/* Fails the test, naming the case, when got differs from want. */
static void expect_verdict(const char *name, const char *how, long got,
                           long want)
{
    if (got != want)
        fail_msg("%s (%s): got %ld, want %ld", name, how, got, want);
}

static void check_utf8_all_splits(const char *name, const uint8_t *text,
                                  size_t len, long want)
{
    size_t cuts[3];
    /* Whole. */
    cuts[0] = len;
    expect_verdict(name, "whole", feed_pieces(text, len, cuts, 1), want);
    assert_int_equal(wsio_utf8_validate(text, len),
                     want == UTF8_VALID ? 0 : WSIO_EUTF8);
    /* Two and three pieces, split at every pair of byte boundaries
     * (empty pieces included). */
    for (size_t a = 0; a <= len; a++) {
        cuts[0] = a;
        cuts[1] = len;
        expect_verdict(name, "2 pieces", feed_pieces(text, len, cuts, 2), want);
        for (size_t b = a; b <= len; b++) {
            cuts[1] = b;
            cuts[2] = len;
            expect_verdict(name, "3 pieces", feed_pieces(text, len, cuts, 3),
                           want);
        }
    }
    /* One byte at a time. */
    size_t one[64];
    assert_true(len <= COUNT(one));
    for (size_t i = 0; i < len; i++)
        one[i] = i + 1;
    if (len > 0)
        expect_verdict(name, "bytewise", feed_pieces(text, len, one, len),
                       want);
}

static void test_frame_utf8_kuhn_stress_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(utf8_cases); i++) {
        uint8_t text[64];
        size_t len = test_hex(utf8_cases[i].hex, text, sizeof text);
        check_utf8_all_splits(utf8_cases[i].name, text, len,
                              utf8_cases[i].want);
    }
}

static void test_frame_utf8_every_position_past_ascii_run(void **state)
{
    (void)state;
    /* The ASCII fast path must hand over to the automaton at any position
     * in and around its 8-byte steps. */
    static const struct {
        const char *hex;
        long want; /* relative to the insertion point */
    } inserts[] = {
        {"80", 0},
        {"FF", 0},
        {"C0 80", 0},
        {"ED A0 80", 1},
        {"E1 80 41", 2},
        {"C2 A9", UTF8_VALID},
        {"E2 82 AC", UTF8_VALID},
        {"F0 9F 98 80", UTF8_VALID},
        {"F0 9F 98", UTF8_TRUNCATED},
    };
    for (size_t k = 0; k < COUNT(inserts); k++) {
        uint8_t ins[8];
        size_t n = test_hex(inserts[k].hex, ins, sizeof ins);
        for (size_t at = 0; at <= 40; at++) {
            uint8_t text[64];
            memset(text, 'x', sizeof text);
            memcpy(text + at, ins, n);
            /* Truncated sequences must end the text to stay truncated. */
            size_t len = inserts[k].want == UTF8_TRUNCATED ? at + n : 56;
            long want = inserts[k].want < 0 ? inserts[k].want
                                            : (long)at + inserts[k].want;
            size_t cuts[1] = {len};
            assert_int_equal(feed_pieces(text, len, cuts, 1), want);
            for (size_t a = 0; a <= len; a += 3) {
                size_t two[2] = {a, len};
                assert_int_equal(feed_pieces(text, len, two, 2), want);
            }
        }
    }
}

static void test_frame_utf8_init_resets_after_failure(void **state)
{
    (void)state;
    wsio_utf8 v;
    size_t bad = 99;
    wsio_utf8_init(&v);
    assert_int_equal(v.state, 0);
    assert_int_equal(wsio_utf8_feed(&v, "ab\xC0", 3, &bad), WSIO_EUTF8);
    assert_int_equal(bad, 2);
    assert_int_equal(wsio_utf8_feed(&v, "ok", 2, NULL), WSIO_EUTF8);
    wsio_utf8_init(&v);
    assert_int_equal(wsio_utf8_feed(&v, "ok", 2, NULL), 0);
    assert_int_equal(wsio_utf8_finish(&v), 0);
    /* A character split across fragments stays open in between. */
    assert_int_equal(wsio_utf8_feed(&v, "\xE2\x82", 2, NULL), 0);
    assert_int_equal(wsio_utf8_finish(&v), WSIO_EUTF8);
    assert_int_equal(wsio_utf8_feed(&v, "\xAC", 1, NULL), 0);
    assert_int_equal(wsio_utf8_finish(&v), 0);
    assert_int_equal(wsio_utf8_feed(&v, NULL, 0, NULL), 0);
}

/* ---- vector paths against the scalar ones ------------------------------ */

/* Every vector level this CPU runs, after the scalar reference: the
 * tests below compare each with WSIO__SIMD_SCALAR. */
static size_t simd_levels(enum wsio__simd *out)
{
    size_t n = 0;
    for (int l = WSIO__SIMD_SCALAR + 1; l <= (int)wsio__simd_best(); l++)
        out[n++] = (enum wsio__simd)l;
    return n;
}

static uint32_t lcg(uint32_t *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 8;
}

static void test_frame_mask_simd_matches_scalar(void **state)
{
    (void)state;
    enum wsio__simd levels[4];
    size_t nlev = simd_levels(levels);
    enum { MAXLEN = 257, ALIGNS = 64, CAP = MAXLEN + 2 * ALIGNS };
    uint8_t src[CAP], want[CAP], got[CAP];
    uint32_t seed = 7;
    for (size_t i = 0; i < CAP; i++)
        src[i] = (uint8_t)lcg(&seed);
    for (size_t k = 0; k < nlev; k++)
        for (size_t len = 0; len <= MAXLEN; len++)
            for (size_t align = 0; align < ALIGNS; align++)
                for (uint64_t offset = 0; offset < 4; offset++) {
                    /* Copying, to a differently aligned destination;
                     * bytes around it must stay untouched. */
                    size_t dalign = (align * 5 + len) % ALIGNS;
                    memset(want, 0xA5, CAP);
                    memset(got, 0xA5, CAP);
                    wsio__mask_copy_with(WSIO__SIMD_SCALAR, want + dalign,
                                         src + align, len, mask_key, offset);
                    wsio__mask_copy_with(levels[k], got + dalign, src + align,
                                         len, mask_key, offset);
                    assert_memory_equal(got, want, CAP);
                    /* In place. */
                    memcpy(got, src, CAP);
                    memcpy(want, src, CAP);
                    wsio__mask_copy_with(WSIO__SIMD_SCALAR, want + align,
                                         want + align, len, mask_key, offset);
                    wsio__mask_copy_with(levels[k], got + align, got + align,
                                         len, mask_key, offset);
                    assert_memory_equal(got, want, CAP);
                }
}

/* Feed text to the validator at a level, in pieces ending at cuts (the
 * last is len); the verdict in the form of utf8_case.want. */
static long feed_with(enum wsio__simd simd, const uint8_t *text, size_t len,
                      const size_t *cuts, size_t ncuts)
{
    wsio_utf8 v;
    wsio_utf8_init(&v);
    size_t start = 0;
    for (size_t i = 0; i < ncuts; i++) {
        size_t bad = SIZE_MAX;
        if (wsio__utf8_feed_with(simd, &v, text + start, cuts[i] - start,
                                 &bad)) {
            assert_true(bad < cuts[i] - start);
            return (long)(start + bad);
        }
        start = cuts[i];
    }
    assert_int_equal(start, len);
    return wsio_utf8_finish(&v) == 0 ? UTF8_VALID : UTF8_TRUNCATED;
}

/* Every level agrees with the scalar validator on text, whole and in two
 * pieces cut at each of cuts (the verdict includes the failing offset). */
static void check_utf8_levels(const uint8_t *text, size_t len,
                              const size_t *cut_at, size_t ncut)
{
    enum wsio__simd levels[4];
    size_t nlev = simd_levels(levels);
    size_t whole[1] = {len};
    long want = feed_with(WSIO__SIMD_SCALAR, text, len, whole, 1);
    for (size_t k = 0; k < nlev; k++) {
        long got = feed_with(levels[k], text, len, whole, 1);
        if (got != want)
            fail_msg("level %d, len %zu: got %ld, want %ld", (int)levels[k],
                     len, got, want);
        for (size_t c = 0; c < ncut; c++) {
            if (cut_at[c] > len)
                continue;
            size_t two[2] = {cut_at[c], len};
            long w2 = feed_with(WSIO__SIMD_SCALAR, text, len, two, 2);
            assert_int_equal(w2, want);
            long g2 = feed_with(levels[k], text, len, two, 2);
            if (g2 != want)
                fail_msg("level %d, len %zu cut %zu: got %ld, want %ld",
                         (int)levels[k], len, cut_at[c], g2, want);
        }
    }
}

/* Valid characters of every length, at the edges of their ranges. */
static const char *const utf8_chars[] = {
    "41",          "00",          "7F",          "C2 80",
    "DF BF",       "D0 96",       "C3 A9",       "E0 A0 80",
    "ED 9F BF",    "EE 80 80",    "EF BF BF",    "E2 82 AC",
    "F0 90 80 80", "F4 8F BF BF", "F0 9F 98 80", "F3 BF BF BF",
};

/* Fill text with len bytes of random valid characters (the last may be
 * cut); mostly non-ASCII when dense. */
static void random_utf8(uint8_t *text, size_t len, uint32_t *seed, int dense)
{
    size_t i = 0;
    while (i < len) {
        uint8_t ch[4];
        size_t pick = lcg(seed) % COUNT(utf8_chars);
        if (!dense && lcg(seed) % 4)
            pick = 0;
        size_t n = test_hex(utf8_chars[pick], ch, sizeof ch);
        for (size_t j = 0; j < n && i < len; j++)
            text[i++] = ch[j];
    }
}

static void test_frame_utf8_simd_matches_scalar_every_length(void **state)
{
    (void)state;
    enum { MAXLEN = 257, ALIGNS = 64 };
    uint8_t buf[MAXLEN + ALIGNS];
    static const size_t cuts[] = {1, 15, 16, 31, 32, 33, 63, 64, 65, 100};
    uint32_t seed = 1;
    for (size_t len = 0; len <= MAXLEN; len++)
        for (size_t align = 0; align < ALIGNS; align++) {
            uint8_t *text = buf + align;
            /* Valid (or cut at the end) text, ASCII-heavy or dense. */
            random_utf8(text, len, &seed, (int)(align & 1));
            check_utf8_levels(text, len, cuts,
                              align % 8 == 0 ? COUNT(cuts) : 0);
            /* Random bytes: mostly invalid somewhere. */
            if (align % 4 == 0) {
                for (size_t i = 0; i < len; i++)
                    text[i] = (uint8_t)lcg(&seed);
                check_utf8_levels(text, len, cuts, 0);
            }
        }
}

static void test_frame_utf8_simd_matches_scalar_error_everywhere(void **state)
{
    (void)state;
    /* Each error (or cut character) placed at every position of a
     * 257-byte valid text, so across every vector boundary and up to the
     * last bytes, and the text cut in two at and around it. */
    static const char *const errors[] = {
        "80",          "BF",          "FF",          "F8",          "C0 80",
        "C1 BF",       "E0 80 80",    "E0 9F BF",    "ED A0 80",    "ED BF BF",
        "F0 80 80 80", "F0 8F BF BF", "F4 90 80 80", "F5 80 80 80", "E2 41",
        "F0 9F 98 41", "C2",          "E2 82",       "F0 9F 98",    "41 80 80",
        "E2 82 AC 80",
    };
    enum { LEN = 257 };
    uint8_t text[LEN + 8];
    for (size_t e = 0; e < COUNT(errors); e++) {
        uint8_t err[8];
        size_t n = test_hex(errors[e], err, sizeof err);
        for (size_t at = 0; at + n <= LEN; at++) {
            uint32_t seed = (uint32_t)(e * 1000 + at);
            /* In mixed text, in dense text, and after pure ASCII (the
             * vector code's fast path). */
            for (int bg = 0; bg < 3; bg++) {
                if (bg < 2)
                    random_utf8(text, LEN, &seed, bg);
                else
                    memset(text, 'a', LEN);
                memcpy(text + at, err, n);
                size_t cuts[] = {at, at + 1, at + n, at > 3 ? at - 3 : 0};
                check_utf8_levels(text, LEN, cuts,
                                  (at + (size_t)bg) % 3 == 0 ? COUNT(cuts) : 0);
                /* The same text ending right after the error. */
                check_utf8_levels(text, at + n, cuts, 0);
            }
        }
    }
}

static void test_frame_utf8_simd_matches_scalar_on_every_pair(void **state)
{
    (void)state;
    /* Every two-byte pair, and three-byte sequences from every lead, at
     * a vector boundary (bytes 31|32), inside ASCII and inside 2-byte
     * characters. */
    uint8_t text[80];
    for (int filler = 0; filler < 2; filler++)
        for (unsigned a = 0; a < 256; a++)
            for (unsigned b = 0; b < 256; b++) {
                for (size_t i = 0; i < sizeof text; i += 2) {
                    text[i] = filler ? 0xD0 : 'x';
                    text[i + 1] = filler ? 0x96 : 'y';
                }
                text[32] = (uint8_t)a;
                text[33] = (uint8_t)b;
                check_utf8_levels(text, sizeof text, NULL, 0);
                if (a >= 0xE0 && a <= 0xF7 && b >= 0x70 && b <= 0xC7)
                    for (unsigned c = 0x7F; c <= 0xC0; c += 0x0F) {
                        text[31] = (uint8_t)a;
                        text[32] = (uint8_t)b;
                        text[33] = (uint8_t)c;
                        check_utf8_levels(text, sizeof text, NULL, 0);
                        check_utf8_levels(text, 34, NULL, 0);
                    }
            }
}

static void test_frame_utf8_simd_matches_scalar_on_kuhn_cases(void **state)
{
    (void)state;
    /* Each stress case after 0..70 bytes of text, so it meets every
     * position in and across 16- and 32-byte vectors, and before more. */
    for (size_t i = 0; i < COUNT(utf8_cases); i++)
        for (size_t pre = 0; pre <= 70; pre++) {
            uint8_t text[256];
            uint32_t seed = (uint32_t)(i + pre);
            random_utf8(text, sizeof text, &seed, (int)(pre & 1));
            /* The prefix must end between characters. */
            size_t at = pre;
            while (at > 0 && (text[at] & 0xC0) == 0x80)
                at--;
            size_t n = test_hex(utf8_cases[i].hex, text + at, 64);
            size_t cuts[] = {at, at + n / 2, at + n};
            check_utf8_levels(text, at + n, cuts, COUNT(cuts));
            check_utf8_levels(text, at + n + 40, cuts, COUNT(cuts));
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_decode_rfc_examples),
        cmocka_unit_test(test_frame_decode_every_prefix_needs_more),
        cmocka_unit_test(test_frame_decode_rejects_length_top_bit),
        cmocka_unit_test(test_frame_decode_reads_rsv_and_opcode_bits),
        cmocka_unit_test(test_frame_decode_accepts_longer_length_form),
        cmocka_unit_test(test_frame_decode_rejects_null),
        cmocka_unit_test(test_frame_encode_round_trips_every_length_form),
        cmocka_unit_test(test_frame_encode_writes_wire_bytes),
        cmocka_unit_test(test_frame_encode_rejects_invalid_header),
        cmocka_unit_test(test_frame_check_applies_each_rule),
        cmocka_unit_test(test_frame_mask_matches_reference_at_every_alignment),
        cmocka_unit_test(test_frame_mask_piecewise_equals_whole),
        cmocka_unit_test(test_frame_utf8_kuhn_stress_cases),
        cmocka_unit_test(test_frame_utf8_every_position_past_ascii_run),
        cmocka_unit_test(test_frame_utf8_init_resets_after_failure),
        cmocka_unit_test(test_frame_mask_simd_matches_scalar),
        cmocka_unit_test(test_frame_utf8_simd_matches_scalar_every_length),
        cmocka_unit_test(test_frame_utf8_simd_matches_scalar_error_everywhere),
        cmocka_unit_test(test_frame_utf8_simd_matches_scalar_on_every_pair),
        cmocka_unit_test(test_frame_utf8_simd_matches_scalar_on_kuhn_cases),
    };
    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
