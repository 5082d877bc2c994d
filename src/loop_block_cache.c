/*
 * src/loop_block_cache.c - see loop_block_cache.h.
 */
#include <string.h>

#include "loop_block_cache.h"

#define CLASS_MIN_SHIFT 8 /* the smallest class holds 256 bytes */
#define DIRECT ((size_t)-1)

/* Before every block; sized to keep the payload max_align_t-aligned. */
typedef union block_header {
    struct {
        size_t cls;  /* size class, or DIRECT */
        size_t size; /* payload bytes available */
    } h;
    max_align_t align;
} block_header;

static size_t class_size(size_t cls)
{
    return (size_t)1 << (cls + CLASS_MIN_SHIFT);
}

static size_t class_for(size_t size)
{
    size_t cls = 0;
    while (cls < WSIO__CACHE_CLASSES && class_size(cls) < size)
        cls++;
    return cls < WSIO__CACHE_CLASSES ? cls : DIRECT;
}

static void *cache_malloc(size_t size, void *user)
{
    wsio__block_cache *c = user;
    size_t cls = class_for(size);
    if (cls != DIRECT && c->free_list[cls]) {
        block_header *b = c->free_list[cls];
        memcpy(&c->free_list[cls], b + 1, sizeof(void *));
        c->free_len[cls]--;
        c->cached_bytes -= class_size(cls);
        return b + 1;
    }
    size_t payload = cls == DIRECT ? size : class_size(cls);
    if (payload > SIZE_MAX - sizeof(block_header))
        return NULL;
    block_header *b = wsio__malloc(c->base, sizeof *b + payload);
    if (!b)
        return NULL;
    b->h.cls = cls;
    b->h.size = payload;
    return b + 1;
}

static void cache_free(void *ptr, void *user)
{
    wsio__block_cache *c = user;
    if (!ptr)
        return;
    block_header *b = (block_header *)ptr - 1;
    size_t cls = b->h.cls;
    if (cls == DIRECT ||
        c->cached_bytes + class_size(cls) > WSIO__CACHE_MAX_BYTES) {
        wsio__free(c->base, b);
        return;
    }
    memcpy(ptr, &c->free_list[cls], sizeof(void *));
    c->free_list[cls] = b;
    c->free_len[cls]++;
    c->cached_bytes += class_size(cls);
}

static void *cache_realloc(void *ptr, size_t size, void *user)
{
    if (!ptr)
        return cache_malloc(size, user);
    block_header *b = (block_header *)ptr - 1;
    if (size <= b->h.size)
        return ptr; /* the block is big enough already */
    void *p = cache_malloc(size, user);
    if (!p)
        return NULL; /* ptr stays valid, as realloc promises */
    memcpy(p, ptr, b->h.size);
    cache_free(ptr, user);
    return p;
}

size_t wsio__block_cache_held(const void *ptr)
{
    const block_header *b = (const block_header *)ptr - 1;
    return sizeof *b + b->h.size;
}

void wsio__block_cache_init(wsio__block_cache *c, const wsio_mem *base)
{
    memset(c, 0, sizeof *c);
    c->base = base;
    c->mem.malloc = cache_malloc;
    c->mem.realloc = cache_realloc;
    c->mem.free = cache_free;
    c->mem.user = c;
}

void wsio__block_cache_release(wsio__block_cache *c)
{
    for (size_t cls = 0; cls < WSIO__CACHE_CLASSES; cls++) {
        while (c->free_list[cls]) {
            block_header *b = c->free_list[cls];
            memcpy(&c->free_list[cls], b + 1, sizeof(void *));
            wsio__free(c->base, b);
        }
        c->free_len[cls] = 0;
    }
    c->cached_bytes = 0;
}
