/*
 * src/redis/redis.c - libwsio-redis (wsio/redis.h): a wsio_broker on Redis
 * pub/sub, with hiredis' asynchronous API run on the server's loop.
 *
 * Two links (connections, link.c) to Redis: "sub" in subscribe mode,
 * "pub" for PUBLISH and the application's commands. Each link connects on
 * its own, and after a loss (or a connect that fails or times out) comes
 * back after a delay that doubles from backoff_min_ms to backoff_max_ms
 * and falls back to the minimum once connected.
 *
 * Topics: a table of channel -> {want, subscribed, in_flight}. want
 * follows the server's broker calls (the topic has local subscribers);
 * subscribed follows Redis' replies. At most one SUBSCRIBE or UNSUBSCRIBE
 * per channel is in flight: when its reply comes, the next one is sent if
 * want and subscribed still differ. That keeps quick unsubscribe and
 * resubscribe of a channel right (hiredis keeps one callback per channel
 * and drops it at the "unsubscribe" reply, so overlapping commands would
 * lose it). An entry with neither want nor subscription is freed.
 *
 * With a redis+cluster:// URL, cluster.c sends the subscriptions and the
 * publishes to the node of each channel's slot instead, and "sub" is not
 * used; the table, the envelope and delivery stay here.
 */
#include <stdarg.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "../common_abi.h"
#include "../internal.h"
#include "cluster.h"
#include "keyslot.h"
#include "redis_internal.h"
#include "wsio/redis.h"

#define PREFIX_MAX 64
/* The name of the broadcast channel after the prefix; topics are "t:". */
#define BROADCAST_NAME "b"
#define TOPIC_MARK "t:"
#define TOPIC_MAX 255
#define CHANNEL_MAX (PREFIX_MAX + 2 + TOPIC_MAX + 1)
#define ENVELOPE_VERSION 1

typedef wsio__rtopic topic_entry;

struct wsio_redis {
    const wsio_mem *mem;
    wsio_server *srv;
    wsio_loop *loop;
    uint64_t node_id;
    wsio_redis_url url;
    char prefix[PREFIX_MAX + 1];
    size_t prefix_len;
    wsio__rlink_settings link_set; /* the URL's, loop, backoff, timeout */
    size_t max_in_flight, in_flight;
    wsio__rlink sub, pub;    /* in a cluster: pub only, to a seed */
    wsio__rcluster *cluster; /* NULL: one Redis */
    wsio__hashtab topics;    /* of topic_entry, by channel; keyed: peers
                                choose topic names */
    uint64_t subscribed;     /* entries Redis holds a subscription for */
    uint8_t *envelope;       /* scratch for PUBLISH, grown to the largest */
    size_t envelope_cap;
    wsio_redis_stats stats;
};

/* A wsio_redis_command waiting for its reply. */
typedef struct command {
    wsio_redis *r;
    wsio_redis_reply_fn cb;
    void *user;
} command;

/* Zeroed memory. (wsio__calloc is libwsio's own: not exported from the
 * shared library, so this module cannot call it.) size never overflows
 * here: counts are table sizes and topic names of at most 255 bytes. */
static void *zalloc(const wsio_mem *mem, size_t size)
{
    void *p = wsio__malloc(mem, size);
    if (p)
        memset(p, 0, size);
    return p;
}

/* The smallest struct_size wsio_redis_new takes: the first sized
 * release's config ended with mem. */
#define REDIS_CONFIG_MIN WSIO__SIZE_THROUGH(wsio_redis_config, mem)

static void redis_defaults(wsio_redis_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->url = "redis://127.0.0.1:6379";
    cfg->prefix = "wsio:";
    cfg->backoff_min_ms = 100;
    cfg->backoff_max_ms = 5000;
    cfg->connect_timeout_ms = 2000;
    cfg->max_in_flight = 10000;
}

void wsio_redis_config_init(wsio_redis_config *cfg, size_t size)
{
    wsio_redis_config def;
    redis_defaults(&def);
    wsio__config_fill(cfg, size, &def, sizeof def);
}

/* ---- the topic table ------------------------------------------------------
 */

static topic_entry *topic_find_hashed(const wsio_redis *r, const char *ch,
                                      size_t len, uint64_t hash)
{
    for (wsio__hentry *e = wsio__hashtab_chain(&r->topics, hash); e;
         e = e->next) {
        topic_entry *t = WSIO__CONTAINER_OF(e, topic_entry, entry);
        if (e->hash == hash && t->len == len &&
            memcmp(t->channel, ch, len) == 0)
            return t;
    }
    return NULL;
}

static topic_entry *topic_find(const wsio_redis *r, const char *ch, size_t len)
{
    return topic_find_hashed(r, ch, len,
                             wsio__hashtab_hash(&r->topics, ch, len));
}

/* The channel of topic into buf (CHANNEL_MAX bytes); its length. */
static size_t topic_channel(const wsio_redis *r, const char *topic, char *buf)
{
    size_t tlen = strnlen(topic, TOPIC_MAX);
    memcpy(buf, r->prefix, r->prefix_len);
    memcpy(buf + r->prefix_len, TOPIC_MARK, 2);
    memcpy(buf + r->prefix_len + 2, topic, tlen);
    buf[r->prefix_len + 2 + tlen] = '\0';
    return r->prefix_len + 2 + tlen;
}

/* The broadcast channel into buf (CHANNEL_MAX bytes); its length. */
static size_t broadcast_channel(const wsio_redis *r, char *buf)
{
    memcpy(buf, r->prefix, r->prefix_len);
    memcpy(buf + r->prefix_len, BROADCAST_NAME, sizeof BROADCAST_NAME);
    return r->prefix_len + sizeof BROADCAST_NAME - 1;
}

static topic_entry *topic_find_or_add(wsio_redis *r, const char *ch, size_t len)
{
    uint64_t hash = wsio__hashtab_hash(&r->topics, ch, len);
    topic_entry *t = topic_find_hashed(r, ch, len, hash);
    if (t)
        return t;
    /* The table has buckets from the start: when it cannot grow, the
     * chains only get longer. */
    (void)wsio__hashtab_reserve(&r->topics, r->mem);
    t = zalloc(r->mem, sizeof *t + len + 1);
    if (!t)
        return NULL;
    t->len = len;
    memcpy(t->channel, ch, len + 1);
    t->slot = wsio__redis_keyslot(ch, len);
    t->entry.hash = hash;
    wsio__hashtab_add(&r->topics, &t->entry);
    return t;
}

static void topic_remove(wsio_redis *r, topic_entry *t)
{
    wsio__hashtab_remove(&r->topics, &t->entry);
    wsio__free(r->mem, t);
}

static void sub_reply(redisAsyncContext *ac, void *reply, void *privdata);

static void topic_set_subscribed(wsio_redis *r, topic_entry *t, int on)
{
    if (t->subscribed != on && !t->broadcast)
        r->subscribed += on ? 1u : (uint64_t)-1;
    t->subscribed = on;
}

/* Bring Redis in line with what the server wants for t: one command at a
 * time; free t when nothing is wanted or held. */
static void topic_reconcile(wsio_redis *r, topic_entry *t)
{
    if (t->in_flight)
        return;
    if (!t->want && !t->subscribed) {
        topic_remove(r, t);
        return;
    }
    if (t->want == t->subscribed)
        return;
    if (r->cluster) {
        wsio__rcluster_sync(r->cluster, t);
        return;
    }
    if (!r->sub.connected)
        return;
    const char *verb = t->want ? "SUBSCRIBE %b" : "UNSUBSCRIBE %b";
    if (redisAsyncCommand(r->sub.ac, sub_reply, r, verb, t->channel, t->len) ==
        REDIS_OK)
        t->in_flight = 1;
}

void wsio__redis_topic_each(wsio_redis *r,
                            void (*fn)(wsio_redis *, wsio__rtopic *, void *),
                            void *arg)
{
    for (size_t i = 0; i < r->topics.nbuckets; i++) {
        wsio__hentry *e = r->topics.buckets[i];
        while (e) {
            wsio__hentry *next = e->next;
            fn(r, WSIO__CONTAINER_OF(e, topic_entry, entry), arg);
            e = next;
        }
    }
}

void wsio__redis_topic_answered(wsio_redis *r, wsio__rtopic *t, int subscribed)
{
    topic_set_subscribed(r, t, subscribed);
    t->in_flight = 0;
    topic_reconcile(r, t);
}

static void topic_forget_redis(wsio_redis *r, topic_entry *t, void *arg)
{
    (void)arg;
    wsio__redis_topic_answered(r, t, 0);
}

static void topic_reconcile_each(wsio_redis *r, topic_entry *t, void *arg)
{
    (void)arg;
    topic_reconcile(r, t);
}

void wsio__redis_topic_reconcile_all(wsio_redis *r)
{
    wsio__redis_topic_each(r, topic_reconcile_each, NULL);
}

/* ---- the envelope
 * ------------------------------------------------------------ */

static int envelope_build(wsio_redis *r, enum wsio_opcode opcode,
                          const void *data, size_t len)
{
    size_t need = WSIO_REDIS_ENVELOPE_HEADER + len;
    if (need < len)
        return WSIO_ENOMEM;
    if (need > r->envelope_cap) {
        uint8_t *p = wsio__realloc(r->mem, r->envelope, need);
        if (!p)
            return WSIO_ENOMEM;
        r->envelope = p;
        r->envelope_cap = need;
    }
    uint8_t *e = r->envelope;
    e[0] = ENVELOPE_VERSION;
    for (int i = 0; i < 8; i++)
        e[1 + i] = (uint8_t)(r->node_id >> (56 - 8 * i));
    e[9] = (uint8_t)opcode;
    if (len)
        memcpy(e + WSIO_REDIS_ENVELOPE_HEADER, data, len);
    return 0;
}

/* A message from Redis on channel: unwrap it and deliver it locally. */
void wsio__redis_deliver(wsio_redis *r, const redisReply *channel,
                         const redisReply *payload)
{
    const uint8_t *e = (const uint8_t *)payload->str;
    size_t len = payload->len;
    if (len < WSIO_REDIS_ENVELOPE_HEADER || e[0] != ENVELOPE_VERSION ||
        (e[9] != WSIO_OP_TEXT && e[9] != WSIO_OP_BINARY)) {
        r->stats.invalid++;
        return;
    }
    uint64_t origin = 0;
    for (int i = 0; i < 8; i++)
        origin = origin << 8 | e[1 + i];
    if (origin == r->node_id || !r->srv)
        return; /* our own, back from Redis (already delivered here), or
                   the server is gone */
    const char *topic = NULL;
    size_t plen = r->prefix_len;
    if (channel->len >= plen + 2 && /* "" is a topic too */
        memcmp(channel->str + plen, TOPIC_MARK, 2) == 0)
        topic = channel->str + plen + 2; /* hiredis NUL-terminates */
    int n = wsio_server_deliver(r->srv, origin, topic, (enum wsio_opcode)e[9],
                                e + WSIO_REDIS_ENVELOPE_HEADER,
                                len - WSIO_REDIS_ENVELOPE_HEADER);
    if (n >= 0)
        r->stats.received++;
    else
        r->stats.invalid++; /* bad UTF-8 in a text message, ... */
}

/* Everything the subscribed link receives: confirmations and messages. */
static void sub_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    wsio_redis *r = privdata;
    const redisReply *m = reply;
    if (!m || m->type != REDIS_REPLY_ARRAY || m->elements != 3 ||
        m->element[0]->type != REDIS_REPLY_STRING ||
        m->element[1]->type != REDIS_REPLY_STRING)
        return; /* the link is going, or nothing we asked for */
    const char *kind = m->element[0]->str;
    const redisReply *ch = m->element[1];
    if (strcmp(kind, "message") == 0) {
        if (m->element[2]->type == REDIS_REPLY_STRING)
            wsio__redis_deliver(r, ch, m->element[2]);
        return;
    }
    int sub = strcmp(kind, "subscribe") == 0;
    if (!sub && strcmp(kind, "unsubscribe") != 0)
        return;
    topic_entry *t = topic_find(r, ch->str, ch->len);
    if (!t)
        return; /* the broadcast channel */
    wsio__redis_topic_answered(r, t, sub);
}

/* ---- links (link.c) ---------------------------------------------------- */

static int both_connected(const wsio_redis *r)
{
    return r->sub.connected && r->pub.connected;
}

/* A link is gone: forget what Redis held for it. */
static void link_lost(wsio__rlink *l)
{
    wsio_redis *r = l->owner;
    r->stats.connected = 0;
    if (l == &r->sub)
        wsio__redis_topic_each(r, topic_forget_redis, NULL);
    else if (r->cluster)
        wsio__rcluster_cmd_lost(r->cluster);
}

/* AUTH and SELECT are answered: the link is ready. The subscribed link
 * waits for them, as hiredis routes every reply in subscribe mode to the
 * channels' callbacks. */
static void link_ready(wsio__rlink *l, int reconnect)
{
    wsio_redis *r = l->owner;
    if (reconnect)
        r->stats.reconnects++;
    if (l == &r->sub) {
        char ch[CHANNEL_MAX];
        broadcast_channel(r, ch);
        redisAsyncCommand(l->ac, sub_reply, r, "SUBSCRIBE %s", ch);
        wsio__redis_topic_reconcile_all(r);
    } else if (r->cluster) {
        wsio__rcluster_cmd_ready(r->cluster);
    }
    r->stats.connected = both_connected(r);
}

/* ---- the broker
 * ----------------------------------------------------------------- */

static void broker_first(wsio_server *srv, const char *topic, void *user)
{
    (void)srv;
    wsio_redis *r = user;
    char ch[CHANNEL_MAX];
    size_t len = topic_channel(r, topic, ch);
    topic_entry *t = topic_find_or_add(r, ch, len);
    if (!t)
        return; /* out of memory: the topic stays local */
    t->want = 1;
    topic_reconcile(r, t);
}

static void broker_last(wsio_server *srv, const char *topic, void *user)
{
    (void)srv;
    wsio_redis *r = user;
    char ch[CHANNEL_MAX];
    size_t len = topic_channel(r, topic, ch);
    topic_entry *t = topic_find(r, ch, len);
    if (!t)
        return;
    t->want = 0;
    topic_reconcile(r, t);
}

void wsio__redis_publish_done(wsio_redis *r)
{
    r->in_flight--;
}

static void on_publish_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    (void)reply;
    wsio__redis_publish_done(privdata);
}

static void broker_publish(wsio_server *srv, const char *topic,
                           enum wsio_opcode opcode, const void *data,
                           size_t len, void *user)
{
    (void)srv;
    wsio_redis *r = user;
    char ch[CHANNEL_MAX];
    size_t chlen;
    if (topic) {
        chlen = topic_channel(r, topic, ch);
    } else {
        chlen = broadcast_channel(r, ch);
    }
    size_t elen = WSIO_REDIS_ENVELOPE_HEADER + len;
    if (r->in_flight >= r->max_in_flight ||
        envelope_build(r, opcode, data, len) != 0 ||
        (r->cluster ? wsio__rcluster_publish(r->cluster, ch, chlen, r->envelope,
                                             elen) != 0
                    : !r->pub.connected ||
                          redisAsyncCommand(r->pub.ac, on_publish_reply, r,
                                            "PUBLISH %b %b", ch, chlen,
                                            r->envelope, elen) != REDIS_OK)) {
        r->stats.publish_dropped++;
        return;
    }
    r->in_flight++;
    r->stats.published++;
}

/* The server is being freed (or another broker replaced this one): what
 * Redis sends from now on has nowhere to go, and nothing more is published. */
static void broker_detach(wsio_server *srv, void *user)
{
    (void)srv;
    wsio_redis *r = user;
    r->srv = NULL;
}

/* ---- public API
 * ------------------------------------------------------------------ */

/* Sharded pub/sub: the cluster module, and the broadcast channel as an
 * entry that is always wanted (it has a slot like any channel). */
static int cluster_start(wsio_redis *r, const wsio_redis_url *seeds,
                         size_t nseeds)
{
    r->cluster = wsio__rcluster_new(r, seeds, nseeds, &r->pub, &r->url);
    char ch[CHANNEL_MAX];
    size_t len = broadcast_channel(r, ch);
    topic_entry *b = r->cluster ? topic_find_or_add(r, ch, len) : NULL;
    if (!b)
        return WSIO_ENOMEM;
    b->broadcast = 1;
    b->want = 1;
    return 0;
}

wsio_redis *wsio_redis_new(wsio_server *srv, const wsio_redis_config *cfg,
                           int *err)
{
    wsio_redis_config def;
    wsio_redis_config_default(&def);
    int rc = WSIO_EINVAL;
    wsio_redis *r = NULL;
    if (cfg && wsio__config_copy(&def, sizeof def, cfg, REDIS_CONFIG_MIN))
        goto fail;
    cfg = &def;
    const wsio_mem *mem = wsio__mem_or_default(cfg->mem);
    const char *url = cfg->url ? cfg->url : "redis://127.0.0.1:6379";
    const char *prefix = cfg->prefix ? cfg->prefix : "wsio:";
    if (!srv || strlen(prefix) > PREFIX_MAX || cfg->backoff_min_ms == 0 ||
        cfg->backoff_max_ms < cfg->backoff_min_ms)
        goto fail;
    rc = WSIO_ENOMEM;
    r = zalloc(mem, sizeof *r);
    if (!r)
        goto fail;
    r->mem = mem;
    wsio_redis_url seeds[WSIO_REDIS_MAX_SEEDS];
    size_t nseeds = 0;
    rc = wsio_redis_url_parse(url, strlen(url), &r->url);
    if (rc &&
        wsio_redis_cluster_url_parse(url, strlen(url), seeds,
                                     WSIO_REDIS_MAX_SEEDS, &nseeds) == 0) {
        r->url = seeds[0]; /* the command link's, first */
        rc = 0;
    }
    if (rc)
        goto fail;
    r->srv = srv;
    r->loop = wsio_server_loop(srv);
    r->node_id = wsio_server_node_id(srv);
    r->prefix_len = strlen(prefix);
    memcpy(r->prefix, prefix, r->prefix_len + 1);
    r->link_set = (wsio__rlink_settings){
        .loop = r->loop,
        .url = &r->url,
        .backoff_min = cfg->backoff_min_ms,
        .backoff_max = cfg->backoff_max_ms,
        .connect_timeout =
            cfg->connect_timeout_ms ? cfg->connect_timeout_ms : 2000};
    r->max_in_flight = cfg->max_in_flight;
    rc = wsio__hashtab_init(&r->topics);
    if (rc == 0)
        rc = wsio__hashtab_reserve(&r->topics, mem);
    if (rc)
        goto fail;
    rc = wsio__rlink_init(&r->sub, &r->link_set, 0, link_ready, link_lost, r);
    if (rc == 0)
        rc = wsio__rlink_init(&r->pub, &r->link_set, 1, link_ready, link_lost,
                              r);
    if (rc == 0 && nseeds)
        rc = cluster_start(r, seeds, nseeds);
    if (rc)
        goto fail;
    if (!r->cluster)
        wsio__rlink_connect(&r->sub);
    wsio__rlink_connect(&r->pub);
    wsio_broker b = {.struct_size = sizeof b,
                     .on_first_subscriber = broker_first,
                     .on_last_unsubscribed = broker_last,
                     .on_publish = broker_publish,
                     .on_detach = broker_detach,
                     .user = r};
    wsio_server_set_broker(srv, &b);
    return r;
fail:
    wsio_redis_free(r);
    if (err)
        *err = rc;
    return NULL;
}

void wsio_redis_free(wsio_redis *r)
{
    if (!r)
        return;
    if (r->srv)
        wsio_server_set_broker(r->srv, NULL);
    /* The command link first: its CLUSTER SLOTS callback needs the
     * cluster. */
    wsio__rlink_close(&r->sub);
    wsio__rlink_close(&r->pub);
    wsio__rcluster_free(r->cluster);
    for (size_t i = 0; i < r->topics.nbuckets; i++) {
        while (r->topics.buckets[i]) {
            wsio__hentry *e = r->topics.buckets[i];
            r->topics.buckets[i] = e->next;
            wsio__free(r->mem, WSIO__CONTAINER_OF(e, topic_entry, entry));
        }
    }
    wsio__hashtab_free(&r->topics, r->mem);
    wsio__free(r->mem, r->envelope);
    wsio__free(r->mem, r);
}

void wsio_redis_get_stats(const wsio_redis *r, wsio_redis_stats *out)
{
    *out = r->stats;
    out->topics = r->subscribed;
    if (r->cluster)
        wsio__rcluster_stats(r->cluster, out);
}

static void on_command_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    command *c = privdata;
    wsio_redis *r = c->r;
    r->in_flight--;
    wsio_redis_reply_fn cb = c->cb;
    void *user = c->user;
    wsio__free(r->mem, c);
    if (cb)
        cb(r, reply, user);
}

int wsio_redis_command(wsio_redis *r, wsio_redis_reply_fn cb, void *user,
                       const char *fmt, ...)
{
    if (!fmt)
        return WSIO_EINVAL;
    if (!r->pub.connected)
        return WSIO_ECLOSED;
    if (r->in_flight >= r->max_in_flight)
        return WSIO_EAGAIN; /* Redis is not keeping up: bounded */
    command *c = wsio__malloc(r->mem, sizeof *c);
    if (!c)
        return WSIO_ENOMEM;
    c->r = r;
    c->cb = cb;
    c->user = user;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(r->pub.ac, on_command_reply, c, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        wsio__free(r->mem, c);
        /* Refused because the link is going down (its callbacks run with
         * NULL replies before on_disconnect), or for the format. */
        int closing = r->pub.ac->err || (r->pub.ac->c.flags &
                                         (REDIS_DISCONNECTING | REDIS_FREEING));
        return closing ? WSIO_ECLOSED : WSIO_EINVAL;
    }
    r->in_flight++;
    return 0;
}

int wsio_redis_key(const wsio_redis *r, const char *name, char *buf, size_t cap)
{
    size_t n = strlen(name);
    if (r->prefix_len + n + 1 > cap || r->prefix_len + n > INT32_MAX)
        return WSIO_ENOSPC;
    memcpy(buf, r->prefix, r->prefix_len);
    memcpy(buf + r->prefix_len, name, n + 1);
    return (int)(r->prefix_len + n);
}

const wsio__rlink_settings *wsio__redis_link_settings(const wsio_redis *r)
{
    return &r->link_set;
}

wsio_server *wsio__redis_server(const wsio_redis *r)
{
    return r->srv;
}

int wsio__redis_is_cluster(const wsio_redis *r)
{
    return r->cluster != NULL;
}

wsio_redis_stats *wsio__redis_stats(wsio_redis *r)
{
    return &r->stats;
}

wsio__rtopic *wsio__redis_topic_find(const wsio_redis *r, const char *ch,
                                     size_t len)
{
    return topic_find(r, ch, len);
}

const wsio_mem *wsio__redis_mem(const wsio_redis *r)
{
    return r->mem;
}
