/*
 * tests/integration/test_server_api.c - what a server hands the host
 * beyond messages: the upgrade request kept for on_open (keep_request,
 * wsio_ws_request), subprotocol negotiation in the server's order of
 * preference (RFC 6455 section 4.2.2) and the refusal of a value the client
 * did not offer, connection ids with sends and closes by id from other
 * threads (applied only while the id is open), and the topic calls that
 * take a length.
 *
 * Threads: cmocka's allocator is not thread-safe, so the tests whose
 * worker threads call wsio put a mutex around it (locked_mem); the workers
 * never call cmocka, they record and the test's thread asserts.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* ---- a client whose callbacks are the test's ---- */

static wsio_ws *connect_to(env *e, wsio_server *srv, const char *path,
                           wsio_client_config *cfg, const wsio_ws_callbacks *cb,
                           void *user)
{
    char url[128];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u%s",
             (unsigned)wsio_server_port(srv), path);
    wsio_client_config def;
    if (!cfg) {
        wsio_client_config_default(&def);
        cfg = &def;
    }
    if (e->io != ENV_IO_PLAIN) {
        cfg->transport = &e->io_ops;
        cfg->transport_ctx = e;
    }
    int err = 0;
    wsio_ws *ws = wsio_client_connect(e->loop, url, cfg, cb, user, &err);
    assert_non_null(ws);
    return ws;
}

/* ---- the request in on_open ---- */

typedef struct seen_request {
    server_state base;
    int opens, with_request;
    char method[8], path[32], query[32], header[32], addr[64], sub[32];
    uint16_t port;
    uint16_t ws_port; /* wsio_ws_remote_addr's */
} seen_request;

static void copy_slice(char *out, size_t cap, wsio_slice s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    if (n)
        memcpy(out, s.ptr, n);
    out[n] = '\0';
}

static void record_request_on_open(wsio_ws *ws, void *user)
{
    seen_request *s = user;
    s->opens++;
    const wsio_request_info *info = wsio_ws_request(ws);
    if (!info)
        return;
    s->with_request++;
    const wsio_http_request *r = info->request;
    copy_slice(s->method, sizeof s->method, r->method);
    copy_slice(s->path, sizeof s->path, r->path);
    copy_slice(s->query, sizeof s->query, r->query);
    wsio_slice v = {NULL, 0};
    if (wsio_http_header_find(r->headers, r->num_headers, "X-Test", &v))
        copy_slice(s->header, sizeof s->header, v);
    snprintf(s->addr, sizeof s->addr, "%s", info->remote_addr);
    snprintf(s->sub, sizeof s->sub, "%s", info->subprotocol);
    s->port = info->remote_port;
    (void)wsio_ws_remote_addr(ws, &s->ws_port);
}

static const wsio_ws_callbacks request_cb = {.on_open = record_request_on_open};

static void test_api_request_fields_in_on_open(void **state)
{
    env *e = env_new(state);
    static const char *const protos[] = {"v2.chat", "v1.chat"};
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.keep_request = 1;
    cfg.subprotocols = protos;
    cfg.num_subprotocols = 2;
    if (e->io != ENV_IO_PLAIN) {
        cfg.transport = &e->io_ops;
        cfg.transport_ctx = e;
    }
    seen_request s;
    memset(&s, 0, sizeof s);
    int err = 0;
    wsio_server *srv =
        wsio_server_new(e->loop, &cfg, &request_cb, NULL, &s, &err);
    assert_non_null(srv);
    static const wsio_http_header extra[] = {{{"X-Test", 6}, {"hello", 5}}};
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    cc.subprotocols = "v1.chat, v2.chat";
    cc.headers = extra;
    cc.num_headers = 1;
    peer p = {0};
    connect_to(e, srv, "/room/7?user=ann", &cc, &client_cb, &p);
    RUN_UNTIL(e, p.opened == 1 && s.opens == 1, 5000);
    assert_int_equal(s.with_request, 1);
    assert_string_equal(s.method, "GET");
    assert_string_equal(s.path, "/room/7");
    assert_string_equal(s.query, "user=ann");
    assert_string_equal(s.header, "hello");
    assert_string_equal(s.addr, "127.0.0.1");
    assert_true(s.port > 0);
    assert_int_equal(s.port, s.ws_port);
    /* The server's preference, not the client's order. */
    assert_string_equal(s.sub, "v2.chat");
    assert_string_equal(wsio_ws_subprotocol(p.ws), "v2.chat");
    wsio_server_free(srv);
    RUN_UNTIL(e, p.closed == 1, 5000);
    env_free(e);
}

/* The kept request is what keep_request costs, and memory_budget sees it:
 * two servers, one keeping, same clients; the keeping one holds at least
 * the heads' bytes more, and no more than the handshake limits allow. */
static void test_api_kept_request_counts_in_memory_budget(void **state)
{
    env *e = env_new(state);
    enum { N = 5 };
    seen_request s[2];
    wsio_server *srv[2];
    memset(s, 0, sizeof s);
    for (int i = 0; i < 2; i++) {
        wsio_server_config cfg;
        wsio_server_config_default(&cfg);
        cfg.keep_request = i;
        if (e->io != ENV_IO_PLAIN) {
            cfg.transport = &e->io_ops;
            cfg.transport_ctx = e;
        }
        int err = 0;
        srv[i] = wsio_server_new(e->loop, &cfg, &request_cb, NULL, &s[i], &err);
        assert_non_null(srv[i]);
    }
    /* A header that makes each head well over 1 KiB. */
    static char big[1024];
    memset(big, 'x', sizeof big);
    static const wsio_http_header extra[] = {{{"X-Big", 5}, {big, sizeof big}}};
    peer p[2][N];
    memset(p, 0, sizeof p);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < N; k++) {
            wsio_client_config cc;
            wsio_client_config_default(&cc);
            cc.headers = extra;
            cc.num_headers = 1;
            connect_to(e, srv[i], "/", &cc, &client_cb, &p[i][k]);
        }
    RUN_UNTIL(e, s[0].opens == N && s[1].opens == N, 5000);
    assert_int_equal(s[0].with_request, 0);
    assert_int_equal(s[1].with_request, N);
    run_for(e, 50); /* the 101s flushed on both */
    wsio_server_stats st[2];
    wsio_server_get_stats(srv[0], &st[0]);
    wsio_server_get_stats(srv[1], &st[1]);
    uint64_t extra_bytes = st[1].memory_in_use - st[0].memory_in_use;
    assert_true(st[1].memory_in_use > st[0].memory_in_use);
    assert_true(extra_bytes >= N * sizeof big);
    wsio_server_config def;
    wsio_server_config_default(&def);
    assert_true(extra_bytes <= N * (def.http.max_header_bytes +
                                    64 * sizeof(wsio_http_header) + 256));
    for (int i = 0; i < 2; i++)
        wsio_server_free(srv[i]);
    run_for(e, 20);
    env_free(e);
}

/* ---- subprotocols ---- */

typedef struct sub_state {
    server_state base;
    const char *pick; /* on_upgrade sets this (NULL: leave preset) */
    int set_pick;
    char preset[32]; /* what on_upgrade found preset */
} sub_state;

static int pick_hook(wsio_server *srv, const wsio_request_info *req,
                     wsio_upgrade_decision *d, void *user)
{
    (void)srv;
    (void)req;
    sub_state *s = user;
    snprintf(s->preset, sizeof s->preset, "%s",
             d->subprotocol ? d->subprotocol : "(none)");
    if (s->set_pick)
        d->subprotocol = s->pick;
    return 0;
}

/* One client offering offers (NULL: none) to a server speaking protos
 * (num) whose on_upgrade sets pick when set_pick; runs until it opens or
 * closes. */
static void negotiate(env *e, const char *const *protos, size_t num,
                      const char *offers, int set_pick, const char *pick,
                      sub_state *s, peer *p, wsio_server_stats *st)
{
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.subprotocols = protos;
    cfg.num_subprotocols = num;
    wsio_server_hooks hooks = {.on_upgrade = pick_hook};
    memset(s, 0, sizeof *s);
    s->set_pick = set_pick;
    s->pick = pick;
    wsio_server *srv = start_server(e, &cfg, &hooks, &s->base);
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    cc.subprotocols = offers;
    memset(p, 0, sizeof *p);
    connect_client(e, srv, &cc, p);
    RUN_UNTIL(e, p->opened || p->closed, 5000);
    wsio_server_get_stats(srv, st);
    wsio_server_free(srv);
    RUN_UNTIL(e, p->closed == 1, 5000);
}

static void test_api_subprotocol_server_preference_order(void **state)
{
    env *e = env_new(state);
    static const char *const protos[] = {"superchat", "chat"};
    sub_state s;
    peer p;
    wsio_server_stats st;
    /* The client lists chat first; the server prefers superchat. */
    negotiate(e, protos, 2, "chat, superchat", 0, NULL, &s, &p, &st);
    assert_int_equal(p.opened, 1);
    assert_string_equal(s.preset, "superchat");
    assert_int_equal(s.base.opens, 1);
    /* Only the server's second choice offered: that one. */
    negotiate(e, protos, 2, "other, chat", 0, NULL, &s, &p, &st);
    assert_int_equal(p.opened, 1);
    assert_string_equal(s.preset, "chat");
    /* Names are compared exactly (case-sensitive). */
    negotiate(e, protos, 2, "Chat", 0, NULL, &s, &p, &st);
    assert_int_equal(p.opened, 1);
    assert_string_equal(s.preset, "(none)");
    /* on_upgrade may pick another offer than the preset. */
    negotiate(e, protos, 2, "chat, superchat", 1, "chat", &s, &p, &st);
    assert_int_equal(p.opened, 1);
    assert_int_equal(st.upgrade_errors, 0);
    env_free(e);
}

static void record_sub(wsio_ws *ws, void *user)
{
    snprintf(user, 32, "%s", wsio_ws_subprotocol(ws));
}

static void test_api_subprotocol_none_matching_sends_no_header(void **state)
{
    env *e = env_new(state);
    static const char *const protos[] = {"superchat"};
    sub_state s;
    peer p;
    wsio_server_stats st;
    negotiate(e, protos, 1, "chat, v2", 0, NULL, &s, &p, &st);
    /* No header in the 101: the wsio client goes on without one. */
    assert_int_equal(p.opened, 1);
    assert_int_equal(p.http_status, 101);
    assert_string_equal(s.preset, "(none)");
    assert_int_equal(st.upgrade_errors, 0);
    /* And what the server recorded for the connection is "" too. */
    char sub[32] = "unset";
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.subprotocols = protos;
    cfg.num_subprotocols = 1;
    if (e->io != ENV_IO_PLAIN) {
        cfg.transport = &e->io_ops;
        cfg.transport_ctx = e;
    }
    wsio_ws_callbacks cb = {.on_open = record_sub};
    int err = 0;
    wsio_server *srv = wsio_server_new(e->loop, &cfg, &cb, NULL, sub, &err);
    assert_non_null(srv);
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    cc.subprotocols = "chat";
    memset(&p, 0, sizeof p);
    connect_client(e, srv, &cc, &p);
    RUN_UNTIL(e, p.opened == 1 && strcmp(sub, "unset") != 0, 5000);
    assert_string_equal(sub, "");
    wsio_server_free(srv);
    RUN_UNTIL(e, p.closed == 1, 5000);
    env_free(e);
}

static void test_api_subprotocol_not_offered_is_refused_with_500(void **state)
{
    env *e = env_new(state);
    static const char *const protos[] = {"superchat"};
    sub_state s;
    peer p;
    wsio_server_stats st;
    /* The case: a value the client never offered. */
    negotiate(e, protos, 1, "chat", 1, "not-offered", &s, &p, &st);
    assert_int_equal(p.opened, 0);
    assert_int_equal(p.http_status, 500);
    assert_int_equal(s.base.opens, 0);
    assert_int_equal(st.upgrade_errors, 1);
    assert_int_equal(st.handshakes_rejected, 1);
    assert_int_equal(st.connections_total, 0);
    /* A value when the client offered none at all. */
    negotiate(e, NULL, 0, NULL, 1, "chat", &s, &p, &st);
    assert_int_equal(p.opened, 0);
    assert_int_equal(p.http_status, 500);
    assert_int_equal(st.upgrade_errors, 1);
    /* Not a token: refused at wsio_server_new. */
    static const char *const bad[] = {"a b"};
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.subprotocols = bad;
    cfg.num_subprotocols = 1;
    int err = 0;
    assert_null(wsio_server_new(e->loop, &cfg, &server_cb, NULL, NULL, &err));
    assert_int_equal(err, WSIO_EINVAL);
    env_free(e);
}

/* ---- topics named by bytes from a payload ---- */

/* "sub <topic>|...", "unsub <topic>|...", "pub <topic>|<message>": the
 * topic is a slice of the payload, never NUL-terminated. */
static int topic_commands(wsio_ws *ws, const wsio_message *m, void *user)
{
    server_state *s = user;
    s->messages++;
    const char *d = (const char *)m->data;
    const char *bar = memchr(d, '|', m->len);
    const char *sp = memchr(d, ' ', m->len);
    if (!bar || !sp || sp > bar)
        return 0;
    const char *topic = sp + 1;
    size_t tlen = (size_t)(bar - topic);
    size_t rest = m->len - (size_t)(bar + 1 - d);
    int rc;
    if (strncmp(d, "sub ", 4) == 0)
        rc = wsio_ws_subscribe_n(ws, topic, tlen);
    else if (strncmp(d, "unsub ", 6) == 0)
        rc = wsio_ws_unsubscribe_n(ws, topic, tlen);
    else
        rc = wsio_server_publish_n(wsio_ws_server(ws), topic, tlen,
                                   WSIO_OP_TEXT, bar + 1, rest);
    return rc < 0 ? rc : 0;
}

static void test_api_topic_calls_take_a_length(void **state)
{
    env *e = env_new(state);
    server_state s = {0};
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    if (e->io != ENV_IO_PLAIN) {
        cfg.transport = &e->io_ops;
        cfg.transport_ctx = e;
    }
    wsio_ws_callbacks cb = server_cb;
    cb.on_message = topic_commands;
    int err = 0;
    wsio_server *srv = wsio_server_new(e->loop, &cfg, &cb, NULL, &s, &err);
    assert_non_null(srv);
    peer a = {0}, b = {0};
    static const char msg[] = "0";
    a.expect = (const uint8_t *)msg;
    a.expect_len = 1;
    a.expect_op = WSIO_OP_TEXT;
    connect_client(e, srv, NULL, &a);
    connect_client(e, srv, NULL, &b);
    RUN_UNTIL(e, a.opened && b.opened, 5000);
    /* "newsroom" is on the wire right after "news": only the slice counts. */
    static const char sub[] = "sub news|room";
    assert_true(wsio_ws_send(a.ws, WSIO_OP_TEXT, sub, sizeof sub - 1) >= 0);
    RUN_UNTIL(e, s.messages == 1, 5000);
    wsio_topic_stats ts;
    assert_int_equal(wsio_server_get_topic_stats(srv, "news", &ts), 0);
    assert_int_equal(ts.subscribers, 1);
    assert_int_equal(wsio_server_get_topic_stats(srv, "news|room", &ts), 0);
    assert_int_equal(ts.subscribers, 0);
    /* b publishes to the slice: a gets it, b (not subscribed) does not. */
    static const char pub[] = "pub news|0";
    assert_true(wsio_ws_send(b.ws, WSIO_OP_TEXT, pub, sizeof pub - 1) >= 0);
    RUN_UNTIL(e, a.nmsg == 1, 5000);
    assert_int_equal(a.mismatch, 0);
    static const char unsub[] = "unsub news|x";
    assert_true(wsio_ws_send(a.ws, WSIO_OP_TEXT, unsub, sizeof unsub - 1) >= 0);
    RUN_UNTIL(e, s.messages == 3, 5000);
    assert_int_equal(wsio_server_get_topic_stats(srv, "news", &ts), 0);
    assert_int_equal(ts.subscribers, 0);
    assert_true(wsio_ws_send(b.ws, WSIO_OP_TEXT, pub, sizeof pub - 1) >= 0);
    RUN_UNTIL(e, s.messages == 4, 5000);
    run_for(e, 30);
    assert_int_equal(a.nmsg, 1);
    assert_int_equal(b.nmsg, 0);
    /* What cannot be a topic: a NUL inside, over 255 bytes, NULL. */
    static char long_topic[256];
    memset(long_topic, 't', sizeof long_topic);
    assert_int_equal(
        wsio_server_publish_n(srv, "a\0b", 3, WSIO_OP_TEXT, "x", 1),
        WSIO_EINVAL);
    assert_int_equal(
        wsio_server_publish_n(srv, long_topic, 256, WSIO_OP_TEXT, "x", 1),
        WSIO_EINVAL);
    assert_int_equal(
        wsio_server_publish_n(srv, long_topic, 255, WSIO_OP_TEXT, "x", 1), 0);
    assert_int_equal(wsio_server_publish_n(srv, NULL, 0, WSIO_OP_TEXT, "x", 1),
                     WSIO_EINVAL);
    wsio_server_free(srv);
    RUN_UNTIL(e, a.closed && b.closed, 5000);
    env_free(e);
}

/* ---- ids, and sends by id from other threads ---- */

#define NCONN 100
#define NTHREADS 4
#define SENDS_PER_THREAD 1500

typedef struct by_id {
    server_state base;
    pthread_mutex_t mu;
    uint64_t ids[NCONN]; /* in open order (mu) */
    int nids;            /* (mu) */
    int server_closes;
    /* on_sent_to, per open order + 1 (id_number; the test's thread) */
    int queued[NCONN + 1];
    int dropped[NCONN + 1];
    int closed[NCONN + 1];
    int other_results, reports, close_reports, bad_id_reports;
    /* what the clients received, per open order + 1 */
    int received[NCONN + 1];
    int wrong_conn; /* a client got another id's message */
    int stop;       /* atomic: workers stop */
} by_id;

typedef struct client_rec {
    by_id *t;
    uint64_t id; /* the id of its messages, once one came */
    int opened, closed;
} client_rec;

/* 1 + the open order of the connection with this id, or 0 for an id
 * never seen. Ids are not in order (a slot and its generation): only
 * their uniqueness is promised. On the server's thread, which alone
 * writes t->ids. */
static int id_number(const by_id *t, uint64_t id)
{
    for (int i = 0; i < t->nids; i++)
        if (t->ids[i] == id)
            return i + 1;
    return 0;
}

static void ids_on_open(wsio_ws *ws, void *user)
{
    by_id *t = user;
    uint64_t id = wsio_ws_id(ws);
    pthread_mutex_lock(&t->mu);
    if (t->nids < NCONN)
        t->ids[t->nids++] = id;
    pthread_mutex_unlock(&t->mu);
    t->base.opens++;
}

static void ids_on_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    (void)info;
    by_id *t = user;
    t->server_closes++;
    /* Past OPEN: no longer found. */
    if (wsio_server_find(wsio_ws_server(ws), wsio_ws_id(ws)) != NULL)
        t->bad_id_reports++;
}

static void ids_sent_to(wsio_server *srv, uint64_t id, enum wsio_opcode op,
                        int result, void *user)
{
    (void)srv;
    by_id *t = user;
    t->reports++;
    if (op == WSIO_OP_CLOSE) {
        t->close_reports++;
        if (result != 0)
            t->other_results++;
        return;
    }
    int n = id_number(t, id);
    if (n == 0) {
        if (result != WSIO_ECLOSED)
            t->bad_id_reports++;
        return;
    }
    if (result == WSIO_SEND_QUEUED || result == WSIO_SEND_PRESSURE)
        t->queued[n]++;
    else if (result == WSIO_EDROPPED || result == WSIO_EQUEUEFULL)
        t->dropped[n]++;
    else if (result == WSIO_ECLOSED)
        t->closed[n]++;
    else
        t->other_results++;
}

static void rec_open(wsio_ws *ws, void *user)
{
    (void)ws;
    client_rec *c = user;
    c->opened = 1;
}

static int rec_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)ws;
    client_rec *c = user;
    uint64_t id = 0;
    if (m->len >= sizeof id)
        memcpy(&id, m->data, sizeof id);
    int n = id_number(c->t, id);
    if (n == 0 || (c->id && c->id != id)) {
        c->t->wrong_conn++;
        return 0;
    }
    c->id = id;
    c->t->received[n]++;
    return 0;
}

static void rec_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    (void)ws;
    (void)info;
    client_rec *c = user;
    c->closed = 1;
}

static const wsio_ws_callbacks rec_cb = {
    .on_open = rec_open, .on_message = rec_message, .on_close = rec_close};

typedef struct sender {
    pthread_t thread;
    by_id *t;
    wsio_server *srv;
    unsigned seed;
    int posted, refused; /* send_to returned 0 / an error */
    int done;            /* atomic: the thread is about to end */
} sender;

static void *sender_main(void *arg)
{
    sender *w = arg;
    for (int i = 0; i < SENDS_PER_THREAD &&
                    !__atomic_load_n(&w->t->stop, __ATOMIC_ACQUIRE);
         i++) {
        pthread_mutex_lock(&w->t->mu);
        int n = w->t->nids;
        uint64_t id = n ? w->t->ids[rand_r(&w->seed) % (unsigned)n] : 0;
        pthread_mutex_unlock(&w->t->mu);
        if (!id) {
            i--;
            sched_yield();
            continue;
        }
        unsigned char msg[16];
        memcpy(msg, &id, sizeof id);
        memset(msg + sizeof id, 'a' + (i % 26), sizeof msg - sizeof id);
        if (wsio_server_send_to(w->srv, id, WSIO_OP_BINARY, msg, sizeof msg) ==
            0)
            w->posted++;
        else
            w->refused++;
        if (i % 64 == 0)
            sched_yield();
    }
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int all_closed(const client_rec *c, int n)
{
    for (int i = 0; i < n; i++)
        if (!c[i].closed)
            return 0;
    return 1;
}

static void
test_api_send_by_id_from_threads_while_conns_come_and_go(void **state)
{
    env *e = env_new(state);
    locked_mem lm;
    lock_env_mem(e, &lm);
    by_id *t = calloc(1, sizeof *t);
    assert_non_null(t);
    assert_int_equal(pthread_mutex_init(&t->mu, NULL), 0);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    if (e->io != ENV_IO_PLAIN) {
        cfg.transport = &e->io_ops;
        cfg.transport_ctx = e;
    }
    wsio_ws_callbacks cb = {.on_open = ids_on_open, .on_close = ids_on_close};
    wsio_server_hooks hooks = {.on_sent_to = ids_sent_to};
    int err = 0;
    wsio_server *srv = wsio_server_new(e->loop, &cfg, &cb, &hooks, t, &err);
    assert_non_null(srv);
    client_rec *c = calloc(NCONN, sizeof *c);
    assert_non_null(c);
    sender w[NTHREADS];
    memset(w, 0, sizeof w);
    for (int i = 0; i < NTHREADS; i++) {
        w[i].t = t;
        w[i].srv = srv;
        w[i].seed = 1000u + (unsigned)i;
        assert_int_equal(pthread_create(&w[i].thread, NULL, sender_main, &w[i]),
                         0);
    }
    /* Open the connections ten at a time; after each wave, the server
     * closes the oldest still open ones (by id, through the same queue),
     * so the senders keep hitting ids that just closed. */
    int closes_posted = 0;
    uint64_t t0 = now_ms();
    for (int wave = 0; wave < NCONN / 10; wave++) {
        for (int k = 0; k < 10; k++) {
            c[wave * 10 + k].t = t;
            connect_to(e, srv, "/", NULL, &rec_cb, &c[wave * 10 + k]);
        }
        RUN_UNTIL(e, t->base.opens == (wave + 1) * 10, 10000);
        run_for(e, 5);
        for (; closes_posted < wave * 10 + 5; closes_posted++) {
            pthread_mutex_lock(&t->mu);
            uint64_t id = t->ids[closes_posted];
            pthread_mutex_unlock(&t->mu);
            assert_int_equal(wsio_server_close_to(srv, id, 1000, "bye", 3), 0);
        }
    }
    /* Let the senders finish (bounded in time), then close the rest. */
    int running = 1;
    while (running) {
        if (now_ms() - t0 > 20000)
            __atomic_store_n(&t->stop, 1, __ATOMIC_RELEASE);
        env_turn(e, 5);
        running = 0;
        for (int i = 0; i < NTHREADS; i++)
            running |= !__atomic_load_n(&w[i].done, __ATOMIC_ACQUIRE);
    }
    int posted = 0;
    for (int i = 0; i < NTHREADS; i++) {
        assert_int_equal(pthread_join(w[i].thread, NULL), 0);
        posted += w[i].posted;
        assert_int_equal(w[i].refused, 0);
    }
    for (; closes_posted < NCONN; closes_posted++)
        assert_int_equal(
            wsio_server_close_to(srv, t->ids[closes_posted], 1000, "bye", 3),
            0);
    /* Every id is closed now (or closing): these must all be reported
     * closed, and an id never issued too. */
    RUN_UNTIL(e, t->server_closes == NCONN, 10000);
    for (int i = 0; i < NCONN; i++)
        assert_int_equal(
            wsio_server_send_to(srv, t->ids[i], WSIO_OP_TEXT, "x", 1), 0);
    assert_int_equal(wsio_server_send_to(srv, 1000000, WSIO_OP_TEXT, "x", 1),
                     0);
    int expect_reports = posted + 2 * NCONN + 1;
    RUN_UNTIL(e, t->reports == expect_reports, 10000);
    RUN_UNTIL(e, all_closed(c, NCONN), 10000);
    /* Ids: 100 distinct (some in reused slots), never 0. */
    assert_int_equal(t->nids, NCONN);
    for (int i = 0; i < NCONN; i++) {
        assert_true(t->ids[i] > 0);
        for (int k = 0; k < i; k++)
            assert_true(t->ids[i] != t->ids[k]);
    }
    /* Every send queued on an open id reached that id's client, and only
     * that one; sends to closed ids were reported and counted. */
    assert_int_equal(t->wrong_conn, 0);
    assert_int_equal(t->other_results, 0);
    assert_int_equal(t->bad_id_reports, 0);
    int queued = 0, closed = 0;
    for (int id = 1; id <= NCONN; id++) {
        assert_int_equal(t->received[id], t->queued[id]);
        assert_int_equal(t->dropped[id], 0);
        queued += t->queued[id];
        closed += t->closed[id];
    }
    wsio_server_stats st;
    wsio_server_get_stats(srv, &st);
    assert_int_equal(st.sends_to_closed, (uint64_t)closed + 1);
    assert_true(closed >= NCONN); /* at least the final round */
    assert_true(queued > 0);
    assert_int_equal(t->close_reports, NCONN);
    assert_int_equal(queued + closed, posted + NCONN);
    wsio_server_free(srv);
    run_for(e, 20);
    free(c);
    pthread_mutex_destroy(&t->mu);
    free(t);
    env_free(e);
    pthread_mutex_destroy(&lm.mu);
}

/* A worker publishes and broadcasts through the server's queue. */
typedef struct poster {
    wsio_server *srv;
    int rc_publish, rc_broadcast;
} poster;

static void *poster_main(void *arg)
{
    poster *p = arg;
    static const char topic[] = "prices|ignored";
    p->rc_publish =
        wsio_server_post_publish(p->srv, topic, 6, WSIO_OP_TEXT, "0", 1);
    p->rc_broadcast = wsio_server_post_broadcast(p->srv, WSIO_OP_TEXT, "1", 1);
    return NULL;
}

static void test_api_publish_and_broadcast_from_a_thread(void **state)
{
    env *e = env_new(state);
    locked_mem lm;
    lock_env_mem(e, &lm);
    server_state s = {0};
    s.subscribe = "prices";
    wsio_server *srv = start_server(e, NULL, NULL, &s);
    peer a = {0}, b = {0};
    connect_client(e, srv, NULL, &a);
    RUN_UNTIL(e, s.opens == 1, 5000);
    s.subscribe = NULL;
    connect_client(e, srv, NULL, &b);
    RUN_UNTIL(e, s.opens == 2 && a.opened && b.opened, 5000);
    poster p = {srv, 1, 1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, poster_main, &p), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(p.rc_publish, 0);
    assert_int_equal(p.rc_broadcast, 0);
    /* a: the publish then the broadcast, in order ("0", "1"); b only the
     * broadcast. */
    RUN_UNTIL(e, a.nmsg == 2 && b.nmsg == 1, 5000);
    assert_int_equal(a.out_of_order, 0);
    assert_int_equal(b.out_of_order, 1); /* "1" where it expected "0" */
    wsio_server_free(srv);
    RUN_UNTIL(e, a.closed && b.closed, 5000);
    env_free(e);
    pthread_mutex_destroy(&lm.mu);
}

/* The bound on what waits for the server's thread: a loop that does not
 * turn fills it, the next call gets WSIO_EAGAIN, and nothing more is
 * held; once the loop turns, all that was accepted is applied. */
static void test_api_posted_bytes_are_bounded(void **state)
{
    env *e = env_new(state);
    server_state s = {0};
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.max_post_bytes = 8192;
    wsio_server *srv = start_server(e, &cfg, NULL, &s);
    static char payload[1000];
    memset(payload, 'p', sizeof payload);
    size_t live0 = e->tm.live_blocks;
    int accepted = 0, rc = 0;
    for (int i = 0; i < 1000 && rc == 0; i++) {
        rc = wsio_server_send_to(srv, 42, WSIO_OP_BINARY, payload,
                                 sizeof payload);
        if (rc == 0)
            accepted++;
    }
    assert_int_equal(rc, WSIO_EAGAIN);
    assert_true(accepted >= 4 && accepted <= 8);
    /* Items plus the one loop post: nothing beyond the bound. */
    assert_true(e->tm.live_blocks - live0 <= (size_t)accepted + 1);
    /* The bound is in bytes: a small one still fits. */
    assert_int_equal(wsio_server_send_to(srv, 42, WSIO_OP_TEXT, "x", 1), 0);
    accepted++;
    wsio_server_stats st;
    RUN_UNTIL(e,
              (wsio_server_get_stats(srv, &st),
               st.sends_to_closed == (uint64_t)accepted),
              5000);
    assert_int_equal(wsio_server_send_to(srv, 42, WSIO_OP_TEXT, "x", 1), 0);
    /* Bad arguments are refused at once. */
    assert_int_equal(wsio_server_send_to(srv, 42, WSIO_OP_PING, "x", 1),
                     WSIO_EINVAL);
    assert_int_equal(wsio_server_send_to(srv, 42, WSIO_OP_TEXT, NULL, 1),
                     WSIO_EINVAL);
    static char reason[124];
    memset(reason, 'r', sizeof reason);
    assert_int_equal(wsio_server_close_to(srv, 42, 1000, reason, sizeof reason),
                     WSIO_EINVAL);
    /* Freed with a send still queued: dropped, nothing leaks (env_free). */
    wsio_server_free(srv);
    env_free(e);
}

/* Freed from inside its own on_sent_to: the rest of the batch is dropped,
 * nothing is used after free. */
static void free_on_report(wsio_server *srv, uint64_t id, enum wsio_opcode op,
                           int result, void *user)
{
    (void)id;
    (void)op;
    (void)result;
    int *reports = user;
    (*reports)++;
    wsio_server_free(srv);
}

static void test_api_server_freed_inside_a_report(void **state)
{
    env *e = env_new(state);
    int reports = 0;
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    wsio_server_hooks hooks = {.on_sent_to = free_on_report};
    int err = 0;
    wsio_server *srv =
        wsio_server_new(e->loop, &cfg, &server_cb, &hooks, &reports, &err);
    assert_non_null(srv);
    for (int i = 0; i < 5; i++)
        assert_int_equal(wsio_server_send_to(srv, 7, WSIO_OP_TEXT, "x", 1), 0);
    run_for(e, 30);
    assert_int_equal(reports, 1);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_api_request_fields_in_on_open),
        ON_PARTIAL_IO(test_api_request_fields_in_on_open),
        ON_EVERY_LOOP(test_api_kept_request_counts_in_memory_budget),
        ON_EVERY_LOOP(test_api_subprotocol_server_preference_order),
        ON_EVERY_LOOP(test_api_subprotocol_none_matching_sends_no_header),
        ON_EVERY_LOOP(test_api_subprotocol_not_offered_is_refused_with_500),
        ON_EVERY_LOOP(test_api_topic_calls_take_a_length),
        ON_EVERY_LOOP(test_api_send_by_id_from_threads_while_conns_come_and_go),
        ON_EVERY_LOOP(test_api_publish_and_broadcast_from_a_thread),
        ON_EVERY_LOOP(test_api_posted_bytes_are_bounded),
        ON_EVERY_LOOP(test_api_server_freed_inside_a_report),
    };
    return cmocka_run_group_tests_name("server_api", tests, NULL, NULL);
}
