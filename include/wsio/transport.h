/*
 * wsio/transport.h - how a connection reads and writes bytes
 * (DESIGN.md layer "transport").
 *
 * A transport is a const table of functions over one connected,
 * non-blocking fd. The built-in "plain" transport uses the socket as is;
 * a TLS adapter plugs in through the same table, so the layers above never
 * know which one they talk through.
 *
 * Lifetime: the owner embeds a wsio_transport, sets ops and fd, calls open,
 * then read/writev/shutdown as the fd becomes ready, and finally close,
 * which also closes the fd. After a failed open the owner still owns the fd
 * and closes it itself.
 *
 * Threads: the ops tables are constant and shared; a wsio_transport is used
 * by one thread at a time (its connection's loop thread).
 */
#ifndef WSIO_TRANSPORT_H
#define WSIO_TRANSPORT_H

#include "wsio/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One connection's transport: a struct its owner embeds (see below). */
typedef struct wsio_transport wsio_transport;

#define WSIO_TRANSPORT_ABI_VERSION 2

/* The transport table. New members are only appended (abi_version). */
typedef struct wsio_transport_ops {
    unsigned abi_version;
    const char *name; /* "plain", later "tls" */
    /* set up per-connection state for fd (t->fd is set); ctx is the
     * listener's/client's transport_ctx; role is WSIO_ROLE_SERVER or _CLIENT.
     * server_name: a client's, the host of the URL (without brackets), which
     * TLS sends as SNI and checks the server's certificate against; NULL for
     * a server. Valid only during the call: copy what is kept.
     * 0, WSIO_ENOMEM or -errno */
    int (*open)(wsio_transport *t, void *ctx, enum wsio_role role,
                const char *server_name);
    /* drive a transport-level handshake (TLS); 0 when done, WSIO_EAGAIN when it
     * needs I/O (see wants), or a negative error. NULL means none. */
    int (*handshake)(wsio_transport *t);
    /* >0 bytes read, 0 on orderly EOF, WSIO_EAGAIN when nothing now, or -errno
     * (-ECONNRESET ...). EINTR is retried inside. */
    ssize_t (*read)(wsio_transport *t, void *buf, size_t len);
    /* bytes written (may be partial), WSIO_EAGAIN, or -errno (-EPIPE,
     * -ECONNRESET); never raises SIGPIPE (MSG_NOSIGNAL / sendmsg). At most
     * IOV_MAX iovs are used per call. */
    ssize_t (*writev)(wsio_transport *t, const wsio_iov *iov, size_t n);
    /* the events needed to make progress after WSIO_EAGAIN (TLS may need WRITE
     * to read); NULL means READ for read and WRITE for write */
    unsigned (*wants)(wsio_transport *t);
    /* graceful end of our sending side (plain: shutdown(SHUT_WR)); 0 or
     * WSIO_EAGAIN or -errno */
    int (*shutdown)(wsio_transport *t);
    /* release per-connection state and close the fd */
    void (*close)(wsio_transport *t);
} wsio_transport_ops;

/* Embedded by its owner (a server connection, a client), which sets ops
 * and fd; impl belongs to the ops. Every connection holds one: what only
 * open needs is an argument of open, not a member. */
struct wsio_transport {
    const wsio_transport_ops *ops;
    int fd;
    void *impl; /* per-connection state of the ops (TLS session), or NULL */
};

/*
 * wsio_transport_plain - the plain-socket transport: no handshake, no
 * per-connection state (impl stays NULL), ctx ignored; writev sends with
 * MSG_NOSIGNAL: send for one piece or up to 2 KiB of pieces (copied into
 * one), else sendmsg. Returns a constant table; never NULL.
 */
WSIO_EXTERN const wsio_transport_ops *wsio_transport_plain(void);

#ifdef __cplusplus
}
#endif

#endif /* WSIO_TRANSPORT_H */
