/*
 * examples/chat/redis_room.c - see redis_room.h.
 *
 * A newcomer goes through at most three steps, each answered on the loop
 * thread: a resume from its ?since= id (local, or XRANGE in the module);
 * if that id is too old, or the page is new, the ids of the last
 * CHAT_HISTORY_MAX + 1 entries (XREVRANGE), then a resume from the oldest
 * of them, which replays the last CHAT_HISTORY_MAX. Then it joins.
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
#include "wsio/redis_stream.h"

/* The wsio topic every member is in, and the Redis stream's name. */
#define ROOM_TOPIC "chat"

/* What a newcomer may send before its replay came (its name, a first
 * message): a browser sends its saved name at once. */
#define HOLD_MAX (64 * 1024)

/* What a newcomer waits for. */
enum wait {
    WAIT_RESUME,  /* the resume from its own id (on_resumed) */
    WAIT_IDS,     /* the ids of the last entries (XREVRANGE) */
    WAIT_HISTORY, /* the resume that replays the last entries */
};

/* A newcomer waiting; ws NULL once it closed while a command was out.
 * held is what it sent meanwhile: messages one after the other, each a
 * size_t length and the bytes. */
typedef struct pending pending;
struct pending {
    pending *next;
    redis_room *rr;
    wsio_ws *ws;
    enum wait wait;
    uint64_t fallback; /* WAIT_HISTORY from 0: the oldest entry's id, to
                          resume from should the stream's start be gone */
    size_t held_len;
    char held[HOLD_MAX];
};

struct redis_room {
    wsio_server *srv;
    wsio_redis *redis;
    wsio_redis_stream *stream;
    redis_room_host host;
    char stream_key[128];
    pending *waiting;
    wsio_timer *watchdog; /* logs Redis coming and going */
    int was_connected;
    uint64_t not_sent; /* broadcasts Redis did not take */
    char stats_body[768];
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

/* ws is subscribed and has its replay: let the room greet it, then hand
 * it what ws sent while it waited. Frees p. */
static void admit(redis_room *rr, wsio_ws *ws, pending *p)
{
    rr->host.join(ws, rr->host.user);
    for (size_t at = 0; p && at < p->held_len;) {
        size_t len;
        memcpy(&len, p->held + at, sizeof len);
        at += sizeof len;
        rr->host.handle(ws, p->held + at, len, rr->host.user);
        at += len;
    }
    free(p);
}

/* Nothing more to replay (Redis away, or no memory): in, live only. */
static void admit_live(redis_room *rr, wsio_ws *ws, pending *p)
{
    if (wsio_redis_stream_subscribe(rr->stream, ws, WSIO_STREAM_LIVE) < 0)
        example_log("chat", "redis: could not subscribe a newcomer");
    admit(rr, ws, p);
}

static void fetch_history(redis_room *rr, pending *p);

/* A resume of p (linked in rr->waiting) ended with rc, or is waiting
 * (WSIO_EAGAIN: on_resumed comes). */
static void resolve(redis_room *rr, pending *p, int rc)
{
    if (rc == WSIO_EAGAIN)
        return;
    unlink_pending(rr, p);
    wsio_ws *ws = p->ws;
    if (rc >= 0) {
        admit(rr, ws, p);
    } else if (p->wait == WAIT_RESUME) {
        /* WSIO_EGAP, or Redis away past catch_up_ms: either way the page
         * cannot have exactly what it missed, and is told so. */
        rr->host.gap(ws, rr->host.user);
        fetch_history(rr, p);
    } else if (rc == WSIO_EGAP && p->fallback) {
        /* The stream no longer starts at its first entry. */
        uint64_t since = p->fallback;
        p->fallback = 0;
        p->next = rr->waiting;
        rr->waiting = p;
        resolve(rr, p, wsio_redis_stream_subscribe(rr->stream, ws, since));
    } else {
        admit_live(rr, ws, p);
    }
}

/* Resume p from since; p is not linked yet. */
static void resume(redis_room *rr, pending *p, enum wait wait, uint64_t since)
{
    p->wait = wait;
    p->next = rr->waiting;
    rr->waiting = p;
    resolve(rr, p, wsio_redis_stream_subscribe(rr->stream, p->ws, since));
}

/* An entry's "ms-seq" id as the module's number for it (ms * 2^20 + seq,
 * wsio/redis_stream.h); 0 when it is not one. */
static uint64_t entry_id(const redisReply *e)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 ||
        e->element[0]->type != REDIS_REPLY_STRING)
        return 0;
    unsigned long long ms, seq;
    char end;
    if (sscanf(e->element[0]->str, "%llu-%llu%c", &ms, &seq, &end) != 2 ||
        ms >= 1ull << 44 || seq >= 1ull << 20)
        return 0;
    return (uint64_t)ms << 20 | seq;
}

/* XREVRANGE came back with the last entries, newest first. */
static void on_ids(wsio_redis *r, const redisReply *reply, void *user)
{
    (void)r;
    pending *p = user;
    redis_room *rr = p->rr;
    unlink_pending(rr, p);
    if (!p->ws) { /* it left, or the room is being freed */
        free(p);
        return;
    }
    size_t k = reply && reply->type == REDIS_REPLY_ARRAY ? reply->elements : 0;
    uint64_t oldest = k ? entry_id(reply->element[k - 1]) : 0;
    if (!oldest) { /* an empty stream, or Redis away */
        admit_live(rr, p->ws, p);
        return;
    }
    /* All of the stream, but for its oldest entry should its start be
     * gone; or what follows the (CHAT_HISTORY_MAX + 1)th newest. */
    p->fallback = k > CHAT_HISTORY_MAX ? 0 : oldest;
    resume(rr, p, WAIT_HISTORY, k > CHAT_HISTORY_MAX ? oldest : 0);
}

/* Ask Redis for the ids of the last entries; p is not linked. */
static void fetch_history(redis_room *rr, pending *p)
{
    p->wait = WAIT_IDS;
    if (wsio_redis_command(rr->redis, on_ids, p, "XREVRANGE %s + - COUNT %d",
                           rr->stream_key, CHAT_HISTORY_MAX + 1) == 0) {
        p->next = rr->waiting;
        rr->waiting = p;
        return;
    }
    admit_live(rr, p->ws, p);
}

static void on_resumed(wsio_redis_stream *rs, wsio_ws *ws, int result,
                       void *user)
{
    (void)rs;
    redis_room *rr = user;
    for (pending *p = rr->waiting; p; p = p->next) {
        if (p->ws == ws && p->wait != WAIT_IDS) {
            resolve(rr, p, result);
            return;
        }
    }
}

void redis_room_open(redis_room *rr, wsio_ws *ws, int asked, uint64_t since)
{
    pending *p = malloc(sizeof *p);
    if (!p) {
        admit_live(rr, ws, NULL);
        return;
    }
    p->rr = rr;
    p->ws = ws;
    p->fallback = 0;
    p->held_len = 0;
    if (asked == 1)
        resume(rr, p, WAIT_RESUME, since);
    else
        fetch_history(rr, p);
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
                    "replay: message dropped",
                    HOLD_MAX);
    }
    return 1;
}

void redis_room_close(redis_room *rr, wsio_ws *ws)
{
    pending *p = rr->waiting;
    while (p && p->ws != ws)
        p = p->next;
    if (!p)
        return;
    if (p->wait == WAIT_IDS) {
        p->ws = NULL; /* the reply frees it */
    } else {          /* the module calls no on_resumed for a closed ws */
        unlink_pending(rr, p);
        free(p);
    }
}

int redis_room_broadcast(redis_room *rr, const char *json, size_t len)
{
    if (wsio_redis_stream_publish(rr->stream, WSIO_OP_TEXT, json, len) < 0) {
        rr->not_sent++;
        return -1;
    }
    return 0;
}

uint64_t redis_room_not_sent(const redis_room *rr)
{
    return rr->not_sent;
}

static void on_stream_event(wsio_redis_stream *rs, int event, uint64_t a,
                            uint64_t b, void *user)
{
    (void)rs;
    (void)user;
    example_log("chat",
                "redis: %s (last read %llu, now %llu): pages resuming from "
                "before it get the notice",
                event == WSIO_REDIS_STREAM_RESET
                    ? "the stream went back (Redis lost its data)"
                    : "entries were trimmed before this chat read them",
                (unsigned long long)a, (unsigned long long)b);
}

static void log_stats(const redis_room *rr, const char *what)
{
    wsio_redis_stream_stats st;
    wsio_redis_stream_get_stats(rr->stream, &st);
    example_log("chat",
                "redis %s: published %llu, not sent %llu, read %llu, "
                "resumes %llu local %llu from Redis, gaps %llu, resets %llu",
                what, (unsigned long long)st.published,
                (unsigned long long)rr->not_sent, (unsigned long long)st.read,
                (unsigned long long)st.resumes_local,
                (unsigned long long)st.resumes_redis,
                (unsigned long long)st.gaps, (unsigned long long)st.resets);
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
    wsio_redis_stream_stats ss;
    wsio_redis_stream_get_stats(rr->stream, &ss);
    int n = snprintf(
        rr->stats_body, sizeof rr->stats_body,
        "{\"connected\":%d,\"reading\":%d,\"published\":%llu,"
        "\"not_sent\":%llu,\"read\":%llu,\"last_id\":%llu,"
        "\"resumes_local\":%llu,\"resumes_redis\":%llu,\"gaps\":%llu,"
        "\"resets\":%llu,\"lagged\":%llu,\"invalid\":%llu,"
        "\"reconnects\":%llu}\n",
        st.connected, ss.reading, (unsigned long long)ss.published,
        (unsigned long long)rr->not_sent, (unsigned long long)ss.read,
        (unsigned long long)ss.last_id, (unsigned long long)ss.resumes_local,
        (unsigned long long)ss.resumes_redis, (unsigned long long)ss.gaps,
        (unsigned long long)ss.resets, (unsigned long long)ss.lagged,
        (unsigned long long)ss.invalid, (unsigned long long)st.reconnects);
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
    if (rr->redis) {
        wsio_redis_stream_config sc;
        wsio_redis_stream_config_default(&sc);
        sc.maxlen = host->window;
        sc.window = host->window;
        sc.format = host->format;
        sc.on_event = on_stream_event;
        sc.on_resumed = on_resumed;
        sc.user = rr;
        rr->stream = wsio_redis_stream_new(rr->redis, ROOM_TOPIC, &sc, &err);
    }
    if (rr->stream)
        rr->watchdog =
            wsio_timer_new(wsio_server_loop(srv), on_watchdog, rr, &err);
    if (!rr->watchdog) {
        fprintf(stderr, "chat: --redis %s: %s\n", url,
                err == WSIO_EINVAL
                    ? "not a redis://[:password@]host[:port][/db] URL"
                : err == WSIO_ESTATE
                    ? "the room is a Redis stream, which needs one Redis, "
                      "not a cluster"
                    : wsio_strerror(err));
        redis_room_free(rr);
        return NULL;
    }
    (void)wsio_redis_key(rr->redis, "s:" ROOM_TOPIC, rr->stream_key,
                         sizeof rr->stream_key);
    wsio_timer_start(rr->watchdog, 0);
    example_log("chat",
                "redis: one room with every chat on %s, resumable on any "
                "(GET /stats)",
                url);
    return rr;
}

void redis_room_free(redis_room *rr)
{
    if (!rr)
        return;
    /* Newcomers waiting for a reply are answered NULL while the module
     * goes: none may be admitted then. The others wait for the stream,
     * which calls nothing when freed. */
    for (pending *p = rr->waiting, *next; p; p = next) {
        next = p->next;
        if (p->wait == WAIT_IDS) {
            p->ws = NULL;
        } else {
            unlink_pending(rr, p);
            free(p);
        }
    }
    if (rr->stream)
        log_stats(rr, "closing");
    wsio_redis_stream_free(rr->stream);
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

void redis_room_open(redis_room *rr, wsio_ws *ws, int asked, uint64_t since)
{
    (void)rr;
    (void)ws;
    (void)asked;
    (void)since;
}

void redis_room_close(redis_room *rr, wsio_ws *ws)
{
    (void)rr;
    (void)ws;
}

uint64_t redis_room_not_sent(const redis_room *rr)
{
    (void)rr;
    return 0;
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
