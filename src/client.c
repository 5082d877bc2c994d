/*
 * src/client.c - a WebSocket client on a wsio_loop (wsio/client.h): URL
 * parsing, a dialer (client_dial.c) for the socket, the opening handshake
 * (RFC 6455 section 4.1), then the same connection driver as a server's
 * (ws.c). Every failure after wsio_client_connect returned the ws ends in
 * on_close with info->error set; one timer bounds resolution, connect and
 * handshake.
 */
#define _GNU_SOURCE /* POSIX names under -std=c11 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common_abi.h"
#include "client_internal.h"
#include "conn_internal.h"

/* Longest host name (RFC 1035) plus brackets, and a port. */
#define HOST_MAX 256

/* A client connection: the ws and the settings it points to. */
typedef struct client {
    wsio__attach attach;
    wsio__ws_common common;
    char key[WSIO_HANDSHAKE_KEY_LEN + 1];
    char *subprotocols;  /* our offers, to check the answer; or NULL */
    char host[HOST_MAX]; /* wss://: the URL's host, the transport's
                            server_name (server_name below) */
    char ext_offer[WSIO_DEFLATE_HEADER_MAX]; /* permessage-deflate offer,
                                                or "" */
    wsio__dialer dial;                       /* until the socket is connected */
    wsio_client *owner; /* the reconnecting client, or NULL */
    wsio_ws ws;
    /* The allocation goes on with room for the conn (conn_room). */
} client;

/* The smallest struct_size wsio_client_connect takes: the first sized
 * release's config ended with deflate. */
#define CLIENT_CONFIG_MIN WSIO__SIZE_THROUGH(wsio_client_config, deflate)

static void client_defaults(wsio_client_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->connect_timeout_ms = 10000;
    cfg->close_timeout_ms = 5000;
    wsio_http_limits_default(&cfg->http);
    wsio_conn_config_default(&cfg->conn);
    cfg->max_output_bytes = (size_t)1 << 20;
    cfg->low_water_bytes = cfg->max_output_bytes / 4;
    cfg->backpressure = WSIO_BACKPRESSURE_QUEUE;
    cfg->max_queued_bytes = (size_t)64 << 20;
    cfg->attempt_delay_ms = 250;
    cfg->reconnect.initial_delay_ms = 500;
    cfg->reconnect.max_delay_ms = 30000;
}

void wsio_client_config_init(wsio_client_config *cfg, size_t size)
{
    wsio_client_config def;
    client_defaults(&def);
    wsio__config_fill(cfg, size, &def, sizeof def);
}

/* ---- URL --------------------------------------------------------------------
 */

typedef struct url_parts {
    int tls;
    char host[HOST_MAX]; /* without brackets */
    char port[6];
    int v6;           /* host was in brackets */
    const char *path; /* from the first '/' or '?', or "" */
} url_parts;

static int parse_url(const char *url, url_parts *u)
{
    memset(u, 0, sizeof *u);
    const char *p;
    if (strncmp(url, "ws://", 5) == 0) {
        p = url + 5;
    } else if (strncmp(url, "wss://", 6) == 0) {
        p = url + 6;
        u->tls = 1;
    } else {
        return WSIO_EINVAL;
    }
    const char *host = p, *host_end;
    if (*p == '[') {
        host = ++p;
        while (*p && *p != ']')
            p++;
        if (*p != ']')
            return WSIO_EINVAL;
        host_end = p++;
        u->v6 = 1;
    } else {
        while (*p && *p != ':' && *p != '/' && *p != '?')
            p++;
        host_end = p;
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0 || hlen >= sizeof u->host)
        return WSIO_EINVAL;
    memcpy(u->host, host, hlen);
    if (*p == ':') {
        const char *port = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        size_t plen = (size_t)(p - port);
        if (plen == 0 || plen > 5 || (*p && *p != '/' && *p != '?'))
            return WSIO_EINVAL;
        memcpy(u->port, port, plen);
        if (strtol(u->port, NULL, 10) > 65535)
            return WSIO_EINVAL;
    } else if (*p && *p != '/' && *p != '?') {
        return WSIO_EINVAL;
    } else {
        memcpy(u->port, u->tls ? "443" : "80", u->tls ? 4 : 3);
    }
    if (strchr(p, '#'))
        return WSIO_EINVAL; /* section 3: fragments are not allowed */
    u->path = p;
    return 0;
}

/* ---- connection class hooks -------------------------------------------------
 */

static void no_left_open(wsio_ws *ws)
{
    (void)ws;
}

static void detach(wsio_ws *ws)
{
    client *c = WSIO__CONTAINER_OF(ws, client, ws);
    wsio__dial_cancel(&c->dial);
    wsio__attach_remove(ws->common->loop, &c->attach);
}

static void release(wsio_ws *ws)
{
    client *c = WSIO__CONTAINER_OF(ws, client, ws);
    const wsio_mem *mem = wsio__loop_mem(ws->common->loop);
    wsio__dial_release(&c->dial);
    wsio__ws_cleanup(ws);
    wsio__free(mem, c->subprotocols);
    wsio__free(mem, c);
}

/* The TCP connect finished, one way or the other. */
static void connected(wsio_ws *ws, unsigned events)
{
    (void)events;
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(ws->tr.fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    if (soerr) {
        wsio__ws_finish_handshake_fail(ws, -soerr);
        return;
    }
    ws->connecting = 0;
    wsio__ws_mark_dirty(ws); /* send the request */
    wsio__ws_start_transport(ws);
}

static void handshake_bytes(wsio_ws *ws, uint8_t *buf, size_t n)
{
    client *c = WSIO__CONTAINER_OF(ws, client, ws);
    wsio__ws_handshake *hs = wsio__ws_hs(ws);
    if (hs->in_len + n > c->common.http.max_header_bytes + WSIO__READ_BUF) {
        wsio__ws_finish_handshake_fail(ws, WSIO_EHS_TOOLARGE);
        return;
    }
    uint8_t *p = wsio__realloc(ws->common->buffer_mem, hs->in, hs->in_len + n);
    if (!p) {
        wsio__ws_finish_handshake_fail(ws, WSIO_ENOMEM);
        return;
    }
    memcpy(p + hs->in_len, buf, n);
    hs->in = p;
    hs->in_len += (uint32_t)n;

    wsio_http_header headers[64];
    wsio_http_response resp;
    ssize_t r = wsio_http_response_parse(hs->in, hs->in_len, &resp, headers, 64,
                                         &c->common.http);
    if (r == WSIO_EAGAIN)
        return;
    if (r < 0) {
        wsio__ws_finish_handshake_fail(ws, (int)r);
        return;
    }
    hs->http_status = (uint16_t)resp.status;
    wsio_handshake_request req;
    memset(&req, 0, sizeof req);
    req.key = c->key;
    req.subprotocols = c->subprotocols;
    req.extensions = c->ext_offer[0] ? c->ext_offer : NULL;
    wsio_handshake_result res;
    int rc = wsio_handshake_validate_response(&resp, &req, &res);
    wsio_deflate_params pmd;
    int pmd_on = 0;
    if (rc == 0 && c->common.deflate) { /* RFC 7692 section 7.1 */
        rc = wsio_deflate_check_answer(resp.headers, resp.num_headers,
                                       &c->common.deflate->policy, &pmd);
        pmd_on = rc == 1;
        rc = rc < 0 ? rc : 0;
    }
    if (rc == 0)
        rc = wsio__ws_set_agreed(ws, res.subprotocol.ptr, res.subprotocol.len,
                                 pmd_on ? &pmd : NULL);
    if (rc == 0) /* frees hs->in once its rest is fed */
        rc = wsio__ws_open(ws, WSIO_ROLE_CLIENT, hs->in + r,
                           hs->in_len - (size_t)r);
    if (rc < 0)
        wsio__ws_finish_handshake_fail(ws, rc);
}

static const wsio__ws_class client_ws_class = {
    .connected = connected,
    .handshake_bytes = handshake_bytes,
    .left_open = no_left_open,
    .transport_closed = detach,
    .release = release,
    .conn_room = sizeof(client) - offsetof(client, ws),
};

static void destroy_attached(wsio__attach *a)
{
    client *c = WSIO__CONTAINER_OF(a, client, attach);
    wsio_ws_terminate(&c->ws);
}

/* ---- connecting -------------------------------------------------------------
 */

static void fill_common(client *c, const wsio_client_config *cfg,
                        const wsio_ws_callbacks *cb, void *user)
{
    wsio__ws_common *m = &c->common;
    m->cls = &client_ws_class;
    if (cb)
        m->cb = *cb;
    m->user = user;
    m->conn = cfg->conn;
    m->http = cfg->http;
    m->close_timeout_ms = cfg->close_timeout_ms;
    m->handshake_timeout_ms = cfg->connect_timeout_ms;
    m->max_output = cfg->max_output_bytes;
    m->low_water = cfg->low_water_bytes;
    m->policy = cfg->backpressure;
    m->max_queued = cfg->max_queued_bytes;
    m->transport = cfg->transport;
    m->transport_ctx = cfg->transport_ctx;
    m->deflate = cfg->deflate;
}

/* wss:// goes through the configured transport (TLS) and tells it the
 * host to verify; ws:// is always plain, so one config serves both. */
static void choose_transport(client *c, const url_parts *u)
{
    if (!u->tls) {
        c->common.transport = NULL;
        c->common.transport_ctx = NULL;
        return;
    }
    memcpy(c->host, u->host, sizeof c->host);
}

/* What the transport's open gets: the host of a wss:// URL, else NULL. */
static const char *server_name(const client *c)
{
    return c->common.transport ? c->host : NULL;
}

/* The opening handshake request (section 4.1), into the ws's output. */
static int build_request(client *c, const url_parts *u,
                         const wsio_client_config *cfg, const wsio_mem *mem)
{
    char host[HOST_MAX + 10];
    int default_port = strcmp(u->port, u->tls ? "443" : "80") == 0;
    snprintf(host, sizeof host, "%s%s%s%s%s", u->v6 ? "[" : "", u->host,
             u->v6 ? "]" : "", default_port ? "" : ":",
             default_port ? "" : u->port);
    int rc = wsio_handshake_make_key(NULL, c->key);
    if (rc)
        return rc;
    wsio_handshake_request req;
    memset(&req, 0, sizeof req);
    req.host = host;
    /* "ws://host?x" asks for "/?x" (section 3). */
    char *slash_path = NULL;
    if (*u->path == '?') {
        size_t n = strlen(u->path);
        slash_path = wsio__malloc(mem, n + 2);
        if (!slash_path)
            return WSIO_ENOMEM;
        slash_path[0] = '/';
        memcpy(slash_path + 1, u->path, n + 1);
    }
    req.path = slash_path ? slash_path : *u->path ? u->path : "/";
    req.key = c->key;
    req.origin = cfg->origin;
    req.subprotocols = cfg->subprotocols;
    if (cfg->deflate) {
        ssize_t n = wsio_deflate_build_offer(&cfg->deflate->policy,
                                             c->ext_offer, sizeof c->ext_offer);
        req.extensions = n > 0 ? c->ext_offer : NULL;
    }
    req.extra_headers = cfg->headers;
    req.num_extra_headers = cfg->num_headers;
    ssize_t need = wsio_handshake_build_request(NULL, 0, &req);
    char *out =
        need > 0 ? (char *)wsio__ws_raw_new(&c->ws, (size_t)need) : NULL;
    if (out)
        (void)wsio_handshake_build_request(out, (size_t)need, &req);
    wsio__free(mem, slash_path);
    if (!out)
        return need < 0 ? (int)need : WSIO_ENOMEM;
    if (cfg->subprotocols) {
        size_t n = strlen(cfg->subprotocols) + 1;
        c->subprotocols = wsio__malloc(mem, n);
        if (!c->subprotocols)
            return WSIO_ENOMEM;
        memcpy(c->subprotocols, cfg->subprotocols, n);
    }
    return 0;
}

/* The dialer's end: the ws takes the socket (the connected hook then
 * sends the request), or fails with the dial's error. */
static void dialed(wsio__dialer *d, int fd, const wsio_client_addr *addr)
{
    client *c = WSIO__CONTAINER_OF(d, client, dial);
    wsio_ws *ws = &c->ws;
    if (fd < 0) {
        wsio__ws_finish_handshake_fail(ws, fd);
        return;
    }
    (void)wsio__addr_from_sockaddr(&addr->addr, &ws->addr, &ws->port);
    int rc = wsio__ws_set_fd(ws, fd, WSIO_ROLE_CLIENT, server_name(c),
                             WSIO_IO_WRITE);
    if (rc) {
        close(fd);
        wsio__ws_finish_handshake_fail(ws, rc);
    }
}

/* The socket comes later, but a transport that refuses these settings (a
 * server's TLS context in a client) must fail the call, not on_close: a
 * trial open on no socket. */
static int check_transport(const client *c)
{
    const wsio_transport_ops *ops = c->common.transport;
    if (!ops)
        return 0;
    wsio_transport t;
    memset(&t, 0, sizeof t);
    t.ops = ops;
    t.fd = -1;
    int rc = ops->open(&t, c->common.transport_ctx, WSIO_ROLE_CLIENT,
                       server_name(c));
    if (rc == 0)
        ops->close(&t);
    return rc;
}

int wsio__client_config_take(wsio_client_config *out,
                             const wsio_client_config *cfg)
{
    wsio_client_config_default(out);
    int rc =
        cfg ? wsio__config_copy(out, sizeof *out, cfg, CLIENT_CONFIG_MIN) : 0;
    /* Refused: a transport table older than the members the client uses
     * (version 1), an embedded conn config _config_default did not fill. */
    if (!rc && ((out->transport && !wsio__ops_at_least(out->transport, 2)) ||
                out->conn.struct_size != sizeof out->conn))
        rc = WSIO_EINVAL;
    return rc;
}

int wsio__client_check_url(const char *url, const wsio_client_config *cfg)
{
    url_parts u;
    int rc = url ? parse_url(url, &u) : WSIO_EINVAL;
    if (!rc && u.tls && !cfg->transport)
        rc = WSIO_EINVAL;
    return rc;
}

wsio_ws *wsio__client_connect(wsio_loop *loop, const char *url,
                              const wsio_client_config *cfg,
                              const wsio_ws_callbacks *cb, void *user,
                              wsio_client *owner, int *err)
{
    wsio_client_config def;
    int rc = wsio__client_config_take(&def, cfg);
    cfg = &def;
    const wsio_mem *mem = wsio__loop_mem(loop);
    url_parts u;
    client *c = NULL;
    int ws_ready = 0, dial_ready = 0;
    if (!rc)
        rc = wsio__client_check_url(url, cfg);
    if (!rc)
        (void)parse_url(url, &u);
    if (!rc && wsio__loop_closing(loop))
        rc = WSIO_ESTATE;
    if (!rc) {
        c = wsio__calloc(mem, 1, sizeof *c + wsio__conn_size(WSIO_ROLE_CLIENT));
        rc = c ? 0 : WSIO_ENOMEM;
    }
    if (!rc) {
        fill_common(c, cfg, cb, user);
        choose_transport(c, &u);
        c->owner = owner;
        c->common.buffer_mem = wsio__loop_buffer_mem(loop);
        c->common.loop = loop;
        c->ws.common = &c->common; /* for build_request's raw output */
        wsio__ws_common_ready(&c->common);
        c->attach.destroy = destroy_attached;
        rc = check_transport(c);
    }
    if (!rc)
        rc = build_request(c, &u, cfg, mem);
    if (!rc) {
        rc = wsio__ws_init(&c->ws, loop, &c->common, -1, WSIO_ROLE_CLIENT, 0);
        ws_ready = rc == 0;
    }
    if (!rc) {
        rc = wsio__dial_init(&c->dial, loop, dialed);
        dial_ready = rc == 0;
    }
    if (!rc)
        rc = wsio__dial_start(&c->dial, u.host, u.port, cfg);
    if (rc) {
        if (dial_ready)
            wsio__dial_release(&c->dial);
        if (ws_ready)
            wsio__timer_unreserve(loop);
        if (c) {
            wsio__ws_raw_drop(&c->ws);
            wsio__free(mem, c->subprotocols);
            wsio__free(mem, c);
        }
        if (err)
            *err = rc;
        return NULL;
    }
    c->ws.connecting = 1;
    wsio__ws_arm(&c->ws, cfg->connect_timeout_ms);
    wsio__attach_add(loop, &c->attach);
    return &c->ws;
}

wsio_ws *wsio_client_connect(wsio_loop *loop, const char *url,
                             const wsio_client_config *cfg,
                             const wsio_ws_callbacks *cb, void *user, int *err)
{
    return wsio__client_connect(loop, url, cfg, cb, user, NULL, err);
}

wsio_client *wsio__client_owner(const wsio_ws *ws)
{
    return ws->common->cls == &client_ws_class
               ? WSIO__CONTAINER_OF(ws, const client, ws)->owner
               : NULL;
}

void wsio__client_disown(wsio_ws *ws, const wsio_ws_callbacks *app)
{
    client *c = WSIO__CONTAINER_OF(ws, client, ws);
    c->owner = NULL;
    c->common.cb.on_open = app->on_open;
    c->common.cb.on_close = app->on_close;
}
