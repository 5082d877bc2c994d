/*
 * tests/integration/test_resume.c - topic streams (wsio/stream.h): clients
 * that drop their connection at a random moment and reconnect with
 * ?since=<last id seen> end with every id exactly once, in order, while
 * the server keeps publishing; a window that no longer reaches since is
 * reported (WSIO_EGAP), never a silent gap; a replay larger than the
 * output mark under the DROP policy arrives whole; publishes posted from
 * another thread race the resumes; the window's memory stays within its
 * bounds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "wsio/stream.h"

#define TOPIC "ticks"
#define NCLIENTS 3
#define GAP_MARK "gap"

/* The server side: one stream, and what on_open did with each resume. */
typedef struct feed {
    wsio_stream *st;
    int opens, gaps, resumes;
    int last_rc;
    wsio_ws *last_open;
} feed;

/* A message is "<id> <payload>": the formatter puts the id first. */
static int with_id(uint64_t id, const void *data, size_t len,
                   wsio_stream_payload *out, void *user)
{
    (void)user;
    char head[32];
    int n = snprintf(head, sizeof head, "%" PRIu64 " ", id);
    int rc = wsio_stream_payload_add(out, head, (size_t)n);
    return rc ? rc : wsio_stream_payload_add(out, data, len);
}

/* since=<id> from the query, or WSIO_STREAM_LIVE without one. */
static uint64_t since_of(const wsio_ws *ws)
{
    const wsio_request_info *ri = wsio_ws_request(ws);
    assert_non_null(ri);
    wsio_slice q = ri->request->query;
    if (q.len < 7 || memcmp(q.ptr, "since=", 6) != 0)
        return WSIO_STREAM_LIVE;
    char buf[32];
    size_t n = q.len - 6 < sizeof buf - 1 ? q.len - 6 : sizeof buf - 1;
    memcpy(buf, q.ptr + 6, n);
    buf[n] = '\0';
    return strtoull(buf, NULL, 10);
}

/* What an application does: resume, or on a gap say so and start from
 * the oldest message the window still holds. */
static void feed_open(wsio_ws *ws, void *user)
{
    feed *f = user;
    f->opens++;
    f->last_open = ws;
    int rc = wsio_stream_subscribe(f->st, ws, since_of(ws));
    f->last_rc = rc;
    if (rc == WSIO_EGAP) {
        f->gaps++;
        assert_true(wsio_ws_send(ws, WSIO_OP_TEXT, GAP_MARK, 3) >= 0);
        rc = wsio_stream_subscribe(f->st, ws, wsio_stream_floor_id(f->st));
    }
    assert_true(rc >= 0);
    if (rc > 0)
        f->resumes++;
}

static const wsio_ws_callbacks feed_cb = {.on_open = feed_open};

/* A client that records the ids it reads. */
typedef struct reader {
    env *e;
    uint16_t port;
    wsio_ws *ws;
    int open, closed;
    uint64_t last;    /* last id seen, 0 before any */
    uint64_t count;   /* messages with an id */
    uint64_t bad;     /* ids that were not last + 1 */
    int gaps_seen;    /* GAP_MARK messages */
    uint64_t drop_at; /* drop the connection after this id (0: never) */
    int drops;
} reader;

static int reader_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)ws;
    reader *r = user;
    if (m->len == 3 && memcmp(m->data, GAP_MARK, 3) == 0) {
        r->gaps_seen++;
        r->last = 0; /* the next id starts a new run */
        return 0;
    }
    char buf[32];
    size_t n = m->len < sizeof buf - 1 ? m->len : sizeof buf - 1;
    memcpy(buf, m->data, n);
    buf[n] = '\0';
    uint64_t id = strtoull(buf, NULL, 10);
    if (r->last && id != r->last + 1)
        r->bad++;
    r->last = id;
    r->count++;
    return 0;
}

static void reader_open(wsio_ws *ws, void *user)
{
    (void)ws;
    ((reader *)user)->open = 1;
}

static void reader_close(wsio_ws *ws, const wsio_close_info *info, void *user)
{
    (void)ws;
    (void)info;
    reader *r = user;
    r->open = 0;
    r->closed++;
    r->ws = NULL;
}

static const wsio_ws_callbacks reader_cb = {
    .on_open = reader_open,
    .on_message = reader_message,
    .on_close = reader_close,
};

/* Connect r, asking for the messages after since (none: live only). */
static void reader_connect(reader *r, const char *query)
{
    char url[96];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/feed%s", (unsigned)r->port,
             query);
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    if (r->e->io != ENV_IO_PLAIN) { /* the partial-I/O modes' transport */
        cc.transport = &r->e->io_ops;
        cc.transport_ctx = r->e;
    }
    int err = 0;
    r->ws = wsio_client_connect(r->e->loop, url, &cc, &reader_cb, r, &err);
    assert_non_null(r->ws);
}

static void reader_resume(reader *r)
{
    char q[48];
    snprintf(q, sizeof q, "?since=%" PRIu64, r->last);
    reader_connect(r, q);
}

static wsio_server *start_feed(env *e, feed *f, size_t max_output)
{
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.keep_request = 1;
    if (max_output)
        cfg.max_output_bytes = max_output;
    if (e->io != ENV_IO_PLAIN) {
        cfg.transport = &e->io_ops;
        cfg.transport_ctx = e;
    }
    int err = 0;
    wsio_server *srv = wsio_server_new(e->loop, &cfg, &feed_cb, NULL, f, &err);
    assert_non_null(srv);
    return srv;
}

static wsio_stream *start_stream(wsio_server *srv, size_t max_messages)
{
    wsio_stream_config sc;
    wsio_stream_config_default(&sc);
    sc.max_messages = max_messages;
    sc.format = with_id;
    int err = 0;
    wsio_stream *st = wsio_stream_new(srv, TOPIC, &sc, &err);
    assert_non_null(st);
    return st;
}

static void publish_one(wsio_stream *st)
{
    static const char pad[] = "................................";
    uint64_t id = 0;
    assert_true(
        wsio_stream_publish(st, WSIO_OP_TEXT, pad, sizeof pad - 1, &id) >= 0);
    assert_int_equal(id, wsio_stream_last_id(st));
}

/*
 * Three readers; each drops its connection (terminate: no close
 * handshake) at a random id, stays away while a random number of messages
 * are published, then resumes from the last id it saw. The publisher
 * never waits for them: PER_TURN messages every loop turn.
 */
#define TOTAL 10000
#define PER_TURN 20
#define WINDOW 4096

static void test_resume_three_readers_drop_and_resume(void **state)
{
    env *e = env_new(state);
    feed f = {0};
    wsio_server *srv = start_feed(e, &f, 0);
    f.st = start_stream(srv, WINDOW);
    unsigned seed = 18;
    reader r[NCLIENTS];
    uint64_t away[NCLIENTS];
    for (int i = 0; i < NCLIENTS; i++) {
        r[i] = (reader){.e = e, .port = wsio_server_port(srv)};
        r[i].drop_at = 500 + (uint64_t)(rand_r(&seed) % 8000);
        away[i] = 1 + (uint64_t)(rand_r(&seed) % 2000); /* < WINDOW */
        reader_connect(&r[i], "?since=0");
    }
    RUN_UNTIL(e, r[0].open && r[1].open && r[2].open, 5000);

    uint64_t back_at[NCLIENTS] = {0};
    uint64_t t0 = now_ms();
    while (wsio_stream_last_id(f.st) < TOTAL && now_ms() - t0 < 20000) {
        for (int k = 0; k < PER_TURN && wsio_stream_last_id(f.st) < TOTAL; k++)
            publish_one(f.st);
        uint64_t last = wsio_stream_last_id(f.st);
        for (int i = 0; i < NCLIENTS; i++) {
            if (r[i].open && !r[i].drops && r[i].last >= r[i].drop_at) {
                wsio_ws_terminate(r[i].ws);
                r[i].drops++;
                back_at[i] = last + away[i];
            }
            if (r[i].drops && !r[i].ws && back_at[i] && last >= back_at[i]) {
                back_at[i] = 0;
                reader_resume(&r[i]);
            }
        }
        env_turn(e, 0);
    }
    assert_int_equal(wsio_stream_last_id(f.st), TOTAL);
    /* Anyone still away comes back now, and everyone catches up. */
    for (int i = 0; i < NCLIENTS; i++)
        if (!r[i].ws)
            reader_resume(&r[i]);
    RUN_UNTIL(e, r[0].last == TOTAL && r[1].last == TOTAL && r[2].last == TOTAL,
              10000);
    for (int i = 0; i < NCLIENTS; i++) {
        print_message("reader %d: dropped after id %" PRIu64
                      ", away for %" PRIu64 " messages, read %" PRIu64
                      " ids, last %" PRIu64 ", out of sequence %" PRIu64 "\n",
                      i, r[i].drop_at, away[i], r[i].count, r[i].last,
                      r[i].bad);
        assert_int_equal(r[i].drops, 1);
        assert_int_equal(r[i].bad, 0);       /* no gap, no duplicate */
        assert_int_equal(r[i].count, TOTAL); /* each id once */
        assert_int_equal(r[i].gaps_seen, 0);
    }
    assert_int_equal(f.gaps, 0);
    assert_int_equal(f.opens, 2 * NCLIENTS);
    wsio_stream_stats ss;
    wsio_stream_get_stats(f.st, &ss);
    assert_int_equal(ss.published, TOTAL);
    assert_int_equal(ss.messages, WINDOW);
    assert_true(ss.bytes <= (size_t)1 << 20);
    print_message("window: %" PRIu64 " messages, %" PRIu64 " bytes; %" PRIu64
                  " resumes replayed %" PRIu64 " messages\n",
                  ss.messages, ss.bytes, ss.resumes, ss.replayed);
    for (int i = 0; i < NCLIENTS; i++)
        wsio_ws_close(r[i].ws, WSIO_CLOSE_NORMAL, NULL, 0);
    RUN_UNTIL(e, r[0].closed == 2 && r[1].closed == 2 && r[2].closed == 2,
              5000);
    wsio_stream_free(f.st);
    wsio_server_free(srv);
    env_free(e);
}

/* Away longer than the window: the server is told (WSIO_EGAP), says so
 * to the reader, which then gets the whole window with no further gap. */
static void test_resume_window_exceeded_is_reported(void **state)
{
    env *e = env_new(state);
    feed f = {0};
    wsio_server *srv = start_feed(e, &f, 0);
    f.st = start_stream(srv, 100);
    reader rd = {.e = e, .port = wsio_server_port(srv)};
    reader_connect(&rd, "?since=0");
    RUN_UNTIL(e, rd.open, 5000);
    for (int i = 0; i < 50; i++)
        publish_one(f.st);
    RUN_UNTIL(e, rd.last == 50, 5000);
    wsio_ws_terminate(rd.ws);
    RUN_UNTIL(e, rd.closed == 1, 5000);
    for (int i = 0; i < 500; i++)
        publish_one(f.st);
    assert_int_equal(wsio_stream_oldest_id(f.st), 451);
    reader_resume(&rd);
    RUN_UNTIL(e, rd.last == 550, 5000);
    assert_int_equal(f.gaps, 1);
    assert_int_equal(rd.gaps_seen, 1);
    assert_int_equal(rd.count, 50 + 100);
    assert_int_equal(rd.bad, 0);
    /* An id the stream never gave (a restarted server's future) too. */
    reader fut = {.e = e, .port = wsio_server_port(srv)};
    reader_connect(&fut, "?since=9999");
    RUN_UNTIL(e, fut.last == 550, 5000);
    assert_int_equal(fut.gaps_seen, 1);
    assert_int_equal(f.gaps, 2);
    wsio_stream_stats ss;
    wsio_stream_get_stats(f.st, &ss);
    assert_int_equal(ss.gaps, 2);
    assert_int_equal(ss.messages, 100);
    wsio_ws_close(rd.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    wsio_ws_close(fut.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    RUN_UNTIL(e, rd.closed == 2 && fut.closed == 1, 5000);
    wsio_stream_free(f.st);
    wsio_server_free(srv);
    env_free(e);
}

/* The server drops what does not fit a slow peer's queue (DROP, a 4 KiB
 * mark); a replay of 1000 messages (about 40 KiB) is not dropped. */
static void test_resume_replay_is_not_dropped_by_drop_policy(void **state)
{
    env *e = env_new(state);
    feed f = {0};
    wsio_server *srv = start_feed(e, &f, 4096);
    f.st = start_stream(srv, 1000);
    for (int i = 0; i < 1000; i++)
        publish_one(f.st);
    reader rd = {.e = e, .port = wsio_server_port(srv)};
    reader_connect(&rd, "?since=0");
    RUN_UNTIL(e, rd.last == 1000, 5000);
    assert_int_equal(f.last_rc, 1000);
    assert_int_equal(rd.count, 1000);
    assert_int_equal(rd.bad, 0);
    wsio_server_stats st;
    wsio_server_get_stats(srv, &st);
    assert_int_equal(st.messages_dropped, 0);
    /* Live from here on. */
    publish_one(f.st);
    RUN_UNTIL(e, rd.last == 1001, 5000);
    wsio_ws_close(rd.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    RUN_UNTIL(e, rd.closed == 1, 5000);
    wsio_stream_free(f.st);
    wsio_server_free(srv);
    env_free(e);
}

/* A thread publishes through wsio_server_post_publish (which goes
 * through the topic's stream) while a reader drops and resumes again and
 * again: its ids stay one run. */
#define POSTED 3000

typedef struct poster {
    wsio_server *srv;
    wsio_stream *st;
    int failed;
} poster;

static void *post_all(void *arg)
{
    poster *p = arg;
    for (int i = 0; i < POSTED; i++)
        if (wsio_server_post_publish(p->srv, TOPIC, strlen(TOPIC), WSIO_OP_TEXT,
                                     "posted", 6) != 0)
            p->failed++;
    return NULL;
}

static void test_resume_races_posted_publishes(void **state)
{
    env *e = env_new(state);
    feed f = {0};
    wsio_server *srv = start_feed(e, &f, 0);
    f.st = start_stream(srv, POSTED);
    locked_mem lm;
    lock_env_mem(e, &lm);
    reader rd = {.e = e, .port = wsio_server_port(srv)};
    reader_connect(&rd, "?since=0");
    RUN_UNTIL(e, rd.open, 5000);
    poster p = {.srv = srv, .st = f.st};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, post_all, &p), 0);
    int resumes = 0;
    uint64_t t0 = now_ms();
    while (rd.last < POSTED && now_ms() - t0 < 10000) {
        if (rd.open && rd.last >= (uint64_t)(resumes + 1) * 200) {
            wsio_ws_terminate(rd.ws);
            resumes++;
        }
        if (!rd.ws)
            reader_resume(&rd);
        env_turn(e, 1);
    }
    pthread_join(th, NULL);
    RUN_UNTIL(e, wsio_stream_last_id(f.st) == POSTED && rd.last == POSTED,
              10000);
    assert_int_equal(p.failed, 0);
    print_message("%d drops while %d messages were posted\n", resumes, POSTED);
    assert_true(resumes > 1);
    assert_int_equal(rd.bad, 0);
    assert_int_equal(rd.count, POSTED);
    assert_int_equal(f.gaps, 0);
    wsio_ws_close(rd.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    RUN_UNTIL(e, rd.open == 0 && rd.ws == NULL, 5000);
    wsio_stream_free(f.st);
    wsio_server_free(srv);
    env_free(e);
    pthread_mutex_destroy(&lm.mu);
}

/* The window's bounds: messages, bytes, and age; a message bigger than
 * the byte bound is refused rather than kept over it. */
static void test_resume_window_bounds(void **state)
{
    env *e = env_new(state);
    feed f = {0};
    wsio_server *srv = start_feed(e, &f, 0);
    wsio_stream_config sc;
    wsio_stream_config_default(&sc);
    sc.max_messages = 1000;
    sc.max_bytes = 10000; /* 100-byte payloads: 102-byte frames */
    sc.max_age_ms = 200;
    int err = 0;
    wsio_stream *st = wsio_stream_new(srv, TOPIC, &sc, &err);
    assert_non_null(st);
    char msg[100];
    memset(msg, 'x', sizeof msg);
    for (int i = 0; i < 500; i++)
        assert_int_equal(
            wsio_stream_publish(st, WSIO_OP_TEXT, msg, sizeof msg, NULL), 0);
    wsio_stream_stats ss;
    wsio_stream_get_stats(st, &ss);
    assert_int_equal(ss.messages, 10000 / 102);
    assert_true(ss.bytes <= 10000);
    assert_int_equal(wsio_stream_oldest_id(st), 500 - 10000 / 102 + 1);
    static char big[20000];
    assert_int_equal(
        wsio_stream_publish(st, WSIO_OP_BINARY, big, sizeof big, NULL),
        WSIO_ETOOBIG);
    assert_int_equal(wsio_stream_last_id(st), 500); /* no id used */
    run_for(e, 300);
    assert_int_equal(
        wsio_stream_publish(st, WSIO_OP_TEXT, msg, sizeof msg, NULL), 0);
    wsio_stream_get_stats(st, &ss);
    assert_int_equal(ss.messages, 1); /* the others were too old */
    assert_int_equal(wsio_stream_oldest_id(st), 501);
    /* wsio_server_publish on the topic goes through the stream. */
    assert_int_equal(
        wsio_server_publish(srv, TOPIC, WSIO_OP_TEXT, msg, sizeof msg), 0);
    assert_int_equal(wsio_stream_last_id(st), 502);
    /* One stream per topic; bad configurations. */
    assert_null(wsio_stream_new(srv, TOPIC, &sc, &err));
    assert_int_equal(err, WSIO_EINVAL);
    sc.max_messages = 0;
    assert_null(wsio_stream_new(srv, "other", &sc, &err));
    assert_int_equal(err, WSIO_EINVAL);
    wsio_stream_free(st);
    /* A plain topic again. */
    assert_int_equal(
        wsio_server_publish(srv, TOPIC, WSIO_OP_TEXT, msg, sizeof msg), 0);
    /* A stream may outlive its server: it then only says so. */
    sc.max_messages = 10;
    st = wsio_stream_new(srv, "other", &sc, &err);
    assert_non_null(st);
    wsio_server_free(srv);
    run_for(e, 20);
    assert_int_equal(
        wsio_stream_publish(st, WSIO_OP_TEXT, msg, sizeof msg, NULL),
        WSIO_ECLOSED);
    wsio_stream_free(st);
    env_free(e);
}

/* Ids given by the application (a Redis stream's): increasing, not
 * consecutive; a resume from any id at or after the floor is exact. */
static void test_resume_given_ids(void **state)
{
    env *e = env_new(state);
    feed f = {0};
    wsio_server *srv = start_feed(e, &f, 0);
    f.st = start_stream(srv, 3);
    static const char m[] = "given";
    for (uint64_t id = 10; id <= 50; id += 10)
        assert_int_equal(
            wsio_stream_publish_id(f.st, id, WSIO_OP_TEXT, m, sizeof m - 1), 0);
    assert_int_equal(wsio_stream_publish_id(f.st, 50, WSIO_OP_TEXT, m, 1),
                     WSIO_EINVAL); /* not after the last */
    assert_int_equal(wsio_stream_last_id(f.st), 50);
    assert_int_equal(wsio_stream_oldest_id(f.st), 30);
    assert_int_equal(wsio_stream_floor_id(f.st), 20);
    /* From 25 (never an id): 30, 40, 50. From 20: the same. */
    reader a = {.e = e, .port = wsio_server_port(srv)};
    reader_connect(&a, "?since=25");
    RUN_UNTIL(e, a.count == 3, 5000);
    assert_int_equal(f.last_rc, 3);
    reader b = {.e = e, .port = wsio_server_port(srv)};
    reader_connect(&b, "?since=20");
    RUN_UNTIL(e, b.count == 3, 5000);
    assert_int_equal(f.gaps, 0);
    /* From 19: 20 left the window; a gap. */
    reader c = {.e = e, .port = wsio_server_port(srv)};
    reader_connect(&c, "?since=19");
    RUN_UNTIL(e, c.gaps_seen == 1 && c.count == 3, 5000);
    assert_int_equal(f.gaps, 1);
    assert_int_equal(a.last, 50);
    wsio_ws_close(a.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    wsio_ws_close(b.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    wsio_ws_close(c.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    RUN_UNTIL(e, a.closed && b.closed && c.closed, 5000);
    wsio_stream_free(f.st);
    wsio_server_free(srv);
    env_free(e);
}

/* A subscriber that never reads cannot make the server hold more than the
 * mark and one message for it: the stream's topic closes it (1008) instead
 * of dropping a message, while a reader that keeps up gets every id. */
#define SLOW_MARK (16 * 1024)
#define BIG 1000

static void
test_resume_reader_that_never_reads_is_closed_not_skipped(void **state)
{
    env *e = env_new(state);
    feed f = {0};
    wsio_server *srv = start_feed(e, &f, SLOW_MARK);
    wsio_stream_config sc;
    wsio_stream_config_default(&sc);
    sc.max_bytes = 8 * 1024; /* within the mark, as docs/resume.md asks */
    sc.format = with_id;
    int err = 0;
    f.st = wsio_stream_new(srv, TOPIC, &sc, &err);
    assert_non_null(f.st);
    int fd = raw_ws_connect_rcvbuf(e, wsio_server_port(srv), 4096);
    RUN_UNTIL(e, f.opens == 1, 5000);
    wsio_ws *slow = f.last_open;
    reader rd = {.e = e, .port = wsio_server_port(srv)};
    reader_connect(&rd, "");
    RUN_UNTIL(e, rd.open && f.opens == 2, 5000);
    static char msg[BIG];
    memset(msg, 'x', sizeof msg);
    wsio_topic_stats ts = {0};
    uint64_t sent = 0;
    while (sent < 20000 && !ts.disconnects) {
        assert_true(wsio_stream_publish(f.st, WSIO_OP_TEXT, msg, sizeof msg,
                                        NULL) >= 1);
        sent++;
        RUN_UNTIL(e, rd.last == sent, 5000);
        assert_int_equal(wsio_server_get_topic_stats(srv, TOPIC, &ts), 0);
        if (!ts.disconnects)
            assert_true(wsio_ws_buffered_amount(slow) <= SLOW_MARK + BIG + 32);
    }
    assert_int_equal(ts.disconnects, 1);
    assert_int_equal(ts.dropped_newest + ts.dropped_oldest + ts.replaced, 0);
    wsio_server_stats st;
    wsio_server_get_stats(srv, &st);
    assert_int_equal(st.messages_dropped, 0);
    assert_int_equal(rd.bad, 0);
    assert_int_equal(rd.count, sent);
    close(fd);
    wsio_ws_close(rd.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    RUN_UNTIL(e, rd.closed == 1, 5000);
    wsio_stream_free(f.st);
    wsio_server_free(srv);
    env_free(e);
}

/* wsio_client reconnects by itself; from on_reconnect the application
 * points the next connection at what it missed (wsio_client_set_url). */
static void ask_for_missed(wsio_client *c, const wsio_reconnect_info *info,
                           void *user)
{
    (void)info;
    reader *r = user;
    char url[96];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/feed?since=%" PRIu64,
             (unsigned)r->port, r->last);
    assert_int_equal(wsio_client_set_url(c, url), 0);
}

static void test_resume_client_sets_url_on_reconnect(void **state)
{
    env *e = env_new(state);
    feed f = {0};
    wsio_server *srv = start_feed(e, &f, 0);
    f.st = start_stream(srv, 1000);
    reader rd = {.e = e, .port = wsio_server_port(srv)};
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    cc.reconnect.initial_delay_ms = 10;
    cc.reconnect.max_delay_ms = 20;
    cc.reconnect.on_reconnect = ask_for_missed;
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%u/feed?since=0",
             (unsigned)rd.port);
    int err = 0;
    wsio_client *c = wsio_client_new(e->loop, url, &cc, &reader_cb, &rd, &err);
    assert_non_null(c);
    assert_int_equal(wsio_client_set_url(c, "http://x/"), WSIO_EINVAL);
    RUN_UNTIL(e, rd.open, 5000);
    /* The server drops it three times while it keeps publishing. */
    for (int drop = 1; drop <= 3; drop++) {
        for (int i = 0; i < 100; i++)
            publish_one(f.st);
        RUN_UNTIL(e, rd.last >= (uint64_t)drop * 100 - 50, 5000);
        wsio_ws_terminate(f.last_open);
        for (int i = 0; i < 20; i++)
            publish_one(f.st); /* while it is away */
        RUN_UNTIL(e, rd.open && f.opens == drop + 1, 5000);
    }
    uint64_t last = wsio_stream_last_id(f.st);
    RUN_UNTIL(e, rd.last == last, 5000);
    assert_int_equal(rd.bad, 0);
    assert_int_equal(rd.count, last);
    assert_int_equal(f.gaps, 0);
    assert_int_equal(f.resumes, 3);
    wsio_client_free(c);
    wsio_stream_free(f.st);
    wsio_server_free(srv);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_resume_three_readers_drop_and_resume),
        ON_EVERY_LOOP(test_resume_window_exceeded_is_reported),
        ON_PARTIAL_IO(test_resume_window_exceeded_is_reported),
        ON_EVERY_LOOP(test_resume_replay_is_not_dropped_by_drop_policy),
        ON_PARTIAL_IO(test_resume_replay_is_not_dropped_by_drop_policy),
        ON_EVERY_LOOP(test_resume_races_posted_publishes),
        ON_EVERY_LOOP(test_resume_window_bounds),
        ON_EVERY_LOOP(test_resume_client_sets_url_on_reconnect),
        ON_EVERY_LOOP(test_resume_given_ids),
        ON_EVERY_LOOP(
            test_resume_reader_that_never_reads_is_closed_not_skipped),
    };
    return cmocka_run_group_tests_name("resume", tests, NULL, NULL);
}
