/*
 * wsio/redis_stream.h - libwsio-redis: a topic stream (wsio/stream.h) kept
 * in a Redis stream, so that its ids are the same on every instance and a
 * client that reconnects to another instance resumes there
 * (docs/resume.md).
 *
 *  - wsio_redis_stream_publish is one script: INCR <prefix>s:<topic>:n,
 *    then XADD <prefix>s:<topic> MAXLEN ~ maxlen with that number as a
 *    field, so entries carry consecutive numbers and a hole is seen.
 *    Nothing is delivered at once: every instance, the publishing one
 *    too, delivers an entry when it reads it back, so all deliver the
 *    same entries in the same order with the same ids.
 *  - each instance reads with XREAD BLOCK on a connection of its own,
 *    from its own cursor (the stream's last entry when it started), and
 *    hands every entry to a local wsio_stream (cfg.window) with the
 *    entry's id: a resume from an id in that window is local and exact.
 *  - a resume from an older id asks Redis (XRANGE from that id, which
 *    must still be there: else WSIO_EGAP); one from an id this instance
 *    has not read yet waits (at most cfg.catch_up_ms) until it has.
 *  - ids: Redis' "ms-seq" as ms * 2^20 + seq (wsio_redis_stream_id_text
 *    writes it back); seq must stay under 2^20 per millisecond.
 *  - Redis restarting without the stream's data (RESET) and entries
 *    trimmed before this instance read them (LAGGED) are reported to
 *    cfg.on_event, and a resume across either gets WSIO_EGAP.
 *
 * Threads: a wsio_redis_stream belongs to its server's loop thread.
 */
#ifndef WSIO_REDIS_STREAM_H
#define WSIO_REDIS_STREAM_H

#include "wsio/redis.h"
#include "wsio/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A topic stream in Redis: made by wsio_redis_stream_new, freed by
 * wsio_redis_stream_free. */
typedef struct wsio_redis_stream wsio_redis_stream;

/* What cfg.on_event reports. */
enum wsio_redis_stream_event {
    /* Redis' stream is behind what this instance read (Redis restarted
     * without its data, or the key was deleted): a is the last id read,
     * b the stream's last id now (0: none) or the first entry after the
     * step back. Reading goes on from there; resumes from before the
     * loss get WSIO_EGAP. */
    WSIO_REDIS_STREAM_RESET = 1,
    /* Entries after this instance's cursor were trimmed (MAXLEN) before it
     * read them (their numbers jump): its live subscribers missed them. a
     * is the last id read before the hole, b the first after it. Resumes
     * from before b get WSIO_EGAP. */
    WSIO_REDIS_STREAM_LAGGED = 2
};

/* Fill with wsio_redis_stream_config_default. */
typedef struct wsio_redis_stream_config {
    size_t struct_size;           /* set by wsio_redis_stream_config_default */
    size_t maxlen;                /* entries Redis keeps (XADD MAXLEN ~, so a
                                     little more); default 10000 */
    size_t window;                /* entries each instance keeps for local
                                     resumes (wsio_stream max_messages);
                                     default 1024 */
    size_t max_bytes;             /* their frames' bytes; default 1 MiB */
    uint32_t block_ms;            /* XREAD BLOCK; default 1000 */
    size_t read_count;            /* XREAD COUNT; default 1000 */
    uint32_t catch_up_ms;         /* how long a resume from an id this instance
                                     has not read yet waits; default 5000 */
    wsio_stream_format_fn format; /* as wsio_stream_config's */
    void *format_user;
    /* RESET or LAGGED (enum wsio_redis_stream_event); may be NULL. */
    void (*on_event)(wsio_redis_stream *rs, int event, uint64_t a, uint64_t b,
                     void *user);
    /* The end of a resume that wsio_redis_stream_subscribe left waiting
     * (it returned WSIO_EAGAIN): result is the number of messages
     * replayed (ws is subscribed), WSIO_EGAP (not subscribed: send a full
     * state), or another error. Not called when ws closed first. */
    void (*on_resumed)(wsio_redis_stream *rs, wsio_ws *ws, int result,
                       void *user);
    void *user; /* given to on_event and on_resumed */
} wsio_redis_stream_config;

/* wsio_redis_stream_config_default - fill cfg with the defaults above. */
#define wsio_redis_stream_config_default(cfg)                                  \
    wsio_redis_stream_config_init((cfg), sizeof *(cfg))

/* wsio_redis_stream_config_init - what wsio_redis_stream_config_default
 * expands to (docs/DESIGN.md, ABI). */
WSIO_EXTERN void wsio_redis_stream_config_init(wsio_redis_stream_config *cfg,
                                               size_t size);

/*
 * wsio_redis_stream_new - a stream for topic (NUL-terminated, up to 255
 * bytes) of r's server, kept in Redis under r's prefix. Connects its
 * reading link at once (retried with r's backoff). Returns it, or NULL
 * with *err set to WSIO_EINVAL (bad name or config, the topic has a
 * stream, r's server is gone), WSIO_ESTATE (r is a Redis Cluster:
 * streams are not cluster-aware) or WSIO_ENOMEM. Free it before r.
 */
WSIO_EXTERN wsio_redis_stream *
wsio_redis_stream_new(wsio_redis *r, const char *topic,
                      const wsio_redis_stream_config *cfg, int *err);

/* wsio_redis_stream_free - close its link and drop its local window;
 * waiting resumes are dropped. NULL does nothing. */
WSIO_EXTERN void wsio_redis_stream_free(wsio_redis_stream *rs);

/*
 * wsio_redis_stream_publish - XADD the message: every instance (this one
 * too) delivers it when it reads it back. Returns 0, or what
 * wsio_redis_command returns (WSIO_ECLOSED while Redis is away: the
 * message is not kept), WSIO_EINVAL.
 */
WSIO_EXTERN int wsio_redis_stream_publish(wsio_redis_stream *rs,
                                          enum wsio_opcode opcode,
                                          const void *data, size_t len);

/*
 * wsio_redis_stream_subscribe - wsio_stream_subscribe across instances:
 * replay what followed since (an id from any instance), then live.
 * Returns the number replayed (done), WSIO_EAGAIN (waiting for Redis or
 * for this instance to read as far as since: cfg.on_resumed says how it
 * ended), WSIO_EGAP, or another error.
 */
WSIO_EXTERN int wsio_redis_stream_subscribe(wsio_redis_stream *rs, wsio_ws *ws,
                                            uint64_t since);

/* wsio_redis_stream_id_text - write id as Redis' "ms-seq" into buf (at
 * least 32 bytes). Returns the length. */
WSIO_EXTERN size_t wsio_redis_stream_id_text(uint64_t id, char *buf);

/* Counters of one stream on this instance. */
typedef struct wsio_redis_stream_stats {
    uint64_t published;     /* XADDs sent */
    uint64_t read;          /* entries read from Redis and delivered */
    uint64_t last_id;       /* the last of them */
    uint64_t resumes_local; /* resumes from the local window */
    uint64_t resumes_redis; /* resumes through XRANGE */
    uint64_t gaps;          /* resumes answered WSIO_EGAP */
    uint64_t resets;        /* WSIO_REDIS_STREAM_RESET events */
    uint64_t lagged;        /* WSIO_REDIS_STREAM_LAGGED events */
    uint64_t invalid;       /* entries without a valid id or fields */
    int reading;            /* the reading link is up */
} wsio_redis_stream_stats;

/* wsio_redis_stream_get_stats - copy the counters into out. */
WSIO_EXTERN void wsio_redis_stream_get_stats(const wsio_redis_stream *rs,
                                             wsio_redis_stream_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* WSIO_REDIS_STREAM_H */
