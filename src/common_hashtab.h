/*
 * src/common_hashtab.h - a chained hash table keyed with a per-table random key
 * (internal), for tables whose keys a peer chooses: SipHash (common_siphash.h)
 * with a key of its own, so no one outside can aim many keys at one chain.
 *
 * Intrusive: an entry embeds a wsio__hentry, which keeps the full hash so
 * growing never hashes again. The caller walks a chain and compares keys
 * itself (wsio__hashtab_chain), so the comparison stays inline. At most
 * one entry per bucket on average; the table never shrinks.
 */
#ifndef WSIO_HASHTAB_H
#define WSIO_HASHTAB_H

#include "internal.h"

typedef struct wsio__hentry wsio__hentry;
struct wsio__hentry {
    wsio__hentry *next; /* in its chain */
    uint64_t hash;
};

typedef struct wsio__hashtab {
    wsio__hentry **buckets; /* nbuckets chains */
    size_t nbuckets, count; /* nbuckets: 0 or a power of two */
    uint64_t key[2];
} wsio__hashtab;

/* Start empty, with a random key. Returns 0 or WSIO_EINTERNAL. */
int wsio__hashtab_init(wsio__hashtab *h);
/* Free the buckets; the entries are the caller's. */
void wsio__hashtab_free(wsio__hashtab *h, const wsio_mem *mem);
/* The keyed hash of len bytes at key. */
uint64_t wsio__hashtab_hash(const wsio__hashtab *h, const void *key,
                            size_t len);
/* Make room for one more entry before looking up the slot it goes to.
 * Returns 0 or WSIO_ENOMEM. */
int wsio__hashtab_reserve(wsio__hashtab *h, const wsio_mem *mem);
/* Add e (e->hash set) to the front of its chain. */
void wsio__hashtab_add(wsio__hashtab *h, wsio__hentry *e);
/* Take e, which is in h, out. */
void wsio__hashtab_remove(wsio__hashtab *h, wsio__hentry *e);

/* The first entry of hash's chain, or NULL (also while h has no buckets). */
static inline wsio__hentry *wsio__hashtab_chain(const wsio__hashtab *h,
                                                uint64_t hash)
{
    return h->nbuckets ? h->buckets[hash & (h->nbuckets - 1)] : NULL;
}

#endif /* WSIO_HASHTAB_H */
