/*
 * wsio/server.h - layer 4: a WebSocket server on a wsio_loop.
 *
 * It listens (IPv4 or IPv6), accepts, reads the HTTP request under the
 * handshake limits and timeout, answers plain HTTP requests through
 * on_http (so a page and its WebSocket share one port), lets on_upgrade
 * accept or refuse each upgrade, and then runs each WebSocket (wsio_ws):
 * messages, heartbeat, backpressure, broadcast, topics, graceful shutdown.
 *
 *     wsio_loop *loop = wsio_loop_new(NULL, &err);
 *     wsio_server_config cfg;
 *     wsio_server_config_default(&cfg);
 *     cfg.port = 8080;
 *     wsio_ws_callbacks cb = {.on_message = echo};
 *     wsio_server *srv = wsio_server_new(loop, &cfg, &cb, NULL, NULL, &err);
 *     wsio_loop_run(loop);
 *
 * Threads: a server belongs to its loop's thread. To use several cores,
 * run one loop and one server per thread with reuse_port set, all in one
 * wsio_hub (wsio/hub.h) so that broadcast and topics reach every thread.
 */
#ifndef WSIO_SERVER_H
#define WSIO_SERVER_H

#include "wsio/common.h"
#include "wsio/handshake.h"
#include "wsio/conn.h"
#include "wsio/loop.h"
#include "wsio/proxy.h"
#include "wsio/transport.h"
#include "wsio/ws.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A server: made by wsio_server_new, freed by wsio_server_free (or by
 * wsio_loop_free, or after wsio_server_shutdown). */
typedef struct wsio_server wsio_server;
typedef struct wsio_hub wsio_hub; /* wsio/hub.h */

/* Limits, timeouts and switches; fill with wsio_server_config_default(). */
typedef struct wsio_server_config {
    const char *host;         /* address to bind: "127.0.0.1" (default),
                                 "0.0.0.0", "::", "::1", ... */
    uint16_t port;            /* 0: the kernel picks (wsio_server_port) */
    int backlog;              /* listen backlog; default 511 */
    int reuse_port;           /* SO_REUSEPORT, for one server per thread */
    size_t max_connections;   /* open sockets, handshaking ones included;
                                 over it new ones get 503. Default 10000 */
    wsio_http_limits http;    /* request head limits (8 KiB, 64 headers) */
    wsio_conn_config conn;    /* message, frame and fragment limits */
    uint32_t handshake_timeout_ms; /* from accept to the end of the request
                                      head (and TLS); default 10000 */
    uint32_t close_timeout_ms;  /* wait for the peer's close reply before
                                   terminating; default 5000 */
    uint32_t ping_interval_ms;  /* heartbeat: ping every interval, terminate
                                   a peer that has not sent a pong by the
                                   next ping; 0 (default) off */
    uint32_t idle_timeout_ms;   /* close (1001) a peer that sent nothing
                                   for this long; 0 (default) off */
    size_t max_output_bytes;    /* per-connection high-water mark of queued
                                   output; default 1 MiB */
    size_t low_water_bytes;     /* on_drain fires when the queue falls to
                                   this after going over the mark; default
                                   max_output_bytes / 4 */
    enum wsio_backpressure_policy backpressure; /* what wsio_ws_send does
                                   over the mark (wsio/ws.h); default
                                   QUEUE. Broadcasts and topics drop
                                   instead (DROP, QUEUE) or close (CLOSE) */
    size_t max_queued_bytes;    /* QUEUE's hard cap on one connection's
                                   queued output; 0 (default): 4 x
                                   max_output_bytes */
    size_t memory_budget;       /* bytes the whole server's connections may
                                   hold (their state, request heads,
                                   message assembly, output queues and
                                   broadcast frames); 0 (default)
                                   unlimited. Over it, new connections get
                                   503, and the connections holding the
                                   most buffer memory (a message being
                                   received, output their peer is not
                                   taking) are terminated, largest first,
                                   checked again every 100 ms while over.
                                   Idle connections are never shed */
    const wsio_transport_ops *transport; /* NULL: plain sockets */
    void *transport_ctx;        /* given to transport->open (TLS context) */
    /* Browser origins (cross-site WebSocket hijacking, docs/security.md).
     * With a list, an upgrade whose Origin header is not on it (compared
     * without regard to ASCII case: "https://chat.example.com") gets 403.
     * NULL or 0 entries (default): every Origin is accepted. Copied. */
    const char *const *allowed_origins;
    size_t num_allowed_origins;
    int require_origin;         /* 1: an upgrade without Origin (clients
                                   that are not browsers) gets 403 too;
                                   default 0 lets it through */
    /* Behind a load balancer (docs/security.md). */
    enum wsio_proxy_protocol proxy_protocol; /* every connection starts
                                   with a PROXY header of these versions
                                   (wsio/proxy.h); its client address is the
                                   connection's. Default WSIO_PROXY_OFF */
    const char *const *trusted_proxies; /* peers whose Forwarded or
                                   X-Forwarded-For header is believed:
                                   addresses or CIDR blocks ("10.0.0.0/8",
                                   "::1"). NULL (default): those headers
                                   are ignored. Copied. */
    size_t num_trusted_proxies;
    const wsio_deflate_ext *deflate; /* permessage-deflate (RFC 7692;
                                   wsio/deflate.h makes one), or NULL
                                   (default): offers go unanswered. Must
                                   outlive the server */
    uint64_t node_id;           /* identifies this server to a broker
                                   (wsio_server_node_id); 0 (default):
                                   random */
    wsio_hub *hub;              /* join this hub (wsio/hub.h) at _new, on
                                   the server's thread, and leave it when
                                   freed: publish and broadcast then reach
                                   every server of the hub. NULL (default):
                                   none. Must outlive the server */
} wsio_server_config;

/* wsio_server_config_default - fill cfg with the defaults written above. */
WSIO_EXTERN void wsio_server_config_default(wsio_server_config *cfg);

/*
 * A request as the hooks see it. Everything is borrowed until the hook
 * returns; remote_addr is text ("127.0.0.1", "::1"): the client's, as the
 * PROXY header or a trusted proxy's forwarding header named it, else the
 * socket's peer.
 */
typedef struct wsio_request_info {
    const wsio_http_request *request; /* method, path, query, headers */
    const char *remote_addr;
    uint16_t remote_port;
} wsio_request_info;

/*
 * The answer of on_http, or the refusal of on_upgrade. The body and
 * headers are copied before the hook's caller returns.
 */
typedef struct wsio_http_reply {
    int status;                       /* 200, 404, 401, ... */
    const wsio_http_header *headers;  /* e.g. Content-Type; NULL if none */
    size_t num_headers;
    const void *body;
    size_t body_len;
} wsio_http_reply;

/* What on_upgrade decides for one upgrade request. */
typedef struct wsio_upgrade_decision {
    int accept;              /* 1 (preset): open the WebSocket */
    const char *subprotocol; /* accept: one of the client's offers, or NULL
                                (copied) */
    void *ws_user;           /* accept: the new wsio_ws's user pointer */
    wsio_http_reply reject;  /* refuse: the HTTP answer (status preset 403) */
} wsio_upgrade_decision;

/* Server-level hooks, beside the wsio_ws_callbacks of each connection. */
typedef struct wsio_server_hooks {
    /* A request that is not a WebSocket upgrade. Fill reply (preset: 404
     * with a short body). Return 0, or a negative code to answer 500. */
    int (*on_http)(wsio_server *srv, const wsio_request_info *req,
                   wsio_http_reply *reply, void *user);
    /* A valid upgrade request (RFC 6455 section 4.2.1 already checked;
     * invalid ones get 400/426 without calling this). Fill decision
     * (preset: accept, no subprotocol). Return 0, or a negative code to
     * answer 500. Without this hook every valid upgrade is accepted. */
    int (*on_upgrade)(wsio_server *srv, const wsio_request_info *req,
                      wsio_upgrade_decision *decision, void *user);
} wsio_server_hooks;

/*
 * wsio_server_new - bind, listen and start accepting on loop.
 *
 * cfg, cb and hooks are copied; cfg may be NULL (defaults), hooks may be
 * NULL. user is passed to every callback and hook of this server.
 * Returns the server, or NULL with *err (if not NULL) set to WSIO_ENOMEM,
 * WSIO_EINVAL (bad host, or a trusted proxy that is not an address or
 * CIDR block) or the socket call's -errno (-EADDRINUSE ...). The caller
 * owns the server (see wsio_server_free); user stays the caller's.
 */
WSIO_EXTERN wsio_server *wsio_server_new(wsio_loop *loop,
                                         const wsio_server_config *cfg,
                                         const wsio_ws_callbacks *cb,
                                         const wsio_server_hooks *hooks,
                                         void *user, int *err);

/*
 * wsio_server_free - stop listening and terminate every connection (each
 * on_close is called with 1006). NULL does nothing. For a graceful end use
 * wsio_server_shutdown first.
 */
WSIO_EXTERN void wsio_server_free(wsio_server *srv);

/* wsio_server_port - the port actually bound (useful with port 0). */
WSIO_EXTERN uint16_t wsio_server_port(const wsio_server *srv);

/* wsio_server_get_user - the user pointer given at _new (never freed by
 * wsio). */
WSIO_EXTERN void *wsio_server_get_user(const wsio_server *srv);

/* wsio_server_loop - the loop the server runs on (borrowed). */
WSIO_EXTERN wsio_loop *wsio_server_loop(const wsio_server *srv);

/* wsio_ws_server - the server a ws belongs to (borrowed), or NULL for a
 * client. */
WSIO_EXTERN wsio_server *wsio_ws_server(const wsio_ws *ws);

/*
 * wsio_server_post - wsio_loop_post on the server's loop: run fn(user) on
 * the server's thread. Safe from any thread. Returns 0 or WSIO_ENOMEM.
 */
WSIO_EXTERN int wsio_server_post(wsio_server *srv, void (*fn)(void *user),
                                 void *user);

/*
 * wsio_server_broadcast - send one message to every open connection but
 * except (NULL for none). The frame is encoded once and every connection's
 * queue points at the same bytes; the backpressure policy applies to each
 * recipient. With permessage-deflate it is also compressed once, for the
 * recipients that agreed to server_no_context_takeover (with a window no
 * smaller than the server's); the others get the plain frame. Returns the number of connections it was queued on, or
 * WSIO_EINVAL, WSIO_EUTF8, WSIO_ENOMEM.
 */
WSIO_EXTERN int wsio_server_broadcast(wsio_server *srv, enum wsio_opcode opcode,
                                      const void *data, size_t len,
                                      const wsio_ws *except);

/*
 * wsio_ws_subscribe / wsio_ws_unsubscribe - add ws to, or take it out of,
 * the topic named topic (any bytes, up to 255, copied). A closed
 * connection leaves all its topics. Returns 0 (also when already in / not
 * in), or WSIO_EINVAL, WSIO_ENOMEM. Server connections only (WSIO_ESTATE).
 */
WSIO_EXTERN int wsio_ws_subscribe(wsio_ws *ws, const char *topic);
WSIO_EXTERN int wsio_ws_unsubscribe(wsio_ws *ws, const char *topic);

/*
 * wsio_server_publish - send a message to every subscriber of topic,
 * encoded once as for broadcast. Returns the number of subscribers it was
 * queued on (0 for an unknown topic), or WSIO_EINVAL, WSIO_EUTF8,
 * WSIO_ENOMEM.
 */
WSIO_EXTERN int wsio_server_publish(wsio_server *srv, const char *topic,
                                    enum wsio_opcode opcode, const void *data,
                                    size_t len);

/*
 * What a topic does with a subscriber whose output queue is over
 * max_output_bytes when a message of that topic arrives for it. Under the
 * mark every policy simply queues the message.
 */
enum wsio_slow_policy {
    WSIO_SLOW_DEFAULT = 0,     /* the server's backpressure policy: DROP is
                                  DROP_NEWEST, CLOSE is DISCONNECT */
    WSIO_SLOW_DROP_NEWEST = 1, /* the new message is not queued for it */
    WSIO_SLOW_DROP_OLDEST = 2, /* its oldest queued messages of this topic
                                  are removed until the queue is back
                                  within the mark (or none is left), then
                                  the new one is queued */
    WSIO_SLOW_LATEST_ONLY = 3, /* all its queued messages of this topic are
                                  removed and the new one queued: a slow
                                  reader gets the latest value (prices) */
    WSIO_SLOW_DISCONNECT = 4   /* it is closed with 1008 */
};

/*
 * wsio_server_set_topic_policy - choose what topic (NUL-terminated, up to
 * 255 bytes) does with slow subscribers (see enum wsio_slow_policy). Only
 * messages not yet started are removed: never a frame partly written,
 * control frames, direct sends or other topics' messages; with a
 * transport other than plain sockets (TLS), nor messages in the first
 * 16 KiB of unsent output, which the transport may already hold. Frames
 * from wsio_server_deliver follow the same policy.
 *
 * A topic with a policy other than WSIO_SLOW_DEFAULT is kept, with its
 * policy and counters, while it has no subscribers; setting
 * WSIO_SLOW_DEFAULT on a topic without subscribers forgets it (counters
 * included). Returns 0, or WSIO_EINVAL (bad name or policy), WSIO_ENOMEM.
 */
WSIO_EXTERN int wsio_server_set_topic_policy(wsio_server *srv,
                                             const char *topic,
                                             enum wsio_slow_policy policy);

/* Counters of one topic since the server first held it. */
typedef struct wsio_topic_stats {
    uint64_t subscribers;    /* local subscribers now */
    uint64_t published;      /* messages published or delivered to it */
    uint64_t queued;         /* deliveries queued on subscribers */
    uint64_t dropped_newest; /* deliveries not queued (DROP_NEWEST) */
    uint64_t dropped_oldest; /* queued deliveries removed (DROP_OLDEST) */
    uint64_t replaced;       /* queued deliveries removed (LATEST_ONLY) */
    uint64_t disconnects;    /* subscribers closed (DISCONNECT) */
    enum wsio_slow_policy policy; /* as set */
} wsio_topic_stats;

/*
 * wsio_server_get_topic_stats - copy topic's counters into out. A topic
 * the server does not hold (no subscribers, no policy) reads as zeros with
 * WSIO_SLOW_DEFAULT. Returns 0, or WSIO_EINVAL (bad name).
 */
WSIO_EXTERN int wsio_server_get_topic_stats(const wsio_server *srv,
                                            const char *topic,
                                            wsio_topic_stats *out);

/*
 * A broker carries topic messages between servers (other processes,
 * machines: Redis, NATS, ...). The server tells it which topics have local
 * subscribers and hands it every local publish and broadcast; what arrives
 * from the broker goes in through wsio_server_deliver. wsio has no broker
 * inside: the Redis module (wsio/redis.h) is one. A wsio_hub (threads of
 * one process) is not a broker: it sits beside one, so each thread's
 * server may have both.
 *
 * The callbacks run on the server's thread, inside the wsio call that
 * caused them (wsio_ws_subscribe, a connection closing, wsio_server_publish
 * ...). They must not subscribe, unsubscribe, publish, broadcast or close
 * connections of this server; they queue work (a command to send) and
 * return. Every pointer they receive is borrowed until they return. Any
 * callback may be NULL.
 */
typedef struct wsio_broker {
    /* topic (NUL-terminated) has its first local subscriber. */
    void (*on_first_subscriber)(wsio_server *srv, const char *topic,
                                void *user);
    /* topic's last local subscriber left (unsubscribed or closed). */
    void (*on_last_unsubscribed)(wsio_server *srv, const char *topic,
                                 void *user);
    /* A local wsio_server_publish (topic) or wsio_server_broadcast (topic
     * NULL), after it was queued to the local connections: pass it on. */
    void (*on_publish)(wsio_server *srv, const char *topic,
                       enum wsio_opcode opcode, const void *data, size_t len,
                       void *user);
    void *user;
    /* The broker is detached: replaced (wsio_server_set_broker) or the
     * server is being freed (wsio_server_free, or the end of
     * wsio_server_shutdown, which the application does not see). After
     * this, srv must not be used by the broker. Last, so that brokers
     * written before it still initialize the fields above in order. */
    void (*on_detach)(wsio_server *srv, void *user);
} wsio_broker;

/*
 * wsio_server_set_broker - attach broker (copied) to srv, replacing any
 * other (whose on_detach is called first); NULL detaches. On attach,
 * on_first_subscriber is called at once for every topic that already has
 * local subscribers, so a broker attached (or reconnected) late catches
 * up. The broker's state must outlive its
 * attachment: detach it (or free the server) before freeing it. Returns 0.
 */
WSIO_EXTERN int wsio_server_set_broker(wsio_server *srv,
                                       const wsio_broker *broker);

/*
 * wsio_server_node_id - this server's node id: cfg.node_id, or a random
 * non-zero value chosen at wsio_server_new (shared by every server of one
 * wsio_hub). A broker tags what it sends with it, so that when its own
 * message comes back, wsio_server_deliver drops it.
 */
WSIO_EXTERN uint64_t wsio_server_node_id(const wsio_server *srv);

/*
 * wsio_server_deliver - a message that arrived from a broker: queue it on
 * the local subscribers of topic, or with topic NULL on every open
 * connection, as wsio_server_publish / wsio_server_broadcast would, but
 * without handing it to the broker again. origin is the node id of the
 * server that published it: when it is this server's own, the message was
 * already delivered here and nothing is done (returns 0). Returns the
 * number of connections it was queued on, or WSIO_EINVAL, WSIO_EUTF8,
 * WSIO_ENOMEM.
 */
WSIO_EXTERN int wsio_server_deliver(wsio_server *srv, uint64_t origin,
                                    const char *topic, enum wsio_opcode opcode,
                                    const void *data, size_t len);

/*
 * wsio_server_shutdown - graceful end: stop accepting, send close 1001
 * ("going away") to every open connection, answer handshakes in progress
 * with 503, let queued output flush, and terminate whatever is left after
 * timeout_ms. The server frees itself when its last connection is gone,
 * and then no longer keeps the loop alive: wsio_loop_run returns once
 * nothing else is attached. Do not use srv after this call. Returns 0.
 */
WSIO_EXTERN int wsio_server_shutdown(wsio_server *srv, uint32_t timeout_ms);

/* Counters since the server started. */
typedef struct wsio_server_stats {
    uint64_t connections;       /* open WebSockets now */
    uint64_t connections_total; /* WebSockets opened since start */
    uint64_t handshakes_rejected; /* upgrades refused or invalid */
    uint64_t http_requests;     /* plain HTTP requests answered */
    uint64_t messages_in, messages_out;
    uint64_t bytes_in, bytes_out; /* on the wire, frame headers included */
    uint64_t messages_dropped;  /* not queued by the backpressure policy:
                                   WSIO_EDROPPED (DROP, broadcasts and
                                   topics), WSIO_EQUEUEFULL (QUEUE) */
    uint64_t accept_errors;     /* accept() failures (EMFILE ...) */
    uint64_t memory_in_use;     /* bytes the connections hold now (see
                                   memory_budget) */
    uint64_t connections_shed;  /* terminated to meet memory_budget */
    /* Slow readers, all topics and broadcasts together. messages_dropped
     * above counts messages not queued (DROP, DROP_NEWEST); messages_out
     * counts queued ones, including those removed later here. */
    uint64_t messages_dropped_oldest; /* removed by DROP_OLDEST */
    uint64_t messages_replaced;       /* removed by LATEST_ONLY */
    uint64_t slow_disconnects;        /* closed with 1008 (CLOSE,
                                         DISCONNECT) */
} wsio_server_stats;

/* wsio_server_get_stats - copy the counters into out. */
WSIO_EXTERN void wsio_server_get_stats(const wsio_server *srv,
                                       wsio_server_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* WSIO_SERVER_H */
