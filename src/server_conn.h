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

/* A server's ws is on exactly one of its server's lists while not DEAD.
 * Its allocation goes on with room for its conn (wsio__server_ws_class's
 * conn_room), so an open connection is one block. What only some
 * connections need lives elsewhere: the server is found from ws->common
 * (wsio__sconn_srv), a kept request and the topics by the slot
 * (server_ids.h), the address's count by the address
 * (server_addr_limit.h). */
typedef struct wsio__server_conn {
    wsio_ws ws;
    wsio__link link;   /* on a server list */
    uint32_t slot;     /* in the server's id map + 1, from OPEN on; 0: none */
    unsigned gen : 31; /* the slot's generation: the id's high half */
    unsigned addr_counted : 1; /* counted under its address */
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
