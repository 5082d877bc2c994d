/*
 * src/loop.c - the event loop (wsio/loop.h): one backend instance (or the
 * host's loop), a timer heap, a post queue woken through an eventfd (Linux)
 * or a pipe, the list of tasks to run at the end of each turn (the
 * connections' flushes), and the list of objects to release then.
 *
 * A turn is one wait plus everything it triggers: ready fds, due timers,
 * then the end-of-turn tasks (a connection's flush: corked writes, sends
 * made during the turn leave in one writev each), then the deferred
 * releases. Nothing a
 * callback up the stack may still hold is freed before the turn ends.
 *
 * Threads: only wsio_loop_post and wsio_loop_stop cross threads. Posts go
 * through a mutex-protected FIFO; stop is an atomic flag. Both write to the
 * wake fd, which write(2) allows from a signal handler too (stop takes no
 * lock, so it is safe there).
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common_abi.h"
#include "loop_shared.h"
#include "wsio/backend.h"

/* The smallest struct_size wsio_loop_new takes: the first sized
 * release's config ended with mem. */
#define LOOP_CONFIG_MIN WSIO__SIZE_THROUGH(wsio_loop_config, mem)

void wsio_loop_config_init(wsio_loop_config *cfg, size_t size)
{
    static const wsio_loop_config def = {.struct_size = sizeof def};
    wsio__config_fill(cfg, size, &def, sizeof def);
}

/* The turn task list ends here, so that a task's next is NULL exactly
 * when it is not queued; never written. */
static const wsio__turn_task turn_list_end;
#define TURN_END ((wsio__turn_task *)&turn_list_end)

static uint64_t clock_now(const wsio_loop *loop)
{
    if (loop->host_mode)
        return loop->host.now_ms ? loop->host.now_ms(loop->host.user)
                                 : wsio_clock_ms();
    return loop->ops->now_ms ? loop->ops->now_ms(loop->be) : wsio_clock_ms();
}

/* ---- the host's view of our timer -----------------------------------------
 */

/* Host mode, outside a turn: tell the host when it must call
 * wsio_loop_on_timer. Work that is already pending (a flush, a release)
 * counts as due now. */
static void tell_host(wsio_loop *loop, int force)
{
    if (!loop->host_mode || loop->depth > 0)
        return;
    uint64_t due = UINT64_MAX;
    if (loop->turn_tasks || loop->deferred)
        due = clock_now(loop);
    else if (loop->ntimers)
        due = loop->heap[0]->due;
    if (force || due != loop->told_due) {
        loop->told_due = due;
        if (loop->host.timer)
            loop->host.timer(due, loop->host.user);
    }
}

void wsio__loop_sync_host(wsio_loop *loop)
{
    tell_host(loop, 0);
}

/* ---- fds ------------------------------------------------------------------
 */

static int host_table_set(wsio_loop *loop, int fd, wsio__io *io)
{
    size_t i = (size_t)fd;
    if (i >= loop->nby_fd) {
        if (!io)
            return 0;
        size_t n = loop->nby_fd ? loop->nby_fd : 64;
        while (n <= i)
            n *= 2;
        wsio__io **p = wsio__realloc(loop->mem, loop->by_fd, n * sizeof *p);
        if (!p)
            return WSIO_ENOMEM;
        memset(p + loop->nby_fd, 0, (n - loop->nby_fd) * sizeof *p);
        loop->by_fd = p;
        loop->nby_fd = n;
    }
    loop->by_fd[i] = io;
    return 0;
}

int wsio__io_watch(wsio_loop *loop, wsio__io *io, unsigned events)
{
    if (io->events == events && events != 0)
        return 0;
    int rc;
    if (loop->host_mode) {
        if (events == 0 && io->events == 0)
            return 0; /* the host does not have it: nothing to remove */
        unsigned op = events == 0  ? WSIO_WATCH_REMOVE
                      : io->events ? WSIO_WATCH_MODIFY
                                   : WSIO_WATCH_ADD;
        rc = host_table_set(loop, io->fd, io);
        if (rc == 0)
            rc = loop->host.watch(io->fd, events | op, loop->host.user);
        /* Refused and not watched before: the table must not keep it. */
        if (rc != 0 && io->events == 0 && (size_t)io->fd < loop->nby_fd)
            loop->by_fd[io->fd] = NULL;
    } else {
        rc = loop->ops->watch(loop->be, io->fd, events, io);
    }
    if (rc == 0)
        io->events = (uint8_t)events;
    return rc;
}

void wsio__io_unwatch(wsio_loop *loop, wsio__io *io)
{
    if (loop->host_mode) {
        if ((size_t)io->fd < loop->nby_fd && loop->by_fd[io->fd] == io) {
            loop->by_fd[io->fd] = NULL;
            if (io->events) /* an interest of 0 was a removal already */
                (void)loop->host.watch(io->fd, WSIO_WATCH_REMOVE,
                                       loop->host.user);
        }
    } else {
        (void)loop->ops->unwatch(loop->be, io->fd);
    }
    io->events = 0;
}

static void io_ready(wsio_loop *loop, wsio__io *io, unsigned events)
{
    if (io->kind == WSIO__KIND_CONN)
        loop->conn->ready(io, events);
    else {
        wsio__io_cb *cb = WSIO__CONTAINER_OF(io, wsio__io_cb, io);
        cb->ready(cb, events);
    }
}

/* ---- turns, flushes and deferred releases ---------------------------------
 */

void wsio__defer(wsio_loop *loop, wsio__deferred *d)
{
    if (d->queued)
        return;
    d->queued = 1;
    d->next = loop->deferred;
    loop->deferred = d;
    wsio__loop_sync_host(loop);
}

static void release_deferred(wsio_loop *loop)
{
    while (loop->deferred) {
        wsio__deferred *d = loop->deferred;
        loop->deferred = d->next;
        if (d->kind == WSIO__KIND_CONN)
            loop->conn->release(d);
        else {
            wsio__deferred_cb *cb = WSIO__CONTAINER_OF(d, wsio__deferred_cb, d);
            cb->release(cb);
        }
    }
}

void wsio__loop_at_turn_end(wsio_loop *loop, wsio__turn_task *t)
{
    if (t->next)
        return;
    t->next = loop->turn_tasks ? loop->turn_tasks : TURN_END;
    loop->turn_tasks = t;
    wsio__loop_sync_host(loop);
}

static void run_turn_tasks(wsio_loop *loop)
{
    while (loop->turn_tasks) {
        wsio__turn_task *t = loop->turn_tasks;
        loop->turn_tasks = t->next == TURN_END ? NULL : t->next;
        t->next = NULL;
        loop->conn->run(t);
    }
}

static void turn_begin(wsio_loop *loop)
{
    loop->depth++;
    loop->now = clock_now(loop);
}

static void turn_end(wsio_loop *loop)
{
    run_turn_tasks(loop);
    release_deferred(loop);
    loop->depth--;
    wsio__loop_sync_host(loop);
}

void wsio__loop_set_conn_hooks(wsio_loop *loop, const wsio__conn_hooks *h)
{
    loop->conn = h;
}

const wsio_mem *wsio__loop_mem(const wsio_loop *loop)
{
    return loop->mem;
}

int wsio__loop_closing(const wsio_loop *loop)
{
    return loop->destroying;
}

const wsio_mem *wsio__loop_buffer_mem(wsio_loop *loop)
{
    return &loop->cache.mem;
}

uint64_t wsio__loop_now(const wsio_loop *loop)
{
    return loop->depth > 0 ? loop->now : clock_now(loop);
}

uint8_t *wsio__loop_read_buf(wsio_loop *loop)
{
    return loop->rbuf;
}

void wsio__attach_add(wsio_loop *loop, wsio__attach *a)
{
    if (!a->passive)
        loop->active_attached++;
    wsio__list_push(&loop->attached, &a->link);
}

void wsio__attach_remove(wsio_loop *loop, wsio__attach *a)
{
    if (!wsio__list_linked(&loop->attached, &a->link))
        return;
    if (!a->passive)
        loop->active_attached--;
    wsio__list_remove(&loop->attached, &a->link);
}

void wsio__attach_set_passive(wsio_loop *loop, wsio__attach *a, int passive)
{
    if (a->passive == !!passive)
        return;
    a->passive = (uint8_t) !!passive;
    if (wsio__list_linked(&loop->attached, &a->link))
        loop->active_attached += passive ? (size_t)-1 : 1;
}

/* ---- the application's fds and timers
 * ----------------------------------------- */

struct wsio_watch {
    wsio__io_cb io;
    wsio__deferred_cb release;
    wsio_loop *loop;
    wsio_watch_fn fn;
    void *user;
    int freed; /* an event already collected this turn is not passed on */
};

static void watch_ready(wsio__io_cb *io, unsigned events)
{
    wsio_watch *w = WSIO__CONTAINER_OF(io, wsio_watch, io);
    if (!w->freed)
        w->fn(w, io->io.fd, events, w->user);
}

static void watch_release(wsio__deferred_cb *d)
{
    wsio_watch *w = WSIO__CONTAINER_OF(d, wsio_watch, release);
    wsio__free(w->loop->mem, w);
}

wsio_watch *wsio_watch_new(wsio_loop *loop, int fd, wsio_watch_fn fn,
                           void *user, int *err)
{
    int rc = WSIO_EINVAL;
    wsio_watch *w = NULL;
    if (fd >= 0 && fn) {
        rc = WSIO_ENOMEM;
        w = wsio__calloc(loop->mem, 1, sizeof *w);
    }
    if (!w) {
        if (err)
            *err = rc;
        return NULL;
    }
    w->io.io.fd = fd;
    w->io.ready = watch_ready;
    w->release.release = watch_release;
    w->loop = loop;
    w->fn = fn;
    w->user = user;
    return w;
}

int wsio_watch_set(wsio_watch *w, unsigned events)
{
    events &= WSIO_IO_READ | WSIO_IO_WRITE;
    if (events == 0) {
        if (w->io.io.events)
            wsio__io_unwatch(w->loop, &w->io.io);
        return 0;
    }
    int rc = wsio__io_watch(w->loop, &w->io.io, events);
    if (rc && w->io.io.events)
        wsio__io_unwatch(w->loop, &w->io.io);
    return rc;
}

void wsio_watch_free(wsio_watch *w)
{
    if (!w || w->freed)
        return;
    (void)wsio_watch_set(w, 0);
    w->freed = 1;
    /* The backend may hold an event for it collected in this turn. */
    wsio__defer(w->loop, &w->release.d);
}

/* ---- public API ------------------------------------------------------------
 */

static void loop_destroy(wsio_loop *loop)
{
    /* A client's on_close that reconnects would attach forever. */
    loop->destroying = 1;
    while (loop->attached) {
        wsio__attach *a =
            WSIO__CONTAINER_OF(loop->attached, wsio__attach, link);
        a->destroy(a);
    }
    loop->turn_tasks = NULL;
    release_deferred(loop);
    post_item *it = loop->post_head;
    while (it) {
        post_item *next = it->next;
        wsio__free(loop->mem, it);
        it = next;
    }
    if (loop->wake_io.io.events)
        wsio__io_unwatch(loop, &loop->wake_io.io);
    wsio__loop_close_wake(loop);
    if (loop->be)
        loop->ops->destroy(loop->be);
    pthread_mutex_destroy(&loop->post_mu);
    wsio__block_cache_release(&loop->cache);
    wsio__free(loop->mem, loop->rbuf);
    wsio__free(loop->mem, loop->heap);
    wsio__free(loop->mem, loop->by_fd);
    wsio__free(loop->mem, loop);
}

wsio_loop *wsio_loop_new(const wsio_loop_config *cfg, int *err)
{
    wsio_loop_config def;
    wsio_loop_config_default(&def);
    int rc = WSIO_EINVAL;
    if (cfg && wsio__config_copy(&def, sizeof def, cfg, LOOP_CONFIG_MIN))
        goto fail_early;
    cfg = &def;
    rc = WSIO_ENOMEM;
    const wsio_mem *mem = wsio__mem_or_default(cfg->mem);
    if (cfg->host && !cfg->host->watch) {
        rc = WSIO_EINVAL;
        goto fail_early;
    }
    const wsio_backend_ops *ops =
        cfg->backend ? cfg->backend : wsio_backend_default();
    /* Every member the loop uses came with version 1. */
    if (!cfg->host && !wsio__ops_at_least(ops, 1)) {
        rc = WSIO_EINVAL;
        goto fail_early;
    }
    wsio_loop *loop = wsio__calloc(mem, 1, sizeof *loop);
    if (!loop)
        goto fail_early;
    loop->mem = mem;
    wsio__block_cache_init(&loop->cache, mem);
    loop->wake_rd = loop->wake_wr = -1;
    loop->told_due = UINT64_MAX;
    atomic_init(&loop->stop, 0);
    if (pthread_mutex_init(&loop->post_mu, NULL) != 0) {
        wsio__free(mem, loop);
        goto fail_early;
    }
    if (cfg->host) {
        loop->host = *cfg->host;
        loop->host_mode = 1;
    } else {
        loop->ops = ops;
        loop->be = ops->create(mem, &rc);
        if (!loop->be)
            goto fail;
    }
    rc = WSIO_ENOMEM;
    loop->rbuf = wsio__malloc(mem, WSIO__READ_BUF);
    if (!loop->rbuf)
        goto fail;
    rc = wsio__loop_open_wake(loop);
    if (rc)
        goto fail;
    loop->wake_io.io.fd = loop->wake_rd;
    loop->wake_io.ready = wsio__loop_on_wake;
    rc = wsio__io_watch(loop, &loop->wake_io.io, WSIO_IO_READ);
    if (rc)
        goto fail;
    loop->now = clock_now(loop);
    return loop;
fail:
    loop_destroy(loop);
fail_early:
    if (err)
        *err = rc;
    return NULL;
}

void wsio_loop_free(wsio_loop *loop)
{
    if (loop)
        loop_destroy(loop);
}

int wsio_loop_alive(const wsio_loop *loop)
{
    return loop->active_attached || loop->ntimers > loop->user_timers ||
           loop->turn_tasks || loop->deferred;
}

static void on_ready(void *tag, int fd, unsigned events, void *arg)
{
    (void)fd;
    wsio_loop *loop = arg;
    /* The wait may have slept long: what the ready fds start (a handshake
     * deadline for a new connection) counts from now, not from before. */
    if (loop->now_stale) {
        loop->now = clock_now(loop);
        loop->now_stale = 0;
    }
    io_ready(loop, tag, events);
}

int wsio_loop_run_once(wsio_loop *loop, int timeout_ms)
{
    if (loop->host_mode)
        return WSIO_ESTATE;
    /* Work queued outside the loop (sends, terminations) goes first. */
    turn_begin(loop);
    turn_end(loop);

    uint64_t now = clock_now(loop);
    int timeout = timeout_ms;
    if (loop->ntimers) {
        uint64_t due = loop->heap[0]->due;
        uint64_t wait = due > now ? due - now : 0;
        if (wait > INT32_MAX)
            wait = INT32_MAX;
        if (timeout < 0 || (uint64_t)timeout > wait)
            timeout = (int)wait;
    }
    if (atomic_load(&loop->stop))
        timeout = 0;
    turn_begin(loop);
    loop->now_stale = 1;
    int n = loop->ops->wait(loop->be, timeout, on_ready, loop);
    loop->now_stale = 0;
    loop->now = clock_now(loop);
    wsio__loop_run_timers(loop);
    turn_end(loop);
    return n;
}

int wsio_loop_run(wsio_loop *loop)
{
    if (loop->host_mode)
        return WSIO_ESTATE;
    int rc = 0;
    while (!atomic_load(&loop->stop) && wsio_loop_alive(loop)) {
        /* Work queued outside the loop (a server freed or shut down
         * between two runs) is done first in run_once and may leave
         * nothing alive: then it must not wait for an event. */
        int pending = loop->turn_tasks || loop->deferred;
        rc = wsio_loop_run_once(loop, pending ? 0 : -1);
        if (rc < 0)
            break;
        rc = 0;
    }
    atomic_store(&loop->stop, 0);
    return rc;
}

void wsio_loop_stop(wsio_loop *loop)
{
    atomic_store(&loop->stop, 1);
    wsio__loop_wake(loop);
}

int wsio_loop_post(wsio_loop *loop, void (*fn)(void *user), void *user)
{
    post_item *it = wsio__malloc(loop->mem, sizeof *it);
    if (!it)
        return WSIO_ENOMEM;
    it->next = NULL;
    it->fn = fn;
    it->user = user;
    pthread_mutex_lock(&loop->post_mu);
    if (loop->post_tail)
        loop->post_tail->next = it;
    else
        loop->post_head = it;
    loop->post_tail = it;
    pthread_mutex_unlock(&loop->post_mu);
    wsio__loop_wake(loop);
    return 0;
}

uint64_t wsio_loop_now(const wsio_loop *loop)
{
    return clock_now(loop);
}

uint64_t wsio_loop_now_us(const wsio_loop *loop)
{
    (void)loop;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

const char *wsio_loop_backend_name(const wsio_loop *loop)
{
    return loop->host_mode ? "host" : loop->ops->name;
}

int wsio_loop_backend_fd(const wsio_loop *loop)
{
    if (loop->host_mode || !loop->ops->backend_fd)
        return -1;
    return loop->ops->backend_fd(loop->be);
}

int wsio_loop_on_io(wsio_loop *loop, int fd, unsigned events)
{
    if (!loop->host_mode)
        return WSIO_ESTATE;
    if (fd < 0 || (size_t)fd >= loop->nby_fd || !loop->by_fd[fd])
        return WSIO_EINVAL;
    wsio__io *io = loop->by_fd[fd];
    turn_begin(loop);
    /* Report only what is asked for, plus hang-ups, as backends do. */
    unsigned ev = events & (io->events | WSIO_IO_HUP);
    if (ev)
        io_ready(loop, io, ev);
    turn_end(loop);
    return 0;
}

int wsio_loop_on_timer(wsio_loop *loop)
{
    if (!loop->host_mode)
        return WSIO_ESTATE;
    turn_begin(loop);
    wsio__loop_run_timers(loop);
    turn_end(loop);
    /* The host's timer went off: tell it the next one even if unchanged. */
    tell_host(loop, 1);
    return 0;
}
