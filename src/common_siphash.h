/*
 * src/common_siphash.h - SipHash-2-4, a keyed hash (internal). Tables whose
 * keys a peer chooses (addresses, topic names) hash with a random key of their
 * own, so that no one who does not know it can aim many keys at one
 * bucket.
 */
#ifndef WSIO_SIPHASH_H
#define WSIO_SIPHASH_H

#include "internal.h"

/* The 64-bit SipHash-2-4 of len bytes at data under the 128-bit key k. */
uint64_t wsio__siphash(const uint64_t k[2], const void *data, size_t len);

#endif /* WSIO_SIPHASH_H */
