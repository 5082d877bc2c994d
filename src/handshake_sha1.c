/*
 * src/handshake_sha1.c - SHA-1 as specified in FIPS 180-4 section 6.1.
 */
#include <string.h>

#include "handshake_sha1.h"

static uint32_t rol32(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32u - n));
}

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* FIPS 180-4 section 6.1.2: one 512-bit block, with the 16-word rolling
 * message schedule instead of all 80 words. */
static void sha1_block(uint32_t h[5], const uint8_t *block)
{
    uint32_t w[16];
    for (unsigned t = 0; t < 16; t++)
        w[t] = load_be32(block + 4 * t);

    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (unsigned t = 0; t < 80; t++) {
        if (t >= 16)
            w[t & 15] = rol32(w[(t + 13) & 15] ^ w[(t + 8) & 15] ^
                                  w[(t + 2) & 15] ^ w[t & 15],
                              1);
        uint32_t f, k;
        if (t < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999u;
        } else if (t < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1u;
        } else if (t < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdcu;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6u;
        }
        uint32_t tmp = rol32(a, 5) + f + e + k + w[t & 15];
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = tmp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void wsio__sha1_init(wsio__sha1_ctx *ctx)
{
    /* FIPS 180-4 section 5.3.1 */
    ctx->h[0] = 0x67452301u;
    ctx->h[1] = 0xefcdab89u;
    ctx->h[2] = 0x98badcfeu;
    ctx->h[3] = 0x10325476u;
    ctx->h[4] = 0xc3d2e1f0u;
    ctx->total = 0;
    ctx->buf_len = 0;
}

void wsio__sha1_update(wsio__sha1_ctx *ctx, const void *data, size_t len)
{
    const uint8_t *p = data;
    ctx->total += len;
    if (ctx->buf_len > 0) {
        size_t take = 64 - ctx->buf_len;
        if (take > len)
            take = len;
        memcpy(ctx->buf + ctx->buf_len, p, take);
        ctx->buf_len += take;
        p += take;
        len -= take;
        if (ctx->buf_len < 64)
            return;
        sha1_block(ctx->h, ctx->buf);
        ctx->buf_len = 0;
    }
    for (; len >= 64; p += 64, len -= 64)
        sha1_block(ctx->h, p);
    memcpy(ctx->buf, p, len);
    ctx->buf_len = len;
}

void wsio__sha1_final(wsio__sha1_ctx *ctx, uint8_t out[WSIO__SHA1_LEN])
{
    /* FIPS 180-4 section 5.1.1: a 1 bit, zeros, then the length in bits as
     * a 64-bit big-endian number, ending on a block boundary. */
    uint64_t bits = ctx->total * 8u;
    uint8_t pad[72] = {0x80};
    size_t pad_len = (ctx->buf_len < 56 ? 56 : 120) - ctx->buf_len;
    for (unsigned i = 0; i < 8; i++)
        pad[pad_len + i] = (uint8_t)(bits >> (56 - 8 * i));
    wsio__sha1_update(ctx, pad, pad_len + 8);
    for (unsigned i = 0; i < 5; i++)
        store_be32(out + 4 * i, ctx->h[i]);
}

void wsio__sha1(const void *data, size_t len, uint8_t out[WSIO__SHA1_LEN])
{
    wsio__sha1_ctx ctx;
    wsio__sha1_init(&ctx);
    wsio__sha1_update(&ctx, data, len);
    wsio__sha1_final(&ctx, out);
}
