/*
 * src/common_mem.c - the default allocator and reference-counted buffers.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void *libc_malloc(size_t size, void *user)
{
    (void)user;
    return malloc(size);
}

static void *libc_realloc(void *ptr, size_t size, void *user)
{
    (void)user;
    return realloc(ptr, size);
}

static void libc_free(void *ptr, void *user)
{
    (void)user;
    free(ptr);
}

static const wsio_mem libc_mem = {libc_malloc, libc_realloc, libc_free, NULL};

const wsio_mem *wsio_mem_default(void)
{
    return &libc_mem;
}

void *wsio__calloc(const wsio_mem *mem, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    void *p = wsio__malloc(mem, count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

wsio_rcbuf *wsio_rcbuf_new(const wsio_mem *mem, size_t capacity)
{
    mem = wsio__mem_or_default(mem);
    if (capacity > SIZE_MAX - sizeof(wsio_rcbuf))
        return NULL;
    wsio_rcbuf *buf = wsio__malloc(mem, sizeof(wsio_rcbuf) + capacity);
    if (!buf)
        return NULL;
    buf->refcount = 1;
    buf->len = 0;
    buf->capacity = capacity;
    buf->mem = mem;
    return buf;
}

/* Atomic, so one encoded frame can sit in the queues of servers on several
 * threads (wsio_hub). Taking a reference needs no ordering; the last drop
 * must see every other thread's use of the bytes before they are freed. */
wsio_rcbuf *wsio_rcbuf_ref(wsio_rcbuf *buf)
{
    __atomic_fetch_add(&buf->refcount, 1, __ATOMIC_RELAXED);
    return buf;
}

void wsio_rcbuf_unref(wsio_rcbuf *buf)
{
    if (buf && __atomic_sub_fetch(&buf->refcount, 1, __ATOMIC_ACQ_REL) == 0)
        wsio__free(buf->mem, buf);
}
