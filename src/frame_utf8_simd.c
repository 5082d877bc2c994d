/*
 * src/frame_utf8_simd.c - vector UTF-8 validation for x86-64 (RFC 3629 section
 * 4), written from J. Keiser and D. Lemire, "Validating UTF-8 In Less Than
 * One Instruction Per Byte", Software: Practice and Experience 51(5),
 * 2021 (the "lookup" algorithm).
 *
 * The idea: every rule of RFC 3629 but the length of a sequence can be
 * checked on pairs of adjacent bytes, and every forbidden pair is caught
 * by looking only at the first byte's two nibbles and the second byte's
 * high nibble. Each error kind gets one bit; three 16-entry tables, one per
 * nibble, say which kinds that nibble value can take part in; a pair is
 * bad when one bit survives the AND of its three lookups. PSHUFB does 32
 * such lookups in one instruction. What pairs cannot see, a lead byte's
 * third and fourth bytes, is checked by counting: a continuation that
 * follows a continuation (bit TWO_CONTS) is right exactly when the byte
 * two back is a 3- or 4-byte lead or the byte three back a 4-byte lead.
 *
 * Blocks of 32 bytes; a block of ASCII after a complete character costs a
 * load and a MOVEMASK. This code only says how far the text is certainly
 * valid (src/frame_simd.h); src/frame_utf8.c's automaton reports the exact
 * error.
 */
#include <string.h>

#include "frame_simd.h"

#ifdef WSIO__HAVE_X86_SIMD
#include <immintrin.h>

/* Error kinds, one bit each; (a, b) is a pair of adjacent bytes. */
#define TOO_SHORT (1u << 0)  /* a is a lead (C0..FF), b no continuation */
#define TOO_LONG (1u << 1)   /* a is ASCII, b a continuation */
#define OVERLONG_3 (1u << 2) /* E0 then 80..9F */
#define TOO_LARGE (1u << 3)  /* F4..FF then 90..BF: above U+10FFFF */
#define SURROGATE (1u << 4)  /* ED then A0..BF: U+D800..U+DFFF */
#define OVERLONG_2 (1u << 5) /* C0 or C1 then a continuation */
#define F_THEN_8 (1u << 6)   /* F0 then 80..8F (overlong), F5..FF then 80..8F */
#define TWO_CONTS (1u << 7)  /* a continuation then a continuation */

/* Which kinds a's high nibble allows (index: a >> 4). */
static const uint8_t a_high[16] = {
    /* 0..7 ASCII */
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    TOO_LONG,
    /* 8..B continuation */
    TWO_CONTS,
    TWO_CONTS,
    TWO_CONTS,
    TWO_CONTS,
    /* C, D: 2-byte leads (and C0, C1) */
    TOO_SHORT | OVERLONG_2,
    TOO_SHORT,
    /* E: 3-byte leads */
    TOO_SHORT | OVERLONG_3 | SURROGATE,
    /* F: 4-byte leads, and F5..FF */
    TOO_SHORT | TOO_LARGE | F_THEN_8,
};

/* Which kinds a's low nibble allows (index: a & 15). */
#define ANY_LOW (TOO_SHORT | TOO_LONG | TWO_CONTS)
static const uint8_t a_low[16] = {
    /* 0: C0, E0, F0 */
    ANY_LOW | OVERLONG_2 | OVERLONG_3 | F_THEN_8,
    /* 1: C1 */
    ANY_LOW | OVERLONG_2,
    ANY_LOW,
    ANY_LOW,
    /* 4: F4 */
    ANY_LOW | TOO_LARGE,
    /* 5..F: F5..FF (and ED, below) */
    ANY_LOW | TOO_LARGE | F_THEN_8,
    ANY_LOW | TOO_LARGE | F_THEN_8,
    ANY_LOW | TOO_LARGE | F_THEN_8,
    ANY_LOW | TOO_LARGE | F_THEN_8,
    ANY_LOW | TOO_LARGE | F_THEN_8,
    ANY_LOW | TOO_LARGE | F_THEN_8,
    ANY_LOW | TOO_LARGE | F_THEN_8,
    ANY_LOW | TOO_LARGE | F_THEN_8,
    ANY_LOW | TOO_LARGE | F_THEN_8 | SURROGATE,
    ANY_LOW | TOO_LARGE | F_THEN_8,
    ANY_LOW | TOO_LARGE | F_THEN_8,
};

/* Which kinds b's high nibble allows (index: b >> 4). */
#define ANY_CONT (TOO_LONG | TWO_CONTS | OVERLONG_2)
static const uint8_t b_high[16] = {
    /* 0..7 ASCII */
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    /* 8, 9, A, B continuations */
    ANY_CONT | OVERLONG_3 | F_THEN_8,
    ANY_CONT | OVERLONG_3 | TOO_LARGE,
    ANY_CONT | SURROGATE | TOO_LARGE,
    ANY_CONT | SURROGATE | TOO_LARGE,
    /* C..F leads */
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
    TOO_SHORT,
};

/* Where a text that reached p + at without error (p[0] starting a
 * character) has its last character boundary: at, or the lead byte of a
 * character cut at `at`. */
static size_t char_start(const uint8_t *p, size_t at)
{
    if (at >= 1 && p[at - 1] >= 0xC0)
        return at - 1;
    if (at >= 2 && p[at - 2] >= 0xE0)
        return at - 2;
    if (at >= 3 && p[at - 3] >= 0xF0)
        return at - 3;
    return at;
}

size_t wsio__utf8_valid_prefix_sse2(const uint8_t *p, size_t len)
{
    size_t i = 0;
    for (; i + 32 <= len; i += 32) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i b =
            _mm_loadu_si128((const __m128i *)(const void *)(p + i + 16));
        if (_mm_movemask_epi8(_mm_or_si128(a, b)))
            break;
    }
    for (; i + 16 <= len; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        if (_mm_movemask_epi8(a))
            break;
    }
    return i;
}

/* The validator's state between blocks. */
typedef struct utf8_vec {
    __m256i prev;       /* the previous block (zeros before the first) */
    __m256i incomplete; /* nonzero: prev ends inside a character */
} utf8_vec;

/* The errors of block `in` (nonzero bytes where it breaks a rule). */
__attribute__((target("avx2"))) static inline __m256i block_errors(__m256i in,
                                                                   __m256i prev)
{
    const __m256i nib = _mm256_set1_epi8(0x0F);
    /* prevN: the byte N positions back, for every byte of in. */
    __m256i carry = _mm256_permute2x128_si256(prev, in, 0x21);
    __m256i prev1 = _mm256_alignr_epi8(in, carry, 15);
    __m256i prev2 = _mm256_alignr_epi8(in, carry, 14);
    __m256i prev3 = _mm256_alignr_epi8(in, carry, 13);

    __m256i t_ah = _mm256_broadcastsi128_si256(
        _mm_loadu_si128((const __m128i *)(const void *)a_high));
    __m256i t_al = _mm256_broadcastsi128_si256(
        _mm_loadu_si128((const __m128i *)(const void *)a_low));
    __m256i t_bh = _mm256_broadcastsi128_si256(
        _mm_loadu_si128((const __m128i *)(const void *)b_high));
    __m256i ah = _mm256_shuffle_epi8(
        t_ah, _mm256_and_si256(_mm256_srli_epi16(prev1, 4), nib));
    __m256i al = _mm256_shuffle_epi8(t_al, _mm256_and_si256(prev1, nib));
    __m256i bh = _mm256_shuffle_epi8(
        t_bh, _mm256_and_si256(_mm256_srli_epi16(in, 4), nib));
    __m256i pairs = _mm256_and_si256(_mm256_and_si256(ah, al), bh);

    /* Saturating subtraction leaves the top bit set exactly when prev2 >=
     * E0 (3- or 4-byte lead) or prev3 >= F0 (4-byte lead): then this
     * byte must be a continuation after a continuation, TWO_CONTS. */
    __m256i third = _mm256_subs_epu8(prev2, _mm256_set1_epi8(0xE0 - 0x80));
    __m256i fourth = _mm256_subs_epu8(prev3, _mm256_set1_epi8(0xF0 - 0x80));
    __m256i must_follow = _mm256_and_si256(_mm256_or_si256(third, fourth),
                                           _mm256_set1_epi8((char)0x80));
    return _mm256_xor_si256(pairs, must_follow);
}

/* Nonzero when in ends inside a character: a lead among its last three
 * bytes with fewer continuations after it than it needs. */
__attribute__((target("avx2"))) static inline __m256i
block_incomplete(__m256i in)
{
    const __m256i max = _mm256_setr_epi8(
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, (char)(0xF0 - 1),
        (char)(0xE0 - 1), (char)(0xC0 - 1));
    return _mm256_subs_epu8(in, max);
}

/* Check the next block; nonzero when it is free of errors. */
__attribute__((target("avx2"))) static inline int block_ok(utf8_vec *st,
                                                           __m256i in)
{
    __m256i err;
    if (!_mm256_movemask_epi8(in)) {
        /* ASCII: only a character left open before it can be wrong. */
        err = st->incomplete;
        st->incomplete = _mm256_setzero_si256();
    } else {
        err = block_errors(in, st->prev);
        st->incomplete = block_incomplete(in);
    }
    st->prev = in;
    return _mm256_testz_si256(err, err);
}

__attribute__((target("avx2"))) size_t
wsio__utf8_valid_prefix_avx2(const uint8_t *p, size_t len)
{
    utf8_vec st = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    size_t i = 0;
    /* Leading ASCII, the common case, 128 bytes a step. */
    for (; i + 128 <= len; i += 128) {
        const __m256i *v = (const __m256i *)(const void *)(p + i);
        __m256i any = _mm256_or_si256(
            _mm256_or_si256(_mm256_loadu_si256(v), _mm256_loadu_si256(v + 1)),
            _mm256_or_si256(_mm256_loadu_si256(v + 2),
                            _mm256_loadu_si256(v + 3)));
        if (_mm256_movemask_epi8(any))
            break;
    }
    if (i > 0)
        st.prev =
            _mm256_loadu_si256((const __m256i *)(const void *)(p + i - 32));
    for (; i + 64 <= len; i += 64) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(p + i));
        __m256i b =
            _mm256_loadu_si256((const __m256i *)(const void *)(p + i + 32));
        if (!_mm256_movemask_epi8(_mm256_or_si256(a, b))) {
            /* 64 bytes of ASCII, the common case: right unless a
             * character was left open before them. */
            if (!_mm256_testz_si256(st.incomplete, st.incomplete))
                return char_start(p, i);
            st.incomplete = _mm256_setzero_si256();
            st.prev = b;
            continue;
        }
        /* Both halves checked at once; prev carries the context across
         * blocks, so incomplete is only needed before ASCII. */
        __m256i err =
            _mm256_or_si256(block_errors(a, st.prev), block_errors(b, a));
        if (!_mm256_testz_si256(err, err))
            return char_start(p, i);
        st.incomplete = block_incomplete(b);
        st.prev = b;
    }
    for (; i + 32 <= len; i += 32)
        if (!block_ok(&st, _mm256_loadu_si256(
                               (const __m256i *)(const void *)(p + i))))
            return char_start(p, i);
    if (i < len) {
        /* The tail, padded with NULs: ASCII after the end, so a character
         * cut by the end shows up as an error here, and the automaton
         * takes it from its lead byte. */
        uint8_t last[32] = {0};
        memcpy(last, p + i, len - i);
        if (!block_ok(&st, _mm256_loadu_si256((const __m256i *)(void *)last)))
            return char_start(p, i);
        return len;
    }
    return _mm256_testz_si256(st.incomplete, st.incomplete)
               ? len
               : char_start(p, len);
}
#endif
