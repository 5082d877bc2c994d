/*
 * src/server_ids.c - see server_ids.h.
 */
#include <stdint.h>
#include <string.h>

#include "server_ids.h"

#define MIN_CAP 16u
/* Slots are numbered below UINT32_MAX (the id's low half is slot + 1),
 * and their array's size must fit a size_t. */
#if SIZE_MAX / 8 < UINT32_MAX
#define MAX_SLOTS ((uint32_t)(SIZE_MAX / 8))
#else
#define MAX_SLOTS (UINT32_MAX - 1u)
#endif
/* The generation is 31 bits (server_conn.h); this one is never given a
 * successor: its slot retires. */
#define GEN_LAST 0x7fffffffu
#define HIDDEN 2u

/* An in-use entry holds a pointer: its two low bits must be free. */
_Static_assert(_Alignof(wsio_ws) >= 4, "wsio_ws pointers have 2 free bits");

/* A free or retired slot's entry: odd, with the generation it had. */
static uint64_t free_mark(uint32_t gen)
{
    return (uint64_t)gen << 1 | 1u;
}

static uint32_t mark_gen(uint64_t e)
{
    return (uint32_t)(e >> 1);
}

static size_t words(uint32_t cap)
{
    return ((size_t)cap + 63u) / 64u;
}

static int is_free(const wsio__id_map *m, uint32_t slot)
{
    return (int)(m->free_bits[slot / 64u] >> (slot % 64u) & 1u);
}

static void flip_free(wsio__id_map *m, uint32_t slot)
{
    m->free_bits[slot / 64u] ^= (uint64_t)1 << (slot % 64u);
}

/* The lowest set bit of w (not 0). */
static uint32_t lowest_bit(uint64_t w)
{
    uint32_t n = 0;
    for (uint32_t half = 32; half; half /= 2)
        if (!(w & (((uint64_t)1 << half) - 1u))) {
            n += half;
            w >>= half;
        }
    return n;
}

void wsio__ids_init(wsio__id_map *m, int keep_requests)
{
    memset(m, 0, sizeof *m);
    m->keep_requests = keep_requests != 0;
}

void wsio__ids_free(wsio__id_map *m, const wsio_mem *mem)
{
    wsio__free(mem, m->slots);
    wsio__free(mem, m->kept);
    wsio__free(mem, m->subs);
    wsio__free(mem, m->free_bits);
    wsio__ids_init(m, m->keep_requests);
}

/* Resize the arrays for cap slots (not below top). The slots' array
 * first: when a later one cannot follow, it stays at a size that still
 * holds min(old, new) cap, and cap is set to that. Returns 0 or
 * WSIO_ENOMEM (cap then as large as every array holds). */
static int resize(wsio__id_map *m, const wsio_mem *mem, uint32_t cap)
{
    uint32_t held = cap < m->cap ? cap : m->cap;
    uint64_t *slots = wsio__realloc(mem, m->slots, cap * sizeof *slots);
    if (!slots)
        return WSIO_ENOMEM;
    m->slots = slots;
    int rc = 0;
    if (m->keep_requests) {
        struct wsio__kept_request **kept =
            wsio__realloc(mem, m->kept, cap * sizeof *kept);
        if (kept)
            m->kept = kept;
        else
            rc = WSIO_ENOMEM;
    }
    if (m->subs && !rc) {
        wsio__sub **subs = wsio__realloc(mem, m->subs, cap * sizeof *subs);
        if (subs)
            m->subs = subs;
        else
            rc = WSIO_ENOMEM;
    }
    uint64_t *bits =
        rc ? NULL : wsio__realloc(mem, m->free_bits, words(cap) * sizeof *bits);
    if (bits) {
        /* Bits past top are 0 (the new words' too). */
        if (words(cap) > words(m->cap))
            memset(bits + words(m->cap), 0,
                   (words(cap) - words(m->cap)) * sizeof *bits);
        m->free_bits = bits;
    } else {
        rc = WSIO_ENOMEM;
    }
    m->cap = rc ? held : cap;
    return rc;
}

int wsio__ids_reserve(wsio__id_map *m, const wsio_mem *mem)
{
    if (m->nfree || m->top < m->cap)
        return 0;
    uint32_t cap = m->cap < MAX_SLOTS / 2 ? m->cap * 2 : MAX_SLOTS;
    if (cap < MIN_CAP)
        cap = MIN_CAP;
    if (cap == m->cap)
        return WSIO_ENOMEM;
    return resize(m, mem, cap);
}

void wsio__ids_add(wsio__id_map *m, wsio_ws *ws)
{
    wsio__server_conn *c = wsio__sconn(ws);
    uint32_t slot;
    if (m->nfree) {
        while (!m->free_bits[m->hint])
            m->hint++;
        slot = m->hint * 64u + lowest_bit(m->free_bits[m->hint]);
        flip_free(m, slot);
        m->nfree--;
        c->gen = (mark_gen(m->slots[slot]) + 1u) & GEN_LAST;
    } else {
        slot = m->top++;
        c->gen = m->fresh_gen & GEN_LAST;
    }
    c->slot = slot + 1u;
    m->slots[slot] = (uint64_t)(uintptr_t)ws | HIDDEN;
    if (m->kept)
        m->kept[slot] = NULL;
    if (m->subs)
        m->subs[slot] = NULL;
}

void wsio__ids_show(wsio__id_map *m, wsio_ws *ws)
{
    m->slots[wsio__sconn(ws)->slot - 1u] = (uint64_t)(uintptr_t)ws;
}

void wsio__ids_hide(wsio__id_map *m, wsio_ws *ws)
{
    uint32_t slot = wsio__sconn(ws)->slot;
    if (slot)
        m->slots[slot - 1u] = (uint64_t)(uintptr_t)ws | HIDDEN;
}

/* Drop the free slots at the top; shrink the arrays when a quarter full
 * (best effort: a table that cannot shrink stays valid). */
static void trim(wsio__id_map *m, const wsio_mem *mem)
{
    while (m->top && is_free(m, m->top - 1u)) {
        uint32_t slot = --m->top;
        uint32_t next = mark_gen(m->slots[slot]) + 1u;
        if (next > m->fresh_gen)
            m->fresh_gen = next;
        flip_free(m, slot);
        m->nfree--;
    }
    uint32_t cap = m->cap;
    while (cap > MIN_CAP && m->top <= cap / 4u)
        cap /= 2u;
    if (cap != m->cap)
        (void)resize(m, mem, cap);
}

void wsio__ids_release(wsio__id_map *m, const wsio_mem *mem, wsio_ws *ws)
{
    wsio__server_conn *c = wsio__sconn(ws);
    if (!c->slot)
        return;
    uint32_t slot = c->slot - 1u;
    c->slot = 0;
    m->slots[slot] = free_mark(c->gen);
    if (c->gen == GEN_LAST)
        return; /* retired: never free again */
    flip_free(m, slot);
    m->nfree++;
    if (slot / 64u < m->hint)
        m->hint = slot / 64u;
    trim(m, mem);
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

wsio_ws *wsio__ids_at(const wsio__id_map *m, uint32_t slot)
{
    if (slot >= m->top || m->slots[slot] & 1u)
        return NULL;
    return (wsio_ws *)(uintptr_t)(m->slots[slot] & ~(uint64_t)HIDDEN);
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

int wsio__ids_make_subs(wsio__id_map *m, const wsio_mem *mem)
{
    if (m->subs)
        return 0;
    m->subs = wsio__calloc(mem, m->cap, sizeof *m->subs);
    return m->subs ? 0 : WSIO_ENOMEM;
}

wsio__sub **wsio__ids_subs(const wsio__id_map *m, const wsio_ws *ws)
{
    uint32_t slot = wsio__sconn(ws)->slot;
    return m->subs && slot ? &m->subs[slot - 1u] : NULL;
}
