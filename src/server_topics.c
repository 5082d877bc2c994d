/*
 * src/server_topics.c - a server's topics and fan-out (wsio/server.h):
 * subscribe, publish, broadcast, the per-topic slow-consumer policies, and
 * the two sinks a message also goes to: the broker (other processes) and
 * the hub (other threads).
 *
 * Topics: a keyed chained hash table (common_hashtab.h) of topic -> list of
 * subscriptions. Each subscription is linked both into its topic (doubly, so
 * removal is O(1)) and into its ws (singly), so a closing ws leaves all its
 * topics in O(its subscriptions). A topic is in the table while it has
 * subscribers or a slow-consumer policy of its own (kept with its counters).
 * Its frames are tagged with its id in the subscribers' queues, so that
 * DROP_OLDEST and LATEST_ONLY find them; ids are never reused, so a frame
 * of a forgotten topic can never be taken for a new one's.
 *
 */
#include <string.h>

#include "common_abi.h"
#include "server_internal.h"
#include "server_stream.h"

/* The smallest struct_size wsio_server_set_broker takes: the first sized
 * release's wsio_broker ended with on_detach. */
#define BROKER_MIN WSIO__SIZE_THROUGH(wsio_broker, on_detach)

/* ---- topics
 * ------------------------------------------------------------------ */

/* The topic named name (len bytes), or NULL when the server does not hold
 * it (no subscriber, no policy). The table's key is the server's own and
 * random: peers choose topic names, and must not aim many at one chain. */
static topic *find_topic_hashed(const wsio_server *srv, const char *name,
                                size_t len, uint64_t hash)
{
    for (wsio__hentry *e = wsio__hashtab_chain(&srv->topics, hash); e;
         e = e->next) {
        topic *t = WSIO__CONTAINER_OF(e, topic, entry);
        if (e->hash == hash && t->len == len && memcmp(t->name, name, len) == 0)
            return t;
    }
    return NULL;
}

static topic *find_topic(const wsio_server *srv, const char *name, size_t len)
{
    return find_topic_hashed(srv, name, len,
                             wsio__hashtab_hash(&srv->topics, name, len));
}

/* Find the topic or make it (without subscribers, default policy).
 * Returns NULL when out of memory. */
static topic *topic_get(wsio_server *srv, const char *name, size_t len)
{
    uint64_t hash = wsio__hashtab_hash(&srv->topics, name, len);
    topic *t = find_topic_hashed(srv, name, len, hash);
    if (t)
        return t;
    if (wsio__hashtab_reserve(&srv->topics, srv->mem))
        return NULL;
    t = wsio__calloc(srv->mem, 1, sizeof *t + len + 1);
    if (!t)
        return NULL;
    t->id = ++srv->last_topic_id;
    t->entry.hash = hash;
    t->len = (uint8_t)len;
    memcpy(t->name, name, len);
    t->name[len] = '\0';
    wsio__hashtab_add(&srv->topics, &t->entry);
    return t;
}

/* Drop t from the table once nothing needs it: no subscribers, no
 * policy of its own, no stream. */
static void topic_forget_unused(wsio_server *srv, topic *t)
{
    if (t->subs || t->stats.policy != WSIO_SLOW_DEFAULT || t->stream)
        return;
    wsio__hashtab_remove(&srv->topics, &t->entry);
    wsio__free(srv->mem, t);
}

static void sub_unlink(wsio_server *srv, wsio__sub *s)
{
    topic *t = s->t;
    wsio__list_remove(&t->subs, &s->tlink);
    wsio__free(srv->mem, s);
    if (!t->subs) {
        if (srv->broker.on_last_unsubscribed)
            srv->broker.on_last_unsubscribed(srv, t->name, srv->broker.user);
        topic_forget_unused(srv, t);
    }
}

void wsio__server_leave_topics(wsio_server *srv, wsio_ws *ws)
{
    /* The head is looked up again after each unlink: a broker's callback
     * runs in it. */
    wsio__sub **head;
    while ((head = wsio__ids_subs(&srv->ids, ws)) && *head) {
        wsio__sub *s = *head;
        *head = s->wnext;
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
    wsio_server *srv = wsio__sconn_srv(ws);
    if (wsio__ids_make_subs(&srv->ids, srv->mem) < 0)
        return WSIO_ENOMEM;
    wsio__sub **head = wsio__ids_subs(&srv->ids, ws);
    for (wsio__sub *s = *head; s; s = s->wnext)
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
    wsio__list_push(&t->subs, &s->tlink);
    /* Again: the broker's on_first_subscriber ran since. */
    head = wsio__ids_subs(&srv->ids, ws);
    s->wnext = *head;
    *head = s;
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
    wsio__sub **head = wsio__ids_subs(&wsio__sconn_srv(ws)->ids, ws);
    for (wsio__sub **p = head; p && *p; p = &(*p)->wnext) {
        wsio__sub *s = *p;
        if (s->t->len == len && memcmp(s->t->name, name, len) == 0) {
            *p = s->wnext;
            sub_unlink(wsio__sconn_srv(ws), s);
            break;
        }
    }
    return 0;
}

/* ---- sending to many
 * ---------------------------------------------------------- */

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
        int rc =
            wsio_message_encode_compressed(&srv->budget.mem, opcode, data, len,
                                           &srv->shared_codec, &f->compressed);
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
    int shared_ok =
        f->compressed && ws->pmd_on &&
        wsio__ws_pmd(ws)->server_no_context_takeover &&
        wsio__ws_pmd(ws)->server_max_window_bits >= srv->shared_bits;
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
    for (wsio__link *l = t->subs; l; l = l->next) {
        wsio__sub *s = WSIO__CONTAINER_OF(l, wsio__sub, tlink);
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

/* Queue encoded frames on the subscribers of t or, with t NULL, on every
 * open connection but except. */
static int send_frames(wsio_server *srv, topic *t, const shared_frames *f,
                       const wsio_ws *except)
{
    int count = 0;
    if (t) {
        count = send_topic(srv, t, f);
    } else {
        uint32_t at = 0;
        for (wsio_ws *ws; (ws = wsio__server_next(srv, LIST_OPEN, &at));)
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
        return srv->stats.connections != 0;
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

int wsio__server_send_frame(wsio_server *srv, const char *name,
                            wsio_rcbuf *frame)
{
    topic *t = name ? find_topic(srv, name, strlen(name)) : NULL;
    if (name && (!t || !t->subs))
        return 0;
    shared_frames f = {frame, NULL};
    return send_frames(srv, t, &f, NULL);
}

/* The hub's deliver: a frame a sibling published or broadcast. */
void wsio__server_hub_deliver(void *ctx, const char *name, wsio_rcbuf *frame)
{
    (void)wsio__server_send_frame(ctx, name, frame);
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
                          enum wsio_opcode opcode, const void *data, size_t len)
{
    if (!topic_bytes_ok(name, tlen))
        return WSIO_EINVAL;
    /* Issue 18 hook: a topic with a stream numbers and keeps its messages
     * (server_stream.c), which then reach this server only. */
    topic *t = find_topic(srv, name, tlen);
    if (t && t->stream)
        return wsio_stream_publish(t->stream, opcode, data, len, NULL);
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

/* ---- slow consumers, per topic
 * -------------------------------------------------- */

int wsio_server_set_topic_policy(wsio_server *srv, const char *name,
                                 enum wsio_slow_policy policy)
{
    size_t len;
    if (!topic_name_ok(name, &len) || (unsigned)policy > WSIO_SLOW_DISCONNECT)
        return WSIO_EINVAL;
    topic *t = find_topic(srv, name, len);
    if (!t && policy == WSIO_SLOW_DEFAULT)
        return 0;
    if (!t && !(t = topic_get(srv, name, len)))
        return WSIO_ENOMEM;
    t->stats.policy = policy;
    topic_forget_unused(srv, t);
    return 0;
}

/* Issue 18 hook: server_stream.c gives a topic its stream, or takes it
 * back (st NULL). */
int wsio__server_set_stream(wsio_server *srv, const char *name, wsio_stream *st)
{
    size_t len = strlen(name);
    topic *t = st ? topic_get(srv, name, len) : find_topic(srv, name, len);
    if (!t)
        return st ? WSIO_ENOMEM : 0;
    if (st && t->stream)
        return WSIO_EINVAL;
    t->stream = st;
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
    const topic *t = find_topic(srv, name, len);
    if (!t)
        return 0;
    *out = t->stats;
    for (const wsio__link *l = t->subs; l; l = l->next)
        out->subscribers++;
    return 0;
}

/* ---- brokers
 * ------------------------------------------------------------------- */

/* Forget the broker, telling it so: it may hold srv no longer. */
void wsio__server_detach_broker(wsio_server *srv)
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
    wsio__server_detach_broker(srv);
    if (broker)
        srv->broker = b;
    if (!srv->broker.on_first_subscriber)
        return 0;
    for (size_t i = 0; i < srv->topics.nbuckets; i++)
        for (wsio__hentry *e = srv->topics.buckets[i]; e; e = e->next) {
            topic *t = WSIO__CONTAINER_OF(e, topic, entry);
            if (t->subs)
                srv->broker.on_first_subscriber(srv, t->name, srv->broker.user);
        }
    return 0;
}

uint64_t wsio_server_node_id(const wsio_server *srv)
{
    return srv->node_id;
}

void wsio__server_topics_free(wsio_server *srv)
{
    /* Connections are gone: what is left are topics kept for a policy or
     * a stream. */
    for (size_t i = 0; i < srv->topics.nbuckets; i++) {
        while (srv->topics.buckets[i]) {
            topic *t = WSIO__CONTAINER_OF(srv->topics.buckets[i], topic, entry);
            srv->topics.buckets[i] = t->entry.next;
            if (t->stream) /* issue 18 hook: the stream outlives us */
                wsio__stream_server_gone(t->stream);
            wsio__free(srv->mem, t);
        }
    }
    wsio__hashtab_free(&srv->topics, srv->mem);
}
