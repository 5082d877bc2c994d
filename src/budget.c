/*
 * src/budget.c - see budget.h.
 */
#include "budget.h"

/* Before every block: its size, keeping the payload max_align_t-aligned. */
typedef union budget_header {
    size_t size;
    max_align_t align;
} budget_header;

static void count(wsio__budget *b, size_t add, size_t sub)
{
    b->used = b->used + add - sub;
    /* Every growth past the limit asks again: shedding may have left the
     * server over it (memory that cannot be shed, or new growth). */
    if (add > sub && b->limit && b->used > b->limit && b->over)
        b->over(b);
}

static void *budget_malloc(size_t size, void *user)
{
    wsio__budget *b = user;
    if (size > SIZE_MAX - sizeof(budget_header))
        return NULL;
    budget_header *h = wsio__malloc(b->base, sizeof *h + size);
    if (!h)
        return NULL;
    h->size = size;
    count(b, size, 0);
    return h + 1;
}

static void *budget_realloc(void *ptr, size_t size, void *user)
{
    wsio__budget *b = user;
    if (!ptr)
        return budget_malloc(size, user);
    if (size > SIZE_MAX - sizeof(budget_header))
        return NULL;
    budget_header *h = (budget_header *)ptr - 1;
    size_t old = h->size;
    h = wsio__realloc(b->base, h, sizeof *h + size);
    if (!h)
        return NULL;
    h->size = size;
    count(b, size, old);
    return h + 1;
}

static void budget_free(void *ptr, void *user)
{
    wsio__budget *b = user;
    if (!ptr)
        return;
    budget_header *h = (budget_header *)ptr - 1;
    count(b, 0, h->size);
    wsio__free(b->base, h);
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
