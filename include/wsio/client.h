/*
 * wsio/client.h - a WebSocket client on a wsio_loop.
 *
 *     wsio_ws *ws = wsio_client_connect(loop, "ws://127.0.0.1:8080/chat",
 *                                       NULL, &cb, me, &err);
 *
 * connects without blocking the loop: a host name is resolved on a
 * short-lived thread (or by the host's own resolver hook), every address it
 * resolves to is tried in turn, IPv6 and IPv4 interleaved, the next one
 * started when the previous has not connected within attempt_delay_ms (RFC
 * 8305 sections 4 and 5; the first to connect wins). It then sends the
 * opening handshake, checks the answer (RFC 6455 section 4.1), and behaves
 * like a server's wsio_ws: on_open, on_message, wsio_ws_send ... Every
 * failure before on_open ends in on_close with info->error set.
 *
 *     wsio_client *c = wsio_client_new(loop, url, &cfg, &cb, me, &err);
 *
 * is the same with a reconnect policy: a wsio_client outlives its
 * connections and makes a new one (a new wsio_ws) after each ends, with
 * exponential backoff and jitter, until it gives up or is closed.
 *
 * Threads: a client belongs to its loop's thread: connect from that thread
 * (or from a function given to wsio_loop_post), and call wsio_ws_* and
 * wsio_client_* on it only there. Only a resolver hook runs elsewhere.
 */
#ifndef WSIO_CLIENT_H
#define WSIO_CLIENT_H

#include <sys/socket.h>

#include "wsio/common.h"
#include "wsio/handshake.h"
#include "wsio/conn.h"
#include "wsio/loop.h"
#include "wsio/transport.h"
#include "wsio/ws.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A client that reconnects (wsio_client_new). */
typedef struct wsio_client wsio_client;

/* One address a name resolves to: what a resolver hook fills in. */
typedef struct wsio_client_addr {
    struct sockaddr_storage addr; /* AF_INET or AF_INET6, port set */
    socklen_t len;
} wsio_client_addr;

/* The most addresses of one name a client tries. */
#define WSIO_CLIENT_MAX_ADDRS 16

/*
 * A resolver hook: fill out[0..cap) with the addresses of host (port is
 * the URL's port, decimal) in the order to try them, and return how many,
 * or a negative error (WSIO_EINVAL: no such host; -errno ...). Runs on a
 * short-lived thread of its own, so it may block; it may still be running
 * after the client that asked is gone (its answer is then dropped), so
 * what user points to must outlive it.
 */
typedef int (*wsio_resolve_fn)(const char *host, const char *port,
                               wsio_client_addr *out, size_t cap, void *user);

/* What a reconnecting client does next, told to on_reconnect. */
typedef struct wsio_reconnect_info {
    unsigned attempt;   /* 1, 2, ...: the tries since a connection last
                           opened, this one included */
    uint32_t delay_ms;  /* the wait before it (0 when giving up) */
    int last_error;     /* why the last connection ended: its on_close
                           info->error (0 for a close handshake) */
    uint16_t last_code; /* and its close code (1006: no close frame) */
    int giving_up;      /* max_attempts tries failed: no more */
} wsio_reconnect_info;

/* wsio_client_new's reconnect policy: the n-th try after a loss waits a
 * random time in [d/2, d], d = min(max_delay_ms, initial_delay_ms * 2^(n-1)).
 */
typedef struct wsio_reconnect_policy {
    uint32_t initial_delay_ms; /* default 500 */
    uint32_t max_delay_ms;     /* default 30000 */
    unsigned max_attempts;     /* give up after this many tries in a row
                                  that did not open; 0 (default): never */
    /* Called after each connection's on_close with what comes next; may
     * call wsio_client_close or wsio_client_free. NULL: not told. */
    void (*on_reconnect)(wsio_client *c, const wsio_reconnect_info *info,
                         void *user);
} wsio_reconnect_policy;

/* Fill with wsio_client_config_default() first. */
typedef struct wsio_client_config {
    size_t struct_size;              /* set by wsio_client_config_default */
    const char *subprotocols;        /* comma-separated offers, or NULL */
    const char *origin;              /* Origin header, or NULL */
    const wsio_http_header *headers; /* extra request headers (copied) */
    size_t num_headers;
    uint32_t connect_timeout_ms; /* name resolution, TCP connect and the
                                    handshake; default 10000 */
    uint32_t close_timeout_ms;   /* default 5000 */
    wsio_http_limits http;       /* response head limits */
    wsio_conn_config conn;       /* message, frame and fragment limits */
    size_t max_output_bytes;     /* high-water mark; default 1 MiB */
    size_t low_water_bytes;      /* default max_output_bytes / 4 */
    enum wsio_backpressure_policy backpressure; /* what wsio_ws_send does
                                   over the mark (wsio/ws.h); default
                                   QUEUE: the client's own sends wait */
    size_t max_queued_bytes;             /* QUEUE's hard cap; default 64 MiB, as
                                            a browser buffers what its page sends
                                            (0: 4 x max_output_bytes) */
    const wsio_transport_ops *transport; /* for wss:// URLs (TLS, see
                                            wsio/tls.h); ws:// URLs are
                                            always plain. NULL: ws:// only */
    void *transport_ctx;                 /* given to transport->open, with the
                                            URL's host as its server_name */
    const wsio_deflate_ext *deflate;     /* offer permessage-deflate (RFC 7692;
                                       wsio/deflate.h makes one), or NULL
                                       (default). An answer this client did not
                                       offer or cannot accept fails the
                                       handshake (WSIO_EHS_EXTENSION) */
    wsio_resolve_fn resolve;             /* NULL (default): getaddrinfo, on a
                                            thread (numeric hosts need none) */
    void *resolve_user;                  /* resolve's last argument */
    uint32_t attempt_delay_ms;       /* RFC 8305 section 5 Connection Attempt
                                        Delay: start the next address when the
                                        last has not connected by then; 250 */
    wsio_reconnect_policy reconnect; /* wsio_client_new only */
} wsio_client_config;

/* wsio_client_config_default - fill cfg with the defaults written above. */
#define wsio_client_config_default(cfg)                                        \
    wsio_client_config_init((cfg), sizeof *(cfg))

/* wsio_client_config_init - what wsio_client_config_default expands to: the
 * same for a struct of size bytes (sizeof *cfg where the program was built),
 * and cfg->struct_size = size; bytes of a newer release are zeroed
 * (docs/DESIGN.md, ABI). */
WSIO_EXTERN void wsio_client_config_init(wsio_client_config *cfg, size_t size);

/*
 * wsio_client_connect - start one connection to url ("ws://host[:port][/path]"
 * with an optional "?query"; IPv6 hosts in brackets).
 *
 * cfg may be NULL; cfg and cb are copied. user is passed to every callback.
 * On success the returned ws is in progress: wait for on_open or on_close
 * (never called from inside this call). Name resolution and connect
 * failures come to on_close as info->error (WSIO_EINVAL for an unknown
 * host, -ECONNREFUSED ... of the last address tried, WSIO_ETIMEDOUT after
 * connect_timeout_ms). Returns NULL with *err set (if not NULL) to
 * WSIO_EINVAL (bad URL, wss:// without a TLS transport, cfg->struct_size
 * not set by wsio_client_config_default, or a transport abi_version under
 * 2), WSIO_ENOMEM,
 * WSIO_ESTATE (inside wsio_loop_free) or -errno (no resolver thread); no
 * callback is called then. url is read, not kept. The ws belongs to the
 * library, as a server's do: it is freed after its on_close returns
 * (wsio/ws.h). cfg->reconnect is not used.
 */
WSIO_EXTERN wsio_ws *wsio_client_connect(wsio_loop *loop, const char *url,
                                         const wsio_client_config *cfg,
                                         const wsio_ws_callbacks *cb,
                                         void *user, int *err);

/*
 * wsio_client_new - a client that connects to url as wsio_client_connect
 * does, and again after every end, under cfg->reconnect, until
 * wsio_client_close, wsio_client_free or giving up.
 *
 * Each connection is a new wsio_ws with the callbacks cb (copied) and user:
 * on_open runs each time one opens (send what a new session needs there);
 * on_close once for each, also for a try that never opened (info->error
 * says why); then on_reconnect says what comes next. cfg (NULL: defaults)
 * is copied, strings and headers included; the objects it points to
 * (transport, transport_ctx, deflate, resolve_user) must outlive c. Returns the
 * client (connecting), or NULL with *err (if not NULL) set as
 * wsio_client_connect does. Keeps the loop alive until closed or given up;
 * wsio_loop_free frees a client left.
 */
WSIO_EXTERN wsio_client *wsio_client_new(wsio_loop *loop, const char *url,
                                         const wsio_client_config *cfg,
                                         const wsio_ws_callbacks *cb,
                                         void *user, int *err);

/*
 * wsio_client_set_url - the URL of the next connections (copied): from
 * on_reconnect, say, ask for what was missed ("ws://h/feed?since=42",
 * docs/resume.md), since only the application knows what its messages
 * carry. The current connection is not touched. Returns 0, or WSIO_EINVAL
 * (a URL wsio_client_new would refuse; the old one stays), WSIO_ENOMEM.
 */
WSIO_EXTERN int wsio_client_set_url(wsio_client *c, const char *url);

/* wsio_client_ws - the client's current connection (connecting or open),
 * or NULL between connections. Valid until its on_close returns. */
WSIO_EXTERN wsio_ws *wsio_client_ws(const wsio_client *c);

/*
 * wsio_client_close - stop reconnecting and close the current connection
 * (wsio_ws_close with code and reason; a try still connecting is given up,
 * with on_close). The client stays until wsio_client_free but keeps the
 * loop alive no longer. Returns 0 or what wsio_ws_close returned.
 */
WSIO_EXTERN int wsio_client_close(wsio_client *c, unsigned code,
                                  const char *reason, size_t reason_len);

/*
 * wsio_client_free - stop, terminate the current connection (its on_close
 * runs with 1006, from inside this call) and free c; safe from any of its
 * callbacks. NULL does nothing. Before wsio_loop_free (which frees clients
 * left).
 */
WSIO_EXTERN void wsio_client_free(wsio_client *c);

#ifdef __cplusplus
}
#endif

#endif /* WSIO_CLIENT_H */
