/*
 * src/server_ids.c - see server_ids.h.
 */
#include <string.h>

#include "server_ids.h"

#define MIN_CAP 16

/* A 64-bit mix (the finalizer of splitmix64) of the id under the key.
 * Not SipHash as for topics: ids come from the server's own counter, so a
 * peer cannot choose colliding ones, and this is ~5 ns a lookup, not ~25. */
static size_t slot_of(const wsio__id_map *m, uint64_t id)
{
    uint64_t x = id ^ m->key;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    x ^= x >> 31;
    return (size_t)x & (m->cap - 1);
}

int wsio__ids_init(wsio__id_map *m)
{
    memset(m, 0, sizeof *m);
    return wsio__random_bytes(&m->key, sizeof m->key);
}

void wsio__ids_free(wsio__id_map *m, const wsio_mem *mem)
{
    wsio__free(mem, m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

static void place(wsio__id_map *m, wsio_ws *ws)
{
    size_t i = slot_of(m, wsio__sconn(ws)->id);
    while (m->slots[i])
        i = (i + 1) & (m->cap - 1);
    m->slots[i] = ws;
}

static int resize(wsio__id_map *m, const wsio_mem *mem, size_t cap)
{
    wsio_ws **slots = wsio__calloc(mem, cap, sizeof *slots);
    if (!slots)
        return WSIO_ENOMEM;
    wsio_ws **old = m->slots;
    size_t old_cap = m->cap;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i])
            place(m, old[i]);
    wsio__free(mem, old);
    return 0;
}

int wsio__ids_reserve(wsio__id_map *m, const wsio_mem *mem)
{
    if ((m->count + 1) * 4 <= m->cap * 3)
        return 0;
    if (m->cap > SIZE_MAX / 2 / sizeof(wsio_ws *))
        return WSIO_ENOMEM;
    return resize(m, mem, m->cap ? m->cap * 2 : MIN_CAP);
}

void wsio__ids_add(wsio__id_map *m, wsio_ws *ws)
{
    place(m, ws);
    m->count++;
}

wsio_ws *wsio__ids_find(const wsio__id_map *m, uint64_t id)
{
    if (!m->cap)
        return NULL;
    for (size_t i = slot_of(m, id); m->slots[i]; i = (i + 1) & (m->cap - 1))
        if (wsio__sconn(m->slots[i])->id == id)
            return m->slots[i];
    return NULL;
}

void wsio__ids_remove(wsio__id_map *m, const wsio_mem *mem, wsio_ws *ws)
{
    if (!m->cap)
        return;
    size_t mask = m->cap - 1;
    size_t i = slot_of(m, wsio__sconn(ws)->id);
    while (m->slots[i] && m->slots[i] != ws)
        i = (i + 1) & mask;
    if (!m->slots[i])
        return;
    /* Backward shift: move later entries of the run into the hole when
     * their home slot is not between the hole and them (cyclically). */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; m->slots[j]; j = (j + 1) & mask) {
        size_t home = slot_of(m, wsio__sconn(m->slots[j])->id);
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole] = NULL;
    m->count--;
    /* Shrinking is best effort: a table that cannot shrink stays valid. */
    if (m->cap > MIN_CAP && m->count * 8 < m->cap)
        (void)resize(m, mem, m->cap / 2);
}
