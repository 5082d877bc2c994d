/*
 * wsio/hub.h - an in-process hub: several servers, one per thread (each on
 * its own loop, all on one port with cfg.reuse_port), act as one for
 * broadcast and topics.
 *
 *     wsio_hub *hub = wsio_hub_new(NULL, &err);       // main thread
 *     // on each of N threads:
 *     wsio_loop *loop = wsio_loop_new(NULL, &err);
 *     wsio_server_config cfg;
 *     wsio_server_config_default(&cfg);
 *     cfg.port = 8080;
 *     cfg.reuse_port = 1;
 *     cfg.hub = hub;
 *     wsio_server *srv = wsio_server_new(loop, &cfg, &cb, NULL, NULL, &err);
 *     wsio_loop_run(loop);    // ... until shutdown; then wsio_loop_free
 *     // main thread, after every thread has ended:
 *     wsio_hub_free(hub);
 *
 * A wsio_server_publish or wsio_server_broadcast on one server queues the
 * message on its own connections, hands it to its broker, and forwards it
 * to every other server of the hub: the frame is encoded once (plain,
 * with the hub's allocator) and each sibling's thread queues those same
 * bytes on its subscribers (or on all its open connections: `except`
 * applies only on the publishing server). wsio_server_deliver (from a
 * broker) stays on the server it is called on.
 *
 * Order: the messages of one server reach every sibling in the order they
 * were published. Between publishers there is no order.
 *
 * Threads: wsio_hub_new and wsio_hub_free may be called from any thread;
 * a server joins at wsio_server_new and leaves at wsio_server_free (or at
 * the end of wsio_server_shutdown), on its own thread. The member list is
 * behind a mutex; each sibling is woken through a post item of its own
 * (nothing allocated, it cannot fail) at most once per batch of messages. A
 * server leaving while messages for it are in flight drops them (they are
 * freed, not delivered).
 */
#ifndef WSIO_HUB_H
#define WSIO_HUB_H

#include "wsio/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A hub: servers on several threads of one process sharing publish and
 * broadcast (opaque; wsio_hub_new). */
typedef struct wsio_hub wsio_hub;
/* A server (wsio/server.h): the hub is below the servers that join it. */
typedef struct wsio_server wsio_server;

/*
 * wsio_hub_new - make an empty hub with a random non-zero node id.
 *
 * mem (NULL: libc) allocates the hub, the frames it shares and its
 * messages in flight; it is called from every thread of the hub, so it
 * must be thread-safe, and it must stay valid until the hub is freed and
 * every loop of its servers is freed (frames may still sit in their
 * queues). Returns the hub, or NULL with *err (if not NULL) set to
 * WSIO_ENOMEM, or WSIO_EINTERNAL (no mutex, no random source).
 */
WSIO_EXTERN wsio_hub *wsio_hub_new(const wsio_mem *mem, int *err);

/*
 * wsio_hub_free - free the hub. Every server that joined it must have been
 * freed first (wsio_server_free, the end of wsio_server_shutdown, or
 * wsio_loop_free of its loop); their loops may still run. NULL does
 * nothing.
 */
WSIO_EXTERN void wsio_hub_free(wsio_hub *hub);

/*
 * wsio_hub_node_id - the hub's node id, which every server in it takes as
 * its wsio_server_node_id (cfg.node_id is ignored with cfg.hub). So a
 * broker attached to each server (one connection per thread) drops what
 * any server of this process published: the hub delivered it already.
 */
WSIO_EXTERN uint64_t wsio_hub_node_id(const wsio_hub *hub);

/* The default of wsio_hub_set_max_pending: 16 MiB per server. */
#define WSIO_HUB_MAX_PENDING ((size_t)16 << 20)

/*
 * wsio_hub_set_max_pending - bound the bytes of frames waiting in one
 * server's inbox (forwarded to it, not yet taken by its thread): a sibling
 * that falls that far behind, because its thread is busy or stuck, loses
 * the messages that do not fit (counted in its messages_dropped) instead
 * of letting the inbox grow without end. Default WSIO_HUB_MAX_PENDING
 * (16 MiB). Any thread. Returns 0, or WSIO_EINVAL for 0.
 */
WSIO_EXTERN int wsio_hub_set_max_pending(wsio_hub *hub, size_t bytes);

/* Hub counters of one server, since it joined. */
typedef struct wsio_hub_stats {
    uint64_t messages_sent;     /* its publishes and broadcasts forwarded
                                   to at least one sibling */
    uint64_t messages_received; /* from siblings, queued on its
                                   connections (to however many) */
    uint64_t messages_dropped;  /* meant for it and lost: its inbox was
                                   full (wsio_hub_set_max_pending), or out
                                   of memory at the publisher */
} wsio_hub_stats;

/*
 * wsio_hub_get_stats - copy srv's hub counters into out. Call on srv's
 * thread. Returns 0, or WSIO_EINVAL when srv is not in a hub.
 */
WSIO_EXTERN int wsio_hub_get_stats(const wsio_server *srv, wsio_hub_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* WSIO_HUB_H */
