/*
 * examples/chat/main.c - the browser chat: the page at "/", the WebSocket
 * at "/ws" (and "/"), on one port. The room logic (names, history,
 * notices) is in room.c; this file connects it to a wsio server.
 *
 *     make run-chat        then open http://127.0.0.1:8080
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "example.h"
#include "redis_room.h"
#include "room.h"
#ifdef WSIO_HAVE_DEFLATE
#include "wsio/deflate.h"
#endif

/* The page, compiled in from chat.html by the Makefile. */
extern const unsigned char chat_page[];
extern const size_t chat_page_len;

typedef struct chat_app {
    chat_room *room;
    wsio_server *srv;
    redis_room *redis; /* --redis: one room across processes */
} chat_app;

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
    if (app->redis)
        return redis_room_broadcast(app->redis, json, len);
    int n = wsio_server_broadcast(app->srv, WSIO_OP_TEXT, json, len, NULL);
    /* With --tls-cert and --plain-port the room spans both servers. */
    wsio_server *plain = example_plain_server();
    if (n >= 0 && plain)
        n = wsio_server_broadcast(plain, WSIO_OP_TEXT, json, len, NULL);
    return n < 0 ? n : 0;
}

static int sink_send_to(void *ctx, void *client, const char *json, size_t len)
{
    chat_app *app = ctx;
    if (app->redis)
        return 0; /* the history is Redis' shared one (redis_room.c) */
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
    chat_app *app = user;
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
    } else if (app->redis && path_is(req, "/stats")) {
        redis_room_stats(app->redis, reply);
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

static void join_room(wsio_ws *ws, void *user)
{
    chat_app *app = user;
    int rc = chat_room_join(app->room, ws, wall_ms());
    uint16_t port;
    const char *addr = wsio_ws_remote_addr(ws, &port);
    example_log("chat", "join %s:%u (%zu in the room)%s%s", addr,
                (unsigned)port, chat_room_count(app->room), rc ? ": " : "",
                rc ? chat_room_strerror(rc) : "");
}

static void on_open(wsio_ws *ws, void *user)
{
    chat_app *app = user;
    if (app->redis)
        redis_room_open(app->redis, ws); /* joins once the history is sent */
    else
        join_room(ws, app);
}

static void handle_message(wsio_ws *ws, const char *json, size_t len,
                           void *user)
{
    chat_app *app = user;
    int rc = chat_room_handle(app->room, ws, json, len, wall_ms());
    if (rc < 0)
        example_log("chat", "message from %s ignored: %s",
                    chat_room_name(app->room, ws), chat_room_strerror(rc));
}

static int on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    chat_app *app = user;
    if (m->opcode != WSIO_OP_TEXT) {
        example_log("chat", "binary message of %zu bytes ignored", m->len);
        return 0;
    }
    /* --redis: a newcomer's first messages wait for its history. */
    if (!app->redis || !redis_room_hold(app->redis, ws, m->data, m->len))
        handle_message(ws, m->data, m->len, app);
    return 0;
}

static void on_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    chat_app *app = user;
    const char *name = chat_room_name(app->room, ws);
    example_log("chat", "leave %s, code %u", name ? name : "?", info->code);
    if (app->redis)
        redis_room_close(app->redis, ws);
    chat_room_leave(app->room, ws, wall_ms());
}

static void usage(void)
{
    printf("usage: chat [options]\n%s"
           "  --ping-interval MS  heartbeat ping interval (default 30000; 0 "
           "off)\n"
           "  --allow-origin O    accept WebSockets only from pages of origin O\n"
           "                      (\"https://chat.example.com\"); repeatable;\n"
           "                      others get 403. Default: any origin\n"
           "  --redis URL         share the room with every chat on this Redis\n"
           "                      (redis://[:password@]host[:port][/db])\n",
           example_usage_common());
}

int main(int argc, char **argv)
{
    example_opts o = {.host = "127.0.0.1", .port = 8080};
    long ping_ms = 30000;
    const char *redis_url = NULL;
    const char *origins[16];
    size_t norigins = 0;
    for (int i = 1; i < argc; i++) {
        if (example_parse_common(argc, argv, &i, &o))
            continue;
        if (strcmp(argv[i], "--allow-origin") == 0) {
            if (norigins == sizeof origins / sizeof origins[0]) {
                fprintf(stderr, "chat: at most 16 --allow-origin\n");
                return 2;
            }
            origins[norigins++] = example_value(argc, argv, &i);
        } else if (strcmp(argv[i], "--redis") == 0) {
            redis_url = example_value(argc, argv, &i);
        } else if (strcmp(argv[i], "--ping-interval") == 0) {
            ping_ms = (long)example_size("--ping-interval",
                                         example_value(argc, argv, &i));
        } else {
            usage();
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }

    chat_app app = {0};
    chat_sink sink = {sink_broadcast, sink_send_to, &app};
    app.room = chat_room_new(&sink, NULL);
    if (!app.room) {
        fprintf(stderr, "chat: out of memory\n");
        return 1;
    }
    wsio_loop *loop = example_loop_new("chat", &o);
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
    app.srv = example_listen("chat", "http", loop, &o, &cfg, &cb, &hooks, &app);
    if (redis_url) {
        redis_room_host rh = {join_room, handle_message, &app};
        app.redis = redis_room_new(app.srv, redis_url, &rh);
        if (!app.redis)
            return 1;
    }
    example_log("chat", "open the address above in a browser");
    example_run("chat", loop, app.srv);
    redis_room_free(app.redis);
    wsio_loop_free(loop);
    chat_room_free(app.room);
    return 0;
}
