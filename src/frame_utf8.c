/*
 * src/frame_utf8.c - incremental UTF-8 validation (RFC 3629 section 4; RFC 6455
 * section 8.1 requires it of text messages).
 *
 * A deterministic automaton over byte classes. Each byte maps to a class;
 * the state and the class pick the next state. The states remember just
 * enough of an open sequence to reject, at the first byte where it becomes
 * certain, everything RFC 3629 forbids:
 *
 *   - overlong forms: C0 and C1 never start a sequence, E0 must be followed
 *     by A0..BF, F0 by 90..BF;
 *   - surrogates U+D800..U+DFFF: ED must be followed by 80..9F;
 *   - code points above U+10FFFF: F4 must be followed by 80..8F, and F5..FF
 *     never appear;
 *   - continuation bytes where none is expected, and a missing one.
 *
 * States are stored pre-multiplied by the number of classes, so the next
 * state is one lookup at state + class. The state lives in the caller's
 * wsio_utf8 between calls, which is what makes validation incremental.
 *
 * The automaton is the reference and has the last word: on x86-64, vector
 * code (src/frame_utf8_simd.c) first skips the longest run of whole, valid
 * characters it can vouch for, and the automaton takes over where that
 * stops, so the failing offset it reports is always the automaton's own.
 */
#include <string.h>

#include "internal.h"
#include "frame_simd.h"
#include "wsio/frame.h"

/* Byte classes. */
enum {
    C_ASCII,   /* 00..7F */
    C_CONT_LO, /* 80..8F continuation */
    C_CONT_MI, /* 90..9F continuation */
    C_CONT_HI, /* A0..BF continuation */
    C_LEAD2,   /* C2..DF start of a 2-byte sequence */
    C_E0,      /* E0: 3 bytes, second A0..BF (no overlong) */
    C_LEAD3,   /* E1..EC, EE..EF: 3 bytes */
    C_ED,      /* ED: 3 bytes, second 80..9F (no surrogate) */
    C_F0,      /* F0: 4 bytes, second 90..BF (no overlong) */
    C_LEAD4,   /* F1..F3: 4 bytes */
    C_F4,      /* F4: 4 bytes, second 80..8F (at most U+10FFFF) */
    C_BAD,     /* C0, C1, F5..FF: never valid */
    NCLASSES
};

/* States, pre-multiplied by NCLASSES. ACCEPT must be 0 (wsio_utf8.state is
 * documented as 0 between characters). */
enum {
    S_ACCEPT = 0 * NCLASSES, /* between characters */
    S_REJECT = 1 * NCLASSES, /* invalid; sticky */
    S_NEED1 = 2 * NCLASSES,  /* one more continuation byte, any */
    S_NEED2 = 3 * NCLASSES,  /* two more, any */
    S_NEED3 = 4 * NCLASSES,  /* three more, any */
    S_E0 = 5 * NCLASSES,     /* after E0: A0..BF, then one more */
    S_ED = 6 * NCLASSES,     /* after ED: 80..9F, then one more */
    S_F0 = 7 * NCLASSES,     /* after F0: 90..BF, then two more */
    S_F4 = 8 * NCLASSES      /* after F4: 80..8F, then two more */
};

static const uint8_t byte_class[256] = {
    /* 00..7F */
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    /* 80..8F, 90..9F, A0..BF */
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    2,
    2,
    2,
    2,
    2,
    2,
    2,
    2,
    2,
    2,
    2,
    2,
    2,
    2,
    2,
    2,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    3,
    /* C0..DF */
    11,
    11,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    4,
    /* E0..EF */
    5,
    6,
    6,
    6,
    6,
    6,
    6,
    6,
    6,
    6,
    6,
    6,
    6,
    7,
    6,
    6,
    /* F0..FF */
    8,
    9,
    9,
    9,
    10,
    11,
    11,
    11,
    11,
    11,
    11,
    11,
    11,
    11,
    11,
    11,
};

#define R S_REJECT
/* next_state[state + class]; one row per state, one column per class:
 *         ASCII     80-8F    90-9F    A0-BF    C2-DF    E0    E1-EF    ED
 *         F0    F1-F3    F4    bad */
static const uint8_t next_state[9 * NCLASSES] = {
    /* S_ACCEPT */ S_ACCEPT,
    R,
    R,
    R,
    S_NEED1,
    S_E0,
    S_NEED2,
    S_ED,
    S_F0,
    S_NEED3,
    S_F4,
    R,
    /* S_REJECT */ R,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    /* S_NEED1 */ R,
    S_ACCEPT,
    S_ACCEPT,
    S_ACCEPT,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    /* S_NEED2 */ R,
    S_NEED1,
    S_NEED1,
    S_NEED1,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    /* S_NEED3 */ R,
    S_NEED2,
    S_NEED2,
    S_NEED2,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    /* S_E0 */ R,
    R,
    R,
    S_NEED1,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    /* S_ED */ R,
    S_NEED1,
    S_NEED1,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    /* S_F0 */ R,
    R,
    S_NEED2,
    S_NEED2,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    /* S_F4 */ R,
    S_NEED2,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
    R,
};
#undef R

#define HIGH_BITS 0x8080808080808080u

/* The index of the first byte at or after i with its high bit set, or len:
 * eight bytes per step, then byte by byte. Only valid between characters,
 * where ASCII bytes are always accepted. */
static size_t skip_ascii(const uint8_t *p, size_t i, size_t len)
{
    uint64_t w;
    while (i + 8 <= len) {
        memcpy(&w, p + i, 8);
        if (w & HIGH_BITS)
            break;
        i += 8;
    }
    while (i < len && p[i] < 0x80)
        i++;
    return i;
}

void wsio_utf8_init(wsio_utf8 *v)
{
    v->state = S_ACCEPT;
}

/* The automaton over p[i..len), from v->state. */
static int dfa_feed(wsio_utf8 *v, const uint8_t *p, size_t i, size_t len,
                    size_t *bad_offset)
{
    uint32_t s = v->state;
    while (i < len) {
        if (s == S_ACCEPT) {
            i = skip_ascii(p, i, len);
            if (i == len)
                break;
        }
        s = next_state[s + byte_class[p[i]]];
        if (WSIO_UNLIKELY(s == S_REJECT)) {
            v->state = s;
            if (bad_offset)
                *bad_offset = i;
            return WSIO_EUTF8;
        }
        i++;
    }
    v->state = s;
    return 0;
}

/* How many bytes from p, the start of a character, the vector code
 * vouches for (whole valid characters). */
static size_t valid_prefix(enum wsio__simd simd, const uint8_t *p, size_t len)
{
#ifdef WSIO__HAVE_X86_SIMD
    if (simd == WSIO__SIMD_AVX2)
        return wsio__utf8_valid_prefix_avx2(p, len);
    if (simd == WSIO__SIMD_SSE2)
        return wsio__utf8_valid_prefix_sse2(p, len);
#else
    (void)p, (void)len;
#endif
    (void)simd;
    return 0;
}

int wsio__utf8_feed_with(enum wsio__simd simd, wsio_utf8 *v, const void *buf,
                         size_t len, size_t *bad_offset)
{
    const uint8_t *p = buf;
    size_t i = 0;

    if (WSIO_UNLIKELY(v->state == S_REJECT)) {
        if (bad_offset)
            *bad_offset = 0;
        return WSIO_EUTF8;
    }
    /* A character left open by the previous piece (at most 3 bytes to go):
     * the automaton finishes it, so the vector code starts between
     * characters. */
    for (; i < len && v->state != S_ACCEPT; i++) {
        int rc = dfa_feed(v, p, i, i + 1, bad_offset);
        if (rc)
            return rc;
    }
    i += valid_prefix(simd, p + i, len - i);
    return dfa_feed(v, p, i, len, bad_offset);
}

int wsio_utf8_feed(wsio_utf8 *v, const void *buf, size_t len,
                   size_t *bad_offset)
{
    return wsio__utf8_feed_with(wsio__simd_best(), v, buf, len, bad_offset);
}

int wsio_utf8_finish(const wsio_utf8 *v)
{
    return v->state == S_ACCEPT ? 0 : WSIO_EUTF8;
}

int wsio_utf8_validate(const void *buf, size_t len)
{
    wsio_utf8 v;
    wsio_utf8_init(&v);
    int rc = wsio_utf8_feed(&v, buf, len, NULL);
    return rc ? rc : wsio_utf8_finish(&v);
}
