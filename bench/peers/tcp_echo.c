/*
 * bench/peers/tcp_echo.c - the floor: a TCP echo server with nothing of
 * WebSocket, one thread, epoll (edge-triggered), non-blocking sockets.
 * Whatever arrives goes back; while a connection's reply cannot be written
 * in full, it is not read further (its bytes wait in the kernel).
 *
 * --mode broadcast is the floor of the broadcast rows instead: whatever
 * arrives from any connection is sent to every connection (the sender
 * too, like examples/broadcast.c), one send per connection per read; what
 * a connection cannot take yet waits in its own buffer.
 *
 *     tcp_echo [--host 127.0.0.1] [--port 9000] [--mode echo|broadcast]
 *
 * Prints "tcp_echo: listening on tcp://HOST:PORT/" and runs until SIGINT or
 * SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_CAP 65536

typedef struct peer {
    int fd;
    size_t off, len; /* unsent bytes: buf[off..len) */
    unsigned char *buf;
    size_t cap;   /* broadcast: buf's size, grown on demand */
    size_t index; /* broadcast: place in peers[] */
} peer;

/* Broadcast mode: every connection, to send each read to. */
static peer **peers;
static size_t npeers, peers_cap;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void drop(peer *p)
{
    if (peers && p->index < npeers && peers[p->index] == p) {
        peers[p->index] = peers[--npeers];
        peers[p->index]->index = p->index;
    }
    close(p->fd);
    free(p->buf);
    free(p);
}

/* pump - write what is pending, then read and echo until the socket or the
 * buffer says stop. Returns -1 when the peer is gone. */
static int pump(peer *p)
{
    for (;;) {
        while (p->off < p->len) {
            ssize_t n =
                send(p->fd, p->buf + p->off, p->len - p->off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return 0; /* EPOLLOUT resumes */
            if (n <= 0)
                return -1;
            p->off += (size_t)n;
        }
        p->off = p->len = 0;
        ssize_t n = recv(p->fd, p->buf, BUF_CAP, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0)
            return -1;
        p->len = (size_t)n;
    }
}

/* flush_out - send a broadcast peer's pending bytes; -1 when it is gone. */
static int flush_out(peer *p)
{
    while (p->off < p->len) {
        ssize_t n = send(p->fd, p->buf + p->off, p->len - p->off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0)
            return -1;
        p->off += (size_t)n;
    }
    p->off = p->len = 0;
    return 0;
}

/* fan_out - data to every connection: straight to the socket when nothing
 * waits before it, the rest to the connection's buffer. */
static void fan_out(const unsigned char *data, size_t len)
{
    for (size_t i = 0; i < npeers; i++) {
        peer *q = peers[i];
        size_t done = 0;
        if (q->off == q->len) {
            ssize_t n = send(q->fd, data, len, MSG_NOSIGNAL);
            if (n > 0)
                done = (size_t)n;
        }
        if (done == len)
            continue;
        if (q->len + len - done > q->cap) {
            size_t cap = q->cap ? q->cap : BUF_CAP;
            while (cap < q->len + len - done)
                cap *= 2;
            unsigned char *b = realloc(q->buf, cap);
            if (!b)
                continue; /* the bench will see the missing bytes */
            q->buf = b;
            q->cap = cap;
        }
        memcpy(q->buf + q->len, data + done, len - done);
        q->len += len - done;
    }
}

/* pump_broadcast - flush, then read everything and fan it out; -1 when the
 * peer is gone. */
static int pump_broadcast(peer *p)
{
    static unsigned char in[BUF_CAP];
    if (flush_out(p) < 0)
        return -1;
    for (;;) {
        ssize_t n = recv(p->fd, in, sizeof in, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0)
            return -1;
        fan_out(in, (size_t)n);
    }
}

static int add_peer(peer *p)
{
    if (npeers == peers_cap) {
        size_t cap = peers_cap ? 2 * peers_cap : 1024;
        peer **a = realloc(peers, cap * sizeof *a);
        if (!a)
            return -1;
        peers = a;
        peers_cap = cap;
    }
    p->index = npeers;
    peers[npeers++] = p;
    return 0;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 9000;
    int broadcast = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
            host = argv[++i];
        } else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc &&
                   (strcmp(argv[i + 1], "echo") == 0 ||
                    strcmp(argv[i + 1], "broadcast") == 0)) {
            broadcast = strcmp(argv[++i], "broadcast") == 0;
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: tcp_echo [--host ADDR] [--port N] "
                            "[--mode echo|broadcast]\n");
            return 2;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1 ||
        bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
        listen(lfd, 4096) < 0) {
        fprintf(stderr, "tcp_echo: cannot listen on %s:%d: %s\n", host, port,
                strerror(errno));
        return 1;
    }
    socklen_t sl = sizeof sin;
    getsockname(lfd, (struct sockaddr *)&sin, &sl);
    printf("tcp_echo: listening on tcp://%s:%u/\n", host,
           (unsigned)ntohs(sin.sin_port));
    fflush(stdout);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[256];
    while (!stop) {
        int n = epoll_wait(ep, evs, 256, 1000);
        for (int i = 0; i < n; i++) {
            peer *p = evs[i].data.ptr;
            if (!p) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL,
                                     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    peer *np = calloc(1, sizeof *np);
                    /* The buffer is taken on first read, so an idle
                     * connection costs what a minimal server's would. */
                    if (!np) {
                        close(fd);
                        continue;
                    }
                    np->fd = fd;
                    if (broadcast && add_peer(np) < 0) {
                        drop(np);
                        continue;
                    }
                    struct epoll_event pev = {.events = EPOLLIN | EPOLLOUT |
                                                        EPOLLRDHUP | EPOLLET,
                                              .data.ptr = np};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &pev);
                }
                continue;
            }
            if (broadcast) {
                if (pump_broadcast(p) < 0)
                    drop(p);
                continue;
            }
            if (!p->buf) {
                if (!(evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLERR)))
                    continue; /* writable, nothing to echo yet */
                if (!(p->buf = malloc(BUF_CAP))) {
                    drop(p);
                    continue;
                }
            }
            if (pump(p) < 0)
                drop(p);
        }
    }
    while (npeers)
        drop(peers[npeers - 1]);
    free(peers);
    close(ep);
    close(lfd);
    return 0;
}
