/*
 * examples/hostloop_epoll.c - the echo server inside an epoll loop the
 * program owns, with wsio's timer on a timerfd in the same set: the recipe
 * of docs/loop.md ("Host loop mode on epoll"). Each watch call says what
 * it is (ADD, MODIFY, REMOVE), so it maps onto one epoll_ctl.
 *
 *     build/examples/hostloop_epoll --port 9004
 */
#include <stdio.h>
#include <string.h>

#include "example.h"

#ifdef __linux__
#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

typedef struct host_loop {
    int epfd;
    int timerfd; /* wsio's next timer, CLOCK_MONOTONIC like wsio's clock */
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
    struct epoll_event ev = {.data.fd = fd};
    ev.events = ((events & WSIO_IO_READ) ? EPOLLIN : 0u) |
                ((events & WSIO_IO_WRITE) ? EPOLLOUT : 0u);
    int op;
    switch (events & WSIO_WATCH_OP_MASK) {
    case WSIO_WATCH_ADD:
        op = EPOLL_CTL_ADD;
        break;
    case WSIO_WATCH_MODIFY:
        op = EPOLL_CTL_MOD;
        break;
    default: /* WSIO_WATCH_REMOVE */
        op = EPOLL_CTL_DEL;
        break;
    }
    return epoll_ctl(h->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

/* due_ms is on wsio_clock_ms (CLOCK_MONOTONIC): an absolute timerfd time.
 * One already past fires at once. */
static void host_timer(uint64_t due_ms, void *user)
{
    host_loop *h = user;
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (due_ms != UINT64_MAX) {
        its.it_value.tv_sec = (time_t)(due_ms / 1000);
        its.it_value.tv_nsec = (long)(due_ms % 1000) * 1000000L;
        if (due_ms == 0)
            its.it_value.tv_nsec = 1; /* all zero would disarm */
    }
    (void)timerfd_settime(h->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static int on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)user;
    wsio_ws_send(ws, m->opcode, m->data, m->len);
    return 0;
}

/* One turn: wait, then hand wsio each ready fd and the timer. */
static int host_turn(host_loop *h, wsio_loop *loop)
{
    struct epoll_event ev[64];
    int n = epoll_wait(h->epfd, ev, 64, -1);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    int timer_due = 0;
    for (int i = 0; i < n; i++) {
        int fd = ev[i].data.fd;
        if (fd == h->timerfd) {
            uint64_t expirations;
            timer_due = read(fd, &expirations, sizeof expirations) > 0;
            continue;
        }
        unsigned r = ev[i].events, events = 0;
        if (r & EPOLLIN)
            events |= WSIO_IO_READ;
        if (r & EPOLLOUT)
            events |= WSIO_IO_WRITE;
        if (r & (EPOLLERR | EPOLLHUP)) /* epoll reports them unasked */
            events |= WSIO_IO_HUP;
        /* WSIO_EINVAL: the fd was removed earlier in this batch. */
        (void)wsio_loop_on_io(loop, fd, events);
    }
    if (timer_due)
        wsio_loop_on_timer(loop);
    return 0;
}

int main(int argc, char **argv)
{
    example_opts o = {.host = "127.0.0.1", .port = 9004};
    for (int i = 1; i < argc; i++) {
        if (example_parse_common(argc, argv, &i, &o))
            continue;
        printf("usage: hostloop_epoll [options]\n%s", example_usage_common());
        return strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
    host_loop h;
    h.epfd = epoll_create1(EPOLL_CLOEXEC);
    h.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event tev = {.events = EPOLLIN, .data.fd = h.timerfd};
    if (h.epfd < 0 || h.timerfd < 0 ||
        epoll_ctl(h.epfd, EPOLL_CTL_ADD, h.timerfd, &tev) < 0) {
        perror("hostloop_epoll");
        return 1;
    }
    /* The watch callback is called from here on (the loop's wake fd) until
     * wsio_loop_free returns: h must live that long. */
    wsio_host_loop host = {
        .watch = host_watch, .timer = host_timer, .user = &h};
    wsio_loop_config lc;
    wsio_loop_config_default(&lc);
    lc.host = &host;
    int err = 0;
    wsio_loop *loop = wsio_loop_new(&lc, &err);
    if (!loop) {
        fprintf(stderr, "hostloop_epoll: %s\n", wsio_strerror(err));
        return 1;
    }
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    wsio_ws_callbacks cb = {.on_message = on_message};
    wsio_server *srv =
        example_listen("hostloop_epoll", "ws", loop, &o, &cfg, &cb, NULL, NULL);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: epoll_wait returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    while (!stop_requested) {
        int rc = host_turn(&h, loop);
        if (rc < 0) {
            example_log("hostloop_epoll", "epoll_wait: %s", wsio_strerror(rc));
            break;
        }
    }
    example_log("hostloop_epoll", "closing every connection (1001)");
    wsio_server_shutdown(srv, 5000);
    while (wsio_loop_alive(loop))
        if (host_turn(&h, loop) < 0)
            break;
    wsio_loop_free(loop); /* removes the wake fd: the last watch call */
    close(h.timerfd);
    close(h.epfd);
    example_log("hostloop_epoll", "stopped");
    return 0;
}

#else /* epoll is Linux's */

int main(void)
{
    fputs("hostloop_epoll: epoll is Linux only; see examples/hostloop.c\n",
          stderr);
    return 2;
}

#endif
