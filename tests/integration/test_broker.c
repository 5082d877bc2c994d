/*
 * tests/integration/test_broker.c - the broker hook of wsio/server.h: a
 * recording broker sees the first and last local subscriber of each topic
 * and every local publish and broadcast; wsio_server_deliver reaches the
 * local subscribers without going back to the broker, and drops the
 * server's own messages (node id).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

#define MAX_EVENTS 32

/* What the broker heard, one line per call: "+news", "-news",
 * "pub news 5", "pub * 5" (broadcast). */
typedef struct recorder {
    char events[MAX_EVENTS][64];
    int n;
} recorder;

static void record(recorder *r, const char *fmt, const char *topic, size_t len)
{
    assert_true(r->n < MAX_EVENTS);
    snprintf(r->events[r->n++], sizeof r->events[0], fmt, topic ? topic : "*",
             len);
}

static void on_first(wsio_server *srv, const char *topic, void *user)
{
    (void)srv;
    record(user, "+%s", topic, 0);
}

static void on_last(wsio_server *srv, const char *topic, void *user)
{
    (void)srv;
    record(user, "-%s", topic, 0);
}

static void on_publish(wsio_server *srv, const char *topic,
                       enum wsio_opcode opcode, const void *data, size_t len,
                       void *user)
{
    (void)srv;
    (void)data;
    assert_int_equal(opcode, WSIO_OP_TEXT);
    record(user, "pub %s %zu", topic, len);
}

static void on_detach(wsio_server *srv, void *user)
{
    (void)srv;
    record(user, "detach", NULL, 0);
}

static wsio_broker recording_broker(recorder *r)
{
    wsio_broker b = {.struct_size = sizeof b,
                     .on_first_subscriber = on_first,
                     .on_last_unsubscribed = on_last,
                     .on_publish = on_publish,
                     .on_detach = on_detach,
                     .user = r};
    return b;
}

static void assert_events(const recorder *r, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    assert_int_equal(r->n, n);
    for (int i = 0; i < n; i++)
        assert_string_equal(r->events[i], va_arg(ap, const char *));
    va_end(ap);
}

static void test_broker_hears_first_and_last_subscriber(void **state)
{
    env *e = env_new(state);
    recorder r = {0};
    server_state s = {.subscribe = "news"};
    wsio_server *srv = start_server(e, NULL, NULL, &s);
    wsio_broker b = recording_broker(&r);
    assert_int_equal(wsio_server_set_broker(srv, &b), 0);
    peer p[2] = {{0}};
    connect_client(e, srv, NULL, &p[0]);
    RUN_UNTIL(e, s.opens == 1, 5000);
    wsio_ws *first = s.last_open;
    connect_client(e, srv, NULL, &p[1]);
    RUN_UNTIL(e, s.opens == 2, 5000);
    /* The second subscriber of "news" is not news to the broker. */
    assert_events(&r, 1, "+news");
    assert_int_equal(wsio_ws_subscribe(first, "sports"), 0);
    assert_int_equal(wsio_ws_unsubscribe(first, "news"), 0);
    assert_events(&r, 2, "+news", "+sports");
    /* The last subscriber of "sports" closes, the last of "news" leaves. */
    assert_int_equal(wsio_ws_close(p[0].ws, WSIO_CLOSE_NORMAL, NULL, 0), 0);
    RUN_UNTIL(e, s.closes == 1, 5000);
    assert_events(&r, 3, "+news", "+sports", "-sports");
    assert_int_equal(wsio_ws_unsubscribe(s.last_open, "news"), 0);
    assert_events(&r, 4, "+news", "+sports", "-sports", "-news");
    wsio_server_free(srv);
    RUN_UNTIL(e, p[1].closed, 5000);
    env_free(e);
}

static void test_broker_attached_late_hears_existing_topics(void **state)
{
    env *e = env_new(state);
    recorder r = {0};
    server_state s = {.subscribe = "news"};
    wsio_server *srv = start_server(e, NULL, NULL, &s);
    peer p = {0};
    connect_client(e, srv, NULL, &p);
    RUN_UNTIL(e, s.opens == 1, 5000);
    wsio_broker b = recording_broker(&r);
    assert_int_equal(wsio_server_set_broker(srv, &b), 0);
    assert_events(&r, 1, "+news");
    /* Detached: it hears of that, and nothing more. */
    assert_int_equal(wsio_server_set_broker(srv, NULL), 0);
    assert_events(&r, 2, "+news", "detach");
    assert_int_equal(wsio_server_publish(srv, "news", WSIO_OP_TEXT, "x", 1), 1);
    assert_int_equal(wsio_ws_unsubscribe(s.last_open, "news"), 0);
    assert_int_equal(r.n, 2);
    wsio_server_free(srv);
    RUN_UNTIL(e, p.closed, 5000);
    env_free(e);
}

static void test_broker_gets_every_local_publish_and_broadcast(void **state)
{
    env *e = env_new(state);
    recorder r = {0};
    server_state s = {.subscribe = "news"};
    wsio_server *srv = start_server(e, NULL, NULL, &s);
    wsio_broker b = recording_broker(&r);
    assert_int_equal(wsio_server_set_broker(srv, &b), 0);
    peer p = {0};
    connect_client(e, srv, NULL, &p);
    RUN_UNTIL(e, s.opens == 1, 5000);
    assert_int_equal(wsio_server_publish(srv, "news", WSIO_OP_TEXT, "0", 1), 1);
    /* No local subscriber: other nodes may still have some. */
    assert_int_equal(wsio_server_publish(srv, "sports", WSIO_OP_TEXT, "ab", 2),
                     0);
    assert_int_equal(wsio_server_broadcast(srv, WSIO_OP_TEXT, "1", 1, NULL), 1);
    /* A message refused here is not passed on either. */
    assert_int_equal(wsio_server_publish(srv, "news", WSIO_OP_TEXT, "\xff", 1),
                     WSIO_EUTF8);
    assert_events(&r, 4, "+news", "pub news 1", "pub sports 2", "pub * 1");
    RUN_UNTIL(e, p.nmsg == 2, 5000);
    wsio_server_free(srv);
    RUN_UNTIL(e, p.closed, 5000);
    env_free(e);
}

static void test_broker_deliver_reaches_local_subscribers_once(void **state)
{
    env *e = env_new(state);
    recorder r = {0};
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.node_id = 42;
    server_state s = {.subscribe = "news"};
    wsio_server *srv = start_server(e, &cfg, NULL, &s);
    assert_true(wsio_server_node_id(srv) == 42);
    wsio_broker b = recording_broker(&r);
    assert_int_equal(wsio_server_set_broker(srv, &b), 0);
    peer p[2] = {{0}};
    for (int i = 0; i < 2; i++)
        connect_client(e, srv, NULL, &p[i]);
    RUN_UNTIL(e, s.opens == 2, 5000);
    assert_int_equal(wsio_ws_unsubscribe(s.last_open, "news"), 0);
    /* From another node: to the subscribers (and to all for a broadcast),
     * never back to the broker. Our own node's message was already here. */
    assert_int_equal(wsio_server_deliver(srv, 7, "news", WSIO_OP_TEXT, "0", 1),
                     1);
    assert_int_equal(wsio_server_deliver(srv, 42, "news", WSIO_OP_TEXT, "x", 1),
                     0);
    assert_int_equal(wsio_server_deliver(srv, 7, NULL, WSIO_OP_TEXT, "1", 1),
                     2);
    assert_int_equal(
        wsio_server_deliver(srv, 7, "news", WSIO_OP_TEXT, "\xff", 1),
        WSIO_EUTF8);
    assert_events(&r, 1, "+news");
    RUN_UNTIL(e, p[0].nmsg + p[1].nmsg == 3, 5000);
    run_for(e, 50);
    assert_int_equal(p[0].nmsg + p[1].nmsg, 3);
    /* The subscriber got "0" then "1", in order; the other only "1". */
    peer *both = p[0].nmsg == 2 ? &p[0] : &p[1];
    assert_int_equal(both->nmsg, 2);
    assert_int_equal(both->out_of_order, 0);
    wsio_server_free(srv);
    RUN_UNTIL(e, p[0].closed && p[1].closed, 5000);
    env_free(e);
}

static void test_broker_node_ids_differ_between_servers(void **state)
{
    env *e = env_new(state);
    server_state s1 = {0}, s2 = {0};
    wsio_server *a = start_server(e, NULL, NULL, &s1);
    wsio_server *b = start_server(e, NULL, NULL, &s2);
    assert_true(wsio_server_node_id(a) != 0);
    assert_true(wsio_server_node_id(a) != wsio_server_node_id(b));
    wsio_server_free(a);
    wsio_server_free(b);
    env_free(e);
}

static void test_broker_hears_detach_when_replaced_or_server_gone(void **state)
{
    env *e = env_new(state);
    recorder ra = {0}, rb = {0};
    server_state s = {.subscribe = "news"};
    wsio_server *srv = start_server(e, NULL, NULL, &s);
    wsio_broker a = recording_broker(&ra), b = recording_broker(&rb);
    assert_int_equal(wsio_server_set_broker(srv, &a), 0);
    assert_int_equal(wsio_server_set_broker(srv, &b), 0);
    assert_events(&ra, 1, "detach");
    peer p = {0};
    connect_client(e, srv, NULL, &p);
    RUN_UNTIL(e, s.opens == 1, 5000);
    /* The server frees itself at the end of a shutdown: the broker hears
     * of it after the last subscriber left, and never again. */
    assert_int_equal(wsio_server_shutdown(srv, 1000), 0);
    RUN_UNTIL(e, rb.n == 3, 5000);
    assert_events(&rb, 3, "+news", "-news", "detach");
    RUN_UNTIL(e, p.closed, 5000);
    assert_events(&ra, 1, "detach");
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_broker_hears_first_and_last_subscriber),
        ON_EVERY_LOOP(test_broker_attached_late_hears_existing_topics),
        ON_EVERY_LOOP(test_broker_gets_every_local_publish_and_broadcast),
        ON_EVERY_LOOP(test_broker_deliver_reaches_local_subscribers_once),
        ON_PARTIAL_IO(test_broker_deliver_reaches_local_subscribers_once),
        ON_EVERY_LOOP(test_broker_node_ids_differ_between_servers),
        ON_EVERY_LOOP(test_broker_hears_detach_when_replaced_or_server_gone),
    };
    return cmocka_run_group_tests_name("broker", tests, NULL, NULL);
}
