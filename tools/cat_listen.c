/*
 * tools/cat_listen.c - wsio-cat --listen PORT: a quick server. Every
 * message from a client is printed; --echo sends it back to its sender,
 * --broadcast to every other client. stdin is sent to every client.
 * SIGINT or SIGTERM ends it with close 1001 to everyone.
 */
#include <stdio.h>
#include <string.h>

#include "cat.h"

typedef struct listener {
    const cat_opts *o;
    cat_loop cl;
    cat_input in;
    wsio_server *srv;
    int stdin_off; /* stdin failed: stop reading it, keep serving */
    int local_error;
} listener;

static void on_open(wsio_ws *ws, void *user)
{
    listener *l = user;
    uint16_t port;
    const char *addr = wsio_ws_remote_addr(ws, &port);
    if (l->o->verbose)
        cat_log("open %s:%u", addr, (unsigned)port);
}

static int on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    listener *l = user;
    int rc = cat_print_message(l->o, m);
    if (rc < 0 && !l->local_error) {
        cat_log("writing stdout: %s", wsio_strerror(rc));
        l->local_error = 1;
    }
    if (l->o->serve == CAT_SERVE_ECHO)
        (void)wsio_ws_send(ws, m->opcode, m->data, m->len);
    else if (l->o->serve == CAT_SERVE_BROADCAST)
        (void)wsio_server_broadcast(l->srv, m->opcode, m->data, m->len, ws);
    return 0;
}

static void on_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    listener *l = user;
    uint16_t port;
    const char *addr = wsio_ws_remote_addr(ws, &port);
    if (l->o->verbose)
        cat_log("close %s:%u code %u%s%.*s", addr, (unsigned)port, info->code,
                info->reason_len ? " " : "", (int)info->reason_len,
                info->reason);
}

/* Whether the client offered exactly sub (subprotocols are case-sensitive
 * tokens, RFC 6455 section 4.1, item 10 of the client's checks). */
static int offered(const wsio_http_request *req, const char *sub)
{
    wsio_http_token_iter it;
    wsio_slice tok;
    size_t n = strlen(sub);
    wsio_http_token_iter_init(&it, req->headers, req->num_headers,
                              "Sec-WebSocket-Protocol");
    while (wsio_http_token_iter_next(&it, &tok))
        if (tok.len == n && memcmp(tok.ptr, sub, n) == 0)
            return 1;
    return 0;
}

static int on_upgrade(wsio_server *srv, const wsio_request_info *req,
                      wsio_upgrade_decision *decision, void *user)
{
    (void)srv;
    listener *l = user;
    const wsio_http_request *r = req->request;
    if (l->o->verbose) {
        cat_log("upgrade from %s:%u: %.*s %.*s", req->remote_addr,
                (unsigned)req->remote_port, (int)r->method.len, r->method.ptr,
                (int)r->target.len, r->target.ptr);
        for (size_t i = 0; i < r->num_headers; i++)
            cat_log("header %.*s: %.*s", (int)r->headers[i].name.len,
                    r->headers[i].name.ptr, (int)r->headers[i].value.len,
                    r->headers[i].value.ptr);
    }
    if (l->o->subprotocol && offered(r, l->o->subprotocol))
        decision->subprotocol = l->o->subprotocol;
    return 0;
}

/* stdin messages go to every client; with none connected they are lost. */
static void pump(listener *l)
{
    const char *data;
    size_t len;
    int rc;
    while ((rc = cat_input_next(&l->in, &data, &len)) != 0) {
        if (rc < 0) {
            cat_log("stdin message over --max-message: %s", wsio_strerror(rc));
            l->local_error = l->stdin_off = 1;
            break;
        }
        rc = wsio_server_broadcast(l->srv, cat_input_opcode(&l->in), data, len,
                                   NULL);
        if (rc == WSIO_EUTF8)
            cat_log("stdin line %llu is not valid UTF-8: not sent",
                    (unsigned long long)l->in.messages);
        else if (rc < 0)
            cat_log("send: %s", wsio_strerror(rc));
    }
}

static int listen_on(listener *l)
{
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.host = l->o->host;
    cfg.port = l->o->port;
    cfg.ping_interval_ms = l->o->ping_interval_ms;
    cfg.conn.max_message_size = l->o->max_message;
    cfg.conn.max_frame_size = l->o->max_message;
    if (cfg.max_output_bytes < l->o->max_message + 64)
        cfg.max_output_bytes = l->o->max_message + 64;
    const wsio_ws_callbacks cb = {
        .on_open = on_open, .on_message = on_message, .on_close = on_close};
    const wsio_server_hooks hooks = {.on_upgrade = on_upgrade};
    int err = 0;
    l->srv = wsio_server_new(l->cl.loop, &cfg, &cb, &hooks, l, &err);
    if (!l->srv) {
        cat_log("cannot listen on %s port %u: %s", l->o->host,
                (unsigned)l->o->port, wsio_strerror(err));
        return err == WSIO_EINVAL ? CAT_EXIT_USAGE : CAT_EXIT_CONNECT;
    }
    int v6 = strchr(l->o->host, ':') != NULL;
    cat_log("listening on ws://%s%s%s:%u/", v6 ? "[" : "", l->o->host,
            v6 ? "]" : "", (unsigned)wsio_server_port(l->srv));
    return CAT_EXIT_OK;
}

int cat_listen_run(const cat_opts *o)
{
    listener l = {.o = o};
    int rc = cat_loop_init(&l.cl);
    if (rc < 0) {
        cat_log("cannot set up the loop: %s", wsio_strerror(rc));
        cat_loop_free(&l.cl);
        return CAT_EXIT_LOCAL;
    }
    cat_input_init(&l.in, o);
    int status = listen_on(&l);
    if (status == CAT_EXIT_OK) {
        cat_loop_watch_stdin(&l.cl, 1);
        unsigned ev = 0;
        while (!(ev & CAT_EV_SIGNAL)) {
            rc = cat_loop_turn(&l.cl, UINT64_MAX, &ev);
            if (rc < 0) {
                cat_log("poll: %s", wsio_strerror(rc));
                l.local_error = 1;
                break;
            }
            if (ev & CAT_EV_STDIN) {
                rc = cat_input_read(&l.in);
                if (rc < 0) {
                    cat_log("reading stdin: %s", wsio_strerror(rc));
                    l.local_error = l.stdin_off = 1;
                }
                if (!l.stdin_off)
                    pump(&l);
                cat_loop_watch_stdin(&l.cl, !l.in.eof && !l.stdin_off);
            }
        }
        if (o->verbose)
            cat_log("closing every connection (1001)");
        /* The server detaches once its last connection is gone, at most
         * 5 s later (the shutdown's deadline is one of the loop's timers);
         * a second signal cuts that short. */
        wsio_server_shutdown(l.srv, 5000);
        ev = 0;
        while (wsio_loop_alive(l.cl.loop) && !(ev & CAT_EV_SIGNAL) &&
               cat_loop_turn(&l.cl, UINT64_MAX, &ev) == 0) {
        }
        if (l.local_error)
            status = CAT_EXIT_LOCAL;
    }
    cat_input_free(&l.in);
    cat_loop_free(&l.cl);
    return status;
}
