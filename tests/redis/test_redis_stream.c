/*
 * tests/redis/test_redis_stream.c - topic streams kept in Redis
 * (wsio/redis_stream.h) against a redis-server of the test's own, on every
 * loop mode: two instances deliver the same entries with the same ids; a
 * client that moves from instance A to B mid-stream resumes there with no
 * gap and no duplicate; a resume from before the local window goes
 * through XRANGE; a resume across trimmed entries is WSIO_EGAP; Redis
 * restarted empty is reported (RESET) and then recovered; entries trimmed
 * before an instance read them are reported (LAGGED); error answers
 * (WRONGTYPE) are asked again with the backoff, not in a loop; Redis
 * restarted with its data, answering LOADING meanwhile, is no RESET.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "harness.h"
#include "redis_server.h"
#include "wsio/redis_stream.h"

#define TOPIC "ticks"
#define MAX_IDS 4096

/* ---- one instance: a server, its wsio_redis, its stream ---- */

typedef struct instance {
    wsio_server *srv;
    wsio_redis *r;
    wsio_redis_stream *rs;
    int opens, gaps, resets, lagged;
    int last_rc; /* of the last resume */
    uint64_t event_a, event_b;
} instance;

/* "<id> <payload>" */
static int with_id(uint64_t id, const void *data, size_t len,
                   wsio_stream_payload *out, void *user)
{
    (void)user;
    char head[32];
    int n = snprintf(head, sizeof head, "%" PRIu64 " ", id);
    int rc = wsio_stream_payload_add(out, head, (size_t)n);
    return rc ? rc : wsio_stream_payload_add(out, data, len);
}

static uint64_t since_of(const wsio_ws *ws)
{
    wsio_slice q = wsio_ws_request(ws)->request->query;
    if (q.len < 7 || memcmp(q.ptr, "since=", 6) != 0)
        return WSIO_STREAM_LIVE;
    char buf[32];
    size_t n = q.len - 6 < sizeof buf - 1 ? q.len - 6 : sizeof buf - 1;
    memcpy(buf, q.ptr + 6, n);
    buf[n] = '\0';
    return strtoull(buf, NULL, 10);
}

static void resumed(wsio_redis_stream *rs, wsio_ws *ws, int result, void *user)
{
    (void)rs;
    instance *in = user;
    in->last_rc = result;
    if (result == WSIO_EGAP) {
        in->gaps++;
        wsio_ws_send(ws, WSIO_OP_TEXT, "gap", 3);
    }
}

static void on_event(wsio_redis_stream *rs, int event, uint64_t a, uint64_t b,
                     void *user)
{
    (void)rs;
    instance *in = user;
    if (event == WSIO_REDIS_STREAM_RESET)
        in->resets++;
    else
        in->lagged++;
    in->event_a = a;
    in->event_b = b;
}

static void inst_open(wsio_ws *ws, void *user)
{
    instance *in = user;
    in->opens++;
    int rc = wsio_redis_stream_subscribe(in->rs, ws, since_of(ws));
    if (rc != WSIO_EAGAIN)
        resumed(in->rs, ws, rc, in);
}

static const wsio_ws_callbacks inst_cb = {.on_open = inst_open};

static void inst_start(env *e, instance *in, uint16_t redis_port, size_t window,
                       size_t maxlen)
{
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.keep_request = 1;
    int err = 0;
    in->srv = wsio_server_new(e->loop, &cfg, &inst_cb, NULL, in, &err);
    assert_non_null(in->srv);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%u", (unsigned)redis_port);
    wsio_redis_config rc;
    wsio_redis_config_default(&rc);
    rc.url = url;
    rc.backoff_min_ms = 20;
    rc.backoff_max_ms = 200;
    rc.mem = &e->tm.mem;
    in->r = wsio_redis_new(in->srv, &rc, &err);
    assert_non_null(in->r);
    wsio_redis_stream_config sc;
    wsio_redis_stream_config_default(&sc);
    sc.window = window;
    sc.maxlen = maxlen;
    sc.block_ms = 100;
    sc.format = with_id;
    sc.on_event = on_event;
    sc.on_resumed = resumed;
    sc.user = in;
    in->rs = wsio_redis_stream_new(in->r, TOPIC, &sc, &err);
    assert_non_null(in->rs);
}

static void inst_stop(instance *in)
{
    wsio_redis_stream_free(in->rs);
    wsio_redis_free(in->r);
    wsio_server_free(in->srv);
}

static wsio_redis_stream_stats rs_stats(const instance *in)
{
    wsio_redis_stream_stats st;
    wsio_redis_stream_get_stats(in->rs, &st);
    return st;
}

static int ready(const instance *in)
{
    wsio_redis_stats st;
    wsio_redis_get_stats(in->r, &st);
    return st.connected && rs_stats(in).reading;
}

/* ---- a client that records the ids it reads ---- */

typedef struct reader {
    env *e;
    wsio_ws *ws;
    int open, closed, gaps_seen;
    uint64_t ids[MAX_IDS];
    size_t n;
} reader;

static int reader_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)ws;
    reader *r = user;
    if (m->len == 3 && memcmp(m->data, "gap", 3) == 0) {
        r->gaps_seen++;
        return 0;
    }
    char buf[32];
    size_t n = m->len < sizeof buf - 1 ? m->len : sizeof buf - 1;
    memcpy(buf, m->data, n);
    buf[n] = '\0';
    if (r->n < MAX_IDS)
        r->ids[r->n++] = strtoull(buf, NULL, 10);
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

static void reader_connect(reader *r, const instance *in, uint64_t since)
{
    char url[96];
    if (since == WSIO_STREAM_LIVE)
        snprintf(url, sizeof url, "ws://127.0.0.1:%u/",
                 (unsigned)wsio_server_port(in->srv));
    else
        snprintf(url, sizeof url, "ws://127.0.0.1:%u/?since=%" PRIu64,
                 (unsigned)wsio_server_port(in->srv), since);
    int err = 0;
    r->ws = wsio_client_connect(r->e->loop, url, NULL, &reader_cb, r, &err);
    assert_non_null(r->ws);
}

static void publish_n(env *e, instance *in, int n)
{
    for (int i = 0; i < n; i++) {
        while (wsio_redis_stream_publish(in->rs, WSIO_OP_TEXT, "tick", 4) ==
               WSIO_EAGAIN)
            env_turn(e, 1); /* commands in flight are bounded */
    }
}

/* What a side connection of the test's own runs. */
static void side(uint16_t port, const char *cmd)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    redisReply *r = redisCommand(c, cmd);
    assert_non_null(r);
    freeReplyObject(r);
    redisFree(c);
}

typedef struct fixture {
    env *e;
    redis_proc rp;
} fixture;

static fixture *fixture_new(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->e = env_new(state);
    assert_int_equal(redis_proc_start(&f->rp), 0);
    return f;
}

static void fixture_free(fixture *f)
{
    redis_proc_stop(&f->rp, 0);
    env_free(f->e);
    free(f);
}

/* ---- tests ---- */

/* A client reads on A, drops after a few hundred messages, comes back on
 * B with the last id it saw while both publish: it ends with exactly the
 * ids a client that never left saw, in order. */
static void test_redis_stream_moves_between_instances(void **state)
{
    fixture *f = fixture_new(state);
    env *e = f->e;
    instance a = {0}, b = {0};
    inst_start(e, &a, f->rp.port, 256, 10000);
    inst_start(e, &b, f->rp.port, 256, 10000);
    RUN_UNTIL(e, ready(&a) && ready(&b), 5000);
    reader ref = {.e = e}, mover = {.e = e};
    reader_connect(&ref, &a, WSIO_STREAM_LIVE);
    reader_connect(&mover, &a, WSIO_STREAM_LIVE);
    RUN_UNTIL(e, ref.open && mover.open && a.opens == 2, 5000);
    const int total = 1500;
    int sent = 0;
    uint64_t t0 = now_ms();
    while (sent < total && now_ms() - t0 < 20000) {
        publish_n(e, sent % 100 ? &b : &a, 50);
        sent += 50;
        RUN_UNTIL(e, ref.n == (size_t)sent, 5000);
        if (mover.open && mover.n >= 300 && mover.closed == 0) {
            wsio_ws_terminate(mover.ws); /* the network goes */
            RUN_UNTIL(e, mover.closed == 1, 5000);
            publish_n(e, &a, 100); /* while it is away */
            sent += 100;
            reader_connect(&mover, &b, mover.ids[mover.n - 1]);
        }
    }
    RUN_UNTIL(e, ref.n == (size_t)sent && mover.n == (size_t)sent, 10000);
    assert_int_equal(mover.closed, 1);
    assert_int_equal(mover.gaps_seen, 0);
    assert_memory_equal(mover.ids, ref.ids, ref.n * sizeof ref.ids[0]);
    for (size_t i = 1; i < ref.n; i++)
        assert_true(ref.ids[i] > ref.ids[i - 1]);
    assert_int_equal(rs_stats(&a).read, (uint64_t)sent);
    assert_int_equal(rs_stats(&b).read, (uint64_t)sent);
    assert_int_equal(rs_stats(&a).last_id, rs_stats(&b).last_id);
    print_message("%d messages; the mover left A after %zu and resumed on B "
                  "(local resumes %" PRIu64 ", through Redis %" PRIu64 ")\n",
                  sent, (size_t)300, rs_stats(&b).resumes_local,
                  rs_stats(&b).resumes_redis);
    wsio_ws_close(ref.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    wsio_ws_close(mover.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    RUN_UNTIL(e, ref.closed == 1 && mover.closed == 2, 5000);
    inst_stop(&a);
    inst_stop(&b);
    fixture_free(f);
}

/* An id older than the local window comes from Redis (XRANGE); one whose
 * followers were trimmed is WSIO_EGAP, then the client gets what is. */
static void test_redis_stream_old_ids_through_xrange_and_gaps(void **state)
{
    fixture *f = fixture_new(state);
    env *e = f->e;
    instance a = {0};
    inst_start(e, &a, f->rp.port, 16, 300);
    RUN_UNTIL(e, ready(&a), 5000);
    reader ref = {.e = e};
    reader_connect(&ref, &a, WSIO_STREAM_LIVE);
    RUN_UNTIL(e, ref.open && a.opens == 1, 5000);
    publish_n(e, &a, 100);
    RUN_UNTIL(e, ref.n == 100, 5000);
    /* From the 20th: 80 to come, 64 of them older than the window. */
    reader old = {.e = e};
    reader_connect(&old, &a, ref.ids[19]);
    RUN_UNTIL(e, old.n == 80, 5000);
    assert_memory_equal(old.ids, ref.ids + 20, 80 * sizeof ref.ids[0]);
    assert_int_equal(rs_stats(&a).resumes_redis, 1);
    assert_int_equal(a.last_rc, 80);
    /* 900 more with MAXLEN ~ 300: the first ones are trimmed. */
    for (size_t k = 200; k <= 1000; k += 100) { /* read as they come */
        publish_n(e, &a, 100);
        RUN_UNTIL(e, ref.n == k, 5000);
    }
    reader late = {.e = e};
    reader_connect(&late, &a, ref.ids[0]);
    RUN_UNTIL(e, late.gaps_seen == 1, 5000);
    assert_int_equal(a.gaps, 1);
    assert_int_equal(late.n, 0); /* not subscribed: the app decides */
    assert_int_equal(rs_stats(&a).gaps, 1);
    wsio_ws_close(ref.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    wsio_ws_close(old.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    wsio_ws_close(late.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    RUN_UNTIL(e, ref.closed && old.closed && late.closed, 5000);
    inst_stop(&a);
    fixture_free(f);
}

/* Redis killed and restarted empty: RESET is reported, a resume across
 * it is WSIO_EGAP, and new messages flow again. */
static void test_redis_stream_restart_is_reported_then_recovers(void **state)
{
    fixture *f = fixture_new(state);
    env *e = f->e;
    instance a = {0};
    inst_start(e, &a, f->rp.port, 256, 10000);
    RUN_UNTIL(e, ready(&a), 5000);
    reader ref = {.e = e};
    reader_connect(&ref, &a, WSIO_STREAM_LIVE);
    RUN_UNTIL(e, ref.open && a.opens == 1, 5000);
    publish_n(e, &a, 20);
    RUN_UNTIL(e, ref.n == 20, 5000);
    uint64_t before = ref.ids[9];
    redis_proc_stop(&f->rp, 1);
    RUN_UNTIL(e, !rs_stats(&a).reading, 5000);
    assert_int_equal(wsio_redis_stream_publish(a.rs, WSIO_OP_TEXT, "x", 1),
                     WSIO_ECLOSED); /* said, not hidden */
    assert_int_equal(redis_proc_start(&f->rp), 0);
    RUN_UNTIL(e, ready(&a) && a.resets == 1, 5000);
    assert_int_equal(a.event_a, ref.ids[19]);
    assert_int_equal(a.event_b, 0);
    publish_n(e, &a, 10);
    RUN_UNTIL(e, ref.n == 30, 5000);
    for (size_t i = 1; i < ref.n; i++)
        assert_true(ref.ids[i] > ref.ids[i - 1]);
    reader across = {.e = e};
    reader_connect(&across, &a, before);
    RUN_UNTIL(e, across.gaps_seen == 1, 5000);
    assert_int_equal(rs_stats(&a).resets, 1);
    wsio_ws_close(ref.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    wsio_ws_close(across.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    RUN_UNTIL(e, ref.closed && across.closed, 5000);
    inst_stop(&a);
    fixture_free(f);
}

/* Entries added and trimmed while an instance is cut off from Redis: it
 * says so (LAGGED) when it is back, and a resume across them is
 * WSIO_EGAP. */
static void test_redis_stream_lagging_reader_is_reported(void **state)
{
    fixture *f = fixture_new(state);
    env *e = f->e;
    instance a = {0};
    inst_start(e, &a, f->rp.port, 256, 10000);
    RUN_UNTIL(e, ready(&a), 5000);
    reader ref = {.e = e};
    reader_connect(&ref, &a, WSIO_STREAM_LIVE);
    RUN_UNTIL(e, ref.open && a.opens == 1, 5000);
    publish_n(e, &a, 5);
    RUN_UNTIL(e, ref.n == 5, 5000);
    /* In one transaction: cut every other client (the instance's links),
     * publish 50 the way wsio_redis_stream_publish does, MAXLEN ~ 10 with
     * nodes of 10 entries: most are trimmed before it can read them. */
    redisContext *c = redisConnect("127.0.0.1", f->rp.port);
    assert_non_null(c);
    freeReplyObject(redisCommand(c, "CONFIG SET stream-node-max-entries 10"));
    freeReplyObject(redisCommand(c, "MULTI"));
    freeReplyObject(redisCommand(c, "CLIENT KILL TYPE normal SKIPME yes"));
    for (int i = 0; i < 50; i++)
        freeReplyObject(redisCommand(
            c, "EVAL %s 2 wsio:s:" TOPIC " wsio:s:" TOPIC ":n 10 1 lost",
            "local n = redis.call('INCR', KEYS[2]) "
            "return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], "
            "'*', 'o', ARGV[2], 'n', n, 'd', ARGV[3])"));
    redisReply *x = redisCommand(c, "EXEC");
    assert_non_null(x);
    assert_int_equal(x->type, REDIS_REPLY_ARRAY);
    freeReplyObject(x);
    redisFree(c);
    RUN_UNTIL(e, a.lagged == 1 && ready(&a), 5000);
    assert_int_equal(a.event_a, ref.ids[4]);
    assert_true(a.event_b > ref.ids[4]);
    RUN_UNTIL(e, ref.n > 5, 5000); /* what was left of the 50 */
    assert_true(ref.n < 5 + 50);   /* the trimmed ones never came */
    reader across = {.e = e};
    reader_connect(&across, &a, ref.ids[4]);
    RUN_UNTIL(e, across.gaps_seen == 1, 5000);
    size_t had = ref.n;
    publish_n(e, &a, 5);
    RUN_UNTIL(e, ref.n == had + 5, 5000);
    side(f->rp.port, "PING");
    wsio_ws_close(ref.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    wsio_ws_close(across.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    RUN_UNTIL(e, ref.closed && across.closed, 5000);
    inst_stop(&a);
    fixture_free(f);
}

/* Errors of one kind Redis answered since CONFIG RESETSTAT (INFO
 * errorstats), or -1. */
static long long error_count(uint16_t port, const char *kind)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "INFO errorstats");
    long long n = -1;
    char want[64];
    snprintf(want, sizeof want, "errorstat_%s:count=", kind);
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *at = strstr(r->str, want);
        n = at ? strtoll(at + strlen(want), NULL, 10) : 0;
    }
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* The stream's key taken by a value of another type: XREAD and XINFO are
 * answered with errors. The reader says it is not reading and asks again
 * with the backoff, not in a loop as fast as Redis answers; once the key
 * is free, it reads again (what was there is gone: RESET). */
static void test_redis_stream_errors_are_retried_with_backoff(void **state)
{
    fixture *f = fixture_new(state);
    env *e = f->e;
    instance a = {0};
    inst_start(e, &a, f->rp.port, 256, 10000);
    RUN_UNTIL(e, ready(&a), 5000);
    reader ref = {.e = e};
    reader_connect(&ref, &a, WSIO_STREAM_LIVE);
    RUN_UNTIL(e, ref.open && a.opens == 1, 5000);
    publish_n(e, &a, 5);
    RUN_UNTIL(e, ref.n == 5, 5000);
    redisContext *c = redisConnect("127.0.0.1", f->rp.port);
    assert_non_null(c);
    freeReplyObject(redisCommand(c, "MULTI"));
    freeReplyObject(redisCommand(c, "DEL wsio:s:" TOPIC));
    freeReplyObject(redisCommand(c, "SET wsio:s:" TOPIC " taken"));
    freeReplyObject(redisCommand(c, "CONFIG RESETSTAT"));
    freeReplyObject(redisCommand(c, "EXEC"));
    redisFree(c);
    RUN_UNTIL(e, error_count(f->rp.port, "WRONGTYPE") > 0, 5000);
    run_for(e, 500);
    /* The backoff here is 20 ms doubling to 200: a few a second. */
    long long errors = error_count(f->rp.port, "WRONGTYPE");
    print_message("WRONGTYPE answers in 500 ms: %lld\n", errors);
    assert_true(errors < 50);
    assert_int_equal(rs_stats(&a).reading, 0);
    side(f->rp.port, "DEL wsio:s:" TOPIC);
    RUN_UNTIL(e, ready(&a) && a.resets == 1, 5000);
    publish_n(e, &a, 5);
    RUN_UNTIL(e, ref.n == 10, 5000);
    wsio_ws_close(ref.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    RUN_UNTIL(e, ref.closed, 5000);
    inst_stop(&a);
    fixture_free(f);
}

/* A command's calls Redis refused (LOADING, ...): INFO commandstats'
 * rejected_calls, or -1. */
static long long rejected_calls(uint16_t port, const char *cmd)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    assert_non_null(c);
    redisReply *r = redisCommand(c, "INFO commandstats");
    long long n = -1;
    char want[64];
    snprintf(want, sizeof want, "cmdstat_%s:", cmd);
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *at = strstr(r->str, want);
        const char *rej = at ? strstr(at, "rejected_calls=") : NULL;
        n = rej ? strtoll(rej + 15, NULL, 10) : 0;
    }
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* Redis restarted with its data, which it takes a while to load: the
 * instance comes back meanwhile and is answered LOADING. That is no
 * RESET: once loaded, the stream goes on where it was, with nothing
 * read twice. */
static void test_redis_stream_restart_with_data_is_no_reset(void **state)
{
    char dir[] = "/tmp/wsio-rdb-XXXXXX";
    assert_non_null(mkdtemp(dir));
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->e = env_new(state);
    f->rp.rdb_dir = dir;
    assert_int_equal(redis_proc_start(&f->rp), 0);
    env *e = f->e;
    instance a = {0};
    inst_start(e, &a, f->rp.port, 256, 10000);
    RUN_UNTIL(e, ready(&a), 5000);
    reader ref = {.e = e};
    reader_connect(&ref, &a, WSIO_STREAM_LIVE);
    RUN_UNTIL(e, ref.open && a.opens == 1, 5000);
    publish_n(e, &a, 20);
    RUN_UNTIL(e, ref.n == 20, 5000);
    /* 1000 keys beside the stream: a second to load. */
    redisContext *c = redisConnect("127.0.0.1", f->rp.port);
    assert_non_null(c);
    freeReplyObject(redisCommand(
        c, "EVAL %s 0",
        "for i = 1, 1000 do redis.call('SET', 'fill:' .. i, 'x') end"));
    redisReply *saved = redisCommand(c, "SAVE");
    assert_non_null(saved);
    assert_int_equal(saved->type, REDIS_REPLY_STATUS);
    freeReplyObject(saved);
    redisFree(c);
    redis_proc_stop(&f->rp, 1);
    RUN_UNTIL(e, !rs_stats(&a).reading, 5000);
    assert_int_equal(redis_proc_start(&f->rp), 0);
    RUN_UNTIL(e, ready(&a), 10000);
    /* It did come back while Redis was loading. */
    assert_true(rejected_calls(f->rp.port, "xinfo|stream") +
                    rejected_calls(f->rp.port, "xread") >
                0);
    assert_int_equal(a.resets, 0);
    assert_int_equal(rs_stats(&a).resets, 0);
    publish_n(e, &a, 10);
    RUN_UNTIL(e, ref.n == 30, 5000);
    run_for(e, 100);
    assert_int_equal(ref.n, 30);
    for (size_t i = 1; i < ref.n; i++)
        assert_true(ref.ids[i] > ref.ids[i - 1]);
    assert_int_equal(rs_stats(&a).invalid, 0);
    assert_int_equal(rs_stats(&a).read, 30);
    wsio_ws_close(ref.ws, WSIO_CLOSE_NORMAL, NULL, 0);
    RUN_UNTIL(e, ref.closed, 5000);
    inst_stop(&a);
    fixture_free(f);
    char rdb[64];
    snprintf(rdb, sizeof rdb, "%s/dump.rdb", dir);
    unlink(rdb);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_redis_stream_moves_between_instances),
        ON_EVERY_LOOP(test_redis_stream_old_ids_through_xrange_and_gaps),
        ON_EVERY_LOOP(test_redis_stream_restart_is_reported_then_recovers),
        ON_EVERY_LOOP(test_redis_stream_lagging_reader_is_reported),
        ON_EVERY_LOOP(test_redis_stream_errors_are_retried_with_backoff),
        /* A second of loading: one loop mode is enough. */
        {"test_redis_stream_restart_with_data_is_no_reset/epoll",
         test_redis_stream_restart_with_data_is_no_reset, NULL, NULL,
         (void *)"epoll"},
    };
    return cmocka_run_group_tests_name("redis_stream", tests, NULL, NULL);
}
