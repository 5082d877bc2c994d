/*
 * src/transport_plain.c - the plain-socket transport (wsio/transport.h).
 *
 * A thin layer over a connected, non-blocking socket: no handshake and no
 * per-connection state. It maps the system's results onto the transport
 * contract: EAGAIN/EWOULDBLOCK become WSIO_EAGAIN, EINTR is retried, other
 * errors come back as -errno, and writes never raise SIGPIPE.
 */
#define _XOPEN_SOURCE 700 /* IOV_MAX in <limits.h> */

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"
#include "wsio/transport.h"

/*
 * iovs handed to one sendmsg: the wsio_iov array is copied into struct
 * iovec on the stack, so keep that copy small. A longer list is a partial
 * write, which every caller handles anyway.
 */
#if defined(IOV_MAX) && IOV_MAX < 128
#define WRITEV_BATCH IOV_MAX
#else
#define WRITEV_BATCH 128
#endif

/* Up to this many bytes in several pieces are copied into one buffer and
 * sent in one piece (send_gathered). */
#define GATHER_MAX 2048

/* Where MSG_NOSIGNAL is missing (older macOS), SO_NOSIGPIPE set in open
 * does its job. */
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

static int is_again(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK;
}

static int plain_open(wsio_transport *t, void *ctx, enum wsio_role role,
                      const char *server_name)
{
    (void)ctx;
    (void)role;
    (void)server_name;
    t->impl = NULL;
#ifdef SO_NOSIGPIPE
    int one = 1;
    if (setsockopt(t->fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one) < 0)
        return -errno;
#endif
    return 0;
}

static ssize_t plain_read(wsio_transport *t, void *buf, size_t len)
{
    /* read() returns 0 for len 0 too, which would look like EOF. */
    if (len == 0)
        return -EINVAL;
    for (;;) {
        ssize_t n = read(t->fd, buf, len);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return is_again(errno) ? WSIO_EAGAIN : -errno;
    }
}

/* The result of one send or sendmsg in the transport's terms. */
static ssize_t sent_or_error(ssize_t sent)
{
    if (sent >= 0)
        return sent;
    return is_again(errno) ? WSIO_EAGAIN : -errno;
}

static ssize_t send_one(int fd, const void *buf, size_t len)
{
    ssize_t sent;
    do
        sent = send(fd, buf, len, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    return sent_or_error(sent);
}

/*
 * Small pieces (a turn's broadcast frames, a few dozen bytes each) are
 * copied into one buffer and sent with send: the kernel copies an iovec
 * array's pieces one by one and checks each, which costs more per piece
 * than this copy, and send skips importing the array at all.
 */
static ssize_t send_gathered(int fd, const wsio_iov *iov, size_t n,
                             size_t total)
{
    uint8_t buf[GATHER_MAX];
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (iov[i].len > 0) /* base may be NULL then */
            memcpy(buf + at, iov[i].base, iov[i].len);
        at += iov[i].len;
    }
    return send_one(fd, buf, total);
}

static ssize_t plain_writev(wsio_transport *t, const wsio_iov *iov, size_t n)
{
    size_t count = n < WRITEV_BATCH ? n : WRITEV_BATCH;
    if (count == 0)
        return 0;
    if (count == 1)
        return send_one(t->fd, iov[0].base, iov[0].len);
    size_t total = 0, fit = 0;
    while (fit < count && iov[fit].len <= GATHER_MAX - total)
        total += iov[fit++].len;
    if (fit == count)
        return send_gathered(t->fd, iov, count, total);
    struct iovec vec[WRITEV_BATCH];
    for (size_t i = 0; i < count; i++) {
        /* sendmsg does not write through iov_base; the cast only drops a
         * const that struct iovec lacks. */
        vec[i].iov_base = (void *)(uintptr_t)iov[i].base;
        vec[i].iov_len = iov[i].len;
    }
    struct msghdr msg = {0};
    msg.msg_iov = vec;
    msg.msg_iovlen =
        count; /* int on some systems: count <= WRITEV_BATCH fits */
    ssize_t sent;
    do
        sent = sendmsg(t->fd, &msg, MSG_NOSIGNAL);
    while (sent < 0 && errno == EINTR);
    return sent_or_error(sent);
}

static int plain_shutdown(wsio_transport *t)
{
    return shutdown(t->fd, SHUT_WR) < 0 ? -errno : 0;
}

static void plain_close(wsio_transport *t)
{
    /* Not retried on EINTR: on Linux the fd is released either way, and a
     * retry could close a number another thread just got. */
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    t->impl = NULL;
}

static const wsio_transport_ops plain_ops = {
    .abi_version = WSIO_TRANSPORT_ABI_VERSION,
    .name = "plain",
    .open = plain_open,
    .handshake = NULL,
    .read = plain_read,
    .writev = plain_writev,
    .wants = NULL,
    .shutdown = plain_shutdown,
    .close = plain_close,
};

const wsio_transport_ops *wsio_transport_plain(void)
{
    return &plain_ops;
}
