/*
 * tests/integration/test_oom.c - allocation failure, everywhere.
 *
 * One scenario covers what a server and its clients allocate for: the
 * server's start, client connects and handshakes, fragmented messages that
 * are assembled, broadcasts, and closes. It runs once to count its
 * allocations, then once more for every N with allocation N failing. Each
 * run must end without a crash (ASan), without a leak (the leak-checking
 * allocator), and with every connection either working or ended cleanly:
 * a close code of 1000, 1001 or 1011, or 1006 for one of three named
 * reasons: WSIO_ENOMEM (the client's own allocation failed), or, before
 * the open, a 503 answer (WSIO_EHS_STATUS: the server ran out during the
 * handshake) or the socket closed unanswered (WSIO_ECLOSED: the server
 * could not allocate the connection at all, and without memory closing is
 * all it can do; with TLS or the PROXY protocol in front it could not
 * write an HTTP answer either). On every loop mode.
 */
#include <stdio.h>
#include <string.h>

#include "harness.h"

enum { CLIENTS = 3, FRAGMENTS = 3 };

typedef struct oom_server {
    int opens, messages;
} oom_server;

static void o_on_open(wsio_ws *ws, void *user)
{
    (void)ws;
    ((oom_server *)user)->opens++;
}

static int o_on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    ((oom_server *)user)->messages++;
    /* The broadcast may fail with WSIO_ENOMEM; that must be all. */
    int n = wsio_server_broadcast(wsio_ws_server(ws), m->opcode, m->data,
                                  m->len, NULL);
    assert_true(n >= 0 || n == WSIO_ENOMEM);
    return 0;
}

static const wsio_ws_callbacks oom_server_cb = {.on_open = o_on_open,
                                                .on_message = o_on_message};

/* A close is acceptable when it is clean, or names the allocation failure
 * (see the top of the file). */
static void assert_acceptable_close(const peer *p)
{
    const wsio_close_info *i = &p->info;
    if (i->code == WSIO_CLOSE_NORMAL || i->code == WSIO_CLOSE_GOING_AWAY ||
        i->code == WSIO_CLOSE_INTERNAL_ERROR)
        return;
    assert_int_equal(i->code, WSIO_CLOSE_ABNORMAL);
    if (i->error == WSIO_ENOMEM)
        return;
    assert_false(p->opened);
    if (i->error == WSIO_EHS_STATUS)
        assert_int_equal(p->http_status, 503);
    else
        assert_int_equal(i->error, WSIO_ECLOSED);
}

/* Clients that are closed, or (unless closed_only) open. */
static int settled(const peer *p, int closed_only)
{
    int n = 0;
    for (int i = 0; i < CLIENTS; i++)
        n += p[i].closed || (!closed_only && p[i].opened);
    return n;
}

/* Runs the scenario with allocation fail_at failing (-1: none). Returns
 * the allocations it made; with none failing, checks that it all worked. */
static long scenario(env *e, long fail_at)
{
    long start = e->tm.count;
    if (fail_at >= 0)
        test_mem_fail_at(&e->tm, fail_at);
    oom_server s = {0};
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    int err = 0;
    wsio_server *srv =
        wsio_server_new(e->loop, &cfg, &oom_server_cb, NULL, &s, &err);
    if (!srv) {
        assert_int_equal(err, WSIO_ENOMEM);
        return e->tm.count - start;
    }
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/",
             (unsigned)wsio_server_port(srv));
    peer p[CLIENTS];
    memset(p, 0, sizeof p);
    int started = 0;
    for (int i = 0; i < CLIENTS; i++) {
        p[i].expect = (const uint8_t *)"abcdef";
        p[i].expect_len = 6;
        p[i].expect_op = WSIO_OP_TEXT;
        if (wsio_client_connect(e->loop, url, NULL, &client_cb, &p[i], &err))
            started++;
        else
            assert_int_equal(err, WSIO_ENOMEM);
    }
#define SETTLED(cond)                                                          \
    do {                                                                       \
        uint64_t t0_ = now_ms();                                               \
        while (!(cond) && now_ms() - t0_ < 2000)                               \
            env_turn(e, 5);                                                    \
    } while (0)
    SETTLED(settled(p, 0) == started);
    /* Each open client sends one message in fragments, so the server
     * assembles it; the server broadcasts it to everyone. */
    for (int i = 0; i < CLIENTS; i++) {
        if (!p[i].ws)
            continue;
        wsio_conn *c = wsio_ws_conn(p[i].ws);
        for (int f = 0; f < FRAGMENTS; f++)
            (void)wsio_conn_send_fragment(
                c, f ? WSIO_OP_CONTINUATION : WSIO_OP_TEXT, "abcdef" + 2 * f, 2,
                f == FRAGMENTS - 1);
        (void)wsio_ws_ping(p[i].ws, NULL, 0); /* makes the ws flush */
    }
    run_for(e, fail_at < 0 ? 300 : 100);
    for (int i = 0; i < CLIENTS; i++)
        if (p[i].ws)
            (void)wsio_ws_close(p[i].ws, WSIO_CLOSE_NORMAL, NULL, 0);
    SETTLED(settled(p, 1) == started);
    wsio_server_free(srv);
    for (int i = 0; i < CLIENTS; i++) {
        assert_int_equal(p[i].mismatch, 0);
        if (p[i].closed)
            assert_acceptable_close(&p[i]);
    }
    if (fail_at < 0) { /* the reference run: everything worked */
        assert_int_equal(s.opens, CLIENTS);
        assert_int_equal(s.messages, CLIENTS);
        for (int i = 0; i < CLIENTS; i++) {
            assert_int_equal(p[i].nmsg, CLIENTS);
            assert_int_equal(p[i].info.code, WSIO_CLOSE_NORMAL);
        }
    }
    return e->tm.count - start;
#undef SETTLED
}

static void test_oom_every_allocation_failure_is_clean(void **state)
{
    env *e = env_new(state);
    long total = scenario(e, -1);
    env_free(e);
    assert_true(total > 10);
    for (long n = 0; n < total; n++) {
        e = env_new(state);
        scenario(e, n);
        env_free(e); /* fails the test on any leaked block */
    }
    print_message("%ld allocation points failed one by one\n", total);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_oom_every_allocation_failure_is_clean),
    };
    return cmocka_run_group_tests_name("oom", tests, NULL, NULL);
}
