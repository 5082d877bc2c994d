/*
 * src/redis/keyslot.c - Redis Cluster hash slots (keyslot.h).
 */
#include <string.h>

#include "keyslot.h"

/* CRC-16/XMODEM (polynomial 0x1021, initial 0, no reflection): the one
 * Redis Cluster uses. Bitwise: a 512-byte table buys nothing at one call
 * per topic subscribe and publish of a short channel name. */
static uint16_t crc16_xmodem(const unsigned char *p, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (uint16_t)((crc & 0x8000) ? crc << 1 ^ 0x1021 : crc << 1);
    }
    return crc;
}

uint16_t wsio__redis_keyslot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(open + 1, '}', len - from);
        /* "{}" is no tag: the whole key is hashed. */
        if (close && close > open + 1)
            return crc16_xmodem((const unsigned char *)open + 1,
                                (size_t)(close - open) - 1) &
                   (WSIO__REDIS_SLOTS - 1);
    }
    return crc16_xmodem((const unsigned char *)key, len) &
           (WSIO__REDIS_SLOTS - 1);
}
