/*
 * tests/unit/test_loop_plumbing.c - the loop objects every connection
 * embeds (loop_internal.h), which carry a kind instead of a function: the
 * connection hooks and the _cb wrappers both reach the right function;
 * timers keep their exact due over the whole uint64_t range, many at once
 * and when stopped or started from inside a fire; turn tasks queued from
 * inside a turn task run in the same turn; an io on the highest fd the
 * process may open. Timers run on a host loop with a clock the test moves.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "testutil.h"
#include "loop_internal.h"

/* ---- a host loop with a clock of our own ----------------------------------
 */

typedef struct fake_host {
    uint64_t now;
    uint64_t due; /* last due told, UINT64_MAX: none */
    struct pollfd fds[4];
    int n;
} fake_host;

static int fake_watch(int fd, unsigned events, void *user)
{
    fake_host *h = user;
    return test_host_watch(h->fds, &h->n, 4, fd, events);
}

static void fake_timer(uint64_t due, void *user)
{
    ((fake_host *)user)->due = due;
}

static uint64_t fake_now(void *user)
{
    return ((fake_host *)user)->now;
}

static wsio_loop *host_loop(fake_host *h, test_mem *tm)
{
    wsio_host_loop host = {.watch = fake_watch,
                           .timer = fake_timer,
                           .now_ms = fake_now,
                           .user = h};
    h->due = UINT64_MAX;
    wsio_loop_config lc;
    wsio_loop_config_default(&lc);
    lc.host = &host;
    lc.mem = tm ? &tm->mem : NULL;
    int err = 0;
    wsio_loop *loop = wsio_loop_new(&lc, &err);
    assert_non_null(loop);
    return loop;
}

static wsio_loop *backend_loop(const char *name)
{
    wsio_loop_config lc;
    wsio_loop_config_default(&lc);
    lc.backend = wsio_backend_by_name(name);
    int err = 0;
    wsio_loop *loop = wsio_loop_new(&lc, &err);
    assert_non_null(loop);
    return loop;
}

/* ---- what the objects of each kind call -----------------------------------
 */

/* One test object with every embedded kind of loop object. */
typedef struct obj obj;
struct obj {
    wsio__io io;
    wsio__timer timer;
    wsio__turn_task task;
    wsio__deferred defer;
    int id;
    int fired, ran, released, ready;
    unsigned ready_events;
    /* What its fire or run does to others (NULL: nothing). */
    void (*on_fire)(obj *o);
    void (*on_run)(obj *o);
    wsio_loop *loop;
    obj *other, *third;
    int *order; /* ids in firing order */
    int *norder;
};

static void note(obj *o)
{
    if (o->order)
        o->order[(*o->norder)++] = o->id;
}

static void conn_ready(wsio__io *io, unsigned events)
{
    obj *o = WSIO__CONTAINER_OF(io, obj, io);
    o->ready++;
    o->ready_events |= events;
}

static void conn_fire(wsio__timer *t)
{
    obj *o = WSIO__CONTAINER_OF(t, obj, timer);
    o->fired++;
    note(o);
    if (o->on_fire)
        o->on_fire(o);
}

static void conn_run(wsio__turn_task *t)
{
    obj *o = WSIO__CONTAINER_OF(t, obj, task);
    o->ran++;
    note(o);
    if (o->on_run)
        o->on_run(o);
}

static void conn_release(wsio__deferred *d)
{
    WSIO__CONTAINER_OF(d, obj, defer)->released++;
}

static const wsio__conn_hooks hooks = {.ready = conn_ready,
                                       .fire = conn_fire,
                                       .run = conn_run,
                                       .release = conn_release};

static void obj_init(obj *o, wsio_loop *loop, int id)
{
    memset(o, 0, sizeof *o);
    o->io.kind = WSIO__KIND_CONN;
    o->io.fd = -1;
    o->timer.kind = WSIO__KIND_CONN;
    o->defer.kind = WSIO__KIND_CONN;
    o->loop = loop;
    o->id = id;
    assert_int_equal(wsio__timer_reserve(loop), 0);
}

/* The kind WSIO__KIND_CB: a timer with a function of its own. */
typedef struct cb_timer {
    wsio__timer_cb t;
    int fired;
} cb_timer;

static void cb_fire(wsio__timer_cb *t)
{
    ((cb_timer *)t)->fired++;
}

/* ---- timers ----------------------------------------------------------------
 */

/* Timers of both kinds with one due: each fires once, none early, and
 * every third one stopped never fires. More than 65536 in all, where a
 * 16-bit heap slot would wrap and stop another. */
static void test_plumbing_many_timers_with_one_due_fire_once_each(void **state)
{
    (void)state;
    enum { N = 33000 };
    test_mem tm;
    test_mem_init(&tm);
    fake_host h = {.now = 1000};
    wsio_loop *loop = host_loop(&h, &tm);
    wsio__loop_set_conn_hooks(loop, &hooks);
    obj *o = calloc(N, sizeof *o);
    cb_timer *c = calloc(N, sizeof *c);
    assert_true(o && c);
    for (int i = 0; i < N; i++) {
        obj_init(&o[i], loop, i);
        c[i].t.fire = cb_fire;
        assert_int_equal(wsio__timer_reserve(loop), 0);
        wsio__timer_start(loop, &o[i].timer, 5000);
        wsio__timer_start(loop, &c[i].t.t, 5000);
    }
    /* From the top of the heap down, before any moves there. */
    for (int i = N - 1; i >= 0; i--)
        if (i % 3 == 0)
            wsio__timer_stop(loop, &o[i].timer);
    assert_int_equal(h.due, 5000);
    h.now = 4999;
    assert_int_equal(wsio_loop_on_timer(loop), 0);
    for (int i = 0; i < N; i++)
        assert_true(o[i].fired == 0 && c[i].fired == 0);
    h.now = 5000;
    assert_int_equal(wsio_loop_on_timer(loop), 0);
    h.now = 9000;
    assert_int_equal(wsio_loop_on_timer(loop), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(o[i].fired, i % 3 != 0);
        assert_int_equal(c[i].fired, 1);
        assert_int_equal(o[i].timer.slot, 0);
    }
    assert_int_equal(h.due, UINT64_MAX);
    for (int i = 0; i < 2 * N; i++)
        wsio__timer_unreserve(loop);
    free(o);
    free(c);
    wsio_loop_free(loop);
    assert_int_equal(tm.live_blocks, 0);
}

static void count_user_fire(wsio_timer *t, void *user)
{
    (void)t;
    (*(int *)user)++;
}

/* Dues at the top of the clock's range stay exact: each fires at its own
 * millisecond, the public timer's largest delay (due UINT64_MAX) last; w
 * is 2^32 ms before a, where a due kept in 32 bits would wrap onto a's. */
static void test_plumbing_far_dues_stay_exact(void **state)
{
    (void)state;
    const uint64_t wdue = UINT64_MAX - 2 - ((uint64_t)1 << 32);
    fake_host h = {.now = UINT64_MAX - ((uint64_t)1 << 33)};
    wsio_loop *loop = host_loop(&h, NULL);
    wsio__loop_set_conn_hooks(loop, &hooks);
    int order[4], norder = 0;
    obj a, b, w;
    obj_init(&a, loop, 1);
    obj_init(&b, loop, 2);
    obj_init(&w, loop, 3);
    a.order = b.order = w.order = order;
    a.norder = b.norder = w.norder = &norder;
    int user_fired = 0;
    int err = 0;
    wsio_timer *ut = wsio_timer_new(loop, count_user_fire, &user_fired, &err);
    assert_non_null(ut);
    wsio_timer_start(ut, UINT64_MAX); /* saturates at due UINT64_MAX */
    wsio__timer_start(loop, &b.timer, UINT64_MAX - 1);
    wsio__timer_start(loop, &a.timer, UINT64_MAX - 2);
    wsio__timer_start(loop, &w.timer, wdue);
    assert_int_equal(h.due, wdue);
    static const uint64_t steps[] = {UINT64_MAX - 3 - ((uint64_t)1 << 32),
                                     UINT64_MAX - 2 - ((uint64_t)1 << 32),
                                     UINT64_MAX - 3, UINT64_MAX - 2,
                                     UINT64_MAX - 1};
    static const int fired_by[] = {0, 1, 1, 2, 3}; /* norder after each */
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        h.now = steps[i];
        assert_int_equal(wsio_loop_on_timer(loop), 0);
        assert_int_equal(norder, fired_by[i]);
    }
    assert_int_equal(h.due, UINT64_MAX);
    assert_int_equal(user_fired, 0);
    assert_true(wsio_timer_armed(ut));
    h.now = UINT64_MAX;
    assert_int_equal(wsio_loop_on_timer(loop), 0);
    assert_int_equal(user_fired, 1);
    assert_false(wsio_timer_armed(ut));
    static const int want[] = {3, 1, 2};
    assert_memory_equal(order, want, sizeof want);
    for (int i = 0; i < 3; i++)
        wsio__timer_unreserve(loop);
    wsio_timer_free(ut);
    wsio_loop_free(loop);
}

/* On a real clock the largest delay never fires and keeps no loop alive. */
static void test_plumbing_largest_delay_waits(void **state)
{
    wsio_loop *loop = backend_loop(*state);
    int fired = 0, err = 0;
    wsio_timer *t = wsio_timer_new(loop, count_user_fire, &fired, &err);
    assert_non_null(t);
    wsio_timer_start(t, UINT64_MAX);
    assert_true(wsio_timer_armed(t));
    assert_false(wsio_loop_alive(loop));
    assert_true(wsio_loop_run_once(loop, 20) >= 0);
    assert_int_equal(fired, 0);
    assert_true(wsio_timer_armed(t));
    wsio_timer_free(t);
    wsio_loop_free(loop);
}

/* a (first due) stops b, starts itself again at the current millisecond
 * and starts e in the past; c restarts d, due later, to now. What is
 * started from a fire with a due already reached runs at the next
 * millisecond, not in the same run; what is stopped never runs. */
static void a_fires(obj *a)
{
    wsio__timer_stop(a->loop, &a->other->timer);
    wsio__timer_start(a->loop, &a->timer, wsio__loop_now(a->loop));
    wsio__timer_start(a->loop, &a->third->timer, 0);
    a->on_fire = NULL; /* once */
}

static void c_fires(obj *c)
{
    wsio__timer_start(c->loop, &c->other->timer, wsio__loop_now(c->loop));
}

static void test_plumbing_timers_started_and_stopped_inside_fires(void **state)
{
    (void)state;
    test_mem tm;
    test_mem_init(&tm);
    fake_host h = {.now = 100};
    wsio_loop *loop = host_loop(&h, &tm);
    wsio__loop_set_conn_hooks(loop, &hooks);
    int order[16], norder = 0;
    obj o[5]; /* a b c d e */
    for (int i = 0; i < 5; i++) {
        obj_init(&o[i], loop, 'a' + i);
        o[i].order = order;
        o[i].norder = &norder;
    }
    o[0].on_fire = a_fires;
    o[0].other = &o[1];
    o[0].third = &o[4];
    o[2].on_fire = c_fires;
    o[2].other = &o[3];
    wsio__timer_start(loop, &o[0].timer, 199);
    wsio__timer_start(loop, &o[1].timer, 200);
    wsio__timer_start(loop, &o[2].timer, 200);
    wsio__timer_start(loop, &o[3].timer, 10000);
    h.now = 200;
    assert_int_equal(wsio_loop_on_timer(loop), 0);
    assert_int_equal(norder, 2);
    assert_int_equal(order[0], 'a');
    assert_int_equal(order[1], 'c');
    assert_int_equal(h.due, 201); /* a, d and e, all bumped */
    /* The same millisecond again: nothing. */
    assert_int_equal(wsio_loop_on_timer(loop), 0);
    assert_int_equal(norder, 2);
    h.now = 201;
    assert_int_equal(wsio_loop_on_timer(loop), 0);
    assert_int_equal(norder, 5);
    h.now = 20000;
    assert_int_equal(wsio_loop_on_timer(loop), 0);
    assert_int_equal(norder, 5);
    int want_fired[5] = {2, 0, 1, 1, 1};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(o[i].fired, want_fired[i]);
        assert_int_equal(o[i].timer.slot, 0);
    }
    assert_int_equal(h.due, UINT64_MAX);
    for (int i = 0; i < 5; i++)
        wsio__timer_unreserve(loop);
    wsio_loop_free(loop);
    assert_int_equal(tm.live_blocks, 0);
}

/* ---- turn tasks and deferred releases ---------------------------------------
 */

/* x queues y and itself again (twice); y queues z; z queues y, which ran
 * already and so runs again: all in the one turn. */
static void x_runs(obj *x)
{
    wsio__loop_at_turn_end(x->loop, &x->other->task);
    if (x->ran < 3)
        wsio__loop_at_turn_end(x->loop, &x->task);
}

static void y_runs(obj *y)
{
    if (y->ran == 1)
        wsio__loop_at_turn_end(y->loop, &y->other->task);
}

static void z_runs(obj *z)
{
    wsio__loop_at_turn_end(z->loop, &z->other->task);
}

static void test_plumbing_turn_tasks_queued_from_turn_tasks(void **state)
{
    wsio_loop *loop = backend_loop(*state);
    wsio__loop_set_conn_hooks(loop, &hooks);
    obj x, y, z;
    obj_init(&x, loop, 'x');
    obj_init(&y, loop, 'y');
    obj_init(&z, loop, 'z');
    x.on_run = x_runs;
    x.other = &y;
    y.on_run = y_runs;
    y.other = &z;
    z.on_run = z_runs;
    z.other = &y;
    /* Queued twice before the turn: once. */
    wsio__loop_at_turn_end(loop, &x.task);
    wsio__loop_at_turn_end(loop, &x.task);
    assert_true(wsio_loop_alive(loop));
    assert_true(wsio_loop_run_once(loop, 0) >= 0);
    assert_int_equal(x.ran, 3);
    assert_true(y.ran >= 2); /* z's queue after y's own run: once more */
    assert_int_equal(z.ran, 1);
    int yran = y.ran;
    assert_null(x.task.next);
    assert_null(y.task.next);
    assert_null(z.task.next);
    assert_false(wsio_loop_alive(loop));
    assert_true(wsio_loop_run_once(loop, 0) >= 0);
    assert_int_equal(x.ran, 3);
    assert_int_equal(y.ran, yran);
    for (int i = 0; i < 3; i++)
        wsio__timer_unreserve(loop);
    wsio_loop_free(loop);
}

typedef struct cb_defer {
    wsio__deferred_cb d;
    int released;
} cb_defer;

static void cb_release(wsio__deferred_cb *d)
{
    ((cb_defer *)d)->released++;
}

/* Both kinds of deferred release run once, at the end of the turn. */
static void test_plumbing_deferred_of_both_kinds(void **state)
{
    wsio_loop *loop = backend_loop(*state);
    wsio__loop_set_conn_hooks(loop, &hooks);
    obj o;
    obj_init(&o, loop, 1);
    cb_defer c = {.d = {.release = cb_release}};
    wsio__defer(loop, &o.defer);
    wsio__defer(loop, &c.d.d);
    wsio__defer(loop, &o.defer);
    assert_int_equal(o.released + c.released, 0);
    assert_true(wsio_loop_run_once(loop, 0) >= 0);
    assert_int_equal(o.released, 1);
    assert_int_equal(c.released, 1);
    wsio__timer_unreserve(loop);
    wsio_loop_free(loop);
}

/* ---- fds -------------------------------------------------------------------
 */

typedef struct cb_io {
    wsio__io_cb io;
    int ready;
} cb_io;

static void cb_ready(wsio__io_cb *io, unsigned events)
{
    (void)events;
    ((cb_io *)io)->ready++;
}

/* The highest fd this process may open (the hard limit's, raised to). */
static int highest_fd(void)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < rl.rlim_max && rl.rlim_max != RLIM_INFINITY) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    rlim_t n = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1u << 20
                   ? 1u << 20
                   : rl.rlim_cur;
    return (int)n - 1;
}

/* A connection's io on the highest fd, beside a _cb io on a low one: each
 * reaches its own function with its own fd, on every backend and on a host
 * loop. */
static void test_plumbing_io_kinds_on_the_highest_fd(void **state)
{
    const char *name = *state;
    int host = strcmp(name, "host") == 0;
    fake_host h = {0};
    wsio_loop *loop = host ? host_loop(&h, NULL) : backend_loop(name);
    wsio__loop_set_conn_hooks(loop, &hooks);
    int p[2], q[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(pipe(q), 0);
    int high = highest_fd();
    assert_true(high > p[0]);
    assert_int_equal(dup2(p[0], high), high);
    close(p[0]);
    obj o;
    obj_init(&o, loop, 1);
    o.io.fd = high;
    cb_io c = {.io = {.io = {.fd = q[0]}, .ready = cb_ready}};
    assert_int_equal(wsio__io_watch(loop, &o.io, WSIO_IO_READ), 0);
    assert_int_equal(wsio__io_watch(loop, &c.io.io, WSIO_IO_READ), 0);
    assert_int_equal(o.io.fd, high);
    assert_int_equal(o.io.events, WSIO_IO_READ);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(write(q[1], "y", 1), 1);
    for (int i = 0; i < 100 && (o.ready == 0 || c.ready == 0); i++) {
        if (!host) {
            assert_true(wsio_loop_run_once(loop, 50) >= 0);
            continue;
        }
        struct pollfd set[4];
        memcpy(set, h.fds, sizeof set);
        assert_true(poll(set, (nfds_t)h.n, 50) >= 0);
        for (int k = 0; k < h.n; k++)
            if (set[k].revents & POLLIN)
                assert_int_equal(wsio_loop_on_io(loop, set[k].fd, WSIO_IO_READ),
                                 0);
    }
    assert_true(o.ready >= 1);
    assert_true(o.ready_events & WSIO_IO_READ);
    assert_true(c.ready >= 1);
    wsio__io_unwatch(loop, &o.io);
    wsio__io_unwatch(loop, &c.io.io);
    assert_int_equal(o.io.events, 0);
    close(high);
    close(p[1]);
    close(q[0]);
    close(q[1]);
    wsio__timer_unreserve(loop);
    wsio_loop_free(loop);
}

#define ON_EVERY_BACKEND(fn)                                                   \
    {#fn "/poll", fn, NULL, NULL, (void *)"poll"},                             \
    {                                                                          \
#fn "/epoll", fn, NULL, NULL, (void *)"epoll"                          \
    }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plumbing_many_timers_with_one_due_fire_once_each),
        cmocka_unit_test(test_plumbing_far_dues_stay_exact),
        ON_EVERY_BACKEND(test_plumbing_largest_delay_waits),
        cmocka_unit_test(test_plumbing_timers_started_and_stopped_inside_fires),
        ON_EVERY_BACKEND(test_plumbing_turn_tasks_queued_from_turn_tasks),
        ON_EVERY_BACKEND(test_plumbing_deferred_of_both_kinds),
        ON_EVERY_BACKEND(test_plumbing_io_kinds_on_the_highest_fd),
        cmocka_unit_test_prestate(test_plumbing_io_kinds_on_the_highest_fd,
                                  (void *)"host"),
    };
    return cmocka_run_group_tests_name("loop_plumbing", tests, NULL, NULL);
}
