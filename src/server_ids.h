/*
 * src/server_ids.h - a server's connections by slot and the open ones by
 * id (internal): what the server's walks go through, the map behind
 * wsio_ws_id, wsio_server_find and the sends by id, and the
 * place of each connection's kept request (cfg.keep_request) and topics,
 * each made only when a server uses it.
 *
 * A dense array of slots, one per connection from accept until it is
 * freed (hidden, not found by id, except while OPEN), which the server
 * also walks to reach its connections (wsio__ids_at): 8 bytes each (and
 * a bit), and an exact lookup in one step. An id is its slot's generation (high
 * 32 bits) and its slot + 1 (low 32 bits, so never 0). A freed slot keeps the
 * generation it had; the next connection there gets the next one, so an old id
 * misses. A slot whose generation would wrap is retired (never handed out
 * again): ids are never reused within the server.
 *
 * Memory follows the connections: the lowest free slot is taken
 * first, so the slots in use stay at the bottom; free slots at the top
 * are dropped (`top` comes down) and the array shrinks when a quarter
 * full. A slot dropped and later taken again starts above every
 * generation a dropped slot had (`fresh_gen`). Pages past `top` are
 * never written. Peers cannot choose ids; a peer that learns one learns
 * only its slot.
 */
#ifndef WSIO_SERVER_IDS_H
#define WSIO_SERVER_IDS_H

#include "server_conn.h"

struct wsio__kept_request;

typedef struct wsio__id_map {
    /* cap entries, the first top in use: a wsio_ws pointer (open, found
     * by id), that pointer | 2 (hidden: before or past OPEN, slot held
     * until it is freed)
     * or, odd, the generation a free or retired slot had */
    uint64_t *slots;
    struct wsio__kept_request **kept; /* cap entries, or NULL when the
                                         server keeps no requests */
    wsio__sub **subs;    /* cap entries (each ws's topics), or NULL until a
                            connection of the server first subscribes */
    uint64_t *free_bits; /* a bit per slot below top: free (not retired) */
    uint32_t cap, top;
    uint32_t nfree;     /* free slots below top */
    uint32_t hint;      /* no free slot in the words of free_bits below */
    uint32_t fresh_gen; /* the generation of a slot taken at top */
    uint8_t keep_requests;
} wsio__id_map;

/* Start empty; keep_requests: each slot has room for a kept request. */
void wsio__ids_init(wsio__id_map *m, int keep_requests);
void wsio__ids_free(wsio__id_map *m, const wsio_mem *mem);
/* Make room for one more connection, so that wsio__ids_add cannot fail.
 * Returns 0 or WSIO_ENOMEM. */
int wsio__ids_reserve(wsio__id_map *m, const wsio_mem *mem);
/* Give ws (without a slot) a slot, and so its id, hidden until
 * wsio__ids_show. */
void wsio__ids_add(wsio__id_map *m, wsio_ws *ws);
/* ws is OPEN: found by its id from now on. */
void wsio__ids_show(wsio__id_map *m, wsio_ws *ws);
/* ws left OPEN: not found any more (its slot and id stay its own). */
void wsio__ids_hide(wsio__id_map *m, wsio_ws *ws);
/* ws is being freed: its slot, if it has one, goes back; the table may
 * shrink. */
void wsio__ids_release(wsio__id_map *m, const wsio_mem *mem, wsio_ws *ws);
/* The open ws with this id, or NULL. */
wsio_ws *wsio__ids_find(const wsio__id_map *m, uint64_t id);
/* The ws holding slot (shown or hidden), or NULL: slot free, retired or
 * not below top. A ws keeps its slot until it is freed, so walks by slot
 * read the array again at each step and stay right when it is resized. */
wsio_ws *wsio__ids_at(const wsio__id_map *m, uint32_t slot);
/* ws's id, or 0 before it has a slot. */
uint64_t wsio__ids_id(const wsio_ws *ws);
/* Where ws's kept request goes, or NULL (no slot, or no requests kept). */
struct wsio__kept_request **wsio__ids_kept(const wsio__id_map *m,
                                           const wsio_ws *ws);
/* Make the room for each slot's topics, if not yet made (every entry
 * NULL). Returns 0 or WSIO_ENOMEM. */
int wsio__ids_make_subs(wsio__id_map *m, const wsio_mem *mem);
/* The head of ws's list of topics, or NULL (no slot, or no room made:
 * then it is in no topic). */
wsio__sub **wsio__ids_subs(const wsio__id_map *m, const wsio_ws *ws);

#endif /* WSIO_SERVER_IDS_H */
