/*
 * src/server.c - layer 4: a WebSocket server on a wsio_loop
 * (wsio/server.h). The per-connection work is ws.c's; this file listens,
 * accepts, answers the opening handshake (RFC 6455 section 4.2), keeps the
 * registry of open connections and the topics, and runs the server-wide
 * timers: heartbeat, accept retry after EMFILE, shutdown deadline.
 *
 * Registry: every connection not yet DEAD is on one of two lists: `open`
 * (OPEN: broadcast, publish and heartbeat targets) or `other` (handshaking,
 * or closed and flushing). Walks over `open` never run user callbacks, so
 * no list can change under them: what would (a termination) goes through
 * the connection's own timer instead (wsio__ws_fail_soon).
 *
 * Topics: a chained hash table of topic -> list of subscriptions. Each
 * subscription is linked both into its topic (doubly, so removal is O(1))
 * and into its ws (singly), so a closing ws leaves all its topics in
 * O(its subscriptions). A topic is in the table while it has subscribers
 * or a slow-consumer policy of its own (kept with its counters). Its
 * frames are tagged with its id in the subscribers' queues, so that
 * DROP_OLDEST and LATEST_ONLY find them; ids are never reused, so a frame
 * of a forgotten topic can never be taken for a new one's.
 *
 * Memory: connections point into the server (settings, stats), so the
 * server's memory goes only after the last connection's, at the end of a
 * loop turn.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "abi.h"
#include "budget.h"
#include "hub_internal.h"
#include "server_addr_limit.h"
#include "server_conn.h"
#include "server_ids.h"
#include "server_post.h"
#include "server_request.h"
#include "server_security.h"
#include "siphash.h"
#include "server_subprotocol.h"
#include "ws_internal.h"

/* Connections accepted per listener wake-up: others wait for the next turn,
 * so one busy listener cannot starve the open connections. */
#define ACCEPT_BATCH 64
/* After EMFILE/ENFILE, stop watching the listener for this long. */
#define ACCEPT_RETRY_MS 100
/* How often an over-budget server looks again for memory to shed. */
#define SHED_RECHECK_MS 100
/* Header lines parsed on the stack; http.max_headers is capped to this. */
#define MAX_HEADERS 128
#define TOPIC_MAX 255

typedef struct topic topic;

struct wsio__sub {
    wsio__sub *tprev, *tnext; /* in the topic's list */
    wsio__sub *wnext;         /* in the ws's list */
    topic *t;
    wsio_ws *ws;
};

struct topic {
    topic *next;              /* hash chain */
    wsio__sub *subs;
    uint64_t id;              /* tags its frames in output queues */
    wsio_topic_stats stats;   /* subscribers unused: counted when read */
    uint32_t hash;
    uint8_t len;
    char name[];              /* len bytes and a NUL, for the broker */
};

enum { LIST_NONE = 0, LIST_OPEN = 1, LIST_OTHER = 2 };

struct wsio_server {
    wsio__attach attach;
    wsio_loop *loop;
    const wsio_mem *mem;
    wsio__ws_common common;
    wsio_server_hooks hooks;
    size_t max_connections;
    uint32_t ping_interval_ms;
    wsio__io lio;             /* the listener; fd -1 once closed */
    wsio__timer accept_timer, heartbeat_timer, shutdown_timer, shed_timer;
    wsio__budget budget;      /* counts the connections' buffers */
    wsio__security sec;       /* origins, PROXY header, trusted proxies */
    wsio__addr_limits addr_limits; /* per-address counts */
    wsio__subprotocols protos; /* cfg.subprotocols, preference order */
    wsio__id_map ids;         /* open connections by wsio_ws_id */
    uint64_t last_ws_id;      /* ids are never reused */
    wsio__inbox *inbox;       /* calls from other threads */
    int keep_request;         /* cfg.keep_request */
    wsio__deferred defer;
    wsio_ws *open, *other;
    size_t nsockets;          /* connections not DEAD */
    size_t nrefs;             /* connections not yet released */
    topic **buckets;
    uint64_t topic_key[2];    /* topic_hash's */
    size_t nbuckets, ntopics;
    uint64_t last_topic_id;
    wsio_broker broker;       /* all NULL without one */
    uint64_t node_id;
    wsio__hub_member *hub;    /* NULL outside a hub */
    wsio_server_stats stats;  /* the server's own; the ws's in counters */
    wsio__ws_counters counters;
    size_t deflate_conns;     /* connections that agreed permessage-deflate */
    wsio_codec shared_codec;  /* compresses broadcasts once; ops NULL without */
    uint8_t shared_bits;      /* its window */
    uint16_t port;
    uint8_t shutting_down, freed, timers_reserved;
};

/* The smallest struct_size wsio_server_new and wsio_server_set_broker
 * take: the first sized release's structs ended with these members. */
#define SERVER_CONFIG_MIN WSIO__SIZE_THROUGH(wsio_server_config, hub)
#define BROKER_MIN WSIO__SIZE_THROUGH(wsio_broker, on_detach)

static void server_defaults(wsio_server_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->host = "127.0.0.1";
    cfg->backlog = 511;
    cfg->max_connections = 10000;
    wsio_http_limits_default(&cfg->http);
    wsio_conn_config_default(&cfg->conn);
    cfg->handshake_timeout_ms = 10000;
    cfg->close_timeout_ms = 5000;
    cfg->max_output_bytes = (size_t)1 << 20;
    cfg->low_water_bytes = cfg->max_output_bytes / 4;
    cfg->backpressure = WSIO_BACKPRESSURE_QUEUE;
    cfg->max_post_bytes = (size_t)16 << 20;
}

void wsio_server_config_init(wsio_server_config *cfg, size_t size)
{
    wsio_server_config def;
    server_defaults(&def);
    wsio__config_fill(cfg, size, &def, sizeof def);
}

/* ---- the registry ---------------------------------------------------------- */

static wsio_ws **list_head(wsio_server *srv, int which)
{
    return which == LIST_OPEN ? &srv->open : &srv->other;
}

static void list_add(wsio_server *srv, wsio_ws *ws, int which)
{
    wsio__server_conn *c = wsio__sconn(ws);
    wsio_ws **head = list_head(srv, which);
    c->prev = NULL;
    c->next = *head;
    if (*head)
        wsio__sconn(*head)->prev = ws;
    *head = ws;
    c->list = (uint8_t)which;
}

static void list_remove(wsio_server *srv, wsio_ws *ws)
{
    wsio__server_conn *c = wsio__sconn(ws);
    if (c->list == LIST_NONE)
        return;
    wsio_ws **head = list_head(srv, c->list);
    if (c->prev)
        wsio__sconn(c->prev)->next = c->next;
    else
        *head = c->next;
    if (c->next)
        wsio__sconn(c->next)->prev = c->prev;
    c->prev = c->next = NULL;
    c->list = LIST_NONE;
}

/* ---- topics ------------------------------------------------------------------ */

/* Keyed with the server's own random key: peers choose topic names, and
 * must not be able to aim many at one bucket. */
static uint32_t topic_hash(const wsio_server *srv, const char *name,
                           size_t len)
{
    return (uint32_t)wsio__siphash(srv->topic_key, name, len);
}

static topic **topic_slot(const wsio_server *srv, const char *name,
                          size_t len, uint32_t hash)
{
    if (!srv->nbuckets)
        return NULL;
    topic **p = &srv->buckets[hash & (srv->nbuckets - 1)];
    while (*p && ((*p)->hash != hash || (*p)->len != len ||
                  memcmp((*p)->name, name, len) != 0))
        p = &(*p)->next;
    return p;
}

/* Keep the table at most one topic per bucket on average. */
static int topics_grow(wsio_server *srv)
{
    if (srv->ntopics < srv->nbuckets)
        return 0;
    size_t n = srv->nbuckets ? srv->nbuckets * 2 : 16;
    topic **b = wsio__calloc(srv->mem, n, sizeof *b);
    if (!b)
        return WSIO_ENOMEM;
    for (size_t i = 0; i < srv->nbuckets; i++) {
        topic *t = srv->buckets[i];
        while (t) {
            topic *next = t->next;
            t->next = b[t->hash & (n - 1)];
            b[t->hash & (n - 1)] = t;
            t = next;
        }
    }
    wsio__free(srv->mem, srv->buckets);
    srv->buckets = b;
    srv->nbuckets = n;
    return 0;
}

/* Find the topic or make it (without subscribers, default policy).
 * Returns NULL when out of memory. */
static topic *topic_get(wsio_server *srv, const char *name, size_t len)
{
    if (topics_grow(srv))
        return NULL;
    uint32_t hash = topic_hash(srv, name, len);
    topic **slot = topic_slot(srv, name, len, hash);
    if (*slot)
        return *slot;
    topic *t = wsio__calloc(srv->mem, 1, sizeof *t + len + 1);
    if (!t)
        return NULL;
    t->id = ++srv->last_topic_id;
    t->hash = hash;
    t->len = (uint8_t)len;
    memcpy(t->name, name, len);
    t->name[len] = '\0';
    *slot = t;
    srv->ntopics++;
    return t;
}

/* Drop t from the table once nothing needs it: no subscribers and no
 * policy of its own. */
static void topic_forget_unused(wsio_server *srv, topic *t)
{
    if (t->subs || t->stats.policy != WSIO_SLOW_DEFAULT)
        return;
    topic **p = topic_slot(srv, t->name, t->len, t->hash);
    *p = t->next;
    srv->ntopics--;
    wsio__free(srv->mem, t);
}

static void sub_unlink(wsio_server *srv, wsio__sub *s)
{
    topic *t = s->t;
    if (s->tprev)
        s->tprev->tnext = s->tnext;
    else
        t->subs = s->tnext;
    if (s->tnext)
        s->tnext->tprev = s->tprev;
    wsio__free(srv->mem, s);
    if (!t->subs) {
        if (srv->broker.on_last_unsubscribed)
            srv->broker.on_last_unsubscribed(srv, t->name, srv->broker.user);
        topic_forget_unused(srv, t);
    }
}

static void leave_all_topics(wsio_server *srv, wsio_ws *ws)
{
    while (wsio__sconn(ws)->subs) {
        wsio__sub *s = wsio__sconn(ws)->subs;
        wsio__sconn(ws)->subs = s->wnext;
        sub_unlink(srv, s);
    }
}

static int topic_name_ok(const char *name, size_t *len)
{
    if (!name)
        return 0;
    *len = strlen(name);
    return *len <= TOPIC_MAX;
}

/* A name given with its length: no NUL inside, since brokers and the hub
 * are handed it NUL-terminated. */
static int topic_bytes_ok(const char *name, size_t len)
{
    return name && len <= TOPIC_MAX && !memchr(name, '\0', len);
}

int wsio_ws_subscribe(wsio_ws *ws, const char *name)
{
    return name ? wsio_ws_subscribe_n(ws, name, strlen(name)) : WSIO_EINVAL;
}

int wsio_ws_subscribe_n(wsio_ws *ws, const char *name, size_t len)
{
    if (!topic_bytes_ok(name, len))
        return WSIO_EINVAL;
    if (!wsio__ws_is_server(ws) || ws->state != WSIO__WS_OPEN)
        return WSIO_ESTATE;
    wsio_server *srv = wsio__sconn(ws)->srv;
    for (wsio__sub *s = wsio__sconn(ws)->subs; s; s = s->wnext)
        if (s->t->len == len && memcmp(s->t->name, name, len) == 0)
            return 0;
    wsio__sub *s = wsio__malloc(srv->mem, sizeof *s);
    if (!s)
        return WSIO_ENOMEM;
    topic *t = topic_get(srv, name, len);
    if (!t) {
        wsio__free(srv->mem, s);
        return WSIO_ENOMEM;
    }
    if (!t->subs && srv->broker.on_first_subscriber)
        srv->broker.on_first_subscriber(srv, t->name, srv->broker.user);
    s->t = t;
    s->ws = ws;
    s->tprev = NULL;
    s->tnext = t->subs;
    if (t->subs)
        t->subs->tprev = s;
    t->subs = s;
    s->wnext = wsio__sconn(ws)->subs;
    wsio__sconn(ws)->subs = s;
    return 0;
}

int wsio_ws_unsubscribe(wsio_ws *ws, const char *name)
{
    return name ? wsio_ws_unsubscribe_n(ws, name, strlen(name)) : WSIO_EINVAL;
}

int wsio_ws_unsubscribe_n(wsio_ws *ws, const char *name, size_t len)
{
    if (!topic_bytes_ok(name, len))
        return WSIO_EINVAL;
    if (!wsio__ws_is_server(ws))
        return WSIO_ESTATE;
    for (wsio__sub **p = &wsio__sconn(ws)->subs; *p; p = &(*p)->wnext) {
        wsio__sub *s = *p;
        if (s->t->len == len && memcmp(s->t->name, name, len) == 0) {
            *p = s->wnext;
            sub_unlink(wsio__sconn(ws)->srv, s);
            break;
        }
    }
    return 0;
}

/* ---- sending to many ---------------------------------------------------------- */

static int check_message(const wsio_server *srv, enum wsio_opcode opcode,
                         const void *data, size_t len)
{
    if ((opcode != WSIO_OP_TEXT && opcode != WSIO_OP_BINARY) ||
        (len > 0 && !data))
        return WSIO_EINVAL;
    if (opcode == WSIO_OP_TEXT && srv->common.conn.check_outgoing_utf8 &&
        wsio_utf8_validate(data, len))
        return WSIO_EUTF8;
    return 0;
}

/* A message encoded for many: plain, and compressed once when some
 * connection may take it (RFC 7692 without server context takeover). */
typedef struct shared_frames {
    wsio_rcbuf *plain, *compressed;
} shared_frames;

/* plain_mem: the budget's, or the hub's for a frame its siblings share. */
static int frames_make(wsio_server *srv, shared_frames *f,
                       const wsio_mem *plain_mem, enum wsio_opcode opcode,
                       const void *data, size_t len)
{
    f->compressed = NULL;
    if (srv->shared_codec.ops && srv->deflate_conns > 0) {
        int rc = wsio_message_encode_compressed(&srv->budget.mem, opcode, data, len,
                                                &srv->shared_codec,
                                                &f->compressed);
        if (rc < 0)
            return rc;
    }
    f->plain = wsio_message_encode(plain_mem, opcode, data, len);
    if (!f->plain) {
        wsio_rcbuf_unref(f->compressed);
        return WSIO_ENOMEM;
    }
    return 0;
}

static void frames_release(shared_frames *f)
{
    wsio_rcbuf_unref(f->plain);
    wsio_rcbuf_unref(f->compressed);
}

/* The frame ws can take: the compressed one only for a peer that keeps no
 * context for our messages and allows our window. */
static wsio_rcbuf *frame_for(const wsio_server *srv, const wsio_ws *ws,
                             const shared_frames *f)
{
    int shared_ok = f->compressed && ws->pmd_on &&
                    ws->pmd.server_no_context_takeover &&
                    ws->pmd.server_max_window_bits >= srv->shared_bits;
    return shared_ok ? f->compressed : f->plain;
}

/* Queue a broadcast frame on ws; 1 when it was queued (the policy may drop
 * it). */
static int send_one(wsio_server *srv, wsio_ws *ws, const shared_frames *f)
{
    int closed = 0;
    return wsio__ws_send_shared(ws, frame_for(srv, ws, f), 0,
                                srv->common.policy, &closed) >= 0;
}

/* What t does with a slow subscriber. */
static enum wsio_slow_policy topic_policy(const wsio_server *srv,
                                          const topic *t)
{
    if (t->stats.policy != WSIO_SLOW_DEFAULT)
        return t->stats.policy;
    return srv->common.policy == WSIO_BACKPRESSURE_CLOSE
               ? WSIO_SLOW_DISCONNECT
               : WSIO_SLOW_DROP_NEWEST;
}

/* What a topic send did to one subscriber, for the topic's counters. */
typedef struct slow_outcome {
    size_t evicted; /* its queued messages of the topic removed */
    int closed;     /* this send closed it (1008) */
} slow_outcome;

/* Send a topic frame, tagged with the topic's id, to one subscriber under
 * the topic's policy (resolved: not WSIO_SLOW_DEFAULT). DROP_OLDEST and
 * LATEST_ONLY always queue the new message; what stays over the mark is
 * bounded: a frame partly written, what the transport may hold, and one
 * message of this topic. Returns a wsio_send_result or an error. */
static int topic_send_one(wsio_server *srv, wsio_ws *ws, wsio_rcbuf *frame,
                          uint64_t tag, enum wsio_slow_policy policy,
                          slow_outcome *out)
{
    out->evicted = 0;
    out->closed = 0;
    if (policy == WSIO_SLOW_DROP_OLDEST) {
        int rc = wsio__ws_send_evicting(ws, frame, tag, 0, &out->evicted);
        srv->stats.messages_dropped_oldest += out->evicted;
        return rc;
    }
    if (policy == WSIO_SLOW_LATEST_ONLY) {
        int rc = wsio__ws_send_evicting(ws, frame, tag, 1, &out->evicted);
        srv->stats.messages_replaced += out->evicted;
        return rc;
    }
    return wsio__ws_send_shared(ws, frame, tag,
                                policy == WSIO_SLOW_DISCONNECT
                                    ? WSIO_BACKPRESSURE_CLOSE
                                    : WSIO_BACKPRESSURE_DROP,
                                &out->closed);
}

/* Queue a topic message on every subscriber of t under its policy, and
 * count what happened; returns the deliveries queued. */
static int send_topic(wsio_server *srv, topic *t, const shared_frames *f)
{
    enum wsio_slow_policy policy = topic_policy(srv, t);
    uint64_t *evicted = policy == WSIO_SLOW_DROP_OLDEST
                            ? &t->stats.dropped_oldest
                            : &t->stats.replaced;
    int count = 0;
    for (wsio__sub *s = t->subs; s; s = s->tnext) {
        slow_outcome out;
        int rc = topic_send_one(srv, s->ws, frame_for(srv, s->ws, f), t->id,
                                policy, &out);
        *evicted += out.evicted;
        t->stats.disconnects += (uint64_t)out.closed;
        if (rc >= 0)
            count++;
        else if (rc == WSIO_EDROPPED && !out.closed &&
                 policy == WSIO_SLOW_DROP_NEWEST)
            t->stats.dropped_newest++;
    }
    t->stats.queued += (uint64_t)count;
    return count;
}

/* The topic named name (len bytes), or NULL when the server does not hold
 * it (no subscriber, no policy). */
static topic *find_topic(wsio_server *srv, const char *name, size_t len)
{
    topic **slot = topic_slot(srv, name, len, topic_hash(srv, name, len));
    return slot ? *slot : NULL;
}

/* Queue encoded frames on the subscribers of t or, with t NULL, on every
 * open connection but except. */
static int send_frames(wsio_server *srv, topic *t,
                       const shared_frames *f, const wsio_ws *except)
{
    int count = 0;
    if (t) {
        count = send_topic(srv, t, f);
    } else {
        for (wsio_ws *ws = srv->open; ws; ws = wsio__sconn(ws)->next)
            if (ws != except)
                count += send_one(srv, ws, f);
    }
    return count;
}

/* The local target of a message: *t the topic named name (counted as
 * published), or with name NULL every open connection. Returns whether any
 * connection may take it. */
static int local_target(wsio_server *srv, const char *name, size_t tlen,
                        topic **t)
{
    *t = NULL;
    if (!name)
        return srv->open != NULL;
    *t = find_topic(srv, name, tlen);
    if (!*t)
        return 0;
    (*t)->stats.published++;
    return (*t)->subs != NULL;
}

/* Queue a message on this server's connections (the subscribers of topic,
 * or with topic NULL every open one but except) and, with to_hub, on the
 * hub's other servers. Encoded once: every queue holds a reference to the
 * same bytes. Returns the local deliveries queued. */
static int send_out(wsio_server *srv, const char *name, size_t tlen,
                    enum wsio_opcode opcode, const void *data, size_t len,
                    const wsio_ws *except, int to_hub)
{
    int rc = check_message(srv, opcode, data, len);
    if (rc)
        return rc;
    topic *t;
    int local = local_target(srv, name, tlen, &t);
    to_hub = to_hub && srv->hub && wsio__hub_has_siblings(srv->hub);
    if (!local && !to_hub)
        return 0;
    shared_frames f;
    rc = frames_make(srv, &f,
                     to_hub ? wsio__hub_mem(srv->hub) : &srv->budget.mem,
                     opcode, data, len);
    if (rc) {
        if (to_hub)
            wsio__hub_forward(srv->hub, name, NULL); /* counted as lost */
        return local ? rc : 0;
    }
    int count = local ? send_frames(srv, t, &f, except) : 0;
    if (to_hub)
        wsio__hub_forward(srv->hub, name, f.plain);
    frames_release(&f);
    return count;
}

/* The hub's deliver: a frame a sibling published or broadcast. */
static void hub_deliver(void *ctx, const char *name, wsio_rcbuf *frame)
{
    wsio_server *srv = ctx;
    topic *t = name ? find_topic(srv, name, strlen(name)) : NULL;
    if (name && (!t || !t->subs))
        return;
    shared_frames f = {frame, NULL};
    (void)send_frames(srv, t, &f, NULL);
}

/* A local publish or broadcast: here and to the hub's other servers
 * (other threads), then to the other nodes. name, when not NULL, is
 * NUL-terminated after its tlen bytes. */
static int send_everywhere(wsio_server *srv, const char *name, size_t tlen,
                           enum wsio_opcode opcode, const void *data,
                           size_t len, const wsio_ws *except)
{
    int count = send_out(srv, name, tlen, opcode, data, len, except, 1);
    if (count >= 0 && srv->broker.on_publish)
        srv->broker.on_publish(srv, name, opcode, data, len, srv->broker.user);
    return count;
}

int wsio_server_broadcast(wsio_server *srv, enum wsio_opcode opcode,
                          const void *data, size_t len, const wsio_ws *except)
{
    return send_everywhere(srv, NULL, 0, opcode, data, len, except);
}

int wsio_server_publish(wsio_server *srv, const char *name,
                        enum wsio_opcode opcode, const void *data, size_t len)
{
    if (!name)
        return WSIO_EINVAL;
    return wsio_server_publish_n(srv, name, strlen(name), opcode, data, len);
}

int wsio_server_publish_n(wsio_server *srv, const char *name, size_t tlen,
                          enum wsio_opcode opcode, const void *data,
                          size_t len)
{
    if (!topic_bytes_ok(name, tlen))
        return WSIO_EINVAL;
    /* The hub and the broker take the name NUL-terminated. */
    char copy[TOPIC_MAX + 1];
    if (tlen)
        memcpy(copy, name, tlen);
    copy[tlen] = '\0';
    return send_everywhere(srv, copy, tlen, opcode, data, len, NULL);
}

int wsio_server_deliver(wsio_server *srv, uint64_t origin, const char *name,
                        enum wsio_opcode opcode, const void *data, size_t len)
{
    size_t tlen = 0;
    if (origin == srv->node_id)
        return 0;
    if (name && !topic_name_ok(name, &tlen))
        return WSIO_EINVAL;
    return send_out(srv, name, tlen, opcode, data, len, NULL, 0);
}

/* ---- slow consumers, per topic -------------------------------------------------- */

int wsio_server_set_topic_policy(wsio_server *srv, const char *name,
                                 enum wsio_slow_policy policy)
{
    size_t len;
    if (!topic_name_ok(name, &len) || (unsigned)policy > WSIO_SLOW_DISCONNECT)
        return WSIO_EINVAL;
    topic **slot = topic_slot(srv, name, len, topic_hash(srv, name, len));
    topic *t = slot ? *slot : NULL;
    if (!t && policy == WSIO_SLOW_DEFAULT)
        return 0;
    if (!t && !(t = topic_get(srv, name, len)))
        return WSIO_ENOMEM;
    t->stats.policy = policy;
    topic_forget_unused(srv, t);
    return 0;
}

int wsio_server_get_topic_stats(const wsio_server *srv, const char *name,
                                wsio_topic_stats *out)
{
    size_t len;
    if (!topic_name_ok(name, &len))
        return WSIO_EINVAL;
    memset(out, 0, sizeof *out);
    topic **slot = topic_slot(srv, name, len, topic_hash(srv, name, len));
    if (!slot || !*slot)
        return 0;
    *out = (*slot)->stats;
    for (const wsio__sub *s = (*slot)->subs; s; s = s->tnext)
        out->subscribers++;
    return 0;
}

/* ---- brokers ------------------------------------------------------------------- */

/* Forget the broker, telling it so: it may hold srv no longer. */
static void detach_broker(wsio_server *srv)
{
    static const wsio_broker none = {0};
    wsio_broker old = srv->broker;
    srv->broker = none;
    if (old.on_detach)
        old.on_detach(srv, old.user);
}

int wsio_server_set_broker(wsio_server *srv, const wsio_broker *broker)
{
    wsio_broker b = {.struct_size = sizeof b};
    if (broker && wsio__config_copy(&b, sizeof b, broker, BROKER_MIN))
        return WSIO_EINVAL;
    detach_broker(srv);
    if (broker)
        srv->broker = b;
    if (!srv->broker.on_first_subscriber)
        return 0;
    for (size_t i = 0; i < srv->nbuckets; i++)
        for (topic *t = srv->buckets[i]; t; t = t->next)
            if (t->subs)
                srv->broker.on_first_subscriber(srv, t->name,
                                                srv->broker.user);
    return 0;
}

uint64_t wsio_server_node_id(const wsio_server *srv)
{
    return srv->node_id;
}

/* ---- HTTP answers ---------------------------------------------------------------- */

/* Hand a built response to ws as its handshake output, then end it. */
static void send_answer(wsio_ws *ws, char *buf, size_t len)
{
    wsio__free(wsio__sconn(ws)->srv->mem, ws->hs_out); /* a hook's reentry answered? */
    ws->hs_out = (uint8_t *)buf;
    ws->hs_out_len = (uint32_t)len;
    ws->hs_out_off = 0;
    wsio__ws_finish_handshake_fail(ws, 0);
}

/* A response with status, headers (Connection: close added) and body, or
 * with head_only the same without the body (its Content-Length stays).
 * Without memory for it, the connection is just closed. */
static void respond(wsio_ws *ws, int status, const wsio_http_header *headers,
                    size_t num_headers, const void *body, size_t body_len,
                    int head_only)
{
    const wsio_mem *mem = wsio__sconn(ws)->srv->mem;
    wsio_http_header *all = NULL;
    char *out = NULL;
    ssize_t need = WSIO_ENOMEM;
    if (num_headers < SIZE_MAX / sizeof *all - 1)
        all = wsio__malloc(mem, (num_headers + 1) * sizeof *all);
    if (all) {
        if (num_headers)
            memcpy(all, headers, num_headers * sizeof *all);
        all[num_headers].name = (wsio_slice){"Connection", 10};
        all[num_headers].value = (wsio_slice){"close", 5};
        need = wsio_http_build_response(NULL, 0, status, all, num_headers + 1,
                                        body, body_len);
        if (need >= 0 && (uint64_t)need < UINT32_MAX)
            out = wsio__malloc(mem, (size_t)need);
        if (out)
            (void)wsio_http_build_response(out, (size_t)need, status, all,
                                           num_headers + 1, body, body_len);
        wsio__free(mem, all);
    }
    if (!out) {
        if (need == WSIO_EINVAL && status != 500) {
            /* The host's headers could not be sent (CR/LF in them). */
            const char *r = wsio_http_status_reason(500);
            respond(ws, 500, NULL, 0, r, strlen(r), head_only);
            return;
        }
        wsio__ws_finish_handshake_fail(ws, WSIO_ENOMEM);
        return;
    }
    send_answer(ws, out, (size_t)need - (head_only ? body_len : 0));
}

static void reply(wsio_ws *ws, int status, const wsio_http_header *headers,
                  size_t num_headers, const void *body, size_t body_len)
{
    respond(ws, status, headers, num_headers, body, body_len, 0);
}

static void reply_status(wsio_ws *ws, int status)
{
    const char *text = wsio_http_status_reason(status);
    reply(ws, status, NULL, 0, text, strlen(text));
}

/* The answer to a request that failed with err (400, 426, 431 ...). */
static void reply_error(wsio_ws *ws, int err)
{
    ssize_t need = wsio_handshake_build_reject(NULL, 0, err);
    char *out = need > 0 ? wsio__malloc(wsio__sconn(ws)->srv->mem, (size_t)need) : NULL;
    if (!out) {
        wsio__ws_finish_handshake_fail(ws, WSIO_ENOMEM);
        return;
    }
    (void)wsio_handshake_build_reject(out, (size_t)need, err);
    send_answer(ws, out, (size_t)need);
}

/*
 * After a hook returns: did it free or shut down the server (which ends or
 * answers this connection), or end the connection some other way? Then the
 * request is settled; only a shutdown that left this one waiting still
 * owes it an answer.
 */
static int hook_ended_it(wsio_server *srv, wsio_ws *ws)
{
    if (ws->state != WSIO__WS_HANDSHAKE || ws->hs_out)
        return 1;
    if (srv->freed || srv->shutting_down) {
        reply_status(ws, 503);
        return 1;
    }
    return 0;
}

/* Count ws under the address just believed (server_addr_limit.h); over a
 * limit, refuse it (429 with Retry-After, or 503) and return 1. */
static int admit_addr(wsio_server *srv, wsio_ws *ws)
{
    static const wsio_http_header retry = {{"Retry-After", 11}, {"1", 1}};
    int status = wsio__addr_limits_admit(&srv->addr_limits, ws,
                                         wsio__loop_now(srv->loop));
    if (!status)
        return 0;
    const char *text = wsio_http_status_reason(status);
    reply(ws, status, status == 429 ? &retry : NULL, status == 429,
          text, strlen(text));
    return 1;
}

static void serve_http(wsio_server *srv, wsio_ws *ws,
                       const wsio_request_info *info)
{
    static const char not_found[] = "Not Found\n";
    wsio_http_reply r;
    memset(&r, 0, sizeof r);
    r.status = 404;
    r.body = not_found;
    r.body_len = sizeof not_found - 1;
    srv->stats.http_requests++;
    int rc = srv->hooks.on_http
                 ? srv->hooks.on_http(srv, info, &r, srv->common.user)
                 : 0;
    if (hook_ended_it(srv, ws))
        return;
    if (rc < 0) {
        reply_status(ws, 500);
        return;
    }
    /* RFC 9110 section 9.3.2: HEAD is answered as GET would be, but
     * without the content, whatever route the hook took. */
    int head = info->request->method.len == 4 &&
               memcmp(info->request->method.ptr, "HEAD", 4) == 0;
    respond(ws, r.status, r.headers, r.num_headers, r.body, r.body_len, head);
}

/* ---- the opening handshake ------------------------------------------------------- */

static char *copy_string(const wsio_mem *mem, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = wsio__malloc(mem, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* Send the 101 and open the WebSocket (section 4.2.2). */
static void accept_upgrade(wsio_server *srv, wsio_ws *ws,
                           const wsio_http_request *req, uint8_t *head,
                           size_t head_len, wsio_slice key,
                           const wsio_upgrade_decision *d, const char *ext,
                           size_t rest_len)
{
    wsio_handshake_answer answer;
    memset(&answer, 0, sizeof answer);
    answer.subprotocol = d->subprotocol;
    answer.extensions = ext;
    ssize_t need = wsio_handshake_build_accept(NULL, 0, key, &answer);
    if (need < 0) {
        srv->stats.upgrade_errors++;
        reply_status(ws, 500); /* the hook's subprotocol had CR/LF */
        return;
    }
    char *out = wsio__malloc(srv->mem, (size_t)need);
    char *sub = d->subprotocol ? copy_string(srv->mem, d->subprotocol) : NULL;
    if (!out || (d->subprotocol && !sub) ||
        wsio__ids_reserve(&srv->ids, srv->mem) < 0) {
        wsio__free(srv->mem, out);
        wsio__free(srv->mem, sub);
        reply_error(ws, WSIO_ENOMEM);
        return;
    }
    ws->subprotocol = sub;
    if (srv->keep_request && wsio__request_keep(ws, req, head, head_len) < 0) {
        wsio__free(srv->mem, out);
        reply_error(ws, WSIO_ENOMEM);
        return;
    }
    (void)wsio_handshake_build_accept(out, (size_t)need, key, &answer);
    ws->hs_out = (uint8_t *)out;
    ws->hs_out_len = (uint32_t)need;
    ws->user = d->ws_user;
    wsio__sconn(ws)->id = ++srv->last_ws_id;
    wsio__ids_add(&srv->ids, ws);
    if (ext) {
        ws->pmd_on = 1;
        srv->deflate_conns++;
    }
    list_remove(srv, ws);
    list_add(srv, ws, LIST_OPEN);
    srv->stats.connections++;
    srv->stats.connections_total++;
    if (wsio__ws_open(ws, WSIO_ROLE_SERVER, head + head_len, rest_len) < 0) {
        wsio__ids_remove(&srv->ids, srv->mem, ws);
        list_remove(srv, ws);
        list_add(srv, ws, LIST_OTHER);
        srv->stats.connections--;
        srv->stats.connections_total--;
        wsio__free(srv->mem, ws->hs_out);
        ws->hs_out = NULL;
        reply_error(ws, WSIO_ENOMEM);
    }
}

/* RFC 7692: answer the first acceptable permessage-deflate offer, unless
 * the server has none or is at its cap of compressing connections (then
 * the offer goes unanswered, i.e. declined). Returns the answer written
 * to buf, or NULL. */
static const char *negotiate_deflate(wsio_server *srv, wsio_ws *ws,
                                     const wsio_http_request *req,
                                     char buf[WSIO_DEFLATE_HEADER_MAX])
{
    const wsio_deflate_ext *ext = srv->common.deflate;
    if (!ext || (ext->max_connections && srv->deflate_conns >= ext->max_connections))
        return NULL;
    ssize_t n = wsio_deflate_negotiate(req->headers, req->num_headers,
                                       &ext->policy, &ws->pmd, buf,
                                       WSIO_DEFLATE_HEADER_MAX);
    return n > 0 ? buf : NULL;
}

static void handle_request(wsio_server *srv, wsio_ws *ws,
                           const wsio_http_request *req, uint8_t *head,
                           size_t head_len, size_t rest_len)
{
    wsio__security_forwarded(&srv->sec, ws, req);
    if (admit_addr(srv, ws))
        return;
    wsio_request_info info = {req, ws->addr, ws->port, NULL};
    if (srv->shutting_down) {
        reply_status(ws, 503);
        return;
    }
    if (!wsio_handshake_is_upgrade(req)) {
        serve_http(srv, ws, &info);
        return;
    }
    wsio_slice key;
    int rc = wsio_handshake_validate_request(req, &key);
    if (rc) {
        srv->stats.handshakes_rejected++;
        reply_error(ws, rc);
        return;
    }
    if (!wsio__security_origin_ok(&srv->sec, req)) {
        srv->stats.handshakes_rejected++;
        reply_status(ws, 403);
        return;
    }
    wsio_upgrade_decision d;
    memset(&d, 0, sizeof d);
    d.accept = 1;
    d.reject.status = 403;
    d.subprotocol = wsio__subprotocol_pick(&srv->protos, req);
    rc = srv->hooks.on_upgrade
             ? srv->hooks.on_upgrade(srv, &info, &d, srv->common.user)
             : 0;
    if (hook_ended_it(srv, ws))
        return;
    if (rc < 0) {
        srv->stats.handshakes_rejected++;
        reply_status(ws, 500);
        return;
    }
    if (!d.accept) {
        srv->stats.handshakes_rejected++;
        reply(ws, d.reject.status, d.reject.headers, d.reject.num_headers,
              d.reject.body, d.reject.body_len);
        return;
    }
    /* Section 4.2.2, /subprotocol/: only a value the client offered; the
     * client would fail the connection on any other (section 4.1). */
    if (d.subprotocol && !wsio__subprotocol_offered(req, d.subprotocol)) {
        srv->stats.handshakes_rejected++;
        srv->stats.upgrade_errors++;
        reply_status(ws, 500);
        return;
    }
    char ext[WSIO_DEFLATE_HEADER_MAX];
    accept_upgrade(srv, ws, req, head, head_len, key, &d,
                   negotiate_deflate(srv, ws, req, ext), rest_len);
}

/* Request bytes: parse them where they lie when the head came whole (the
 * common case), else gather them, never beyond the head limit plus one
 * read. */
static void handshake_bytes(wsio_ws *ws, uint8_t *buf, size_t n)
{
    wsio_server *srv = wsio__sconn(ws)->srv;
    uint8_t *data = buf;
    size_t len = n;
    if (ws->hs_in) {
        uint8_t *p = wsio__realloc(ws->common->buffer_mem, ws->hs_in,
                                   ws->hs_in_len + n);
        if (!p) {
            reply_error(ws, WSIO_ENOMEM);
            return;
        }
        memcpy(p + ws->hs_in_len, buf, n);
        ws->hs_in = p;
        ws->hs_in_len += (uint32_t)n;
        data = p;
        len = ws->hs_in_len;
    }
    wsio_http_header headers[MAX_HEADERS];
    wsio_http_request req;
    ssize_t r = wsio_http_request_parse(data, len, &req, headers, MAX_HEADERS,
                                        &srv->common.http);
    if (r == WSIO_EAGAIN) {
        if (!ws->hs_in) {
            ws->hs_in = wsio__malloc(ws->common->buffer_mem, n);
            if (!ws->hs_in) {
                reply_error(ws, WSIO_ENOMEM);
                return;
            }
            memcpy(ws->hs_in, buf, n);
            ws->hs_in_len = (uint32_t)n;
        }
        return;
    }
    if (r < 0) {
        srv->stats.handshakes_rejected++;
        reply_error(ws, (int)r);
    } else {
        handle_request(srv, ws, &req, data, (size_t)r, len - (size_t)r);
    }
    /* The request is answered; its bytes are no longer needed. */
    wsio__free(ws->common->buffer_mem, ws->hs_in);
    ws->hs_in = NULL;
    ws->hs_in_len = 0;
}

/* ---- connection class hooks --------------------------------------------------------- */

static void left_open(wsio_ws *ws)
{
    wsio_server *srv = wsio__sconn(ws)->srv;
    wsio__ids_remove(&srv->ids, srv->mem, ws);
    leave_all_topics(srv, ws);
    list_remove(srv, ws);
    list_add(srv, ws, LIST_OTHER);
    srv->stats.connections--;
}

static void finish_shutdown(wsio_server *srv);

static void transport_closed(wsio_ws *ws)
{
    wsio_server *srv = wsio__sconn(ws)->srv;
    wsio__ids_remove(&srv->ids, srv->mem, ws);
    leave_all_topics(srv, ws);
    if (ws->pmd_on)
        srv->deflate_conns--;
    wsio__addr_limits_release(&srv->addr_limits, ws,
                              wsio__loop_now(srv->loop));
    if (wsio__sconn(ws)->list == LIST_OPEN)
        srv->stats.connections--;
    list_remove(srv, ws);
    srv->nsockets--;
    if (srv->shutting_down && !srv->freed && srv->nsockets == 0)
        finish_shutdown(srv);
}

static void free_server_memory(wsio_server *srv)
{
    wsio__security_free(&srv->sec, srv->mem);
    wsio__addr_limits_free(&srv->addr_limits);
    wsio__subprotocols_free(&srv->protos, srv->mem);
    wsio__ids_free(&srv->ids, srv->mem);
    if (srv->shared_codec.ops)
        srv->shared_codec.ops->free(srv->shared_codec.state);
    /* Connections are gone: what is left are topics kept for a policy. */
    for (size_t i = 0; i < srv->nbuckets; i++) {
        while (srv->buckets[i]) {
            topic *t = srv->buckets[i];
            srv->buckets[i] = t->next;
            wsio__free(srv->mem, t);
        }
    }
    wsio__free(srv->mem, srv->buckets);
    wsio__free(srv->mem, srv);
}

static void release(wsio_ws *ws)
{
    wsio_server *srv = wsio__sconn(ws)->srv;
    wsio__request_release(ws);
    wsio__ws_cleanup(ws);
    wsio__free(srv->mem, wsio__sconn(ws));
    if (--srv->nrefs == 0 && srv->freed)
        free_server_memory(srv);
}

/* Readiness while the PROXY header is awaited (ws->connecting): the
 * transport (TLS) starts only after it. */
static void proxy_ready(wsio_ws *ws, unsigned events)
{
    (void)events;
    int rc = wsio__security_read_proxy(&wsio__sconn(ws)->srv->sec, ws,
                                       ws->common->buffer_mem);
    if (rc == 0)
        return;
    ws->connecting = 0;
    if (rc < 0) {
        wsio__sconn(ws)->srv->stats.handshakes_rejected++;
        wsio_ws_terminate(ws); /* no HTTP answer to a broken proxy */
        return;
    }
    wsio__ws_start_transport(ws);
    if (ws->state == WSIO__WS_HANDSHAKE)
        (void)admit_addr(wsio__sconn(ws)->srv, ws);
}

const wsio__ws_class wsio__server_ws_class = {
    .connected = proxy_ready,
    .handshake_bytes = handshake_bytes,
    .left_open = left_open,
    .transport_closed = transport_closed,
    .release = release,
    .answers_handshake = 1,
};

/* ---- accepting ---------------------------------------------------------------------- */

static void addr_text(const struct sockaddr_storage *ss, char *out,
                      size_t cap, uint16_t *port)
{
    out[0] = '\0';
    *port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, out, (socklen_t)cap);
        *port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, out, (socklen_t)cap);
        *port = ntohs(a->sin6_port);
    }
}

/* ---- memory budget -------------------------------------------------------------- */

static int over_budget(const wsio_server *srv)
{
    return srv->budget.limit && srv->budget.used >= srv->budget.limit;
}

/* An allocation took the connections past the budget. Shed at the next
 * turn, after this turn's output is flushed: what is still queued then is
 * what a peer is not reading, not a reply on its way out. */
static void on_over_budget(wsio__budget *b)
{
    wsio_server *srv = WSIO__CONTAINER_OF(b, wsio_server, budget);
    if (!srv->shed_timer.slot)
        wsio__timer_start(srv->loop, &srv->shed_timer,
                          wsio__loop_now(srv->loop) + 1);
}

/* Terminate the connections that hold the most buffer memory (assembly
 * buffer and output queue), largest first, until what is left fits the
 * budget. Idle connections hold none and are never shed.
 * A terminated connection's memory goes at the end of the turn, so the
 * loop counts down an estimate rather than re-reading the total. */
static void on_shed(wsio__timer *t)
{
    wsio_server *srv = WSIO__CONTAINER_OF(t, wsio_server, shed_timer);
    size_t used = srv->budget.used;
    while (used > srv->budget.limit) {
        wsio_ws *largest = NULL;
        size_t most = 0;
        for (wsio_ws *ws = srv->open; ws; ws = wsio__sconn(ws)->next) {
            /* Output counts only while the peer is not taking it (the
             * socket is full and we wait to write): a reply queued this
             * turn is on its way out. */
            size_t held = wsio__conn_held_bytes(
                ws->conn, (ws->io.events & WSIO_IO_WRITE) != 0);
            if (held > most) {
                most = held;
                largest = ws;
            }
        }
        if (!largest)
            break;
        srv->stats.connections_shed++;
        used = used > most ? used - most : 0;
        wsio_ws_terminate(largest);
    }
    /* Still over (memory that cannot go yet, or peers whose output will
     * stall): look again shortly, for as long as it lasts. */
    if (srv->budget.used > srv->budget.limit && !srv->shed_timer.slot)
        wsio__timer_start(srv->loop, &srv->shed_timer,
                          wsio__loop_now(srv->loop) + SHED_RECHECK_MS);
}

static void accept_one(wsio_server *srv, int fd,
                       const struct sockaddr_storage *ss)
{
    wsio__server_conn *c = wsio__calloc(srv->mem, 1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    wsio_ws *ws = &c->ws;
    int one = 1;
    /* Frames are written whole, once per turn: Nagle only adds delay. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    addr_text(ss, ws->addr, sizeof ws->addr, &ws->port);
    c->srv = srv;
    if (wsio__ws_init(ws, srv->loop, &srv->common, fd, WSIO_ROLE_SERVER,
                      WSIO_IO_READ) < 0) {
        close(fd);
        wsio__free(srv->mem, c);
        return;
    }
    list_add(srv, ws, LIST_OTHER);
    srv->nsockets++;
    srv->nrefs++;
    /* The timeout covers the PROXY header and the transport's handshake
     * (TLS) too. */
    wsio__ws_arm(ws, srv->common.handshake_timeout_ms);
    if (srv->sec.proxy_protocol)
        ws->connecting = 1; /* proxy_ready gets the readiness first */
    else
        wsio__ws_start_transport(ws);
    if (ws->state == WSIO__WS_HANDSHAKE &&
        (srv->nsockets > srv->max_connections || over_budget(srv)))
        reply_status(ws, 503);
    else if (ws->state == WSIO__WS_HANDSHAKE && !srv->sec.proxy_protocol)
        (void)admit_addr(srv, ws);
}

static int accept_fd(int lfd, struct sockaddr_storage *ss)
{
    socklen_t len = sizeof *ss;
#ifdef __linux__
    return accept4(lfd, (struct sockaddr *)ss, &len,
                   SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    int fd = accept(lfd, (struct sockaddr *)ss, &len);
    if (fd >= 0 && (fcntl(fd, F_SETFL, O_NONBLOCK) < 0 ||
                    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)) {
        close(fd);
        return -1;
    }
    return fd;
#endif
}

/* Out of fds (or kernel memory): a pending connection keeps the listener
 * readable, so watching it would spin. Look again after a pause. */
static void pause_accepting(wsio_server *srv)
{
    wsio__io_unwatch(srv->loop, &srv->lio);
    wsio__timer_start(srv->loop, &srv->accept_timer,
                      wsio__loop_now(srv->loop) + ACCEPT_RETRY_MS);
}

static void on_listener(wsio__io *io, unsigned events)
{
    (void)events;
    wsio_server *srv = WSIO__CONTAINER_OF(io, wsio_server, lio);
    for (int i = 0; i < ACCEPT_BATCH && srv->lio.events; i++) {
        struct sockaddr_storage ss;
        int fd = accept_fd(srv->lio.fd, &ss);
        if (fd >= 0) {
            accept_one(srv, fd, &ss);
            continue;
        }
        int e = errno;
        if (e == EINTR || e == ECONNABORTED)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK)
            break;
        srv->stats.accept_errors++;
        if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
            pause_accepting(srv);
        break;
    }
}

static void on_accept_timer(wsio__timer *t)
{
    wsio_server *srv = WSIO__CONTAINER_OF(t, wsio_server, accept_timer);
    if (srv->lio.fd >= 0 && wsio__io_watch(srv->loop, &srv->lio,
                                           WSIO_IO_READ) < 0)
        pause_accepting(srv);
}

/* ---- heartbeat and shutdown --------------------------------------------------------- */

/* Ping every open connection; the ones that did not answer the previous
 * ping are terminated (from their own timers: no callbacks here). */
static void on_heartbeat(wsio__timer *t)
{
    wsio_server *srv = WSIO__CONTAINER_OF(t, wsio_server, heartbeat_timer);
    for (wsio_ws *ws = srv->open; ws; ws = wsio__sconn(ws)->next) {
        if (wsio_conn_state(ws->conn) != WSIO_CONN_OPEN)
            continue;
        if (ws->pinged && !wsio__ws_heard_from(ws)) {
            wsio__ws_fail_soon(ws, WSIO_ETIMEDOUT);
            continue;
        }
        wsio__ws_note_ping(ws);
        if (wsio__ws_ping_timed(ws) == WSIO_ENOMEM)
            wsio__ws_fail_soon(ws, WSIO_ENOMEM);
    }
    wsio__timer_start(srv->loop, &srv->heartbeat_timer,
                      wsio__loop_now(srv->loop) + srv->ping_interval_ms);
}

static void terminate_all(wsio_server *srv)
{
    /* Each termination takes its ws off the list; a user callback may
     * take others off too, so always restart from the head. */
    while (srv->open)
        wsio_ws_terminate(srv->open);
    while (srv->other)
        wsio_ws_terminate(srv->other);
}

static void on_shutdown_deadline(wsio__timer *t)
{
    wsio_server *srv = WSIO__CONTAINER_OF(t, wsio_server, shutdown_timer);
    terminate_all(srv);
}

static void close_listener(wsio_server *srv)
{
    if (srv->lio.fd < 0)
        return;
    wsio__io_unwatch(srv->loop, &srv->lio);
    close(srv->lio.fd);
    srv->lio.fd = -1;
}

static void release_server(wsio__deferred *d)
{
    wsio_server *srv = WSIO__CONTAINER_OF(d, wsio_server, defer);
    free_server_memory(srv);
}

void wsio_server_free(wsio_server *srv)
{
    if (!srv || srv->freed)
        return;
    srv->freed = 1;
    wsio__inbox_close(srv->inbox);
    srv->inbox = NULL;
    wsio__hub_leave(srv->hub);
    srv->hub = NULL;
    close_listener(srv);
    wsio__timer_stop(srv->loop, &srv->accept_timer);
    wsio__timer_stop(srv->loop, &srv->heartbeat_timer);
    wsio__timer_stop(srv->loop, &srv->shutdown_timer);
    terminate_all(srv);
    detach_broker(srv);
    wsio__timer_stop(srv->loop, &srv->shed_timer);
    for (int i = 0; i < srv->timers_reserved; i++)
        wsio__timer_unreserve(srv->loop);
    wsio__attach_remove(srv->loop, &srv->attach);
    /* Connections still to be released free the server with the last. */
    if (srv->nrefs == 0)
        wsio__defer(srv->loop, &srv->defer);
}

static void finish_shutdown(wsio_server *srv)
{
    wsio_server_free(srv);
}

int wsio_server_shutdown(wsio_server *srv, uint32_t timeout_ms)
{
    if (srv->shutting_down || srv->freed)
        return 0;
    srv->shutting_down = 1;
    close_listener(srv);
    wsio__timer_stop(srv->loop, &srv->accept_timer);
    wsio__timer_stop(srv->loop, &srv->heartbeat_timer);
    wsio__timer_start(srv->loop, &srv->shutdown_timer,
                      wsio__loop_now(srv->loop) + timeout_ms);
    for (wsio_ws *ws = srv->open; ws; ws = wsio__sconn(ws)->next)
        (void)wsio_ws_close(ws, WSIO_CLOSE_GOING_AWAY, "going away", 10);
    /* Answering may close a connection (and take it off the list). */
    wsio_ws *ws = srv->other;
    while (ws) {
        wsio_ws *next = wsio__sconn(ws)->next;
        if (ws->state == WSIO__WS_HANDSHAKE)
            reply_status(ws, 503);
        ws = next;
    }
    if (!srv->freed && srv->nsockets == 0)
        finish_shutdown(srv);
    return 0;
}

static void destroy_attached(wsio__attach *a)
{
    wsio_server_free(WSIO__CONTAINER_OF(a, wsio_server, attach));
}

/* ---- making a server ----------------------------------------------------------------- */

static int listen_on(wsio_server *srv, const wsio_server_config *cfg)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    const char *host = cfg->host ? cfg->host : "127.0.0.1";
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(cfg->port);
        len = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(cfg->port);
        len = sizeof *a6;
    } else {
        return WSIO_EINVAL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    int rc = 0;
    if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        rc = -errno;
#ifdef SO_REUSEPORT
    if (!rc && cfg->reuse_port &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        rc = -errno;
#endif
    if (!rc && (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
                listen(fd, cfg->backlog > 0 ? cfg->backlog : 511) < 0))
        rc = -errno;
    socklen_t blen = sizeof ss;
    if (!rc && getsockname(fd, (struct sockaddr *)&ss, &blen) < 0)
        rc = -errno;
    if (rc) {
        close(fd);
        return rc;
    }
    srv->port = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
    srv->lio.fd = fd;
    srv->lio.ready = on_listener;
    return 0;
}

static void fill_common(wsio_server *srv, const wsio_server_config *cfg,
                        const wsio_ws_callbacks *cb, void *user)
{
    wsio__ws_common *c = &srv->common;
    c->cls = &wsio__server_ws_class;
    if (cb)
        c->cb = *cb;
    c->user = user;
    c->conn = cfg->conn;
    c->http = cfg->http;
    if (c->http.max_headers > MAX_HEADERS || c->http.max_headers == 0)
        c->http.max_headers = MAX_HEADERS;
    c->close_timeout_ms = cfg->close_timeout_ms;
    c->idle_timeout_ms = cfg->idle_timeout_ms;
    c->handshake_timeout_ms = cfg->handshake_timeout_ms;
    c->max_output = cfg->max_output_bytes;
    c->low_water = cfg->low_water_bytes;
    c->policy = cfg->backpressure;
    c->max_queued = cfg->max_queued_bytes;
    c->transport = cfg->transport;
    c->transport_ctx = cfg->transport_ctx;
    c->counters = &srv->counters;
    c->deflate = cfg->deflate;
}

/* The codec that compresses broadcasts once: what the server's policy
 * answers to an offer of server_no_context_takeover. */
static int make_shared_codec(wsio_server *srv)
{
    static const char offer[] = "permessage-deflate; server_no_context_takeover";
    const wsio_deflate_ext *ext = srv->common.deflate;
    if (!ext)
        return 0;
    wsio_http_header h = {{"Sec-WebSocket-Extensions", 24},
                          {offer, sizeof offer - 1}};
    wsio_deflate_params p;
    char answer[WSIO_DEFLATE_HEADER_MAX];
    if (wsio_deflate_negotiate(&h, 1, &ext->policy, &p, answer,
                               sizeof answer) <= 0)
        return WSIO_EINVAL;
    srv->shared_bits = p.server_max_window_bits;
    return ext->codec_new(ext, &p, WSIO_ROLE_SERVER, WSIO_CODEC_KEEP_STATE,
                          srv->mem, &srv->shared_codec);
}

wsio_server *wsio_server_new(wsio_loop *loop, const wsio_server_config *cfg,
                             const wsio_ws_callbacks *cb,
                             const wsio_server_hooks *hooks, void *user,
                             int *err)
{
    wsio_server_config def;
    wsio_server_config_default(&def);
    int rc =
        cfg ? wsio__config_copy(&def, sizeof def, cfg, SERVER_CONFIG_MIN) : 0;
    cfg = &def;
    /* Refused: a transport table older than the members the server uses
     * (version 1), an embedded conn config _config_default did not fill. */
    if (!rc && ((cfg->transport && !wsio__ops_at_least(cfg->transport, 1)) ||
                cfg->conn.struct_size != sizeof cfg->conn))
        rc = WSIO_EINVAL;
    const wsio_mem *mem = wsio__loop_mem(loop);
    if (!rc && wsio__loop_closing(loop))
        rc = WSIO_ESTATE;
    if (rc)
        goto fail;
    rc = WSIO_ENOMEM;
    wsio_server *srv = wsio__calloc(mem, 1, sizeof *srv);
    if (!srv)
        goto fail;
    srv->loop = loop;
    srv->mem = mem;
    srv->lio.fd = -1;
    if (hooks)
        srv->hooks = *hooks;
    srv->max_connections = cfg->max_connections;
    srv->ping_interval_ms = cfg->ping_interval_ms;
    srv->node_id = cfg->hub ? wsio_hub_node_id(cfg->hub) : cfg->node_id;
    while (!srv->node_id) {
        rc = wsio__random_bytes(&srv->node_id, sizeof srv->node_id);
        if (rc)
            goto fail_srv;
    }
    fill_common(srv, cfg, cb, user);
    wsio__budget_init(&srv->budget, wsio__loop_buffer_mem(loop),
                      cfg->memory_budget, on_over_budget);
    srv->common.buffer_mem = &srv->budget.mem;
    srv->shed_timer.fire = on_shed;
    srv->accept_timer.fire = on_accept_timer;
    srv->heartbeat_timer.fire = on_heartbeat;
    srv->shutdown_timer.fire = on_shutdown_deadline;
    srv->defer.release = release_server;
    srv->attach.destroy = destroy_attached;
    rc = wsio__security_init(&srv->sec, cfg, mem);
    if (!rc)
        rc = wsio__subprotocols_init(&srv->protos, cfg, mem);
    if (!rc)
        rc = wsio__ids_init(&srv->ids);
    if (!rc)
        rc = wsio__random_bytes(srv->topic_key, sizeof srv->topic_key);
    if (rc)
        goto fail_srv;
    rc = wsio__addr_limits_init(&srv->addr_limits, cfg, &srv->sec,
                                &srv->stats, mem);
    if (rc)
        goto fail_srv;
    srv->keep_request = cfg->keep_request;
    rc = WSIO_ENOMEM;
    srv->inbox = wsio__inbox_new(srv, loop, mem, cfg->max_post_bytes);
    if (!srv->inbox)
        goto fail_srv;
    for (; srv->timers_reserved < 4; srv->timers_reserved++) {
        rc = wsio__timer_reserve(loop);
        if (rc)
            goto fail_srv;
    }
    rc = make_shared_codec(srv);
    if (rc)
        goto fail_srv;
    rc = listen_on(srv, cfg);
    if (rc)
        goto fail_srv;
    rc = wsio__io_watch(loop, &srv->lio, WSIO_IO_READ);
    if (rc)
        goto fail_srv;
    if (cfg->hub) {
        rc = wsio__hub_join(cfg->hub, loop, hub_deliver, srv, &srv->hub);
        if (rc)
            goto fail_srv;
    }
    if (srv->ping_interval_ms)
        wsio__timer_start(loop, &srv->heartbeat_timer,
                          wsio__loop_now(loop) + srv->ping_interval_ms);
    wsio__attach_add(loop, &srv->attach);
    return srv;
fail_srv:
    close_listener(srv);
    wsio__inbox_close(srv->inbox);
    wsio__security_free(&srv->sec, mem);
    wsio__addr_limits_free(&srv->addr_limits);
    wsio__subprotocols_free(&srv->protos, mem);
    if (srv->shared_codec.ops)
        srv->shared_codec.ops->free(srv->shared_codec.state);
    for (int i = 0; i < srv->timers_reserved; i++)
        wsio__timer_unreserve(loop);
    wsio__free(mem, srv);
fail:
    if (err)
        *err = rc;
    return NULL;
}

/* ---- getters ---------------------------------------------------------------------------- */

uint16_t wsio_server_port(const wsio_server *srv)
{
    return srv->port;
}

void *wsio_server_get_user(const wsio_server *srv)
{
    return srv->common.user;
}

wsio_loop *wsio_server_loop(const wsio_server *srv)
{
    return srv->loop;
}

wsio_server *wsio_ws_server(const wsio_ws *ws)
{
    return wsio__ws_is_server(ws) ? wsio__sconn(ws)->srv : NULL;
}

int wsio_server_post(wsio_server *srv, void (*fn)(void *user), void *user)
{
    return wsio_loop_post(srv->loop, fn, user);
}

uint64_t wsio_ws_id(const wsio_ws *ws)
{
    return wsio__ws_is_server(ws) ? wsio__sconn(ws)->id : 0;
}

wsio_ws *wsio_server_find(const wsio_server *srv, uint64_t id)
{
    return wsio__ids_find(&srv->ids, id);
}

wsio__inbox *wsio__server_inbox(const wsio_server *srv)
{
    return srv->inbox;
}

void wsio__server_sent_to(wsio_server *srv, uint64_t id,
                          enum wsio_opcode opcode, int result)
{
    if (result == WSIO_ECLOSED)
        srv->stats.sends_to_closed++;
    if (srv->hooks.on_sent_to)
        srv->hooks.on_sent_to(srv, id, opcode, result, srv->common.user);
}

int wsio_hub_get_stats(const wsio_server *srv, wsio_hub_stats *out)
{
    if (!srv->hub)
        return WSIO_EINVAL;
    wsio__hub_member_stats(srv->hub, out);
    return 0;
}

void wsio_server_get_stats(const wsio_server *srv, wsio_server_stats *out)
{
    *out = srv->stats;
    out->messages_in = srv->counters.messages_in;
    out->messages_out = srv->counters.messages_out;
    out->bytes_in = srv->counters.bytes_in;
    out->bytes_out = srv->counters.bytes_out;
    out->messages_dropped = srv->counters.messages_dropped;
    out->slow_disconnects = srv->counters.slow_disconnects;
    out->memory_in_use = srv->budget.used;
}
