/*
 * examples/chat/main.c - the browser chat: the page at "/", the WebSocket
 * at "/ws" (and "/"), on one port. The room logic (names, history,
 * notices) is in room.c; this file connects it to a wsio server. With
 * --threads N there is a server per thread (example_serve): the one room
 * is behind a mutex, and its broadcasts go through the thread's server,
 * whose hub carries them to the other threads.
 *
 *     make run-chat        then open http://127.0.0.1:8080
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "example.h"
#include "room.h"
#ifdef WSIO_HAVE_DEFLATE
#include "wsio/deflate.h"
#endif

/* The page, compiled in from chat.html by the Makefile. */
extern const unsigned char chat_page[];
extern const size_t chat_page_len;

typedef struct chat_app {
    pthread_mutex_t mu;       /* the room, and srv, for one thread at a time */
    chat_room *room;
    wsio_server *srv;         /* the server of the call in progress */
} chat_app;

/* Lock the room for a callback of ws (on ws's server's thread). */
static chat_room *room_lock(chat_app *app, wsio_ws *ws)
{
    pthread_mutex_lock(&app->mu);
    app->srv = wsio_ws_server(ws);
    return app->room;
}

static void room_unlock(chat_app *app)
{
    pthread_mutex_unlock(&app->mu);
}

/* Timestamps in the protocol are wall-clock milliseconds since the epoch. */
static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int sink_broadcast(void *ctx, const char *json, size_t len)
{
    chat_app *app = ctx;
    int n = wsio_server_broadcast(app->srv, WSIO_OP_TEXT, json, len, NULL);
    /* With --tls-cert and --plain-port the room spans both servers. */
    wsio_server *plain = example_plain_server();
    if (n >= 0 && plain)
        n = wsio_server_broadcast(plain, WSIO_OP_TEXT, json, len, NULL);
    return n < 0 ? n : 0;
}

static int sink_send_to(void *ctx, void *client, const char *json, size_t len)
{
    (void)ctx;
    int rc = wsio_ws_send(client, WSIO_OP_TEXT, json, len);
    return rc < 0 ? rc : 0;
}

static int path_is(const wsio_http_request *req, const char *path)
{
    return req->path.len == strlen(path) &&
           memcmp(req->path.ptr, path, req->path.len) == 0;
}

static int on_http(wsio_server *srv, const wsio_request_info *info,
                   wsio_http_reply *reply, void *user)
{
    (void)srv;
    (void)user;
    static const wsio_http_header html[] = {
        {{"Content-Type", 12}, {"text/html; charset=utf-8", 24}},
        {{"Cache-Control", 13}, {"no-cache", 8}},
    };
    const wsio_http_request *req = info->request;
    if (path_is(req, "/") || path_is(req, "/index.html")) {
        reply->status = 200;
        reply->headers = html;
        reply->num_headers = 2;
        reply->body = chat_page;
        reply->body_len = chat_page_len;
    }
    /* Anything else keeps the preset 404. */
    example_log("chat", "%.*s %.*s from %s -> %d", (int)req->method.len,
                req->method.ptr, (int)req->target.len, req->target.ptr,
                info->remote_addr, reply->status);
    return 0;
}

static int on_upgrade(wsio_server *srv, const wsio_request_info *info,
                      wsio_upgrade_decision *d, void *user)
{
    (void)srv;
    (void)user;
    if (!path_is(info->request, "/ws") && !path_is(info->request, "/")) {
        d->accept = 0;
        d->reject.status = 404;
    }
    return 0;
}

static void on_open(wsio_ws *ws, void *user)
{
    chat_app *app = user;
    chat_room *room = room_lock(app, ws);
    int rc = chat_room_join(room, ws, wall_ms());
    uint16_t port;
    const char *addr = wsio_ws_remote_addr(ws, &port);
    example_log("chat", "join %s:%u (%zu in the room)%s%s", addr,
                (unsigned)port, chat_room_count(room), rc ? ": " : "",
                rc ? chat_room_strerror(rc) : "");
    room_unlock(app);
}

static int on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    chat_app *app = user;
    if (m->opcode != WSIO_OP_TEXT) {
        example_log("chat", "binary message of %zu bytes ignored", m->len);
        return 0;
    }
    chat_room *room = room_lock(app, ws);
    int rc = chat_room_handle(room, ws, m->data, m->len, wall_ms());
    if (rc < 0)
        example_log("chat", "message from %s ignored: %s",
                    chat_room_name(room, ws), chat_room_strerror(rc));
    room_unlock(app);
    return 0;
}

static void on_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    chat_app *app = user;
    chat_room *room = room_lock(app, ws);
    const char *name = chat_room_name(room, ws);
    example_log("chat", "leave %s, code %u", name ? name : "?", info->code);
    chat_room_leave(room, ws, wall_ms());
    room_unlock(app);
}

static void usage(void)
{
    printf("usage: chat [options]\n%s"
           "  --ping-interval MS  heartbeat ping interval (default 30000; 0 "
           "off)\n"
           "  --allow-origin O    accept WebSockets only from pages of origin O\n"
           "                      (\"https://chat.example.com\"); repeatable;\n"
           "                      others get 403. Default: any origin\n"
           EXAMPLE_USAGE_THREADS,
           example_usage_common());
}

int main(int argc, char **argv)
{
    example_opts o = {.host = "127.0.0.1", .port = 8080};
    long ping_ms = 30000;
    const char *origins[16];
    size_t norigins = 0;
    for (int i = 1; i < argc; i++) {
        if (example_parse_common(argc, argv, &i, &o) ||
            example_parse_threads(argc, argv, &i, &o))
            continue;
        if (strcmp(argv[i], "--allow-origin") == 0) {
            if (norigins == sizeof origins / sizeof origins[0]) {
                fprintf(stderr, "chat: at most 16 --allow-origin\n");
                return 2;
            }
            origins[norigins++] = example_value(argc, argv, &i);
        } else if (strcmp(argv[i], "--ping-interval") == 0) {
            ping_ms = (long)example_size("--ping-interval",
                                         example_value(argc, argv, &i));
        } else {
            usage();
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }

    chat_app app = {.mu = PTHREAD_MUTEX_INITIALIZER};
    chat_sink sink = {sink_broadcast, sink_send_to, &app};
    app.room = chat_room_new(&sink, NULL);
    if (!app.room) {
        fprintf(stderr, "chat: out of memory\n");
        return 1;
    }
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.conn.max_message_size = CHAT_INPUT_MAX;
    cfg.conn.max_frame_size = CHAT_INPUT_MAX;
    cfg.ping_interval_ms = (uint32_t)ping_ms;
    /* Cross-site WebSocket hijacking: only the listed pages may connect. */
    cfg.allowed_origins = norigins ? origins : NULL;
    cfg.num_allowed_origins = norigins;
#ifdef WSIO_HAVE_DEFLATE
    /* Browsers offer permessage-deflate. Without server context takeover
     * each broadcast is compressed once for everyone, and no connection
     * keeps a compressor between messages. */
    wsio_deflate_config dc;
    wsio_deflate_config_default(&dc);
    dc.policy.server_no_context_takeover = 1;
    wsio_deflate pmd;
    wsio_deflate_init(&pmd, &dc);
    cfg.deflate = &pmd.ext;
#endif
    wsio_ws_callbacks cb = {.on_open = on_open,
                            .on_message = on_message,
                            .on_close = on_close};
    wsio_server_hooks hooks = {.on_http = on_http, .on_upgrade = on_upgrade};
    example_log("chat", "open the address it listens on in a browser");
    example_serve("chat", "http", &o, &cfg, &cb, &hooks, &app);
    chat_room_free(app.room);
    return 0;
}
