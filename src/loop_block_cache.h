/*
 * src/loop_block_cache.h - a loop's cache of freed buffer blocks (internal).
 *
 * Connections release their output and assembly buffers as soon as they
 * are empty, so an idle connection holds none; the cost is one allocation
 * and one free per message on a busy one. The cache takes that cost away:
 * it is a wsio_mem that serves blocks in power-of-two size classes and
 * keeps a bounded number of freed blocks of each class for the next
 * request, so the steady state of a loop allocates nothing, while the
 * memory it holds back stays bounded (WSIO__CACHE_MAX_BYTES) however many
 * connections there are.
 *
 * Invariants: every block handed out is preceded by a header naming its
 * class (or WSIO__CACHE_DIRECT and its size, for blocks too big to cache);
 * free_len[c] blocks of class c sit on free_list[c], linked through their
 * first bytes; cached_bytes is their total size.
 */
#ifndef WSIO_BLOCK_CACHE_H
#define WSIO_BLOCK_CACHE_H

#include "internal.h"

#define WSIO__CACHE_CLASSES 13 /* 256 B, 512 B ... 1 MiB */
#define WSIO__CACHE_MAX_BYTES ((size_t)4 << 20)

typedef struct wsio__block_cache {
    wsio_mem mem;         /* hand this to connections */
    const wsio_mem *base; /* where blocks come from */
    void *free_list[WSIO__CACHE_CLASSES];
    size_t free_len[WSIO__CACHE_CLASSES];
    size_t cached_bytes;
} wsio__block_cache;

/* Start an empty cache over base. */
void wsio__block_cache_init(wsio__block_cache *c, const wsio_mem *base);

/* The bytes the block at ptr (handed out by a cache) takes from base: its
 * whole class, or its size when direct, plus the header. A class holds
 * exactly a power of two behind the header, so a power-of-two request
 * (zlib's windows and tables) takes no more than itself and the header. */
size_t wsio__block_cache_held(const void *ptr);

/* Give every cached block back to base. Blocks still handed out must have
 * been freed first. */
void wsio__block_cache_release(wsio__block_cache *c);

#endif /* WSIO_BLOCK_CACHE_H */
