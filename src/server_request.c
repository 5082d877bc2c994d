/*
 * src/server_request.c - see server_request.h.
 */
#include <string.h>

#include "server_internal.h"

struct wsio__kept_request {
    wsio_request_info info;
    char addr[WSIO__ADDR_TEXT]; /* info.remote_addr */
    wsio_http_request req;
    wsio_http_header headers[]; /* req.num_headers, then the head bytes */
};

/* s, which points into the parsed head at old, moved to copy. */
static wsio_slice rebase(wsio_slice s, const uint8_t *old, const char *copy)
{
    if (s.ptr)
        s.ptr = copy + (s.ptr - (const char *)old);
    return s;
}

int wsio__request_keep(wsio_ws *ws, const wsio_http_request *req,
                       const uint8_t *head, size_t head_len)
{
    size_t n = req->num_headers;
    size_t bytes = sizeof(struct wsio__kept_request) +
                   n * sizeof(wsio_http_header) + head_len;
    struct wsio__kept_request *k = wsio__malloc(ws->common->buffer_mem, bytes);
    if (!k)
        return WSIO_ENOMEM;
    char *copy = (char *)(k->headers + n);
    memcpy(copy, head, head_len);
    /* The slices keep their offsets: no second parse. */
    k->req = *req;
    k->req.method = rebase(req->method, head, copy);
    k->req.target = rebase(req->target, head, copy);
    k->req.path = rebase(req->path, head, copy);
    k->req.query = rebase(req->query, head, copy);
    for (size_t i = 0; i < n; i++) {
        k->headers[i].name = rebase(req->headers[i].name, head, copy);
        k->headers[i].value = rebase(req->headers[i].value, head, copy);
    }
    k->req.headers = k->headers;
    k->info.request = &k->req;
    k->info.remote_addr = wsio__addr_format(&ws->addr, k->addr);
    k->info.remote_port = ws->port;
    k->info.subprotocol = wsio_ws_subprotocol(ws);
    *wsio__ids_kept(&wsio__sconn_srv(ws)->ids, ws) = k;
    return 0;
}

void wsio__request_release(wsio_ws *ws)
{
    struct wsio__kept_request **k =
        wsio__ids_kept(&wsio__sconn_srv(ws)->ids, ws);
    if (!k)
        return;
    wsio__free(ws->common->buffer_mem, *k);
    *k = NULL;
}

const wsio_request_info *wsio_ws_request(const wsio_ws *ws)
{
    struct wsio__kept_request **k =
        wsio__ws_is_server(ws) ? wsio__ids_kept(&wsio__sconn_srv(ws)->ids, ws)
                               : NULL;
    return k && *k ? &(*k)->info : NULL;
}
