/*
 * examples/chat/app.c - the chat server's wsio side (see app.h): the page
 * at "/", the WebSocket at "/ws" (and "/"), each connection joined to the
 * room.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"

/* The page, compiled in from chat.html by the Makefile. */
extern const unsigned char chat_page[];
extern const size_t chat_page_len;

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
    if (app->stream) {
        int rc =
            wsio_stream_publish(app->stream, WSIO_OP_TEXT, json, len, NULL);
        return rc < 0 ? rc : 0;
    }
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

/* A line per request, but not a flood of them. */
static example_log_limit request_log = EXAMPLE_LOG_LIMIT_INIT;

/* tutorial:begin chat-http */
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
    example_log_limited(&request_log, "chat", "%.*s %.*s from %s -> %d",
                        (int)req->method.len, req->method.ptr,
                        (int)req->target.len, req->target.ptr,
                        info->remote_addr, reply->status);
    return 0;
}
/* tutorial:end chat-http */

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

/* The room, locked for a callback of ws (on ws's server's thread). */
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

/* ---- resume: the room's messages through a topic stream ---- */

#define CHAT_TOPIC "chat"

/* The stream's formatter: each message gets its id as its first member,
 * so that the page knows what to ask for when it reconnects. */
static int with_id(uint64_t id, const void *json, size_t len,
                   wsio_stream_payload *out, void *user)
{
    (void)user;
    char prefix[CHAT_ID_PREFIX_MAX];
    int rc = wsio_stream_payload_add(out, prefix, chat_id_prefix(id, prefix));
    /* Room messages are objects with members: "{" is replaced. */
    return rc ? rc
              : wsio_stream_payload_add(out, (const char *)json + 1, len - 1);
}

/* The stream, made at the first join; NULL when the chat runs without
 * one (several servers, or it could not be made). */
static wsio_stream *room_stream(chat_app *app)
{
    if (!app->use_stream || app->stream)
        return app->stream;
    wsio_stream_config sc;
    wsio_stream_config_default(&sc);
    sc.max_messages = app->opts.window;
    sc.format = with_id;
    /* Ids from the clock: a restarted chat never gives an id its pages
     * saw before, so they are told they missed messages. */
    sc.first_id = (uint64_t)wall_ms() * 1000;
    int err = 0;
    app->stream = wsio_stream_new(app->srv, CHAT_TOPIC, &sc, &err);
    if (!app->stream) {
        example_log("chat", "no resume: %s", wsio_strerror(err));
        app->use_stream = 0;
    }
    return app->stream;
}

/* The id of ?since= in ws's URL: what chat_since_from_query returns. */
static int since_of(wsio_ws *ws, uint64_t *since)
{
    const wsio_request_info *ri = wsio_ws_request(ws);
    return chat_since_from_query(ri->request->query.ptr, ri->request->query.len,
                                 since);
}

/* Tell ws that what it missed is no longer all held: the page starts
 * afresh with the last messages that follow. */
static void send_gap_notice(wsio_ws *ws, void *user)
{
    (void)user;
    char notice[256];
    size_t n = chat_gap_notice(wall_ms(), notice, sizeof notice);
    wsio_ws_send(ws, WSIO_OP_TEXT, notice, n);
}

/* Replay what the page missed since the id of ?since=, or the last
 * CHAT_HISTORY_MAX messages to a new page and, after a notice, to one
 * whose messages the stream no longer holds all of. Then join. */
static int resume_and_join(chat_app *app, wsio_stream *st, wsio_ws *ws)
{
    uint64_t since = 0;
    int asked = since_of(ws, &since);
    int rc = asked == 1 ? wsio_stream_subscribe(st, ws, since) : WSIO_EGAP;
    if (rc == WSIO_EGAP) {
        if (asked == 1)
            send_gap_notice(ws, app);
        uint64_t last = wsio_stream_last_id(st);
        uint64_t from = wsio_stream_floor_id(st);
        if (last - from > CHAT_HISTORY_MAX)
            from = last - CHAT_HISTORY_MAX;
        rc = wsio_stream_subscribe(st, ws, from);
    }
    if (rc < 0)
        return CHAT_ROOM_ESINK;
    return chat_room_join_replayed(app->room, ws, wall_ms());
}

/* tutorial:begin chat-room */
static void on_open(wsio_ws *ws, void *user)
{
    chat_app *app = user;
    chat_room *room = room_lock(app, ws);
    wsio_stream *st = room_stream(app);
    int rc =
        st ? resume_and_join(app, st, ws) : chat_room_join(room, ws, wall_ms());
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
/* tutorial:end chat-room */

/* --redis: the same callbacks around the shared room of redis_room.c,
 * which replays what a newcomer missed (from Redis' stream) before it
 * joins. */
static void join_replayed(wsio_ws *ws, void *user)
{
    chat_app *app = user;
    chat_room *room = room_lock(app, ws);
    int rc = chat_room_join_replayed(room, ws, wall_ms());
    uint16_t port;
    const char *addr = wsio_ws_remote_addr(ws, &port);
    example_log("chat", "join %s:%u (%zu in the room)%s%s", addr,
                (unsigned)port, chat_room_count(room), rc ? ": " : "",
                rc ? chat_room_strerror(rc) : "");
    room_unlock(app);
}

static void on_open_redis(wsio_ws *ws, void *user)
{
    chat_app *app = user;
    uint64_t since = 0;
    int asked = since_of(ws, &since);
    redis_room_open(app->redis, ws, asked, since);
}

static int on_message_redis(wsio_ws *ws, const wsio_message *m, void *user)
{
    chat_app *app = user;
    if (m->opcode == WSIO_OP_TEXT &&
        redis_room_hold(app->redis, ws, m->data, m->len))
        return 0; /* still waiting for its replay */
    uint64_t not_sent = redis_room_not_sent(app->redis);
    (void)on_message(ws, m, user);
    if (redis_room_not_sent(app->redis) != not_sent) {
        /* A message gets its id from Redis: none, no delivery. */
        char notice[256];
        size_t n = chat_not_sent_notice(wall_ms(), notice, sizeof notice);
        wsio_ws_send(ws, WSIO_OP_TEXT, notice, n);
    }
    return 0;
}

static void handle_held(wsio_ws *ws, const char *json, size_t len, void *user)
{
    wsio_message m = {WSIO_OP_TEXT, json, len};
    (void)on_message_redis(ws, &m, user);
}

static void on_close_redis(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    chat_app *app = user;
    redis_room_close(app->redis, ws);
    on_close(ws, info, user);
}

static int on_http_redis(wsio_server *srv, const wsio_request_info *info,
                         wsio_http_reply *reply, void *user)
{
    chat_app *app = user;
    if (path_is(info->request, "/stats")) {
        redis_room_stats(app->redis, reply);
        return 0;
    }
    return on_http(srv, info, reply, user);
}

int chat_app_connect_redis(chat_app *app)
{
    if (!app->opts.redis_url)
        return 0;
    redis_room_host host = {.join = join_replayed,
                            .handle = handle_held,
                            .gap = send_gap_notice,
                            .format = with_id,
                            .window = app->opts.window,
                            .user = app};
    app->redis = redis_room_new(app->srv, app->opts.redis_url, &host);
    return app->redis ? 0 : -1;
}

void chat_app_init(chat_app *app)
{
    memset(app, 0, sizeof *app);
    pthread_mutex_init(&app->mu, NULL);
    app->opts.ping_ms = EXAMPLE_PING_MS;
    app->opts.window = CHAT_WINDOW_DEFAULT;
    app->sink = (chat_sink){sink_broadcast, sink_send_to, app};
    app->room = chat_room_new(&app->sink, NULL);
    if (!app->room) {
        fprintf(stderr, "chat: out of memory\n");
        exit(1);
    }
}

void chat_app_free(chat_app *app)
{
    wsio_stream_free(app->stream);
    app->stream = NULL;
    chat_room_free(app->room);
    app->room = NULL;
    pthread_mutex_destroy(&app->mu);
}

int chat_parse_option(int argc, char **argv, int *i, chat_options *co)
{
    if (strcmp(argv[*i], "--allow-origin") == 0) {
        if (co->norigins == CHAT_MAX_ORIGINS) {
            fprintf(stderr, "chat: at most %d --allow-origin\n",
                    CHAT_MAX_ORIGINS);
            exit(2);
        }
        co->origins[co->norigins++] = example_value(argc, argv, i);
        return 1;
    }
    if (strcmp(argv[*i], "--redis") == 0) {
        co->redis_url = example_value(argc, argv, i);
        return 1;
    }
    if (strcmp(argv[*i], "--window") == 0) {
        co->window = example_size("--window", example_value(argc, argv, i));
        if (co->window == 0 || co->window > CHAT_WINDOW_MAX) {
            fprintf(stderr, "chat: --window is 1 to %d messages\n",
                    CHAT_WINDOW_MAX);
            exit(2);
        }
        return 1;
    }
    if (strcmp(argv[*i], "--ping-interval") == 0) {
        co->ping_ms =
            (long)example_size("--ping-interval", example_value(argc, argv, i));
        return 1;
    }
    return 0;
}

const char *chat_usage(void)
{
    return "  --ping-interval MS  heartbeat ping interval (default 30000; 0 "
           "off)\n"
           "  --allow-origin O    accept WebSockets only from pages of origin "
           "O\n"
           "                      (\"https://chat.example.com\"); repeatable;\n"
           "                      others get 403. Default: any origin\n"
           "  --redis URL         share the room with every chat on this "
           "Redis\n"
           "                      (redis://[:password@]host[:port][/db]),\n"
           "                      through a Redis stream: a page that "
           "reconnects\n"
           "                      to any of them gets what it missed\n"
           "  --window N          messages kept for pages that reconnect "
           "(default\n"
           "                      1000; with --redis, Redis keeps about as "
           "many)\n";
}

void chat_app_configure(chat_app *app, wsio_server_config *cfg,
                        wsio_ws_callbacks *cb, wsio_server_hooks *hooks)
{
    wsio_server_config_default(cfg);
    cfg->conn.max_message_size = CHAT_INPUT_MAX;
    cfg->conn.max_frame_size = CHAT_INPUT_MAX;
    cfg->ping_interval_ms = (uint32_t)app->opts.ping_ms;
    /* ?since= is read in on_open. */
    cfg->keep_request = app->use_stream || app->opts.redis_url != NULL;
    /* Cross-site WebSocket hijacking: only the listed pages may connect. */
    cfg->allowed_origins = app->opts.norigins ? app->opts.origins : NULL;
    cfg->num_allowed_origins = app->opts.norigins;
#ifdef WSIO_HAVE_DEFLATE
    /* Browsers offer permessage-deflate. Without server context takeover
     * each broadcast is compressed once for everyone, and no connection
     * keeps a compressor between messages. */
    wsio_deflate_config dc;
    wsio_deflate_config_default(&dc);
    dc.policy.server_no_context_takeover = 1;
    wsio_deflate_init(&app->pmd, &dc);
    cfg->deflate = &app->pmd.ext;
#endif
    *cb = (wsio_ws_callbacks){
        .on_open = on_open, .on_message = on_message, .on_close = on_close};
    *hooks = (wsio_server_hooks){.on_http = on_http, .on_upgrade = on_upgrade};
    if (app->opts.redis_url) {
        cb->on_open = on_open_redis;
        cb->on_message = on_message_redis;
        cb->on_close = on_close_redis;
        hooks->on_http = on_http_redis;
    }
}
