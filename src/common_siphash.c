/*
 * src/common_siphash.c - SipHash-2-4 (Aumasson and Bernstein, 2012): the keyed
 * hash of every table whose keys a peer chooses (common_siphash.h).
 */
#include "common_siphash.h"

static uint64_t rotl(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

static uint64_t load64_le(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

#define SIPROUND(v)                                                            \
    do {                                                                       \
        v[0] += v[1];                                                          \
        v[1] = rotl(v[1], 13) ^ v[0];                                          \
        v[0] = rotl(v[0], 32);                                                 \
        v[2] += v[3];                                                          \
        v[3] = rotl(v[3], 16) ^ v[2];                                          \
        v[0] += v[3];                                                          \
        v[3] = rotl(v[3], 21) ^ v[0];                                          \
        v[2] += v[1];                                                          \
        v[1] = rotl(v[1], 17) ^ v[2];                                          \
        v[2] = rotl(v[2], 32);                                                 \
    } while (0)

uint64_t wsio__siphash(const uint64_t k[2], const void *data, size_t len)
{
    const uint8_t *in = data;
    uint64_t v[4] = {k[0] ^ 0x736f6d6570736575ull, k[1] ^ 0x646f72616e646f6dull,
                     k[0] ^ 0x6c7967656e657261ull,
                     k[1] ^ 0x7465646279746573ull};
    size_t whole = len - len % 8;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load64_le(in + i);
        v[3] ^= m;
        SIPROUND(v);
        SIPROUND(v);
        v[0] ^= m;
    }
    uint64_t last = (uint64_t)(len & 0xff) << 56;
    for (size_t i = whole; i < len; i++)
        last |= (uint64_t)in[i] << (8 * (i - whole));
    v[3] ^= last;
    SIPROUND(v);
    SIPROUND(v);
    v[0] ^= last;
    v[2] ^= 0xff;
    for (int i = 0; i < 4; i++)
        SIPROUND(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}
