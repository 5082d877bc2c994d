/*
 * src/server_addr_limit.h - per-client-address limits of a server
 * (internal): how many connections one address holds
 * (max_connections_per_addr) and how fast it may open new ones
 * (max_handshakes_per_addr_per_sec), IPv6 addresses grouped by prefix.
 *
 * Counting rule: a connection is counted once, under the first address
 * wsio believes that is not a trusted proxy: its socket peer at accept,
 * else the client of the PROXY header, else the client of the forwarding
 * header. A trusted proxy's own connections (before their request head
 * names the client, or when it names none) are not counted: one proxy
 * carries many clients.
 *
 * Memory: a keyed hash table (SipHash-2-4 with a per-server random key,
 * so that clients cannot aim many addresses at one chain) holding one
 * entry per address that has a counted connection now or opened one in
 * about the last two seconds (a rate bucket not yet full again).
 */
#ifndef WSIO_SERVER_ADDR_LIMIT_H
#define WSIO_SERVER_ADDR_LIMIT_H

#include "server_security.h"

/* A grouped address: family (4 or 6) and 16 bytes, the bits past the
 * group's prefix zeroed. */
#define WSIO__ADDR_KEY 17

typedef struct wsio__addr_entry wsio__addr_entry;

typedef struct wsio__addr_limits {
    const wsio_mem *mem;
    const wsio__security *sec; /* the trusted proxies */
    wsio_server_stats *stats;  /* the refusal counters */
    size_t max_conns;          /* 0: no limit */
    uint32_t rate;             /* handshakes a second; 0: no limit */
    uint8_t v6_bits;           /* IPv6 prefix of one client */
    uint64_t key[2];           /* SipHash key */
    wsio__addr_entry **buckets;
    size_t nbuckets, nentries;
    uint64_t last_sweep; /* loop clock, ms */
} wsio__addr_limits;

/* Set up lim from cfg (off when both limits are 0). Returns 0,
 * WSIO_EINVAL (addr_prefix_v6 over 128) or the random source's error. */
int wsio__addr_limits_init(wsio__addr_limits *lim,
                           const wsio_server_config *cfg,
                           const wsio__security *sec, wsio_server_stats *stats,
                           const wsio_mem *mem);
void wsio__addr_limits_free(wsio__addr_limits *lim);

/* Group addr: IPv4 (and IPv4-mapped IPv6) by the whole address, IPv6 by
 * its first v6_bits bits. Returns 1, or 0 when addr is none (family 0). */
int wsio__addr_group(const wsio__addr *addr, unsigned v6_bits,
                     uint8_t key[WSIO__ADDR_KEY]);

/*
 * Count one connection of the grouped address key at loop time now (ms).
 * Returns 0 with *entry set (give it back to wsio__addr_limits_leave),
 * 429 when the address has no handshake left this second, 503 when it
 * holds max_conns connections (or memory ran out).
 */
int wsio__addr_limits_enter(wsio__addr_limits *lim,
                            const uint8_t key[WSIO__ADDR_KEY], uint64_t now,
                            wsio__addr_entry **entry);
/* The connection counted in entry ended. */
void wsio__addr_limits_leave(wsio__addr_limits *lim, wsio__addr_entry *entry,
                             uint64_t now);

/*
 * The counting rule above for ws, whose address was just believed: count
 * it unless it is already counted or its address is a trusted proxy.
 * Returns 0 (counted or exempt) or the HTTP status to refuse it with
 * (429, 503), also counted in the server's stats.
 */
int wsio__addr_limits_admit(wsio__addr_limits *lim, wsio_ws *ws, uint64_t now);
/* ws's transport closed: give back its count, if it has one. */
void wsio__addr_limits_release(wsio__addr_limits *lim, wsio_ws *ws,
                               uint64_t now);

#endif /* WSIO_SERVER_ADDR_LIMIT_H */
