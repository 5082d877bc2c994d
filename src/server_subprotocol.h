/*
 * src/server_subprotocol.h - a server's subprotocols (internal): the
 * configured list in preference order, the pick for a request, and the
 * check that an answer names one the client offered (RFC 6455 section
 * 4.2.2, /subprotocol/; the registry of names is section 11.3.4).
 */
#ifndef WSIO_SERVER_SUBPROTOCOL_H
#define WSIO_SERVER_SUBPROTOCOL_H

#include "server_conn.h"

/* A copy of cfg->subprotocols, in one allocation. */
typedef struct wsio__subprotocols {
    char **names; /* NULL when none are configured */
    size_t n;
} wsio__subprotocols;

/* Copy cfg's list into sp (zeroed). Returns 0, WSIO_ENOMEM, or WSIO_EINVAL
 * for a NULL entry or a name that is not an HTTP token. */
int wsio__subprotocols_init(wsio__subprotocols *sp,
                            const wsio_server_config *cfg, const wsio_mem *mem);
void wsio__subprotocols_free(wsio__subprotocols *sp, const wsio_mem *mem);

/* The first of sp's names (server preference) that req offers in
 * Sec-WebSocket-Protocol, or NULL. */
const char *wsio__subprotocol_pick(const wsio__subprotocols *sp,
                                   const wsio_http_request *req);

/* Whether req offers name (compared exactly: names are case-sensitive). */
int wsio__subprotocol_offered(const wsio_http_request *req, const char *name);

#endif /* WSIO_SERVER_SUBPROTOCOL_H */
