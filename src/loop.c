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
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

#include "abi.h"
#include "block_cache.h"
#include "loop_internal.h"
#include "wsio/backend.h"

typedef struct post_item post_item;
struct post_item {
    post_item *next;
    void (*fn)(void *user);
    void *user;
};

/*
 * Invariants: heap[0..ntimers) is a binary min-heap on due, and
 * heap[i]->slot == i + 1; cap >= reserved >= ntimers, so starting a timer
 * never allocates. host_mode iff be == NULL. In host mode by_fd[fd] is the
 * io watched on fd (or NULL) for every fd < nby_fd.
 */
struct wsio_loop {
    const wsio_mem *mem;
    const wsio_backend_ops *ops; /* NULL in host mode */
    void *be;
    wsio_host_loop host;
    int host_mode;
    wsio__io **by_fd; /* host mode: fd -> io */
    size_t nby_fd;

    uint64_t now;           /* clock at the start of the turn's work */
    int now_stale;          /* now was read before the backend's wait */
    int depth;              /* inside a turn */
    uint8_t running_timers; /* inside run_timers */
    atomic_int stop;

    wsio__timer **heap;
    size_t ntimers, cap, reserved;
    size_t user_timers; /* armed wsio_timers: they keep no loop alive */
    uint64_t told_due;  /* host mode: last due given to the host */

    wsio__turn_task *turn_tasks; /* to run at the end of the turn */
    wsio__deferred *deferred;    /* to release at the end of the turn */
    wsio__link *attached;        /* servers and clients (wsio__attach) */
    size_t active_attached;      /* of them, the ones not passive */

    pthread_mutex_t post_mu;
    post_item *post_head, *post_tail;
    wsio__post *ipost_head, *ipost_tail; /* internal items, same lock */
    int wake_rd, wake_wr;                /* the same fd for an eventfd */
    wsio__io wake_io;

    uint8_t *rbuf;           /* WSIO__READ_BUF bytes, shared */
    int destroying;          /* inside wsio_loop_free: attach nothing */
    wsio__block_cache cache; /* connections' buffers, recycled */
};

/* The smallest struct_size wsio_loop_new takes: the first sized
 * release's config ended with mem. */
#define LOOP_CONFIG_MIN WSIO__SIZE_THROUGH(wsio_loop_config, mem)

void wsio_loop_config_init(wsio_loop_config *cfg, size_t size)
{
    static const wsio_loop_config def = {.struct_size = sizeof def};
    wsio__config_fill(cfg, size, &def, sizeof def);
}

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

static void sync_host(wsio_loop *loop)
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
        io->events = events;
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

/* ---- timers: a binary min-heap ------------------------------------------- */

static void heap_place(wsio_loop *loop, size_t i, wsio__timer *t)
{
    loop->heap[i] = t;
    t->slot = i + 1;
}

static void sift_up(wsio_loop *loop, size_t i)
{
    wsio__timer *t = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (loop->heap[parent]->due <= t->due)
            break;
        heap_place(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_place(loop, i, t);
}

static void sift_down(wsio_loop *loop, size_t i)
{
    wsio__timer *t = loop->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= loop->ntimers)
            break;
        if (child + 1 < loop->ntimers &&
            loop->heap[child + 1]->due < loop->heap[child]->due)
            child++;
        if (t->due <= loop->heap[child]->due)
            break;
        heap_place(loop, i, loop->heap[child]);
        i = child;
    }
    heap_place(loop, i, t);
}

int wsio__timer_reserve(wsio_loop *loop)
{
    if (loop->reserved == loop->cap) {
        size_t cap = loop->cap ? loop->cap * 2 : 16;
        wsio__timer **p = wsio__realloc(loop->mem, loop->heap, cap * sizeof *p);
        if (!p)
            return WSIO_ENOMEM;
        loop->heap = p;
        loop->cap = cap;
    }
    loop->reserved++;
    return 0;
}

void wsio__timer_unreserve(wsio_loop *loop)
{
    if (loop->reserved > 0)
        loop->reserved--;
}

static void timer_remove(wsio_loop *loop, wsio__timer *t)
{
    size_t i = t->slot - 1;
    t->slot = 0;
    loop->ntimers--;
    if (i == loop->ntimers)
        return;
    heap_place(loop, i, loop->heap[loop->ntimers]);
    sift_up(loop, i);
    sift_down(loop, loop->heap[i] == t ? i : loop->heap[i]->slot - 1);
}

void wsio__timer_stop(wsio_loop *loop, wsio__timer *t)
{
    if (t->slot == 0)
        return;
    timer_remove(loop, t);
    sync_host(loop);
}

void wsio__timer_start(wsio_loop *loop, wsio__timer *t, uint64_t due)
{
    if (t->slot)
        timer_remove(loop, t);
    /* Started by a timer's own callback and due already: the next turn, or
     * run_timers would fire it again and again without ever returning. */
    if (loop->running_timers && due <= loop->now)
        due = loop->now + 1;
    t->due = due;
    /* Room was reserved by the timer's owner. */
    heap_place(loop, loop->ntimers++, t);
    sift_up(loop, loop->ntimers - 1);
    sync_host(loop);
}

static void run_timers(wsio_loop *loop)
{
    uint64_t now = loop->now;
    loop->running_timers = 1;
    while (loop->ntimers && loop->heap[0]->due <= now) {
        wsio__timer *t = loop->heap[0];
        timer_remove(loop, t);
        t->fire(t);
    }
    loop->running_timers = 0;
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
    sync_host(loop);
}

static void release_deferred(wsio_loop *loop)
{
    while (loop->deferred) {
        wsio__deferred *d = loop->deferred;
        loop->deferred = d->next;
        d->release(d);
    }
}

void wsio__loop_at_turn_end(wsio_loop *loop, wsio__turn_task *t)
{
    if (t->queued)
        return;
    t->queued = 1;
    t->next = loop->turn_tasks;
    loop->turn_tasks = t;
    sync_host(loop);
}

static void run_turn_tasks(wsio_loop *loop)
{
    while (loop->turn_tasks) {
        wsio__turn_task *t = loop->turn_tasks;
        loop->turn_tasks = t->next;
        t->queued = 0;
        t->run(t);
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
    sync_host(loop);
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

/* ---- posts and the wake fd ------------------------------------------------
 */

/* Also called from signal handlers (wsio_loop_stop): errno is kept, so the
 * interrupted code never sees it change. */
static void wake(wsio_loop *loop)
{
    int saved = errno;
    uint64_t one = 1;
    /* A full pipe or counter already means "wake up": ignore EAGAIN. */
    ssize_t n = write(loop->wake_wr, &one, sizeof one);
    (void)n;
    errno = saved;
}

static void drain_wake(wsio_loop *loop)
{
    uint64_t buf[16];
    while (read(loop->wake_rd, buf, sizeof buf) > 0 &&
           loop->wake_rd != loop->wake_wr)
        ;
}

static void run_posts(wsio_loop *loop)
{
    pthread_mutex_lock(&loop->post_mu);
    post_item *it = loop->post_head;
    loop->post_head = loop->post_tail = NULL;
    pthread_mutex_unlock(&loop->post_mu);
    while (it) {
        post_item *next = it->next;
        void (*fn)(void *) = it->fn;
        void *user = it->user;
        wsio__free(loop->mem, it);
        fn(user);
        it = next;
    }
}

void wsio__loop_post_item(wsio_loop *loop, wsio__post *p)
{
    pthread_mutex_lock(&loop->post_mu);
    p->next = NULL;
    p->queued = 1;
    if (loop->ipost_tail)
        loop->ipost_tail->next = p;
    else
        loop->ipost_head = p;
    loop->ipost_tail = p;
    pthread_mutex_unlock(&loop->post_mu);
    wake(loop);
}

void wsio__loop_unpost(wsio_loop *loop, wsio__post *p)
{
    pthread_mutex_lock(&loop->post_mu);
    if (p->queued) {
        wsio__post **pp = &loop->ipost_head, *prev = NULL;
        while (*pp != p) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        *pp = p->next;
        if (loop->ipost_tail == p)
            loop->ipost_tail = prev;
        p->queued = 0;
    }
    pthread_mutex_unlock(&loop->post_mu);
}

/* One at a time: a run may take back any item still queued. */
static void run_internal_posts(wsio_loop *loop)
{
    for (;;) {
        pthread_mutex_lock(&loop->post_mu);
        wsio__post *p = loop->ipost_head;
        if (p) {
            loop->ipost_head = p->next;
            if (!p->next)
                loop->ipost_tail = NULL;
            p->queued = 0;
        }
        pthread_mutex_unlock(&loop->post_mu);
        if (!p)
            return;
        p->run(p);
    }
}

static void on_wake(wsio__io *io, unsigned events)
{
    (void)events;
    wsio_loop *loop = WSIO__CONTAINER_OF(io, wsio_loop, wake_io);
    drain_wake(loop);
    run_internal_posts(loop);
    run_posts(loop);
}

#ifndef __linux__
static int set_nonblock_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}

#endif

static int open_wake(wsio_loop *loop)
{
#ifdef __linux__
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    loop->wake_rd = loop->wake_wr = fd;
    return 0;
#else
    int p[2];
    if (pipe(p) < 0)
        return -errno;
    int rc = set_nonblock_cloexec(p[0]);
    if (rc == 0)
        rc = set_nonblock_cloexec(p[1]);
    if (rc) {
        close(p[0]);
        close(p[1]);
        return rc;
    }
    loop->wake_rd = p[0];
    loop->wake_wr = p[1];
    return 0;
#endif
}

static void close_wake(wsio_loop *loop)
{
    if (loop->wake_rd >= 0)
        close(loop->wake_rd);
    if (loop->wake_wr >= 0 && loop->wake_wr != loop->wake_rd)
        close(loop->wake_wr);
}

/* ---- the application's fds and timers
 * ----------------------------------------- */

struct wsio_watch {
    wsio__io io;
    wsio__deferred release;
    wsio_loop *loop;
    wsio_watch_fn fn;
    void *user;
    int freed; /* an event already collected this turn is not passed on */
};

static void watch_ready(wsio__io *io, unsigned events)
{
    wsio_watch *w = WSIO__CONTAINER_OF(io, wsio_watch, io);
    if (!w->freed)
        w->fn(w, io->fd, events, w->user);
}

static void watch_release(wsio__deferred *d)
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
    w->io.fd = fd;
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
        if (w->io.events)
            wsio__io_unwatch(w->loop, &w->io);
        return 0;
    }
    int rc = wsio__io_watch(w->loop, &w->io, events);
    if (rc && w->io.events)
        wsio__io_unwatch(w->loop, &w->io);
    return rc;
}

void wsio_watch_free(wsio_watch *w)
{
    if (!w || w->freed)
        return;
    (void)wsio_watch_set(w, 0);
    w->freed = 1;
    /* The backend may hold an event for it collected in this turn. */
    wsio__defer(w->loop, &w->release);
}

struct wsio_timer {
    wsio__timer t;
    wsio_loop *loop;
    wsio_timer_fn fn;
    void *user;
};

static void timer_fire(wsio__timer *t)
{
    wsio_timer *ut = WSIO__CONTAINER_OF(t, wsio_timer, t);
    ut->loop->user_timers--;
    ut->fn(ut, ut->user);
}

wsio_timer *wsio_timer_new(wsio_loop *loop, wsio_timer_fn fn, void *user,
                           int *err)
{
    int rc = WSIO_EINVAL;
    wsio_timer *t = NULL;
    if (fn) {
        rc = WSIO_ENOMEM;
        t = wsio__calloc(loop->mem, 1, sizeof *t);
    }
    if (t && wsio__timer_reserve(loop) != 0) {
        wsio__free(loop->mem, t);
        t = NULL;
    }
    if (!t) {
        if (err)
            *err = rc;
        return NULL;
    }
    t->t.fire = timer_fire;
    t->loop = loop;
    t->fn = fn;
    t->user = user;
    return t;
}

void wsio_timer_start(wsio_timer *t, uint64_t delay_ms)
{
    if (!t->t.slot)
        t->loop->user_timers++;
    uint64_t now = wsio__loop_now(t->loop);
    uint64_t due = delay_ms > UINT64_MAX - now ? UINT64_MAX : now + delay_ms;
    wsio__timer_start(t->loop, &t->t, due);
}

void wsio_timer_stop(wsio_timer *t)
{
    if (!t->t.slot)
        return;
    t->loop->user_timers--;
    wsio__timer_stop(t->loop, &t->t);
}

int wsio_timer_armed(const wsio_timer *t)
{
    return t->t.slot != 0;
}

void wsio_timer_free(wsio_timer *t)
{
    if (!t)
        return;
    wsio_timer_stop(t);
    wsio__timer_unreserve(t->loop);
    wsio__free(t->loop->mem, t);
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
    if (loop->wake_io.events)
        wsio__io_unwatch(loop, &loop->wake_io);
    close_wake(loop);
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
    rc = open_wake(loop);
    if (rc)
        goto fail;
    loop->wake_io.fd = loop->wake_rd;
    loop->wake_io.ready = on_wake;
    rc = wsio__io_watch(loop, &loop->wake_io, WSIO_IO_READ);
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
    wsio__io *io = tag;
    io->ready(io, events);
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
    run_timers(loop);
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
    wake(loop);
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
    wake(loop);
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
        io->ready(io, ev);
    turn_end(loop);
    return 0;
}

int wsio_loop_on_timer(wsio_loop *loop)
{
    if (!loop->host_mode)
        return WSIO_ESTATE;
    turn_begin(loop);
    run_timers(loop);
    turn_end(loop);
    /* The host's timer went off: tell it the next one even if unchanged. */
    tell_host(loop, 1);
    return 0;
}
