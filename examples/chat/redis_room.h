/*
 * examples/chat/redis_room.h - the chat's --redis mode: several chat
 * processes (on other ports or machines) are one room, and a page resumes
 * on any of them (docs/resume.md).
 *
 * Every event the room sends to everyone (chat messages, joins, leaves,
 * name changes) is published to a Redis stream (wsio/redis_stream.h:
 * XADD MAXLEN ~ the window); every instance reads it back and delivers it
 * to its own members, with the stream entry's id as the message's first
 * member ({"id":...}). The ids are the same on every instance, so a page
 * that reconnects to another one with ?since=ID gets there exactly what
 * it missed, once, in order. When Redis no longer holds all of it, the
 * page gets the "you missed more" notice and the last CHAT_HISTORY_MAX
 * messages; a newcomer gets those last messages.
 *
 * While Redis is away, nothing crosses and nothing is delivered (a
 * message gets its id from Redis): the sender is told its message was not
 * sent, and publishes that failed are counted. Redis restarting without
 * its data, or entries trimmed before an instance read them, are logged
 * and counted, and pages resuming from before them get the notice. GET
 * /stats answers the counters as JSON.
 *
 * Built only when libwsio-redis is (WSIO_HAVE_REDIS); otherwise
 * redis_room_new says so and fails.
 */
#ifndef CHAT_REDIS_ROOM_H
#define CHAT_REDIS_ROOM_H

#include <stddef.h>

#include "wsio.h"
#include "wsio/stream.h"

typedef struct redis_room redis_room;

/* How the host's room takes a newcomer in, and its messages. */
typedef struct redis_room_host {
    /* Put ws in the room: it is subscribed, and what it missed (or the
     * last messages) is queued on it already. */
    void (*join)(wsio_ws *ws, void *user);
    /* A text message ws sent while it waited for its replay, now that it
     * is in the room. */
    void (*handle)(wsio_ws *ws, const char *json, size_t len, void *user);
    /* Tell ws that Redis no longer holds all it missed (before the last
     * messages are replayed). */
    void (*gap)(wsio_ws *ws, void *user);
    wsio_stream_format_fn format; /* puts a message's id into it */
    size_t window; /* messages Redis and each instance keep for resumes */
    void *user;
} redis_room_host;

/* Connect srv to Redis at url (host is copied). Returns NULL, after a
 * message on stderr, when the URL is bad or names a Redis Cluster (the
 * room is a stream, which needs one Redis), memory is short or the chat
 * was built without libwsio-redis. */
redis_room *redis_room_new(wsio_server *srv, const char *url,
                           const redis_room_host *host);

/* Disconnect and free (newcomers still waiting are forgotten). NULL does
 * nothing. Before wsio_loop_free. */
void redis_room_free(redis_room *rr);

/* The room's broadcast sink: XADD to the room's stream, from which every
 * instance (this one too) delivers it. 0, or -1 when it could not be sent
 * (Redis away). */
int redis_room_broadcast(redis_room *rr, const char *json, size_t len);

/* How many broadcasts Redis did not take (it was away): the host tells
 * the sender when a message of its raised this. */
uint64_t redis_room_not_sent(const redis_room *rr);

/* A newcomer: replay what it missed since the id since (when asked is 1;
 * else it is new), or the notice and the last messages; then subscribe it
 * and join (host.join), at once or when Redis answered. */
void redis_room_open(redis_room *rr, wsio_ws *ws, int asked, uint64_t since);

/* A text message from ws: if ws still waits for its replay, keep it (up
 * to HOLD_MAX bytes a newcomer; more is dropped) for after the join, and
 * return 1; otherwise return 0 and let the room handle it now. */
int redis_room_hold(redis_room *rr, wsio_ws *ws, const char *json, size_t len);

/* ws closed: if it was still waiting for its replay, forget it. */
void redis_room_close(redis_room *rr, wsio_ws *ws);

/* Answer GET /stats with the Redis counters as JSON (the body lives in rr
 * until the next call). */
void redis_room_stats(redis_room *rr, wsio_http_reply *reply);

#endif /* CHAT_REDIS_ROOM_H */
