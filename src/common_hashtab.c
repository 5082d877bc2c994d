/*
 * src/common_hashtab.c - the keyed chained hash table (common_hashtab.h).
 */
#include <string.h>

#include "common_hashtab.h"
#include "common_siphash.h"

int wsio__hashtab_init(wsio__hashtab *h)
{
    h->buckets = NULL;
    h->nbuckets = h->count = 0;
    return wsio__random_bytes(h->key, sizeof h->key);
}

void wsio__hashtab_free(wsio__hashtab *h, const wsio_mem *mem)
{
    wsio__free(mem, h->buckets);
    h->buckets = NULL;
    h->nbuckets = h->count = 0;
}

uint64_t wsio__hashtab_hash(const wsio__hashtab *h, const void *key, size_t len)
{
    return wsio__siphash(h->key, key, len);
}

int wsio__hashtab_reserve(wsio__hashtab *h, const wsio_mem *mem)
{
    if (h->count < h->nbuckets)
        return 0;
    size_t n = h->nbuckets ? h->nbuckets * 2 : 16;
    if (n > SIZE_MAX / sizeof *h->buckets)
        return WSIO_ENOMEM;
    /* wsio__malloc, not wsio__calloc: libwsio-redis builds its own copy
     * of this file, and the allocator's file stays the core's alone. */
    wsio__hentry **b = wsio__malloc(mem, n * sizeof *b);
    if (!b)
        return WSIO_ENOMEM;
    memset(b, 0, n * sizeof *b);
    for (size_t i = 0; i < h->nbuckets; i++) {
        wsio__hentry *e = h->buckets[i];
        while (e) {
            wsio__hentry *next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    wsio__free(mem, h->buckets);
    h->buckets = b;
    h->nbuckets = n;
    return 0;
}

void wsio__hashtab_add(wsio__hashtab *h, wsio__hentry *e)
{
    wsio__hentry **b = &h->buckets[e->hash & (h->nbuckets - 1)];
    e->next = *b;
    *b = e;
    h->count++;
}

void wsio__hashtab_remove(wsio__hashtab *h, wsio__hentry *e)
{
    wsio__hentry **p = &h->buckets[e->hash & (h->nbuckets - 1)];
    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    h->count--;
}
