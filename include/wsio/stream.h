/*
 * wsio/stream.h - layer 4: topic streams, for lossless reconnects.
 *
 * A stream is a server topic with a replay window. Every message published
 * through it gets a 64-bit id, increasing by one per message; the last
 * messages (up to the window's count, bytes and age) are kept encoded, so
 * that a subscriber that reconnects after seeing id S receives, in order
 * and exactly once, every message after S and then the live ones. When the
 * window no longer reaches S the subscriber is not silently given a gap:
 * wsio_stream_subscribe returns WSIO_EGAP and the application sends a full
 * state (or the last messages and a notice). docs/resume.md has the model.
 *
 *     wsio_stream_config sc;
 *     wsio_stream_config_default(&sc);
 *     sc.format = with_id;              // puts the id into the payload
 *     wsio_stream *st = wsio_stream_new(srv, "prices", &sc, &err);
 *     wsio_stream_publish(st, WSIO_OP_TEXT, "42.1", 4, NULL);
 *     // in on_open, with since taken from the URL (?since=ID):
 *     if (wsio_stream_subscribe(st, ws, since) == WSIO_EGAP) ...
 *
 * Threads: a stream belongs to its server's thread; from another thread,
 * publish through wsio_server_post_publish (it goes through the stream).
 * A stream is one server's: its ids mean nothing to another server (a
 * wsio_hub does not carry stream messages; docs/scaling.md).
 */
#ifndef WSIO_STREAM_H
#define WSIO_STREAM_H

#include "wsio/server.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A topic with a replay window: made by wsio_stream_new, freed by
 * wsio_stream_free. */
typedef struct wsio_stream wsio_stream;

/* Where a formatter writes a message's payload (wsio_stream_payload_add). */
typedef struct wsio_stream_payload wsio_stream_payload;

/*
 * wsio_stream_payload_add - append len bytes to the payload being built.
 * Returns 0, or WSIO_ENOMEM, or WSIO_ETOOBIG when the payload outgrows
 * the window's max_bytes (a message must fit the window).
 */
WSIO_EXTERN int wsio_stream_payload_add(wsio_stream_payload *p,
                                        const void *data, size_t len);

/*
 * Builds the payload of message id from what was published (data, len):
 * called once per message, before it is encoded once for every
 * subscriber, so that the id reaches the browser in the payload (for
 * example {"id":17,"text":"..."}). Returns 0, or a negative code that
 * wsio_stream_publish returns (nothing is published, the id is not used).
 */
typedef int (*wsio_stream_format_fn)(uint64_t id, const void *data, size_t len,
                                     wsio_stream_payload *out, void *user);

/* The replay window and the payload; fill with wsio_stream_config_default.
 * The oldest messages leave the window when any bound is passed; the
 * newest message always stays. */
typedef struct wsio_stream_config {
    size_t struct_size;           /* set by wsio_stream_config_default */
    size_t max_messages;          /* messages kept; default 1024, at most
                                     2^30 */
    size_t max_bytes;             /* encoded frame bytes kept (payload and 2 to
                                     10 bytes of header each); default 1 MiB.
                                     A message over it is WSIO_ETOOBIG */
    uint32_t max_age_ms;          /* messages older than this (the loop's clock)
                                     leave; 0 (default): no age bound */
    uint64_t first_id;            /* the id of the first message; default 1.
                                     A server that restarts with a stream
                                     should start past the ids it gave before
                                     (a saved counter, or the time), else its
                                     subscribers' ids are from its future:
                                     wsio_stream_subscribe says WSIO_EGAP */
    wsio_stream_format_fn format; /* NULL (default): the payload is what
                                     was published; the id then travels
                                     only beside it (wsio_stream_publish's
                                     *id) */
    void *format_user;            /* given to format */
    int ids_given; /* 1: ids come only from wsio_stream_publish_id (a
                      Redis stream's); wsio_stream_publish, and
                      wsio_server_publish on the topic, then return
                      WSIO_ESTATE. Default 0 */
} wsio_stream_config;

/* wsio_stream_config_default - fill cfg with the defaults written above. */
#define wsio_stream_config_default(cfg)                                        \
    wsio_stream_config_init((cfg), sizeof *(cfg))

/* wsio_stream_config_init - what wsio_stream_config_default expands to
 * (docs/DESIGN.md, ABI). */
WSIO_EXTERN void wsio_stream_config_init(wsio_stream_config *cfg, size_t size);

/*
 * wsio_stream_new - give topic (NUL-terminated, up to 255 bytes) of srv a
 * replay window. The topic's slow-consumer policy becomes
 * WSIO_SLOW_DISCONNECT: a subscriber that cannot keep up is closed (1008)
 * and resumes from its last id when it reconnects, instead of losing a
 * message silently (setting another policy afterwards gives that up).
 * From then on wsio_server_publish and wsio_server_post_publish on the
 * topic go through the stream (wsio_stream_publish). Returns the stream,
 * or NULL with *err set to WSIO_EINVAL (bad name, bounds, struct_size, or
 * the topic has a stream already) or WSIO_ENOMEM. Free it with
 * wsio_stream_free, before or after the server (and its loop): once the
 * server is freed, the stream only answers WSIO_ECLOSED.
 */
WSIO_EXTERN wsio_stream *wsio_stream_new(wsio_server *srv, const char *topic,
                                         const wsio_stream_config *cfg,
                                         int *err);

/* wsio_stream_free - drop the window: the topic is a plain one again (its
 * subscribers stay, its policy stays WSIO_SLOW_DISCONNECT). st may be
 * NULL. */
WSIO_EXTERN void wsio_stream_free(wsio_stream *st);

/*
 * wsio_stream_publish - give the message the next id, build its payload
 * (cfg.format), encode it once, keep it in the window and queue it on the
 * topic's subscribers. Unlike a plain topic's messages, it reaches this
 * server only: neither the hub nor a broker. *id (may be NULL) gets it.
 * Returns the number of subscribers it was queued on, or WSIO_EINVAL,
 * WSIO_EUTF8, WSIO_ETOOBIG, WSIO_ENOMEM, WSIO_ECLOSED (the server is
 * freed) or format's error (no id used).
 */
WSIO_EXTERN int wsio_stream_publish(wsio_stream *st, enum wsio_opcode opcode,
                                    const void *data, size_t len, uint64_t *id);

/*
 * wsio_stream_publish_id - wsio_stream_publish with the id given: for a
 * stream whose ids come from elsewhere (a Redis stream's entries,
 * wsio/redis_stream.h). Ids must increase (WSIO_EINVAL otherwise) but need
 * not be consecutive: the stream's messages are exactly those given, and
 * a resume from any id from wsio_stream_floor_id() on is exact.
 */
WSIO_EXTERN int wsio_stream_publish_id(wsio_stream *st, uint64_t id,
                                       enum wsio_opcode opcode,
                                       const void *data, size_t len);

/*
 * wsio_stream_send_to - format message id as the stream does (cfg.format)
 * and queue it on ws alone, as a replay is queued (whatever the output
 * holds): a message older than the window, fetched from elsewhere (Redis'
 * XRANGE), for a resume that then goes on with wsio_stream_subscribe.
 * The window does not keep it. Returns a wsio_send_result, or
 * WSIO_EINVAL (ws of another server), WSIO_EUTF8, WSIO_ECLOSED,
 * WSIO_ENOMEM or format's error.
 */
WSIO_EXTERN int wsio_stream_send_to(wsio_stream *st, wsio_ws *ws, uint64_t id,
                                    enum wsio_opcode opcode, const void *data,
                                    size_t len);

/* Subscribe from now on, replaying nothing (wsio_stream_subscribe). */
#define WSIO_STREAM_LIVE UINT64_MAX

/*
 * wsio_stream_subscribe - subscribe ws (a connection of the stream's
 * server) to the topic, after queueing every message of the window whose
 * id is after since, in order. Nothing can come between the replay and
 * the live messages (both happen on the server's thread), so the
 * subscriber sees each message once, without a gap. since 0 replays the
 * whole window while it still starts at first_id; WSIO_STREAM_LIVE
 * replays nothing.
 *
 * Replayed messages are queued whatever the output queue holds (they are
 * bounded by the window's max_bytes, so keep that within the server's
 * max_output_bytes, or the next live message finds the queue over the
 * mark and closes the connection as slow).
 *
 * ws must not be subscribed to the topic already (its live messages would
 * come twice).
 *
 * Returns the number of messages replayed, or WSIO_EGAP (nothing done, not
 * subscribed) when messages after since have left the window, or since is
 * an id this stream has not given yet (a restarted server): the
 * application sends what it must (a full state) and subscribes again,
 * e.g. from wsio_stream_floor_id() or WSIO_STREAM_LIVE. Also
 * WSIO_EINVAL (ws of another server), WSIO_ECLOSED, WSIO_ENOMEM.
 */
WSIO_EXTERN int wsio_stream_subscribe(wsio_stream *st, wsio_ws *ws,
                                      uint64_t since);

/* wsio_stream_last_id - the id of the last message published, or
 * cfg.first_id - 1 before any. */
WSIO_EXTERN uint64_t wsio_stream_last_id(const wsio_stream *st);

/* wsio_stream_oldest_id - the id of the oldest message in the window, or
 * wsio_stream_last_id() + 1 when it is empty. */
WSIO_EXTERN uint64_t wsio_stream_oldest_id(wsio_stream *st);

/* wsio_stream_floor_id - the id of the last message that left the window
 * (cfg.first_id - 1 before any did): a subscriber may resume from any
 * since from it to wsio_stream_last_id(). With consecutive ids it is
 * wsio_stream_oldest_id() - 1. */
WSIO_EXTERN uint64_t wsio_stream_floor_id(wsio_stream *st);

/* What a stream holds and has done. */
typedef struct wsio_stream_stats {
    uint64_t messages;  /* in the window now */
    uint64_t bytes;     /* their encoded frames' bytes */
    uint64_t published; /* messages since wsio_stream_new */
    uint64_t resumes;   /* wsio_stream_subscribe calls that replayed */
    uint64_t replayed;  /* messages queued by those */
    uint64_t gaps;      /* wsio_stream_subscribe calls answered
                           WSIO_EGAP */
} wsio_stream_stats;

/* wsio_stream_get_stats - copy the counters into out. */
WSIO_EXTERN void wsio_stream_get_stats(wsio_stream *st, wsio_stream_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* WSIO_STREAM_H */
