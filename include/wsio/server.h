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
 * Threads: a server belongs to its loop's thread; other threads reach its
 * connections by id (wsio_ws_id, wsio_server_send_to, wsio_server_close_to)
 * and publish or broadcast through wsio_server_post_publish and
 * wsio_server_post_broadcast. To use several cores,
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

/* Which forwarding header a trusted proxy's request is believed by. */
enum wsio_forwarded_header {
    WSIO_FORWARDED_X_FORWARDED_FOR = 0, /* X-Forwarded-For (nginx's
                                           proxy_add_x_forwarded_for) */
    WSIO_FORWARDED_RFC7239 = 1,         /* Forwarded: for=... (RFC 7239) */
    WSIO_FORWARDED_NONE = 2             /* neither: the peer (or PROXY
                                           header) address stays */
};

/* Limits, timeouts and switches; fill with wsio_server_config_default(). */
typedef struct wsio_server_config {
    size_t struct_size;            /* set by wsio_server_config_default */
    const char *host;              /* address to bind: "127.0.0.1" (default),
                                      "0.0.0.0", "::", "::1", ... */
    uint16_t port;                 /* 0: the kernel picks (wsio_server_port) */
    int backlog;                   /* listen backlog; default 511 */
    int reuse_port;                /* SO_REUSEPORT, for one server per thread */
    size_t max_connections;        /* open sockets, handshaking ones included;
                                      over it new ones get 503. Default 10000 */
    wsio_http_limits http;         /* request head limits (8 KiB, 64 headers) */
    wsio_conn_config conn;         /* message, frame and fragment limits */
    uint32_t handshake_timeout_ms; /* from accept to the end of the request
                                      head (and TLS); default 10000 */
    uint32_t close_timeout_ms;     /* wait for the peer's close reply before
                                      terminating; default 5000 */
    uint32_t ping_interval_ms;     /* heartbeat: ping every interval, terminate
                                      a peer that has not sent a pong by the
                                      next ping; 0 (default) off */
    uint32_t idle_timeout_ms;      /* close (1001) a peer that sent nothing
                                      for this long; 0 (default) off */
    size_t max_output_bytes;       /* per-connection high-water mark of queued
                                      output; default 1 MiB */
    size_t low_water_bytes;        /* on_drain fires when the queue falls to
                                      this after going over the mark; default
                                      max_output_bytes / 4 */
    enum wsio_backpressure_policy backpressure; /* what wsio_ws_send does
                                   over the mark (wsio/ws.h); default
                                   QUEUE. Broadcasts and topics drop
                                   instead (DROP, QUEUE) or close (CLOSE) */
    size_t max_queued_bytes; /* QUEUE's hard cap on one connection's
                                queued output; 0 (default): 4 x
                                max_output_bytes */
    size_t memory_budget;    /* bytes the whole server's connections may
                                hold (request heads, message
                                assembly, output queues, broadcast
                                frames, zlib state; not each one's
                                fixed-size structs); 0 (default)
                                unlimited. Over it, new connections get
                                503, and the connections holding the
                                most buffer memory (a message being
                                received, output their peer is not
                                taking) are terminated, largest first,
                                checked again every 100 ms while over.
                                Idle connections are never shed */
    const wsio_transport_ops *transport; /* NULL: plain sockets */
    void *transport_ctx; /* given to transport->open (TLS context) */
    /* Browser origins (cross-site WebSocket hijacking, docs/security.md).
     * With a list, an upgrade whose Origin header is not on it (compared
     * without regard to ASCII case: "https://chat.example.com") gets 403.
     * NULL or 0 entries (default): every Origin is accepted. Copied. */
    const char *const *allowed_origins;
    size_t num_allowed_origins;
    int require_origin; /* 1: an upgrade without Origin (clients
                           that are not browsers) gets 403 too;
                           default 0 lets it through */
    /* Behind a load balancer (docs/security.md). */
    enum wsio_proxy_protocol proxy_protocol; /* every connection starts
                                   with a PROXY header of these versions
                                   (wsio/proxy.h); its client address is the
                                   connection's. Default WSIO_PROXY_OFF */
    const char *const *trusted_proxies;      /* peers whose forwarding header
                                        (forwarded_header) is believed:
                                        addresses or CIDR blocks ("10.0.0.0/8",
                                        "::1"). NULL (default): those headers
                                        are ignored. Copied. */
    size_t num_trusted_proxies;
    enum wsio_forwarded_header forwarded_header; /* the one forwarding
                                   header believed from trusted proxies
                                   (the other is ignored); default
                                   WSIO_FORWARDED_X_FORWARDED_FOR */
    /* Per client address (docs/security.md): the address wsio believes
     * (PROXY header, then the forwarding header), IPv6 grouped by
     * addr_prefix_v6 bits. A connection is counted under its socket
     * peer at accept, unless that peer is a trusted proxy or the listener
     * expects a PROXY header, and moved to the believed client once the
     * PROXY header or request head names one; connections still counted
     * under nobody (a trusted proxy's own) are not limited. Counted per
     * server: one server per thread (reuse_port) counts separately. */
    size_t max_connections_per_addr;          /* open sockets of one address,
                                            handshaking ones included; over it,
                                            503. 0 (default): no limit */
    uint32_t max_handshakes_per_addr_per_sec; /* new connections one
                                   address may start per second (a token
                                   bucket holding one second's worth);
                                   over it, 429. 0 (default): no limit */
    uint8_t addr_prefix_v6;          /* leading bits of an IPv6 address that
                                        name one client (1..128); 0 (default)
                                        means 64, one subnet per client */
    const wsio_deflate_ext *deflate; /* permessage-deflate (RFC 7692;
                                   wsio/deflate.h makes one), or NULL
                                   (default): offers go unanswered. Must
                                   outlive the server */
    uint64_t node_id;                /* identifies this server to a broker
                                        (wsio_server_node_id); 0 (default):
                                        random */
    wsio_hub *hub;                   /* join this hub (wsio/hub.h) at _new, on
                                        the server's thread, and leave it when
                                        freed: publish and broadcast then reach
                                        every server of the hub. NULL (default):
                                        none. Must outlive the server */
    /* Subprotocols the server speaks, in its order of preference (RFC
     * 6455 section 4.2.2, /subprotocol/): the first one the client offers
     * in Sec-WebSocket-Protocol is chosen, and on_upgrade sees it preset
     * in decision->subprotocol. None offered: no header is sent, and the
     * client decides whether to go on. Each must be an HTTP token
     * (WSIO_EINVAL otherwise). NULL or 0 entries (default): none. Copied. */
    const char *const *subprotocols;
    size_t num_subprotocols;
    int keep_request;      /* 1: each connection keeps its upgrade
                              request (wsio_ws_request) while open: the
                              head as received (at most
                              http.max_header_bytes) plus 32 bytes per
                              header and about 100 more, counted in
                              memory_budget. 0 (default): not kept */
    size_t max_post_bytes; /* bytes that calls from other threads
                              (wsio_server_send_to ...) may have
                              waiting for the server's thread; over it
                              they return WSIO_EAGAIN. Default 16 MiB */
    int defer_accept;      /* 1: TCP_DEFER_ACCEPT (Linux; ignored elsewhere):
                              the kernel hands a connection over only once its
                              first bytes (request, PROXY header or TLS hello)
                              arrived, or after about handshake_timeout_ms,
                              so each is read at once, without a wake-up and
                              an empty read first (docs/PERFORMANCE.md).
                              Silent sockets then wait in the kernel, unseen
                              by max_connections and the per-address limits
                              until accepted. 0 (default): off */
} wsio_server_config;

/* wsio_server_config_default - fill cfg with the defaults written above. */
#define wsio_server_config_default(cfg)                                        \
    wsio_server_config_init((cfg), sizeof *(cfg))

/* wsio_server_config_init - what wsio_server_config_default expands to: the
 * same for a struct of size bytes (sizeof *cfg where the program was built),
 * and cfg->struct_size = size; bytes of a newer release are zeroed
 * (docs/DESIGN.md, ABI). */
WSIO_EXTERN void wsio_server_config_init(wsio_server_config *cfg, size_t size);

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
    const char *subprotocol; /* wsio_ws_request: the one chosen, "" when
                                none. NULL in on_http and on_upgrade (see
                                decision->subprotocol there) */
} wsio_request_info;

/*
 * The answer of on_http, or the refusal of on_upgrade. The body and
 * headers are copied before the hook's caller returns.
 */
typedef struct wsio_http_reply {
    int status;                      /* 200, 404, 401, ... */
    const wsio_http_header *headers; /* e.g. Content-Type; NULL if none */
    size_t num_headers;
    const void *body;
    size_t body_len;
} wsio_http_reply;

/* What on_upgrade decides for one upgrade request. */
typedef struct wsio_upgrade_decision {
    int accept;              /* 1 (preset): open the WebSocket */
    const char *subprotocol; /* accept: one of the client's offers, or NULL
                                (copied). Preset: the first of
                                cfg.subprotocols the client offered, or
                                NULL. A value the client did not offer
                                fails the upgrade: 500, counted in
                                upgrade_errors */
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
    /* A wsio_server_send_to (opcode WSIO_OP_TEXT or WSIO_OP_BINARY) or
     * wsio_server_close_to (WSIO_OP_CLOSE) of id ran on the server's
     * thread; result is what wsio_ws_send (a wsio_send_result or an error)
     * or wsio_ws_close returned, or WSIO_ECLOSED when id was no longer
     * open (also counted in stats.sends_to_closed). May be NULL. */
    void (*on_sent_to)(wsio_server *srv, uint64_t id, enum wsio_opcode opcode,
                       int result, void *user);
} wsio_server_hooks;

/*
 * wsio_server_new - bind, listen and start accepting on loop.
 *
 * cfg, cb and hooks are copied; cfg may be NULL (defaults), hooks may be
 * NULL. user is passed to every callback and hook of this server.
 * Returns the server, or NULL with *err (if not NULL) set to WSIO_ENOMEM,
 * WSIO_EINVAL (bad host, a trusted proxy that is not an address or CIDR
 * block, cfg->struct_size not set by wsio_server_config_default, or a
 * transport abi_version under 2) or the socket call's -errno
 * (-EADDRINUSE ...). The caller
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
 * wsio_ws_id - the connection's id: set before on_open, never 0, never
 * reused within its server (not in order), so it may be kept after the
 * wsio_ws is gone, given to other threads, and used with
 * wsio_server_find, wsio_server_send_to and wsio_server_close_to. 0 for
 * a client's ws. Ids of different servers (threads of a hub) may be
 * equal.
 */
WSIO_EXTERN uint64_t wsio_ws_id(const wsio_ws *ws);

/*
 * wsio_server_find - the open connection with this id, or NULL (never
 * opened, or past OPEN: from the start of its on_close on). Server's
 * thread only: the way to send by id there and get the result at once.
 */
WSIO_EXTERN wsio_ws *wsio_server_find(const wsio_server *srv, uint64_t id);

/*
 * wsio_ws_request - the upgrade request of a server connection, kept
 * with cfg.keep_request: method, path, query and headers as received,
 * the remote address (as wsio_ws_remote_addr) and the subprotocol
 * chosen. Valid from on_open until on_close returns. NULL without
 * keep_request, and for a client's ws.
 */
WSIO_EXTERN const wsio_request_info *wsio_ws_request(const wsio_ws *ws);

/*
 * Calls safe from any thread. Each copies its arguments, queues them for
 * the server's thread (one wsio_loop_post per batch) and returns; the
 * server's thread applies them in the order they were queued. A send or
 * close applies only if id is still open then (wsio_server_find), and its
 * result goes to the on_sent_to hook, WSIO_ECLOSED (and
 * stats.sends_to_closed) for an id no longer open. They post even when
 * called on the server's thread, so they always behave the same; there,
 * wsio_server_find + wsio_ws_send gives the result at once.
 *
 * srv must stay valid during the call: stop calling (join the threads
 * that do) before wsio_server_free, and do not use them with
 * wsio_server_shutdown, after which the server frees itself. What is
 * still queued when the server is freed is dropped. The copy is made with
 * the loop's allocator on the calling thread (as wsio_loop_post does), so
 * a wsio_mem given to the loop must be thread-safe.
 *
 * Each returns 0 (queued), or WSIO_EINVAL (bad opcode or arguments),
 * WSIO_EAGAIN (cfg.max_post_bytes are already waiting), WSIO_ENOMEM.
 */

/* wsio_server_send_to - wsio_ws_send(ws of id, opcode, data, len). */
WSIO_EXTERN int wsio_server_send_to(wsio_server *srv, uint64_t id,
                                    enum wsio_opcode opcode, const void *data,
                                    size_t len);

/* wsio_server_close_to - wsio_ws_close(ws of id, code, reason,
 * reason_len); reason up to 123 bytes. */
WSIO_EXTERN int wsio_server_close_to(wsio_server *srv, uint64_t id,
                                     unsigned code, const char *reason,
                                     size_t reason_len);

/* wsio_server_post_publish - wsio_server_publish_n(srv, topic, topic_len,
 * opcode, data, len) on the server's thread. */
WSIO_EXTERN int wsio_server_post_publish(wsio_server *srv, const char *topic,
                                         size_t topic_len,
                                         enum wsio_opcode opcode,
                                         const void *data, size_t len);

/* wsio_server_post_broadcast - wsio_server_broadcast(srv, opcode, data,
 * len, NULL) on the server's thread. */
WSIO_EXTERN int wsio_server_post_broadcast(wsio_server *srv,
                                           enum wsio_opcode opcode,
                                           const void *data, size_t len);

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
 * smaller than the server's); the others get the plain frame. Returns the
 * number of connections it was queued on, or WSIO_EINVAL, WSIO_EUTF8,
 * WSIO_ENOMEM.
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
 * wsio_ws_subscribe_n / wsio_ws_unsubscribe_n - the same with the topic
 * given as topic_len bytes (not NUL-terminated: a topic taken from a
 * message payload). A NUL byte inside is WSIO_EINVAL.
 */
WSIO_EXTERN int wsio_ws_subscribe_n(wsio_ws *ws, const char *topic,
                                    size_t topic_len);
WSIO_EXTERN int wsio_ws_unsubscribe_n(wsio_ws *ws, const char *topic,
                                      size_t topic_len);

/*
 * wsio_server_publish - send a message to every subscriber of topic,
 * encoded once as for broadcast. Returns the number of subscribers it was
 * queued on (0 for an unknown topic), or WSIO_EINVAL, WSIO_EUTF8,
 * WSIO_ENOMEM.
 */
WSIO_EXTERN int wsio_server_publish(wsio_server *srv, const char *topic,
                                    enum wsio_opcode opcode, const void *data,
                                    size_t len);

/* wsio_server_publish_n - wsio_server_publish with the topic given as
 * topic_len bytes (not NUL-terminated; a NUL byte inside is WSIO_EINVAL). */
WSIO_EXTERN int wsio_server_publish_n(wsio_server *srv, const char *topic,
                                      size_t topic_len, enum wsio_opcode opcode,
                                      const void *data, size_t len);

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
    uint64_t subscribers;         /* local subscribers now */
    uint64_t published;           /* messages published or delivered to it */
    uint64_t queued;              /* deliveries queued on subscribers */
    uint64_t dropped_newest;      /* deliveries not queued (DROP_NEWEST) */
    uint64_t dropped_oldest;      /* queued deliveries removed (DROP_OLDEST) */
    uint64_t replaced;            /* queued deliveries removed (LATEST_ONLY) */
    uint64_t disconnects;         /* subscribers closed (DISCONNECT) */
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
    size_t struct_size; /* sizeof(wsio_broker): WSIO_BROKER_INIT, or
                           .struct_size = sizeof b (docs/DESIGN.md, ABI) */
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

/* WSIO_BROKER_INIT - an initializer for a wsio_broker with its struct_size
 * set and every callback NULL: wsio_broker b = WSIO_BROKER_INIT; */
#define WSIO_BROKER_INIT                                                       \
    {                                                                          \
        .struct_size = sizeof(wsio_broker)                                     \
    }

/*
 * wsio_server_set_broker - attach broker (copied) to srv, replacing any
 * other (whose on_detach is called first); NULL detaches. On attach,
 * on_first_subscriber is called at once for every topic that already has
 * local subscribers, so a broker attached (or reconnected) late catches
 * up. The broker's state must outlive its
 * attachment: detach it (or free the server) before freeing it. Returns 0,
 * or WSIO_EINVAL (nothing changed) when broker->struct_size is not set.
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
    uint64_t connections;         /* open WebSockets now */
    uint64_t connections_total;   /* WebSockets opened since start */
    uint64_t handshakes_rejected; /* upgrades refused or invalid */
    uint64_t http_requests;       /* plain HTTP requests answered */
    uint64_t messages_in, messages_out;
    uint64_t bytes_in, bytes_out; /* on the wire, frame headers included */
    uint64_t messages_dropped;    /* not queued by the backpressure policy:
                                     WSIO_EDROPPED (DROP, broadcasts and
                                     topics), WSIO_EQUEUEFULL (QUEUE) */
    uint64_t accept_errors;       /* accept() failures (EMFILE ...) */
    uint64_t memory_in_use;       /* bytes the connections hold now (see
                                     memory_budget) */
    uint64_t connections_shed;    /* terminated to meet memory_budget */
    /* Slow readers, all topics and broadcasts together. messages_dropped
     * above counts messages not queued (DROP, DROP_NEWEST); messages_out
     * counts queued ones, including those removed later here. */
    uint64_t messages_dropped_oldest; /* removed by DROP_OLDEST */
    uint64_t messages_replaced;       /* removed by LATEST_ONLY */
    uint64_t slow_disconnects;        /* closed with 1008 (CLOSE,
                                         DISCONNECT) */
    /* Per-address limits (max_connections_per_addr and
     * max_handshakes_per_addr_per_sec): connections refused. */
    uint64_t addr_connections_refused; /* 503: the address had its most */
    uint64_t addr_handshakes_limited;  /* 429: it started too many */
    uint64_t upgrade_errors;  /* upgrades on_upgrade accepted that could
                                 not be answered as asked: a subprotocol
                                 the client did not offer, or not a
                                 token; answered 500 */
    uint64_t sends_to_closed; /* wsio_server_send_to / close_to whose id
                                 was no longer open */
} wsio_server_stats;

/* wsio_server_get_stats - copy the counters into out. */
WSIO_EXTERN void wsio_server_get_stats(const wsio_server *srv,
                                       wsio_server_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* WSIO_SERVER_H */
