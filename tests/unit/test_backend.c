/*
 * tests/unit/test_backend.c - the I/O backends over socketpairs.
 *
 * Every backend test runs once per backend built here ("poll", and "epoll"
 * on Linux): the backend's name is the test's prestate and the fixture
 * makes a poller with a leak-checking allocator. Every wait is bounded:
 * either timeout 0 when nothing may be ready, or WAIT_MS when something
 * must be (wait returns as soon as it is).
 */
#define _XOPEN_SOURCE 700 /* setitimer */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define WAIT_MS 2000
#define MANY 500

typedef struct fx {
    const wsio_backend_ops *ops;
    test_mem tm;
    void *st;
} fx;

typedef struct report {
    void *tag;
    int fd;
    unsigned events;
} report;

/* What the ready callback saw, and an optional action to take in it. */
typedef struct collector {
    report r[MANY * 2];
    int n;
    fx *f;
    void (*hook)(struct collector *c, const report *rep);
    void *ctx; /* for hook */
} collector;

static void collect(void *tag, int fd, unsigned events, void *arg)
{
    collector *c = arg;
    assert_true(c->n < (int)(sizeof c->r / sizeof c->r[0]));
    report *rep = &c->r[c->n++];
    rep->tag = tag;
    rep->fd = fd;
    rep->events = events;
    if (c->hook)
        c->hook(c, rep);
}

/* cmocka checks leaks when the test function returns, before teardown: so
 * the fixture only names the backend, and each test makes and destroys its
 * poller itself (begin/finish). */
static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->ops = wsio_backend_by_name(*state);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

/* A fresh poller for this test's backend, or skip when it is not built. */
static fx *begin(void **state, collector *c)
{
    fx *f = *state;
    if (!f->ops)
        skip();
    memset(c, 0, sizeof *c);
    c->f = f;
    test_mem_init(&f->tm);
    int err = 1;
    f->st = f->ops->create(&f->tm.mem, &err);
    assert_non_null(f->st);
    assert_int_equal(err, 0);
    return f;
}

/* Destroy the poller: every block it took must come back. */
static void finish(fx *f)
{
    f->ops->destroy(f->st);
    f->st = NULL;
    assert_int_equal(f->tm.live_blocks, 0);
}

static void make_pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(fcntl(sv[i], F_SETFL, O_NONBLOCK), 0);
}

static void close_pair(int sv[2])
{
    close(sv[0]);
    close(sv[1]);
}

static void put_byte(int fd)
{
    assert_int_equal(write(fd, "x", 1), 1);
}

static int wait_once(fx *f, collector *c, int timeout_ms)
{
    c->n = 0;
    return f->ops->wait(f->st, timeout_ms, collect, c);
}

/* The events reported for fd in the last wait, or 0. */
static unsigned events_of(const collector *c, int fd)
{
    for (int i = 0; i < c->n; i++)
        if (c->r[i].fd == fd)
            return c->r[i].events;
    return 0;
}

static void test_backend_read_ready_reports_read(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    int sv[2], tag;
    make_pair(sv);
    assert_int_equal(f->ops->watch(f->st, sv[0], WSIO_IO_READ, &tag), 0);
    assert_int_equal(wait_once(f, &c, 0), 0);
    put_byte(sv[1]);
    assert_int_equal(wait_once(f, &c, WAIT_MS), 1);
    assert_ptr_equal(c.r[0].tag, &tag);
    assert_int_equal(c.r[0].fd, sv[0]);
    assert_int_equal(c.r[0].events, WSIO_IO_READ);
    /* Level-triggered: unread data is reported again. */
    assert_int_equal(wait_once(f, &c, WAIT_MS), 1);
    assert_int_equal(c.r[0].events, WSIO_IO_READ);
    close_pair(sv);
    finish(f);
}

static void test_backend_write_ready_reports_write(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    int sv[2], tag;
    make_pair(sv);
    assert_int_equal(f->ops->watch(f->st, sv[0], WSIO_IO_WRITE, &tag), 0);
    assert_int_equal(wait_once(f, &c, WAIT_MS), 1);
    assert_ptr_equal(c.r[0].tag, &tag);
    assert_int_equal(c.r[0].events, WSIO_IO_WRITE);
    close_pair(sv);
    finish(f);
}

static void test_backend_read_write_ready_reports_both(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    int sv[2];
    make_pair(sv);
    put_byte(sv[1]);
    assert_int_equal(
        f->ops->watch(f->st, sv[0], WSIO_IO_READ | WSIO_IO_WRITE, NULL), 0);
    assert_int_equal(wait_once(f, &c, WAIT_MS), 1);
    assert_int_equal(c.r[0].events, WSIO_IO_READ | WSIO_IO_WRITE);
    close_pair(sv);
    finish(f);
}

static void test_backend_wait_times_out_with_no_events(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    int sv[2];
    make_pair(sv);
    assert_int_equal(f->ops->watch(f->st, sv[0], WSIO_IO_READ, NULL), 0);
    uint64_t start = f->ops->now_ms(f->st);
    assert_int_equal(wait_once(f, &c, 50), 0);
    assert_int_equal(c.n, 0);
    /* Generous slack for clock granularity; no upper bound. */
    assert_true(f->ops->now_ms(f->st) - start >= 40);
    close_pair(sv);
    finish(f);
}

static void test_backend_peer_close_reports_hup(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    int a[2], b[2];
    make_pair(a);
    make_pair(b);
    assert_int_equal(f->ops->watch(f->st, a[0], WSIO_IO_READ, NULL), 0);
    /* Interest 0: registered, and still told about the hang-up. */
    assert_int_equal(f->ops->watch(f->st, b[0], 0, NULL), 0);
    assert_int_equal(wait_once(f, &c, 0), 0);
    close(a[1]);
    close(b[1]);
    assert_int_equal(wait_once(f, &c, WAIT_MS), 2);
    assert_true(events_of(&c, a[0]) & WSIO_IO_HUP);
    assert_int_equal(events_of(&c, b[0]), WSIO_IO_HUP);
    close(a[0]);
    close(b[0]);
    finish(f);
}

static void test_backend_watch_changes_interest(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    int sv[2], tag1, tag2;
    make_pair(sv);
    put_byte(sv[1]); /* readable and writable from here on */
    assert_int_equal(f->ops->watch(f->st, sv[0], WSIO_IO_READ, &tag1), 0);
    assert_int_equal(wait_once(f, &c, WAIT_MS), 1);
    assert_int_equal(c.r[0].events, WSIO_IO_READ);
    assert_int_equal(f->ops->watch(f->st, sv[0], WSIO_IO_WRITE, &tag2), 0);
    assert_int_equal(wait_once(f, &c, WAIT_MS), 1);
    assert_int_equal(c.r[0].events, WSIO_IO_WRITE);
    assert_ptr_equal(c.r[0].tag, &tag2);
    assert_int_equal(f->ops->watch(f->st, sv[0], 0, &tag2), 0);
    assert_int_equal(wait_once(f, &c, 0), 0);
    /* Still registered: unwatch finds it. */
    assert_int_equal(f->ops->unwatch(f->st, sv[0]), 0);
    close_pair(sv);
    finish(f);
}

static void test_backend_watch_rejects_bad_arguments(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    int sv[2];
    make_pair(sv);
    assert_int_equal(f->ops->watch(f->st, -1, WSIO_IO_READ, NULL), -EBADF);
    assert_int_equal(f->ops->watch(f->st, sv[0], WSIO_IO_HUP, NULL), -EINVAL);
    int closed = sv[1];
    close(closed);
    assert_int_equal(f->ops->watch(f->st, closed, WSIO_IO_READ, NULL), -EBADF);
    assert_int_equal(f->ops->unwatch(f->st, closed), -ENOENT);
    close(sv[0]);
    finish(f);
}

static void test_backend_unwatch_unknown_fd_returns_enoent(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    int sv[2];
    make_pair(sv);
    assert_int_equal(f->ops->unwatch(f->st, sv[0]), -ENOENT);
    assert_int_equal(f->ops->unwatch(f->st, -1), -ENOENT);
    assert_int_equal(f->ops->unwatch(f->st, 100000), -ENOENT);
    assert_int_equal(f->ops->watch(f->st, sv[0], WSIO_IO_READ, NULL), 0);
    assert_int_equal(f->ops->unwatch(f->st, sv[0]), 0);
    assert_int_equal(f->ops->unwatch(f->st, sv[0]), -ENOENT);
    close_pair(sv);
    finish(f);
}

static void test_backend_unwatch_stops_reports(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    int a[2], b[2], tag_b;
    make_pair(a);
    make_pair(b);
    put_byte(a[1]);
    put_byte(b[1]);
    assert_int_equal(f->ops->watch(f->st, a[0], WSIO_IO_READ, NULL), 0);
    assert_int_equal(f->ops->watch(f->st, b[0], WSIO_IO_READ, &tag_b), 0);
    assert_int_equal(f->ops->unwatch(f->st, a[0]), 0);
    assert_int_equal(wait_once(f, &c, WAIT_MS), 1);
    assert_int_equal(c.r[0].fd, b[0]);
    assert_ptr_equal(c.r[0].tag, &tag_b);
    close_pair(a);
    close_pair(b);
    finish(f);
}

/* Pairs for the in-callback tests; the hook acts on whichever fires first. */
#define NPAIRS 4
typedef struct pairs {
    int sv[NPAIRS][2];
    int tags[NPAIRS];
    int first; /* index of the pair reported first, or -1 */
    int fresh[2];
    int fresh_tag;
} pairs;

static void open_pairs(fx *f, pairs *p, unsigned events)
{
    p->first = -1;
    for (int i = 0; i < NPAIRS; i++) {
        make_pair(p->sv[i]);
        put_byte(p->sv[i][1]);
        assert_int_equal(f->ops->watch(f->st, p->sv[i][0], events, &p->tags[i]),
                         0);
    }
}

static void close_pairs(pairs *p)
{
    for (int i = 0; i < NPAIRS; i++)
        close_pair(p->sv[i]);
}

static int pair_index(const pairs *p, int fd)
{
    for (int i = 0; i < NPAIRS; i++)
        if (p->sv[i][0] == fd)
            return i;
    return -1;
}

/* First report: unwatch every other pair (all still pending). */
static void hook_unwatch_others(collector *c, const report *rep)
{
    pairs *p = c->ctx;
    if (p->first >= 0)
        return;
    p->first = pair_index(p, rep->fd);
    for (int i = 0; i < NPAIRS; i++)
        if (i != p->first)
            assert_int_equal(c->f->ops->unwatch(c->f->st, p->sv[i][0]), 0);
}

static void test_backend_unwatch_in_callback_skips_pending(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    pairs p;
    open_pairs(f, &p, WSIO_IO_READ);
    c.hook = hook_unwatch_others;
    c.ctx = &p;
    assert_int_equal(wait_once(f, &c, WAIT_MS), 1);
    assert_int_equal(c.n, 1);
    assert_true(p.first >= 0);
    assert_ptr_equal(c.r[0].tag, &p.tags[p.first]);
    /* Only the first stays watched, in later waits too. */
    c.hook = NULL;
    assert_int_equal(wait_once(f, &c, WAIT_MS), 1);
    assert_int_equal(c.r[0].fd, p.sv[p.first][0]);
    close_pairs(&p);
    finish(f);
}

/* First report: drop interest of every other pair to 0. */
static void hook_drop_interest(collector *c, const report *rep)
{
    pairs *p = c->ctx;
    if (p->first >= 0)
        return;
    p->first = pair_index(p, rep->fd);
    for (int i = 0; i < NPAIRS; i++)
        if (i != p->first)
            assert_int_equal(
                c->f->ops->watch(c->f->st, p->sv[i][0], 0, &p->tags[i]), 0);
}

static void
test_backend_interest_dropped_in_callback_skips_pending(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    pairs p;
    open_pairs(f, &p, WSIO_IO_READ);
    c.hook = hook_drop_interest;
    c.ctx = &p;
    assert_int_equal(wait_once(f, &c, WAIT_MS), 1);
    assert_int_equal(c.n, 1);
    close_pairs(&p);
    finish(f);
}

/*
 * First report: unwatch and close another pending pair, open a new pair on
 * the same fd number (dup2) and watch it under a new tag. The old
 * readiness must not be reported for the new registration in this batch.
 */
static void hook_reuse_pending_fd(collector *c, const report *rep)
{
    pairs *p = c->ctx;
    if (p->first >= 0)
        return;
    p->first = pair_index(p, rep->fd);
    int victim = (p->first + 1) % NPAIRS;
    int num = p->sv[victim][0];
    assert_int_equal(c->f->ops->unwatch(c->f->st, num), 0);
    make_pair(p->fresh);
    put_byte(p->fresh[1]); /* readable, yet not to be reported this batch */
    assert_int_equal(dup2(p->fresh[0], num), num);
    close(p->fresh[0]);
    p->fresh[0] = num;
    p->sv[victim][0] = -1;
    close(p->sv[victim][1]);
    p->sv[victim][1] = -1;
    assert_int_equal(
        c->f->ops->watch(c->f->st, num, WSIO_IO_READ, &p->fresh_tag), 0);
}

static void test_backend_fd_reused_in_callback_not_reported_stale(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    pairs p;
    open_pairs(f, &p, WSIO_IO_READ);
    c.hook = hook_reuse_pending_fd;
    c.ctx = &p;
    int reported = wait_once(f, &c, WAIT_MS);
    /* Every old pair but the victim, and nothing for the new one. */
    assert_int_equal(reported, NPAIRS - 1);
    for (int i = 0; i < c.n; i++)
        assert_ptr_not_equal(c.r[i].tag, &p.fresh_tag);
    /* The next wait reports the new pair under its new tag. */
    c.hook = NULL;
    assert_int_equal(wait_once(f, &c, WAIT_MS), NPAIRS);
    int seen = 0;
    for (int i = 0; i < c.n; i++)
        if (c.r[i].fd == p.fresh[0]) {
            assert_ptr_equal(c.r[i].tag, &p.fresh_tag);
            seen = 1;
        }
    assert_true(seen);
    close_pair(p.fresh);
    for (int i = 0; i < NPAIRS; i++)
        if (p.sv[i][0] >= 0)
            close_pair(p.sv[i]);
    finish(f);
}

/* First report: unwatch the fd itself, already reported in this batch. */
static void hook_unwatch_self(collector *c, const report *rep)
{
    assert_int_equal(c->f->ops->unwatch(c->f->st, rep->fd), 0);
}

static void test_backend_unwatch_self_in_callback(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    pairs p;
    open_pairs(f, &p, WSIO_IO_READ);
    c.hook = hook_unwatch_self;
    assert_int_equal(wait_once(f, &c, WAIT_MS), NPAIRS);
    c.hook = NULL;
    assert_int_equal(wait_once(f, &c, 0), 0);
    close_pairs(&p);
    finish(f);
}

/* First report: watch a brand-new, already readable fd. */
static void hook_watch_new(collector *c, const report *rep)
{
    pairs *p = c->ctx;
    (void)rep;
    if (p->first >= 0)
        return;
    p->first = 0;
    make_pair(p->fresh);
    put_byte(p->fresh[1]);
    assert_int_equal(
        c->f->ops->watch(c->f->st, p->fresh[0], WSIO_IO_READ, &p->fresh_tag),
        0);
}

static void test_backend_watch_in_callback_reported_next_wait(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    pairs p;
    open_pairs(f, &p, WSIO_IO_READ);
    c.hook = hook_watch_new;
    c.ctx = &p;
    assert_int_equal(wait_once(f, &c, WAIT_MS), NPAIRS);
    assert_int_equal(events_of(&c, p.fresh[0]), 0);
    c.hook = NULL;
    assert_int_equal(wait_once(f, &c, WAIT_MS), NPAIRS + 1);
    assert_int_equal(events_of(&c, p.fresh[0]), WSIO_IO_READ);
    close_pair(p.fresh);
    close_pairs(&p);
    finish(f);
}

static void test_backend_watch_after_fd_number_reused(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    int a[2], b[2], tag_a, tag_b;
    make_pair(a);
    assert_int_equal(f->ops->watch(f->st, a[0], WSIO_IO_READ, &tag_a), 0);
    assert_int_equal(f->ops->unwatch(f->st, a[0]), 0);
    int num = a[0];
    close(a[0]);
    make_pair(b);
    if (b[0] != num) { /* the lowest free number is usually num already */
        assert_int_equal(dup2(b[0], num), num);
        close(b[0]);
        b[0] = num;
    }
    put_byte(b[1]);
    assert_int_equal(f->ops->watch(f->st, num, WSIO_IO_READ, &tag_b), 0);
    assert_int_equal(wait_once(f, &c, WAIT_MS), 1);
    assert_ptr_equal(c.r[0].tag, &tag_b);
    close(a[1]);
    close_pair(b);
    finish(f);
}

/* Raise the soft fd limit to at least want; 0 if it cannot be. */
static int ensure_nofile(rlim_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
            return 0;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            return 0;
    }
    return 1;
}

static void test_backend_many_fds_all_reported(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    if (!ensure_nofile(2 * MANY + 64)) {
        finish(f);
        skip();
    }
    static int sv[MANY][2];
    static char seen[MANY];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < MANY; i++) {
        make_pair(sv[i]);
        put_byte(sv[i][1]);
        assert_int_equal(f->ops->watch(f->st, sv[i][0], WSIO_IO_READ, &sv[i]),
                         0);
    }
    /* A backend may report a bounded batch per wait; level-triggering
     * brings the rest in the next ones. */
    int missing = MANY;
    for (int round = 0; round < 20 && missing > 0; round++) {
        int n = wait_once(f, &c, WAIT_MS);
        assert_true(n > 0);
        assert_int_equal(n, c.n);
        for (int i = 0; i < c.n; i++) {
            int(*pair)[2] = c.r[i].tag;
            int idx = (int)(pair - sv);
            assert_true(idx >= 0 && idx < MANY);
            assert_int_equal(c.r[i].fd, sv[idx][0]);
            assert_int_equal(c.r[i].events, WSIO_IO_READ);
            if (!seen[idx]) {
                seen[idx] = 1;
                missing--;
            }
        }
    }
    assert_int_equal(missing, 0);
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(f->ops->unwatch(f->st, sv[i][0]), 0);
        close_pair(sv[i]);
    }
    finish(f);
}

static void test_backend_create_out_of_memory_returns_enomem(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    int failures = 0;
    for (long n = 0;; n++) {
        test_mem tm;
        test_mem_init(&tm);
        test_mem_fail_at(&tm, n);
        int err = 1;
        void *st = f->ops->create(&tm.mem, &err);
        if (st) {
            assert_int_equal(err, 0);
            f->ops->destroy(st);
            assert_int_equal(tm.live_blocks, 0);
            break;
        }
        assert_int_equal(err, WSIO_ENOMEM);
        assert_int_equal(tm.live_blocks, 0);
        failures++;
    }
    assert_true(failures > 0);
    finish(f);
}

/*
 * Watch 40 fds, one of them numbered high so the fd-indexed tables grow,
 * with allocation number n failing. The failed watch returns WSIO_ENOMEM
 * and leaves the poller as it was: everything watched before still works,
 * the failed fd is not registered, and destroy frees everything.
 */
#define GROW_FDS 40
#define HIGH_FD 300

static void test_backend_watch_out_of_memory_keeps_state(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    if (!ensure_nofile(HIGH_FD + 64)) {
        finish(f);
        skip();
    }
    int sv[GROW_FDS][2];
    for (int i = 0; i < GROW_FDS; i++) {
        make_pair(sv[i]);
        put_byte(sv[i][1]);
    }
    assert_int_equal(dup2(sv[GROW_FDS / 2][0], HIGH_FD), HIGH_FD);
    close(sv[GROW_FDS / 2][0]);
    sv[GROW_FDS / 2][0] = HIGH_FD;

    int failures = 0;
    for (long n = 0;; n++) {
        test_mem tm;
        test_mem_init(&tm);
        int err;
        void *st = f->ops->create(&tm.mem, &err);
        assert_non_null(st);
        test_mem_fail_at(&tm, n);
        int failed_at = -1;
        for (int i = 0; i < GROW_FDS && failed_at < 0; i++) {
            int rc = f->ops->watch(st, sv[i][0], WSIO_IO_READ, &sv[i]);
            if (rc == WSIO_ENOMEM)
                failed_at = i;
            else
                assert_int_equal(rc, 0);
        }
        tm.fail_at = -1;
        int watched = failed_at < 0 ? GROW_FDS : failed_at;
        if (failed_at >= 0) {
            failures++;
            assert_int_equal(f->ops->unwatch(st, sv[failed_at][0]), -ENOENT);
        }
        /* Every fd watched before the failure is reported, nothing else. */
        c.n = 0;
        assert_int_equal(f->ops->wait(st, watched ? WAIT_MS : 0, collect, &c),
                         watched);
        for (int i = 0; i < c.n; i++) {
            int(*pair)[2] = c.r[i].tag;
            assert_true(pair - sv < watched);
        }
        f->ops->destroy(st);
        assert_int_equal(tm.live_blocks, 0);
        if (failed_at < 0)
            break;
    }
    assert_true(failures > 0);
    for (int i = 0; i < GROW_FDS; i++)
        close_pair(sv[i]);
    finish(f);
}

static void test_backend_backend_fd_readable_when_ready(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    int bfd = f->ops->backend_fd(f->st);
    if (strcmp(f->ops->name, "poll") == 0) {
        assert_int_equal(bfd, -1); /* poll has nothing to nest */
        finish(f);
        return;
    }
    assert_true(bfd >= 0);
    int sv[2];
    make_pair(sv);
    assert_int_equal(f->ops->watch(f->st, sv[0], WSIO_IO_READ, NULL), 0);
    struct pollfd outer = {.fd = bfd, .events = POLLIN};
    assert_int_equal(poll(&outer, 1, 0), 0);
    put_byte(sv[1]);
    assert_int_equal(poll(&outer, 1, WAIT_MS), 1);
    assert_true(outer.revents & POLLIN);
    assert_int_equal(wait_once(f, &c, 0), 1);
    close_pair(sv);
    finish(f);
}

static volatile sig_atomic_t got_alarm;

static void on_alarm(int sig)
{
    (void)sig;
    got_alarm = 1;
}

static void test_backend_wait_interrupted_returns_zero(void **state)
{
    collector c;
    fx *f = begin(state, &c);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
    got_alarm = 0;
    struct itimerval it = {.it_value = {.tv_sec = 0, .tv_usec = 20000}};
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
    /* Nothing is watched: only the signal can end this wait early. */
    int rc = wait_once(f, &c, 10000);
    assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
    assert_int_equal(rc, 0);
    assert_true(got_alarm);
    finish(f);
}

static void test_backend_by_name_finds_built_backends(void **state)
{
    (void)state;
    const wsio_backend_ops *p = wsio_backend_poll();
    assert_non_null(p);
    assert_string_equal(p->name, "poll");
    assert_int_equal(p->abi_version, WSIO_BACKEND_ABI_VERSION);
    assert_ptr_equal(wsio_backend_by_name("poll"), p);
    assert_null(wsio_backend_by_name("kqueue"));
    assert_null(wsio_backend_by_name(""));
    assert_null(wsio_backend_by_name(NULL));
    const wsio_backend_ops *e = wsio_backend_epoll();
    assert_ptr_equal(wsio_backend_by_name("epoll"), e);
#ifdef __linux__
    assert_non_null(e);
    assert_string_equal(e->name, "epoll");
    assert_int_equal(e->abi_version, WSIO_BACKEND_ABI_VERSION);
    assert_ptr_equal(wsio_backend_default(), e);
#else
    assert_null(e);
    assert_ptr_equal(wsio_backend_default(), p);
#endif
}

static void test_backend_clock_is_monotonic(void **state)
{
    (void)state;
    uint64_t a = wsio_clock_ms();
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    uint64_t b = wsio_clock_ms();
    assert_true(b >= a + 15);
}

#define BOTH(fn)                                                               \
    {#fn "/poll", fn, setup, teardown, (void *)"poll"},                        \
    {                                                                          \
#fn "/epoll", fn, setup, teardown, (void *)"epoll"                     \
    }

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_backend_read_ready_reports_read),
        BOTH(test_backend_write_ready_reports_write),
        BOTH(test_backend_read_write_ready_reports_both),
        BOTH(test_backend_wait_times_out_with_no_events),
        BOTH(test_backend_peer_close_reports_hup),
        BOTH(test_backend_watch_changes_interest),
        BOTH(test_backend_watch_rejects_bad_arguments),
        BOTH(test_backend_unwatch_unknown_fd_returns_enoent),
        BOTH(test_backend_unwatch_stops_reports),
        BOTH(test_backend_unwatch_in_callback_skips_pending),
        BOTH(test_backend_interest_dropped_in_callback_skips_pending),
        BOTH(test_backend_fd_reused_in_callback_not_reported_stale),
        BOTH(test_backend_unwatch_self_in_callback),
        BOTH(test_backend_watch_in_callback_reported_next_wait),
        BOTH(test_backend_watch_after_fd_number_reused),
        BOTH(test_backend_many_fds_all_reported),
        BOTH(test_backend_create_out_of_memory_returns_enomem),
        BOTH(test_backend_watch_out_of_memory_keeps_state),
        BOTH(test_backend_backend_fd_readable_when_ready),
        BOTH(test_backend_wait_interrupted_returns_zero),
        cmocka_unit_test(test_backend_by_name_finds_built_backends),
        cmocka_unit_test(test_backend_clock_is_monotonic),
    };
    return cmocka_run_group_tests_name("backend", tests, NULL, NULL);
}
