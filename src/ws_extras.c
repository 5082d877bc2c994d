/*
 * src/ws_extras.c - what only some connections need, in one block made
 * when the first of it is: the negotiated subprotocol, the agreed
 * permessage-deflate parameters, and the peer address as text. An idle
 * connection without them holds one NULL pointer, which it shares with the
 * bytes to send before the conn's (the raw output: the request, the 101)
 * while it has no extras; the extras then hold that pointer.
 *
 * The block is made once at the end of the handshake (subprotocol and
 * deflate are agreed together), or earlier by wsio_ws_remote_addr; its
 * address text is a block of its own so that the pointer handed out stays
 * valid when the handshake's result replaces the extras.
 */
#include <string.h>

#include "ws_internal.h"

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

/* Make x the ws's extras, in place of the ones it had, if any. */
static void extras_install(wsio_ws *ws, struct wsio__ws_extras *x)
{
    struct wsio__ws_extras *old = wsio__ws_extras(ws);
    x->raw_out = wsio__ws_raw(ws);
    if (old) { /* the address text was asked for already */
        x->addr_text = old->addr_text;
        wsio__free(extras_mem(ws), old);
    }
    ws->side = x;
    ws->side_is_raw = 0;
}

void wsio__ws_raw_set(wsio_ws *ws, wsio__raw_out *r)
{
    struct wsio__ws_extras *x = wsio__ws_extras(ws);
    if (x) {
        x->raw_out = r;
    } else {
        ws->side = r;
        ws->side_is_raw = r != NULL;
    }
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
    extras_install(ws, x);
    ws->pmd_on = pmd != NULL;
    return 0;
}

const wsio_deflate_params *wsio__ws_pmd(const wsio_ws *ws)
{
    return &wsio__ws_extras(ws)->pmd;
}

void wsio__ws_extras_free(wsio_ws *ws)
{
    struct wsio__ws_extras *x = wsio__ws_extras(ws);
    if (!x)
        return;
    ws->side = x->raw_out; /* wsio__ws_raw_drop's */
    ws->side_is_raw = x->raw_out != NULL;
    wsio__free(extras_mem(ws), x->addr_text);
    wsio__free(extras_mem(ws), x);
}

const char *wsio_ws_subprotocol(const wsio_ws *ws)
{
    struct wsio__ws_extras *x = wsio__ws_extras(ws);
    return x ? x->subprotocol : "";
}

/* The block is made at the first call; each call writes the text again
 * (a few dozen bytes), so that an address a PROXY or forwarding header
 * replaced shows, at the same pointer. */
const char *wsio_ws_remote_addr(const wsio_ws *ws, uint16_t *port)
{
    if (port)
        *port = ws->port;
    wsio_ws *w = (wsio_ws *)ws; /* the text is a cache, not a change */
    struct wsio__ws_extras *x = wsio__ws_extras(w);
    if (!x) {
        if (!(x = extras_new(w, NULL, 0)))
            return "";
        extras_install(w, x);
    }
    char text[WSIO__ADDR_TEXT];
    wsio__addr_format(&ws->addr, text);
    if (!x->addr_text) {
        x->addr_text = wsio__malloc(extras_mem(ws), sizeof text);
        if (!x->addr_text)
            return "";
    }
    memcpy(x->addr_text, text, sizeof text);
    return x->addr_text;
}
