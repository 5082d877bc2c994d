/*
 * tests/fuzz/fuzz_utf8.c - the incremental UTF-8 validator against a
 * reference decoder, whole and in fuzzer-chosen pieces, at every vector
 * level the CPU runs (src/frame_simd.h) against the scalar automaton.
 *
 * Input: byte 0 seeds the piece sizes, the rest is the text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame_simd.h"
#include "wsio/frame.h"

#define VALID (-1L)
#define TRUNCATED (-2L)

/* Can a sequence of this length still become a valid scalar value, given
 * that its code point lies in [lo, hi]? RFC 3629: at least min (no
 * overlong form), at most U+10FFFF, and not a surrogate. */
static int range_possible(uint32_t lo, uint32_t hi, uint32_t min)
{
    uint32_t a = lo > min ? lo : min;
    uint32_t b = hi < 0x10FFFF ? hi : 0x10FFFF;
    if (a > b)
        return 0;
    return !(a >= 0xD800 && b <= 0xDFFF);
}

/* A plain decoder written from RFC 3629: the index of the first byte after
 * which no valid completion exists, or VALID, or TRUNCATED. */
static long ref_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        unsigned need;
        uint32_t cp, min;
        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            need = 1, cp = b & 0x1Fu, min = 0x80;
        } else if ((b & 0xF0) == 0xE0) {
            need = 2, cp = b & 0x0Fu, min = 0x800;
        } else if ((b & 0xF8) == 0xF0) {
            need = 3, cp = b & 0x07u, min = 0x10000;
        } else {
            return (long)i; /* a continuation byte, or F8..FF */
        }
        for (unsigned j = 0;; j++) {
            unsigned left = need - j;
            uint32_t lo = cp << (6 * left);
            uint32_t hi = lo | ((1u << (6 * left)) - 1);
            if (!range_possible(lo, hi, min))
                return (long)(i + j);
            if (j == need)
                break;
            if (i + j + 1 >= n)
                return TRUNCATED;
            uint8_t c = s[i + j + 1];
            if ((c & 0xC0) != 0x80)
                return (long)(i + j + 1);
            cp = cp << 6 | (c & 0x3Fu);
        }
        i += need + 1;
    }
    return VALID;
}

/* Feed text at a vector level in pieces whose sizes come from seed (0
 * sizes included; up to 18 bytes, or up to 144 when seed is odd, so
 * pieces span whole vectors). */
static long feed_split(enum wsio__simd simd, const uint8_t *text, size_t len,
                       uint32_t seed)
{
    wsio_utf8 v;
    wsio_utf8_init(&v);
    size_t start = 0;
    size_t scale = seed & 1 ? 8 : 1;
    while (start < len) {
        seed = seed * 1103515245u + 12345u;
        size_t piece = (seed >> 16) % 19 * scale;
        if (piece > len - start)
            piece = len - start;
        size_t bad = SIZE_MAX;
        if (wsio__utf8_feed_with(simd, &v, text + start, piece, &bad) != 0) {
            if (bad >= piece)
                abort();
            return (long)(start + bad);
        }
        start += piece;
    }
    return wsio_utf8_finish(&v) == 0 ? VALID : TRUNCATED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint32_t seed = data[0];
    const uint8_t *text = data + 1;
    size_t len = size - 1;

    long want = ref_utf8(text, len);
    for (int l = WSIO__SIMD_SCALAR; l <= (int)wsio__simd_best(); l++) {
        enum wsio__simd simd = (enum wsio__simd)l;
        wsio_utf8 v;
        size_t bad = SIZE_MAX;
        wsio_utf8_init(&v);
        long whole;
        if (wsio__utf8_feed_with(simd, &v, text, len, &bad) != 0)
            whole = (long)bad;
        else
            whole = wsio_utf8_finish(&v) == 0 ? VALID : TRUNCATED;
        if (whole != want)
            abort();
        if (feed_split(simd, text, len, seed) != want)
            abort();
    }
    if ((wsio_utf8_validate(text, len) == 0) != (want == VALID))
        abort();
    return 0;
}
