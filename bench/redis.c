/*
 * bench/redis.c - what Redis between two servers costs (figures only).
 *
 * Two wsio servers, A and B, each on its own thread with libwsio-redis,
 * and a redis-server of the bench's own. One publisher client sends to A,
 * which publishes on topic "bench"; the receivers are connected either to
 * A itself ("one instance") or to B ("Redis pub/sub"). Then the same
 * through a Redis stream (wsio/redis_stream.h, "Redis Streams"): the
 * clients use the path /s, A XADDs what the publisher sends, B reads it
 * (XREAD BLOCK) and delivers it to its receivers, subscribed live. The
 * clients run on the main thread.
 *
 *   throughput  messages as fast as the receivers take them (at most
 *               WINDOW ahead of the slowest): deliveries per second;
 *   latency     one message a millisecond: publish-to-receive time of each
 *               delivery, p50 / p99 / max.
 *
 * usage: bench/redis [receivers (50)] [messages (20000)] [paced (2000)]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_server.h"
#include "wsio.h"
#include "wsio/redis.h"
#include "wsio/redis_stream.h"

#define WINDOW 2000
#define MAX_RECEIVERS 1000

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the servers: publish what the publisher sends ---- */

typedef struct node {
    wsio_loop *loop;
    wsio_server *srv;
    wsio_redis *redis;
    wsio_redis_stream *stream; /* topic "stream", for clients of /s */
    pthread_t thread;
} node;

/* Whether ws came for the stream (path /s) rather than pub/sub. */
static int wants_stream(wsio_ws *ws)
{
    const wsio_http_request *req = wsio_ws_request(ws)->request;
    return req->path.len == 2 && memcmp(req->path.ptr, "/s", 2) == 0;
}

static void srv_open(wsio_ws *ws, void *user)
{
    node *n = user;
    if (wants_stream(ws))
        wsio_redis_stream_subscribe(n->stream, ws, WSIO_STREAM_LIVE);
    else
        wsio_ws_subscribe(ws, "bench");
}

static int srv_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    node *n = user;
    if (wants_stream(ws))
        wsio_redis_stream_publish(n->stream, m->opcode, m->data, m->len);
    else
        wsio_server_publish(wsio_ws_server(ws), "bench", m->opcode, m->data,
                            m->len);
    return 0;
}

static void *node_run(void *arg)
{
    node *n = arg;
    wsio_loop_run(n->loop);
    return NULL;
}

static void node_start(node *n, uint16_t redis_port)
{
    int err = 0;
    n->loop = wsio_loop_new(NULL, &err);
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.max_output_bytes = 64u << 20; /* measure, do not shed */
    cfg.keep_request = 1;             /* the path, in the callbacks */
    wsio_ws_callbacks cb = {.on_open = srv_open, .on_message = srv_message};
    n->srv = wsio_server_new(n->loop, &cfg, &cb, NULL, n, &err);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%u", (unsigned)redis_port);
    wsio_redis_config rc;
    wsio_redis_config_default(&rc);
    rc.url = url;
    rc.max_in_flight = 1000000;
    n->redis = wsio_redis_new(n->srv, &rc, &err);
    if (n->redis)
        n->stream = wsio_redis_stream_new(n->redis, "stream", NULL, &err);
    if (!n->loop || !n->srv || !n->redis || !n->stream) {
        fprintf(stderr, "bench/redis: setup failed: %s\n", wsio_strerror(err));
        exit(1);
    }
    pthread_create(&n->thread, NULL, node_run, n);
}

static void node_stop(node *n)
{
    wsio_loop_stop(n->loop);
    pthread_join(n->thread, NULL);
    wsio_redis_stats st;
    wsio_redis_get_stats(n->redis, &st);
    wsio_redis_stream_free(n->stream);
    wsio_redis_free(n->redis);
    wsio_server_free(n->srv);
    wsio_loop_free(n->loop);
}

/* ---- the clients ---- */

typedef struct run {
    wsio_loop *loop;
    size_t opened;
    uint64_t received; /* deliveries to receivers */
    uint64_t *lat;     /* latency phase: one per delivery, ns */
    size_t nlat, caplat;
    int measuring_latency;
} run;

typedef struct client {
    run *r;
    int receiver;
} client;

static void cl_open(wsio_ws *ws, void *user)
{
    (void)ws;
    client *c = user;
    c->r->opened++;
}

static int cl_message(wsio_ws *ws, const wsio_message *m, void *user)
{
    (void)ws;
    client *c = user;
    if (!c->receiver)
        return 0;
    run *r = c->r;
    r->received++;
    if (r->measuring_latency && m->len >= sizeof(uint64_t) &&
        r->nlat < r->caplat) {
        uint64_t t;
        memcpy(&t, m->data, sizeof t);
        r->lat[r->nlat++] = now_ns() - t;
    }
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void wait_until(run *r, int (*cond)(const run *, uint64_t), uint64_t arg)
{
    uint64_t t0 = now_ns();
    while (!cond(r, arg)) {
        wsio_loop_run_once(r->loop, 5);
        if (now_ns() - t0 > 30000000000ull) {
            fprintf(stderr, "bench/redis: timed out\n");
            exit(1);
        }
    }
}

static int all_open(const run *r, uint64_t n)
{
    return r->opened >= n;
}
static int got(const run *r, uint64_t n)
{
    return r->received >= n;
}

static void measure(const char *label, const char *path, uint16_t pub_port,
                    uint16_t recv_port, size_t nrecv, size_t nmsg,
                    size_t npaced)
{
    run r = {0};
    int err = 0;
    r.loop = wsio_loop_new(NULL, &err);
    wsio_ws_callbacks cb = {.on_open = cl_open, .on_message = cl_message};
    client *cs = calloc(nrecv + 1, sizeof *cs);
    wsio_client_config cc;
    wsio_client_config_default(&cc);
    cc.max_output_bytes = 64u << 20;
    char url[64];
    wsio_ws *pub = NULL;
    for (size_t i = 0; i <= nrecv; i++) {
        cs[i].r = &r;
        cs[i].receiver = i > 0;
        snprintf(url, sizeof url, "ws://127.0.0.1:%u%s",
                 (unsigned)(i ? recv_port : pub_port), path);
        wsio_ws *ws = wsio_client_connect(r.loop, url, &cc, &cb, &cs[i], &err);
        if (!ws) {
            fprintf(stderr, "bench/redis: connect: %s\n", wsio_strerror(err));
            exit(1);
        }
        if (!i)
            pub = ws;
    }
    wait_until(&r, all_open, nrecv + 1);
    /* Let B's SUBSCRIBE reach Redis (or its stream reader start) before
     * the first message. */
    uint64_t settle = now_ns();
    while (now_ns() - settle < 300000000ull)
        wsio_loop_run_once(r.loop, 10);

    /* Throughput. */
    char msg[64];
    memset(msg, 'x', sizeof msg);
    uint64_t t0 = now_ns();
    for (size_t sent = 0; sent < nmsg;) {
        size_t batch = 100;
        while (batch-- && sent < nmsg) {
            wsio_ws_send(pub, WSIO_OP_BINARY, msg, sizeof msg);
            sent++;
        }
        uint64_t behind = sent > WINDOW ? (sent - WINDOW) * nrecv : 0;
        wait_until(&r, got, behind);
        wsio_loop_run_once(r.loop, 0);
    }
    wait_until(&r, got, (uint64_t)nmsg * nrecv);
    double secs = (double)(now_ns() - t0) / 1e9;
    double rate = (double)r.received / secs;

    /* Latency, one message a millisecond. */
    r.caplat = npaced * nrecv;
    r.lat = calloc(r.caplat, sizeof *r.lat);
    r.measuring_latency = 1;
    uint64_t base = r.received;
    for (size_t i = 0; i < npaced; i++) {
        uint64_t t = now_ns();
        memcpy(msg, &t, sizeof t);
        wsio_ws_send(pub, WSIO_OP_BINARY, msg, sizeof msg);
        uint64_t next = t + 1000000u;
        while (now_ns() < next)
            wsio_loop_run_once(r.loop, 1);
    }
    wait_until(&r, got, base + (uint64_t)npaced * nrecv);
    qsort(r.lat, r.nlat, sizeof *r.lat, cmp_u64);
    printf("%-13s %4zu receivers  %9.0f deliveries/s  latency p50 %6.0f us  "
           "p99 %6.0f us  max %6.0f us\n",
           label, nrecv, rate, (double)r.lat[r.nlat / 2] / 1e3,
           (double)r.lat[r.nlat * 99 / 100] / 1e3,
           (double)r.lat[r.nlat - 1] / 1e3);
    wsio_loop_free(r.loop);
    free(r.lat);
    free(cs);
}

int main(int argc, char **argv)
{
    size_t nrecv = argc > 1 ? (size_t)atol(argv[1]) : 50;
    size_t nmsg = argc > 2 ? (size_t)atol(argv[2]) : 20000;
    size_t npaced = argc > 3 ? (size_t)atol(argv[3]) : 2000;
    if (nrecv == 0 || nrecv > MAX_RECEIVERS || nmsg == 0 || npaced == 0)
        return 2;
    redis_proc rp = {0};
    if (redis_proc_start(&rp) != 0) {
        fprintf(stderr, "bench/redis: redis-server did not start\n");
        return 1;
    }
    node a = {0}, b = {0};
    node_start(&a, rp.port);
    node_start(&b, rp.port);
    /* Both connected to Redis before measuring. */
    struct timespec ts = {0, 500000000};
    nanosleep(&ts, NULL);
    uint16_t pa = wsio_server_port(a.srv), pb = wsio_server_port(b.srv);
    printf("64-byte messages; %zu for throughput, %zu paced at 1/ms for "
           "latency\n",
           nmsg, npaced);
    measure("one instance", "/", pa, pa, nrecv, nmsg, npaced);
    measure("Redis pub/sub", "/", pa, pb, nrecv, nmsg, npaced);
    measure("Redis Streams", "/s", pa, pb, nrecv, nmsg, npaced);
    node_stop(&a);
    node_stop(&b);
    redis_proc_stop(&rp, 0);
    return 0;
}
