/*
 * wsio/client.h - a WebSocket client on a wsio_loop.
 *
 *     wsio_ws *ws = wsio_client_connect(loop, "ws://127.0.0.1:8080/chat",
 *                                       NULL, &cb, me, &err);
 *
 * connects without blocking (name resolution excepted: getaddrinfo runs in
 * the call, so pass numeric addresses where that matters), sends the
 * opening handshake, checks the answer (RFC 6455 section 4.1), and then
 * behaves like a server's wsio_ws: on_open, on_message, wsio_ws_send ...
 * Every failure before on_open ends in on_close with info->error set.
 *
 * Threads: a client connection belongs to its loop's thread: connect from
 * that thread (or from a function given to wsio_loop_post), and call
 * wsio_ws_* on it only there.
 */
#ifndef WSIO_CLIENT_H
#define WSIO_CLIENT_H

#include "wsio/common.h"
#include "wsio/handshake.h"
#include "wsio/conn.h"
#include "wsio/loop.h"
#include "wsio/transport.h"
#include "wsio/ws.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fill with wsio_client_config_default() first. */
typedef struct wsio_client_config {
    const char *subprotocols;  /* comma-separated offers, or NULL */
    const char *origin;        /* Origin header, or NULL */
    const wsio_http_header *headers; /* extra request headers (copied) */
    size_t num_headers;
    uint32_t connect_timeout_ms; /* TCP connect + handshake; default 10000 */
    uint32_t close_timeout_ms;   /* default 5000 */
    wsio_http_limits http;       /* response head limits */
    wsio_conn_config conn;       /* message, frame and fragment limits */
    size_t max_output_bytes;     /* high-water mark; default 1 MiB */
    size_t low_water_bytes;      /* default max_output_bytes / 4 */
    enum wsio_backpressure_policy backpressure; /* what wsio_ws_send does
                                   over the mark (wsio/ws.h); default
                                   QUEUE: the client's own sends wait */
    size_t max_queued_bytes;     /* QUEUE's hard cap; default 64 MiB, as
                                    a browser buffers what its page sends
                                    (0: 4 x max_output_bytes) */
    const wsio_transport_ops *transport; /* for wss:// URLs (TLS, see
                                            wsio/tls.h); ws:// URLs are
                                            always plain. NULL: ws:// only */
    void *transport_ctx;         /* given to transport->open; the URL's host
                                    reaches it as the transport's
                                    server_name */
    const wsio_deflate_ext *deflate; /* offer permessage-deflate (RFC 7692;
                                   wsio/deflate.h makes one), or NULL
                                   (default). An answer this client did not
                                   offer or cannot accept fails the
                                   handshake (WSIO_EHS_EXTENSION) */
} wsio_client_config;

/* wsio_client_config_default - fill cfg with the defaults written above. */
WSIO_EXTERN void wsio_client_config_default(wsio_client_config *cfg);

/*
 * wsio_client_connect - start connecting to url ("ws://host[:port][/path]"
 * with an optional "?query"; IPv6 hosts in brackets).
 *
 * cfg may be NULL; cfg and cb are copied. user is passed to every callback.
 * On success the returned ws is in progress: wait for on_open or on_close.
 * Returns NULL with *err set (if not NULL) to WSIO_EINVAL (bad URL, or
 * wss:// without a TLS transport), WSIO_ENOMEM, or a name resolution or
 * socket failure (-errno; WSIO_EINVAL for an unknown host); no callback is
 * called then. url is read, not kept. The ws belongs to the library, as a
 * server's do: it is freed after its on_close returns (wsio/ws.h).
 */
WSIO_EXTERN wsio_ws *wsio_client_connect(wsio_loop *loop, const char *url,
                                         const wsio_client_config *cfg,
                                         const wsio_ws_callbacks *cb,
                                         void *user, int *err);

#ifdef __cplusplus
}
#endif

#endif /* WSIO_CLIENT_H */
