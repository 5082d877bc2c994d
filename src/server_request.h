/*
 * src/server_request.h - the upgrade request a server connection keeps
 * while it is open (internal; cfg.keep_request, wsio_ws_request).
 *
 * One block from the connections' buffer allocator (so memory_budget
 * counts it): the wsio_request_info, the parsed request, its header array
 * and a copy of the head's bytes, which the slices point into. The head
 * is at most http.max_header_bytes and the headers at most
 * http.max_headers, so the block is bounded by the handshake limits.
 */
#ifndef WSIO_SERVER_REQUEST_H
#define WSIO_SERVER_REQUEST_H

#include "server_conn.h"

/* Keep req, parsed from head[0..head_len), for ws (whose address and
 * subprotocol are already final, and which has its id: the request is
 * kept in the id's slot, server_ids.h). Returns 0 or WSIO_ENOMEM. */
int wsio__request_keep(wsio_ws *ws, const wsio_http_request *req,
                       const uint8_t *head, size_t head_len);
/* Free what wsio__request_keep kept (nothing if it kept nothing). */
void wsio__request_release(wsio_ws *ws);

#endif /* WSIO_SERVER_REQUEST_H */
