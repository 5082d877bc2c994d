/*
 * src/client_dial.c - from host:port to one connected socket without
 * blocking the loop (client_internal.h).
 *
 * Numeric hosts are parsed inline. Names go to a short-lived detached
 * thread (getaddrinfo, or the host's resolver hook), whose answer comes
 * back as a wsio__post. The job is shared by that thread and the dialer
 * (two references, a mutex): a dialer cancelled meanwhile (its client
 * freed, the loop freed) marks the job so the thread never touches the
 * loop, and takes back an answer already posted. The job is plain malloc
 * memory because either thread may free it, and the loop's wsio_mem need
 * not be thread-safe.
 *
 * The addresses are tried in the RFC 8305 order: families interleaved,
 * starting with the first family resolved (section 4); an attempt that has
 * not connected within the Connection Attempt Delay gets company from the
 * next address, one that fails hands over at once (section 5), and the
 * first to connect wins while the others are closed.
 */
#define _GNU_SOURCE /* POSIX names under -std=c11 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client_internal.h"

struct wsio__resolve_job {
    wsio__post post; /* the answer's way back */
    pthread_mutex_t mu;
    int refs;      /* the thread's and the dialer's */
    int cancelled; /* the dialer is gone: drop the answer */
    wsio_loop *loop;
    wsio__dialer *d;
    wsio_resolve_fn fn;
    void *user;
    char host[256];
    char port[8];
    int n; /* addresses found, or an error */
    wsio_client_addr addrs[WSIO_CLIENT_MAX_ADDRS];
};

/* ---- resolving -------------------------------------------------------------
 */

static int lookup_error(int rc)
{
    if (rc == EAI_MEMORY)
        return WSIO_ENOMEM;
    if (rc == EAI_AGAIN)
        return -EAGAIN; /* temporary: a reconnect may do better */
    if (rc == EAI_SYSTEM)
        return errno ? -errno : WSIO_EINVAL;
    return WSIO_EINVAL; /* no such host */
}

static int copy_addrinfo(const struct addrinfo *ai, wsio_client_addr *out,
                         size_t cap)
{
    size_t n = 0;
    for (; ai && n < cap; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            ai->ai_addrlen > sizeof out[n].addr)
            continue;
        memset(&out[n], 0, sizeof out[n]);
        memcpy(&out[n].addr, ai->ai_addr, ai->ai_addrlen);
        out[n].len = ai->ai_addrlen;
        n++;
    }
    return n ? (int)n : WSIO_EINVAL;
}

static int lookup(const char *host, const char *port, int flags,
                  wsio_client_addr *out, size_t cap)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | flags;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc)
        return rc == EAI_NONAME && (flags & AI_NUMERICHOST) ? 0
                                                            : lookup_error(rc);
    rc = copy_addrinfo(res, out, cap);
    freeaddrinfo(res);
    return rc;
}

static int resolve_getaddrinfo(const char *host, const char *port,
                               wsio_client_addr *out, size_t cap, void *user)
{
    (void)user;
    return lookup(host, port, 0, out, cap);
}

static void job_unref(wsio__resolve_job *job)
{
    pthread_mutex_lock(&job->mu);
    int last = --job->refs == 0;
    pthread_mutex_unlock(&job->mu);
    if (last) {
        pthread_mutex_destroy(&job->mu);
        free(job);
    }
}

static void *resolve_thread(void *arg)
{
    wsio__resolve_job *job = arg;
    int n = job->fn(job->host, job->port, job->addrs, WSIO_CLIENT_MAX_ADDRS,
                    job->user);
    job->n = n > WSIO_CLIENT_MAX_ADDRS ? WSIO_CLIENT_MAX_ADDRS : n;
    pthread_mutex_lock(&job->mu);
    if (!job->cancelled)
        wsio__loop_post_item(job->loop, &job->post);
    pthread_mutex_unlock(&job->mu);
    job_unref(job);
    return NULL;
}

/* Only AF_INET and AF_INET6 entries whose length fits; -1 otherwise. */
static int family_of(const wsio_client_addr *a)
{
    int f = a->addr.ss_family;
    if (f == AF_INET && a->len >= sizeof(struct sockaddr_in) &&
        a->len <= sizeof a->addr)
        return f;
    if (f == AF_INET6 && a->len >= sizeof(struct sockaddr_in6) &&
        a->len <= sizeof a->addr)
        return f;
    return -1;
}

/* RFC 8305 section 4: interleave the families, the first resolved first,
 * each family keeping its own order. */
static void take_addresses(wsio__dialer *d, const wsio_client_addr *in,
                           size_t n)
{
    size_t pos[2] = {0, 0};
    int first = -1;
    for (size_t i = 0; i < n && first < 0; i++)
        first = family_of(&in[i]);
    d->naddrs = 0;
    for (int turn = 0; first >= 0 && d->naddrs < n; turn ^= 1) {
        size_t *p = &pos[turn];
        while (*p < n && (family_of(&in[*p]) < 0 ||
                          (family_of(&in[*p]) == first) != (turn == 0)))
            (*p)++;
        if (*p < n)
            d->addrs[d->naddrs++] = in[(*p)++];
        else if (pos[turn ^ 1] >= n)
            break;
    }
}

/* ---- connecting ------------------------------------------------------------
 */

static void next_attempt(wsio__dialer *d);

static void finish(wsio__dialer *d, int fd, const wsio_client_addr *addr)
{
    wsio__dial_cancel(d);
    d->finished = 1;
    d->done(d, fd, addr);
}

static void drop_attempt(wsio__dialer *d, wsio__dial_attempt *t)
{
    wsio__io_unwatch(d->loop, &t->io.io);
    close(t->io.io.fd);
    t->io.io.fd = -1;
    d->live--;
}

static void attempt_ready(wsio__io_cb *cb, unsigned events)
{
    (void)events;
    wsio__dial_attempt *t = WSIO__CONTAINER_OF(cb, wsio__dial_attempt, io);
    wsio__io *io = &cb->io;
    wsio__dialer *d = t->d;
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
        soerr = errno;
    if (soerr) {
        d->last_err = -soerr;
        drop_attempt(d, t);
        next_attempt(d); /* section 5: a failure hands over at once */
        return;
    }
    int fd = io->fd;
    wsio__io_unwatch(d->loop, io);
    io->fd = -1;
    d->live--;
    finish(d, fd, &d->addrs[t - d->tries]);
}

static int open_socket(const wsio_client_addr *a)
{
    int fd = socket(a->addr.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)&a->addr, a->len) < 0 &&
        errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* Start the next address that takes a socket; with none left and nothing
 * in flight, the dial failed with the last error seen. */
static void next_attempt(wsio__dialer *d)
{
    wsio__timer_stop(d->loop, &d->timer.t);
    while (d->next < d->naddrs) {
        size_t i = d->next++;
        int fd = open_socket(&d->addrs[i]);
        wsio__dial_attempt *t = &d->tries[i];
        t->io.io.fd = fd;
        int rc =
            fd < 0 ? fd : wsio__io_watch(d->loop, &t->io.io, WSIO_IO_WRITE);
        if (rc < 0) {
            if (fd >= 0)
                close(fd);
            t->io.io.fd = -1;
            d->last_err = rc;
            continue;
        }
        d->live++;
        if (d->next < d->naddrs)
            wsio__timer_start(d->loop, &d->timer.t,
                              wsio__loop_now(d->loop) + d->delay_ms);
        return;
    }
    if (d->live == 0)
        finish(d, d->last_err ? d->last_err : WSIO_EINVAL, NULL);
}

static void on_delay(wsio__timer_cb *t)
{
    next_attempt(WSIO__CONTAINER_OF(t, wsio__dialer, timer));
}

static void resolved(wsio__post *p)
{
    wsio__resolve_job *job = WSIO__CONTAINER_OF(p, wsio__resolve_job, post);
    wsio__dialer *d = job->d;
    d->job = NULL;
    if (job->n < 0)
        d->last_err = job->n;
    else
        take_addresses(d, job->addrs, (size_t)job->n);
    job_unref(job);
    next_attempt(d);
}

/* ---- the dialer's life ------------------------------------------------------
 */

int wsio__dial_init(wsio__dialer *d, wsio_loop *loop,
                    void (*done)(wsio__dialer *, int, const wsio_client_addr *))
{
    memset(d, 0, sizeof *d);
    d->loop = loop;
    d->done = done;
    d->timer.fire = on_delay;
    for (size_t i = 0; i < WSIO_CLIENT_MAX_ADDRS; i++) {
        d->tries[i].io.io.fd = -1;
        d->tries[i].io.ready = attempt_ready;
        d->tries[i].d = d;
    }
    int rc = wsio__timer_reserve(loop);
    d->reserved = rc == 0;
    return rc;
}

static int start_thread(wsio__dialer *d, const char *host, const char *port,
                        const wsio_client_config *cfg)
{
    wsio__resolve_job *job = calloc(1, sizeof *job);
    if (!job)
        return WSIO_ENOMEM;
    if (pthread_mutex_init(&job->mu, NULL) != 0) {
        free(job);
        return WSIO_ENOMEM;
    }
    job->post.run = resolved;
    job->refs = 2;
    job->loop = d->loop;
    job->d = d;
    job->fn = cfg->resolve ? cfg->resolve : resolve_getaddrinfo;
    job->user = cfg->resolve_user;
    snprintf(job->host, sizeof job->host, "%s", host);
    snprintf(job->port, sizeof job->port, "%s", port);
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc == 0)
        rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* Signals stay with the application's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t tid;
    if (rc == 0)
        rc = pthread_create(&tid, &attr, resolve_thread, job);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc) {
        pthread_mutex_destroy(&job->mu);
        free(job);
        return rc == ENOMEM || rc == EAGAIN ? WSIO_ENOMEM : -rc;
    }
    d->job = job;
    return 0;
}

int wsio__dial_start(wsio__dialer *d, const char *host, const char *port,
                     const wsio_client_config *cfg)
{
    d->delay_ms = cfg->attempt_delay_ms;
    if (!cfg->resolve) {
        wsio_client_addr a[2];
        int n = lookup(host, port, AI_NUMERICHOST, a, 2);
        if (n != 0) {
            /* A literal: no thread; the first attempt goes on the next
             * turn, so no callback runs inside wsio_client_connect. */
            if (n < 0)
                d->last_err = n;
            else
                take_addresses(d, a, (size_t)n);
            wsio__timer_start(d->loop, &d->timer.t, wsio__loop_now(d->loop));
            return 0;
        }
    }
    return start_thread(d, host, port, cfg);
}

void wsio__dial_cancel(wsio__dialer *d)
{
    if (d->job) {
        wsio__resolve_job *job = d->job;
        d->job = NULL;
        pthread_mutex_lock(&job->mu);
        job->cancelled = 1;
        wsio__loop_unpost(d->loop, &job->post); /* an answer not yet run */
        pthread_mutex_unlock(&job->mu);
        job_unref(job);
    }
    for (size_t i = 0; i < WSIO_CLIENT_MAX_ADDRS && d->live; i++)
        if (d->tries[i].io.io.fd >= 0)
            drop_attempt(d, &d->tries[i]);
    wsio__timer_stop(d->loop, &d->timer.t);
}

void wsio__dial_release(wsio__dialer *d)
{
    wsio__dial_cancel(d);
    if (d->reserved)
        wsio__timer_unreserve(d->loop);
    d->reserved = 0;
}
