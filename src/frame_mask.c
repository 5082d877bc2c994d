/*
 * src/frame_mask.c - payload masking (RFC 6455 section 5.3).
 *
 * Byte i of a payload is XORed with key[i % 4]. On x86-64 the bulk of a
 * buffer goes through 16- or 32-byte vectors (src/frame_mask_simd.c, level
 * chosen as src/frame_simd.h says); the portable loop below does the rest, and
 * everything on other machines. It works 8 bytes at a time: the key is
 * repeated into a 64-bit word, rotated so that its first byte is the one
 * for the payload position at buf[0], and XORed into each word. Loads and
 * stores go through memcpy, so any alignment of the buffers is fine and
 * compilers turn them into plain moves.
 */
#include <string.h>

#include "internal.h"
#include "frame_simd.h"
#include "wsio/frame.h"

static void mask_scalar(uint8_t *d, const uint8_t *s, size_t len,
                        const uint8_t key[4], uint64_t offset)
{
    if (len == 0)
        return;
    /* k[j] is the key byte for payload position offset + j; it repeats
     * every 4 bytes, so k[j % 4] serves any j. */
    uint8_t k[8];
    for (unsigned j = 0; j < 8; j++)
        k[j] = key[(offset + j) & 3u];
    uint64_t kw;
    memcpy(&kw, k, 8);

    size_t i = 0;
    for (; i + 32 <= len; i += 32) {
        uint64_t w[4];
        memcpy(w, s + i, 32);
        w[0] ^= kw;
        w[1] ^= kw;
        w[2] ^= kw;
        w[3] ^= kw;
        memcpy(d + i, w, 32);
    }
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        w ^= kw;
        memcpy(d + i, &w, 8);
    }
    for (; i < len; i++)
        d[i] = (uint8_t)(s[i] ^ k[i & 3u]);
}

#ifdef WSIO__HAVE_X86_SIMD
/* The vector part of wsio__mask_copy_with: how many leading bytes it did. */
static size_t mask_bulk(enum wsio__simd simd, uint8_t *d, const uint8_t *s,
                        size_t len, const uint8_t key[4], uint64_t offset)
{
    if (simd == WSIO__SIMD_SCALAR || len < 16)
        return 0;
    /* The key as a little-endian word (x86), rotated so that its low byte
     * is the one for position offset. */
    uint32_t k;
    memcpy(&k, key, 4);
    unsigned rot = 8u * (unsigned)(offset & 3u);
    k = rot ? (k >> rot) | (k << (32u - rot)) : k;
    if (simd == WSIO__SIMD_AVX2)
        return wsio__mask_bulk_avx2(d, s, len, k);
    return wsio__mask_bulk_sse2(d, s, len, k);
}
#endif

void wsio__mask_copy_with(enum wsio__simd simd, void *dst, const void *src,
                          size_t len, const uint8_t key[4], uint64_t offset)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    size_t done = 0;
#ifdef WSIO__HAVE_X86_SIMD
    done = mask_bulk(simd, d, s, len, key, offset);
#else
    (void)simd;
#endif
    mask_scalar(d + done, s + done, len - done, key, offset + done);
}

void wsio_mask_copy(void *dst, const void *src, size_t len,
                    const uint8_t key[4], uint64_t offset)
{
    wsio__mask_copy_with(wsio__simd_best(), dst, src, len, key, offset);
}

void wsio_mask(void *buf, size_t len, const uint8_t key[4], uint64_t offset)
{
    wsio__mask_copy_with(wsio__simd_best(), buf, buf, len, key, offset);
}
