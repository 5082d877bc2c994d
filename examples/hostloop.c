/*
 * examples/hostloop.c - the echo server inside an event loop the program
 * owns: a plain poll() loop written here, standing in for the host's own
 * (libuv, a game loop, a GUI toolkit). wsio says which fds it wants watched
 * and when its next timer is due; the loop calls wsio_loop_on_io and
 * wsio_loop_on_timer when they are.
 *
 *     build/examples/hostloop --port 9003
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"

/* The host's own loop state: the fds wsio asked for, and its timer. */
typedef struct host_loop {
    struct pollfd *fds;
    size_t n, cap;
    uint64_t timer_due; /* UINT64_MAX: none */
} host_loop;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int host_watch(int fd, unsigned events, void *user)
{
    host_loop *h = user;
    size_t i = 0;
    while (i < h->n && h->fds[i].fd != fd)
        i++;
    if (events == 0) { /* stop watching: swap the last entry in */
        if (i < h->n)
            h->fds[i] = h->fds[--h->n];
        return 0;
    }
    if (i == h->n) {
        if (h->n == h->cap) {
            size_t cap = h->cap ? h->cap * 2 : 16;
            struct pollfd *p = realloc(h->fds, cap * sizeof *p);
            if (!p)
                return WSIO_ENOMEM;
            h->fds = p;
            h->cap = cap;
        }
        h->fds[h->n++].fd = fd;
    }
    h->fds[i].events = (short)(((events & WSIO_IO_READ) ? POLLIN : 0) |
                               ((events & WSIO_IO_WRITE) ? POLLOUT : 0));
    h->fds[i].revents = 0;
    return 0;
}

static void host_timer(uint64_t due_ms, void *user)
{
    host_loop *h = user;
    h->timer_due = due_ms;
}

static int on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)user;
    wsio_ws_send(ws, m->opcode, m->data, m->len);
    return 0;
}

/* One turn of the host's loop: poll, then hand wsio what is ready. */
static int host_turn(host_loop *h, wsio_loop *loop)
{
    int timeout = -1;
    if (h->timer_due != UINT64_MAX) {
        uint64_t now = wsio_loop_now(loop);
        timeout = h->timer_due <= now ? 0 : (int)(h->timer_due - now);
    }
    int n = poll(h->fds, (nfds_t)h->n, timeout);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    /* wsio_loop_on_io may change h->fds (watch calls): take the ready
     * fds out first. */
    struct ready {
        int fd;
        unsigned events;
    } ready[64];
    size_t nready = 0;
    for (size_t i = 0; i < h->n && nready < 64; i++) {
        short r = h->fds[i].revents;
        if (!r)
            continue;
        unsigned ev = 0;
        if (r & POLLIN)
            ev |= WSIO_IO_READ;
        if (r & POLLOUT)
            ev |= WSIO_IO_WRITE;
        if (r & (POLLERR | POLLHUP | POLLNVAL))
            ev |= WSIO_IO_HUP;
        ready[nready].fd = h->fds[i].fd;
        ready[nready++].events = ev;
    }
    for (size_t i = 0; i < nready; i++)
        wsio_loop_on_io(loop, ready[i].fd, ready[i].events);
    if (h->timer_due != UINT64_MAX && wsio_loop_now(loop) >= h->timer_due)
        wsio_loop_on_timer(loop);
    return 0;
}

int main(int argc, char **argv)
{
    example_opts o = {.host = "127.0.0.1", .port = 9003};
    for (int i = 1; i < argc; i++) {
        if (example_parse_common(argc, argv, &i, &o))
            continue;
        printf("usage: hostloop [options]\n%s", example_usage_common());
        return strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }

    host_loop h = {.timer_due = UINT64_MAX};
    wsio_host_loop host = {
        .watch = host_watch, .timer = host_timer, .user = &h};
    wsio_loop_config lc;
    wsio_loop_config_default(&lc);
    lc.host = &host;
    int err = 0;
    wsio_loop *loop = wsio_loop_new(&lc, &err);
    if (!loop) {
        fprintf(stderr, "hostloop: %s\n", wsio_strerror(err));
        return 1;
    }
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    wsio_ws_callbacks cb = {.on_message = on_message};
    wsio_server *srv =
        example_listen("hostloop", "ws", loop, &o, &cfg, &cb, NULL, NULL);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!stop_requested) {
        int rc = host_turn(&h, loop);
        if (rc < 0) {
            example_log("hostloop", "poll: %s", wsio_strerror(rc));
            break;
        }
    }
    example_log("hostloop", "closing every connection (1001)");
    wsio_server_shutdown(srv, 5000);
    /* The server detaches from the loop once its last connection is gone
     * (at most 5 s: the shutdown's deadline is one of the loop's timers). */
    while (wsio_loop_alive(loop))
        if (host_turn(&h, loop) < 0)
            break;
    wsio_loop_free(loop);
    free(h.fds);
    example_log("hostloop", "stopped");
    return 0;
}
