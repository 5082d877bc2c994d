/*
 * src/server_conn.h - one connection of a server: the wsio_ws the driver
 * (ws.c) runs, wrapped with what only the server keeps, as the client
 * wraps its own (internal, never installed).
 */
#ifndef WSIO_SERVER_CONN_H
#define WSIO_SERVER_CONN_H

#include "ws_internal.h"
#include "wsio/server.h"

typedef struct wsio__sub wsio__sub;

/* A server's ws holds a slot in its server's id map from accept until it
 * is freed (server_ids.h), and is on one of the server's lists while not
 * DEAD: which one is its ws's cls_bits (server_internal.h). The server's
 * walks go by slot, so the ws needs no links. Its allocation goes on
 * with room for its conn (wsio__server_ws_class's conn_room), so an open
 * connection is one block. What only some
 * connections need lives elsewhere: the server is found from ws->common
 * (wsio__sconn_srv), a kept request and the topics by the slot
 * (server_ids.h), the address's count by the address
 * (server_addr_limit.h). */
typedef struct wsio__server_conn {
    wsio_ws ws;
    uint32_t slot;             /* in the server's id map + 1, from accept on */
    unsigned gen : 31;         /* the slot's generation: the id's high half */
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

#endif /* WSIO_SERVER_CONN_H */
