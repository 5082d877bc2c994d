/*
 * examples/chat/redis_room.h - the chat's --redis mode: several chat
 * processes (on other ports or machines) are one room.
 *
 * Every event the room sends to everyone (chat messages, joins, leaves,
 * name changes) is published on the wsio topic "chat", which libwsio-redis
 * carries to the other chat processes, and appended to a history list in
 * Redis (<prefix>chat:history, trimmed to the last CHAT_HISTORY_MAX). A
 * newcomer is sent that shared history (LRANGE) before it joins the topic
 * and the room, so it sees the same history on any instance.
 *
 * While Redis is away, each instance keeps serving its own clients:
 * messages reach the local room, publishes and history appends are dropped
 * (counted), and newcomers join without history. GET /stats answers the
 * counters as JSON.
 *
 * Built only when libwsio-redis is (WSIO_HAVE_REDIS); otherwise
 * redis_room_new says so and fails.
 */
#ifndef CHAT_REDIS_ROOM_H
#define CHAT_REDIS_ROOM_H

#include <stddef.h>

#include "wsio.h"

typedef struct redis_room redis_room;

/* How the host's room takes a newcomer in, and its messages. */
typedef struct redis_room_host {
    /* Put ws in the room (after its history was sent). */
    void (*join)(wsio_ws *ws, void *user);
    /* A text message ws sent while it waited for its history, now that it
     * is in the room. */
    void (*handle)(wsio_ws *ws, const char *json, size_t len, void *user);
    void *user;
} redis_room_host;

/* Connect srv to Redis at url (host is copied). Returns NULL, after a
 * message on stderr, when the URL is bad, memory is short or the chat was
 * built without libwsio-redis. */
redis_room *redis_room_new(wsio_server *srv, const char *url,
                           const redis_room_host *host);

/* Disconnect and free (newcomers still waiting are forgotten). NULL does
 * nothing. Before wsio_loop_free. */
void redis_room_free(redis_room *rr);

/* The room's broadcast sink: to every local member and, through Redis, to
 * the other instances' members; appended to the shared history. 0 or -1. */
int redis_room_broadcast(redis_room *rr, const char *json, size_t len);

/* A newcomer: send it the shared history, then subscribe it and join. */
void redis_room_open(redis_room *rr, wsio_ws *ws);

/* A text message from ws: if ws still waits for its history, keep it (up
 * to HOLD_MAX bytes a newcomer; more is dropped) for after the join, and
 * return 1; otherwise return 0 and let the room handle it now. */
int redis_room_hold(redis_room *rr, wsio_ws *ws, const char *json, size_t len);

/* ws closed: if it was still waiting for its history, forget it. */
void redis_room_close(redis_room *rr, wsio_ws *ws);

/* Answer GET /stats with the Redis counters as JSON (the body lives in rr
 * until the next call). */
void redis_room_stats(redis_room *rr, wsio_http_reply *reply);

#endif /* CHAT_REDIS_ROOM_H */
