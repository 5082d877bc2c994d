/*
 * examples/feed.c - a ticker that loses nothing across reconnects: --rate
 * messages per second on each of a few topics, each topic a wsio_stream
 * (wsio/stream.h, docs/resume.md). A client names its topics in the URL,
 * each with the last id it saw when it comes back:
 *
 *     build/examples/feed --port 9003 --rate 10
 *     wsio-cat 'ws://127.0.0.1:9003/?topic=btc&topic=eth'
 *     wsio-cat 'ws://127.0.0.1:9003/?topic=btc:1234'    (resume after 1234)
 *     wsio-cat --resume 'ws://127.0.0.1:9003/?topic=btc' (wsio-cat does it)
 *
 * Every message is one text line "<topic> <id> <price>", the id first so
 * that a client knows what to ask for. A client that asks for ids the
 * window no longer holds gets "<topic> gap <oldest id - 1>" and then the
 * whole window: it knows it missed some. No topic in the URL: every topic,
 * live.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"
#include "wsio/stream.h"

#define MAX_TOPICS 8
#define TICK_MS 10

typedef struct feed_topic {
    char name[32];
    wsio_stream *st;
    uint64_t price_cents; /* a random walk */
} feed_topic;

typedef struct feed {
    feed_topic topics[MAX_TOPICS];
    size_t ntopics;
    unsigned long rate;        /* messages per second per topic */
    size_t window;             /* messages kept per topic */
    uint64_t started_ms, sent; /* per topic, since start */
    wsio_loop *loop;
    unsigned seed;
} feed;

/* The formatter: "<topic> <id> <what was published>". */
static int format_line(uint64_t id, const void *data, size_t len,
                       wsio_stream_payload *out, void *user)
{
    const feed_topic *t = user;
    char head[64];
    int n = snprintf(head, sizeof head, "%s %" PRIu64 " ", t->name, id);
    int rc = wsio_stream_payload_add(out, head, (size_t)n);
    return rc ? rc : wsio_stream_payload_add(out, data, len);
}

static feed_topic *find_topic(feed *f, const char *name, size_t len)
{
    for (size_t i = 0; i < f->ntopics; i++)
        if (strlen(f->topics[i].name) == len &&
            memcmp(f->topics[i].name, name, len) == 0)
            return &f->topics[i];
    return NULL;
}

/* Catch up with the clock: rate messages per second on every topic. */
static void on_tick(wsio_timer *t, void *user)
{
    feed *f = user;
    uint64_t due = (wsio_loop_now(f->loop) - f->started_ms) * f->rate / 1000;
    for (; f->sent < due; f->sent++) {
        for (size_t i = 0; i < f->ntopics; i++) {
            feed_topic *ft = &f->topics[i];
            ft->price_cents += (uint64_t)(rand_r(&f->seed) % 21);
            ft->price_cents -= 10;
            char msg[32];
            int n = snprintf(msg, sizeof msg, "%" PRIu64 ".%02" PRIu64,
                             ft->price_cents / 100, ft->price_cents % 100);
            int rc =
                wsio_stream_publish(ft->st, WSIO_OP_TEXT, msg, (size_t)n, NULL);
            if (rc < 0)
                example_log("feed", "%s: %s", ft->name, wsio_strerror(rc));
        }
    }
    wsio_timer_start(t, TICK_MS);
}

/* Subscribe ws to one "name[:since]" of the query. */
static int join_topic(feed *f, wsio_ws *ws, const char *p, size_t len)
{
    const char *colon = memchr(p, ':', len);
    size_t nlen = colon ? (size_t)(colon - p) : len;
    feed_topic *t = find_topic(f, p, nlen);
    if (!t)
        return -1;
    uint64_t since = WSIO_STREAM_LIVE;
    if (colon) {
        char num[24];
        size_t dlen = len - nlen - 1;
        if (dlen == 0 || dlen >= sizeof num)
            return -1;
        memcpy(num, colon + 1, dlen);
        num[dlen] = '\0';
        char *end;
        since = strtoull(num, &end, 10);
        if (*end)
            return -1;
    }
    int rc = wsio_stream_subscribe(t->st, ws, since);
    if (rc == WSIO_EGAP) {
        /* Say so, then give what the window still holds. */
        uint64_t from = wsio_stream_floor_id(t->st);
        char line[64];
        int n = snprintf(line, sizeof line, "%s gap %" PRIu64, t->name, from);
        wsio_ws_send(ws, WSIO_OP_TEXT, line, (size_t)n);
        rc = wsio_stream_subscribe(t->st, ws, from);
    }
    return rc < 0 ? -1 : 0;
}

/* The query: topic=NAME[:SINCE] parameters; none means every topic. */
static void on_open(wsio_ws *ws, void *user)
{
    feed *f = user;
    wsio_slice q = wsio_ws_request(ws)->request->query;
    int named = 0;
    size_t i = 0;
    while (i < q.len) {
        size_t end = i;
        while (end < q.len && q.ptr[end] != '&')
            end++;
        if (end - i > 6 && memcmp(q.ptr + i, "topic=", 6) == 0) {
            named = 1;
            if (join_topic(f, ws, q.ptr + i + 6, end - i - 6)) {
                wsio_ws_close(ws, WSIO_CLOSE_POLICY_VIOLATION,
                              "unknown topic or bad since", 26);
                return;
            }
        }
        i = end + 1;
    }
    for (size_t k = 0; !named && k < f->ntopics; k++)
        wsio_stream_subscribe(f->topics[k].st, ws, WSIO_STREAM_LIVE);
}

static void usage(void)
{
    printf("usage: feed [options]\n%s"
           "  --rate N          messages per second on each topic "
           "(default 10)\n"
           "  --topics A,B,...  the topics (default btc,eth,sol; at most "
           "8)\n"
           "  --window N        messages each topic keeps for resumes "
           "(default 1000)\n",
           example_usage_common());
}

static void set_topics(feed *f, const char *list)
{
    f->ntopics = 0;
    while (*list) {
        size_t n = strcspn(list, ",");
        if (n == 0 || n >= sizeof f->topics[0].name ||
            f->ntopics == MAX_TOPICS) {
            fprintf(stderr, "feed: bad --topics\n");
            exit(2);
        }
        memcpy(f->topics[f->ntopics].name, list, n);
        f->topics[f->ntopics++].name[n] = '\0';
        list += n + (list[n] == ',');
    }
}

int main(int argc, char **argv)
{
    example_opts o = {.host = "127.0.0.1", .port = 9003};
    feed f = {.rate = 10, .window = 1000, .seed = 1};
    set_topics(&f, "btc,eth,sol");
    for (int i = 1; i < argc; i++) {
        if (example_parse_common(argc, argv, &i, &o))
            continue;
        if (strcmp(argv[i], "--rate") == 0) {
            f.rate = example_size("--rate", example_value(argc, argv, &i));
            continue;
        }
        if (strcmp(argv[i], "--window") == 0) {
            f.window = example_size("--window", example_value(argc, argv, &i));
            continue;
        }
        if (strcmp(argv[i], "--topics") == 0) {
            set_topics(&f, example_value(argc, argv, &i));
            continue;
        }
        usage();
        return strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
    wsio_server_config cfg;
    wsio_server_config_default(&cfg);
    cfg.ping_interval_ms = EXAMPLE_PING_MS;
    cfg.keep_request = 1; /* the query is read in on_open */
    wsio_ws_callbacks cb = {.on_open = on_open};
    f.loop = example_loop_new("feed", &o);
    wsio_server *srv =
        example_listen("feed", "ws", f.loop, &o, &cfg, &cb, NULL, &f);
    for (size_t i = 0; i < f.ntopics; i++) {
        wsio_stream_config sc;
        wsio_stream_config_default(&sc);
        sc.max_messages = f.window;
        sc.format = format_line;
        sc.format_user = &f.topics[i];
        f.topics[i].price_cents = 10000;
        int err = 0;
        f.topics[i].st = wsio_stream_new(srv, f.topics[i].name, &sc, &err);
        if (!f.topics[i].st) {
            fprintf(stderr, "feed: %s: %s\n", f.topics[i].name,
                    wsio_strerror(err));
            return 1;
        }
    }
    f.started_ms = wsio_loop_now(f.loop);
    wsio_timer *tick = wsio_timer_new(f.loop, on_tick, &f, NULL);
    if (!tick)
        return 1;
    wsio_timer_start(tick, TICK_MS);
    example_run("feed", f.loop, srv);
    wsio_timer_free(tick);
    for (size_t i = 0; i < f.ntopics; i++)
        wsio_stream_free(f.topics[i].st);
    wsio_loop_free(f.loop);
    return 0;
}
