/*
 * src/server.c - layer 4: a WebSocket server on a wsio_loop
 * (wsio/server.h). The per-connection work is ws.c's; this file listens,
 * accepts, keeps the registry of open connections, sheds memory, and runs
 * the server-wide timers: heartbeat, accept retry after EMFILE, shutdown
 * deadline. The opening handshake and HTTP answers are server_http.c's,
 * topics and fan-out server_topics.c's (server_internal.h).
 *
 * Registry: every connection has a slot in the id map (server_ids.h) from
 * accept until it is freed, and while not yet DEAD is on one of two lists
 * (its ws's cls_bits, server_internal.h): OPEN (broadcast, publish and
 * heartbeat targets) or OTHER (handshaking, or closed and flushing). Walks
 * go by slot (wsio__server_next): a slot stays its connection's while it
 * lives and the array is read again at each step, so callbacks that end
 * connections, open new ones or resize the array cannot make a walk skip
 * a connection or visit one twice.
 *
 * Memory: connections point into the server (settings, stats), so the
 * server's memory goes only after the last connection's, at the end of a
 * loop turn.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common_abi.h"
#include "conn_internal.h"
#include "server_internal.h"

/* Connections accepted per listener wake-up: others wait for the next turn,
 * so one busy listener cannot starve the open connections. */
#define ACCEPT_BATCH 64
/* After EMFILE/ENFILE, stop watching the listener for this long. */
#define ACCEPT_RETRY_MS 100
/* How often an over-budget server looks again for memory to shed. */
#define SHED_RECHECK_MS 100
/* The smallest struct_size wsio_server_new takes: the first sized
 * release's config ended with this member. */
#define SERVER_CONFIG_MIN WSIO__SIZE_THROUGH(wsio_server_config, hub)

static void server_defaults(wsio_server_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->host = "127.0.0.1";
    cfg->backlog = 511;
    cfg->max_connections = 10000;
    wsio_http_limits_default(&cfg->http);
    wsio_conn_config_default(&cfg->conn);
    cfg->handshake_timeout_ms = 10000;
    cfg->close_timeout_ms = 5000;
    cfg->max_output_bytes = (size_t)1 << 20;
    cfg->low_water_bytes = cfg->max_output_bytes / 4;
    cfg->backpressure = WSIO_BACKPRESSURE_QUEUE;
    cfg->max_post_bytes = (size_t)16 << 20;
}

void wsio_server_config_init(wsio_server_config *cfg, size_t size)
{
    wsio_server_config def;
    server_defaults(&def);
    wsio__config_fill(cfg, size, &def, sizeof def);
}

/* ---- the registry ----------------------------------------------------------
 */

wsio_ws *wsio__server_next(const wsio_server *srv, int which, uint32_t *at)
{
    /* top and the array are read again each time: callbacks since the
     * last call may have resized it. */
    while (*at < srv->ids.top) {
        wsio_ws *ws = wsio__ids_at(&srv->ids, (*at)++);
        if (ws && ws->cls_bits != LIST_NONE &&
            (which == LIST_ANY || ws->cls_bits == (unsigned)which))
            return ws;
    }
    return NULL;
}

/* ---- connection class hooks
 * --------------------------------------------------------- */

static void left_open(wsio_ws *ws)
{
    wsio_server *srv = wsio__sconn_srv(ws);
    wsio__ids_hide(&srv->ids, ws);
    wsio__server_leave_topics(srv, ws);
    wsio__server_list_set(ws, LIST_OTHER);
    srv->stats.connections--;
}

static void finish_shutdown(wsio_server *srv);

static void transport_closed(wsio_ws *ws)
{
    wsio_server *srv = wsio__sconn_srv(ws);
    wsio__ids_hide(&srv->ids, ws);
    wsio__server_leave_topics(srv, ws);
    if (ws->pmd_on)
        srv->deflate_conns--;
    wsio__addr_limits_release(&srv->addr_limits, ws, wsio__loop_now(srv->loop));
    if (ws->cls_bits == LIST_OPEN)
        srv->stats.connections--;
    wsio__server_list_set(ws, LIST_NONE);
    srv->nsockets--;
    if (srv->shutting_down && !srv->freed && srv->nsockets == 0)
        finish_shutdown(srv);
}

static void free_server_memory(wsio_server *srv)
{
    wsio__security_free(&srv->sec, srv->mem);
    wsio__addr_limits_free(&srv->addr_limits);
    wsio__subprotocols_free(&srv->protos, srv->mem);
    wsio__ids_free(&srv->ids, srv->mem);
    if (srv->shared_codec.ops)
        srv->shared_codec.ops->free(srv->shared_codec.state);
    wsio__server_topics_free(srv);
    wsio__free(srv->mem, srv);
}

static void release(wsio_ws *ws)
{
    wsio_server *srv = wsio__sconn_srv(ws);
    wsio__request_release(ws);
    wsio__ids_release(&srv->ids, srv->mem, ws);
    wsio__ws_cleanup(ws);
    wsio__free(srv->mem, wsio__sconn(ws));
    if (--srv->nrefs == 0 && srv->freed)
        free_server_memory(srv);
}

/* Readiness while the PROXY header is awaited (ws->connecting): the
 * transport (TLS) starts only after it. */
static void proxy_ready(wsio_ws *ws, unsigned events)
{
    (void)events;
    int rc = wsio__security_read_proxy(&wsio__sconn_srv(ws)->sec, ws,
                                       ws->common->buffer_mem);
    if (rc == 0)
        return;
    ws->connecting = 0;
    if (rc < 0) {
        wsio__sconn_srv(ws)->stats.handshakes_rejected++;
        wsio_ws_terminate(ws); /* no HTTP answer to a broken proxy */
        return;
    }
    wsio__ws_start_transport(ws);
    if (ws->state == WSIO__WS_HANDSHAKE)
        (void)wsio__server_admit_addr(wsio__sconn_srv(ws), ws);
}

const wsio__ws_class wsio__server_ws_class = {
    .connected = proxy_ready,
    .handshake_bytes = wsio__server_handshake_bytes,
    .left_open = left_open,
    .transport_closed = transport_closed,
    .release = release,
    .answers_handshake = 1,
    .conn_room = sizeof(wsio__server_conn),
};

/* ---- accepting
 * ---------------------------------------------------------------------- */

/* ---- memory budget
 * -------------------------------------------------------------- */

int wsio__server_over_budget(const wsio_server *srv)
{
    return srv->budget.limit && srv->budget.used >= srv->budget.limit;
}

/* An allocation took the connections past the budget. Shed at the next
 * turn, after this turn's output is flushed: what is still queued then is
 * what a peer is not reading, not a reply on its way out. */
static void on_over_budget(wsio__budget *b)
{
    wsio_server *srv = WSIO__CONTAINER_OF(b, wsio_server, budget);
    if (!srv->shed_timer.t.slot)
        wsio__timer_start(srv->loop, &srv->shed_timer.t,
                          wsio__loop_now(srv->loop) + 1);
}

/* Terminate the connections that hold the most buffer memory (assembly
 * buffer and output queue), largest first, until what is left fits the
 * budget. Idle connections hold none and are never shed.
 * A terminated connection's memory goes at the end of the turn, so the
 * loop counts down an estimate rather than re-reading the total. */
static void on_shed(wsio__timer_cb *t)
{
    wsio_server *srv = WSIO__CONTAINER_OF(t, wsio_server, shed_timer);
    size_t used = srv->budget.used;
    while (used > srv->budget.limit) {
        wsio_ws *largest = NULL;
        size_t most = 0;
        uint32_t at = 0;
        for (wsio_ws *ws; (ws = wsio__server_next(srv, LIST_OPEN, &at));) {
            /* Output counts only while the peer is not taking it (the
             * socket is full and we wait to write): a reply queued this
             * turn is on its way out. */
            size_t held = wsio__conn_held_bytes(
                wsio__ws_conn(ws), (ws->io.events & WSIO_IO_WRITE) != 0);
            if (held > most) {
                most = held;
                largest = ws;
            }
        }
        if (!largest)
            break;
        srv->stats.connections_shed++;
        used = used > most ? used - most : 0;
        wsio_ws_terminate(largest);
    }
    /* Still over (memory that cannot go yet, or peers whose output will
     * stall): look again shortly, for as long as it lasts. */
    if (srv->budget.used > srv->budget.limit && !srv->shed_timer.t.slot)
        wsio__timer_start(srv->loop, &srv->shed_timer.t,
                          wsio__loop_now(srv->loop) + SHED_RECHECK_MS);
}

static void accept_one(wsio_server *srv, int fd,
                       const struct sockaddr_storage *ss)
{
    /* Its slot is reserved first: every connection has one from accept on
     * (the registry). Without room, as without memory for the block, the
     * socket is closed before any HTTP. */
    if (wsio__ids_reserve(&srv->ids, srv->mem) < 0) {
        close(fd);
        return;
    }
    /* One allocation for all of it: the conn goes after (conn_room). */
    wsio__server_conn *c = wsio__calloc(
        srv->mem, 1, sizeof *c + wsio__conn_size(WSIO_ROLE_SERVER));
    if (!c) {
        close(fd);
        return;
    }
    wsio_ws *ws = &c->ws;
#ifndef __linux__
    int one = 1;
    /* Frames are written whole, once per turn: Nagle only adds delay.
     * (Linux copies it from the listener, set in listen_on.) */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#endif
    (void)wsio__addr_from_sockaddr(ss, &ws->addr, &ws->port);
    /* A PROXY header is read on readiness. Otherwise nothing is watched
     * yet: the TLS handshake or wsio__ws_accepted sets the watch once,
     * after the first read where one comes at once. */
    if (wsio__ws_init(ws, srv->loop, &srv->common, fd, WSIO_ROLE_SERVER,
                      srv->sec.proxy_protocol ? WSIO_IO_READ : 0u) < 0) {
        close(fd);
        wsio__free(srv->mem, c);
        return;
    }
    wsio__ids_add(&srv->ids, ws);
    wsio__server_list_set(ws, LIST_OTHER);
    srv->nsockets++;
    srv->nrefs++;
    /* The timeout covers the PROXY header and the transport's handshake
     * (TLS) too. */
    wsio__ws_arm(ws, srv->common.handshake_timeout_ms);
    if (srv->sec.proxy_protocol)
        ws->connecting = 1; /* proxy_ready gets the readiness first */
    else
        wsio__ws_start_transport(ws);
    if (ws->state == WSIO__WS_HANDSHAKE &&
        (srv->nsockets > srv->max_connections || wsio__server_over_budget(srv)))
        wsio__server_reply_status(ws, 503);
    else if (ws->state == WSIO__WS_HANDSHAKE && !srv->sec.proxy_protocol)
        (void)wsio__server_admit_addr(srv, ws);
    if (ws->state == WSIO__WS_HANDSHAKE && !ws->connecting && !ws->tr_handshake)
        wsio__ws_accepted(ws, srv->defer_accept);
}

static int accept_fd(int lfd, struct sockaddr_storage *ss)
{
    socklen_t len = sizeof *ss;
#ifdef __linux__
    return accept4(lfd, (struct sockaddr *)ss, &len,
                   SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    int fd = accept(lfd, (struct sockaddr *)ss, &len);
    if (fd >= 0 && (fcntl(fd, F_SETFL, O_NONBLOCK) < 0 ||
                    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)) {
        close(fd);
        return -1;
    }
    return fd;
#endif
}

/* Out of fds (or kernel memory): a pending connection keeps the listener
 * readable, so watching it would spin. Look again after a pause. */
static void pause_accepting(wsio_server *srv)
{
    wsio__io_unwatch(srv->loop, &srv->lio.io);
    wsio__timer_start(srv->loop, &srv->accept_timer.t,
                      wsio__loop_now(srv->loop) + ACCEPT_RETRY_MS);
}

static void on_listener(wsio__io_cb *io, unsigned events)
{
    (void)events;
    wsio_server *srv = WSIO__CONTAINER_OF(io, wsio_server, lio);
    for (int i = 0; i < ACCEPT_BATCH && srv->lio.io.events; i++) {
        struct sockaddr_storage ss;
        int fd = accept_fd(srv->lio.io.fd, &ss);
        if (fd >= 0) {
            accept_one(srv, fd, &ss);
            continue;
        }
        int e = errno;
        if (e == EINTR || e == ECONNABORTED)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK)
            break;
        srv->stats.accept_errors++;
        if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
            pause_accepting(srv);
        break;
    }
}

static void on_accept_timer(wsio__timer_cb *t)
{
    wsio_server *srv = WSIO__CONTAINER_OF(t, wsio_server, accept_timer);
    if (srv->lio.io.fd >= 0 &&
        wsio__io_watch(srv->loop, &srv->lio.io, WSIO_IO_READ) < 0)
        pause_accepting(srv);
}

/* ---- heartbeat and shutdown
 * --------------------------------------------------------- */

/* Ping every open connection; the ones that did not answer the previous
 * ping are terminated (from their own timers: no callbacks here). */
static void on_heartbeat(wsio__timer_cb *t)
{
    wsio_server *srv = WSIO__CONTAINER_OF(t, wsio_server, heartbeat_timer);
    uint32_t at = 0;
    for (wsio_ws *ws; (ws = wsio__server_next(srv, LIST_OPEN, &at));) {
        if (wsio_conn_state(wsio__ws_conn(ws)) != WSIO_CONN_OPEN)
            continue;
        if (ws->pinged && !wsio__ws_heard_from(ws)) {
            wsio__ws_fail_soon(ws, WSIO_ETIMEDOUT);
            continue;
        }
        wsio__ws_note_ping(ws);
        if (wsio__ws_ping_timed(ws) == WSIO_ENOMEM)
            wsio__ws_fail_soon(ws, WSIO_ENOMEM);
    }
    wsio__timer_start(srv->loop, &srv->heartbeat_timer.t,
                      wsio__loop_now(srv->loop) + srv->ping_interval_ms);
}

/* Terminate every connection on list which; returns how many. */
static int terminate_list(wsio_server *srv, int which)
{
    int n = 0;
    uint32_t at = 0;
    for (wsio_ws *ws; (ws = wsio__server_next(srv, which, &at)); n++)
        wsio_ws_terminate(ws);
    return n;
}

static void terminate_all(wsio_server *srv)
{
    /* Open ones first. Each termination takes its ws off its list; a
     * user callback may end others, or move one to a list behind the
     * walk's place, so walk again until a walk finds none. */
    while (terminate_list(srv, LIST_OPEN))
        ;
    while (terminate_list(srv, LIST_ANY))
        ;
}

static void on_shutdown_deadline(wsio__timer_cb *t)
{
    wsio_server *srv = WSIO__CONTAINER_OF(t, wsio_server, shutdown_timer);
    terminate_all(srv);
}

static void close_listener(wsio_server *srv)
{
    if (srv->lio.io.fd < 0)
        return;
    wsio__io_unwatch(srv->loop, &srv->lio.io);
    close(srv->lio.io.fd);
    srv->lio.io.fd = -1;
}

static void release_server(wsio__deferred_cb *d)
{
    wsio_server *srv = WSIO__CONTAINER_OF(d, wsio_server, defer);
    free_server_memory(srv);
}

void wsio_server_free(wsio_server *srv)
{
    if (!srv || srv->freed)
        return;
    srv->freed = 1;
    wsio__inbox_close(srv->inbox);
    srv->inbox = NULL;
    wsio__hub_leave(srv->hub);
    srv->hub = NULL;
    close_listener(srv);
    wsio__timer_stop(srv->loop, &srv->accept_timer.t);
    wsio__timer_stop(srv->loop, &srv->heartbeat_timer.t);
    wsio__timer_stop(srv->loop, &srv->shutdown_timer.t);
    terminate_all(srv);
    wsio__server_detach_broker(srv);
    wsio__timer_stop(srv->loop, &srv->shed_timer.t);
    for (int i = 0; i < srv->timers_reserved; i++)
        wsio__timer_unreserve(srv->loop);
    wsio__attach_remove(srv->loop, &srv->attach);
    /* Connections still to be released free the server with the last. */
    if (srv->nrefs == 0)
        wsio__defer(srv->loop, &srv->defer.d);
}

static void finish_shutdown(wsio_server *srv)
{
    wsio_server_free(srv);
}

int wsio_server_shutdown(wsio_server *srv, uint32_t timeout_ms)
{
    if (srv->shutting_down || srv->freed)
        return 0;
    srv->shutting_down = 1;
    close_listener(srv);
    wsio__timer_stop(srv->loop, &srv->accept_timer.t);
    wsio__timer_stop(srv->loop, &srv->heartbeat_timer.t);
    wsio__timer_start(srv->loop, &srv->shutdown_timer.t,
                      wsio__loop_now(srv->loop) + timeout_ms);
    uint32_t at = 0;
    for (wsio_ws *ws; (ws = wsio__server_next(srv, LIST_OPEN, &at));)
        (void)wsio_ws_close(ws, WSIO_CLOSE_GOING_AWAY, "going away", 10);
    /* Answering may close a connection (and take it off the list). */
    at = 0;
    for (wsio_ws *ws; (ws = wsio__server_next(srv, LIST_OTHER, &at));)
        if (ws->state == WSIO__WS_HANDSHAKE)
            wsio__server_reply_status(ws, 503);
    if (!srv->freed && srv->nsockets == 0)
        finish_shutdown(srv);
    return 0;
}

static void destroy_attached(wsio__attach *a)
{
    wsio_server_free(WSIO__CONTAINER_OF(a, wsio_server, attach));
}

/* ---- making a server
 * ----------------------------------------------------------------- */

static int listen_on(wsio_server *srv, const wsio_server_config *cfg)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    const char *host = cfg->host ? cfg->host : "127.0.0.1";
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(cfg->port);
        len = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(cfg->port);
        len = sizeof *a6;
    } else {
        return WSIO_EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    int rc = 0;
    if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        rc = -errno;
    /* Frames are written whole, once per turn: Nagle only adds delay. On
     * Linux accepted sockets inherit it, saving a system call each. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#ifdef SO_REUSEPORT
    if (!rc && cfg->reuse_port &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        rc = -errno;
#endif
    if (!rc && (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
                listen(fd, cfg->backlog > 0 ? cfg->backlog : 511) < 0))
        rc = -errno;
#ifdef TCP_DEFER_ACCEPT
    /* In whole seconds; the kernel rounds up to its SYN-ACK retries. */
    int defer_s = (int)((cfg->handshake_timeout_ms + 999) / 1000);
    if (defer_s < 1)
        defer_s = 1;
    if (!rc && cfg->defer_accept &&
        setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_s,
                   sizeof defer_s) == 0)
        srv->defer_accept = 1;
#endif
    socklen_t blen = sizeof ss;
    if (!rc && getsockname(fd, (struct sockaddr *)&ss, &blen) < 0)
        rc = -errno;
    if (rc) {
        close(fd);
        return rc;
    }
    srv->port = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
    srv->lio.io.fd = fd;
    srv->lio.ready = on_listener;
    return 0;
}

static void fill_common(wsio_server *srv, const wsio_server_config *cfg,
                        const wsio_ws_callbacks *cb, void *user)
{
    wsio__ws_common *c = &srv->common;
    c->cls = &wsio__server_ws_class;
    if (cb)
        c->cb = *cb;
    c->user = user;
    c->conn = cfg->conn;
    c->http = cfg->http;
    if (c->http.max_headers > MAX_HEADERS || c->http.max_headers == 0)
        c->http.max_headers = MAX_HEADERS;
    c->close_timeout_ms = cfg->close_timeout_ms;
    c->idle_timeout_ms = cfg->idle_timeout_ms;
    c->handshake_timeout_ms = cfg->handshake_timeout_ms;
    c->max_output = cfg->max_output_bytes;
    c->low_water = cfg->low_water_bytes;
    c->policy = cfg->backpressure;
    c->max_queued = cfg->max_queued_bytes;
    c->transport = cfg->transport;
    c->transport_ctx = cfg->transport_ctx;
    c->counters = &srv->counters;
    c->deflate = cfg->deflate;
}

/* The codec that compresses broadcasts once: what the server's policy
 * answers to an offer of server_no_context_takeover. */
static int make_shared_codec(wsio_server *srv)
{
    static const char offer[] =
        "permessage-deflate; server_no_context_takeover";
    const wsio_deflate_ext *ext = srv->common.deflate;
    if (!ext)
        return 0;
    wsio_http_header h = {{"Sec-WebSocket-Extensions", 24},
                          {offer, sizeof offer - 1}};
    wsio_deflate_params p;
    char answer[WSIO_DEFLATE_HEADER_MAX];
    if (wsio_deflate_negotiate(&h, 1, &ext->policy, &p, answer,
                               sizeof answer) <= 0)
        return WSIO_EINVAL;
    srv->shared_bits = p.server_max_window_bits;
    return ext->codec_new(ext, &p, WSIO_ROLE_SERVER, WSIO_CODEC_KEEP_STATE,
                          srv->mem, &srv->shared_codec);
}

wsio_server *wsio_server_new(wsio_loop *loop, const wsio_server_config *cfg,
                             const wsio_ws_callbacks *cb,
                             const wsio_server_hooks *hooks, void *user,
                             int *err)
{
    wsio_server_config def;
    wsio_server_config_default(&def);
    int rc =
        cfg ? wsio__config_copy(&def, sizeof def, cfg, SERVER_CONFIG_MIN) : 0;
    cfg = &def;
    /* Refused: a transport table older than the members the server uses
     * (version 1), an embedded conn config _config_default did not fill. */
    if (!rc && ((cfg->transport && !wsio__ops_at_least(cfg->transport, 2)) ||
                cfg->conn.struct_size != sizeof cfg->conn))
        rc = WSIO_EINVAL;
    const wsio_mem *mem = wsio__loop_mem(loop);
    if (!rc && wsio__loop_closing(loop))
        rc = WSIO_ESTATE;
    if (rc)
        goto fail;
    rc = WSIO_ENOMEM;
    wsio_server *srv = wsio__calloc(mem, 1, sizeof *srv);
    if (!srv)
        goto fail;
    srv->loop = loop;
    srv->mem = mem;
    srv->lio.io.fd = -1;
    if (hooks)
        srv->hooks = *hooks;
    srv->max_connections = cfg->max_connections;
    srv->ping_interval_ms = cfg->ping_interval_ms;
    srv->node_id = cfg->hub ? wsio_hub_node_id(cfg->hub) : cfg->node_id;
    while (!srv->node_id) {
        rc = wsio__random_bytes(&srv->node_id, sizeof srv->node_id);
        if (rc)
            goto fail_srv;
    }
    fill_common(srv, cfg, cb, user);
    wsio__budget_init(&srv->budget, wsio__loop_buffer_mem(loop),
                      cfg->memory_budget, on_over_budget);
    srv->common.buffer_mem = &srv->budget.mem;
    srv->common.loop = loop;
    wsio__ws_common_ready(&srv->common);
    srv->shed_timer.fire = on_shed;
    srv->accept_timer.fire = on_accept_timer;
    srv->heartbeat_timer.fire = on_heartbeat;
    srv->shutdown_timer.fire = on_shutdown_deadline;
    srv->defer.release = release_server;
    srv->attach.destroy = destroy_attached;
    rc = wsio__security_init(&srv->sec, cfg, mem);
    if (!rc)
        rc = wsio__subprotocols_init(&srv->protos, cfg, mem);
    if (!rc)
        rc = wsio__hashtab_init(&srv->topics);
    if (rc)
        goto fail_srv;
    rc = wsio__addr_limits_init(&srv->addr_limits, cfg, &srv->sec, &srv->stats,
                                mem);
    if (rc)
        goto fail_srv;
    srv->keep_request = cfg->keep_request;
    wsio__ids_init(&srv->ids, cfg->keep_request);
    rc = WSIO_ENOMEM;
    srv->inbox = wsio__inbox_new(srv, loop, mem, cfg->max_post_bytes);
    if (!srv->inbox)
        goto fail_srv;
    for (; srv->timers_reserved < 4; srv->timers_reserved++) {
        rc = wsio__timer_reserve(loop);
        if (rc)
            goto fail_srv;
    }
    rc = make_shared_codec(srv);
    if (rc)
        goto fail_srv;
    rc = listen_on(srv, cfg);
    if (rc)
        goto fail_srv;
    rc = wsio__io_watch(loop, &srv->lio.io, WSIO_IO_READ);
    if (rc)
        goto fail_srv;
    if (cfg->hub) {
        rc = wsio__hub_join(cfg->hub, loop, wsio__server_hub_deliver, srv,
                            &srv->hub);
        if (rc)
            goto fail_srv;
    }
    if (srv->ping_interval_ms)
        wsio__timer_start(loop, &srv->heartbeat_timer.t,
                          wsio__loop_now(loop) + srv->ping_interval_ms);
    wsio__attach_add(loop, &srv->attach);
    return srv;
fail_srv:
    close_listener(srv);
    wsio__inbox_close(srv->inbox);
    wsio__security_free(&srv->sec, mem);
    wsio__addr_limits_free(&srv->addr_limits);
    wsio__subprotocols_free(&srv->protos, mem);
    if (srv->shared_codec.ops)
        srv->shared_codec.ops->free(srv->shared_codec.state);
    for (int i = 0; i < srv->timers_reserved; i++)
        wsio__timer_unreserve(loop);
    wsio__free(mem, srv);
fail:
    if (err)
        *err = rc;
    return NULL;
}

/* ---- getters
 * ----------------------------------------------------------------------------
 */

uint16_t wsio_server_port(const wsio_server *srv)
{
    return srv->port;
}

void *wsio_server_get_user(const wsio_server *srv)
{
    return srv->common.user;
}

wsio_loop *wsio_server_loop(const wsio_server *srv)
{
    return srv->loop;
}

wsio_server *wsio_ws_server(const wsio_ws *ws)
{
    return wsio__ws_is_server(ws) ? wsio__sconn_srv(ws) : NULL;
}

int wsio_server_post(wsio_server *srv, void (*fn)(void *user), void *user)
{
    return wsio_loop_post(srv->loop, fn, user);
}

uint64_t wsio_ws_id(const wsio_ws *ws)
{
    /* The slot is taken at accept; the id is given at OPEN. */
    return wsio__ws_is_server(ws) && ws->state != WSIO__WS_HANDSHAKE
               ? wsio__ids_id(ws)
               : 0;
}

wsio_ws *wsio_server_find(const wsio_server *srv, uint64_t id)
{
    return wsio__ids_find(&srv->ids, id);
}

wsio__inbox *wsio__server_inbox(const wsio_server *srv)
{
    return srv->inbox;
}

void wsio__server_sent_to(wsio_server *srv, uint64_t id,
                          enum wsio_opcode opcode, int result)
{
    if (result == WSIO_ECLOSED)
        srv->stats.sends_to_closed++;
    if (srv->hooks.on_sent_to)
        srv->hooks.on_sent_to(srv, id, opcode, result, srv->common.user);
}

int wsio_hub_get_stats(const wsio_server *srv, wsio_hub_stats *out)
{
    if (!srv->hub)
        return WSIO_EINVAL;
    wsio__hub_member_stats(srv->hub, out);
    return 0;
}

void wsio_server_get_stats(const wsio_server *srv, wsio_server_stats *out)
{
    *out = srv->stats;
    out->messages_in = srv->counters.messages_in;
    out->messages_out = srv->counters.messages_out;
    out->bytes_in = srv->counters.bytes_in;
    out->bytes_out = srv->counters.bytes_out;
    out->messages_dropped = srv->counters.messages_dropped;
    out->slow_disconnects = srv->counters.slow_disconnects;
    out->memory_in_use = srv->budget.used;
}
