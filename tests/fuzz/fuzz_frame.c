/*
 * tests/fuzz/fuzz_frame.c - decode a stream of frame headers, check each,
 * re-encode it and compare; mask each payload and compare with a scalar
 * reference, at every vector level the CPU runs (src/frame_simd.h).
 *
 * Input: byte 0 picks the buffer alignment and the payload offset for
 * masking, the rest is a stream of frames (header, then payload).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame_simd.h"
#include "wsio/frame.h"

#define REQUIRE(x)                                                             \
    do {                                                                       \
        if (!(x))                                                              \
            abort();                                                           \
    } while (0)

/* The header length bytes 0 and 1 announce (section 5.2). */
static size_t announced_len(const uint8_t *p)
{
    unsigned len7 = p[1] & 0x7Fu;
    size_t n = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
    return n + (p[1] & 0x80u ? 4 : 0);
}

static void check_rules(const wsio_frame_header *h)
{
    for (int role = 0; role <= 1; role++)
        for (unsigned allowed = 0; allowed <= 7; allowed++) {
            int rc = wsio_frame_header_check(h, (enum wsio_role)role, allowed);
            int want = 0;
            int op = h->opcode;
            if (role == WSIO_ROLE_SERVER && !h->masked)
                want = WSIO_EUNMASKED;
            else if (role == WSIO_ROLE_CLIENT && h->masked)
                want = WSIO_EMASKED;
            else if (h->rsv & ~allowed)
                want = WSIO_ERSV;
            else if ((op >= 3 && op <= 7) || op >= 0xB)
                want = WSIO_EOPCODE;
            else if (op >= 8 && (!h->fin || h->payload_len > 125))
                want = WSIO_ECONTROL;
            REQUIRE(rc == want);
        }
}

static void check_round_trip(const uint8_t *wire, const wsio_frame_header *h)
{
    uint8_t out[WSIO_FRAME_HEADER_MAX];
    wsio_frame_header back;
    ssize_t n = wsio_frame_header_encode(out, h);
    REQUIRE(n >= 2 &&
            (size_t)n == wsio_frame_header_size(h->payload_len, h->masked));
    REQUIRE(wsio_frame_header_decode(out, (size_t)n, &back) == n);
    REQUIRE(back.payload_len == h->payload_len && back.fin == h->fin &&
            back.rsv == h->rsv && back.opcode == h->opcode &&
            back.masked == h->masked && back.header_len == n);
    REQUIRE(!h->masked || memcmp(back.mask_key, h->mask_key, 4) == 0);
    /* A header in the shortest form comes back byte for byte; longer forms
     * than needed are accepted on input but never produced. */
    REQUIRE(h->header_len >= n);
    if (h->header_len == n)
        REQUIRE(memcmp(out, wire, (size_t)n) == 0);
}

static void check_mask(const uint8_t *payload, size_t len, const uint8_t *key,
                       unsigned align, uint64_t offset)
{
    uint8_t *a = malloc(len + 16), *b = malloc(len + 16);
    REQUIRE(a && b);
    uint8_t *pa = a + align, *pb = b + (15 - align);
    for (size_t i = 0; i < len; i++)
        pb[i] = (uint8_t)(payload[i] ^ key[(offset + i) % 4]);
    for (int l = WSIO__SIMD_SCALAR; l <= (int)wsio__simd_best(); l++) {
        enum wsio__simd simd = (enum wsio__simd)l;
        memcpy(pa, payload, len);
        wsio__mask_copy_with(simd, pa, pa, len, key, offset);
        REQUIRE(memcmp(pa, pb, len) == 0);
        /* Copying, then unmasking in two pieces, restores the payload. */
        wsio__mask_copy_with(simd, pa, pb, len, key, offset);
        REQUIRE(memcmp(pa, payload, len) == 0);
        size_t cut = len / 3;
        wsio__mask_copy_with(simd, pa, pa, cut, key, offset);
        wsio__mask_copy_with(simd, pa + cut, pa + cut, len - cut, key,
                             offset + cut);
        REQUIRE(memcmp(pa, pb, len) == 0);
    }
    /* The public entry points use the best level. */
    memcpy(pa, payload, len);
    wsio_mask(pa, len, key, offset);
    REQUIRE(memcmp(pa, pb, len) == 0);
    wsio_mask_copy(pa, pb, len, key, offset);
    REQUIRE(memcmp(pa, payload, len) == 0);
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned align = data[0] & 15u;
    uint64_t offset = data[0] >> 4;
    const uint8_t *p = data + 1;
    size_t left = size - 1;

    while (left > 0) {
        wsio_frame_header h;
        ssize_t n = wsio_frame_header_decode(p, left, &h);
        if (n == WSIO_EAGAIN) {
            REQUIRE(h.header_len > left);
            REQUIRE(h.header_len == (left < 2 ? 2 : announced_len(p)));
            break;
        }
        if (n == WSIO_ELENGTH) {
            REQUIRE((p[1] & 0x7F) == 127 && (p[2] & 0x80));
            break;
        }
        REQUIRE(n >= 2 && n <= WSIO_FRAME_HEADER_MAX);
        REQUIRE((size_t)n == announced_len(p) && h.header_len == n);
        /* Every shorter prefix asks for more, and for the right amount. */
        for (size_t k = 0; k < (size_t)n; k++) {
            wsio_frame_header part;
            REQUIRE(wsio_frame_header_decode(p, k, &part) == WSIO_EAGAIN);
            REQUIRE(part.header_len == (k < 2 ? 2 : (size_t)n));
        }
        check_rules(&h);
        check_round_trip(p, &h);
        p += n;
        left -= (size_t)n;

        size_t plen = h.payload_len < left ? (size_t)h.payload_len : left;
        const uint8_t other_key[4] = {data[0], 0x5A, 0xA5, 0xFF};
        check_mask(p, plen, h.masked ? h.mask_key : other_key, align, offset);
        p += plen;
        left -= plen;
    }
    return 0;
}
