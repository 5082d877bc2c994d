/*
 * src/server_subprotocol.c - see server_subprotocol.h.
 */
#include <string.h>

#include "handshake_http.h"
#include "server_subprotocol.h"

int wsio__subprotocols_init(wsio__subprotocols *sp,
                            const wsio_server_config *cfg, const wsio_mem *mem)
{
    size_t n = cfg->subprotocols ? cfg->num_subprotocols : 0;
    if (n == 0)
        return 0;
    size_t bytes = n * sizeof(char *);
    for (size_t i = 0; i < n; i++) {
        const char *name = cfg->subprotocols[i];
        /* Sec-WebSocket-Protocol-Server = token (section 4.3). */
        if (!name || !wsio__http_is_token(name, strlen(name)))
            return WSIO_EINVAL;
        bytes += strlen(name) + 1;
    }
    sp->names = wsio__malloc(mem, bytes);
    if (!sp->names)
        return WSIO_ENOMEM;
    char *p = (char *)(sp->names + n);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(cfg->subprotocols[i]) + 1;
        memcpy(p, cfg->subprotocols[i], len);
        sp->names[i] = p;
        p += len;
    }
    sp->n = n;
    return 0;
}

void wsio__subprotocols_free(wsio__subprotocols *sp, const wsio_mem *mem)
{
    wsio__free(mem, sp->names);
    sp->names = NULL;
    sp->n = 0;
}

int wsio__subprotocol_offered(const wsio_http_request *req, const char *name)
{
    size_t len = strlen(name);
    wsio_http_token_iter it;
    wsio_slice offer;
    wsio_http_token_iter_init(&it, req->headers, req->num_headers,
                              "Sec-WebSocket-Protocol");
    while (wsio_http_token_iter_next(&it, &offer))
        if (offer.len == len && memcmp(offer.ptr, name, len) == 0)
            return 1;
    return 0;
}

const char *wsio__subprotocol_pick(const wsio__subprotocols *sp,
                                   const wsio_http_request *req)
{
    for (size_t i = 0; i < sp->n; i++)
        if (wsio__subprotocol_offered(req, sp->names[i]))
            return sp->names[i];
    return NULL;
}
