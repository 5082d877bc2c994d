/*
 * tests/redis/test_redis.c - libwsio-redis (wsio/redis.h) against a real
 * redis-server of the test's own, on every loop mode: channels follow the
 * local subscribers (checked with PUBSUB NUMSUB on a connection of the
 * test's), two servers share publishes and broadcasts without echoes,
 * publishes are dropped and counted while Redis is down and flow again
 * once it is back, the application's commands reach Redis, and foreign
 * messages without an envelope are refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "harness.h"
#include "redis_server.h"
#include "wsio/redis.h"

/* ---- a side connection of the test's own (blocking hiredis) ---- */

/* Subscribers Redis counts on channel, or -1 when Redis does not answer. */
static long long numsub(uint16_t port, const char *channel)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    long long n = -1;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PUBSUB NUMSUB %s", channel);
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2)
            n = r->element[1]->integer;
        freeReplyObject(r);
    }
    redisFree(c);
    return n;
}

/* PUBLISH payload[0..len) on channel from outside any wsio server. */
static void raw_publish(uint16_t port, const char *channel, const void *payload,
                        size_t len)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    redisReply *r = redisCommand(c, "PUBLISH %s %b", channel, payload, len);
    assert_non_null(r);
    freeReplyObject(r);
    redisFree(c);
}

/* ---- fixture ---- */

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

static wsio_redis *attach_url(fixture *f, wsio_server *srv, const char *url)
{
    wsio_redis_config rc;
    wsio_redis_config_default(&rc);
    rc.url = url;
    rc.backoff_min_ms = 20;
    rc.backoff_max_ms = 200;
    rc.mem = &f->e->tm.mem;
    int err = 0;
    wsio_redis *r = wsio_redis_new(srv, &rc, &err);
    assert_non_null(r);
    return r;
}

static wsio_redis *attach(fixture *f, wsio_server *srv)
{
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%u", (unsigned)f->rp.port);
    return attach_url(f, srv, url);
}

static int is_connected(const wsio_redis *r)
{
    wsio_redis_stats st;
    wsio_redis_get_stats(r, &st);
    return st.connected;
}

static wsio_redis_stats stats_of(const wsio_redis *r)
{
    wsio_redis_stats st;
    wsio_redis_get_stats(r, &st);
    return st;
}

/* ---- tests ---- */

static void
test_redis_subscribes_topic_only_while_it_has_subscribers(void **state)
{
    fixture *f = fixture_new(state);
    server_state s = {.subscribe = "news"};
    wsio_server *srv = start_server(f->e, NULL, NULL, &s);
    wsio_redis *r = attach(f, srv);
    RUN_UNTIL(f->e, is_connected(r), 5000);
    RUN_UNTIL(f->e, numsub(f->rp.port, "wsio:b") == 1, 5000);
    assert_int_equal(numsub(f->rp.port, "wsio:t:news"), 0);

    peer a = {0}, b = {0};
    connect_client(f->e, srv, NULL, &a);
    connect_client(f->e, srv, NULL, &b);
    RUN_UNTIL(f->e, s.opens == 2, 5000);
    RUN_UNTIL(f->e, numsub(f->rp.port, "wsio:t:news") == 1, 5000);
    RUN_UNTIL(f->e, stats_of(r).topics == 1, 5000);

    /* One leaving keeps the channel; the last one leaving drops it. */
    wsio_ws_close(a.ws, 1000, NULL, 0);
    RUN_UNTIL(f->e, s.closes == 1, 5000);
    run_for(f->e, 50);
    assert_int_equal(numsub(f->rp.port, "wsio:t:news"), 1);
    wsio_ws_close(b.ws, 1000, NULL, 0);
    RUN_UNTIL(f->e, s.closes == 2, 5000);
    RUN_UNTIL(f->e, numsub(f->rp.port, "wsio:t:news") == 0, 5000);
    RUN_UNTIL(f->e, stats_of(r).topics == 0, 5000);

    wsio_redis_free(r);
    wsio_server_free(srv);
    fixture_free(f);
}

static void test_redis_quick_leave_and_rejoin_keeps_channel(void **state)
{
    fixture *f = fixture_new(state);
    server_state s = {0};
    wsio_server *srv = start_server(f->e, NULL, NULL, &s);
    wsio_redis *r = attach(f, srv);
    RUN_UNTIL(f->e, is_connected(r), 5000);
    peer a = {0};
    connect_client(f->e, srv, NULL, &a);
    RUN_UNTIL(f->e, s.opens == 1, 5000);
    /* SUBSCRIBE, UNSUBSCRIBE, SUBSCRIBE before any reply comes back. */
    assert_int_equal(wsio_ws_subscribe(s.last_open, "news"), 0);
    assert_int_equal(wsio_ws_unsubscribe(s.last_open, "news"), 0);
    assert_int_equal(wsio_ws_subscribe(s.last_open, "news"), 0);
    RUN_UNTIL(f->e, numsub(f->rp.port, "wsio:t:news") == 1, 5000);
    run_for(f->e, 50);
    assert_int_equal(numsub(f->rp.port, "wsio:t:news"), 1);

    /* Messages of another publisher still arrive. */
    uint8_t env_msg[WSIO_REDIS_ENVELOPE_HEADER + 1] = {1, 0, 0, 0, 0,  0,
                                                       0, 0, 7, 1, '0'};
    raw_publish(f->rp.port, "wsio:t:news", env_msg, sizeof env_msg);
    RUN_UNTIL(f->e, a.nmsg == 1, 5000);
    assert_int_equal(a.out_of_order, 0);
    assert_int_equal(stats_of(r).received, 1);

    wsio_redis_free(r);
    wsio_server_free(srv);
    fixture_free(f);
}

static void publish_seq(wsio_server *srv, const char *topic, int from, int n)
{
    for (int i = from; i < from + n; i++) {
        char buf[16];
        int len = snprintf(buf, sizeof buf, "%d", i);
        assert_true(wsio_server_publish(srv, topic, WSIO_OP_TEXT, buf,
                                        (size_t)len) >= 0);
    }
}

static void test_redis_two_servers_share_topics_without_echo(void **state)
{
    fixture *f = fixture_new(state);
    server_state s1 = {.subscribe = "news"}, s2 = {.subscribe = "news"};
    wsio_server *srv1 = start_server(f->e, NULL, NULL, &s1);
    wsio_server *srv2 = start_server(f->e, NULL, NULL, &s2);
    assert_true(wsio_server_node_id(srv1) != wsio_server_node_id(srv2));
    wsio_redis *r1 = attach(f, srv1);
    wsio_redis *r2 = attach(f, srv2);
    peer a = {0}, b = {0};
    connect_client(f->e, srv1, NULL, &a);
    connect_client(f->e, srv2, NULL, &b);
    RUN_UNTIL(f->e, s1.opens == 1 && s2.opens == 1, 5000);
    RUN_UNTIL(f->e, numsub(f->rp.port, "wsio:t:news") == 2, 5000);

    /* From server 1: its own client once (locally), the other through
     * Redis, in order. */
    publish_seq(srv1, "news", 0, 50);
    RUN_UNTIL(f->e, a.nmsg == 50 && b.nmsg == 50, 5000);
    /* And from server 2 the other way. */
    publish_seq(srv2, "news", 50, 50);
    RUN_UNTIL(f->e, a.nmsg == 100 && b.nmsg == 100, 5000);
    run_for(f->e, 100);
    assert_int_equal(a.nmsg, 100); /* no echo of its own messages */
    assert_int_equal(b.nmsg, 100);
    assert_int_equal(a.out_of_order, 0);
    assert_int_equal(b.out_of_order, 0);
    assert_int_equal(stats_of(r1).published, 50);
    assert_int_equal(stats_of(r1).received, 50);
    assert_int_equal(stats_of(r2).received, 50);

    /* Broadcasts reach every connection of the other server. */
    assert_int_equal(wsio_server_broadcast(srv2, WSIO_OP_TEXT, "100", 3, NULL),
                     1);
    RUN_UNTIL(f->e, a.nmsg == 101 && b.nmsg == 101, 5000);
    assert_int_equal(a.out_of_order, 0);

    /* The empty topic is a topic like any other, not a broadcast: c, on
     * server 2 but not subscribed to it, gets nothing. */
    peer c = {0};
    assert_int_equal(wsio_ws_subscribe(s2.last_open, ""), 0);
    connect_client(f->e, srv2, NULL, &c);
    RUN_UNTIL(f->e, s2.opens == 2, 5000);
    RUN_UNTIL(f->e, numsub(f->rp.port, "wsio:t:") == 1, 5000);
    assert_int_equal(wsio_server_publish(srv1, "", WSIO_OP_TEXT, "101", 3), 0);
    RUN_UNTIL(f->e, b.nmsg == 102, 5000);
    run_for(f->e, 100);
    assert_int_equal(c.nmsg, 0);
    assert_int_equal(b.out_of_order, 0);

    wsio_redis_free(r1);
    wsio_redis_free(r2);
    wsio_server_free(srv1);
    wsio_server_free(srv2);
    fixture_free(f);
}

static void test_redis_drops_while_down_and_resumes_after_restart(void **state)
{
    fixture *f = fixture_new(state);
    server_state s1 = {.subscribe = "news"}, s2 = {.subscribe = "news"};
    wsio_server *srv1 = start_server(f->e, NULL, NULL, &s1);
    wsio_server *srv2 = start_server(f->e, NULL, NULL, &s2);
    wsio_redis *r1 = attach(f, srv1);
    wsio_redis *r2 = attach(f, srv2);
    peer a = {0}, b = {0};
    connect_client(f->e, srv1, NULL, &a);
    connect_client(f->e, srv2, NULL, &b);
    RUN_UNTIL(f->e, numsub(f->rp.port, "wsio:t:news") == 2, 5000);

    redis_proc_stop(&f->rp, 1); /* killed: no goodbye */
    RUN_UNTIL(f->e, !is_connected(r1) && !is_connected(r2), 5000);
    /* Local delivery goes on; what would cross is dropped and counted. */
    publish_seq(srv1, "news", 0, 5);
    RUN_UNTIL(f->e, a.nmsg == 5, 5000);
    assert_int_equal(b.nmsg, 0);
    assert_int_equal(stats_of(r1).publish_dropped, 5);
    assert_int_equal(stats_of(r1).published, 0);
    run_for(f->e, 300); /* a few failed retries */

    assert_int_equal(redis_proc_start(&f->rp), 0); /* the same port */
    RUN_UNTIL(f->e, is_connected(r1) && is_connected(r2), 5000);
    RUN_UNTIL(f->e, numsub(f->rp.port, "wsio:t:news") == 2, 5000);
    assert_int_equal(stats_of(r1).reconnects, 2); /* both links */
    RUN_UNTIL(f->e, stats_of(r1).topics == 1, 5000);
    b.next_seq = 5; /* it never saw 0..4 */
    publish_seq(srv1, "news", 5, 5);
    RUN_UNTIL(f->e, b.nmsg == 5, 5000);
    assert_int_equal(a.nmsg, 10);
    assert_int_equal(a.out_of_order, 0);
    assert_int_equal(b.out_of_order, 0);
    assert_int_equal(stats_of(r1).publish_dropped, 5);

    wsio_redis_free(r1);
    wsio_redis_free(r2);
    wsio_server_free(srv1);
    wsio_server_free(srv2);
    fixture_free(f);
}

typedef struct answers {
    int n;
    int nulls;
    long long integer;
    char last[32];
} answers;

static void on_reply(wsio_redis *r, const struct redisReply *reply, void *user)
{
    (void)r;
    answers *a = user;
    a->n++;
    if (!reply) {
        a->nulls++;
        return;
    }
    if (reply->type == REDIS_REPLY_INTEGER)
        a->integer = reply->integer;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0)
        snprintf(a->last, sizeof a->last, "%s",
                 reply->element[reply->elements - 1]->str);
}

static void test_redis_command_runs_on_the_publishing_link(void **state)
{
    fixture *f = fixture_new(state);
    server_state s = {0};
    wsio_server *srv = start_server(f->e, NULL, NULL, &s);
    wsio_redis *r = attach(f, srv);
    answers ans = {0};
    /* Not connected yet: refused at once, the callback never runs. */
    assert_int_equal(wsio_redis_command(r, on_reply, &ans, "PING"),
                     WSIO_ECLOSED);
    RUN_UNTIL(f->e, is_connected(r), 5000);
    char key[64];
    assert_int_equal(wsio_redis_key(r, "list", key, sizeof key), 9);
    assert_string_equal(key, "wsio:list");
    assert_int_equal(wsio_redis_key(r, "list", key, 9), WSIO_ENOSPC);
    assert_int_equal(wsio_redis_command(r, on_reply, &ans, "RPUSH %s %s %s",
                                        key, "one", "two"),
                     0);
    RUN_UNTIL(f->e, ans.n == 1, 5000);
    assert_int_equal(ans.integer, 2);
    assert_int_equal(
        wsio_redis_command(r, on_reply, &ans, "LRANGE %s 0 -1", key), 0);
    RUN_UNTIL(f->e, ans.n == 2, 5000);
    assert_string_equal(ans.last, "two");
    /* A command still waiting when the module goes gets a NULL reply. */
    assert_int_equal(wsio_redis_command(r, on_reply, &ans, "PING"), 0);
    wsio_redis_free(r);
    assert_int_equal(ans.n, 3);
    assert_int_equal(ans.nulls, 1);
    wsio_server_free(srv);
    fixture_free(f);
}

/* What waits for Redis' answer is bounded: commands count with publishes. */
static void test_redis_commands_in_flight_are_bounded(void **state)
{
    fixture *f = fixture_new(state);
    server_state s = {0};
    wsio_server *srv = start_server(f->e, NULL, NULL, &s);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%u", (unsigned)f->rp.port);
    wsio_redis_config rc;
    wsio_redis_config_default(&rc);
    rc.url = url;
    rc.max_in_flight = 2;
    rc.mem = &f->e->tm.mem;
    int err = 0;
    wsio_redis *r = wsio_redis_new(srv, &rc, &err);
    assert_non_null(r);
    RUN_UNTIL(f->e, is_connected(r), 5000);
    answers ans = {0};
    assert_int_equal(wsio_redis_command(r, on_reply, &ans, "PING"), 0);
    assert_int_equal(wsio_server_publish(srv, "news", WSIO_OP_TEXT, "x", 1), 0);
    /* Two wait (a command, a publish): the next of either is refused. */
    assert_int_equal(wsio_redis_command(r, on_reply, &ans, "PING"),
                     WSIO_EAGAIN);
    assert_int_equal(wsio_server_publish(srv, "news", WSIO_OP_TEXT, "y", 1), 0);
    assert_int_equal(stats_of(r).publish_dropped, 1);
    RUN_UNTIL(f->e, ans.n == 1, 5000);
    run_for(f->e, 50); /* the publish's answer too */
    assert_int_equal(wsio_redis_command(r, on_reply, &ans, "PING"), 0);
    RUN_UNTIL(f->e, ans.n == 2, 5000);
    wsio_redis_free(r);
    wsio_server_free(srv);
    fixture_free(f);
}

static void test_redis_password_and_db_from_the_url(void **state)
{
    env *e = env_new(state);
    fixture f = {.e = e, .rp = {.password = "s3cret"}};
    assert_int_equal(redis_proc_start(&f.rp), 0);
    server_state s = {0};
    wsio_server *srv = start_server(e, NULL, NULL, &s);
    char url[96];
    /* A wrong password: refused, retried, never connected. */
    snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%u/3",
             (unsigned)f.rp.port);
    wsio_redis *bad = attach_url(&f, srv, url);
    run_for(e, 200);
    assert_false(is_connected(bad));
    wsio_redis_free(bad);

    snprintf(url, sizeof url, "redis://:s3cret@127.0.0.1:%u/3",
             (unsigned)f.rp.port);
    wsio_redis *r = attach_url(&f, srv, url);
    RUN_UNTIL(e, is_connected(r), 5000);
    answers ans = {0};
    assert_int_equal(wsio_redis_command(r, on_reply, &ans, "SET k v"), 0);
    RUN_UNTIL(e, ans.n == 1, 5000);
    /* The key is in database 3, where the URL said. */
    redisContext *c = redisConnect("127.0.0.1", f.rp.port);
    assert_non_null(c);
    redisReply *rep = redisCommand(c, "AUTH s3cret");
    freeReplyObject(rep);
    rep = redisCommand(c, "SELECT 3");
    freeReplyObject(rep);
    rep = redisCommand(c, "GET k");
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    assert_string_equal(rep->str, "v");
    freeReplyObject(rep);
    redisFree(c);
    wsio_redis_free(r);
    wsio_server_free(srv);
    redis_proc_stop(&f.rp, 0);
    env_free(e);
}

static void test_redis_refuses_messages_without_envelope(void **state)
{
    fixture *f = fixture_new(state);
    server_state s = {.subscribe = "news"};
    wsio_server *srv = start_server(f->e, NULL, NULL, &s);
    wsio_redis *r = attach(f, srv);
    peer a = {0};
    connect_client(f->e, srv, NULL, &a);
    RUN_UNTIL(f->e, numsub(f->rp.port, "wsio:t:news") == 1, 5000);
    static const struct {
        const char *data;
        size_t len;
    } bad[] = {
        {"plain text", 10}, /* no envelope */
        {"\x02\0\0\0\0\0\0\0\x07\x01"
         "0",
         11}, /* version 2 */
        {"\x01\0\0\0\0\0\0\0\x07\x09"
         "0",
         11}, /* opcode 9 */
        {"\x01\0\0\0\0\0\0\0\x07\x01"
         "\xff",
         11}, /* bad UTF-8 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        raw_publish(f->rp.port, "wsio:t:news", bad[i].data, bad[i].len);
    RUN_UNTIL(f->e, stats_of(r).invalid == 4, 5000);
    assert_int_equal(a.nmsg, 0);
    assert_int_equal(stats_of(r).received, 0);
    wsio_redis_free(r);
    wsio_server_free(srv);
    fixture_free(f);
}

static void test_redis_outlives_its_server(void **state)
{
    fixture *f = fixture_new(state);
    server_state s = {.subscribe = "news"};
    wsio_server *srv = start_server(f->e, NULL, NULL, &s);
    wsio_redis *r = attach(f, srv);
    peer a = {0};
    connect_client(f->e, srv, NULL, &a);
    RUN_UNTIL(f->e, stats_of(r).topics == 1, 5000);
    /* The shutdown frees the server by itself, inside the loop. */
    assert_int_equal(wsio_server_shutdown(srv, 1000), 0);
    RUN_UNTIL(f->e, a.closed, 5000);
    run_for(f->e, 50);
    uint8_t msg[WSIO_REDIS_ENVELOPE_HEADER + 1] = {1, 0, 0, 0, 0,  0,
                                                   0, 0, 7, 1, '0'};
    raw_publish(f->rp.port, "wsio:b", msg, sizeof msg);
    run_for(f->e, 50);
    assert_int_equal(stats_of(r).received, 0);
    assert_true(is_connected(r));
    wsio_redis_free(r);
    fixture_free(f);
}

static void test_redis_new_rejects_bad_config(void **state)
{
    env *e = env_new(state);
    server_state s = {0};
    wsio_server *srv = start_server(e, NULL, NULL, &s);
    static const char *const bad_urls[] = {
        "http://127.0.0.1:6379", "redis://127.0.0.1:0", "redis://",
        "redis+cluster://127.0.0.1:7000/1", "redis+cluster://a,,b"};
    wsio_redis_config rc;
    int err;
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        wsio_redis_config_default(&rc);
        rc.url = bad_urls[i];
        rc.mem = &e->tm.mem;
        err = 0;
        assert_null(wsio_redis_new(srv, &rc, &err));
        assert_int_equal(err, WSIO_EINVAL);
    }
    wsio_redis_config_default(&rc);
    rc.backoff_min_ms = 500;
    rc.backoff_max_ms = 100;
    rc.mem = &e->tm.mem;
    assert_null(wsio_redis_new(srv, &rc, &err));
    assert_int_equal(err, WSIO_EINVAL);
    wsio_redis_config_default(&rc);
    rc.prefix = "a-prefix-that-is-longer-than-sixty-four-bytes-"
                "which-the-module-refuses";
    assert_null(wsio_redis_new(srv, &rc, &err));
    assert_int_equal(err, WSIO_EINVAL);
    /* A config not filled by wsio_redis_config_default (ABI). */
    wsio_redis_config_default(&rc);
    rc.struct_size = 0;
    assert_null(wsio_redis_new(srv, &rc, &err));
    assert_int_equal(err, WSIO_EINVAL);
    wsio_server_free(srv);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(
            test_redis_subscribes_topic_only_while_it_has_subscribers),
        ON_EVERY_LOOP(test_redis_quick_leave_and_rejoin_keeps_channel),
        ON_EVERY_LOOP(test_redis_two_servers_share_topics_without_echo),
        ON_EVERY_LOOP(test_redis_drops_while_down_and_resumes_after_restart),
        ON_EVERY_LOOP(test_redis_command_runs_on_the_publishing_link),
        ON_EVERY_LOOP(test_redis_commands_in_flight_are_bounded),
        ON_EVERY_LOOP(test_redis_password_and_db_from_the_url),
        ON_EVERY_LOOP(test_redis_refuses_messages_without_envelope),
        ON_EVERY_LOOP(test_redis_outlives_its_server),
        ON_EVERY_LOOP(test_redis_new_rejects_bad_config),
    };
    return cmocka_run_group_tests_name("redis", tests, NULL, NULL);
}
