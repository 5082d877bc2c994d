/*
 * src/server_budget.c - see server_budget.h.
 */
#include "loop_block_cache.h"
#include "server_budget.h"

static void count(wsio__budget *b, size_t add, size_t sub)
{
    b->used = b->used + add - sub;
    /* Every growth past the limit asks again: shedding may have left the
     * server over it (memory that cannot be shed, or new growth). */
    if (add > sub && b->limit && b->used > b->limit && b->over)
        b->over(b);
}

/* No header of our own: one would push every power-of-two request into
 * the next class, doubling what is held while counting half of it. The
 * cache's header already says what each block holds. */
static void *budget_malloc(size_t size, void *user)
{
    wsio__budget *b = user;
    void *p = wsio__malloc(b->base, size);
    if (p)
        count(b, wsio__block_cache_held(p), 0);
    return p;
}

static void *budget_realloc(void *ptr, size_t size, void *user)
{
    wsio__budget *b = user;
    if (!ptr)
        return budget_malloc(size, user);
    size_t old = wsio__block_cache_held(ptr);
    void *p = wsio__realloc(b->base, ptr, size);
    if (p)
        count(b, wsio__block_cache_held(p), old);
    return p;
}

static void budget_free(void *ptr, void *user)
{
    wsio__budget *b = user;
    if (!ptr)
        return;
    count(b, 0, wsio__block_cache_held(ptr));
    wsio__free(b->base, ptr);
}

void wsio__budget_init(wsio__budget *b, const wsio_mem *base, size_t limit,
                       void (*over)(wsio__budget *b))
{
    b->mem.malloc = budget_malloc;
    b->mem.realloc = budget_realloc;
    b->mem.free = budget_free;
    b->mem.user = b;
    b->base = base;
    b->used = 0;
    b->limit = limit;
    b->over = over;
}
