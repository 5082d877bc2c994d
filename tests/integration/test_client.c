/*
 * tests/integration/test_client.c - the client's dialing (resolution off
 * the loop's thread, every address tried), the reconnecting wsio_client,
 * heartbeat round trips, and which sends are written from the caller's
 * buffer; on every loop mode, against a wsio server on 127.0.0.1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* ---- resolver hooks
 * --------------------------------------------------------------- */

/* What a hook answers, and how it was used. Lives in static storage: a
 * hook may outlive the client (and the test's loop) that asked. */
typedef struct hook_answer {
    uint16_t ports[4]; /* 127.0.0.1 with each port, in order */
    size_t nports;
    int error;           /* answer this instead, when not 0 */
    int link_local_last; /* then [fe80::1]:80, which fails at once (no
                            scope id: EINVAL; no IPv6: EAFNOSUPPORT) */
    unsigned sleep_ms;   /* take this long */
    atomic_int calls, returned;
    char host[64];
} hook_answer;

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int hook_resolve(const char *host, const char *port,
                        wsio_client_addr *out, size_t cap, void *user)
{
    (void)port;
    hook_answer *h = user;
    atomic_fetch_add(&h->calls, 1);
    snprintf(h->host, sizeof h->host, "%s", host);
    sleep_ms(h->sleep_ms);
    int n = h->error;
    for (size_t i = 0; !h->error && i < h->nports && i < cap; i++) {
        struct sockaddr_in *a = (struct sockaddr_in *)&out[i].addr;
        memset(&out[i], 0, sizeof out[i]);
        a->sin_family = AF_INET;
        a->sin_port = htons(h->ports[i]);
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        out[i].len = sizeof *a;
        n = (int)i + 1;
    }
    if (!h->error && h->link_local_last && (size_t)n < cap) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out[n].addr;
        memset(&out[n], 0, sizeof out[n]);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(80);
        inet_pton(AF_INET6, "fe80::1", &a->sin6_addr);
        out[n++].len = sizeof *a;
    }
    atomic_fetch_add(&h->returned, 1);
    return n;
}

/* Wait (bounded) until the hook's thread has answered, so nothing of the
 * test is still in use when it ends. */
static void wait_hook(hook_answer *h, int calls)
{
    for (int i = 0; i < 500 && atomic_load(&h->returned) < calls; i++)
        sleep_ms(10);
    assert_int_equal(atomic_load(&h->returned), calls);
    sleep_ms(20); /* the thread's last steps after the hook returns */
}

/* A port on 127.0.0.1 nothing listens on (bound, then closed). */
static uint16_t closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static wsio_ws *connect_named(env *e, wsio_client_config *cc, hook_answer *h,
                              peer *p)
{
    cc->resolve = hook_resolve;
    cc->resolve_user = h;
    int err = 0;
    wsio_ws *ws = wsio_client_connect(e->loop, "ws://service.test:8080/x", cc,
                                      &client_cb, p, &err);
    assert_non_null(ws);
    return ws;
}

/* ---- dialing
 * ----------------------------------------------------------------------- */

static void test_client_tries_next_address_after_unreachable_one(void **state)
{
    env *e = env_new(state);
    server_state s = {0};
    wsio_server *srv = start_server(e, NULL, NULL, &s);
    static hook_answer h;
    memset(&h, 0, sizeof h);
    h.ports[0] = closed_port();
    h.ports[1] = wsio_server_port(srv);
    h.nports = 2;
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    peer p = {0};
    connect_named(e, &cc, &h, &p);
    RUN_UNTIL(e, p.opened == 1 || p.closed == 1, 5000);
    assert_int_equal(p.opened, 1);
    assert_int_equal(s.opens, 1);
    uint16_t port = 0;
    wsio_ws_remote_addr(p.ws, &port);
    assert_int_equal(port, wsio_server_port(srv));
    assert_int_equal(atomic_load(&h.calls), 1);
    assert_string_equal(h.host, "service.test");
    wait_hook(&h, 1);
    env_free(e);
}

/* No hook: getaddrinfo on the resolver thread. "localhost" may give ::1
 * first (nothing listens there: refused) and 127.0.0.1, where the server
 * is. */
static void test_client_default_resolver_finds_localhost(void **state)
{
    env *e = env_new(state);
    server_state s = {0};
    wsio_server *srv = start_server(e, NULL, NULL, &s);
    char url[64];
    snprintf(url, sizeof url, "ws://localhost:%u/",
             (unsigned)wsio_server_port(srv));
    peer p = {0};
    int err = 0;
    assert_non_null(
        wsio_client_connect(e->loop, url, NULL, &client_cb, &p, &err));
    RUN_UNTIL(e, p.opened == 1 || p.closed == 1, 5000);
    assert_int_equal(p.opened, 1);
    assert_string_equal(wsio_ws_remote_addr(p.ws, NULL), "127.0.0.1");
    env_free(e);
}

/* An address that takes no connection at all (a backlog that is full)
 * gets company after the attempt delay: the client connects to the
 * second long before its connect timeout. */
static void test_client_stalled_address_gets_company_after_delay(void **state)
{
    env *e = env_new(state);
    server_state s = {0};
    wsio_server *srv = start_server(e, NULL, NULL, &s);
    /* A listener that never accepts, its backlog filled: further SYNs are
     * dropped, so a connect to it neither succeeds nor fails soon. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 0), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
    int fill[8];
    for (int i = 0; i < 8; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void)connect(fill[i], (struct sockaddr *)&a, sizeof a);
    }
    static hook_answer h;
    memset(&h, 0, sizeof h);
    h.ports[0] = ntohs(a.sin_port);
    h.ports[1] = wsio_server_port(srv);
    h.nports = 2;
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    cc.connect_timeout_ms = 4000;
    cc.attempt_delay_ms = 100;
    peer p = {0};
    connect_named(e, &cc, &h, &p);
    uint64_t t0 = now_ms();
    RUN_UNTIL(e, p.opened == 1 || p.closed == 1, 3000);
    assert_int_equal(p.opened, 1);
    assert_true(now_ms() - t0 < 3000); /* hang guard: not the timeout */
    uint16_t port = 0;
    wsio_ws_remote_addr(p.ws, &port);
    assert_int_equal(port, wsio_server_port(srv));
    wait_hook(&h, 1);
    env_free(e);
    for (int i = 0; i < 8; i++)
        close(fill[i]);
    close(lfd);
}

typedef struct ticker {
    int fired;
    int fired_while_resolving;
    hook_answer *h;
} ticker;

static void on_tick(wsio_timer *t, void *user)
{
    (void)t;
    ticker *k = user;
    k->fired++;
    if (atomic_load(&k->h->calls) == 1 && atomic_load(&k->h->returned) == 0)
        k->fired_while_resolving++;
}

static void test_client_slow_resolver_does_not_block_the_loop(void **state)
{
    env *e = env_new(state);
    server_state s = {0};
    wsio_server *srv = start_server(e, NULL, NULL, &s);
    static hook_answer h;
    memset(&h, 0, sizeof h);
    h.ports[0] = wsio_server_port(srv);
    h.nports = 1;
    h.sleep_ms = 400;
    ticker k = {.h = &h};
    wsio_timer *t = wsio_timer_new(e->loop, on_tick, &k, NULL);
    assert_non_null(t);
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    peer p = {0};
    connect_named(e, &cc, &h, &p);
    wsio_timer_start(t, 20);
    RUN_UNTIL(e, p.opened == 1 || p.closed == 1, 5000);
    assert_int_equal(p.opened, 1);
    assert_int_equal(k.fired, 1);
    assert_int_equal(k.fired_while_resolving, 1);
    wsio_timer_free(t);
    wait_hook(&h, 1);
    env_free(e);
}

/* Every address of the answer, in order, up to the cap: a hook that fills
 * all 16 (15 refusing, the server last) and claims more is cut to 16. */
static int crowded_resolve(const char *host, const char *port,
                           wsio_client_addr *out, size_t cap, void *user)
{
    hook_answer *h = user;
    hook_resolve(host, port, out, cap, user);
    for (size_t i = 0; i < cap; i++) {
        struct sockaddr_in *a = (struct sockaddr_in *)&out[i].addr;
        memset(&out[i], 0, sizeof out[i]);
        a->sin_family = AF_INET;
        a->sin_port = htons(i + 1 < cap ? h->ports[0] : h->ports[1]);
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        out[i].len = sizeof *a;
    }
    return (int)cap + 100;
}

static void test_client_resolver_claiming_too_many_is_cut_to_cap(void **state)
{
    env *e = env_new(state);
    server_state s = {0};
    wsio_server *srv = start_server(e, NULL, NULL, &s);
    static hook_answer h;
    memset(&h, 0, sizeof h);
    h.ports[0] = closed_port();
    h.ports[1] = wsio_server_port(srv);
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    cc.resolve = crowded_resolve;
    cc.resolve_user = &h;
    peer p = {0};
    int err = 0;
    assert_non_null(wsio_client_connect(e->loop, "ws://crowded.test/", &cc,
                                        &client_cb, &p, &err));
    RUN_UNTIL(e, p.opened == 1 || p.closed == 1, 5000);
    assert_int_equal(p.opened, 1); /* the 16th address */
    uint16_t port = 0;
    wsio_ws_remote_addr(p.ws, &port);
    assert_int_equal(port, wsio_server_port(srv));
    wait_hook(&h, 1);
    env_free(e);
}

/* RFC 8305 section 4: the families take turns. Answered v4, v4, v6, the
 * tries go v4, v6, v4, so the error reported when all fail is the second
 * v4's refusal, not the v6 address's own failure. */
static void test_client_interleaves_address_families(void **state)
{
    env *e = env_new(state);
    static hook_answer h;
    memset(&h, 0, sizeof h);
    h.ports[0] = closed_port();
    h.ports[1] = closed_port();
    h.nports = 2;
    h.link_local_last = 1;
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    peer p = {0};
    connect_named(e, &cc, &h, &p);
    RUN_UNTIL(e, p.closed == 1, 5000);
    assert_int_equal(p.opened, 0);
    assert_int_equal(p.info.error, -ECONNREFUSED);
    wait_hook(&h, 1);
    env_free(e);
}

static void test_client_unknown_name_ends_in_on_close(void **state)
{
    env *e = env_new(state);
    static hook_answer h;
    memset(&h, 0, sizeof h);
    h.error = WSIO_EINVAL;
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    peer p = {0};
    connect_named(e, &cc, &h, &p);
    RUN_UNTIL(e, p.closed == 1, 5000);
    assert_int_equal(p.opened, 0);
    assert_int_equal(p.info.error, WSIO_EINVAL);
    wait_hook(&h, 1);
    env_free(e);
}

/* Closed, or with the whole loop freed, while the hook still runs: the
 * answer is dropped; nothing is used after it is freed (ASan). */
static void test_client_given_up_while_resolving(void **state)
{
    env *e = env_new(state);
    static hook_answer h;
    memset(&h, 0, sizeof h);
    h.ports[0] = closed_port();
    h.nports = 1;
    h.sleep_ms = 150;
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    peer p = {0}, q = {0};
    wsio_ws *ws = connect_named(e, &cc, &h, &p);
    connect_named(e, &cc, &h, &q); /* left to wsio_loop_free */
    assert_int_equal(wsio_ws_close(ws, WSIO_CLOSE_NORMAL, NULL, 0), 0);
    assert_int_equal(p.closed, 1);
    assert_int_equal(p.opened, 0);
    run_for(e, 20);
    env_free(e);
    assert_int_equal(q.closed, 1);
    assert_int_equal(q.opened, 0);
    wait_hook(&h, 2);
}

/* connect_timeout_ms covers resolution: a hook slower than it ends the
 * try with WSIO_ETIMEDOUT, and its late answer is dropped. */
static void test_client_resolution_counts_against_connect_timeout(void **state)
{
    env *e = env_new(state);
    server_state s = {0};
    wsio_server *srv = start_server(e, NULL, NULL, &s);
    static hook_answer h;
    memset(&h, 0, sizeof h);
    h.ports[0] = wsio_server_port(srv);
    h.nports = 1;
    h.sleep_ms = 300;
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    cc.connect_timeout_ms = 50;
    peer p = {0};
    connect_named(e, &cc, &h, &p);
    RUN_UNTIL(e, p.closed == 1, 5000);
    assert_int_equal(p.info.error, WSIO_ETIMEDOUT);
    wait_hook(&h, 1);
    run_for(e, 30); /* the answer would come now: nothing uses it */
    assert_int_equal(p.opened, 0);
    assert_int_equal(s.opens, 0);
    env_free(e);
}

/* ---- reconnecting
 * ------------------------------------------------------------------- */

typedef struct recorder {
    peer p;
    unsigned attempts[16];
    uint32_t delays[16];
    int giving_up[16];
    size_t nevents;
    wsio_client *free_in_close; /* wsio_client_free from on_close */
} recorder;

static void rec_on_reconnect(wsio_client *c, const wsio_reconnect_info *info,
                             void *user)
{
    (void)c;
    recorder *r = user;
    if (r->nevents < 16) {
        r->attempts[r->nevents] = info->attempt;
        r->delays[r->nevents] = info->delay_ms;
        r->giving_up[r->nevents] = info->giving_up;
    }
    r->nevents++;
}

static void rec_on_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    recorder *r = user;
    client_cb.on_close(ws, info, &r->p);
    if (r->free_in_close)
        wsio_client_free(r->free_in_close);
}

static void rec_on_open(wsio_ws *ws, void *user)
{
    client_cb.on_open(ws, &((recorder *)user)->p);
}

static const wsio_ws_callbacks rec_cb = {.on_open = rec_on_open,
                                         .on_close = rec_on_close};

static wsio_client *new_client(env *e, uint16_t port, wsio_client_config *cc,
                               recorder *r)
{
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/", (unsigned)port);
    cc->reconnect.on_reconnect = rec_on_reconnect;
    int err = 0;
    wsio_client *c = wsio_client_new(e->loop, url, cc, &rec_cb, r, &err);
    assert_non_null(c);
    return c;
}

/* The n-th try after a loss waits within [d/2, d], d doubling. */
static void assert_backoff(const recorder *r, size_t n, uint32_t initial,
                           uint32_t max)
{
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(r->attempts[i], i + 1);
        uint64_t d = (uint64_t)initial << i;
        if (d > max)
            d = max;
        assert_true(r->delays[i] >= d / 2);
        assert_true(r->delays[i] <= d);
    }
}

static void test_client_reconnects_after_server_restart(void **state)
{
    env *e = env_new(state);
    server_state s = {0};
    wsio_server_config sc;
    wsio_server_config_default(&sc);
    wsio_server *srv = start_server(e, &sc, NULL, &s);
    uint16_t port = wsio_server_port(srv);
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    cc.reconnect.initial_delay_ms = 40;
    cc.reconnect.max_delay_ms = 200;
    recorder r = {0};
    wsio_client *c = new_client(e, port, &cc, &r);
    RUN_UNTIL(e, r.p.opened == 1, 5000);
    assert_ptr_equal(wsio_client_ws(c), r.p.ws);

    wsio_server_free(srv); /* the server goes away */
    RUN_UNTIL(e, r.nevents >= 4, 5000);
    assert_int_equal(r.p.opened, 1);
    assert_true(r.p.closed >= 4); /* the lost one, then refused tries */
    assert_backoff(&r, 4, 40, 200);

    sc.port = port; /* back, on the same port */
    srv = start_server(e, &sc, NULL, &s);
    RUN_UNTIL(e, r.p.opened == 2, 5000);
    assert_int_equal(s.opens, 2);
    size_t before = r.nevents;

    /* Open again: the count starts over at the next loss. */
    wsio_server_free(srv);
    RUN_UNTIL(e, r.nevents > before, 5000);
    assert_int_equal(r.attempts[before], 1);
    assert_false(r.giving_up[before]);
    wsio_client_free(c);
    env_free(e);
}

static void test_client_gives_up_after_max_attempts(void **state)
{
    env *e = env_new(state);
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    cc.reconnect.initial_delay_ms = 10;
    cc.reconnect.max_delay_ms = 25;
    cc.reconnect.max_attempts = 3;
    recorder r = {0};
    wsio_client *c = new_client(e, closed_port(), &cc, &r);
    RUN_UNTIL(e, r.nevents == 4, 5000);
    assert_backoff(&r, 3, 10, 25);
    assert_int_equal(r.giving_up[3], 1);
    assert_int_equal(r.attempts[3], 3);
    assert_int_equal(r.delays[3], 0);
    assert_int_equal(r.p.closed, 4); /* the first try and three more */
    assert_int_equal(r.p.opened, 0);
    assert_int_equal(r.p.info.error, -ECONNREFUSED);
    assert_null(wsio_client_ws(c));
    assert_false(wsio_loop_alive(e->loop)); /* given up: nothing to wait for */
    run_for(e, 100);
    assert_int_equal(r.nevents, 4);
    wsio_client_free(c);
    env_free(e);
}

static void test_client_close_stops_reconnecting(void **state)
{
    env *e = env_new(state);
    server_state s = {0};
    wsio_server *srv = start_server(e, NULL, NULL, &s);
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    cc.reconnect.initial_delay_ms = 10;
    recorder r = {0};
    wsio_client *c = new_client(e, wsio_server_port(srv), &cc, &r);
    RUN_UNTIL(e, r.p.opened == 1, 5000);
    assert_int_equal(wsio_client_close(c, WSIO_CLOSE_NORMAL, "bye", 3), 0);
    RUN_UNTIL(e, r.p.closed == 1 && s.closes == 1, 5000);
    assert_int_equal(r.p.info.code, WSIO_CLOSE_NORMAL);
    run_for(e, 60);
    assert_int_equal(r.nevents, 0);
    assert_int_equal(s.opens, 1);
    wsio_server_free(srv);
    run_for(e, 20);
    assert_false(wsio_loop_alive(e->loop));
    env_free(e); /* frees the client left (leak-checked) */
}

static void test_client_freed_from_on_close(void **state)
{
    env *e = env_new(state);
    server_state s = {0};
    wsio_server *srv = start_server(e, NULL, NULL, &s);
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    cc.reconnect.initial_delay_ms = 10;
    recorder r = {0};
    wsio_client *c = new_client(e, wsio_server_port(srv), &cc, &r);
    r.free_in_close = c;
    RUN_UNTIL(e, r.p.opened == 1, 5000);
    wsio_server_free(srv);
    RUN_UNTIL(e, r.p.closed == 1, 5000);
    run_for(e, 60);
    assert_int_equal(r.nevents, 0);
    assert_false(wsio_loop_alive(e->loop));
    env_free(e);
}

/* ---- heartbeat round trips
 * ------------------------------------------------------------ */

typedef struct pong_state {
    server_state base;
    int pongs;
    uint64_t rtt_in_pong;
} pong_state;

static void ps_on_open(wsio_ws *ws, void *user)
{
    ((pong_state *)user)->base.last_open = ws;
    ((pong_state *)user)->base.opens++;
}

static void ps_on_pong(wsio_ws *ws, const wsio_control *pong, void *user)
{
    (void)pong;
    pong_state *ps = user;
    ps->pongs++;
    ps->rtt_in_pong = wsio_ws_rtt_us(ws);
}

static void ps_on_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    (void)ws;
    (void)info;
    ((pong_state *)user)->base.closes++;
}

static const wsio_ws_callbacks pong_cb = {
    .on_open = ps_on_open, .on_pong = ps_on_pong, .on_close = ps_on_close};

static wsio_server *start_pong_server(env *e, uint32_t interval, pong_state *ps)
{
    wsio_server_config sc;
    wsio_server_config_default(&sc);
    sc.ping_interval_ms = interval;
    int err = 0;
    wsio_server *srv = wsio_server_new(e->loop, &sc, &pong_cb, NULL, ps, &err);
    assert_non_null(srv);
    return srv;
}

static void test_client_heartbeat_rtt_is_measured_in_us(void **state)
{
    env *e = env_new(state);
    pong_state ps = {0};
    uint64_t t0 = wsio_loop_now_us(e->loop);
    wsio_server *srv = start_pong_server(e, 30, &ps);
    peer p = {0};
    connect_client(e, srv, NULL, &p);
    RUN_UNTIL(e, ps.pongs >= 2, 5000);
    uint64_t elapsed = wsio_loop_now_us(e->loop) - t0;
    uint64_t rtt = wsio_ws_rtt_us(ps.base.last_open);
    assert_true(rtt > 0);
    assert_true(rtt < elapsed);      /* within the time the test took */
    assert_true(ps.rtt_in_pong > 0); /* set before on_pong ran */
    assert_int_equal(p.closed, 0);
    env_free(e);
}

/* A pong nobody asked for (RFC 6455 section 5.5.3) keeps the peer alive
 * but is no round trip, even with 8 bytes of payload. */
static void test_client_unsolicited_pong_is_not_a_round_trip(void **state)
{
    env *e = env_new(state);
    pong_state ps = {0};
    wsio_server *srv = start_pong_server(e, 60000, &ps);
    int fd = raw_ws_connect(e, wsio_server_port(srv));
    RUN_UNTIL(e, ps.base.opens == 1, 5000);
    /* FIN + pong, masked with a zero key, 8 bytes of payload. */
    const char frame[] = "\x8a\x88\0\0\0\0"
                         "12345678";
    assert_int_equal(write(fd, frame, sizeof frame - 1),
                     (ssize_t)(sizeof frame - 1));
    RUN_UNTIL(e, ps.pongs == 1, 5000);
    assert_int_equal(wsio_ws_rtt_us(ps.base.last_open), 0);
    assert_int_equal(ps.rtt_in_pong, 0);
    close(fd);
    env_free(e);
}

static void test_client_loop_clock_in_us_moves_with_ms_clock(void **state)
{
    env *e = env_new(state);
    uint64_t us0 = wsio_loop_now_us(e->loop);
    sleep_ms(5);
    uint64_t us1 = wsio_loop_now_us(e->loop);
    assert_true(us1 - us0 >= 5000);
    assert_true(us1 - us0 < 5000000); /* hang guard */
    env_free(e);
}

/* ---- which sends are written from the caller's buffer
 * ----------------------------------- */

/* A server's large message leaves at once (part of it written before
 * wsio_ws_send returns); a client's is masked, so it is copied whole into
 * the queue and written at the end of the turn (docs/loop.md). */
static void
test_client_large_sends_direct_for_server_queued_for_client(void **state)
{
    env *e = env_new(state);
    server_state s = {0};
    wsio_server *srv = start_server(e, NULL, NULL, &s);
    peer p = {0};
    connect_client(e, srv, NULL, &p);
    RUN_UNTIL(e, p.opened == 1 && s.opens == 1, 5000);
    const size_t len = 65536;
    char *msg = malloc(len);
    assert_non_null(msg);
    memset(msg, 'x', len);
    assert_int_equal(wsio_ws_send(s.last_open, WSIO_OP_BINARY, msg, len), 0);
    assert_true(wsio_ws_buffered_amount(s.last_open) < len);
    assert_int_equal(wsio_ws_send(p.ws, WSIO_OP_BINARY, msg, len), 0);
    assert_true(wsio_ws_buffered_amount(p.ws) >= len);
    memset(msg, 'y', len); /* the client's copy is not the caller's buffer */
    p.expect = NULL;
    RUN_UNTIL(e, p.nmsg == 1 && s.messages == 1, 5000);
    free(msg);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_client_tries_next_address_after_unreachable_one),
        ON_HOST_EPOLL(test_client_tries_next_address_after_unreachable_one),
        ON_EVERY_LOOP(test_client_default_resolver_finds_localhost),
        ON_EVERY_LOOP(test_client_stalled_address_gets_company_after_delay),
        ON_HOST_EPOLL(test_client_stalled_address_gets_company_after_delay),
        ON_EVERY_LOOP(test_client_slow_resolver_does_not_block_the_loop),
        ON_HOST_EPOLL(test_client_slow_resolver_does_not_block_the_loop),
        ON_EVERY_LOOP(test_client_resolver_claiming_too_many_is_cut_to_cap),
        ON_HOST_EPOLL(test_client_resolver_claiming_too_many_is_cut_to_cap),
        ON_EVERY_LOOP(test_client_interleaves_address_families),
        ON_HOST_EPOLL(test_client_interleaves_address_families),
        ON_EVERY_LOOP(test_client_unknown_name_ends_in_on_close),
        ON_HOST_EPOLL(test_client_unknown_name_ends_in_on_close),
        ON_EVERY_LOOP(test_client_given_up_while_resolving),
        ON_EVERY_LOOP(test_client_resolution_counts_against_connect_timeout),
        ON_HOST_EPOLL(test_client_given_up_while_resolving),
        ON_EVERY_LOOP(test_client_reconnects_after_server_restart),
        ON_HOST_EPOLL(test_client_reconnects_after_server_restart),
        ON_EVERY_LOOP(test_client_gives_up_after_max_attempts),
        ON_HOST_EPOLL(test_client_gives_up_after_max_attempts),
        ON_EVERY_LOOP(test_client_close_stops_reconnecting),
        ON_HOST_EPOLL(test_client_close_stops_reconnecting),
        ON_EVERY_LOOP(test_client_freed_from_on_close),
        ON_HOST_EPOLL(test_client_freed_from_on_close),
        ON_EVERY_LOOP(test_client_heartbeat_rtt_is_measured_in_us),
        ON_HOST_EPOLL(test_client_heartbeat_rtt_is_measured_in_us),
        ON_EVERY_LOOP(test_client_unsolicited_pong_is_not_a_round_trip),
        ON_HOST_EPOLL(test_client_unsolicited_pong_is_not_a_round_trip),
        ON_EVERY_LOOP(test_client_loop_clock_in_us_moves_with_ms_clock),
        ON_HOST_EPOLL(test_client_loop_clock_in_us_moves_with_ms_clock),
        ON_EVERY_LOOP(
            test_client_large_sends_direct_for_server_queued_for_client),
        ON_HOST_EPOLL(
            test_client_large_sends_direct_for_server_queued_for_client),
    };
    return cmocka_run_group_tests_name("client", tests, NULL, NULL);
}
