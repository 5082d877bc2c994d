/*
 * src/handshake_base64.c - RFC 4648 section 4 base64, encoder and strict
 * decoder.
 */
#include "handshake_base64.h"
#include "internal.h"

static const char alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of each alphabet character; 0xff for everything else, '=' included.
 * Kept in rows of 16. */
/* clang-format off */
#define X 0xff
static const uint8_t decode_table[256] = {
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  62, X,  X,  X,  63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X,  X,  X,  X,  X,  X,
    X,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X,  X,  X,  X,  X,
    X,  26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
    X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,  X,
};
#undef X
/* clang-format on */

size_t wsio__base64_encode(const uint8_t *in, size_t len, char *out)
{
    char *o = out;
    for (; len >= 3; in += 3, len -= 3) {
        uint32_t v = (uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2];
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = alphabet[(v >> 6) & 63];
        *o++ = alphabet[v & 63];
    }
    if (len > 0) {
        uint32_t v = (uint32_t)in[0] << 16;
        if (len == 2)
            v |= (uint32_t)in[1] << 8;
        *o++ = alphabet[v >> 18];
        *o++ = alphabet[(v >> 12) & 63];
        *o++ = len == 2 ? alphabet[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    return (size_t)(o - out);
}

ssize_t wsio__base64_decode(const char *in, size_t len, uint8_t *out,
                            size_t cap)
{
    if (len % 4 != 0)
        return WSIO_EINVAL;
    if (len == 0)
        return 0;
    const unsigned char *s = (const unsigned char *)in;
    size_t pad = 0;
    if (s[len - 1] == '=')
        pad = s[len - 2] == '=' ? 2 : 1;
    size_t out_len = len / 4 * 3 - pad;
    if (out_len > cap)
        return WSIO_ENOSPC;

    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        size_t chars = (i + 4 == len) ? 4 - pad : 4;
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            uint8_t d = j < chars ? decode_table[s[i + j]] : 0;
            if (d == 0xff)
                return WSIO_EINVAL; /* '=' inside the text, or not base64 */
            v = v << 6 | d;
        }
        /* The padding drops the low 8 or 16 bits; canonical input has them
         * zero (RFC 4648 section 3.5). */
        if ((pad == 1 && i + 4 == len && (v & 0xff) != 0) ||
            (pad == 2 && i + 4 == len && (v & 0xffff) != 0))
            return WSIO_EINVAL;
        out[o++] = (uint8_t)(v >> 16);
        if (chars > 2)
            out[o++] = (uint8_t)(v >> 8);
        if (chars > 3)
            out[o++] = (uint8_t)v;
    }
    return (ssize_t)o;
}
