/*
 * src/server_ids.h - a server's open connections by id (internal): the
 * map behind wsio_ws_id, wsio_server_find and the sends by id.
 *
 * Open addressing with linear probing over wsio_ws pointers (each holds
 * its own id), at most three quarters full (a server may hold many idle
 * connections: each costs a slot and a third), shrunk when an eighth
 * full, so its size follows the open connections (bounded by
 * max_connections). Slots are
 * chosen by a hash keyed with a per-server random key, so ids a peer
 * learns cannot be used to pile entries onto one run of slots.
 */
#ifndef WSIO_SERVER_IDS_H
#define WSIO_SERVER_IDS_H

#include "server_conn.h"

typedef struct wsio__id_map {
    wsio_ws **slots;   /* cap entries, NULL when empty */
    size_t cap, count; /* cap: 0 or a power of two */
    uint64_t key;      /* hash key */
} wsio__id_map;

/* Start empty, with a random key. Returns 0 or WSIO_EINTERNAL. */
int wsio__ids_init(wsio__id_map *m);
void wsio__ids_free(wsio__id_map *m, const wsio_mem *mem);
/* Make room for one more entry, so that wsio__ids_add cannot fail.
 * Returns 0 or WSIO_ENOMEM. */
int wsio__ids_reserve(wsio__id_map *m, const wsio_mem *mem);
/* Add ws under ws->id (room reserved, id not present). */
void wsio__ids_add(wsio__id_map *m, wsio_ws *ws);
/* Take ws out, if it is in; may shrink the table. */
void wsio__ids_remove(wsio__id_map *m, const wsio_mem *mem, wsio_ws *ws);
/* The ws with this id, or NULL. */
wsio_ws *wsio__ids_find(const wsio__id_map *m, uint64_t id);

#endif /* WSIO_SERVER_IDS_H */
