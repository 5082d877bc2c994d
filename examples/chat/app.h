/*
 * examples/chat/app.h - the chat server's wsio side, shared by the chat on
 * wsio's own loop (main.c) and the one inside a libuv loop
 * (examples/libuv/main.c): the chat-specific options, the server config,
 * and the callbacks that serve the page and connect each WebSocket to the
 * room (room.h).
 */
#ifndef CHAT_APP_H
#define CHAT_APP_H

#include <pthread.h>

#include "example.h"
#include "redis_room.h"
#include "resume.h"
#include "room.h"
#include "wsio/stream.h"
#ifdef WSIO_HAVE_DEFLATE
#include "wsio/deflate.h"
#endif

#define CHAT_MAX_ORIGINS 16

/* What the chat's own options say (defaults from chat_app_init). */
typedef struct chat_options {
    long ping_ms;                          /* --ping-interval */
    const char *origins[CHAT_MAX_ORIGINS]; /* --allow-origin, repeatable */
    size_t norigins;
    const char *redis_url; /* --redis: one room across
                              processes (redis_room.h) */
    size_t window;         /* --window: messages kept for resumes */
} chat_options;

/* --window: its default and its most. */
#define CHAT_WINDOW_DEFAULT 1000
#define CHAT_WINDOW_MAX 1000000

/*
 * One chat: its room and the wsio server it runs on. With --threads the
 * callbacks of several servers' threads share the room: each takes mu, and
 * srv is then the server of the callback in progress, through which the
 * room's broadcasts go (its hub carries them to the other threads).
 */
typedef struct chat_app {
    pthread_mutex_t mu;
    chat_room *room;
    wsio_server *srv;  /* set by the caller after example_listen, and by
                          each callback under mu */
    redis_room *redis; /* chat_app_connect_redis, with --redis */
    chat_options opts;
    chat_sink sink;
    int use_stream; /* set by the caller before chat_app_configure:
                       one server on one thread, so the room's
                       messages go through a topic stream and a page
                       that reconnects with ?since=ID
                       resumes (resume.h); made on the first join.
                       With --redis, Redis' stream does that
                       (redis_room.h) */
    wsio_stream *stream;
#ifdef WSIO_HAVE_DEFLATE
    wsio_deflate pmd; /* what cfg.deflate points to: lives with the app */
#endif
} chat_app;

/* chat_app_init - the default options and an empty room; exit(1) when out
 * of memory. */
void chat_app_init(chat_app *app);

/* chat_app_free - free the room and the stream (after the server is
 * gone). */
void chat_app_free(chat_app *app);

/*
 * chat_app_connect_redis - with --redis, join app->srv to the room shared
 * through Redis; nothing without it. Returns 0, or -1 after a message on
 * stderr (bad URL, or a chat built without libwsio-redis). Free app->redis
 * with redis_room_free before the loop.
 */
int chat_app_connect_redis(chat_app *app);

/*
 * chat_parse_option - if argv[*i] is a chat option, consume it (and its
 * value), advance *i and return 1; else return 0. exit(2) on a bad value.
 */
int chat_parse_option(int argc, char **argv, int *i, chat_options *co);

/* chat_usage - the lines of --help for the chat options. */
const char *chat_usage(void);

/*
 * chat_app_configure - the server config, callbacks and hooks of a chat
 * server with app's options: message limits, heartbeat, origins, and
 * compression in builds with zlib. Pass app as the server's user pointer.
 */
void chat_app_configure(chat_app *app, wsio_server_config *cfg,
                        wsio_ws_callbacks *cb, wsio_server_hooks *hooks);

#endif /* CHAT_APP_H */
