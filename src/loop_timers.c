/*
 * src/loop_timers.c - the loop's timers (loop.c): a binary min-heap of
 * internal timers, run once per turn, and the application's wsio_timer on
 * top of it.
 */
#include "loop_shared.h"

/* ---- timers: a binary min-heap ------------------------------------------- */

static void heap_place(wsio_loop *loop, size_t i, wsio__timer *t)
{
    loop->heap[i] = t;
    t->slot = (uint32_t)(i + 1);
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
    /* A slot is 32 bits: past that many timers, refuse the owner. */
    if (loop->reserved == UINT32_MAX)
        return WSIO_ENOMEM;
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
    wsio__loop_sync_host(loop);
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
    wsio__loop_sync_host(loop);
}

void wsio__loop_run_timers(wsio_loop *loop)
{
    uint64_t now = loop->now;
    loop->running_timers = 1;
    while (loop->ntimers && loop->heap[0]->due <= now) {
        wsio__timer *t = loop->heap[0];
        timer_remove(loop, t);
        if (t->kind == WSIO__KIND_CONN)
            loop->conn->fire(t);
        else {
            wsio__timer_cb *cb = WSIO__CONTAINER_OF(t, wsio__timer_cb, t);
            cb->fire(cb);
        }
    }
    loop->running_timers = 0;
}

struct wsio_timer {
    wsio__timer_cb t;
    wsio_loop *loop;
    wsio_timer_fn fn;
    void *user;
};

static void timer_fire(wsio__timer_cb *t)
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
    if (!t->t.t.slot)
        t->loop->user_timers++;
    uint64_t now = wsio__loop_now(t->loop);
    uint64_t due = delay_ms > UINT64_MAX - now ? UINT64_MAX : now + delay_ms;
    wsio__timer_start(t->loop, &t->t.t, due);
}

void wsio_timer_stop(wsio_timer *t)
{
    if (!t->t.t.slot)
        return;
    t->loop->user_timers--;
    wsio__timer_stop(t->loop, &t->t.t);
}

int wsio_timer_armed(const wsio_timer *t)
{
    return t->t.t.slot != 0;
}

void wsio_timer_free(wsio_timer *t)
{
    if (!t)
        return;
    wsio_timer_stop(t);
    wsio__timer_unreserve(t->loop);
    wsio__free(t->loop->mem, t);
}
