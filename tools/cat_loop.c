/*
 * tools/cat_loop.c - wsio-cat's own poll() loop, with wsio in host loop
 * mode (wsio/loop.h): wsio asks for fds through watch and for a wake-up
 * through timer; this loop adds stdin and a self-pipe for signals to the
 * same poll set, so one wait covers everything.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cat.h"

#define FIXED_FDS 2 /* the signal pipe and stdin come first */

/* A signal handler can reach only globals: the write end of the pipe. The
 * tool runs one loop, so one is enough. */
static int signal_write_fd = -1;

static void on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    char b = 1;
    if (write(signal_write_fd, &b, 1) < 0) {
        /* The pipe is full: a wake-up is already pending. */
    }
    errno = saved;
}

static int host_watch(int fd, unsigned events, void *user)
{
    cat_loop *cl = user;
    size_t i = FIXED_FDS;
    while (i < cl->n && cl->fds[i].fd != fd)
        i++;
    if (events == 0) { /* fd is about to be closed: swap the last one in */
        if (i < cl->n)
            cl->fds[i] = cl->fds[--cl->n];
        return 0;
    }
    if (i == cl->n) {
        if (cl->n == cl->cap) {
            size_t cap = cl->cap * 2;
            struct pollfd *p = realloc(cl->fds, cap * sizeof *p);
            if (!p)
                return WSIO_ENOMEM;
            cl->fds = p;
            cl->cap = cap;
        }
        cl->fds[cl->n++].fd = fd;
    }
    cl->fds[i].events = (short)(((events & WSIO_IO_READ) ? POLLIN : 0) |
                                ((events & WSIO_IO_WRITE) ? POLLOUT : 0));
    cl->fds[i].revents = 0;
    return 0;
}

static void host_timer(uint64_t due_ms, void *user)
{
    cat_loop *cl = user;
    cl->wsio_due = due_ms;
}

static int set_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}

int cat_loop_init(cat_loop *cl)
{
    memset(cl, 0, sizeof *cl);
    cl->wsio_due = UINT64_MAX;
    cl->sig_pipe[0] = cl->sig_pipe[1] = -1;
    /* A closed fd 0 would be handed to the first socket, which the poll set
     * would then watch twice: give stdin /dev/null instead. */
    if (fcntl(0, F_GETFD) < 0 && open("/dev/null", O_RDONLY) != 0)
        return -errno;
    cl->cap = 16;
    cl->fds = malloc(cl->cap * sizeof *cl->fds);
    if (!cl->fds)
        return WSIO_ENOMEM;
    if (pipe(cl->sig_pipe) < 0)
        return -errno;
    int rc = set_flags(cl->sig_pipe[0]);
    if (rc == 0)
        rc = set_flags(cl->sig_pipe[1]);
    if (rc < 0)
        return rc;
    cl->fds[0] = (struct pollfd){.fd = cl->sig_pipe[0], .events = POLLIN};
    cl->fds[1] = (struct pollfd){.fd = -1, .events = POLLIN};
    cl->n = FIXED_FDS;

    signal_write_fd = cl->sig_pipe[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A closed stdout must show as a write error, not kill the tool before
     * it can close the connection. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    const wsio_host_loop host = {
        .watch = host_watch, .timer = host_timer, .user = cl};
    wsio_loop_config lc;
    wsio_loop_config_default(&lc);
    lc.host = &host;
    cl->loop = wsio_loop_new(&lc, &rc);
    return cl->loop ? 0 : rc;
}

void cat_loop_free(cat_loop *cl)
{
    wsio_loop_free(cl->loop);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal_write_fd = -1;
    for (int i = 0; i < 2; i++)
        if (cl->sig_pipe[i] >= 0)
            close(cl->sig_pipe[i]);
    free(cl->fds);
}

void cat_loop_watch_stdin(cat_loop *cl, int on)
{
    cl->fds[1].fd = on ? 0 : -1;
}

static int poll_timeout(const cat_loop *cl, uint64_t app_due)
{
    uint64_t due = cl->wsio_due < app_due ? cl->wsio_due : app_due;
    if (due == UINT64_MAX)
        return -1;
    uint64_t now = wsio_loop_now(cl->loop);
    if (due <= now)
        return 0;
    return due - now > INT32_MAX ? INT32_MAX : (int)(due - now);
}

static unsigned wsio_events(short revents)
{
    unsigned ev = 0;
    if (revents & POLLIN)
        ev |= WSIO_IO_READ;
    if (revents & POLLOUT)
        ev |= WSIO_IO_WRITE;
    if (revents & (POLLERR | POLLHUP | POLLNVAL))
        ev |= WSIO_IO_HUP;
    return ev;
}

int cat_loop_turn(cat_loop *cl, uint64_t app_due, unsigned *events)
{
    *events = 0;
    int n = poll(cl->fds, (nfds_t)cl->n, poll_timeout(cl, app_due));
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    if (cl->fds[0].revents) {
        char drain[64];
        while (read(cl->sig_pipe[0], drain, sizeof drain) > 0) {
        }
        *events |= CAT_EV_SIGNAL;
    }
    if (cl->fds[1].fd >= 0 && cl->fds[1].revents)
        *events |= CAT_EV_STDIN;
    /* wsio_loop_on_io may change the poll set (watch calls): take the
     * ready fds out first. An fd unwatched by an earlier one in this list
     * gets WSIO_EINVAL, which is harmless. */
    size_t nready = 0;
    struct {
        int fd;
        unsigned ev;
    } ready[64];
    for (size_t i = FIXED_FDS; i < cl->n; i++) {
        if (!cl->fds[i].revents)
            continue;
        if (nready == sizeof ready / sizeof ready[0])
            break; /* the rest stay ready: the next poll returns at once */
        ready[nready].fd = cl->fds[i].fd;
        ready[nready++].ev = wsio_events(cl->fds[i].revents);
    }
    for (size_t i = 0; i < nready; i++)
        (void)wsio_loop_on_io(cl->loop, ready[i].fd, ready[i].ev);
    if (cl->wsio_due != UINT64_MAX && wsio_loop_now(cl->loop) >= cl->wsio_due)
        (void)wsio_loop_on_timer(cl->loop);
    return 0;
}
