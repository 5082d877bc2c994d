/*
 * tests/integration/test_server_walks.c - the server's walks over its
 * connections, which go by id slot (src/server.c, wsio__server_next):
 *
 * - after 5,000 connections opened and closed in random order, a
 *   broadcast reaches exactly the open ones, each once;
 * - freeing a server with connections in every state (handshaking, open,
 *   closing, answered and lingering, output queued) ends each open one
 *   once, even when each on_close terminates another, and leaks nothing;
 * - the heartbeat sweep ends the peers that never answer while others
 *   close on their own, and keeps the ones that answer.
 *
 * What a walk does when the slot array is resized under it is
 * tests/unit/test_server_walk.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* Read from fd (turning the loop) until want bytes came or ms passed;
 * how many came (at most cap). */
static size_t read_for(env *e, int fd, char *buf, size_t cap, size_t want,
                       uint64_t ms)
{
    size_t len = 0;
    uint64_t t0 = now_ms();
    while (len < want && now_ms() - t0 < ms) {
        env_turn(e, 5);
        ssize_t n = raw_read(fd, buf + len, cap - len);
        if (n == 0)
            break;
        if (n > 0)
            len += (size_t)n;
    }
    return len;
}

#define CHURN 5000
#define LIVE 64

static void
test_walks_broadcast_after_churn_reaches_exactly_the_open(void **state)
{
    env *e = env_new(state);
    server_state s;
    memset(&s, 0, sizeof s);
    wsio_server *srv = start_server(e, NULL, NULL, &s);
    uint16_t port = wsio_server_port(srv);
    int fds[LIVE];
    int nlive = 0, opened = 0, closed = 0;
    unsigned seed = 17;
    while (opened < CHURN) {
        if (nlive < LIVE && (nlive == 0 || rand_r(&seed) % 3 != 0)) {
            fds[nlive++] = raw_ws_connect(e, port);
            opened++;
            continue;
        }
        int k = (int)(rand_r(&seed) % (unsigned)nlive);
        close(fds[k]);
        fds[k] = fds[--nlive];
        closed++;
        if (closed % 16 == 0)
            RUN_UNTIL(e, s.closes == closed, 5000);
    }
    RUN_UNTIL(e, s.opens == CHURN && s.closes == closed, 5000);
    wsio_server_stats st;
    wsio_server_get_stats(srv, &st);
    assert_int_equal(st.connections, (size_t)nlive);
    assert_true(nlive > LIVE / 4);
    assert_int_equal(wsio_server_broadcast(srv, WSIO_OP_TEXT, "x", 1, NULL),
                     nlive);
    for (int k = 0; k < nlive; k++) {
        char buf[8];
        assert_int_equal(read_for(e, fds[k], buf, sizeof buf, 3, 5000), 3);
        assert_memory_equal(buf, "\x81\x01x", 3);
    }
    /* Once each: nothing more comes. */
    run_for(e, 20);
    for (int k = 0; k < nlive; k++) {
        char buf[8];
        assert_int_equal(raw_read(fds[k], buf, sizeof buf), -1);
        close(fds[k]);
    }
    RUN_UNTIL(e, s.closes == CHURN, 5000);
    wsio_server_free(srv);
    run_for(e, 10);
    env_free(e);
}

/* ---- freeing a server with connections in every state ---- */

#define OPEN_N 12

typedef struct chain {
    wsio_ws *ws[OPEN_N + 4];
    int closes[OPEN_N + 4]; /* on_close calls, by open order */
    int ended[OPEN_N + 4];  /* on_close ran: the ws is not to be used */
    int n, chain;           /* chain: each on_close terminates the next */
} chain;

static void chain_open(wsio_ws *ws, void *user)
{
    chain *c = user;
    assert_true(c->n < OPEN_N + 4);
    c->ws[c->n++] = ws;
}

static void chain_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    (void)info;
    chain *c = user;
    int me = -1;
    for (int i = 0; i < c->n; i++)
        if (c->ws[i] == ws && !c->ended[i])
            me = i;
    assert_true(me >= 0);
    c->closes[me]++;
    c->ended[me] = 1;
    if (!c->chain)
        return;
    /* End another one still open, from inside the server's walk: the
     * one after, and every other one further on. */
    for (int i = me + 1; i < c->n; i += 2)
        if (!c->ended[i]) {
            wsio_ws_terminate(c->ws[i]);
            break;
        }
}

static const wsio_ws_callbacks chain_cb = {.on_open = chain_open,
                                           .on_close = chain_close};

static void free_in_every_state(void **state, int chained)
{
    env *e = env_new(state);
    chain *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->chain = chained;
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    if (e->io != ENV_IO_PLAIN) {
        cfg.transport = &e->io_ops;
        cfg.transport_ctx = e;
    }
    int err = 0;
    wsio_server *srv = wsio_server_new(e->loop, &cfg, &chain_cb, NULL, c, &err);
    assert_non_null(srv);
    uint16_t port = wsio_server_port(srv);
    int fds[OPEN_N + 4], nfd = 0;
    for (int k = 0; k < OPEN_N; k++)
        fds[nfd++] = raw_ws_connect(e, port);
    /* Output queued: a peer with a small window that never reads. */
    fds[nfd++] = raw_ws_connect_rcvbuf(e, port, 1024);
    RUN_UNTIL(e, c->n == OPEN_N + 1, 5000);
    static char big[256 * 1024];
    memset(big, 'b', sizeof big);
    assert_true(wsio_ws_send(c->ws[OPEN_N], WSIO_OP_BINARY, big, sizeof big) >=
                0);
    /* Closing: our close frame sent, the peer's never comes. */
    assert_int_equal(wsio_ws_close(c->ws[0], 1000, "bye", 3), 0);
    /* Handshaking: half a request. */
    fds[nfd] = raw_connect(port);
    raw_send(fds[nfd++], "GET / HTTP/1.1\r\nHost: x\r\n");
    /* Answered (404) and lingering: the peer neither reads nor closes. */
    fds[nfd] = raw_connect(port);
    raw_send(fds[nfd++], "GET /none HTTP/1.1\r\nHost: x\r\n\r\n");
    run_for(e, 50);
    assert_int_equal(c->closes[0], 0);
    wsio_server_free(srv);
    /* Every opened one ended, each once. */
    for (int i = 0; i < c->n; i++)
        assert_int_equal(c->closes[i], 1);
    run_for(e, 20);
    for (int k = 0; k < nfd; k++)
        close(fds[k]);
    run_for(e, 10);
    free(c);
    env_free(e); /* nothing left allocated */
}

static void test_walks_free_with_connections_in_every_state(void **state)
{
    free_in_every_state(state, 0);
}

static void test_walks_free_while_each_on_close_ends_another(void **state)
{
    free_in_every_state(state, 1);
}

/* ---- heartbeat ---- */

#define MUTE 12
#define TALK 12

static void
test_walks_heartbeat_ends_mute_peers_while_others_close(void **state)
{
    env *e = env_new(state);
    server_state s;
    memset(&s, 0, sizeof s);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.ping_interval_ms = 40;
    wsio_server *srv = start_server(e, &cfg, NULL, &s);
    uint16_t port = wsio_server_port(srv);
    int mute[MUTE];
    peer talk[TALK];
    memset(talk, 0, sizeof talk);
    /* Interleaved: mute raw peers (never answer a ping), wsio clients
     * (answer every one). */
    for (int k = 0; k < MUTE; k++) {
        mute[k] = raw_ws_connect(e, port);
        (void)connect_client(e, srv, NULL, &talk[k]);
        RUN_UNTIL(e, talk[k].opened, 5000);
    }
    RUN_UNTIL(e, s.opens == MUTE + TALK, 5000);
    /* A third of the mute ones go away themselves, between sweeps. */
    for (int k = 0; k < MUTE; k += 3)
        close(mute[k]);
    /* The others are ended by the sweep within two intervals (one ping,
     * then no answer by the next); none of the clients is. */
    RUN_UNTIL(e, s.closes == MUTE, 5000);
    run_for(e, 200); /* several more sweeps */
    assert_int_equal(s.closes, MUTE);
    for (int k = 0; k < TALK; k++)
        assert_int_equal(talk[k].closed, 0);
    wsio_server_stats st;
    wsio_server_get_stats(srv, &st);
    assert_int_equal(st.connections, (size_t)TALK);
    for (int k = 0; k < MUTE; k++)
        if (k % 3)
            close(mute[k]);
    for (int k = 0; k < TALK; k++)
        wsio_ws_terminate(talk[k].ws);
    wsio_server_free(srv);
    run_for(e, 20);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(
            test_walks_broadcast_after_churn_reaches_exactly_the_open),
        ON_EVERY_LOOP(test_walks_free_with_connections_in_every_state),
        ON_EVERY_LOOP(test_walks_free_while_each_on_close_ends_another),
        ON_EVERY_LOOP(test_walks_heartbeat_ends_mute_peers_while_others_close),
    };
    return cmocka_run_group_tests_name("server_walks", tests, NULL, NULL);
}
