/*
 * src/client_reconnect.c - wsio_client: a client that outlives its
 * connections (wsio/client.h). It makes each connection with
 * wsio__client_connect, sees its on_open and on_close through two wrapped
 * callbacks (the others go to the application directly), and after each
 * end waits under the reconnect policy before the next.
 *
 * While it connects, is open or waits, it keeps the loop alive; closed or
 * given up it stays attached but passive, so wsio_loop_free still frees it.
 */
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "internal.h"

struct wsio_client {
    wsio__attach attach;
    wsio__deferred_cb release;
    wsio__timer_cb timer; /* the wait before the next try */
    wsio_loop *loop;
    char *url;                 /* in copies, or set_url */
    char *set_url;             /* wsio_client_set_url's copy, or NULL */
    wsio_client_config cfg;    /* its strings point into copies */
    char *copies;              /* url, origin, subprotocols, headers */
    wsio_ws_callbacks cb;      /* the application's */
    wsio_ws_callbacks wrapped; /* what each connection is given */
    void *user;
    wsio_ws *ws;     /* the current connection, or NULL */
    unsigned tries;  /* since a connection last opened */
    uint8_t stopped; /* closed, freed or given up */
    uint8_t freed;
};

static void go_passive(wsio_client *c)
{
    c->stopped = 1;
    wsio__timer_stop(c->loop, &c->timer.t);
    wsio__attach_set_passive(c->loop, &c->attach, 1);
}

/* d/2 + a random part up to d/2: spread clients that lost the same server
 * so they do not all come back in the same millisecond. */
static uint32_t backoff(const wsio_reconnect_policy *p, unsigned n)
{
    uint64_t d = p->initial_delay_ms ? p->initial_delay_ms : 1;
    for (unsigned i = 1; i < n && d < p->max_delay_ms; i++)
        d *= 2;
    if (d > p->max_delay_ms)
        d = p->max_delay_ms;
    uint32_t r = 0;
    (void)wsio__random_bytes(&r, sizeof r);
    return (uint32_t)(d / 2 + r % (d - d / 2 + 1));
}

static void schedule(wsio_client *c, int last_error, uint16_t last_code)
{
    const wsio_reconnect_policy *p = &c->cfg.reconnect;
    wsio_reconnect_info info;
    memset(&info, 0, sizeof info);
    info.last_error = last_error;
    info.last_code = last_code;
    if (p->max_attempts && c->tries >= p->max_attempts) {
        info.attempt = c->tries;
        info.giving_up = 1;
        go_passive(c);
    } else {
        info.attempt = ++c->tries;
        info.delay_ms = backoff(p, c->tries);
        wsio__timer_start(c->loop, &c->timer.t,
                          wsio__loop_now(c->loop) + info.delay_ms);
    }
    if (p->on_reconnect)
        p->on_reconnect(c, &info, c->user);
}

static void connect_now(wsio_client *c)
{
    int err = 0;
    c->ws = wsio__client_connect(c->loop, c->url, &c->cfg, &c->wrapped, c->user,
                                 c, &err);
    if (!c->ws)
        schedule(c, err, WSIO_CLOSE_ABNORMAL);
}

static void on_timer(wsio__timer_cb *t)
{
    wsio_client *c = WSIO__CONTAINER_OF(t, wsio_client, timer);
    if (!c->stopped)
        connect_now(c);
}

static void wrapped_open(wsio_ws *ws, void *user)
{
    wsio_client *c = wsio__client_owner(ws);
    if (!c)
        return;
    c->tries = 0;
    if (c->cb.on_open)
        c->cb.on_open(ws, user);
}

static void wrapped_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    wsio_client *c = wsio__client_owner(ws);
    if (!c)
        return;
    c->ws = NULL;
    wsio__client_disown(ws, &c->cb);
    /* The owner may be freed inside; its memory lasts the turn. */
    if (c->cb.on_close)
        c->cb.on_close(ws, info, user);
    if (c->freed)
        return;
    if (c->stopped || wsio__loop_closing(c->loop))
        go_passive(c);
    else
        schedule(c, info->error, (uint16_t)info->code);
}

static void release_client(wsio__deferred_cb *d)
{
    wsio_client *c = WSIO__CONTAINER_OF(d, wsio_client, release);
    const wsio_mem *mem = wsio__loop_mem(c->loop);
    if (c->set_url)
        wsio__free(mem, c->set_url);
    wsio__free(mem, c->copies);
    wsio__free(mem, c);
}

static void destroy_attached(wsio__attach *a)
{
    wsio_client_free(WSIO__CONTAINER_OF(a, wsio_client, attach));
}

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static char *put(char **at, const void *src, size_t n)
{
    char *p = *at;
    memcpy(p, src, n);
    *at += n;
    return p;
}

/* The config's strings and headers, and url, into one block. */
static int copy_config(wsio_client *c, const char *url,
                       const wsio_client_config *cfg, const wsio_mem *mem)
{
    c->cfg = *cfg;
    size_t n = str_size(url) + str_size(cfg->origin) +
               str_size(cfg->subprotocols) +
               cfg->num_headers * sizeof(wsio_http_header);
    for (size_t i = 0; i < cfg->num_headers; i++)
        n += cfg->headers[i].name.len + cfg->headers[i].value.len;
    char *at = c->copies = wsio__malloc(mem, n ? n : 1);
    if (!at)
        return WSIO_ENOMEM;
    wsio_http_header *h = (wsio_http_header *)(void *)at;
    at += cfg->num_headers * sizeof *h;
    for (size_t i = 0; i < cfg->num_headers; i++) {
        const wsio_http_header *src = &cfg->headers[i];
        h[i].name.ptr = put(&at, src->name.ptr, src->name.len);
        h[i].name.len = src->name.len;
        h[i].value.ptr = put(&at, src->value.ptr, src->value.len);
        h[i].value.len = src->value.len;
    }
    c->cfg.headers = cfg->num_headers ? h : NULL;
    c->url = put(&at, url, str_size(url));
    if (cfg->origin)
        c->cfg.origin = put(&at, cfg->origin, str_size(cfg->origin));
    if (cfg->subprotocols)
        c->cfg.subprotocols =
            put(&at, cfg->subprotocols, str_size(cfg->subprotocols));
    return 0;
}

wsio_client *wsio_client_new(wsio_loop *loop, const char *url,
                             const wsio_client_config *cfg,
                             const wsio_ws_callbacks *cb, void *user, int *err)
{
    wsio_client_config def;
    int rc = wsio__client_config_take(&def, cfg);
    cfg = &def;
    const wsio_mem *mem = wsio__loop_mem(loop);
    wsio_client *c = NULL;
    if (!rc)
        rc = wsio__client_check_url(url, cfg);
    if (!rc && wsio__loop_closing(loop))
        rc = WSIO_ESTATE;
    if (!rc) {
        c = wsio__calloc(mem, 1, sizeof *c);
        rc = c ? 0 : WSIO_ENOMEM;
    }
    if (!rc) {
        rc = copy_config(c, url, cfg, mem);
        if (rc)
            wsio__free(mem, c);
    }
    if (!rc && (rc = wsio__timer_reserve(loop)) != 0) {
        wsio__free(mem, c->copies);
        wsio__free(mem, c);
    }
    if (rc) {
        if (err)
            *err = rc;
        return NULL;
    }
    c->loop = loop;
    c->user = user;
    if (cb)
        c->cb = *cb;
    c->wrapped = c->cb;
    c->wrapped.on_open = wrapped_open;
    c->wrapped.on_close = wrapped_close;
    c->timer.fire = on_timer;
    c->release.release = release_client;
    c->attach.destroy = destroy_attached;
    c->ws =
        wsio__client_connect(loop, c->url, &c->cfg, &c->wrapped, user, c, &rc);
    if (!c->ws) {
        wsio__timer_unreserve(loop);
        wsio__free(mem, c->copies);
        wsio__free(mem, c);
        if (err)
            *err = rc;
        return NULL;
    }
    wsio__attach_add(loop, &c->attach);
    return c;
}

int wsio_client_set_url(wsio_client *c, const char *url)
{
    if (!url)
        return WSIO_EINVAL;
    int rc = wsio__client_check_url(url, &c->cfg);
    if (rc)
        return rc;
    const wsio_mem *mem = wsio__loop_mem(c->loop);
    size_t n = strlen(url) + 1;
    char *copy = wsio__malloc(mem, n);
    if (!copy)
        return WSIO_ENOMEM;
    memcpy(copy, url, n);
    if (c->set_url)
        wsio__free(mem, c->set_url);
    c->set_url = c->url = copy;
    return 0;
}

wsio_ws *wsio_client_ws(const wsio_client *c)
{
    return c->ws;
}

int wsio_client_close(wsio_client *c, unsigned code, const char *reason,
                      size_t reason_len)
{
    if (c->stopped)
        return c->ws ? wsio_ws_close(c->ws, code, reason, reason_len) : 0;
    c->stopped = 1;
    wsio__timer_stop(c->loop, &c->timer.t);
    if (!c->ws) {
        go_passive(c);
        return 0;
    }
    /* Passive once this connection's on_close has run. */
    return wsio_ws_close(c->ws, code, reason, reason_len);
}

void wsio_client_free(wsio_client *c)
{
    if (!c || c->freed)
        return;
    c->freed = c->stopped = 1;
    wsio__timer_stop(c->loop, &c->timer.t);
    wsio_ws *ws = c->ws;
    c->ws = NULL;
    if (ws) {
        /* Its on_close still goes to the application. */
        wsio__client_disown(ws, &c->cb);
        wsio_ws_terminate(ws);
    }
    wsio__attach_remove(c->loop, &c->attach);
    wsio__timer_unreserve(c->loop);
    wsio__defer(c->loop, &c->release.d);
}
