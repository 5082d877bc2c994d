/*
 * tests/unit/test_loop.c - the event loop: timers (through the internal
 * timer API the server and connections use), posts from another thread,
 * stop, and host loop mode driven by a tiny loop written here. Backend
 * tests run on poll and on epoll (the prestate names the backend).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "loop_internal.h"

static wsio_loop *make_loop(test_mem *tm, const char *backend)
{
    wsio_loop_config lc;
    wsio_loop_config_default(&lc);
    lc.mem = tm ? &tm->mem : NULL;
    lc.backend = wsio_backend_by_name(backend);
    int err = 0;
    wsio_loop *loop = wsio_loop_new(&lc, &err);
    assert_non_null(loop);
    assert_string_equal(wsio_loop_backend_name(loop), backend);
    return loop;
}

/* A timer that records the order it fired in. */
typedef struct rec_timer {
    wsio__timer_cb t;
    int id;
    int *order;
    int *nfired;
} rec_timer;

static void rec_fire(wsio__timer_cb *t)
{
    rec_timer *r = (rec_timer *)t;
    r->order[(*r->nfired)++] = r->id;
}

static void test_loop_timers_fire_in_due_order(void **state)
{
    test_mem tm;
    test_mem_init(&tm);
    wsio_loop *loop = make_loop(&tm, *state);
    static const uint64_t delay[] = {30, 10, 20, 0, 40, 25};
    enum { N = sizeof delay / sizeof delay[0] };
    rec_timer r[N];
    int order[N], nfired = 0;
    uint64_t now = wsio_loop_now(loop);
    for (int i = 0; i < N; i++) {
        r[i].t = (wsio__timer_cb){.fire = rec_fire};
        r[i].id = i;
        r[i].order = order;
        r[i].nfired = &nfired;
        assert_int_equal(wsio__timer_reserve(loop), 0);
        wsio__timer_start(loop, &r[i].t.t, now + delay[i]);
    }
    wsio__timer_stop(loop, &r[5].t.t);            /* never fires */
    wsio__timer_start(loop, &r[2].t.t, now + 35); /* moved after 0 */
    assert_true(wsio_loop_alive(loop));
    /* wsio_loop_run returns once no timer is left. */
    assert_int_equal(wsio_loop_run(loop), 0);
    assert_int_equal(nfired, 5);
    static const int want[] = {3, 1, 0, 2, 4};
    assert_memory_equal(order, want, sizeof want);
    assert_true(wsio_loop_now(loop) >= now + 40);
    for (int i = 0; i < N; i++)
        wsio__timer_unreserve(loop);
    wsio_loop_free(loop);
    assert_int_equal(tm.live_blocks, 0);
}

/* ---- posts and stop from other threads -------------------------------------
 */

typedef struct post_test post_test;

typedef struct post_arg {
    post_test *pt;
    int value;
} post_arg;

struct post_test {
    wsio_loop *loop;
    post_arg args[1000];
    int seen[1000];
    int count;
};

static void record_post(void *user)
{
    post_arg *a = user;
    a->pt->seen[a->pt->count++] = a->value;
}

static void *poster(void *user)
{
    post_test *pt = user;
    for (int i = 0; i < 1000; i++) {
        pt->args[i].pt = pt;
        pt->args[i].value = i;
        while (wsio_loop_post(pt->loop, record_post, &pt->args[i]) != 0)
            ;
    }
    return NULL;
}

static void test_loop_post_from_thread_runs_in_order(void **state)
{
    /* libc memory: the poster thread allocates while the loop runs. */
    post_test *pt = calloc(1, sizeof *pt);
    assert_non_null(pt);
    pt->loop = make_loop(NULL, *state);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, poster, pt), 0);
    for (int turns = 0; pt->count < 1000 && turns < 100000; turns++)
        assert_true(wsio_loop_run_once(pt->loop, 100) >= 0);
    pthread_join(th, NULL);
    assert_int_equal(pt->count, 1000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(pt->seen[i], i);
    wsio_loop_free(pt->loop);
    free(pt);
}

static void *stopper(void *user)
{
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    wsio_loop_stop(user);
    return NULL;
}

static void never(wsio__timer_cb *t)
{
    (void)t;
    fail_msg("the hour-long timer fired");
}

static void test_loop_stop_from_thread_ends_run(void **state)
{
    wsio_loop *loop = make_loop(NULL, *state);
    wsio__timer_cb hour = {.fire = never};
    assert_int_equal(wsio__timer_reserve(loop), 0);
    wsio__timer_start(loop, &hour.t, wsio_loop_now(loop) + 3600 * 1000);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stopper, loop), 0);
    assert_int_equal(wsio_loop_run(loop), 0); /* returns: stopped */
    pthread_join(th, NULL);
    assert_true(wsio_loop_alive(loop));
    wsio__timer_stop(loop, &hour.t);
    wsio__timer_unreserve(loop);
    assert_false(wsio_loop_alive(loop));
    wsio_loop_free(loop);
}

/* Stops the loop after 5 s unless told to stand down first. */
typedef struct watchdog {
    wsio_loop *loop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, fired;
} watchdog;

static void *watchdog_main(void *arg)
{
    watchdog *w = arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&w->mu);
    while (!w->done &&
           pthread_cond_timedwait(&w->cv, &w->mu, &until) != ETIMEDOUT)
        ;
    if (!w->done) {
        w->fired = 1;
        wsio_loop_stop(w->loop);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* A server freed between two runs leaves only its deferred release: run
 * does that first and must then return, not wait for an event. */
static void
test_loop_run_returns_after_a_release_left_from_outside(void **state)
{
    wsio_loop *loop = make_loop(NULL, *state);
    int err = 0;
    wsio_server *srv = wsio_server_new(loop, NULL, NULL, NULL, NULL, &err);
    assert_non_null(srv);
    wsio_server_free(srv);
    assert_true(wsio_loop_alive(loop));
    watchdog w = {.loop = loop,
                  .mu = PTHREAD_MUTEX_INITIALIZER,
                  .cv = PTHREAD_COND_INITIALIZER};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, watchdog_main, &w), 0);
    assert_int_equal(wsio_loop_run(loop), 0);
    pthread_mutex_lock(&w.mu);
    w.done = 1;
    pthread_cond_signal(&w.cv);
    pthread_mutex_unlock(&w.mu);
    pthread_join(th, NULL);
    assert_false(w.fired);
    assert_false(wsio_loop_alive(loop));
    wsio_loop_free(loop);
}

/* A backend table is taken when its abi_version is at least the one that
 * brought every member the loop uses (1): a later one too, since tables
 * only gain members at the end. */
static void test_loop_new_checks_backend_abi_at_least(void **state)
{
    (void)state;
    wsio_backend_ops ops = *wsio_backend_poll();
    ops.abi_version = 0;
    wsio_loop_config lc;
    wsio_loop_config_default(&lc);
    lc.backend = &ops;
    int err = 0;
    assert_null(wsio_loop_new(&lc, &err));
    assert_int_equal(err, WSIO_EINVAL);
    ops.abi_version = WSIO_BACKEND_ABI_VERSION + 1;
    wsio_loop *loop = wsio_loop_new(&lc, &err);
    assert_non_null(loop);
    wsio_loop_free(loop);
}

/* A config whose struct_size was never set (not filled by
 * wsio_loop_config_default) is refused, not read. */
static void test_loop_new_refuses_unsized_config(void **state)
{
    (void)state;
    wsio_loop_config lc;
    wsio_loop_config_default(&lc);
    assert_int_equal(lc.struct_size, sizeof lc);
    lc.struct_size = 0;
    int err = 0;
    assert_null(wsio_loop_new(&lc, &err));
    assert_int_equal(err, WSIO_EINVAL);
}

static void test_loop_new_out_of_memory_fails_cleanly(void **state)
{
    (void)state;
    int made = 0;
    for (long n = 0; n < 20 && !made; n++) {
        test_mem tm;
        test_mem_init(&tm);
        test_mem_fail_at(&tm, n);
        wsio_loop_config lc;
        wsio_loop_config_default(&lc);
        lc.mem = &tm.mem;
        int err = 0;
        wsio_loop *loop = wsio_loop_new(&lc, &err);
        if (loop) {
            made = 1;
            wsio_loop_free(loop);
        } else {
            assert_int_equal(err, WSIO_ENOMEM);
        }
        assert_int_equal(tm.live_blocks, 0);
    }
    assert_true(made);
}

/* ---- host loop mode ---------------------------------------------------------
 */

typedef struct tiny_host {
    struct pollfd fds[8];
    int n;
    uint64_t due;
    int timer_calls;
} tiny_host;

static int tiny_watch(int fd, unsigned events, void *user)
{
    tiny_host *h = user;
    return test_host_watch(h->fds, &h->n, 8, fd, events);
}

static void tiny_timer(uint64_t due, void *user)
{
    tiny_host *h = user;
    h->due = due;
    h->timer_calls++;
}

/* One turn of the tiny host loop. */
static void tiny_turn(tiny_host *h, wsio_loop *loop, int max_ms)
{
    int timeout = max_ms;
    uint64_t now = wsio_loop_now(loop);
    if (h->due != UINT64_MAX)
        timeout = h->due <= now                     ? 0
                  : h->due - now < (uint64_t)max_ms ? (int)(h->due - now)
                                                    : max_ms;
    struct pollfd set[8];
    int n = h->n;
    memcpy(set, h->fds, sizeof set);
    int rc = poll(set, (nfds_t)n, timeout);
    for (int i = 0; rc > 0 && i < n; i++)
        if (set[i].revents & POLLIN)
            assert_int_equal(wsio_loop_on_io(loop, set[i].fd, WSIO_IO_READ), 0);
    if (h->due != UINT64_MAX && wsio_loop_now(loop) >= h->due)
        assert_int_equal(wsio_loop_on_timer(loop), 0);
}

static void count_post(void *user)
{
    (*(int *)user)++;
}

static void count_fire(wsio__timer_cb *t)
{
    rec_timer *r = (rec_timer *)t;
    (*r->nfired)++;
}

static void test_loop_host_mode_drives_timers_and_posts(void **state)
{
    (void)state;
    test_mem tm;
    test_mem_init(&tm);
    tiny_host h = {.due = UINT64_MAX};
    wsio_host_loop host = {
        .watch = tiny_watch, .timer = tiny_timer, .user = &h};
    wsio_loop_config lc;
    wsio_loop_config_default(&lc);
    lc.host = &host;
    lc.mem = &tm.mem;
    int err = 0;
    wsio_loop *loop = wsio_loop_new(&lc, &err);
    assert_non_null(loop);
    assert_string_equal(wsio_loop_backend_name(loop), "host");
    assert_int_equal(h.n, 1); /* the wake fd */
    assert_int_equal(wsio_loop_run(loop), WSIO_ESTATE);
    assert_int_equal(wsio_loop_run_once(loop, 0), WSIO_ESTATE);
    assert_int_equal(wsio_loop_backend_fd(loop), -1);
    assert_int_equal(wsio_loop_on_io(loop, 1000, WSIO_IO_READ), WSIO_EINVAL);

    /* A timer: the host is told when, and runs it through on_timer. */
    int nfired = 0;
    rec_timer r = {.t = {.fire = count_fire}, .nfired = &nfired};
    assert_int_equal(wsio__timer_reserve(loop), 0);
    uint64_t due = wsio_loop_now(loop) + 20;
    wsio__timer_start(loop, &r.t.t, due);
    assert_int_equal(h.due, due);
    for (int i = 0; i < 1000 && nfired == 0; i++)
        tiny_turn(&h, loop, 10);
    assert_int_equal(nfired, 1);
    assert_true(wsio_loop_now(loop) >= due);
    assert_int_equal(h.due, UINT64_MAX); /* nothing left */

    /* A post wakes the host through the wake fd. */
    int posted = 0;
    assert_int_equal(wsio_loop_post(loop, count_post, &posted), 0);
    for (int i = 0; i < 1000 && posted == 0; i++)
        tiny_turn(&h, loop, 10);
    assert_int_equal(posted, 1);

    wsio__timer_unreserve(loop);
    wsio_loop_free(loop);
    assert_int_equal(h.n, 0); /* wsio asked to stop watching its fd */
    assert_int_equal(tm.live_blocks, 0);
}

#define ON_EVERY_BACKEND(fn)                                                   \
    {#fn "/poll", fn, NULL, NULL, (void *)"poll"},                             \
    {                                                                          \
#fn "/epoll", fn, NULL, NULL, (void *)"epoll"                          \
    }

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_BACKEND(test_loop_timers_fire_in_due_order),
        ON_EVERY_BACKEND(test_loop_post_from_thread_runs_in_order),
        ON_EVERY_BACKEND(test_loop_stop_from_thread_ends_run),
        ON_EVERY_BACKEND(
            test_loop_run_returns_after_a_release_left_from_outside),
        cmocka_unit_test(test_loop_new_checks_backend_abi_at_least),
        cmocka_unit_test(test_loop_new_refuses_unsized_config),
        cmocka_unit_test(test_loop_new_out_of_memory_fails_cleanly),
        cmocka_unit_test(test_loop_host_mode_drives_timers_and_posts),
    };
    return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
