/*
 * tests/integration/test_topics.c - per-topic slow-consumer policies of
 * wsio/server.h: a subscriber that stops reading (a raw socket with a
 * small receive buffer) and a fast one on the same topic. For each policy,
 * what the slow one reads when it finally does, that the fast one gets
 * everything, and that the counters say exactly what happened. Also: a
 * topic's policy and counters outlive its subscribers, and a broker's
 * deliveries follow the policy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define TOPIC "ticks"
#define MARK (16 * 1024) /* max_output_bytes */
#define MSG_LEN 1024     /* each message: "<seq> " and padding */
#define MAX_ROUNDS 20000
#define ACTED 40 /* the policy acted this often: enough */

/* What the slow socket read, decoded. */
typedef struct slow_read {
    unsigned long *seq; /* sequence numbers of its messages, in order */
    size_t n, cap;
    int close_code; /* of a close frame, or -1 */
} slow_read;

/* Publish message seq on TOPIC (through the broker entry point when
 * deliver); returns the number of subscribers it was queued on. */
static int publish_seq(wsio_server *srv, unsigned long seq, int deliver)
{
    static char msg[MSG_LEN];
    memset(msg, '.', sizeof msg);
    int n = snprintf(msg, sizeof msg, "%lu ", seq);
    msg[n] = '.';
    if (deliver)
        return wsio_server_deliver(srv, wsio_server_node_id(srv) + 1, TOPIC,
                                   WSIO_OP_TEXT, msg, sizeof msg);
    return wsio_server_publish(srv, TOPIC, WSIO_OP_TEXT, msg, sizeof msg);
}

/* Decode the server's (unmasked) frames in buf[0, len). */
static void decode_frames(const uint8_t *buf, size_t len, slow_read *r)
{
    size_t pos = 0;
    r->close_code = -1;
    while (pos < len) {
        wsio_frame_header h;
        ssize_t hl = wsio_frame_header_decode(buf + pos, len - pos, &h);
        assert_true(hl >= 2);
        assert_int_equal(h.masked, 0);
        assert_true(h.payload_len <= len - pos - (size_t)hl);
        const uint8_t *p = buf + pos + hl;
        pos += (size_t)hl + (size_t)h.payload_len;
        if (h.opcode == WSIO_OP_CLOSE) {
            assert_true(h.payload_len >= 2);
            r->close_code = p[0] << 8 | p[1];
            continue;
        }
        assert_int_equal(h.opcode, WSIO_OP_TEXT);
        assert_int_equal(h.payload_len, MSG_LEN);
        assert_int_equal(r->close_code, -1); /* nothing after the close */
        if (r->n == r->cap) {
            r->cap = r->cap ? r->cap * 2 : 256;
            r->seq = realloc(r->seq, r->cap * sizeof *r->seq);
            assert_non_null(r->seq);
        }
        r->seq[r->n++] = strtoul((const char *)p, NULL, 10);
    }
    assert_int_equal(pos, len);
}

/* Read the slow socket until it has been quiet for 300 ms or ends,
 * turning the loop so the server can flush what it queued. */
static void read_slow(env *e, int fd, slow_read *r)
{
    int big = 1 << 20; /* read at full speed now */
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big),
                     0);
    size_t cap = 1 << 20, len = 0;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    uint64_t quiet = now_ms();
    while (now_ms() - quiet < 300) {
        env_turn(e, 5);
        ssize_t n;
        while ((n = raw_read(fd, (char *)buf + len, cap - len)) > 0) {
            len += (size_t)n;
            quiet = now_ms();
            if (len == cap) {
                cap *= 2;
                buf = realloc(buf, cap);
                assert_non_null(buf);
            }
        }
        if (n == 0)
            break;
    }
    decode_frames(buf, len, r);
    free(buf);
}

/* The last run of consecutive numbers in r (they end with the last one). */
static size_t last_run(const slow_read *r)
{
    size_t k = 1;
    while (k < r->n && r->seq[r->n - k - 1] + 1 == r->seq[r->n - k])
        k++;
    return r->n ? k : 0;
}

static void assert_increasing(const slow_read *r)
{
    for (size_t i = 1; i < r->n; i++)
        assert_true(r->seq[i - 1] < r->seq[i]);
}

/* How often the policy has acted so far. */
static uint64_t acted(const wsio_topic_stats *ts)
{
    return ts->dropped_newest + ts->dropped_oldest + ts->replaced +
           ts->disconnects;
}

/*
 * One slow and one fast subscriber of TOPIC with policy (set before anyone
 * subscribes) on a server with backpressure; publish until the policy has
 * acted ACTED times (or disconnected the slow one), then read the slow
 * socket and check what it got against the counters.
 */
static void slow_topic(void **state, enum wsio_slow_policy policy,
                       enum wsio_backpressure_policy backpressure, int deliver)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.max_output_bytes = MARK;
    cfg.backpressure = backpressure;
    server_state s = {.subscribe = TOPIC};
    wsio_server *srv = start_server(e, &cfg, NULL, &s);
    assert_int_equal(wsio_server_set_topic_policy(srv, TOPIC, policy), 0);

    int fd = raw_ws_connect_rcvbuf(e, wsio_server_port(srv), 4096);
    RUN_UNTIL(e, s.opens == 1, 5000);
    wsio_ws *slow = s.last_open;
    peer fast = {0};
    connect_client(e, srv, NULL, &fast);
    RUN_UNTIL(e, s.opens == 2, 5000);

    enum wsio_slow_policy eff = policy;
    if (policy == WSIO_SLOW_DEFAULT)
        eff = backpressure == WSIO_BACKPRESSURE_CLOSE ? WSIO_SLOW_DISCONNECT
                                                      : WSIO_SLOW_DROP_NEWEST;
    wsio_topic_stats ts;
    unsigned long sent = 0;
    unsigned long after_close = 0;
    while (sent < MAX_ROUNDS && after_close < 20) {
        assert_true(publish_seq(srv, sent, deliver) >= 1);
        sent++;
        RUN_UNTIL(e, fast.nmsg == sent, 5000);
        assert_int_equal(wsio_server_get_topic_stats(srv, TOPIC, &ts), 0);
        if (ts.disconnects) {
            after_close++; /* keep publishing: closed once, counted once */
            continue;
        }
        /* The slow one holds at most the mark, plus the message that went
         * over it (and for LATEST_ONLY, one frame partly written). */
        assert_true(wsio_ws_buffered_amount(slow) <= MARK + 2 * (MSG_LEN + 4));
        if (acted(&ts) >= ACTED)
            break;
    }
    assert_int_equal(fast.out_of_order, 0);
    assert_true(acted(&ts) > 0);

    slow_read r = {0};
    read_slow(e, fd, &r);
    assert_increasing(&r);
    assert_true(r.n > 0);
    assert_int_equal(r.seq[0], 0);
    assert_int_equal(wsio_server_get_topic_stats(srv, TOPIC, &ts), 0);
    wsio_server_stats st;
    wsio_server_get_stats(srv, &st);
    assert_int_equal(ts.published, sent);
    assert_int_equal(ts.policy, policy);
    uint64_t slow_queued = ts.queued - sent; /* the fast one got all */
    switch (eff) {
    case WSIO_SLOW_DROP_NEWEST:
        /* The first messages, none missing; the rest never queued. */
        assert_int_equal(last_run(&r), r.n);
        assert_int_equal(r.n, slow_queued);
        assert_int_equal(ts.dropped_newest, sent - r.n);
        assert_int_equal(st.messages_dropped, ts.dropped_newest);
        assert_int_equal(ts.dropped_oldest + ts.replaced + ts.disconnects, 0);
        break;
    case WSIO_SLOW_DROP_OLDEST:
        /* Every message was queued; the missing ones were removed, and
         * the slow one ends with the last ones, contiguous. */
        assert_int_equal(slow_queued, sent);
        assert_int_equal(r.seq[r.n - 1], sent - 1);
        assert_int_equal(ts.dropped_oldest, sent - r.n);
        assert_true(last_run(&r) >= MARK / (MSG_LEN + 4));
        assert_int_equal(st.messages_dropped_oldest, ts.dropped_oldest);
        assert_int_equal(ts.dropped_newest + ts.replaced + ts.disconnects, 0);
        break;
    case WSIO_SLOW_LATEST_ONLY:
        assert_int_equal(slow_queued, sent);
        assert_int_equal(r.seq[r.n - 1], sent - 1);
        assert_int_equal(ts.replaced, sent - r.n);
        assert_int_equal(st.messages_replaced, ts.replaced);
        assert_int_equal(ts.dropped_newest + ts.dropped_oldest + ts.disconnects,
                         0);
        break;
    default:
        /* The first messages, then the close: 1008. */
        assert_int_equal(last_run(&r), r.n);
        assert_int_equal(r.close_code, WSIO_CLOSE_POLICY_VIOLATION);
        assert_int_equal(ts.disconnects, 1);
        assert_int_equal(st.slow_disconnects, 1);
        assert_int_equal(r.n, slow_queued);
        assert_int_equal(ts.dropped_newest + ts.dropped_oldest + ts.replaced,
                         0);
        break;
    }
    if (eff != WSIO_SLOW_DISCONNECT)
        assert_int_equal(r.close_code, -1);
    assert_int_equal(fast.closed, 0);
    free(r.seq);
    close(fd);
    wsio_server_free(srv);
    RUN_UNTIL(e, fast.closed == 1, 5000);
    env_free(e);
}

static void test_topics_drop_newest_slow_one_reads_the_first(void **state)
{
    slow_topic(state, WSIO_SLOW_DROP_NEWEST, WSIO_BACKPRESSURE_CLOSE, 0);
}

static void test_topics_drop_oldest_slow_one_reads_the_last(void **state)
{
    slow_topic(state, WSIO_SLOW_DROP_OLDEST, WSIO_BACKPRESSURE_DROP, 0);
}

static void test_topics_latest_only_slow_one_ends_with_latest(void **state)
{
    slow_topic(state, WSIO_SLOW_LATEST_ONLY, WSIO_BACKPRESSURE_DROP, 0);
}

static void test_topics_disconnect_closes_slow_one_1008(void **state)
{
    slow_topic(state, WSIO_SLOW_DISCONNECT, WSIO_BACKPRESSURE_DROP, 0);
}

static void test_topics_default_follows_server_policy(void **state)
{
    slow_topic(state, WSIO_SLOW_DEFAULT, WSIO_BACKPRESSURE_DROP, 0);
    slow_topic(state, WSIO_SLOW_DEFAULT, WSIO_BACKPRESSURE_CLOSE, 0);
}

static void test_topics_broker_deliveries_follow_the_policy(void **state)
{
    slow_topic(state, WSIO_SLOW_DROP_OLDEST, WSIO_BACKPRESSURE_DROP, 1);
    slow_topic(state, WSIO_SLOW_LATEST_ONLY, WSIO_BACKPRESSURE_DROP, 1);
}

/* Direct sends and broadcasts are never removed by a topic's policy. */
static void test_topics_latest_only_keeps_other_output(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.max_output_bytes = MARK;
    server_state s = {.subscribe = TOPIC};
    wsio_server *srv = start_server(e, &cfg, NULL, &s);
    assert_int_equal(
        wsio_server_set_topic_policy(srv, TOPIC, WSIO_SLOW_LATEST_ONLY), 0);
    int fd = raw_ws_connect(e, wsio_server_port(srv));
    RUN_UNTIL(e, s.opens == 1, 5000);
    wsio_ws *ws = s.last_open;
    /* Without turning the loop nothing is written: queue a direct send,
     * a broadcast and topic messages over the mark. */
    static char big[MARK];
    memset(big, 'd', sizeof big);
    memcpy(big, "9000 ", 5);
    assert_true(wsio_ws_send(ws, WSIO_OP_TEXT, big, MSG_LEN) >= 0);
    for (unsigned long i = 0; i < 40; i++) {
        assert_int_equal(publish_seq(srv, i, 0), 1);
        if (i == 10) {
            memcpy(big, "9001 ", 5);
            assert_int_equal(
                wsio_server_broadcast(srv, WSIO_OP_TEXT, big, MSG_LEN, NULL),
                1);
        }
    }
    wsio_topic_stats ts;
    assert_int_equal(wsio_server_get_topic_stats(srv, TOPIC, &ts), 0);
    assert_int_equal(ts.queued, 40);
    assert_true(ts.replaced > 0);
    slow_read r = {0};
    read_slow(e, fd, &r);
    /* The direct send, the topic messages that fit under the mark, the
     * broadcast in its place, and the latest value last. */
    assert_int_equal(r.seq[0], 9000);
    int broadcast_seen = 0;
    for (size_t i = 1; i < r.n; i++)
        broadcast_seen += r.seq[i] == 9001;
    assert_int_equal(broadcast_seen, 1);
    assert_int_equal(r.seq[r.n - 1], 39);
    assert_int_equal(r.n, 2 + 40 - ts.replaced);
    free(r.seq);
    close(fd);
    wsio_server_free(srv);
    env_free(e);
}

/* A policy keeps its topic, and the topic its counters, without
 * subscribers; the broker still hears only of topics with subscribers. */
static void test_topics_policy_outlives_subscribers(void **state)
{
    env *e = env_new(state);
    server_state s = {0};
    wsio_server *srv = start_server(e, NULL, NULL, &s);
    wsio_topic_stats ts;
    assert_int_equal(
        wsio_server_set_topic_policy(srv, NULL, WSIO_SLOW_DROP_OLDEST),
        WSIO_EINVAL);
    assert_int_equal(
        wsio_server_set_topic_policy(srv, "a", (enum wsio_slow_policy)9),
        WSIO_EINVAL);
    assert_int_equal(wsio_server_get_topic_stats(srv, NULL, &ts), WSIO_EINVAL);
    /* Unknown: zeros. */
    ts.published = 7;
    assert_int_equal(wsio_server_get_topic_stats(srv, "a", &ts), 0);
    assert_int_equal(ts.published, 0);
    assert_int_equal(ts.policy, WSIO_SLOW_DEFAULT);
    /* A default-policy topic without subscribers is not kept. */
    assert_int_equal(wsio_server_set_topic_policy(srv, "a", WSIO_SLOW_DEFAULT),
                     0);
    assert_int_equal(wsio_server_publish(srv, "a", WSIO_OP_TEXT, "x", 1), 0);
    assert_int_equal(wsio_server_get_topic_stats(srv, "a", &ts), 0);
    assert_int_equal(ts.published, 0);

    assert_int_equal(
        wsio_server_set_topic_policy(srv, "a", WSIO_SLOW_LATEST_ONLY), 0);
    assert_int_equal(wsio_server_publish(srv, "a", WSIO_OP_TEXT, "x", 1), 0);
    peer p = {0};
    connect_client(e, srv, NULL, &p);
    RUN_UNTIL(e, s.opens == 1, 5000);
    assert_int_equal(wsio_ws_subscribe(s.last_open, "a"), 0);
    assert_int_equal(wsio_server_publish(srv, "a", WSIO_OP_TEXT, "0", 1), 1);
    RUN_UNTIL(e, p.nmsg == 1, 5000);
    assert_int_equal(wsio_server_get_topic_stats(srv, "a", &ts), 0);
    assert_int_equal(ts.subscribers, 1);
    assert_int_equal(ts.published, 2);
    assert_int_equal(ts.queued, 1);
    /* The subscriber leaves: policy and counters stay. */
    assert_int_equal(wsio_ws_unsubscribe(s.last_open, "a"), 0);
    assert_int_equal(wsio_server_get_topic_stats(srv, "a", &ts), 0);
    assert_int_equal(ts.subscribers, 0);
    assert_int_equal(ts.published, 2);
    assert_int_equal(ts.policy, WSIO_SLOW_LATEST_ONLY);
    /* Back to the default: forgotten. */
    assert_int_equal(wsio_server_set_topic_policy(srv, "a", WSIO_SLOW_DEFAULT),
                     0);
    assert_int_equal(wsio_server_get_topic_stats(srv, "a", &ts), 0);
    assert_int_equal(ts.published, 0);
    /* Kept topics are freed with the server (env_free checks leaks). */
    assert_int_equal(
        wsio_server_set_topic_policy(srv, "b", WSIO_SLOW_DISCONNECT), 0);
    wsio_server_free(srv);
    RUN_UNTIL(e, p.closed == 1, 5000);
    env_free(e);
}

/* After our close frame is queued nothing more may follow it, so a
 * publish must not take the slow one's queued messages back either: they
 * still reach it, before the close. */
static void test_topics_drop_oldest_evicts_nothing_after_close(void **state)
{
    env *e = env_new(state);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.max_output_bytes = MARK;
    server_state s = {.subscribe = TOPIC};
    wsio_server *srv = start_server(e, &cfg, NULL, &s);
    assert_int_equal(
        wsio_server_set_topic_policy(srv, TOPIC, WSIO_SLOW_DROP_OLDEST), 0);
    int fd = raw_ws_connect_rcvbuf(e, wsio_server_port(srv), 4096);
    RUN_UNTIL(e, s.opens == 1, 5000);
    wsio_ws *slow = s.last_open;
    wsio_topic_stats ts = {0};
    unsigned long sent = 0;
    while (sent < MAX_ROUNDS && ts.dropped_oldest == 0) {
        assert_int_equal(publish_seq(srv, sent++, 0), 1);
        run_for(e, 1);
        assert_int_equal(wsio_server_get_topic_stats(srv, TOPIC, &ts), 0);
    }
    assert_true(ts.dropped_oldest > 0);
    assert_int_equal(wsio_ws_close(slow, WSIO_CLOSE_NORMAL, NULL, 0), 0);
    uint64_t dropped = ts.dropped_oldest;
    assert_int_equal(publish_seq(srv, sent, 0), 0); /* refused: closing */
    assert_int_equal(wsio_server_get_topic_stats(srv, TOPIC, &ts), 0);
    assert_int_equal(ts.dropped_oldest, dropped);
    slow_read r = {0};
    read_slow(e, fd, &r);
    assert_true(r.n > 0);
    assert_int_equal(r.seq[r.n - 1], sent - 1); /* the last before close */
    assert_int_equal(r.close_code, WSIO_CLOSE_NORMAL);
    free(r.seq);
    close(fd);
    wsio_server_free(srv);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_topics_drop_newest_slow_one_reads_the_first),
        ON_EVERY_LOOP(test_topics_drop_oldest_slow_one_reads_the_last),
        ON_EVERY_LOOP(test_topics_latest_only_slow_one_ends_with_latest),
        ON_EVERY_LOOP(test_topics_disconnect_closes_slow_one_1008),
        ON_EVERY_LOOP(test_topics_default_follows_server_policy),
        ON_EVERY_LOOP(test_topics_broker_deliveries_follow_the_policy),
        ON_EVERY_LOOP(test_topics_latest_only_keeps_other_output),
        ON_EVERY_LOOP(test_topics_policy_outlives_subscribers),
        ON_EVERY_LOOP(test_topics_drop_oldest_evicts_nothing_after_close),
    };
    return cmocka_run_group_tests_name("topics", tests, NULL, NULL);
}
