/*
 * examples/chat/redis_room.c - see redis_room.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"
#include "redis_room.h"
#include "room.h"

#ifdef WSIO_HAVE_REDIS

#include <hiredis/hiredis.h>

#include "wsio/redis.h"

/* The wsio topic every member is in. */
#define ROOM_TOPIC "chat"

/* What a newcomer may send before its history came (its name, a first
 * message): a browser sends its saved name at once. */
#define HOLD_MAX (64 * 1024)

/* A newcomer waiting for the history; ws NULL once it closed. held is
 * what it sent meanwhile: messages one after the other, each a size_t
 * length and the bytes. */
typedef struct pending pending;
struct pending {
    pending *next;
    redis_room *rr;
    wsio_ws *ws;
    size_t held_len;
    char held[HOLD_MAX];
};

struct redis_room {
    wsio_server *srv;
    wsio_redis *redis;
    redis_room_host host;
    char history_key[128];
    pending *waiting;
    wsio_timer *watchdog; /* logs Redis coming and going */
    int was_connected;
    char stats_body[512];
};

static void unlink_pending(redis_room *rr, pending *p)
{
    for (pending **pp = &rr->waiting; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

/* Subscribe ws to the room's topic, let the room greet it, then hand it
 * what ws sent while it waited. */
static void admit(redis_room *rr, wsio_ws *ws, const pending *p)
{
    if (wsio_ws_subscribe(ws, ROOM_TOPIC) != 0)
        example_log("chat", "redis: could not subscribe a newcomer");
    rr->host.join(ws, rr->host.user);
    for (size_t at = 0; p && at < p->held_len;) {
        size_t len;
        memcpy(&len, p->held + at, sizeof len);
        at += sizeof len;
        rr->host.handle(ws, p->held + at, len, rr->host.user);
        at += len;
    }
}

int redis_room_hold(redis_room *rr, wsio_ws *ws, const char *json, size_t len)
{
    pending *p = rr->waiting;
    while (p && p->ws != ws)
        p = p->next;
    if (!p)
        return 0;
    if (sizeof len + len <= HOLD_MAX - p->held_len) {
        memcpy(p->held + p->held_len, &len, sizeof len);
        memcpy(p->held + p->held_len + sizeof len, json, len);
        p->held_len += sizeof len + len;
    } else {
        example_log("chat",
                    "redis: newcomer sent over %d bytes before its "
                    "history: message dropped",
                    HOLD_MAX);
    }
    return 1;
}

static void on_history(wsio_redis *r, const struct redisReply *reply,
                       void *user)
{
    (void)r;
    pending *p = user;
    redis_room *rr = p->rr;
    unlink_pending(rr, p);
    wsio_ws *ws = p->ws;
    if (ws && reply && reply->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < reply->elements; i++) {
            const redisReply *e = reply->element[i];
            if (e->type == REDIS_REPLY_STRING)
                (void)wsio_ws_send(ws, WSIO_OP_TEXT, e->str, e->len);
        }
    }
    if (ws) /* else it left before its history came */
        admit(rr, ws, p);
    free(p);
}

void redis_room_open(redis_room *rr, wsio_ws *ws)
{
    pending *p = malloc(sizeof *p);
    if (p) {
        p->rr = rr;
        p->ws = ws;
        p->held_len = 0;
        if (wsio_redis_command(rr->redis, on_history, p, "LRANGE %s %d -1",
                               rr->history_key, -CHAT_HISTORY_MAX) == 0) {
            p->next = rr->waiting;
            rr->waiting = p;
            return;
        }
        free(p);
    }
    /* Redis away (or no memory): in without history, at once. */
    admit(rr, ws, NULL);
}

void redis_room_close(redis_room *rr, wsio_ws *ws)
{
    for (pending *p = rr->waiting; p; p = p->next)
        if (p->ws == ws)
            p->ws = NULL;
}

int redis_room_broadcast(redis_room *rr, const char *json, size_t len)
{
    int n = wsio_server_publish(rr->srv, ROOM_TOPIC, WSIO_OP_TEXT, json, len);
    if (n < 0)
        return -1;
    /* Same connection as the PUBLISH, so the history keeps its order. A
     * failure here (Redis away) is counted by the module as a dropped
     * publish already; the history simply misses the event. */
    if (wsio_redis_command(rr->redis, NULL, NULL, "RPUSH %s %b",
                           rr->history_key, json, len) == 0)
        (void)wsio_redis_command(rr->redis, NULL, NULL, "LTRIM %s %d -1",
                                 rr->history_key, -CHAT_HISTORY_MAX);
    return 0;
}

static void log_stats(const redis_room *rr, const char *what)
{
    wsio_redis_stats st;
    wsio_redis_get_stats(rr->redis, &st);
    example_log("chat",
                "redis %s: published %llu, dropped %llu, received %llu, "
                "reconnects %llu",
                what, (unsigned long long)st.published,
                (unsigned long long)st.publish_dropped,
                (unsigned long long)st.received,
                (unsigned long long)st.reconnects);
}

static void on_watchdog(wsio_timer *t, void *user)
{
    redis_room *rr = user;
    wsio_redis_stats st;
    wsio_redis_get_stats(rr->redis, &st);
    if (st.connected != rr->was_connected)
        log_stats(rr, st.connected ? "connected" : "lost");
    rr->was_connected = st.connected;
    wsio_timer_start(t, 250);
}

void redis_room_stats(redis_room *rr, wsio_http_reply *reply)
{
    static const wsio_http_header json[] = {
        {{"Content-Type", 12}, {"application/json", 16}},
        {{"Cache-Control", 13}, {"no-cache", 8}},
    };
    wsio_redis_stats st;
    wsio_redis_get_stats(rr->redis, &st);
    int n = snprintf(
        rr->stats_body, sizeof rr->stats_body,
        "{\"connected\":%d,\"published\":%llu,"
        "\"publish_dropped\":%llu,\"received\":%llu,"
        "\"invalid\":%llu,\"reconnects\":%llu,\"topics\":%llu}\n",
        st.connected, (unsigned long long)st.published,
        (unsigned long long)st.publish_dropped, (unsigned long long)st.received,
        (unsigned long long)st.invalid, (unsigned long long)st.reconnects,
        (unsigned long long)st.topics);
    reply->status = 200;
    reply->headers = json;
    reply->num_headers = 2;
    reply->body = rr->stats_body;
    reply->body_len = (size_t)n;
}

redis_room *redis_room_new(wsio_server *srv, const char *url,
                           const redis_room_host *host)
{
    redis_room *rr = calloc(1, sizeof *rr);
    if (!rr) {
        fprintf(stderr, "chat: out of memory\n");
        return NULL;
    }
    rr->srv = srv;
    rr->host = *host;
    wsio_redis_config rc;
    wsio_redis_config_default(&rc);
    rc.url = url;
    int err = 0;
    rr->redis = wsio_redis_new(srv, &rc, &err);
    rr->watchdog = wsio_timer_new(wsio_server_loop(srv), on_watchdog, rr, &err);
    if (!rr->redis || !rr->watchdog) {
        fprintf(stderr, "chat: --redis %s: %s\n", url,
                err == WSIO_EINVAL
                    ? "not a redis://[:password@]host[:port][/db] URL"
                    : wsio_strerror(err));
        redis_room_free(rr);
        return NULL;
    }
    (void)wsio_redis_key(rr->redis, "chat:history", rr->history_key,
                         sizeof rr->history_key);
    wsio_timer_start(rr->watchdog, 0);
    example_log("chat", "redis: one room with every chat on %s (GET /stats)",
                url);
    return rr;
}

void redis_room_free(redis_room *rr)
{
    if (!rr)
        return;
    /* The module answers waiting commands with NULL while it goes: no
     * newcomer may be admitted then. */
    for (pending *p = rr->waiting; p; p = p->next)
        p->ws = NULL;
    if (rr->redis)
        log_stats(rr, "closing");
    wsio_redis_free(rr->redis);
    wsio_timer_free(rr->watchdog);
    free(rr);
}

#else /* !WSIO_HAVE_REDIS */

redis_room *redis_room_new(wsio_server *srv, const char *url,
                           const redis_room_host *host)
{
    (void)srv;
    (void)url;
    (void)host;
    fprintf(stderr, "chat: --redis: this chat was built without libwsio-redis "
                    "(install hiredis, e.g. libhiredis-dev, and rebuild)\n");
    return NULL;
}

void redis_room_free(redis_room *rr)
{
    (void)rr;
}

int redis_room_broadcast(redis_room *rr, const char *json, size_t len)
{
    (void)rr;
    (void)json;
    (void)len;
    return -1;
}

void redis_room_open(redis_room *rr, wsio_ws *ws)
{
    (void)rr;
    (void)ws;
}

void redis_room_close(redis_room *rr, wsio_ws *ws)
{
    (void)rr;
    (void)ws;
}

int redis_room_hold(redis_room *rr, wsio_ws *ws, const char *json, size_t len)
{
    (void)rr;
    (void)ws;
    (void)json;
    (void)len;
    return 0;
}

void redis_room_stats(redis_room *rr, wsio_http_reply *reply)
{
    (void)rr;
    (void)reply;
}

#endif /* WSIO_HAVE_REDIS */
