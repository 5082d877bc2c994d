/*
 * src/ws_extras.c - what only some connections need, in one block made
 * when the first of it is: the negotiated subprotocol, the agreed
 * permessage-deflate parameters, and the peer address as text. An idle
 * connection without them holds one NULL pointer.
 *
 * The block is made once at the end of the handshake (subprotocol and
 * deflate are agreed together), or earlier by wsio_ws_remote_addr; its
 * address text is a block of its own so that the pointer handed out stays
 * valid when the handshake's result replaces the extras.
 */
#include <string.h>

#include "ws_internal.h"

struct wsio__ws_extras {
    char *addr_text;         /* wsio_ws_remote_addr's, or NULL */
    wsio_deflate_params pmd; /* when ws->pmd_on */
    char subprotocol[];      /* "" when none */
};

static const wsio_mem *extras_mem(const wsio_ws *ws)
{
    return wsio__loop_mem(ws->common->loop);
}

static struct wsio__ws_extras *extras_new(wsio_ws *ws, const char *sub,
                                          size_t sub_len)
{
    struct wsio__ws_extras *x =
        wsio__malloc(extras_mem(ws), sizeof *x + sub_len + 1);
    if (!x)
        return NULL;
    memset(x, 0, sizeof *x);
    if (sub_len)
        memcpy(x->subprotocol, sub, sub_len);
    x->subprotocol[sub_len] = '\0';
    return x;
}

int wsio__ws_set_agreed(wsio_ws *ws, const char *sub, size_t sub_len,
                        const wsio_deflate_params *pmd)
{
    if (!sub_len && !pmd)
        return 0; /* nothing to keep: no block */
    struct wsio__ws_extras *x = extras_new(ws, sub, sub_len);
    if (!x)
        return WSIO_ENOMEM;
    if (pmd)
        x->pmd = *pmd;
    if (ws->extras) { /* the address text was asked for already */
        x->addr_text = ws->extras->addr_text;
        wsio__free(extras_mem(ws), ws->extras);
    }
    ws->extras = x;
    ws->pmd_on = pmd != NULL;
    return 0;
}

const wsio_deflate_params *wsio__ws_pmd(const wsio_ws *ws)
{
    return &ws->extras->pmd;
}

void wsio__ws_extras_free(wsio_ws *ws)
{
    if (!ws->extras)
        return;
    wsio__free(extras_mem(ws), ws->extras->addr_text);
    wsio__free(extras_mem(ws), ws->extras);
    ws->extras = NULL;
}

const char *wsio_ws_subprotocol(const wsio_ws *ws)
{
    return ws->extras ? ws->extras->subprotocol : "";
}

/* The block is made at the first call; each call writes the text again
 * (a few dozen bytes), so that an address a PROXY or forwarding header
 * replaced shows, at the same pointer. */
const char *wsio_ws_remote_addr(const wsio_ws *ws, uint16_t *port)
{
    if (port)
        *port = ws->port;
    wsio_ws *w = (wsio_ws *)ws; /* the text is a cache, not a change */
    if (!w->extras && !(w->extras = extras_new(w, NULL, 0)))
        return "";
    char text[WSIO__ADDR_TEXT];
    wsio__addr_format(&ws->addr, text);
    if (!w->extras->addr_text) {
        w->extras->addr_text = wsio__malloc(extras_mem(ws), sizeof text);
        if (!w->extras->addr_text)
            return "";
    }
    memcpy(w->extras->addr_text, text, sizeof text);
    return w->extras->addr_text;
}
