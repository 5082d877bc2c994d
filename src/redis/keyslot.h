/*
 * src/redis/keyslot.h - the Redis Cluster hash slot of a key or shard
 * channel (internal to libwsio-redis; no hiredis, so the unit suite links
 * it alone).
 */
#ifndef WSIO_REDIS_KEYSLOT_H
#define WSIO_REDIS_KEYSLOT_H

#include <stddef.h>
#include <stdint.h>

/* Slots of a Redis Cluster: every key and shard channel has one. */
#define WSIO__REDIS_SLOTS 16384

/* The slot of key[0..len): CRC16 (XMODEM) mod 16384 of the whole key, or
 * of its hash tag, the bytes between the first '{' and the next '}' when
 * there are any (as Redis' cluster specification says). */
uint16_t wsio__redis_keyslot(const char *key, size_t len);

#endif /* WSIO_REDIS_KEYSLOT_H */
