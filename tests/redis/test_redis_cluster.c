/*
 * tests/redis/test_redis_cluster.c - libwsio-redis on a Redis Cluster
 * (redis+cluster://, sharded pub/sub) of the test's own: three masters on
 * free loopback ports, made with redis-cli --cluster create and killed by
 * PID at the end (and with the test process, by PDEATHSIG, on a failure).
 *
 * Two servers exchange WSIO_CLUSTER_MESSAGES messages (default 100,000)
 * on 50 topics; every one arrives once, in each publisher's order, and
 * each channel exists only on the shard that owns its slot (PUBSUB
 * SHARDCHANNELS on every node). One topic's shard is then killed and
 * started again: its topics' publishes are dropped and counted meanwhile
 * and flow again once it is back; the other topics lose nothing. Last, a
 * slot moved under a server with a stale map: its publish gets -MOVED and
 * is retried on the new owner; and when the last local subscriber
 * leaves, every topic channel goes from its shard.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "harness.h"
#include "redis/cluster_reply.h"
#include "redis_server.h"
#include "wsio/redis.h"
#include "wsio/redis_stream.h"

#define NODES 3
#define TOPICS 50

/* ---- the cluster (made once for every test) ---- */

typedef struct cluster {
    char dir[64];
    char conf[NODES][96];
    redis_proc node[NODES];
    int up;
} cluster;

static cluster the_cluster;

/* A blocking connection to node i, or NULL. */
static redisContext *node_conn(int i)
{
    struct timeval tv = {1, 0};
    redisContext *c =
        redisConnectWithTimeout("127.0.0.1", the_cluster.node[i].port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* One command on node i; the reply (the caller frees it) or NULL. */
static redisReply *node_cmd(int i, const char *fmt, ...)
{
    redisContext *c = node_conn(i);
    if (!c)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    return r;
}

static int node_state_ok(int i)
{
    redisReply *r = node_cmd(i, "CLUSTER INFO");
    int ok = r && r->type == REDIS_REPLY_STRING &&
             strstr(r->str, "cluster_state:ok") != NULL;
    freeReplyObject(r);
    return ok;
}

static int run_quiet(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void cluster_stop(void)
{
    for (int i = 0; i < NODES; i++)
        redis_proc_stop(&the_cluster.node[i], 1);
    for (int i = 0; i < NODES; i++)
        unlink(the_cluster.conf[i]);
    if (the_cluster.dir[0])
        rmdir(the_cluster.dir);
}

static int wait_all_ok(void)
{
    for (int tries = 0; tries < 1000; tries++) {
        int ok = 1;
        for (int i = 0; i < NODES && ok; i++)
            ok = node_state_ok(i);
        if (ok)
            return 0;
        usleep(10 * 1000);
    }
    return -1;
}

/* 1 when nothing listens on 127.0.0.1:port now. */
static int port_free(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* A free port whose cluster bus port (port + 10000) is free too. */
static uint16_t cluster_port(void)
{
    for (int tries = 0; tries < 1000; tries++) {
        uint16_t p = redis_free_port();
        if (p && p <= 55535 && port_free(p + 10000u))
            return p;
    }
    return 0;
}

/* Sharded pub/sub came with Redis 7: an older redis-server skips. */
static int redis_server_major(void)
{
    FILE *f = popen("redis-server --version 2>/dev/null", "r");
    char line[256] = "";
    if (!f)
        return 0;
    if (!fgets(line, sizeof line, f))
        line[0] = '\0';
    pclose(f);
    const char *v = strstr(line, "v=");
    return v ? atoi(v + 2) : 0;
}

static int cluster_setup(void **state)
{
    (void)state;
    int major = redis_server_major();
    if (major < 7) {
        printf("# skipped: redis-server %d has no sharded pub/sub (7.0+)\n",
               major);
        return 0;
    }
    snprintf(the_cluster.dir, sizeof the_cluster.dir,
             "/tmp/wsio-cluster-XXXXXX");
    if (!mkdtemp(the_cluster.dir))
        return -1;
    char addr[NODES][32];
    for (int i = 0; i < NODES; i++) {
        snprintf(the_cluster.conf[i], sizeof the_cluster.conf[i],
                 "%s/nodes-%d.conf", the_cluster.dir, i);
        the_cluster.node[i].cluster_conf = the_cluster.conf[i];
        the_cluster.node[i].port = cluster_port();
        if (redis_proc_start(&the_cluster.node[i]) != 0) {
            cluster_stop();
            return -1;
        }
        snprintf(addr[i], sizeof addr[i], "127.0.0.1:%u",
                 (unsigned)the_cluster.node[i].port);
    }
    char *argv[] = {
        "redis-cli", "--cluster",          "create", addr[0],         addr[1],
        addr[2],     "--cluster-replicas", "0",      "--cluster-yes", NULL};
    if (run_quiet(argv) != 0 || wait_all_ok() != 0) {
        fprintf(stderr, "redis-cli --cluster create failed\n");
        cluster_stop();
        return -1;
    }
    the_cluster.up = 1;
    return 0;
}

static int cluster_teardown(void **state)
{
    (void)state;
    cluster_stop();
    return 0;
}

/* The node (0..NODES-1) that owns slot, by node 0's CLUSTER SLOTS (or a
 * live node's), or -1. */
static int owner_of_slot(long long slot)
{
    for (int from = 0; from < NODES; from++) {
        redisReply *r = node_cmd(from, "CLUSTER SLOTS");
        int owner = -1;
        for (size_t i = 0;
             r && r->type == REDIS_REPLY_ARRAY && i < r->elements && owner < 0;
             i++) {
            redisReply *e = r->element[i];
            if (slot < e->element[0]->integer || slot > e->element[1]->integer)
                continue;
            long long port = e->element[2]->element[1]->integer;
            for (int n = 0; n < NODES; n++)
                if (the_cluster.node[n].port == port)
                    owner = n;
        }
        freeReplyObject(r);
        if (owner >= 0)
            return owner;
    }
    return -1;
}

static long long keyslot(const char *channel)
{
    for (int i = 0; i < NODES; i++) {
        redisReply *r = node_cmd(i, "CLUSTER KEYSLOT %s", channel);
        long long s = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
        freeReplyObject(r);
        if (s >= 0)
            return s;
    }
    return -1;
}

static int owner_of_channel(const char *channel)
{
    return owner_of_slot(keyslot(channel));
}

/* Each test's channels under a prefix of their own ("c1:", "c2:" ...),
 * so that what a failed test leaves subscribed cannot touch the next. */
static char prefix[16];
static unsigned prefix_runs;

static void new_prefix(void)
{
    snprintf(prefix, sizeof prefix, "c%u:", ++prefix_runs);
}

/* Topic k's channel (k < 0: the broadcast channel) into buf (64 bytes). */
static const char *channel(int k, char *buf)
{
    if (k < 0)
        snprintf(buf, 64, "%sb", prefix);
    else
        snprintf(buf, 64, "%st:t%d", prefix, k);
    return buf;
}

/* ---- the replies read (no cluster needed) ---- */

static int moved_ok(const char *s, size_t len, wsio__rmoved *out)
{
    /* A heap copy of exactly len bytes: ASan sees a read past them. */
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, s, len);
    int ok = wsio__rcluster_parse_moved(copy, len, out);
    free(copy);
    return ok;
}

static void test_moved_parse(void **state)
{
    (void)state;
    wsio__rmoved m;
    assert_true(moved_ok("MOVED 3999 127.0.0.1:6381", 25, &m));
    assert_int_equal(m.slot, 3999);
    assert_string_equal(m.host, "127.0.0.1");
    assert_int_equal(m.port, 6381);
    assert_true(moved_ok("MOVED 0 ::1:7000", 16, &m)); /* IPv6, no brackets */
    assert_string_equal(m.host, "::1");
    assert_int_equal(m.port, 7000);
    /* Redis 7, an unknown endpoint: the node asked, on that port. */
    assert_true(moved_ok("MOVED 16383 :6380", 17, &m));
    assert_int_equal(m.slot, 16383);
    assert_string_equal(m.host, "");
    assert_int_equal(m.port, 6380);
    /* Not a MOVED, or not a well-formed one. */
    static const char *const bad[] = {
        "ASK 1 h:1",
        "MOVED",
        "MOVED 1",
        "MOVED 1 h",
        "MOVED 16384 h:1",
        "MOVED -1 h:1",
        "MOVED 1 h:0",
        "MOVED 1 h:65536",
        "MOVED 1 h:80x",
        "MOVED 1 h:7000 more",
        "MOVED x h:1",
        "MOVED 1 h:",
        "MOVED 99999999999999999999 h:1",
        "MOVED 1 ?:7000",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (moved_ok(bad[i], strlen(bad[i]), &m))
            fail_msg("accepted \"%s\"", bad[i]);
    /* Only len bytes are read: the port ends where the error does. */
    assert_true(moved_ok("MOVED 1 h:7000", 12, &m));
    assert_int_equal(m.port, 70);
    /* A host too long for the table is refused, not cut (a cut one could
     * leave a wrong address that parses). */
    char lng[400];
    int n = snprintf(lng, sizeof lng, "MOVED 1 a:1%0300d:7000", 0);
    assert_false(moved_ok(lng, (size_t)n, &m));
}

/* A reply element of the given type (freed with freeReplyObject). */
static redisReply *el(int type)
{
    redisReply *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->type = type;
    return r;
}

static redisReply *int_el(long long v)
{
    redisReply *r = el(REDIS_REPLY_INTEGER);
    r->integer = v;
    return r;
}

static redisReply *str_el(const char *s, size_t len)
{
    redisReply *r = el(REDIS_REPLY_STRING);
    r->str = malloc(len + 1);
    assert_non_null(r->str);
    memcpy(r->str, s, len);
    r->str[len] = '\0';
    r->len = len;
    return r;
}

static redisReply *arr_el(size_t n, ...)
{
    redisReply *r = el(REDIS_REPLY_ARRAY);
    r->element = calloc(n ? n : 1, sizeof *r->element);
    assert_non_null(r->element);
    r->elements = n;
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        r->element[i] = va_arg(ap, redisReply *);
    va_end(ap);
    return r;
}

/* [from, to, [host, port]] */
static redisReply *range_el(long long from, long long to, redisReply *host,
                            long long port)
{
    return arr_el(3, int_el(from), int_el(to), arr_el(2, host, int_el(port)));
}

static void test_slots_parse(void **state)
{
    (void)state;
    wsio__rslots s;
    redisReply *e = range_el(0, 5460, str_el("127.0.0.1", 9), 7000);
    assert_true(wsio__rcluster_parse_slots(e, &s));
    assert_int_equal(s.from, 0);
    assert_int_equal(s.to, 5460);
    assert_string_equal(s.host, "127.0.0.1");
    assert_int_equal(s.port, 7000);
    freeReplyObject(e);
    /* Redis 7, an unknown endpoint (NULL): the node asked, on that port. */
    e = range_el(5461, 16383, el(REDIS_REPLY_NIL), 7001);
    assert_true(wsio__rcluster_parse_slots(e, &s));
    assert_string_equal(s.host, "");
    assert_int_equal(s.port, 7001);
    freeReplyObject(e);
    char lng[300];
    memset(lng, 'a', sizeof lng);
    redisReply *bad[] = {
        range_el(5, 4, str_el("h", 1), 1),     /* from > to */
        range_el(-1, 4, str_el("h", 1), 1),    /* from < 0 */
        range_el(0, 16384, str_el("h", 1), 1), /* past the last slot */
        range_el(0, 1, str_el("h", 1), 0),     /* port 0 */
        range_el(0, 1, str_el("h", 1), 65536),
        range_el(0, 1, int_el(1), 1),               /* host not a string */
        range_el(0, 1, str_el("h\0x", 3), 1),       /* a NUL in the host */
        range_el(0, 1, str_el(lng, sizeof lng), 1), /* host too long */
        range_el(0, 1, str_el("?", 1), 1),          /* Redis' "no hostname" */
        arr_el(2, int_el(0), int_el(1)),
        arr_el(3, int_el(0), int_el(1), arr_el(1, str_el("h", 1))),
        arr_el(3, int_el(0), str_el("1", 1),
               arr_el(2, str_el("h", 1), int_el(1))),
        arr_el(3, int_el(0), int_el(1), str_el("h:1", 3)),
        str_el("0 1 h 1", 7),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (wsio__rcluster_parse_slots(bad[i], &s))
            fail_msg("accepted entry %zu", i);
        freeReplyObject(bad[i]);
    }
}

/* ---- a client recording each publisher's sequence per topic ---- */

typedef struct tally {
    unsigned long n;
    long long last[2][TOPICS]; /* per publisher, topic: last seq seen */
    unsigned long count[2][TOPICS];
    int out_of_order, bad;
    wsio_ws *ws;
} tally;

static void t_on_open(wsio_ws *ws, void *user)
{
    tally *t = user;
    t->ws = ws;
}

/* "P T SEQ": publisher 1 or 2, topic, its sequence number. */
static int t_on_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)ws;
    tally *t = user;
    char buf[48];
    size_t n = m->len < sizeof buf - 1 ? m->len : sizeof buf - 1;
    memcpy(buf, m->data, n);
    buf[n] = '\0';
    unsigned p, topic;
    long long seq;
    t->n++;
    if (sscanf(buf, "%u %u %lld", &p, &topic, &seq) != 3 || p < 1 || p > 2 ||
        topic >= TOPICS) {
        t->bad++;
        return 0;
    }
    if (seq <= t->last[p - 1][topic])
        t->out_of_order++;
    t->last[p - 1][topic] = seq;
    t->count[p - 1][topic]++;
    return 0;
}

static const wsio_ws_callbacks tally_cb = {.on_open = t_on_open,
                                           .on_message = t_on_message};

static void tally_init(tally *t)
{
    memset(t, 0, sizeof *t);
    for (int p = 0; p < 2; p++)
        for (int k = 0; k < TOPICS; k++)
            t->last[p][k] = -1;
}

/* ---- one instance: a server, its Redis module and one client ---- */

typedef struct instance {
    server_state s;
    wsio_server *srv;
    wsio_redis *r;
    tally t;
    long long seq[TOPICS]; /* next to publish */
} instance;

/* The modules' first retry delay (a test that must not be saved by a
 * retry sets it longer). */
static uint32_t retry_ms = 20;

static void topic_name(int k, char *buf)
{
    sprintf(buf, "t%d", k);
}

static void instance_start(env *e, instance *in, int subscribe)
{
    memset(in, 0, sizeof *in);
    tally_init(&in->t);
    in->srv = start_server(e, NULL, NULL, &in->s);
    char url[128];
    snprintf(url, sizeof url, "redis+cluster://127.0.0.1:%u,127.0.0.1:%u",
             (unsigned)the_cluster.node[0].port,
             (unsigned)the_cluster.node[1].port);
    wsio_redis_config rc;
    wsio_redis_config_default(&rc);
    rc.url = url;
    rc.prefix = prefix;
    rc.backoff_min_ms = retry_ms;
    rc.backoff_max_ms = 10 * retry_ms;
    rc.mem = &e->tm.mem;
    int err = 0;
    in->r = wsio_redis_new(in->srv, &rc, &err);
    assert_non_null(in->r);
    char curl[64];
    snprintf(curl, sizeof curl, "ws://127.0.0.1:%u/",
             (unsigned)wsio_server_port(in->srv));
    assert_non_null(
        wsio_client_connect(e->loop, curl, NULL, &tally_cb, &in->t, &err));
    RUN_UNTIL(e, in->s.opens == 1 && in->t.ws, 5000);
    for (int k = 0; k < TOPICS && subscribe; k++) {
        char name[16];
        topic_name(k, name);
        assert_int_equal(wsio_ws_subscribe(in->s.last_open, name), 0);
    }
}

static void instance_free(instance *in)
{
    wsio_redis_free(in->r);
    wsio_server_free(in->srv);
}

static wsio_redis_stats stats_of(const instance *in)
{
    wsio_redis_stats st;
    wsio_redis_get_stats(in->r, &st);
    return st;
}

static int ready(const instance *in, uint64_t topics)
{
    wsio_redis_stats st = stats_of(in);
    return st.connected && st.topics == topics;
}

/* One message on topic k from in (publisher p). */
static void publish_one(instance *in, int p, int k)
{
    char name[16], msg[48];
    topic_name(k, name);
    int len = snprintf(msg, sizeof msg, "%d %d %lld", p, k, in->seq[k]++);
    assert_true(wsio_server_publish(in->srv, name, WSIO_OP_TEXT, msg,
                                    (size_t)len) >= 0);
}

static unsigned long messages_wanted(void)
{
    const char *v = getenv("WSIO_CLUSTER_MESSAGES");
    unsigned long n = v ? strtoul(v, NULL, 10) : 100000;
    return n < 2 * TOPICS ? 2 * TOPICS : n - n % (2 * TOPICS);
}

/* Every channel (50 topics and the broadcast channel) is on exactly the
 * node that owns its slot, subscribed by both instances; no plain pub/sub
 * channel anywhere. */
static void assert_channels_on_their_shards(void)
{
    int found = 0;
    for (int i = 0; i < NODES; i++) {
        redisReply *r = node_cmd(i, "PUBSUB SHARDCHANNELS %s*", prefix);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        for (size_t j = 0; j < r->elements; j++) {
            const char *ch = r->element[j]->str;
            assert_int_equal(owner_of_channel(ch), i);
            redisReply *n = node_cmd(i, "PUBSUB SHARDNUMSUB %s", ch);
            assert_non_null(n);
            assert_int_equal(n->element[1]->integer, 2);
            freeReplyObject(n);
            found++;
        }
        freeReplyObject(r);
        r = node_cmd(i, "PUBSUB CHANNELS");
        assert_non_null(r);
        assert_int_equal(r->elements, 0);
        freeReplyObject(r);
    }
    assert_int_equal(found, TOPICS + 1);
}

/* ---- tests ---- */

static void test_cluster_exchange_then_one_shard_restarts(void **state)
{
    if (!the_cluster.up)
        skip();
    env *e = env_new(state);
    new_prefix();
    instance a, b;
    instance_start(e, &a, 1);
    instance_start(e, &b, 1);
    RUN_UNTIL(e, ready(&a, TOPICS) && ready(&b, TOPICS), 10000);
    assert_int_equal(stats_of(&a).nodes, NODES);
    assert_channels_on_their_shards();

    /* The exchange: batches from both, each waited for, so that no more
     * than a batch is ever in flight (max_in_flight is not the subject). */
    unsigned long total = messages_wanted(), batch = 500, sent = 0;
    uint64_t t0 = now_ms();
    while (sent < total) {
        for (unsigned long i = 0; i < batch / 2; i++) {
            publish_one(&a, 1, (int)((sent / 2 + i) % TOPICS));
            publish_one(&b, 2, (int)((sent / 2 + i) % TOPICS));
        }
        sent += batch;
        RUN_UNTIL(e, a.t.n == sent && b.t.n == sent, 10000);
    }
    printf("# %lu messages published on %d topics (%lu by each instance, "
           "each through Redis to the other), %lu delivered, in %llu ms\n",
           total, TOPICS, total / 2, total * 2,
           (unsigned long long)(now_ms() - t0));
    run_for(e, 50);
    assert_int_equal(a.t.n, total); /* half local, half from b */
    assert_int_equal(b.t.n, total);
    assert_int_equal(a.t.out_of_order + b.t.out_of_order, 0);
    assert_int_equal(a.t.bad + b.t.bad, 0);
    assert_int_equal(stats_of(&a).published, total / 2);
    assert_int_equal(stats_of(&a).received, total / 2);
    assert_int_equal(stats_of(&b).received, total / 2);
    assert_int_equal(stats_of(&a).publish_dropped, 0);
    /* Every SPUBLISH went straight to its slot's owner. */
    assert_int_equal(stats_of(&a).moved + stats_of(&b).moved, 0);

    /* Topic 0's shard is killed. */
    char ch[64];
    int dead = owner_of_channel(channel(0, ch));
    assert_true(dead >= 0);
    int on_dead[TOPICS];
    unsigned ndead = 0;
    for (int k = 0; k < TOPICS; k++) {
        on_dead[k] = owner_of_channel(channel(k, ch)) == dead;
        ndead += (unsigned)on_dead[k];
    }
    redis_proc_stop(&the_cluster.node[dead], 1);
    RUN_UNTIL(e, !stats_of(&a).connected && !stats_of(&b).connected, 5000);
    RUN_UNTIL(e,
              stats_of(&a).topics == (uint64_t)(TOPICS - ndead) &&
                  stats_of(&b).topics == (uint64_t)(TOPICS - ndead),
              5000);
    /* Meanwhile: the other topics flow, the dead shard's are counted. */
    unsigned long b_before = b.t.n;
    for (int round = 0; round < 10; round++)
        for (int k = 0; k < TOPICS; k++)
            publish_one(&a, 1, k);
    RUN_UNTIL(e, b.t.n == b_before + 10u * (TOPICS - ndead), 5000);
    run_for(e, 100);
    assert_int_equal(b.t.n, b_before + 10u * (TOPICS - ndead));
    assert_int_equal(stats_of(&a).publish_dropped, 10u * ndead);
    for (int k = 0; k < TOPICS; k++)
        assert_int_equal(b.t.count[0][k],
                         total / 2 / TOPICS + (on_dead[k] ? 0 : 10));

    /* Back, on the same port with the same nodes.conf. */
    assert_int_equal(redis_proc_start(&the_cluster.node[dead]), 0);
    RUN_UNTIL(e, ready(&a, TOPICS) && ready(&b, TOPICS), 15000);
    assert_true(stats_of(&a).resubscribed >= (uint64_t)ndead);
    assert_channels_on_their_shards();
    b_before = b.t.n;
    unsigned long a_before = a.t.n;
    for (int round = 0; round < 10; round++)
        for (int k = 0; k < TOPICS; k++) {
            publish_one(&a, 1, k);
            publish_one(&b, 2, k);
        }
    RUN_UNTIL(
        e, a.t.n == a_before + 20u * TOPICS && b.t.n == b_before + 20u * TOPICS,
        5000);
    for (int k = 0; k < TOPICS; k++) {
        assert_int_equal(b.t.count[0][k],
                         total / 2 / TOPICS + (on_dead[k] ? 10 : 20));
        assert_int_equal(a.t.count[1][k], total / 2 / TOPICS + 10);
    }
    assert_int_equal(a.t.out_of_order + b.t.out_of_order, 0);
    assert_int_equal(stats_of(&b).publish_dropped, 0);

    /* Broadcasts reach the other instance through their one shard. */
    assert_int_equal(
        wsio_server_broadcast(b.srv, WSIO_OP_TEXT, "1 0 999999", 10, NULL), 1);
    RUN_UNTIL(e, a.t.count[0][0] == total / 2 / TOPICS + 21, 5000);

    instance_free(&a);
    instance_free(&b);
    env_free(e);
}

/* Slot of topic "tK"'s channel moved from its node to the next one with
 * CLUSTER SETSLOT ... NODE on every node. */
static void move_slot(long long slot, int from, int to)
{
    char id[NODES][64];
    for (int i = 0; i < NODES; i++) {
        redisReply *r = node_cmd(i, "CLUSTER MYID");
        assert_non_null(r);
        snprintf(id[i], sizeof id[i], "%s", r->str);
        freeReplyObject(r);
    }
    freeReplyObject(
        node_cmd(to, "CLUSTER SETSLOT %lld IMPORTING %s", slot, id[from]));
    freeReplyObject(
        node_cmd(from, "CLUSTER SETSLOT %lld MIGRATING %s", slot, id[to]));
    for (int i = 0; i < NODES; i++) {
        redisReply *r =
            node_cmd(i, "CLUSTER SETSLOT %lld NODE %s", slot, id[to]);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
    }
}

static void test_cluster_moved_slot(void **state)
{
    if (!the_cluster.up)
        skip();
    env *e = env_new(state);
    new_prefix();
    /* b listens on every topic; a publishes only, so nothing tells it the
     * slot moved before its SPUBLISH does. */
    instance a, b;
    instance_start(e, &a, 0);
    instance_start(e, &b, 1);
    RUN_UNTIL(e, ready(&a, 0) && ready(&b, TOPICS), 10000);
    /* A topic on another slot than the broadcast channel, which a hears. */
    int k = 0;
    char ch[64], bch[64];
    long long slot = keyslot(channel(0, ch));
    while (slot == keyslot(channel(-1, bch)))
        slot = keyslot(channel(++k, ch));
    int from = owner_of_slot(slot), to = (from + 1) % NODES;
    move_slot(slot, from, to);
    /* The old owner ends b's subscription; b asks the new one. */
    RUN_UNTIL(e, stats_of(&b).resubscribed == 1 && ready(&b, TOPICS), 5000);
    redisReply *r = node_cmd(to, "PUBSUB SHARDNUMSUB %s", ch);
    assert_non_null(r);
    assert_int_equal(r->element[1]->integer, 1);
    freeReplyObject(r);

    publish_one(&a, 1, k);
    RUN_UNTIL(e, b.t.count[0][k] == 1, 5000);
    assert_int_equal(stats_of(&a).moved, 1);
    assert_int_equal(stats_of(&a).publish_dropped, 0);
    /* The map was fetched again: the next one goes straight there. */
    RUN_UNTIL(e, stats_of(&a).slot_maps >= 2, 5000);
    publish_one(&a, 1, k);
    RUN_UNTIL(e, b.t.count[0][k] == 2, 5000);
    assert_int_equal(stats_of(&a).moved, 1);
    assert_int_equal(b.t.out_of_order, 0);

    /* b's client leaves: every topic channel goes (SUNSUBSCRIBE on each
     * shard), the broadcast channel stays. */
    wsio_ws_close(b.t.ws, 1000, NULL, 0);
    RUN_UNTIL(e, stats_of(&b).topics == 0, 5000);
    for (int i = 0; i < NODES; i++) {
        r = node_cmd(i, "PUBSUB SHARDCHANNELS %st:*", prefix);
        assert_non_null(r);
        assert_int_equal(r->elements, 0);
        freeReplyObject(r);
    }
    r = node_cmd(owner_of_channel(bch), "PUBSUB SHARDNUMSUB %s", bch);
    assert_non_null(r);
    assert_int_equal(r->element[1]->integer, 2);
    freeReplyObject(r);

    move_slot(slot, to, from); /* as it was */
    instance_free(&a);
    instance_free(&b);
    env_free(e);
}

/* Every node's view: slot is served by node to. */
static void set_slot_on(int node, long long slot, int to)
{
    redisReply *id = node_cmd(to, "CLUSTER MYID");
    assert_non_null(id);
    redisReply *r =
        node_cmd(node, "CLUSTER SETSLOT %lld NODE %s", slot, id->str);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    freeReplyObject(id);
}

/* A publish that gets -MOVED again on its retry (two nodes that each say
 * the other serves the slot) is lost: it is counted as dropped. */
static void test_cluster_moved_twice_is_counted(void **state)
{
    if (!the_cluster.up)
        skip();
    env *e = env_new(state);
    new_prefix();
    instance a;
    instance_start(e, &a, 0);
    RUN_UNTIL(e, ready(&a, 0), 10000);
    char ch[64];
    long long slot = keyslot(channel(0, ch));
    int from = owner_of_slot(slot), to = (from + 1) % NODES;
    set_slot_on(from, slot, to); /* to still says from */
    publish_one(&a, 1, 0);
    RUN_UNTIL(e, stats_of(&a).publish_dropped == 1, 3000);
    assert_int_equal(stats_of(&a).moved, 2);
    assert_int_equal(stats_of(&a).published, 1);
    set_slot_on(from, slot, from); /* as it was */
    instance_free(&a);
    env_free(e);
}

static void set_endpoint_type(const char *type)
{
    for (int i = 0; i < NODES; i++) {
        redisReply *r =
            node_cmd(i, "CONFIG SET cluster-preferred-endpoint-type %s", type);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
    }
}

/* Nodes that do not know their address (cluster-preferred-endpoint-type
 * unknown-endpoint, Redis 7): CLUSTER SLOTS names no host and -MOVED an
 * empty one; both mean the host of the node that answered. */
static void test_cluster_unknown_endpoint(void **state)
{
    if (!the_cluster.up)
        skip();
    env *e = env_new(state);
    new_prefix();
    set_endpoint_type("unknown-endpoint");
    instance a, b;
    instance_start(e, &a, 0);
    instance_start(e, &b, 1);
    RUN_UNTIL(e, ready(&a, 0) && ready(&b, TOPICS), 5000);
    assert_int_equal(stats_of(&a).nodes, NODES);
    /* a's map goes stale: its publish follows the -MOVED. */
    char ch[64];
    long long slot = keyslot(channel(0, ch));
    int from = owner_of_slot(slot), to = (from + 1) % NODES;
    move_slot(slot, from, to);
    RUN_UNTIL(e, ready(&b, TOPICS) && stats_of(&b).resubscribed == 1, 5000);
    publish_one(&a, 1, 0);
    RUN_UNTIL(e, b.t.count[0][0] == 1, 5000);
    assert_int_equal(stats_of(&a).moved, 1);
    assert_int_equal(stats_of(&a).publish_dropped, 0);
    assert_int_equal(stats_of(&a).nodes, NODES);
    move_slot(slot, to, from);
    set_endpoint_type("ip");
    instance_free(&a);
    instance_free(&b);
    env_free(e);
}

/* PUBSUB SHARDNUMSUB ch on node i, or -1. */
static long long shard_subscribers(int i, const char *ch)
{
    redisReply *r = node_cmd(i, "PUBSUB SHARDNUMSUB %s", ch);
    long long n = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2
                      ? r->element[1]->integer
                      : -1;
    freeReplyObject(r);
    return n;
}

/* The node ends a subscription (its slot deleted) while the SUNSUBSCRIBE
 * for it is on the way, then answers that with an error; an SSUBSCRIBE
 * sent right behind it succeeds. Each answer goes to its own command: the
 * second topic is known subscribed (not taken for refused and left for a
 * retry), so it is unsubscribed when its subscriber leaves. */
static void test_cluster_unsubscribe_races_slot_deletion(void **state)
{
    if (!the_cluster.up)
        skip();
    env *e = env_new(state);
    new_prefix();
    char ch1[64], ch2[64], bch[64];
    long long bslot = keyslot(channel(-1, bch));
    int k1 = 0;
    while (keyslot(channel(k1, ch1)) == bslot)
        k1++;
    long long s1 = keyslot(ch1);
    int node = owner_of_slot(s1), k2 = k1 + 1;
    while (k2 < TOPICS && (owner_of_channel(channel(k2, ch2)) != node ||
                           keyslot(ch2) == s1 || keyslot(ch2) == bslot))
        k2++;
    assert_true(k2 < TOPICS);
    retry_ms = 2000; /* no retry within the test: answers must be right */
    instance b;
    instance_start(e, &b, 0);
    retry_ms = 20;
    char name1[16], name2[16];
    topic_name(k1, name1);
    topic_name(k2, name2);
    assert_int_equal(wsio_ws_subscribe(b.s.last_open, name1), 0);
    RUN_UNTIL(e, ready(&b, 1), 10000);

    /* The node sleeps, then deletes k1's slot before it reads anything
     * else (both commands in one write): our two commands wait behind. */
    redisContext *x = node_conn(node);
    assert_non_null(x);
    redisAppendCommand(x, "DEBUG SLEEP 0.5");
    redisAppendCommand(x, "CLUSTER DELSLOTS %lld", s1);
    int done = 0;
    while (!done)
        assert_int_equal(redisBufferWrite(x, &done), REDIS_OK);
    usleep(100 * 1000);
    assert_int_equal(wsio_ws_unsubscribe(b.s.last_open, name1), 0);
    assert_int_equal(wsio_ws_subscribe(b.s.last_open, name2), 0);
    run_for(e, 50); /* sent: SUNSUBSCRIBE k1, SSUBSCRIBE k2 */
    for (int i = 0; i < 2; i++) {
        redisReply *r = NULL;
        assert_int_equal(redisGetReply(x, (void **)&r), REDIS_OK);
        assert_int_equal(r->type, REDIS_REPLY_STATUS);
        freeReplyObject(r);
    }
    redisFree(x);

    /* The node holds k2 now; the module reads its answers. */
    RUN_UNTIL(e, shard_subscribers(node, ch2) == 1, 3000);
    run_for(e, 100);
    /* Its last subscriber leaves: the node holds nothing for it (k2 was
     * not forgotten while the node still held it). */
    assert_int_equal(wsio_ws_unsubscribe(b.s.last_open, name2), 0);
    RUN_UNTIL(e, shard_subscribers(node, ch2) == 0 && stats_of(&b).topics == 0,
              1500);

    redisReply *r = node_cmd(node, "CLUSTER ADDSLOTS %lld", s1); /* as it was */
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    assert_int_equal(wait_all_ok(), 0);
    instance_free(&b);
    env_free(e);
}

/* Errors of one kind node i answered since CONFIG RESETSTAT, or -1. */
static long long node_errors(int i, const char *kind)
{
    redisReply *r = node_cmd(i, "INFO errorstats");
    long long n = -1;
    char want[64];
    snprintf(want, sizeof want, "errorstat_%s:count=", kind);
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *at = strstr(r->str, want);
        n = at ? strtoll(at + strlen(want), NULL, 10) : 0;
    }
    freeReplyObject(r);
    return n;
}

/* A node that refuses a subscription (CLUSTERDOWN: the slot deleted on
 * it while the map still names it) is asked again with a delay that
 * doubles, not every backoff_min for as long as it refuses; once it
 * serves the slot again, the topic is subscribed. */
static void test_cluster_refused_subscribe_backs_off(void **state)
{
    if (!the_cluster.up)
        skip();
    env *e = env_new(state);
    new_prefix();
    char ch[64], bch[64];
    long long bslot = keyslot(channel(-1, bch));
    int k = 0; /* a slot the map (from seed node 0) keeps naming */
    while (k < TOPICS &&
           (owner_of_channel(channel(k, ch)) == 0 || keyslot(ch) == bslot))
        k++;
    assert_true(k < TOPICS);
    long long slot = keyslot(ch);
    int node = owner_of_slot(slot);
    redisReply *r = node_cmd(node, "CLUSTER DELSLOTS %lld", slot);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    freeReplyObject(node_cmd(node, "CONFIG RESETSTAT"));
    instance a;
    instance_start(e, &a, 0);
    char name[16];
    topic_name(k, name);
    assert_int_equal(wsio_ws_subscribe(a.s.last_open, name), 0);
    RUN_UNTIL(e, node_errors(node, "CLUSTERDOWN") > 0, 5000);
    run_for(e, 1000);
    /* backoff_min 20 ms: 50 a second without the doubling (to 200 ms). */
    long long refused = node_errors(node, "CLUSTERDOWN");
    printf("# SSUBSCRIBE refused %lld times in a second\n", refused);
    assert_true(refused < 20);
    assert_int_equal(stats_of(&a).topics, 0);

    r = node_cmd(node, "CLUSTER ADDSLOTS %lld", slot); /* as it was */
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    assert_int_equal(wait_all_ok(), 0);
    RUN_UNTIL(e, ready(&a, 1), 5000);
    instance_free(&a);
    env_free(e);
}

/* Streams are not cluster-aware: a stream on a cluster module is refused
 * with a reason, not left to fail later with -MOVED. */
static void test_cluster_refuses_a_stream(void **state)
{
    if (!the_cluster.up)
        skip();
    env *e = env_new(state);
    new_prefix();
    instance a;
    instance_start(e, &a, 0);
    int err = 0;
    assert_null(wsio_redis_stream_new(a.r, "feed", NULL, &err));
    assert_int_equal(err, WSIO_ESTATE);
    instance_free(&a);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        ON_EVERY_LOOP(test_cluster_exchange_then_one_shard_restarts),
        {"test_cluster_moved_slot/epoll", test_cluster_moved_slot, NULL, NULL,
         (void *)"epoll"},
        {"test_cluster_moved_twice_is_counted/epoll",
         test_cluster_moved_twice_is_counted, NULL, NULL, (void *)"epoll"},
        {"test_cluster_unknown_endpoint/epoll", test_cluster_unknown_endpoint,
         NULL, NULL, (void *)"epoll"},
        {"test_cluster_unsubscribe_races_slot_deletion/epoll",
         test_cluster_unsubscribe_races_slot_deletion, NULL, NULL,
         (void *)"epoll"},
        {"test_cluster_refused_subscribe_backs_off/epoll",
         test_cluster_refused_subscribe_backs_off, NULL, NULL, (void *)"epoll"},
        {"test_cluster_refuses_a_stream/epoll", test_cluster_refuses_a_stream,
         NULL, NULL, (void *)"epoll"},
    };
    const struct CMUnitTest replies[] = {
        cmocka_unit_test(test_moved_parse),
        cmocka_unit_test(test_slots_parse),
    };
    int failed = cmocka_run_group_tests(replies, NULL, NULL);
    return failed +
           cmocka_run_group_tests(tests, cluster_setup, cluster_teardown);
}
