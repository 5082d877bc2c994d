/*
 * tests/integration/harness.c - see harness.h.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <unistd.h>

#include "harness.h"

/* ---- the fixture: a loop of the mode under test -----------------------------
 */

uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The host's epoll set, changed as each op says (docs/loop.md's recipe). */
static int host_epoll_ctl(env *e, int fd, unsigned op, unsigned events)
{
    struct epoll_event ev = {.data.fd = fd};
    ev.events = ((events & WSIO_IO_READ) ? EPOLLIN : 0u) |
                ((events & WSIO_IO_WRITE) ? EPOLLOUT : 0u);
    int ctl = op == WSIO_WATCH_ADD      ? EPOLL_CTL_ADD
              : op == WSIO_WATCH_MODIFY ? EPOLL_CTL_MOD
                                        : EPOLL_CTL_DEL;
    return epoll_ctl(e->epfd, ctl, fd, &ev) < 0 ? -errno : 0;
}

static int host_watch(int fd, unsigned events, void *user)
{
    env *e = user;
    unsigned op = events & WSIO_WATCH_OP_MASK;
    events &= ~WSIO_WATCH_OP_MASK;
    size_t i = 0;
    while (i < e->npfd && e->pfd[i].fd != fd)
        i++;
    /* The op says what the host has: ADD only for an fd it does not have,
     * MODIFY and REMOVE only for one it has, REMOVE exactly events 0. */
    int known = i < e->npfd;
    if ((op == WSIO_WATCH_ADD && known) || (op != WSIO_WATCH_ADD && !known) ||
        ((op == WSIO_WATCH_REMOVE) != (events == 0)) ||
        (op != WSIO_WATCH_ADD && op != WSIO_WATCH_MODIFY &&
         op != WSIO_WATCH_REMOVE))
        e->watch_op_errors++;
    if (e->epfd >= 0) {
        int rc = host_epoll_ctl(e, fd, op, events);
        if (rc)
            return rc;
    }
    if (events == 0) {
        if (i < e->npfd)
            e->pfd[i] = e->pfd[--e->npfd];
        return 0;
    }
    if (i == e->npfd) {
        if (e->npfd == e->cappfd) {
            size_t cap = e->cappfd ? e->cappfd * 2 : 64;
            struct pollfd *p = realloc(e->pfd, cap * sizeof *p);
            if (!p)
                return WSIO_ENOMEM;
            e->pfd = p;
            e->cappfd = cap;
        }
        e->pfd[e->npfd++].fd = fd;
    }
    e->pfd[i].events = (short)(((events & WSIO_IO_READ) ? POLLIN : 0) |
                               ((events & WSIO_IO_WRITE) ? POLLOUT : 0));
    return 0;
}

static void host_timer(uint64_t due, void *user)
{
    ((env *)user)->due = due;
}

/* ---- partial I/O: transports that move bytes the hard way
 * ---------------------- */

static int io_open(wsio_transport *t, void *ctx, enum wsio_role role,
                   const char *server_name)
{
    int rc = wsio_transport_plain()->open(t, NULL, role, server_name);
    t->impl = ctx; /* the env, for the dice */
    return rc;
}

static int io_again(wsio_transport *t)
{
    env *e = t->impl;
    return e->io == ENV_IO_EAGAIN && rand_r(&e->rand_state) % 3 == 0;
}

static ssize_t io_read(wsio_transport *t, void *buf, size_t len)
{
    env *e = t->impl;
    if (io_again(t))
        return WSIO_EAGAIN;
    if (e->io == ENV_IO_ONE_BYTE && len > 1)
        len = 1;
    return wsio_transport_plain()->read(t, buf, len);
}

static ssize_t io_writev(wsio_transport *t, const wsio_iov *iov, size_t n)
{
    env *e = t->impl;
    if (io_again(t))
        return WSIO_EAGAIN;
    if (e->io == ENV_IO_ONE_BYTE && n > 0) {
        size_t i = 0;
        while (i < n && iov[i].len == 0)
            i++;
        if (i == n)
            return 0;
        wsio_iov one = {iov[i].base, 1};
        return wsio_transport_plain()->writev(t, &one, 1);
    }
    return wsio_transport_plain()->writev(t, iov, n);
}

static void io_close(wsio_transport *t)
{
    t->impl = NULL;
    wsio_transport_plain()->close(t);
}

env *env_new(void **state)
{
    env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    char *mode = e->mode_name;
    snprintf(mode, sizeof e->mode_name, "%s", (const char *)*state);
    char *io = strchr(mode, ':');
    if (io) {
        *io++ = '\0';
        e->io = strcmp(io, "1byte") == 0 ? ENV_IO_ONE_BYTE : ENV_IO_EAGAIN;
        e->io_ops = *wsio_transport_plain();
        e->io_ops.name = io;
        e->io_ops.open = io_open;
        e->io_ops.read = io_read;
        e->io_ops.writev = io_writev;
        e->io_ops.close = io_close;
        e->rand_state = 12345;
    }
    e->epfd = -1;
    if (strcmp(mode, "hostepoll") == 0) {
        e->epfd = epoll_create1(EPOLL_CLOEXEC);
        assert_true(e->epfd >= 0);
        mode[4] = '\0'; /* "host" */
    }
    e->mode = mode;
    e->due = UINT64_MAX;
    test_mem_init(&e->tm);
    wsio_loop_config lc;
    wsio_loop_config_default(&lc);
    lc.mem = &e->tm.mem;
    wsio_host_loop host = {.watch = host_watch, .timer = host_timer, .user = e};
    if (strcmp(e->mode, "host") == 0)
        lc.host = &host;
    else
        lc.backend = wsio_backend_by_name(e->mode);
    int err = 0;
    e->loop = wsio_loop_new(&lc, &err);
    assert_non_null(e->loop);
    assert_string_equal(wsio_loop_backend_name(e->loop), e->mode);
    return e;
}

void env_free(env *e)
{
    wsio_loop_free(e->loop);
    assert_int_equal(e->tm.live_blocks, 0);
    assert_int_equal(e->watch_op_errors, 0);
    assert_int_equal(e->npfd, 0); /* every fd removed, the wake fd too */
    if (e->epfd >= 0)
        close(e->epfd);
    free(e->pfd);
    free(e);
}

/* docs/loop.md's epoll recipe: readiness by fd, errors and hang-ups as
 * WSIO_IO_HUP; an fd removed earlier in the batch is refused (EINVAL). */
static void host_epoll_turn(env *e, int timeout)
{
    struct epoll_event ev[64];
    int n = epoll_wait(e->epfd, ev, 64, timeout);
    assert_true(n >= 0 || errno == EINTR);
    for (int i = 0; i < n; i++) {
        unsigned r = ev[i].events, w = 0;
        if (r & EPOLLIN)
            w |= WSIO_IO_READ;
        if (r & EPOLLOUT)
            w |= WSIO_IO_WRITE;
        if (r & (EPOLLERR | EPOLLHUP))
            w |= WSIO_IO_HUP;
        (void)wsio_loop_on_io(e->loop, ev[i].data.fd, w);
    }
    if (e->due != UINT64_MAX && wsio_loop_now(e->loop) >= e->due)
        assert_int_equal(wsio_loop_on_timer(e->loop), 0);
}

/* One turn of the loop under test, waiting at most max_ms. */
void env_turn(env *e, int max_ms)
{
    e->turns++;
    if (strcmp(e->mode, "host") != 0) {
        assert_true(wsio_loop_run_once(e->loop, max_ms) >= 0);
        return;
    }
    int timeout = max_ms;
    if (e->due != UINT64_MAX) {
        uint64_t now = wsio_loop_now(e->loop);
        uint64_t d = e->due <= now ? 0 : e->due - now;
        if ((uint64_t)timeout > d)
            timeout = (int)d;
    }
    if (e->epfd >= 0) {
        host_epoll_turn(e, timeout);
        return;
    }
    size_t n = e->npfd;
    struct pollfd *set = malloc((n ? n : 1) * sizeof *set);
    assert_non_null(set);
    memcpy(set, e->pfd, n * sizeof *set);
    int rc = poll(set, (nfds_t)n, timeout);
    assert_true(rc >= 0 || errno == EINTR);
    for (size_t i = 0; rc > 0 && i < n; i++) {
        short r = set[i].revents;
        if (!r)
            continue;
        unsigned ev = 0;
        if (r & POLLIN)
            ev |= WSIO_IO_READ;
        if (r & POLLOUT)
            ev |= WSIO_IO_WRITE;
        if (r & (POLLERR | POLLHUP | POLLNVAL))
            ev |= WSIO_IO_HUP;
        /* An fd unwatched earlier in this batch is refused: fine. */
        (void)wsio_loop_on_io(e->loop, set[i].fd, ev);
    }
    free(set);
    if (e->due != UINT64_MAX && wsio_loop_now(e->loop) >= e->due)
        assert_int_equal(wsio_loop_on_timer(e->loop), 0);
}

/* Turn the loop for ms (counting turns in e->turns). */
void run_for(env *e, uint64_t ms)
{
    uint64_t t0 = now_ms();
    unsigned long n = 0;
    while (now_ms() - t0 < ms && n++ < 100000)
        env_turn(e, 10);
}

/* ---- callbacks: what servers and clients saw
 * --------------------------------- */

void c_on_open(wsio_ws *ws, void *user)
{
    peer *p = user;
    p->opened++;
    p->ws = ws;
    p->http_status = wsio_ws_http_status(ws);
}

int c_on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)ws;
    peer *p = user;
    p->nmsg++;
    p->bytes += m->len;
    if (p->expect) {
        if (m->opcode != p->expect_op || m->len != p->expect_len ||
            (m->len && memcmp(m->data, p->expect, m->len) != 0))
            p->mismatch++;
    } else {
        char buf[32];
        size_t n = m->len < sizeof buf - 1 ? m->len : sizeof buf - 1;
        memcpy(buf, m->data, n);
        buf[n] = '\0';
        if (strtoul(buf, NULL, 10) != p->next_seq)
            p->out_of_order++;
        p->next_seq++;
    }
    return 0;
}

void c_on_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    peer *p = user;
    p->closed++;
    p->info = *info;
    p->info.reason = NULL;
    p->http_status = wsio_ws_http_status(ws);
    p->ws = NULL;
}

const wsio_ws_callbacks client_cb = {
    .on_open = c_on_open, .on_message = c_on_message, .on_close = c_on_close};

void s_on_open(wsio_ws *ws, void *user)
{
    server_state *s = user;
    s->opens++;
    s->last_open = ws;
    if (s->subscribe)
        assert_int_equal(wsio_ws_subscribe(ws, s->subscribe), 0);
}

int s_on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    server_state *s = user;
    s->messages++;
    if (s->echo)
        assert_true(wsio_ws_send(ws, m->opcode, m->data, m->len) >= 0);
    return 0;
}

void s_on_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    (void)ws;
    server_state *s = user;
    s->closes++;
    s->last_close = *info;
    s->last_close.reason = NULL;
}

const wsio_ws_callbacks server_cb = {
    .on_open = s_on_open, .on_message = s_on_message, .on_close = s_on_close};

wsio_server *start_server(env *e, wsio_server_config *cfg,
                          const wsio_server_hooks *hooks, server_state *s)
{
    wsio_server_config def;
    if (!cfg) {
        wsio_server_config_default(&def);
        cfg = &def;
    }
    if (e->io != ENV_IO_PLAIN) {
        cfg->transport = &e->io_ops;
        cfg->transport_ctx = e;
    }
    int err = 0;
    wsio_server *srv =
        wsio_server_new(e->loop, cfg, &server_cb, hooks, s, &err);
    assert_non_null(srv);
    assert_true(wsio_server_port(srv) > 0);
    return srv;
}

wsio_ws *connect_client(env *e, wsio_server *srv, const wsio_client_config *cfg,
                        peer *p)
{
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/test",
             (unsigned)wsio_server_port(srv));
    wsio_client_config def;
    if (e->io != ENV_IO_PLAIN) {
        if (cfg)
            def = *cfg;
        else
            wsio_client_config_default(&def);
        def.transport = &e->io_ops;
        def.transport_ctx = e;
        cfg = &def;
    }
    int err = 0;
    wsio_ws *ws = wsio_client_connect(e->loop, url, cfg, &client_cb, p, &err);
    assert_non_null(ws);
    return ws;
}

/* A blocking TCP socket connected to the server, for raw HTTP. */
int raw_connect(uint16_t port)
{
    return raw_connect_rcvbuf(port, 0);
}

int raw_connect_rcvbuf(uint16_t port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    /* Before connect, so the window offered in the handshake is small. */
    if (rcvbuf > 0)
        assert_int_equal(
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

void raw_send(int fd, const char *s)
{
    assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Non-blocking read of whatever is there; -1 when nothing yet, 0 on EOF. */
ssize_t raw_read(int fd, char *buf, size_t cap)
{
    ssize_t n = recv(fd, buf, cap, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return -1;
    return n;
}

/* Read a response until EOF while turning the loop. */
size_t raw_read_all(env *e, int fd, char *buf, size_t cap)
{
    size_t len = 0;
    int eof = 0;
    uint64_t t0 = now_ms();
    while (!eof && now_ms() - t0 < 5000) {
        env_turn(e, 5);
        ssize_t n;
        while (len < cap - 1 &&
               (n = raw_read(fd, buf + len, cap - 1 - len)) != -1) {
            if (n <= 0) {
                eof = 1;
                break;
            }
            len += (size_t)n;
        }
    }
    buf[len] = '\0';
    assert_true(eof);
    return len;
}

/* The opening handshake from a raw socket; returns the fd, open. */
int raw_ws_connect(env *e, uint16_t port)
{
    return raw_ws_connect_rcvbuf(e, port, 0);
}

int raw_ws_connect_rcvbuf(env *e, uint16_t port, int rcvbuf)
{
    int fd = raw_connect_rcvbuf(port, rcvbuf);
    raw_send(fd, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n");
    assert_int_equal(raw_read_status(e, fd), 101);
    return fd;
}

int raw_read_status(env *e, int fd)
{
    char buf[1024];
    size_t len = 0;
    buf[0] = '\0';
    uint64_t t0 = now_ms();
    while (!strstr(buf, "\r\n\r\n") && now_ms() - t0 < 5000) {
        env_turn(e, 5);
        ssize_t n = raw_read(fd, buf + len, sizeof buf - 1 - len);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            break; /* closed (a reset, when the request was unread) */
        if (n > 0) {
            len += (size_t)n;
            buf[len] = '\0';
        }
    }
    int status = 0;
    return sscanf(buf, "HTTP/1.1 %d", &status) == 1 ? status : 0;
}

size_t rss_bytes(int trim)
{
#ifdef __GLIBC__
    if (trim)
        malloc_trim(0);
#else
    (void)trim;
#endif
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    unsigned long size = 0, resident = 0;
    assert_int_equal(fscanf(f, "%lu %lu", &size, &resident), 2);
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static void *lm_malloc(size_t size, void *user)
{
    locked_mem *lm = user;
    pthread_mutex_lock(&lm->mu);
    void *p = lm->inner.malloc(size, lm->inner.user);
    pthread_mutex_unlock(&lm->mu);
    return p;
}

static void *lm_realloc(void *ptr, size_t size, void *user)
{
    locked_mem *lm = user;
    pthread_mutex_lock(&lm->mu);
    void *p = lm->inner.realloc(ptr, size, lm->inner.user);
    pthread_mutex_unlock(&lm->mu);
    return p;
}

static void lm_free(void *ptr, void *user)
{
    locked_mem *lm = user;
    pthread_mutex_lock(&lm->mu);
    lm->inner.free(ptr, lm->inner.user);
    pthread_mutex_unlock(&lm->mu);
}

/* From now on every allocation of e's loop takes lm's mutex (the loop
 * holds a pointer to e->tm.mem, whose functions are swapped). */
void lock_env_mem(env *e, locked_mem *lm)
{
    lm->inner = e->tm.mem;
    assert_int_equal(pthread_mutex_init(&lm->mu, NULL), 0);
    e->tm.mem = (wsio_mem){lm_malloc, lm_realloc, lm_free, lm};
}
