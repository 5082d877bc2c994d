/*
 * src/redis/cluster.c - Redis Cluster for the pub/sub broker (cluster.h).
 *
 * The slot map comes from CLUSTER SLOTS, asked on the command link (or any
 * node's publishing link that is up), and again after every -MOVED, every
 * subscription a node ends and every node link lost. Each master in the
 * map gets a publishing link at once (so that the first publishes for it
 * are not dropped while it connects) and a subscribed link when a channel
 * of its slots is first wanted. Nodes are never freed before the module:
 * a cluster has few, and at most MAX_NODES are known.
 *
 * Subscribed links are read raw (link.h, on_raw): hiredis 0.14 knows
 * SUBSCRIBE but not SSUBSCRIBE, and would route "smessage" pushes to the
 * wrong callbacks. Each such link keeps its SSUBSCRIBE and SUNSUBSCRIBE
 * commands in order (the fifo), each followed by an UNSUBSCRIBE of no
 * channel, whose answer ("unsubscribe" of none: this link never holds a
 * plain channel) ends the answer to the command before it. Between two
 * such ends come that command's answer (an error carries no channel) and
 * what the node pushes: a "sunsubscribe" for the command's own channel
 * can be the node ending the subscription just before the command is
 * read (its slot moved away or was deleted; Redis 7.0 then answers the
 * SUNSUBSCRIBE with an error), so an answer is known complete only at
 * the end mark, not by its position. A "sunsubscribe" for another channel
 * is the node ending that subscription.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "cluster.h"
#include "cluster_reply.h"
#include "keyslot.h"

#define MAX_NODES 255 /* the slot map holds node numbers in a byte */

typedef struct pending_cmd {
    wsio__rtopic *t;
    int subscribe; /* SSUBSCRIBE, else SUNSUBSCRIBE */
    int held;      /* the node's last word: it holds t */
    int error;     /* answered with an error: MOVED_TO or OTHER_ERROR */
} pending_cmd;

enum { MOVED_TO = 1, OTHER_ERROR };

typedef struct wsio__rnode {
    wsio__rcluster *c;
    wsio_redis_url url;       /* its address, the seeds' user, password */
    wsio__rlink_settings set; /* the module's, with this url */
    wsio__rlink sub, pub;     /* SSUBSCRIBE (read raw), SPUBLISH */
    int sub_started;          /* sub has been asked to connect */
    pending_cmd *fifo;        /* sub's commands awaiting answers */
    size_t fifo_head, fifo_len, fifo_cap;
} wsio__rnode;

struct wsio__rcluster {
    wsio_redis *r;
    const wsio_mem *mem;
    wsio__rlink *cmd;
    wsio_redis_url *cmd_url;
    wsio_redis_url seeds[WSIO_REDIS_MAX_SEEDS];
    size_t nseeds, seed; /* the command link's seed */
    wsio__rnode *nodes[MAX_NODES];
    size_t nnodes;
    uint8_t owner[WSIO__REDIS_SLOTS]; /* node number + 1; 0: unknown */
    uint64_t masters;                 /* nodes in the map now */
    int map_known;
    int refreshing, refresh_again; /* CLUSTER SLOTS in flight; asked again */
    const wsio__rlink *asked;      /* the link CLUSTER SLOTS went on */
    wsio_timer *retry;             /* a refresh after an error reply */
    uint32_t refused_delay;        /* retry after a refused subscribe:
                                      doubles while nodes refuse */
    int freeing;
};

/* A SPUBLISH waiting for its answer: what a -MOVED retry sends again. */
typedef struct publish {
    wsio__rcluster *c;
    wsio__rnode *n; /* sent to */
    int retried;
    size_t chlen, len;
    char bytes[]; /* channel, then the envelope */
} publish;

static void refresh(wsio__rcluster *c);

/* ---- nodes ---------------------------------------------------------------
 */

static void node_sub_ready(wsio__rlink *l, int reconnect);
static void node_sub_lost(wsio__rlink *l);
static void node_sub_reply(wsio__rlink *l, redisReply *m);
static void node_pub_ready(wsio__rlink *l, int reconnect);
static void node_pub_lost(wsio__rlink *l);

static wsio__rnode *node_new(wsio__rcluster *c, const char *host, uint16_t port)
{
    if (c->nnodes == MAX_NODES || strlen(host) >= sizeof c->seeds[0].host)
        return NULL;
    wsio__rnode *n = wsio__malloc(c->mem, sizeof *n);
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    n->c = c;
    n->url = c->seeds[0]; /* user and password */
    strcpy(n->url.host, host);
    n->url.port = port;
    n->url.db = 0;
    n->set = *wsio__redis_link_settings(c->r);
    n->set.url = &n->url;
    if (wsio__rlink_init(&n->sub, &n->set, 0, node_sub_ready, node_sub_lost,
                         n) != 0 ||
        wsio__rlink_init(&n->pub, &n->set, 0, node_pub_ready, node_pub_lost,
                         n) != 0) {
        wsio__rlink_close(&n->sub);
        wsio__free(c->mem, n);
        return NULL;
    }
    n->sub.on_raw = node_sub_reply;
    c->nodes[c->nnodes++] = n;
    wsio__rlink_connect(&n->pub);
    return n;
}

/* The node at host:port, made (and its publishing link started) when new. */
static wsio__rnode *node_get(wsio__rcluster *c, const char *host, uint16_t port)
{
    for (size_t i = 0; i < c->nnodes; i++)
        if (c->nodes[i]->url.port == port &&
            strcmp(c->nodes[i]->url.host, host) == 0)
            return c->nodes[i];
    return node_new(c, host, port);
}

static size_t node_number(const wsio__rcluster *c, const wsio__rnode *n)
{
    size_t i = 0;
    while (c->nodes[i] != n)
        i++;
    return i;
}

static wsio__rnode *slot_owner(const wsio__rcluster *c, uint16_t slot)
{
    return c->owner[slot] ? c->nodes[c->owner[slot] - 1] : NULL;
}

static void node_free(wsio__rcluster *c, wsio__rnode *n)
{
    wsio__rlink_close(&n->sub);
    wsio__rlink_close(&n->pub);
    wsio__free(c->mem, n->fifo);
    wsio__free(c->mem, n);
}

/* ---- the subscribed link's command fifo ----------------------------------
 */

static int fifo_push(wsio__rnode *n, wsio__rtopic *t, int subscribe)
{
    if (n->fifo_len == n->fifo_cap) {
        size_t cap = n->fifo_cap ? n->fifo_cap * 2 : 16;
        pending_cmd *p = wsio__malloc(n->c->mem, cap * sizeof *p);
        if (!p)
            return WSIO_ENOMEM;
        for (size_t i = 0; i < n->fifo_len; i++)
            p[i] = n->fifo[(n->fifo_head + i) % n->fifo_cap];
        wsio__free(n->c->mem, n->fifo);
        n->fifo = p;
        n->fifo_cap = cap;
        n->fifo_head = 0;
    }
    n->fifo[(n->fifo_head + n->fifo_len++) % n->fifo_cap] =
        (pending_cmd){.t = t, .subscribe = subscribe};
    return 0;
}

static pending_cmd *fifo_head(wsio__rnode *n)
{
    return n->fifo_len ? &n->fifo[n->fifo_head] : NULL;
}

static void fifo_pop(wsio__rnode *n)
{
    n->fifo_head = (n->fifo_head + 1) % n->fifo_cap;
    n->fifo_len--;
}

/* ---- -MOVED --------------------------------------------------------------
 */

/* "MOVED <slot> <host>:<port>" from node from: the map learns it (and is
 * fetched again). Returns the node that owns the slot now, or NULL for
 * another error. */
static wsio__rnode *moved(wsio__rcluster *c, const redisReply *m,
                          const wsio__rnode *from)
{
    wsio__rmoved to;
    if (m->type != REDIS_REPLY_ERROR ||
        !wsio__rcluster_parse_moved(m->str, m->len, &to))
        return NULL;
    wsio__redis_stats(c->r)->moved++;
    /* No host: an unknown endpoint, reached where from was. */
    wsio__rnode *n =
        node_get(c, to.host[0] ? to.host : from->url.host, to.port);
    if (n)
        c->owner[to.slot] = (uint8_t)(node_number(c, n) + 1);
    refresh(c);
    return n;
}

/* ---- subscriptions -------------------------------------------------------
 */

void wsio__rcluster_sync(wsio__rcluster *c, wsio__rtopic *t)
{
    int subscribe = t->want;
    wsio__rnode *n = subscribe ? slot_owner(c, t->slot) : t->node;
    if (!n)
        return; /* no map yet: sent once it comes */
    if (!n->sub_started) {
        n->sub_started = 1;
        wsio__rlink_connect(&n->sub); /* sent once it is ready */
        return;
    }
    if (!n->sub.connected || fifo_push(n, t, subscribe) != 0)
        return;
    if (wsio__rlink_send_raw(&n->sub,
                             subscribe ? "SSUBSCRIBE %b" : "SUNSUBSCRIBE %b",
                             t->channel, t->len) != 0) {
        n->fifo_len--;
        return;
    }
    t->node = n;
    t->in_flight = 1;
    /* The end mark; without it the answers that follow would be paired
     * wrong, so the link starts again (out of memory). */
    if (wsio__rlink_send_raw(&n->sub, "UNSUBSCRIBE") != 0)
        wsio__rlink_drop(&n->sub);
}

/* The node ended t's subscription, or went away: t is asked again where
 * the map says (or once the node is back). */
static void topic_lost(wsio_redis *r, wsio__rtopic *t)
{
    t->lost |= t->subscribed;
    wsio__redis_topic_answered(r, t, 0);
}

/* The oldest command's answer is complete (its end mark came). */
static void node_sub_settle(wsio__rnode *n)
{
    wsio__rcluster *c = n->c;
    pending_cmd p = *fifo_head(n);
    fifo_pop(n);
    if (p.subscribe && p.error == OTHER_ERROR) {
        /* CLUSTERDOWN (a node just back, a slot not served), ...: all
         * is asked again after the next map, not at once and in a loop,
         * and later each time while it lasts. */
        p.t->in_flight = 0;
        if (!wsio_timer_armed(c->retry)) {
            wsio_timer_start(c->retry, c->refused_delay);
            c->refused_delay = c->refused_delay > n->set.backoff_max / 2
                                   ? n->set.backoff_max
                                   : c->refused_delay * 2;
        }
        return;
    }
    if (p.subscribe && !p.error && p.held)
        c->refused_delay = n->set.backoff_min;
    /* -MOVED: an SSUBSCRIBE goes to the right node now; whatever the
     * answer to a SUNSUBSCRIBE, the node holds nothing for t. */
    wsio__redis_topic_answered(c->r, p.t, p.subscribe && !p.error && p.held);
}

static void node_sub_reply(wsio__rlink *l, redisReply *m)
{
    wsio__rnode *n = l->owner;
    wsio__rcluster *c = n->c;
    pending_cmd *head = fifo_head(n);
    if (m->type == REDIS_REPLY_ERROR) {
        if (!head)
            return;
        if (head->error) /* a second: the end mark's own (BUSY, ...) */
            node_sub_settle(n);
        else
            head->error = moved(c, m, n) ? MOVED_TO : OTHER_ERROR;
        return;
    }
    if (m->type != REDIS_REPLY_ARRAY || m->elements != 3 ||
        m->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = m->element[0]->str;
    if (strcmp(kind, "unsubscribe") == 0) {
        if (head)
            node_sub_settle(n);
        return;
    }
    if (m->element[1]->type != REDIS_REPLY_STRING)
        return;
    const redisReply *ch = m->element[1];
    if (strcmp(kind, "smessage") == 0) {
        if (m->element[2]->type == REDIS_REPLY_STRING)
            wsio__redis_deliver(c->r, ch, m->element[2]);
        return;
    }
    int sub = strcmp(kind, "ssubscribe") == 0;
    if (!sub && strcmp(kind, "sunsubscribe") != 0)
        return;
    if (head && head->t->len == ch->len &&
        memcmp(head->t->channel, ch->str, ch->len) == 0) {
        /* The oldest command's channel: its answer, or the node ending
         * the subscription (before the command, or just after an
         * SSUBSCRIBE: then it is made again). */
        wsio__rtopic *t = head->t;
        if (sub && t->lost) {
            t->lost = 0;
            wsio__redis_stats(c->r)->resubscribed++;
        } else if (!sub && head->subscribe && head->held) {
            t->lost = 1;
            refresh(c);
        }
        head->held = sub;
        return;
    }
    /* A "sunsubscribe" no command of ours asked for: the node no longer
     * owns the slot. The map is fetched again; meanwhile the SSUBSCRIBE
     * goes where the old map says, and a -MOVED from there corrects it. */
    wsio__rtopic *t = wsio__redis_topic_find(c->r, ch->str, ch->len);
    if (!sub && t && t->node == n && t->subscribed && !t->in_flight) {
        topic_lost(c->r, t);
        refresh(c);
    }
}

static void node_sub_ready(wsio__rlink *l, int reconnect)
{
    wsio__rnode *n = l->owner;
    if (reconnect)
        wsio__redis_stats(n->c->r)->reconnects++;
    wsio__redis_topic_reconcile_all(n->c->r);
}

static void forget_on_node(wsio_redis *r, wsio__rtopic *t, void *arg)
{
    if (t->node != arg)
        return;
    t->in_flight = 0;
    topic_lost(r, t);
}

static void node_sub_lost(wsio__rlink *l)
{
    wsio__rnode *n = l->owner;
    if (n->c->freeing)
        return;
    n->fifo_len = 0;
    wsio__redis_topic_each(n->c->r, forget_on_node, n);
    refresh(n->c); /* a replica may have taken its slots over */
}

static void node_pub_ready(wsio__rlink *l, int reconnect)
{
    wsio__rnode *n = l->owner;
    if (reconnect)
        wsio__redis_stats(n->c->r)->reconnects++;
    if (!n->c->map_known)
        refresh(n->c);
}

static void node_pub_lost(wsio__rlink *l)
{
    wsio__rnode *n = l->owner;
    if (!n->c->freeing)
        refresh(n->c);
}

/* ---- the slot map ----------------------------------------------------------
 */

/* CLUSTER SLOTS: [[start, end, [host, port, id], replicas...], ...]. */
static void on_slots(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    wsio__rcluster *c = privdata;
    const redisReply *m = reply;
    c->refreshing = 0;
    if (c->freeing)
        return;
    if (!m || m->type != REDIS_REPLY_ARRAY) {
        /* Its link went (another is asked soon), or CLUSTERDOWN, ... (the
         * same node is asked later). */
        if (!wsio_timer_armed(c->retry))
            wsio_timer_start(c->retry, m ? c->cmd->set->backoff_max
                                         : c->cmd->set->backoff_min);
        return;
    }
    memset(c->owner, 0, sizeof c->owner);
    uint8_t seen[MAX_NODES + 1] = {0};
    c->masters = 0;
    for (size_t i = 0; i < m->elements; i++) {
        wsio__rslots e;
        if (!wsio__rcluster_parse_slots(m->element[i], &e))
            continue;
        /* No host: an unknown endpoint, reached where the map came from. */
        wsio__rnode *n =
            node_get(c, e.host[0] ? e.host : c->asked->set->url->host, e.port);
        if (!n)
            continue;
        uint8_t num = (uint8_t)(node_number(c, n) + 1);
        c->masters += !seen[num];
        seen[num] = 1;
        memset(c->owner + e.from, num, (size_t)(e.to - e.from + 1));
    }
    c->map_known = 1;
    wsio__redis_stats(c->r)->slot_maps++;
    wsio__redis_topic_reconcile_all(c->r);
    if (c->refresh_again) {
        c->refresh_again = 0;
        refresh(c);
    }
}

/* Ask for the slot map on the command link, or any node's publishing link
 * that is up; one request at a time. */
static void refresh(wsio__rcluster *c)
{
    if (c->refreshing) {
        c->refresh_again = 1;
        return;
    }
    wsio__rlink *l = c->cmd->connected ? c->cmd : NULL;
    for (size_t i = 0; !l && i < c->nnodes; i++)
        if (c->nodes[i]->pub.connected)
            l = &c->nodes[i]->pub;
    if (!l) /* none up: the next link ready asks */
        return;
    if (redisAsyncCommand(l->ac, on_slots, c, "CLUSTER SLOTS") == REDIS_OK) {
        c->refreshing = 1;
        c->asked = l;
    }
}

static void on_retry(wsio_timer *t, void *user)
{
    (void)t;
    refresh(user);
}

void wsio__rcluster_cmd_ready(wsio__rcluster *c)
{
    refresh(c);
}

void wsio__rcluster_cmd_lost(wsio__rcluster *c)
{
    if (c->freeing)
        return;
    c->seed = (c->seed + 1) % c->nseeds;
    *c->cmd_url = c->seeds[c->seed];
}

/* ---- publishing ----------------------------------------------------------
 */

static int publish_send(wsio__rnode *n, publish *p);

static void on_spublish(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    publish *p = privdata;
    wsio__rcluster *c = p->c;
    const redisReply *m = reply;
    if (m && !c->freeing && m->type == REDIS_REPLY_ERROR) {
        /* Retried once; an error after that loses it as well. */
        wsio__rnode *n = moved(c, m, p->n);
        if (n && !p->retried) {
            p->retried = 1;
            if (publish_send(n, p) == 0)
                return;
        }
        wsio__redis_stats(c->r)->publish_dropped++;
    }
    if (!c->freeing)
        wsio__redis_publish_done(c->r);
    wsio__free(c->mem, p);
}

static int publish_send(wsio__rnode *n, publish *p)
{
    if (!n->pub.connected ||
        redisAsyncCommand(n->pub.ac, on_spublish, p, "SPUBLISH %b %b", p->bytes,
                          p->chlen, p->bytes + p->chlen, p->len) != REDIS_OK)
        return WSIO_ECLOSED;
    p->n = n;
    return 0;
}

int wsio__rcluster_publish(wsio__rcluster *c, const char *ch, size_t chlen,
                           const void *data, size_t len)
{
    wsio__rnode *n = slot_owner(c, wsio__redis_keyslot(ch, chlen));
    if (!n || !n->pub.connected)
        return WSIO_ECLOSED;
    publish *p = wsio__malloc(c->mem, sizeof *p + chlen + len);
    if (!p)
        return WSIO_ENOMEM;
    *p = (publish){.c = c, .chlen = chlen, .len = len};
    memcpy(p->bytes, ch, chlen);
    memcpy(p->bytes + chlen, data, len);
    int rc = publish_send(n, p);
    if (rc)
        wsio__free(c->mem, p);
    return rc;
}

/* ---- the cluster ---------------------------------------------------------
 */

void wsio__rcluster_stats(const wsio__rcluster *c, wsio_redis_stats *out)
{
    int up = c->map_known;
    for (size_t i = 0; i < c->nnodes && up; i++) {
        const wsio__rnode *n = c->nodes[i];
        int in_map = memchr(c->owner, (int)(i + 1), sizeof c->owner) != NULL;
        up = !in_map ||
             (n->pub.connected && (!n->sub_started || n->sub.connected));
    }
    out->connected = up;
    out->nodes = c->masters;
}

wsio__rcluster *wsio__rcluster_new(wsio_redis *r, const wsio_redis_url *seeds,
                                   size_t n, wsio__rlink *cmd,
                                   wsio_redis_url *cmd_url)
{
    const wsio_mem *mem = wsio__redis_mem(r);
    wsio__rcluster *c = wsio__malloc(mem, sizeof *c);
    if (!c)
        return NULL;
    memset(c, 0, sizeof *c);
    c->r = r;
    c->mem = mem;
    c->cmd = cmd;
    c->cmd_url = cmd_url;
    c->nseeds = n;
    memcpy(c->seeds, seeds, n * sizeof *seeds);
    c->refused_delay = wsio__redis_link_settings(r)->backoff_min;
    int err;
    c->retry =
        wsio_timer_new(wsio__redis_link_settings(r)->loop, on_retry, c, &err);
    if (!c->retry) {
        wsio__free(mem, c);
        return NULL;
    }
    return c;
}

void wsio__rcluster_free(wsio__rcluster *c)
{
    if (!c)
        return;
    c->freeing = 1;
    for (size_t i = 0; i < c->nnodes; i++)
        node_free(c, c->nodes[i]);
    wsio_timer_free(c->retry);
    wsio__free(c->mem, c);
}
