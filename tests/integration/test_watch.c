/*
 * tests/integration/test_watch.c - the application's own fds and timers on
 * the loop (wsio_watch, wsio_timer in wsio/loop.h), on every loop mode:
 * readiness reaches the callback only for what is watched, freeing from a
 * callback is safe, timers fire once per arming and are re-armable.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

typedef struct seen {
    int calls;
    unsigned events;
    int fd;
    wsio_watch *free_other; /* freed from this watch's callback */
    char data[16];
} seen;

static void on_ready(wsio_watch *w, int fd, unsigned events, void *user)
{
    (void)w;
    seen *s = user;
    s->calls++;
    s->events |= events;
    s->fd = fd;
    if (events & WSIO_IO_READ) {
        ssize_t n = read(fd, s->data, sizeof s->data - 1);
        if (n > 0)
            s->data[n] = '\0';
    }
    if (s->free_other) {
        wsio_watch_free(s->free_other);
        s->free_other = NULL;
    }
}

/* Is fd in what the host was asked to watch? */
static int host_watches(const env *e, int fd)
{
    for (size_t i = 0; i < e->npfd; i++)
        if (e->pfd[i].fd == fd)
            return 1;
    return 0;
}

static void test_watch_read_reaches_callback_until_unset(void **state)
{
    env *e = env_new(state);
    int p[2];
    assert_int_equal(pipe(p), 0);
    seen s = {0};
    int err = 0;
    wsio_watch *w = wsio_watch_new(e->loop, p[0], on_ready, &s, &err);
    assert_non_null(w);
    assert_int_equal(wsio_watch_set(w, WSIO_IO_READ), 0);
    if (strcmp(e->mode, "host") == 0)
        assert_true(host_watches(e, p[0]));
    run_for(e, 20);
    assert_int_equal(s.calls, 0); /* nothing written yet */
    assert_int_equal(write(p[1], "hello", 5), 5);
    RUN_UNTIL(e, s.calls == 1, 2000);
    assert_string_equal(s.data, "hello");
    assert_int_equal(s.fd, p[0]);
    assert_int_equal(s.events & WSIO_IO_WRITE, 0);

    assert_int_equal(wsio_watch_set(w, 0), 0);
    if (strcmp(e->mode, "host") == 0)
        assert_false(host_watches(e, p[0]));
    assert_int_equal(write(p[1], "x", 1), 1);
    run_for(e, 30);
    assert_int_equal(s.calls, 1);
    wsio_watch_free(w);
    close(p[0]);
    close(p[1]);
    env_free(e);
}

static void test_watch_write_interest_reports_writable(void **state)
{
    env *e = env_new(state);
    int p[2];
    assert_int_equal(pipe(p), 0);
    seen s = {0};
    wsio_watch *w = wsio_watch_new(e->loop, p[1], on_ready, &s, NULL);
    assert_non_null(w);
    assert_int_equal(wsio_watch_set(w, WSIO_IO_WRITE), 0);
    RUN_UNTIL(e, s.calls >= 1, 2000);
    assert_true(s.events & WSIO_IO_WRITE);
    assert_int_equal(s.events & WSIO_IO_READ, 0);
    wsio_watch_free(w);
    close(p[0]);
    close(p[1]);
    env_free(e);
}

static void test_watch_freed_in_same_turn_is_not_called(void **state)
{
    env *e = env_new(state);
    int a[2], b[2];
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    seen sa = {0}, sb = {0};
    wsio_watch *wa = wsio_watch_new(e->loop, a[0], on_ready, &sa, NULL);
    wsio_watch *wb = wsio_watch_new(e->loop, b[0], on_ready, &sb, NULL);
    assert_non_null(wa);
    assert_non_null(wb);
    /* Whichever runs first frees the other. */
    sa.free_other = wb;
    sb.free_other = wa;
    assert_int_equal(wsio_watch_set(wa, WSIO_IO_READ), 0);
    assert_int_equal(wsio_watch_set(wb, WSIO_IO_READ), 0);
    assert_int_equal(write(a[1], "a", 1), 1);
    assert_int_equal(write(b[1], "b", 1), 1);
    RUN_UNTIL(e, sa.calls + sb.calls >= 1, 2000);
    run_for(e, 30);
    assert_int_equal(sa.calls + sb.calls, 1);
    wsio_watch_free(sa.calls ? wa : wb);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    env_free(e); /* the leak check covers the deferred release */
}

static void test_watch_new_rejects_bad_arguments(void **state)
{
    env *e = env_new(state);
    int err = 0;
    assert_null(wsio_watch_new(e->loop, -1, on_ready, NULL, &err));
    assert_int_equal(err, WSIO_EINVAL);
    err = 0;
    assert_null(wsio_watch_new(e->loop, 0, NULL, NULL, &err));
    assert_int_equal(err, WSIO_EINVAL);
    err = 0;
    assert_null(wsio_timer_new(e->loop, NULL, NULL, &err));
    assert_int_equal(err, WSIO_EINVAL);
    env_free(e);
}

/* A host loop that refuses new watches once *user is set (its own fd
 * table is full, say). */
static int refuse_watch(int fd, unsigned events, void *user)
{
    (void)fd;
    const int *refusing = user;
    return events && *refusing ? -EMFILE : 0;
}

static void ignore_timer(uint64_t due, void *user)
{
    (void)due;
    (void)user;
}

static void test_watch_refused_by_host_is_forgotten(void **state)
{
    (void)state;
    test_mem tm;
    test_mem_init(&tm);
    int refusing = 0;
    wsio_host_loop host = {
        .watch = refuse_watch, .timer = ignore_timer, .user = &refusing};
    wsio_loop_config lc;
    wsio_loop_config_default(&lc);
    lc.host = &host;
    lc.mem = &tm.mem;
    int err = 0;
    wsio_loop *loop = wsio_loop_new(&lc, &err);
    assert_non_null(loop);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    seen s = {0};
    wsio_watch *w = wsio_watch_new(loop, fds[0], on_ready, &s, &err);
    assert_non_null(w);
    refusing = 1;
    assert_int_equal(wsio_watch_set(w, WSIO_IO_READ), -EMFILE);
    wsio_watch_free(w);
    assert_int_equal(wsio_loop_on_timer(loop), 0); /* a turn: releases w */
    /* A late or stray report for that fd reaches nobody (ASan: no use
     * of the freed watch). */
    assert_true(write(fds[1], "x", 1) == 1);
    assert_int_equal(wsio_loop_on_io(loop, fds[0], WSIO_IO_READ), WSIO_EINVAL);
    assert_int_equal(s.calls, 0);
    wsio_loop_free(loop);
    close(fds[0]);
    close(fds[1]);
    assert_int_equal(tm.live_blocks, 0);
}

typedef struct ticks {
    int fired;
    int rearm;      /* fire this many more times */
    uint64_t delay; /* of each re-arm; 20 ms unless set */
    uint64_t at[4];
    wsio_loop *loop;
    wsio_timer *free_self;
} ticks;

static void on_tick(wsio_timer *t, void *user)
{
    ticks *k = user;
    if (k->fired < 4)
        k->at[k->fired] = wsio_loop_now(k->loop);
    k->fired++;
    if (k->rearm > 0) {
        k->rearm--;
        wsio_timer_start(t, k->delay ? k->delay - 1 : 20);
    }
    if (k->free_self == t)
        wsio_timer_free(t);
}

static void test_watch_timer_fires_once_after_its_delay(void **state)
{
    env *e = env_new(state);
    ticks k = {.loop = e->loop};
    wsio_timer *t = wsio_timer_new(e->loop, on_tick, &k, NULL);
    assert_non_null(t);
    assert_false(wsio_timer_armed(t));
    uint64_t t0 = wsio_loop_now(e->loop);
    wsio_timer_start(t, 40);
    assert_true(wsio_timer_armed(t));
    RUN_UNTIL(e, k.fired == 1, 2000);
    assert_true(k.at[0] >= t0 + 40);
    assert_false(wsio_timer_armed(t));
    run_for(e, 60);
    assert_int_equal(k.fired, 1);
    wsio_timer_free(t);
    env_free(e);
}

static void test_watch_timer_rearmed_from_callback_repeats(void **state)
{
    env *e = env_new(state);
    ticks k = {.loop = e->loop, .rearm = 2};
    wsio_timer *t = wsio_timer_new(e->loop, on_tick, &k, NULL);
    assert_non_null(t);
    wsio_timer_start(t, 10);
    RUN_UNTIL(e, k.fired == 3, 2000);
    assert_true(k.at[1] >= k.at[0] + 20);
    assert_true(k.at[2] >= k.at[1] + 20);
    run_for(e, 60);
    assert_int_equal(k.fired, 3);
    wsio_timer_free(t);
    env_free(e);
}

static void test_watch_timer_rearmed_with_zero_waits_for_next_turn(void **state)
{
    env *e = env_new(state);
    ticks k = {.loop = e->loop, .rearm = 1000, .delay = 1}; /* delay 0 */
    wsio_timer *t = wsio_timer_new(e->loop, on_tick, &k, NULL);
    assert_non_null(t);
    wsio_timer_start(t, 0);
    RUN_UNTIL(e, k.fired >= 1, 2000);
    /* One turn fired it once: the re-arm waits for a later turn. */
    assert_int_equal(k.fired, 1);
    RUN_UNTIL(e, k.fired >= 3, 2000);
    assert_true(k.at[2] > k.at[1]);
    wsio_timer_free(t);
    env_free(e);
}

static void test_watch_timer_stopped_or_freed_does_not_fire(void **state)
{
    env *e = env_new(state);
    ticks k1 = {.loop = e->loop}, k2 = {.loop = e->loop};
    ticks k3 = {.loop = e->loop};
    wsio_timer *stopped = wsio_timer_new(e->loop, on_tick, &k1, NULL);
    wsio_timer *freed = wsio_timer_new(e->loop, on_tick, &k2, NULL);
    wsio_timer *self = wsio_timer_new(e->loop, on_tick, &k3, NULL);
    assert_non_null(stopped);
    assert_non_null(freed);
    assert_non_null(self);
    k3.free_self = self;
    wsio_timer_start(stopped, 10);
    wsio_timer_start(freed, 10);
    wsio_timer_start(self, 10);
    wsio_timer_stop(stopped);
    wsio_timer_free(freed);
    assert_false(wsio_timer_armed(stopped));
    RUN_UNTIL(e, k3.fired == 1, 2000); /* freed itself when it fired */
    run_for(e, 40);
    assert_int_equal(k1.fired, 0);
    assert_int_equal(k2.fired, 0);
    wsio_timer_free(stopped);
    env_free(e);
}

static void test_watch_timer_alone_keeps_no_loop_alive(void **state)
{
    env *e = env_new(state);
    ticks k = {.loop = e->loop};
    wsio_timer *t = wsio_timer_new(e->loop, on_tick, &k, NULL);
    assert_non_null(t);
    wsio_timer_start(t, 1000);
    assert_false(wsio_loop_alive(e->loop));
    if (strcmp(e->mode, "host") == 0)
        assert_true(e->due != UINT64_MAX); /* the host was told */
    else
        assert_int_equal(wsio_loop_run(e->loop), 0); /* returns at once */
    assert_int_equal(k.fired, 0);
    wsio_timer_free(t);
    if (strcmp(e->mode, "host") == 0)
        assert_true(e->due == UINT64_MAX);
    env_free(e);
}

/* docs/loop.md: the loop's wake fd is ADDed inside wsio_loop_new and stays
 * watched, whatever comes and goes, until wsio_loop_free REMOVEs it (which
 * env_free checks: nothing is left watched after it). */
static void test_watch_host_wake_fd_stays_until_loop_free(void **state)
{
    env *e = env_new(state);
    assert_int_equal(e->npfd, 1);
    int wake = e->pfd[0].fd;
    int err = 0;
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.port = 0;
    wsio_server *srv = wsio_server_new(e->loop, &cfg, NULL, NULL, NULL, &err);
    assert_non_null(srv);
    assert_int_equal(e->npfd, 2);
    wsio_server_free(srv);
    run_for(e, 20);
    assert_int_equal(e->npfd, 1);
    assert_int_equal(e->pfd[0].fd, wake);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_watch_read_reaches_callback_until_unset),
        ON_HOST_EPOLL(test_watch_read_reaches_callback_until_unset),
        ON_EVERY_LOOP(test_watch_write_interest_reports_writable),
        ON_HOST_EPOLL(test_watch_write_interest_reports_writable),
        ON_EVERY_LOOP(test_watch_freed_in_same_turn_is_not_called),
        ON_HOST_EPOLL(test_watch_freed_in_same_turn_is_not_called),
        ON_EVERY_LOOP(test_watch_new_rejects_bad_arguments),
        ON_EVERY_LOOP(test_watch_timer_fires_once_after_its_delay),
        ON_EVERY_LOOP(test_watch_timer_rearmed_from_callback_repeats),
        ON_EVERY_LOOP(test_watch_timer_rearmed_with_zero_waits_for_next_turn),
        cmocka_unit_test(test_watch_refused_by_host_is_forgotten),
        {"test_watch_host_wake_fd_stays_until_loop_free/host",
         test_watch_host_wake_fd_stays_until_loop_free, NULL, NULL,
         (void *)"host"},
        ON_HOST_EPOLL(test_watch_host_wake_fd_stays_until_loop_free),
        ON_EVERY_LOOP(test_watch_timer_stopped_or_freed_does_not_fire),
        ON_EVERY_LOOP(test_watch_timer_alone_keeps_no_loop_alive),
    };
    return cmocka_run_group_tests_name("watch", tests, NULL, NULL);
}
