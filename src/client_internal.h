/*
 * src/client_internal.h - what client.c, client_dial.c and
 * client_reconnect.c share (internal, never installed).
 *
 * A dialer turns host:port into one connected socket without blocking the
 * loop: resolution on a short-lived thread (or inline for numeric hosts),
 * then connection attempts to each address in turn (RFC 8305). A client
 * connection (client.c) embeds one; a reconnecting wsio_client
 * (client_reconnect.c) makes client connections through
 * wsio__client_connect.
 */
#ifndef WSIO_CLIENT_INTERNAL_H
#define WSIO_CLIENT_INTERNAL_H

#include "ws_internal.h"
#include "wsio/client.h"

typedef struct wsio__dialer wsio__dialer;
typedef struct wsio__resolve_job wsio__resolve_job;

/* One connection attempt in flight: io.fd is -1 when there is none. */
typedef struct wsio__dial_attempt {
    wsio__io_cb io;
    wsio__dialer *d;
} wsio__dial_attempt;

struct wsio__dialer {
    wsio_loop *loop;
    /* The end: fd connected to addr, or fd < 0 the error of the last
     * address tried. Called once, from a loop turn (never from start). */
    void (*done)(wsio__dialer *d, int fd, const wsio_client_addr *addr);
    wsio__resolve_job *job; /* resolution in flight, or NULL */
    wsio_client_addr addrs[WSIO_CLIENT_MAX_ADDRS];
    wsio__dial_attempt tries[WSIO_CLIENT_MAX_ADDRS];
    size_t naddrs, next, live; /* resolved, next to try, in flight */
    int last_err;
    uint32_t delay_ms;    /* Connection Attempt Delay */
    wsio__timer_cb timer; /* the next attempt's start */
    uint8_t reserved, finished;
};

/* Make d ready (reserves its timer); 0 or WSIO_ENOMEM. */
int wsio__dial_init(wsio__dialer *d, wsio_loop *loop,
                    void (*done)(wsio__dialer *, int,
                                 const wsio_client_addr *));
/* Resolve host and connect to port (cfg: resolve hook, attempt delay).
 * Returns 0, or -errno when no resolver thread can be started. */
int wsio__dial_start(wsio__dialer *d, const char *host, const char *port,
                     const wsio_client_config *cfg);
/* Stop: close the attempts in flight, drop a resolution; done is not
 * called. Idempotent. */
void wsio__dial_cancel(wsio__dialer *d);
/* Cancel and give back what init reserved. */
void wsio__dial_release(wsio__dialer *d);

/* wsio_client_connect, for a reconnecting owner (or NULL). */
wsio_ws *wsio__client_connect(wsio_loop *loop, const char *url,
                              const wsio_client_config *cfg,
                              const wsio_ws_callbacks *cb, void *user,
                              wsio_client *owner, int *err);
/* The reconnecting client a connection belongs to, or NULL. */
wsio_client *wsio__client_owner(const wsio_ws *ws);
/* The connection no longer belongs to its owner: app's on_open and
 * on_close replace the owner's wrappers. */
void wsio__client_disown(wsio_ws *ws, const wsio_ws_callbacks *app);
/* cfg as the library reads it (wsio/common.h, ABI): the caller's
 * struct_size bytes over the defaults; NULL gives the defaults. Returns 0,
 * or WSIO_EINVAL (struct_size not set by _config_default, a transport
 * abi_version under 2). */
int wsio__client_config_take(wsio_client_config *out,
                             const wsio_client_config *cfg);
/* Parse url as wsio_client_connect does: 0 or WSIO_EINVAL. */
int wsio__client_check_url(const char *url, const wsio_client_config *cfg);

#endif /* WSIO_CLIENT_INTERNAL_H */
