/*
 * src/server_budget.h - an allocator that counts what a server's connections
 * hold (internal).
 *
 * A wsio__budget is a wsio_mem over a block cache (loop_block_cache.h) that
 * keeps the total of the bytes its blocks hold, class rounding and
 * headers included (what the cache takes from the allocator for them, not
 * what was asked), and calls `over` each time an allocation grows that
 * total while it is past `limit`. It refuses nothing itself: the
 * server decides what to shed (see memory_budget in wsio/server.h), so an
 * accepted message is never lost to an allocation failure the host did not
 * ask for.
 *
 * Invariant: used is the sum of wsio__block_cache_held() over all blocks
 * handed out and not freed. Blocks freed into the cache are the loop's
 * (bounded by WSIO__CACHE_MAX_BYTES), no longer counted here.
 */
#ifndef WSIO_BUDGET_H
#define WSIO_BUDGET_H

#include "internal.h"

typedef struct wsio__budget wsio__budget;
struct wsio__budget {
    wsio_mem mem;         /* hand this to the connections */
    const wsio_mem *base; /* a block cache's mem: blocks come from it */
    size_t used;          /* bytes held by blocks handed out */
    size_t limit;         /* 0: no limit, over is never called */
    void (*over)(wsio__budget *b);
};

/* Start counting over base, which must be a wsio__block_cache's mem; over
 * (may be NULL) runs on every growth of used while it is over limit. */
void wsio__budget_init(wsio__budget *b, const wsio_mem *base, size_t limit,
                       void (*over)(wsio__budget *b));

#endif /* WSIO_BUDGET_H */
