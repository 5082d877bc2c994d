/*
 * src/server_conn.h - one connection of a server: the wsio_ws the driver
 * (ws.c) runs, wrapped with what only the server keeps, as the client
 * wraps its own (internal, never installed).
 */
#ifndef WSIO_SERVER_CONN_H
#define WSIO_SERVER_CONN_H

#include "common_list.h"
#include "ws_internal.h"
#include "wsio/server.h"

typedef struct wsio__sub wsio__sub;
typedef struct wsio__addr_entry wsio__addr_entry;

/* A server's ws is on exactly one of its server's lists while not DEAD.
 * Its allocation goes on with room for its conn (wsio__server_ws_class's
 * conn_room), so an open connection is one block. */
typedef struct wsio__server_conn {
    wsio_ws ws;
    wsio_server *srv;
    wsio__link link;                 /* on a server list */
    wsio__sub *subs;                 /* topics this ws is in */
    wsio__addr_entry *addr_entry;    /* its per-address count, or NULL
                                        (server_addr_limit.h) */
    uint64_t id;                     /* wsio_ws_id, from OPEN on */
    struct wsio__kept_request *kept; /* wsio_ws_request, or NULL */
    /* Which server list the ws is on is its ws's cls_bits: bits the ws
     * has spare, where a byte here would cost 8 with the padding. */
} wsio__server_conn;

/* The class of every server connection (server.c). */
extern const wsio__ws_class wsio__server_ws_class;

/* The server's part of ws, a server connection. */
static inline wsio__server_conn *wsio__sconn(const wsio_ws *ws)
{
    return WSIO__CONTAINER_OF(ws, wsio__server_conn, ws);
}

/* Whether ws is a server's connection (public functions that take any
 * wsio_ws ask before wsio__sconn). */
static inline int wsio__ws_is_server(const wsio_ws *ws)
{
    return ws->common->cls == &wsio__server_ws_class;
}

/* The ws on a server list at link, or NULL for a NULL link. */
static inline wsio_ws *wsio__sconn_ws(const wsio__link *link)
{
    return link ? &WSIO__CONTAINER_OF(link, wsio__server_conn, link)->ws : NULL;
}

#endif /* WSIO_SERVER_CONN_H */
