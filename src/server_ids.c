/*
 * src/server_ids.c - see server_ids.h.
 */
#include <stdint.h>
#include <string.h>

#include "server_ids.h"

#define MIN_CAP 16u
#define NO_SLOT UINT32_MAX
/* Slots are numbered below NO_SLOT (the id's low half is slot + 1), and
 * their array's size must fit a size_t. */
#if SIZE_MAX / 8 < UINT32_MAX
#define MAX_SLOTS ((uint32_t)(SIZE_MAX / 8))
#else
#define MAX_SLOTS (NO_SLOT - 1u)
#endif
/* The generation is 31 bits (server_conn.h); this one is never given a
 * successor: its slot retires. */
#define GEN_LAST 0x7fffffffu
#define HIDDEN 2u

/* An in-use entry holds a pointer: its two low bits must be free. */
_Static_assert(_Alignof(wsio_ws) >= 4, "wsio_ws pointers have 2 free bits");

/* A free entry: 1, the next free slot in bits 1-32, its last generation
 * in bits 33-63. */
static uint64_t free_mark(uint32_t next, uint32_t gen)
{
    return (uint64_t)gen << 33 | (uint64_t)next << 1 | 1u;
}

static uint32_t mark_next(uint64_t e)
{
    return (uint32_t)(e >> 1);
}

static uint32_t mark_gen(uint64_t e)
{
    return (uint32_t)(e >> 33);
}

void wsio__ids_init(wsio__id_map *m, int keep_requests)
{
    memset(m, 0, sizeof *m);
    m->free_head = NO_SLOT;
    m->keep_requests = keep_requests != 0;
}

void wsio__ids_free(wsio__id_map *m, const wsio_mem *mem)
{
    wsio__free(mem, m->slots);
    wsio__free(mem, m->kept);
    wsio__ids_init(m, m->keep_requests);
}

int wsio__ids_reserve(wsio__id_map *m, const wsio_mem *mem)
{
    if (m->free_head != NO_SLOT || m->top < m->cap)
        return 0;
    uint32_t cap = m->cap < MAX_SLOTS / 2 ? m->cap * 2 : MAX_SLOTS;
    if (cap < MIN_CAP)
        cap = MIN_CAP;
    if (cap == m->cap)
        return WSIO_ENOMEM;
    /* The arrays only grow, each on its own: one that grew while the
     * other could not is still valid, and cap tells both. */
    uint64_t *slots = wsio__realloc(mem, m->slots, cap * sizeof *slots);
    if (!slots)
        return WSIO_ENOMEM;
    m->slots = slots;
    if (m->keep_requests) {
        struct wsio__kept_request **kept =
            wsio__realloc(mem, m->kept, cap * sizeof *kept);
        if (!kept)
            return WSIO_ENOMEM;
        m->kept = kept;
    }
    m->cap = cap;
    return 0;
}

void wsio__ids_add(wsio__id_map *m, wsio_ws *ws)
{
    wsio__server_conn *c = wsio__sconn(ws);
    uint32_t slot = m->free_head;
    if (slot != NO_SLOT) {
        m->free_head = mark_next(m->slots[slot]);
        c->gen = (mark_gen(m->slots[slot]) + 1u) & GEN_LAST;
    } else {
        slot = m->top++;
        c->gen = 0;
    }
    c->slot = slot + 1u;
    m->slots[slot] = (uint64_t)(uintptr_t)ws;
    if (m->kept)
        m->kept[slot] = NULL;
}

void wsio__ids_hide(wsio__id_map *m, wsio_ws *ws)
{
    uint32_t slot = wsio__sconn(ws)->slot;
    if (slot)
        m->slots[slot - 1u] = (uint64_t)(uintptr_t)ws | HIDDEN;
}

void wsio__ids_release(wsio__id_map *m, wsio_ws *ws)
{
    wsio__server_conn *c = wsio__sconn(ws);
    if (!c->slot)
        return;
    uint32_t slot = c->slot - 1u;
    c->slot = 0;
    if (c->gen == GEN_LAST) {
        m->slots[slot] = free_mark(NO_SLOT, GEN_LAST); /* retired */
        return;
    }
    m->slots[slot] = free_mark(m->free_head, c->gen);
    m->free_head = slot;
}

wsio_ws *wsio__ids_find(const wsio__id_map *m, uint64_t id)
{
    uint32_t slot = (uint32_t)id;
    if (slot == 0 || slot > m->top)
        return NULL;
    uint64_t e = m->slots[slot - 1u];
    if (e & (1u | HIDDEN))
        return NULL;
    wsio_ws *ws = (wsio_ws *)(uintptr_t)e;
    return wsio__sconn(ws)->gen == id >> 32 ? ws : NULL;
}

uint64_t wsio__ids_id(const wsio_ws *ws)
{
    const wsio__server_conn *c = wsio__sconn(ws);
    return c->slot ? (uint64_t)c->gen << 32 | c->slot : 0;
}

struct wsio__kept_request **wsio__ids_kept(const wsio__id_map *m,
                                           const wsio_ws *ws)
{
    uint32_t slot = wsio__sconn(ws)->slot;
    return m->kept && slot ? &m->kept[slot - 1u] : NULL;
}
