/*
 * tests/integration/test_hub.c - wsio_hub (wsio/hub.h): servers on their
 * own threads and loops, all on one port (SO_REUSEPORT), in one hub; the
 * clients run on the test's thread, on the loop mode under test. Every
 * client gets every message of every server exactly once, each
 * publisher's in order; a server that leaves while messages for it are in
 * flight crashes nothing and leaks nothing, even while siblings publish
 * to it in a tight loop (under ASan: nothing reaches a member after it
 * left).
 *
 * The server threads use a thread-safe counting allocator (cmocka's is
 * not thread-safe) and never call cmocka: they record, the test's thread
 * asserts after joining them.
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define MAX_WORKERS 4
#define NCLIENTS 24
#define TOPIC "news"

/* ---- an allocator for every thread: libc, counting live blocks ---- */

typedef struct shared_mem {
    wsio_mem mem;
    size_t live; /* atomic */
} shared_mem;

static void *sm_malloc(size_t size, void *user)
{
    shared_mem *sm = user;
    void *p = malloc(size);
    if (p)
        __atomic_add_fetch(&sm->live, 1, __ATOMIC_RELAXED);
    return p;
}

static void *sm_realloc(void *ptr, size_t size, void *user)
{
    shared_mem *sm = user;
    void *p = realloc(ptr, size);
    if (p && !ptr)
        __atomic_add_fetch(&sm->live, 1, __ATOMIC_RELAXED);
    return p;
}

static void sm_free(void *ptr, void *user)
{
    shared_mem *sm = user;
    if (ptr)
        __atomic_sub_fetch(&sm->live, 1, __ATOMIC_RELAXED);
    free(ptr);
}

static void shared_mem_init(shared_mem *sm)
{
    sm->mem = (wsio_mem){sm_malloc, sm_realloc, sm_free, sm};
    sm->live = 0;
}

/* ---- server threads ---- */

typedef struct worker {
    int index;
    pthread_t thread;
    shared_mem *sm;
    wsio_hub *hub;
    uint16_t port; /* 0 for the first: the kernel picks */
    int topic;     /* clients subscribe, messages are published */
    const wsio_backend_ops *backend; /* NULL: the default */
    sem_t ready;                     /* the server listens (or failed) */
    wsio_loop *loop;
    wsio_server *srv;
    int err;
    int opens;         /* atomic: WebSockets opened here */
    int published;     /* atomic: 1 when publish_all is done */
    int nmessages;     /* how many publish_all sends */
    int next_seq;      /* publish_batches' next message */
    int stop_loop;     /* leaving: also stop the loop (skip posts) */
    sem_t blocked, go; /* block_then_leave's handshake */
    wsio_hub_stats hs; /* read just before the server is freed */
    int hs_rc;
    uint64_t node_id;
} worker;

static void w_on_open(wsio_ws *ws, void *user)
{
    worker *w = user;
    if (w->topic)
        (void)wsio_ws_subscribe(ws, TOPIC);
    __atomic_add_fetch(&w->opens, 1, __ATOMIC_RELEASE);
}

static const wsio_ws_callbacks worker_cb = {.on_open = w_on_open};

static void *worker_main(void *arg)
{
    worker *w = arg;
    wsio_loop_config lc;
    wsio_loop_config_default(&lc);
    lc.mem = &w->sm->mem;
    lc.backend = w->backend;
    w->loop = wsio_loop_new(&lc, &w->err);
    if (w->loop) {
        wsio_server_config cfg;
        wsio_server_config_default(&cfg);
        cfg.port = w->port;
        cfg.reuse_port = 1;
        cfg.hub = w->hub;
        w->srv = wsio_server_new(w->loop, &cfg, &worker_cb, NULL, w, &w->err);
        if (w->srv) {
            w->port = wsio_server_port(w->srv);
            w->node_id = wsio_server_node_id(w->srv);
        }
    }
    sem_post(&w->ready);
    if (!w->srv)
        return NULL;
    /* Until the server is freed (and nothing of the hub is left here). */
    while (wsio_loop_alive(w->loop))
        if (wsio_loop_run(w->loop) < 0 || w->stop_loop)
            break;
    wsio_loop_free(w->loop);
    return NULL;
}

/* Start w (filled in) on its thread; returns once its server listens. */
static void start_worker(worker *w)
{
    sem_init(&w->ready, 0, 0);
    sem_init(&w->blocked, 0, 0);
    sem_init(&w->go, 0, 0);
    assert_int_equal(pthread_create(&w->thread, NULL, worker_main, w), 0);
    sem_wait(&w->ready);
    assert_non_null(w->srv);
}

/* Start n workers in hub; the first picks the port, the others share it. */
static void start_workers(worker *w, int n, shared_mem *sm, wsio_hub *hub,
                          int topic)
{
    for (int i = 0; i < n; i++) {
        w[i] = (worker){.index = i,
                        .sm = sm,
                        .hub = hub,
                        .topic = topic,
                        .port = i ? w[0].port : 0};
        start_worker(&w[i]);
    }
}

/* On the worker's thread: publish (or broadcast) "INDEX:SEQ" nmessages
 * times, then say so. */
static void publish_all(void *arg)
{
    worker *w = arg;
    for (int k = 0; k < w->nmessages; k++) {
        char text[32];
        int len = snprintf(text, sizeof text, "%d:%d", w->index, k);
        if (w->topic)
            (void)wsio_server_publish(w->srv, TOPIC, WSIO_OP_TEXT, text,
                                      (size_t)len);
        else
            (void)wsio_server_broadcast(w->srv, WSIO_OP_TEXT, text, (size_t)len,
                                        NULL);
    }
    __atomic_store_n(&w->published, 1, __ATOMIC_RELEASE);
}

/* The same as publish_all, BATCH at a time, posting itself again between
 * batches: the worker's loop turns (its clients are written, its inbox
 * is drained) while the publishing goes on. */
#define BATCH 50
static void publish_batches(void *arg)
{
    worker *w = arg;
    int end =
        w->next_seq + BATCH < w->nmessages ? w->next_seq + BATCH : w->nmessages;
    for (; w->next_seq < end; w->next_seq++) {
        char text[32];
        int len = snprintf(text, sizeof text, "%d:%d", w->index, w->next_seq);
        /* Queued on its one client. */
        if (wsio_server_broadcast(w->srv, WSIO_OP_TEXT, text, (size_t)len,
                                  NULL) != 1)
            w->err = 1;
    }
    if (w->next_seq < w->nmessages &&
        wsio_server_post(w->srv, publish_batches, w) != 0)
        w->err = 1;
    if (w->next_seq == w->nmessages || w->err)
        __atomic_store_n(&w->published, 1, __ATOMIC_RELEASE);
}

static void leave(worker *w)
{
    w->hs_rc = wsio_hub_get_stats(w->srv, &w->hs);
    wsio_server_free(w->srv);
    if (w->stop_loop)
        wsio_loop_stop(w->loop);
}

static void leave_task(void *arg)
{
    leave(arg);
}

/* Hold the worker's thread until told to go on, then leave at once: what
 * was posted to it meanwhile is still in flight. */
static void block_then_leave(void *arg)
{
    worker *w = arg;
    sem_post(&w->blocked);
    sem_wait(&w->go);
    leave(w);
}

static void join_workers(worker *w, int n)
{
    for (int i = 0; i < n; i++) {
        assert_int_equal(pthread_join(w[i].thread, NULL), 0);
        sem_destroy(&w[i].ready);
        sem_destroy(&w[i].blocked);
        sem_destroy(&w[i].go);
    }
}

static void stop_workers(worker *w, int n)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(wsio_server_post(w[i].srv, leave_task, &w[i]), 0);
    join_workers(w, n);
}

static int all_published(worker *w, int n)
{
    for (int i = 0; i < n; i++)
        if (!__atomic_load_n(&w[i].published, __ATOMIC_ACQUIRE))
            return 0;
    return 1;
}

static int total_opens(worker *w, int n)
{
    int sum = 0;
    for (int i = 0; i < n; i++)
        sum += __atomic_load_n(&w[i].opens, __ATOMIC_ACQUIRE);
    return sum;
}

/* ---- clients: per publisher, the next sequence number expected ---- */

typedef struct listener {
    int next[MAX_WORKERS];
    int received, bad, opened, closed;
} listener;

static void l_on_open(wsio_ws *ws, void *user)
{
    (void)ws;
    ((listener *)user)->opened = 1;
}

static int l_on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)ws;
    listener *l = user;
    char text[32];
    int from, seq;
    l->received++;
    if (m->len >= sizeof text) {
        l->bad++;
        return 0;
    }
    memcpy(text, m->data, m->len);
    text[m->len] = '\0';
    /* A duplicate or a gap breaks the sequence. */
    if (sscanf(text, "%d:%d", &from, &seq) != 2 || from < 0 ||
        from >= MAX_WORKERS || seq != l->next[from]++)
        l->bad++;
    return 0;
}

static void l_on_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    (void)ws;
    (void)info;
    ((listener *)user)->closed = 1;
}

static const wsio_ws_callbacks listener_cb = {
    .on_open = l_on_open, .on_message = l_on_message, .on_close = l_on_close};

static void connect_listeners(env *e, uint16_t port, listener *l, int n)
{
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/", (unsigned)port);
    for (int i = 0; i < n; i++) {
        memset(&l[i], 0, sizeof l[i]);
        wsio_client_config cc;
        wsio_client_config_default(&cc);
        if (e->io != ENV_IO_PLAIN) {
            cc.transport = &e->io_ops;
            cc.transport_ctx = e;
        }
        int err = 0;
        assert_non_null(
            wsio_client_connect(e->loop, url, &cc, &listener_cb, &l[i], &err));
    }
}

static int all_received(const listener *l, int n, int expect)
{
    for (int i = 0; i < n; i++)
        if (l[i].received < expect)
            return 0;
    return 1;
}

/*
 * nworkers servers in one hub, NCLIENTS clients spread over them by the
 * kernel; each server sends nmessages; every client must get them all,
 * once, in each publisher's order.
 */
static void run_fan_out(void **state, int nworkers, int topic)
{
    const int nmessages = 50;
    env *e = env_new(state);
    shared_mem sm;
    shared_mem_init(&sm);
    int err = 0;
    wsio_hub *hub = wsio_hub_new(&sm.mem, &err);
    assert_non_null(hub);
    worker w[MAX_WORKERS];
    start_workers(w, nworkers, &sm, hub, topic);
    listener l[NCLIENTS];
    connect_listeners(e, w[0].port, l, NCLIENTS);
    RUN_UNTIL(e, total_opens(w, nworkers) == NCLIENTS, 10000);
    for (int i = 0; i < nworkers; i++) {
        w[i].nmessages = nmessages;
        assert_int_equal(wsio_server_post(w[i].srv, publish_all, &w[i]), 0);
    }
    const int expect = nworkers * nmessages;
    RUN_UNTIL(e, all_received(l, NCLIENTS, expect), 20000);
    RUN_UNTIL(e, all_published(w, nworkers), 5000);
    run_for(e, 50); /* nothing more arrives */
    for (int i = 0; i < NCLIENTS; i++) {
        assert_int_equal(l[i].received, expect);
        assert_int_equal(l[i].bad, 0);
        for (int p = 0; p < nworkers; p++)
            assert_int_equal(l[i].next[p], nmessages);
    }
    stop_workers(w, nworkers);
    for (int i = 0; i < nworkers; i++) {
        assert_int_equal(w[i].node_id, wsio_hub_node_id(hub));
        assert_int_equal(w[i].hs_rc, 0);
        assert_int_equal(w[i].hs.messages_sent, nmessages);
        assert_int_equal(w[i].hs.messages_received, (nworkers - 1) * nmessages);
        assert_int_equal(w[i].hs.messages_dropped, 0);
    }
    for (int i = 0; i < NCLIENTS; i++)
        RUN_UNTIL(e, l[i].closed, 5000);
    wsio_hub_free(hub);
    assert_int_equal(__atomic_load_n(&sm.live, __ATOMIC_RELAXED), 0);
    env_free(e);
}

static void test_hub_broadcast_reaches_every_thread_once_in_order(void **state)
{
    run_fan_out(state, 2, 0);
}

static void test_hub_publish_reaches_every_thread_once_in_order(void **state)
{
    run_fan_out(state, 3, 1);
}

static void test_hub_four_threads_broadcast(void **state)
{
    run_fan_out(state, 4, 0);
}

/*
 * The second server leaves while the first's messages sit in its inbox:
 * its thread is held until they are all posted, then it frees its server
 * (and, with stop_loop, stops and frees its loop before they can run).
 */
static void run_leave_in_flight(int stop_loop)
{
    shared_mem sm;
    shared_mem_init(&sm);
    int err = 0;
    wsio_hub *hub = wsio_hub_new(&sm.mem, &err);
    assert_non_null(hub);
    worker w[2];
    start_workers(w, 2, &sm, hub, 0);
    w[1].stop_loop = stop_loop;
    assert_int_equal(wsio_server_post(w[1].srv, block_then_leave, &w[1]), 0);
    sem_wait(&w[1].blocked);
    w[0].nmessages = 200;
    assert_int_equal(wsio_server_post(w[0].srv, publish_all, &w[0]), 0);
    while (!all_published(w, 1))
        sched_yield();
    sem_post(&w[1].go);
    assert_int_equal(pthread_join(w[1].thread, NULL), 0);
    /* Held: nothing of the 200 was received before it left. */
    assert_int_equal(w[1].hs.messages_received, 0);
    /* The survivor goes on publishing into a hub of one. */
    w[0].published = 0;
    assert_int_equal(wsio_server_post(w[0].srv, publish_all, &w[0]), 0);
    while (!all_published(w, 1))
        sched_yield();
    assert_int_equal(wsio_server_post(w[0].srv, leave_task, &w[0]), 0);
    assert_int_equal(pthread_join(w[0].thread, NULL), 0);
    assert_int_equal(w[0].hs.messages_sent, 200);
    for (int i = 0; i < 2; i++) {
        sem_destroy(&w[i].ready);
        sem_destroy(&w[i].blocked);
        sem_destroy(&w[i].go);
    }
    wsio_hub_free(hub);
    assert_int_equal(__atomic_load_n(&sm.live, __ATOMIC_RELAXED), 0);
}

static void test_hub_server_leaving_with_messages_in_flight(void **state)
{
    (void)state;
    run_leave_in_flight(0);
}

static void test_hub_loop_freed_with_messages_in_flight(void **state)
{
    (void)state;
    run_leave_in_flight(1);
}

/* ---- members joining and leaving while siblings publish ---- */

#define CHURN_MAX_ROUNDS 2000
#define CHURN_MAX_MS 10000

/* One thread on which servers join the hub and leave, one after another,
 * each with a loop of its own. */
typedef struct churner {
    pthread_t thread;
    shared_mem *sm;
    wsio_hub *hub;
    worker *pub; /* the publishers: churn until they are done */
    int npub;
    int rounds;                 /* members that joined and left */
    int started;                /* atomic: the first member joined */
    int err;                    /* a loop or server could not be made */
    uint64_t received, dropped; /* their hub counters, summed */
} churner;

static const wsio_ws_callbacks churn_cb = {0};

/* One member: join, take none to two turns' worth of frames (so it leaves
 * with frames delivered, or with a wake-up on its way), then leave on its
 * own thread in one of the three ways a server leaves. */
static int churn_once(churner *c, int round)
{
    wsio_loop_config lc;
    wsio_loop_config_default(&lc);
    lc.mem = &c->sm->mem;
    lc.backend = wsio_backend_by_name(round & 1 ? "poll" : "epoll");
    int err = WSIO_EINTERNAL;
    wsio_loop *loop = wsio_loop_new(&lc, &err);
    if (!loop)
        return err;
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.hub = c->hub;
    wsio_server *srv = wsio_server_new(loop, &cfg, &churn_cb, NULL, NULL, &err);
    if (!srv) {
        wsio_loop_free(loop);
        return err;
    }
    __atomic_store_n(&c->started, 1, __ATOMIC_RELEASE);
    for (int t = 0; t < round % 3; t++)
        (void)wsio_loop_run_once(loop, 1);
    wsio_hub_stats hs;
    err = wsio_hub_get_stats(srv, &hs);
    if (err == 0) {
        c->received += hs.messages_received;
        c->dropped += hs.messages_dropped;
    }
    switch (round / 3 % 3) {
    case 0:
        wsio_server_free(srv);
        break;
    case 1: /* no connection: it leaves at once */
        (void)wsio_server_shutdown(srv, 100);
        break;
    default: /* wsio_loop_free frees it */
        break;
    }
    wsio_loop_free(loop);
    return err;
}

static void *churn_main(void *arg)
{
    churner *c = arg;
    uint64_t t0 = now_ms();
    while (!c->err && c->rounds < CHURN_MAX_ROUNDS &&
           now_ms() - t0 < CHURN_MAX_MS && !all_published(c->pub, c->npub)) {
        c->err = churn_once(c, c->rounds);
        c->rounds++;
    }
    return NULL;
}

/*
 * Two servers that stay publish to each other in a tight loop while, on
 * a third thread, servers join the hub and leave again, one at a time, as
 * fast as they can: a publisher is often between queueing a frame for a
 * member and waking it when that member leaves. Nothing may reach a
 * member that left (ASan, TSan), nothing may leak, and the two that stay
 * must see every message of the other once, in order, with exact counts.
 */
static void test_hub_members_leave_while_siblings_publish(void **state)
{
    const int nmessages = 20000;
    env *e = env_new(state);
    shared_mem sm;
    shared_mem_init(&sm);
    int err = 0;
    wsio_hub *hub = wsio_hub_new(&sm.mem, &err);
    assert_non_null(hub);
    /* Each on a port of its own, with one client. */
    worker w[2];
    listener l[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (worker){.index = i,
                        .sm = &sm,
                        .hub = hub,
                        .backend = wsio_backend_by_name(e->mode)};
        start_worker(&w[i]);
        connect_listeners(e, w[i].port, &l[i], 1);
    }
    RUN_UNTIL(e, l[0].opened && l[1].opened, 10000);
    RUN_UNTIL(e, total_opens(w, 1) == 1 && total_opens(&w[1], 1) == 1, 5000);
    churner c = {.sm = &sm, .hub = hub, .pub = w, .npub = 2};
    assert_int_equal(pthread_create(&c.thread, NULL, churn_main, &c), 0);
    for (uint64_t t0 = now_ms();
         !__atomic_load_n(&c.started, __ATOMIC_ACQUIRE) &&
         now_ms() - t0 < 5000;)
        sched_yield();
    for (int i = 0; i < 2; i++) {
        w[i].nmessages = nmessages;
        assert_int_equal(wsio_server_post(w[i].srv, publish_batches, &w[i]), 0);
    }
    /* Each client has its server's messages and the sibling's. */
    RUN_UNTIL(e, all_received(l, 2, 2 * nmessages), 30000);
    assert_int_equal(pthread_join(c.thread, NULL), 0);
    assert_int_equal(c.err, 0);
    print_message("%d members joined and left while %d messages were "
                  "published\n",
                  c.rounds, 2 * nmessages);
    assert_true(c.rounds > 0);
    run_for(e, 50); /* nothing more arrives */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(l[i].received, 2 * nmessages);
        assert_int_equal(l[i].bad, 0);
        assert_int_equal(l[i].next[0], nmessages);
        assert_int_equal(l[i].next[1], nmessages);
    }
    stop_workers(w, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(w[i].err, 0);
        assert_int_equal(w[i].hs_rc, 0);
        /* The other stayed: every message had a sibling to go to. */
        assert_int_equal(w[i].hs.messages_sent, nmessages);
        assert_int_equal(w[i].hs.messages_received, nmessages);
        assert_int_equal(w[i].hs.messages_dropped, 0);
    }
    /* One churned member at a time: a message reached at most one. */
    assert_true(c.received <= 2 * (uint64_t)nmessages);
    assert_int_equal(c.dropped, 0);
    for (int i = 0; i < 2; i++)
        RUN_UNTIL(e, l[i].closed, 5000);
    wsio_hub_free(hub);
    assert_int_equal(__atomic_load_n(&sm.live, __ATOMIC_RELAXED), 0);
    env_free(e);
}

/* Two servers of one hub on one loop (one thread): the same node id, and
 * a broker's copy of their own message is dropped. */
static void test_hub_servers_share_the_node_id(void **state)
{
    env *e = env_new(state);
    int err = 0;
    wsio_hub *hub = wsio_hub_new(&e->tm.mem, &err);
    assert_non_null(hub);
    assert_int_not_equal(wsio_hub_node_id(hub), 0);
    server_state s[2] = {{.subscribe = TOPIC}, {.subscribe = TOPIC}};
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.hub = hub;
    cfg.node_id = 7; /* ignored in a hub */
    wsio_server *a = start_server(e, &cfg, NULL, &s[0]);
    wsio_server *b = start_server(e, &cfg, NULL, &s[1]);
    wsio_server *alone = start_server(e, NULL, NULL, NULL);
    assert_int_equal(wsio_server_node_id(a), wsio_hub_node_id(hub));
    assert_int_equal(wsio_server_node_id(b), wsio_hub_node_id(hub));
    wsio_hub_stats hs;
    assert_int_equal(wsio_hub_get_stats(alone, &hs), WSIO_EINVAL);
    peer p = {0};
    connect_client(e, b, NULL, &p);
    RUN_UNTIL(e, s[1].opens == 1, 5000);
    assert_int_equal(wsio_server_deliver(b, wsio_hub_node_id(hub), TOPIC,
                                         WSIO_OP_TEXT, "x", 1),
                     0);
    /* Published on a (no subscriber there), received on b. */
    assert_int_equal(wsio_server_publish(a, TOPIC, WSIO_OP_TEXT, "hello", 5),
                     0);
    RUN_UNTIL(e, p.nmsg == 1, 5000);
    assert_int_equal(wsio_hub_get_stats(a, &hs), 0);
    assert_int_equal(hs.messages_sent, 1);
    assert_int_equal(wsio_hub_get_stats(b, &hs), 0);
    assert_int_equal(hs.messages_received, 1);
    assert_int_equal(hs.messages_dropped, 0);
    wsio_server_free(a);
    wsio_server_free(b);
    wsio_server_free(alone);
    RUN_UNTIL(e, p.closed, 5000);
    wsio_hub_free(hub);
    env_free(e);
}

/* Out of memory at each of the publisher's two allocations (the frame and
 * the in-flight record, both from the hub's allocator; the wake-up is
 * embedded in the member and cannot fail): the sibling's clients miss that
 * message, its drop is counted, nothing leaks, and the next message goes
 * through. */
static void test_hub_out_of_memory_drops_and_counts(void **state)
{
    env *e = env_new(state);
    test_mem hm;
    test_mem_init(&hm);
    int err = 0;
    wsio_hub *hub = wsio_hub_new(&hm.mem, &err);
    assert_non_null(hub);
    server_state s[2] = {{0}, {0}};
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.hub = hub;
    wsio_server *a = start_server(e, &cfg, NULL, &s[0]);
    wsio_server *b = start_server(e, &cfg, NULL, &s[1]);
    peer p = {0};
    connect_client(e, b, NULL, &p);
    RUN_UNTIL(e, s[1].opens == 1, 5000);
    wsio_hub_stats hs;
    for (long i = 0; i < 2; i++) {
        test_mem_fail_at(&hm, i);
        /* a has no connection: broadcast queues nothing there. */
        assert_int_equal(
            wsio_server_broadcast(a, WSIO_OP_TEXT, "lost", 4, NULL), 0);
        test_mem_fail_at(&hm, -1);
        assert_int_equal(wsio_hub_get_stats(b, &hs), 0);
        assert_int_equal(hs.messages_dropped, i + 1);
    }
    assert_int_equal(wsio_server_broadcast(a, WSIO_OP_TEXT, "kept", 4, NULL),
                     0);
    RUN_UNTIL(e, p.nmsg == 1, 5000);
    run_for(e, 20);
    assert_int_equal(p.nmsg, 1);
    assert_int_equal(wsio_hub_get_stats(b, &hs), 0);
    assert_int_equal(hs.messages_received, 1);
    wsio_server_free(a);
    wsio_server_free(b);
    RUN_UNTIL(e, p.closed, 5000);
    wsio_hub_free(hub);
    assert_int_equal(hm.live_blocks, 0);
    env_free(e);
}

static void test_hub_full_inbox_drops_and_counts(void **state)
{
    env *e = env_new(state);
    int err = 0;
    wsio_hub *hub = wsio_hub_new(&e->tm.mem, &err);
    assert_non_null(hub);
    assert_int_equal(wsio_hub_set_max_pending(hub, 0), WSIO_EINVAL);
    server_state s[2] = {{0}, {0}};
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.hub = hub;
    wsio_server *a = start_server(e, &cfg, NULL, &s[0]);
    wsio_server *b = start_server(e, &cfg, NULL, &s[1]);
    peer p = {0};
    connect_client(e, b, NULL, &p);
    RUN_UNTIL(e, s[1].opens == 1, 5000);
    /* Room for three 100-byte frames (102 bytes with their header): b's
     * thread (this one) does not run while a publishes ten. */
    assert_int_equal(wsio_hub_set_max_pending(hub, 3 * 102 + 50), 0);
    char msg[100];
    for (int i = 0; i < 10; i++) {
        memset(msg, 'a' + i, sizeof msg);
        assert_int_equal(
            wsio_server_broadcast(a, WSIO_OP_BINARY, msg, sizeof msg, NULL), 0);
    }
    wsio_hub_stats hs;
    assert_int_equal(wsio_hub_get_stats(b, &hs), 0);
    assert_int_equal(hs.messages_dropped, 7);
    RUN_UNTIL(e, p.nmsg == 3, 5000);
    run_for(e, 20);
    assert_int_equal(p.nmsg, 3);
    /* Taken by b's thread, the inbox has room again. */
    assert_int_equal(
        wsio_server_broadcast(a, WSIO_OP_BINARY, msg, sizeof msg, NULL), 0);
    RUN_UNTIL(e, p.nmsg == 4, 5000);
    assert_int_equal(wsio_hub_get_stats(b, &hs), 0);
    assert_int_equal(hs.messages_received, 4);
    assert_int_equal(hs.messages_dropped, 7);
    wsio_server_free(a);
    wsio_server_free(b);
    RUN_UNTIL(e, p.closed, 5000);
    wsio_hub_free(hub);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_hub_broadcast_reaches_every_thread_once_in_order),
        ON_EVERY_LOOP(test_hub_publish_reaches_every_thread_once_in_order),
        ON_PARTIAL_IO(test_hub_broadcast_reaches_every_thread_once_in_order),
        {"test_hub_four_threads_broadcast/epoll",
         test_hub_four_threads_broadcast, NULL, NULL, (void *)"epoll"},
        cmocka_unit_test(test_hub_server_leaving_with_messages_in_flight),
        cmocka_unit_test(test_hub_loop_freed_with_messages_in_flight),
        {"test_hub_members_leave_while_siblings_publish/poll",
         test_hub_members_leave_while_siblings_publish, NULL, NULL,
         (void *)"poll"},
        {"test_hub_members_leave_while_siblings_publish/epoll",
         test_hub_members_leave_while_siblings_publish, NULL, NULL,
         (void *)"epoll"},
        ON_EVERY_LOOP(test_hub_servers_share_the_node_id),
        ON_EVERY_LOOP(test_hub_out_of_memory_drops_and_counts),
        ON_EVERY_LOOP(test_hub_full_inbox_drops_and_counts),
    };
    return cmocka_run_group_tests_name("hub", tests, NULL, NULL);
}
