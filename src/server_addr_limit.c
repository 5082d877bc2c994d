/*
 * src/server_addr_limit.c - per-client-address connection and handshake
 * limits (see server_addr_limit.h).
 *
 * Without them one address can take every slot of max_connections: idle
 * WebSockets, or sockets that never finish the handshake and are replaced
 * as fast as the handshake timeout ends them. The rate is a token bucket
 * per address holding one second's worth of handshakes, in thousandths so
 * that refilling by the millisecond loses nothing.
 */
#include <string.h>

#include "server_addr_limit.h"
#include "common_siphash.h"
#include "server_conn.h"

struct wsio__addr_entry {
    wsio__addr_entry *next; /* hash chain */
    uint64_t hash;
    uint64_t refilled; /* loop clock of the last refill, ms */
    uint64_t tokens;   /* thousandths of a handshake */
    size_t conns;      /* counted connections now */
    uint8_t key[WSIO__ADDR_KEY];
};

/* Stale entries are looked for at most this often. */
#define SWEEP_MS 1000u
#define MIN_BUCKETS 16u

/* ---- grouping
 * ------------------------------------------------------------------ */

int wsio__addr_group(const wsio__addr *addr, unsigned v6_bits,
                     uint8_t key[WSIO__ADDR_KEY])
{
    memset(key, 0, WSIO__ADDR_KEY);
    if (addr->family != 4 && addr->family != 6)
        return 0;
    wsio__addr a = wsio__addr_unmapped(addr);
    const uint8_t *bin = a.bin;
    key[0] = a.family;
    if (a.family == 4) {
        memcpy(key + 1, bin, 4);
        return 1;
    }
    if (v6_bits > 128)
        v6_bits = 128;
    memcpy(key + 1, bin, v6_bits / 8);
    if (v6_bits % 8)
        key[1 + v6_bits / 8] =
            (uint8_t)(bin[v6_bits / 8] & (0xffu << (8 - v6_bits % 8)));
    return 1;
}

/* ---- the table
 * ------------------------------------------------------------------- */

int wsio__addr_limits_init(wsio__addr_limits *lim,
                           const wsio_server_config *cfg,
                           const wsio__security *sec, wsio_server_stats *stats,
                           const wsio_mem *mem)
{
    memset(lim, 0, sizeof *lim);
    if (cfg->addr_prefix_v6 > 128)
        return WSIO_EINVAL;
    lim->mem = mem;
    lim->sec = sec;
    lim->stats = stats;
    lim->max_conns = cfg->max_connections_per_addr;
    lim->rate = cfg->max_handshakes_per_addr_per_sec;
    lim->v6_bits = cfg->addr_prefix_v6 ? cfg->addr_prefix_v6 : 64;
    if (!lim->max_conns && !lim->rate)
        return 0;
    return wsio__random_bytes(lim->key, sizeof lim->key);
}

void wsio__addr_limits_free(wsio__addr_limits *lim)
{
    if (!lim->buckets)
        return; /* off, never used, or not set up */
    for (size_t i = 0; i < lim->nbuckets; i++) {
        while (lim->buckets[i]) {
            wsio__addr_entry *e = lim->buckets[i];
            lim->buckets[i] = e->next;
            wsio__free(lim->mem, e);
        }
    }
    wsio__free(lim->mem, lim->buckets);
    lim->buckets = NULL;
    lim->nbuckets = lim->nentries = 0;
}

/* A full bucket: one second's worth of handshakes. */
static uint64_t capacity(const wsio__addr_limits *lim)
{
    return (uint64_t)lim->rate * 1000u;
}

static void refill(const wsio__addr_limits *lim, wsio__addr_entry *e,
                   uint64_t now)
{
    if (now > e->refilled) {
        /* rate a second is rate thousandths a millisecond. */
        uint64_t add = (now - e->refilled) * lim->rate;
        e->tokens =
            capacity(lim) - e->tokens <= add ? capacity(lim) : e->tokens + add;
        e->refilled = now;
    }
}

/* Nothing to remember: no connection, and the bucket is full again. */
static int entry_stale(const wsio__addr_limits *lim, wsio__addr_entry *e,
                       uint64_t now)
{
    if (e->conns)
        return 0;
    refill(lim, e, now);
    return e->tokens >= capacity(lim);
}

/* Rehash into n buckets (a power of two); keeps the old table when out of
 * memory, which only makes chains longer. */
static void resize(wsio__addr_limits *lim, size_t n)
{
    wsio__addr_entry **b = wsio__calloc(lim->mem, n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < lim->nbuckets; i++) {
        while (lim->buckets[i]) {
            wsio__addr_entry *e = lim->buckets[i];
            lim->buckets[i] = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    wsio__free(lim->mem, lim->buckets);
    lim->buckets = b;
    lim->nbuckets = n;
}

/* Forget every stale entry and give back table space a flood left. */
static void sweep(wsio__addr_limits *lim, uint64_t now)
{
    lim->last_sweep = now;
    for (size_t i = 0; i < lim->nbuckets; i++) {
        wsio__addr_entry **p = &lim->buckets[i];
        while (*p) {
            wsio__addr_entry *e = *p;
            if (entry_stale(lim, e, now)) {
                *p = e->next;
                wsio__free(lim->mem, e);
                lim->nentries--;
            } else {
                p = &e->next;
            }
        }
    }
    if (lim->nbuckets > MIN_BUCKETS && lim->nentries < lim->nbuckets / 4)
        resize(lim, lim->nbuckets / 2);
}

/* The entry of key (whose hash is h), or NULL. */
static wsio__addr_entry *find(const wsio__addr_limits *lim,
                              const uint8_t key[WSIO__ADDR_KEY], uint64_t h)
{
    if (!lim->nbuckets)
        return NULL;
    for (wsio__addr_entry *e = lim->buckets[h & (lim->nbuckets - 1)]; e;
         e = e->next)
        if (e->hash == h && memcmp(e->key, key, WSIO__ADDR_KEY) == 0)
            return e;
    return NULL;
}

static wsio__addr_entry *find_or_add(wsio__addr_limits *lim,
                                     const uint8_t key[WSIO__ADDR_KEY],
                                     uint64_t now)
{
    if (lim->nentries >= lim->nbuckets)
        resize(lim, lim->nbuckets ? lim->nbuckets * 2 : MIN_BUCKETS);
    if (!lim->nbuckets)
        return NULL;
    uint64_t h = wsio__siphash(lim->key, key, WSIO__ADDR_KEY);
    wsio__addr_entry *e = find(lim, key, h);
    if (e)
        return e;
    wsio__addr_entry **p = &lim->buckets[h & (lim->nbuckets - 1)];
    e = wsio__calloc(lim->mem, 1, sizeof *e);
    if (!e)
        return NULL;
    e->hash = h;
    e->refilled = now;
    e->tokens = capacity(lim);
    memcpy(e->key, key, WSIO__ADDR_KEY);
    e->next = *p;
    *p = e;
    lim->nentries++;
    return e;
}

static void forget_if_stale(wsio__addr_limits *lim, wsio__addr_entry *e,
                            uint64_t now)
{
    if (!entry_stale(lim, e, now))
        return;
    wsio__addr_entry **p = &lim->buckets[e->hash & (lim->nbuckets - 1)];
    while (*p != e)
        p = &(*p)->next;
    *p = e->next;
    wsio__free(lim->mem, e);
    lim->nentries--;
}

int wsio__addr_limits_enter(wsio__addr_limits *lim,
                            const uint8_t key[WSIO__ADDR_KEY], uint64_t now,
                            wsio__addr_entry **entry)
{
    *entry = NULL;
    if (now - lim->last_sweep >= SWEEP_MS)
        sweep(lim, now);
    wsio__addr_entry *e = find_or_add(lim, key, now);
    if (!e)
        return 503;
    int status = 0;
    if (lim->rate) {
        refill(lim, e, now);
        if (e->tokens < 1000u)
            status = 429;
        else
            e->tokens -= 1000u;
    }
    if (!status && lim->max_conns && e->conns >= lim->max_conns)
        status = 503;
    if (status) {
        forget_if_stale(lim, e, now);
        return status;
    }
    e->conns++;
    *entry = e;
    return 0;
}

void wsio__addr_limits_leave(wsio__addr_limits *lim, wsio__addr_entry *e,
                             uint64_t now)
{
    e->conns--;
    forget_if_stale(lim, e, now);
}

/* ---- connections
 * ----------------------------------------------------------------- */

int wsio__addr_limits_admit(wsio__addr_limits *lim, wsio_ws *ws, uint64_t now)
{
    const wsio__security *sec = lim->sec;
    uint8_t key[WSIO__ADDR_KEY];
    wsio__addr_entry *e;
    if ((!lim->max_conns && !lim->rate) || wsio__sconn(ws)->addr_counted ||
        (sec->ntrusted &&
         wsio__cidr_match(sec->trusted, sec->ntrusted, &ws->addr)) ||
        !wsio__addr_group(&ws->addr, lim->v6_bits, key))
        return 0;
    int status = wsio__addr_limits_enter(lim, key, now, &e);
    if (status == 429)
        lim->stats->addr_handshakes_limited++;
    else if (status)
        lim->stats->addr_connections_refused++;
    else
        wsio__sconn(ws)->addr_counted = 1;
    return status;
}

/* The entry is found again by the address, which stays as it was when
 * counted: a counted address is no trusted proxy's, and only those are
 * replaced by a forwarding header (server_security.h). Its entry stays
 * while it counts a connection. */
void wsio__addr_limits_release(wsio__addr_limits *lim, wsio_ws *ws,
                               uint64_t now)
{
    uint8_t key[WSIO__ADDR_KEY];
    if (!wsio__sconn(ws)->addr_counted)
        return;
    wsio__sconn(ws)->addr_counted = 0;
    if (!wsio__addr_group(&ws->addr, lim->v6_bits, key))
        return;
    wsio__addr_entry *e =
        find(lim, key, wsio__siphash(lim->key, key, WSIO__ADDR_KEY));
    if (e)
        wsio__addr_limits_leave(lim, e, now);
}
