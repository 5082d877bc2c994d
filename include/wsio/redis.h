/*
 * wsio/redis.h - libwsio-redis: servers in several processes or on several
 * machines share topics and broadcasts through Redis pub/sub.
 *
 * A separate library (link -lwsio-redis -lwsio and hiredis; pkg-config
 * wsio-redis), so the core stays libc only. It runs hiredis' asynchronous
 * API on the server's own loop (wsio_watch, wsio_timer: any backend, host
 * loop mode too) and is a wsio_broker (wsio/server.h):
 *
 *  - a topic with local subscribers is SUBSCRIBEd as <prefix>t:<topic>,
 *    and UNSUBSCRIBEd when its last local subscriber leaves (no
 *    PSUBSCRIBE: each server hears only the topics it serves);
 *  - wsio_server_broadcast goes to <prefix>b, which every server hears;
 *  - every local publish and broadcast is PUBLISHed in an envelope that
 *    names this server's node id and the opcode; what comes back from
 *    Redis goes to wsio_server_deliver, which drops the server's own;
 *  - two connections: one subscribed, one for PUBLISH and the
 *    application's own commands (wsio_redis_command);
 *  - when Redis goes away, each connection comes back with exponential
 *    backoff and re-subscribes every topic that has local subscribers.
 *    Meanwhile local delivery goes on, and publishes are dropped and
 *    counted (never queued without bound).
 *
 *     wsio_redis_config rc;
 *     wsio_redis_config_default(&rc);
 *     rc.url = "redis://127.0.0.1:6379";
 *     wsio_redis *r = wsio_redis_new(srv, &rc, &err);
 *     ... wsio_loop_run(loop); ...
 *     wsio_redis_free(r);
 *
 * The envelope (docs/redis.md): byte 0 is the version, 1; bytes 1..8 the
 * publisher's node id, big-endian; byte 9 the opcode (1 text, 2 binary);
 * the message follows.
 *
 * With a redis+cluster:// URL the channels are shard channels of a Redis
 * Cluster (Redis 7): SSUBSCRIBE and SPUBLISH on the master that owns each
 * channel's hash slot, so a message reaches only its shard (docs/redis.md,
 * "Redis Cluster").
 *
 * Threads: a wsio_redis belongs to its server's loop thread. Memory: its
 * own objects go through cfg.mem; hiredis allocates with libc.
 */
#ifndef WSIO_REDIS_H
#define WSIO_REDIS_H

#include "wsio/common.h"
#include "wsio/server.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One server's link to Redis (opaque): made by wsio_redis_new, freed by
 * wsio_redis_free, used on the server's loop thread only. */
typedef struct wsio_redis wsio_redis;

/* Bytes before the message in an envelope. */
#define WSIO_REDIS_ENVELOPE_HEADER 10

/* The parts of a redis:// URL. */
typedef struct wsio_redis_url {
    char host[256];     /* name or address; IPv6 without its brackets */
    uint16_t port;      /* default 6379 */
    char user[128];     /* "" unless given (Redis 6 ACL user) */
    char password[256]; /* "" for none; %XX escapes decoded */
    uint32_t db;        /* database number; default 0 */
} wsio_redis_url;

/*
 * wsio_redis_url_parse - read redis://[[user]:password@]host[:port][/db]
 * from url (len bytes, no NUL needed) into out. The host may be an IPv6
 * address in brackets; the port is 1..65535, the db 0..999999999.
 * Returns 0, or WSIO_EINVAL (out is then unspecified).
 */
WSIO_EXTERN int wsio_redis_url_parse(const char *url, size_t len,
                                     wsio_redis_url *out);

/* Seeds a redis+cluster:// URL may name. */
#define WSIO_REDIS_MAX_SEEDS 16

/*
 * wsio_redis_cluster_url_parse - read a Redis Cluster URL,
 * redis+cluster://[[user]:password@]host[:port][,host[:port]...][/0],
 * from url (len bytes, no NUL needed): its seed nodes into seeds[0..max)
 * and their number into *n. Each seed carries the URL's user and password
 * (every node takes the same); db is 0, the only one a cluster has. Hosts
 * and ports read as in wsio_redis_url_parse. Returns 0, or WSIO_EINVAL
 * (not that scheme, a bad seed, more than max, a database other than 0).
 */
WSIO_EXTERN int wsio_redis_cluster_url_parse(const char *url, size_t len,
                                             wsio_redis_url *seeds, size_t max,
                                             size_t *n);

/* How to connect; fill with wsio_redis_config_default() first. */
typedef struct wsio_redis_config {
    size_t struct_size;          /* set by wsio_redis_config_default */
    const char *url;             /* default "redis://127.0.0.1:6379";
                                    redis+cluster://... for a Redis
                                    Cluster: sharded pub/sub (see
                                    wsio_redis_cluster_url_parse) */
    const char *prefix;          /* of every channel; default "wsio:" (at
                                    most 64 bytes). Servers that share
                                    topics use the same one */
    uint32_t backoff_min_ms;     /* first reconnect delay; default 100 */
    uint32_t backoff_max_ms;     /* doubling stops here; default 5000 */
    uint32_t connect_timeout_ms; /* a connect (and AUTH, SELECT) not done
                                    by then is retried; default 2000 */
    size_t max_in_flight;        /* PUBLISHes and wsio_redis_command
                                    commands sent and not yet answered;
                                    over it (Redis slow or stalled) new
                                    publishes are dropped and counted, and
                                    commands refused (WSIO_EAGAIN).
                                    Default 10000 */
    const wsio_mem *mem;         /* NULL: libc; must outlive the module */
} wsio_redis_config;

/* wsio_redis_config_default - fill cfg with the defaults written above. */
#define wsio_redis_config_default(cfg)                                         \
    wsio_redis_config_init((cfg), sizeof *(cfg))

/* wsio_redis_config_init - what wsio_redis_config_default expands to: the same
 * for a struct of size bytes (sizeof *cfg where the program was built), and
 * cfg->struct_size = size; bytes of a newer release are zeroed
 * (docs/DESIGN.md, ABI). */
WSIO_EXTERN void wsio_redis_config_init(wsio_redis_config *cfg, size_t size);

/*
 * wsio_redis_new - connect to Redis and attach to srv as its broker
 * (wsio_server_set_broker: topics that already have subscribers are
 * subscribed). Connecting goes on in the loop: the call does not wait for
 * Redis, and a Redis that is not there yet is retried with backoff.
 * cfg is copied (url and prefix too). Returns the module, or NULL with
 * *err (if not NULL) set to WSIO_EINVAL (bad URL, prefix too long, backoff
 * limits reversed, cfg->struct_size not set by wsio_redis_config_default)
 * or WSIO_ENOMEM.
 */
WSIO_EXTERN wsio_redis *wsio_redis_new(wsio_server *srv,
                                       const wsio_redis_config *cfg, int *err);

/*
 * wsio_redis_free - detach from the server, close both connections (the
 * callbacks of commands still waiting get a NULL reply) and release
 * everything. Before wsio_loop_free; the server may be gone already (freed,
 * or at the end of wsio_server_shutdown: the module hears of it through
 * the broker's on_detach and stops delivering). Not from one of this
 * module's callbacks. NULL does nothing.
 */
WSIO_EXTERN void wsio_redis_free(wsio_redis *r);

/* Counters since wsio_redis_new. */
typedef struct wsio_redis_stats {
    uint64_t published;       /* PUBLISHes sent */
    uint64_t publish_dropped; /* not sent: Redis away, or max_in_flight */
    uint64_t received;        /* messages of other servers delivered */
    uint64_t invalid;         /* messages without a valid envelope */
    uint64_t reconnects;      /* connections made again after a loss */
    uint64_t topics;          /* topics subscribed in Redis now */
    int connected;            /* both connections up and ready; in a
                                 cluster: the slot map is known and every
                                 node link in use is up */
    /* Redis Cluster only (0 otherwise): */
    uint64_t nodes;        /* masters in the slot map now */
    uint64_t moved;        /* -MOVED answers (the map is then fetched
                              again; a publish is retried once) */
    uint64_t slot_maps;    /* slot maps fetched (CLUSTER SLOTS) */
    uint64_t resubscribed; /* subscriptions a node ended (its slot moved,
                              or it went away) and made again */
} wsio_redis_stats;

/* wsio_redis_get_stats - copy the counters into out. */
WSIO_EXTERN void wsio_redis_get_stats(const wsio_redis *r,
                                      wsio_redis_stats *out);

struct redisReply;

/*
 * The answer to wsio_redis_command: reply is hiredis' (include
 * <hiredis/hiredis.h> to read it), borrowed until the callback returns;
 * NULL when the connection was lost first or the module is being freed.
 */
typedef void (*wsio_redis_reply_fn)(wsio_redis *r,
                                    const struct redisReply *reply, void *user);

/*
 * wsio_redis_command - send a command (hiredis' printf-like format: %s for
 * a C string, %b for a pointer and a size_t) on the publishing connection,
 * after everything this module sent there before (so after the
 * PUBLISHes of earlier wsio_server_publish calls). cb (may be NULL) is
 * called once with the reply. Returns 0, WSIO_ECLOSED when Redis is not
 * connected now (cb is not called), WSIO_EAGAIN when max_in_flight
 * commands and publishes already wait for Redis' answer, WSIO_EINVAL for
 * a bad format or WSIO_ENOMEM.
 */
WSIO_EXTERN int wsio_redis_command(wsio_redis *r, wsio_redis_reply_fn cb,
                                   void *user, const char *fmt, ...);

/*
 * wsio_redis_key - write prefix + name into buf (cap bytes, NUL-terminated)
 * for the application's own keys, so that they live beside the channels.
 * Returns the length, or WSIO_ENOSPC.
 */
WSIO_EXTERN int wsio_redis_key(const wsio_redis *r, const char *name, char *buf,
                               size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* WSIO_REDIS_H */
