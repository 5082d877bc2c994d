/*
 * src/mask.c - payload masking (RFC 6455 section 5.3).
 *
 * Byte i of a payload is XORed with key[i % 4]. The hot loop works 8 bytes
 * at a time: the key is repeated into a 64-bit word, rotated so that its
 * first byte is the one for the payload position at buf[0], and XORed into
 * each word. Loads and stores go through memcpy, so any alignment of the
 * buffers is fine and compilers turn them into plain (or vector) moves.
 */
#include <string.h>

#include "internal.h"
#include "wsio/frame.h"

void wsio_mask_copy(void *dst, const void *src, size_t len,
                    const uint8_t key[4], uint64_t offset)
{
    if (len == 0)
        return;
    uint8_t *d = dst;
    const uint8_t *s = src;
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

void wsio_mask(void *buf, size_t len, const uint8_t key[4], uint64_t offset)
{
    wsio_mask_copy(buf, buf, len, key, offset);
}
