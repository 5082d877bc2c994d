/*
 * tests/integration/test_server_slots.c - a server connection's id and
 * kept request (src/server_ids.c): through thousands of connections that
 * come and go, wsio_server_find finds every open one by its id and no
 * closed one, even when its slot holds another; a request kept for one
 * connection stays readable; a failed allocation growing the id map (or
 * its room for kept requests) when a connection is accepted closes that
 * socket before any HTTP (as when its own block cannot be allocated),
 * loses nothing already open and leaks nothing; one making the room for topics
 * fails that subscribe with WSIO_ENOMEM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define CHURN 2000
#define LIVE 24
#define MAXIDS (CHURN + LIVE + 4)

typedef struct churn {
    server_state base;
    wsio_server *srv;
    uint64_t ids[MAXIDS]; /* in open order */
    int nids;
    int found_in_close; /* on_close found its own id: must stay 0 */
} churn;

static void churn_open(wsio_ws *ws, void *user)
{
    churn *c = user;
    c->base.opens++;
    c->base.last_open = ws;
    assert_true(c->nids < MAXIDS);
    c->ids[c->nids++] = wsio_ws_id(ws);
}

static void churn_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    (void)info;
    churn *c = user;
    c->base.closes++;
    /* Documented: past OPEN, from the start of on_close, not found. */
    if (wsio_server_find(c->srv, wsio_ws_id(ws)))
        c->found_in_close++;
}

static const wsio_ws_callbacks churn_cb = {.on_open = churn_open,
                                           .on_close = churn_close};

/* Send an upgrade request for target with one extra header line (or
 * none); the answer's status, or 0 when the server closed it without
 * one. The socket stays open in *fd. */
static int upgrade(env *e, uint16_t port, const char *target, const char *extra,
                   int *fd)
{
    char req[512];
    snprintf(req, sizeof req,
             "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n%s"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
             target, extra);
    *fd = raw_connect(port);
    raw_send(*fd, req);
    return raw_read_status(e, *fd);
}

static wsio_server *start_churn(env *e, churn *c, int keep_request)
{
    memset(c, 0, sizeof *c);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.keep_request = keep_request;
    if (e->io != ENV_IO_PLAIN) {
        cfg.transport = &e->io_ops;
        cfg.transport_ctx = e;
    }
    int err = 0;
    c->srv = wsio_server_new(e->loop, &cfg, &churn_cb, NULL, c, &err);
    assert_non_null(c->srv);
    return c->srv;
}

static int has_header(const wsio_http_request *r, const char *name,
                      const char *value)
{
    for (size_t i = 0; i < r->num_headers; i++)
        if (r->headers[i].name.len == strlen(name) &&
            memcmp(r->headers[i].name.ptr, name, strlen(name)) == 0)
            return r->headers[i].value.len == strlen(value) &&
                   memcmp(r->headers[i].value.ptr, value, strlen(value)) == 0;
    return 0;
}

static void assert_first_kept(wsio_server *srv, uint64_t id, wsio_ws *ws)
{
    assert_ptr_equal(wsio_server_find(srv, id), ws);
    const wsio_request_info *info = wsio_ws_request(ws);
    assert_non_null(info);
    assert_int_equal(info->request->path.len, 5);
    assert_memory_equal(info->request->path.ptr, "/keep", 5);
    assert_int_equal(info->request->query.len, 6);
    assert_memory_equal(info->request->query.ptr, "who=me", 6);
    assert_true(has_header(info->request, "X-Mark", "first"));
}

/* One connection keeps its request while CHURN others open and close,
 * LIVE at a time in random order: every open id is found, every closed
 * one misses (its slot reused by then), no id repeats. */
static void test_slots_find_and_kept_request_through_churn(void **state)
{
    env *e = env_new(state);
    churn *c = calloc(1, sizeof *c);
    assert_non_null(c);
    wsio_server *srv = start_churn(e, c, 1);
    uint16_t port = wsio_server_port(srv);
    int first_fd;
    assert_int_equal(
        upgrade(e, port, "/keep?who=me", "X-Mark: first\r\n", &first_fd), 101);
    RUN_UNTIL(e, c->base.opens == 1, 5000);
    wsio_ws *first = c->base.last_open;
    uint64_t first_id = c->ids[0];
    assert_first_kept(srv, first_id, first);

    int fds[LIVE];
    uint64_t live_ids[LIVE];
    int nlive = 0, opened = 0, closed = 0;
    unsigned seed = 1234;
    while (opened < CHURN || nlive > 0) {
        if (opened < CHURN &&
            (nlive == 0 || (nlive < LIVE && rand_r(&seed) % 2))) {
            fds[nlive] = raw_ws_connect(e, port);
            opened++;
            RUN_UNTIL(e, c->base.opens == opened + 1, 5000);
            live_ids[nlive++] = c->ids[c->nids - 1];
        } else {
            int k = (int)(rand_r(&seed) % (unsigned)nlive);
            uint64_t gone = live_ids[k];
            close(fds[k]);
            fds[k] = fds[--nlive];
            live_ids[k] = live_ids[nlive];
            closed++;
            RUN_UNTIL(e, c->base.closes == closed, 5000);
            assert_null(wsio_server_find(srv, gone));
        }
        for (int k = 0; k < nlive; k++)
            assert_non_null(wsio_server_find(srv, live_ids[k]));
        /* A random earlier id: open (then its own ws) or missing. */
        uint64_t any = c->ids[rand_r(&seed) % (unsigned)c->nids];
        wsio_ws *ws = wsio_server_find(srv, any);
        if (ws)
            assert_int_equal(wsio_ws_id(ws), any);
        if (opened % 256 == 0)
            assert_first_kept(srv, first_id, first);
    }
    assert_first_kept(srv, first_id, first);
    /* Every closed id misses now; all CHURN + 1 ids distinct, never 0. */
    for (int i = 1; i < c->nids; i++) {
        assert_true(c->ids[i] != 0);
        assert_null(wsio_server_find(srv, c->ids[i]));
        for (int k = 0; k < i; k++)
            assert_true(c->ids[i] != c->ids[k]);
    }
    assert_int_equal(c->nids, CHURN + 1);
    assert_int_equal(c->found_in_close, 0);
    close(first_fd);
    RUN_UNTIL(e, c->base.closes == closed + 1, 5000);
    assert_null(wsio_server_find(srv, first_id));
    assert_int_equal(c->found_in_close, 0);
    wsio_server_free(srv);
    run_for(e, 10);
    free(c);
    env_free(e);
}

/* The env's allocator, but the nth realloc that grows a block (ptr not
 * NULL) after arming fails, or with malloc_too, the nth allocation. */
typedef struct fail_grow {
    wsio_mem inner;
    int armed, nth, seen, failed, malloc_too;
} fail_grow;

static void *fg_malloc(size_t size, void *user)
{
    fail_grow *f = user;
    if (f->armed && f->malloc_too && ++f->seen == f->nth) {
        f->failed++;
        return NULL;
    }
    return f->inner.malloc(size, f->inner.user);
}

static void *fg_realloc(void *ptr, size_t size, void *user)
{
    fail_grow *f = user;
    if (f->armed && ptr && ++f->seen == f->nth) {
        f->failed++;
        return NULL;
    }
    return f->inner.realloc(ptr, size, f->inner.user);
}

static void fg_free(void *ptr, void *user)
{
    fail_grow *f = user;
    f->inner.free(ptr, f->inner.user);
}

/* The id map holds 16 slots at first: the 17th connection accepted grows
 * its arrays: the slots, the room for kept requests (when keeping them),
 * the free bits, in that order. Any of them failing closes that socket
 * without an answer; the 16 stay open and found; the next connection
 * opens; nothing leaks (env_free). */
static void oom_growing(void **state, int keep_request, int nth)
{
    env *e = env_new(state);
    fail_grow f = {e->tm.mem, 0, nth, 0, 0, 0};
    e->tm.mem = (wsio_mem){fg_malloc, fg_realloc, fg_free, &f};
    churn *c = calloc(1, sizeof *c);
    assert_non_null(c);
    wsio_server *srv = start_churn(e, c, keep_request);
    uint16_t port = wsio_server_port(srv);
    int fds[18];
    for (int i = 0; i < 16; i++)
        fds[i] = raw_ws_connect(e, port);
    RUN_UNTIL(e, c->base.opens == 16, 5000);
    f.armed = 1;
    assert_int_equal(upgrade(e, port, "/", "", &fds[16]), 0);
    f.armed = 0;
    assert_int_equal(f.failed, 1);
    assert_int_equal(c->base.opens, 16);
    for (int i = 0; i < 16; i++)
        assert_non_null(wsio_server_find(srv, c->ids[i]));
    assert_int_equal(upgrade(e, port, "/next", "", &fds[17]), 101);
    RUN_UNTIL(e, c->base.opens == 17, 5000);
    assert_ptr_equal(wsio_server_find(srv, c->ids[16]), c->base.last_open);
    if (keep_request) {
        const wsio_request_info *info = wsio_ws_request(c->base.last_open);
        assert_non_null(info);
        assert_int_equal(info->request->path.len, 5);
    }
    for (int i = 0; i < 18; i++)
        close(fds[i]);
    RUN_UNTIL(e, c->base.closes == 17, 5000);
    wsio_server_free(srv);
    run_for(e, 10);
    free(c);
    env_free(e);
}

static void test_slots_failed_id_map_growth_closes_at_accept(void **state)
{
    oom_growing(state, 0, 1);
    oom_growing(state, 0, 2);
    oom_growing(state, 1, 1);
    oom_growing(state, 1, 3);
}

static void test_slots_failed_kept_room_growth_closes_at_accept(void **state)
{
    oom_growing(state, 1, 2);
}

/* The room for topics is made at a server's first subscribe: without
 * memory for it, that subscribe fails with WSIO_ENOMEM and nothing is
 * subscribed; the next one works and the message reaches the client. */
static void test_slots_subscribe_without_room_for_topics_is_enomem(void **state)
{
    env *e = env_new(state);
    fail_grow f = {e->tm.mem, 0, 1, 0, 0, 1};
    e->tm.mem = (wsio_mem){fg_malloc, fg_realloc, fg_free, &f};
    churn *c = calloc(1, sizeof *c);
    assert_non_null(c);
    wsio_server *srv = start_churn(e, c, 0);
    int fd = raw_ws_connect(e, wsio_server_port(srv));
    RUN_UNTIL(e, c->base.opens == 1, 5000);
    wsio_ws *ws = c->base.last_open;
    f.armed = 1;
    assert_int_equal(wsio_ws_subscribe(ws, "news"), WSIO_ENOMEM);
    f.armed = 0;
    assert_int_equal(f.failed, 1);
    assert_int_equal(wsio_server_publish(srv, "news", WSIO_OP_TEXT, "a", 1), 0);
    assert_int_equal(wsio_ws_subscribe(ws, "news"), 0);
    assert_int_equal(wsio_server_publish(srv, "news", WSIO_OP_TEXT, "b", 1), 1);
    /* The frame: text "b". */
    char buf[8];
    size_t len = 0;
    uint64_t t0 = now_ms();
    while (len < 3 && now_ms() - t0 < 5000) {
        env_turn(e, 5);
        ssize_t n = raw_read(fd, buf + len, sizeof buf - len);
        if (n > 0)
            len += (size_t)n;
    }
    assert_int_equal(len, 3);
    assert_memory_equal(buf,
                        "\x81\x01"
                        "b",
                        3);
    assert_int_equal(wsio_ws_unsubscribe(ws, "news"), 0);
    close(fd);
    RUN_UNTIL(e, c->base.closes == 1, 5000);
    wsio_server_free(srv);
    run_for(e, 10);
    free(c);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_slots_find_and_kept_request_through_churn),
        ON_EVERY_LOOP(test_slots_failed_id_map_growth_closes_at_accept),
        ON_EVERY_LOOP(test_slots_failed_kept_room_growth_closes_at_accept),
        ON_EVERY_LOOP(test_slots_subscribe_without_room_for_topics_is_enomem),
    };
    return cmocka_run_group_tests_name("server_slots", tests, NULL, NULL);
}
